"""Politeness limits shared by ``ingest fetch`` and the daemon: at most ``max_connections``
fetches at once, and at most ``per_host`` of them to one host.

::

    limits = FetchLimits(settings.http.max_connections, settings.http.per_host)
    async with limits.slot(url):
        await pipeline.run(target)

Local files share one pseudo-host (``store.base.feed_host``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ingest.store.base import feed_host


class FetchLimits:
    """A global semaphore plus one semaphore per host, made on first use."""

    def __init__(self, max_connections: int, per_host: int) -> None:
        self.per_host = max(1, per_host)
        self._total = asyncio.Semaphore(max(1, max_connections))
        self._hosts: dict[str, asyncio.Semaphore] = {}

    def _host(self, url: str) -> asyncio.Semaphore:
        host = feed_host(url)
        limit = self._hosts.get(host)
        if limit is None:
            limit = self._hosts[host] = asyncio.Semaphore(self.per_host)
        return limit

    @asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        """Wait for a global slot and a slot of ``url``'s host; hold both inside the block."""
        async with self._total, self._host(url):
            yield
