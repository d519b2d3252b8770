"""The web app on a real socket for tests, and a small client for it.

::

    with Served(store, settings) as web:           # WebApp on 127.0.0.1, a free port,
        status, headers, body = web.get("/api/feeds")   # its event loop on a thread
        page = web.text("/search?q=الجزائر")

``get`` percent-encodes the path as a browser would (Arabic included) and never raises for
an HTTP error status: tests look at what the server answered.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from typing import Any
from urllib.parse import quote

from ingest.httpserver import HttpServer
from ingest.settings import Address, Settings
from ingest.store.base import Store
from ingest.web import WebApp


def get(
    port: int, path: str, headers: dict[str, str] | None = None, host: str = "127.0.0.1"
) -> tuple[int, dict[str, str], bytes]:
    """GET ``path`` (``/search?q=...``, unencoded) from ``host:port``."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("GET", quote(path, safe="/?=&%:+"), headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


class Served:
    """A ``WebApp`` over ``store`` behind an ``HttpServer`` on a free loopback port."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.app = WebApp(store, settings)
        self.loop = asyncio.new_event_loop()
        self.server = HttpServer(Address("127.0.0.1", 0), self.app, setting="[web] address")
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Served:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        self.port = self.server.address.port
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
        self.app.close()

    def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        return get(self.port, path, headers)

    def text(self, path: str, status: int = 200) -> str:
        got, _, body = self.get(path)
        assert got == status, (path, got, body[:500])
        return body.decode("utf-8")

    def json(self, path: str, status: int = 200) -> Any:
        got, headers, body = self.get(path)
        assert got == status, (path, got, body[:500])
        assert headers["content-type"] == "application/json"
        return json.loads(body)
