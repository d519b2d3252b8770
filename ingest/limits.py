"""Politeness limits shared by ``ingest fetch`` and the daemon: at most ``max_connections``
fetches at once, and at most ``per_host`` of them to one host.

::

    limits = FetchLimits(settings.http.max_connections, settings.http.per_host)
    async with limits.slot(url):
        await pipeline.run(target)

Local files (a path or a ``file://`` URL, as ``fetch.py`` reads them) have no host to be
polite to: only the global limit holds them back, so ``ingest fetch *.xml`` prepares as many
files at once as there are workers and connections, not two.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from ingest.store.base import feed_host


def is_local(url: str) -> bool:
    """Whether ``url`` names a local file (no scheme, or ``file:``): ``Fetcher.fetch`` reads it
    from disk, and no host limit applies."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return False
    return scheme in ("", "file")


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
        """Wait for a global slot and, unless ``url`` is a local file, a slot of its host; hold
        them inside the block."""
        per_host = contextlib.nullcontext() if is_local(url) else self._host(url)
        async with self._total, per_host:
            yield
