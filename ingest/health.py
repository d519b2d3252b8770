"""The daemon's small HTTP server: ``/healthz``, ``/livez``, ``/readyz``, ``/status``, ``/metrics``.

It runs on the daemon's event loop and answers from state held in memory, never waiting on the
store or the network, so it stays fast while the daemon is busy ingesting. It speaks just
enough HTTP/1.1 for probes and scrapers: GET and HEAD only, one request per connection, an 8 KiB
limit on the request head, a read timeout that cuts slow clients off, and a cap on open
connections. It binds 127.0.0.1 by default; another address must be configured explicitly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

log = logging.getLogger("ingest.health")

MAX_HEAD = 8192
MAX_PATH = 2048


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = field(default=())


Router = Callable[[str], Response]
"""Maps a path (query string removed) to a response."""


def _head(response: Response, length: int) -> bytes:
    reason = HTTPStatus(response.status).phrase
    lines = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {length}",
        "Cache-Control: no-store",
        "Connection: close",
        *(f"{k}: {v}" for k, v in response.headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class HealthServer:
    def __init__(
        self,
        host: str,
        port: int,
        router: Router,
        *,
        read_timeout: float = 5.0,
        max_connections: int = 64,
    ) -> None:
        self.host, self.port = host, port
        self.router = router
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self._open = 0
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound address (the real port when 0 was asked for)."""
        assert self._server is not None
        sockname = self._server.sockets[0].getsockname()
        return str(sockname[0]), int(sockname[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=MAX_HEAD, reuse_address=True
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open += 1
        try:
            if self._open > self.max_connections:
                await self._send(writer, "GET", Response(503, b"too many connections\n"))
                return
            method, response = await self._handle(reader)
            if response is not None:
                await self._send(writer, method, response)
        except Exception:  # a client's mistake must never reach the daemon
            log.debug("health request failed", exc_info=True)
        finally:
            self._open -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _handle(self, reader: asyncio.StreamReader) -> tuple[str, Response | None]:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.read_timeout)
        except (asyncio.LimitOverrunError, ValueError):
            return "GET", Response(431, b"request head too large\n")
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            return "GET", None  # slow or vanished client: hang up
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return "GET", Response(400, b"bad request\n")
        method, target = parts[0], parts[1]
        if method not in ("GET", "HEAD"):
            return method, Response(405, b"only GET and HEAD\n", headers=(("Allow", "GET, HEAD"),))
        if len(target) > MAX_PATH:
            return method, Response(414, b"path too long\n")
        path = target.split("?", 1)[0]
        return method, self.router(path)

    async def _send(self, writer: asyncio.StreamWriter, method: str, response: Response) -> None:
        writer.write(_head(response, len(response.body)))
        if method != "HEAD":
            writer.write(response.body)
        await asyncio.wait_for(writer.drain(), self.read_timeout)
