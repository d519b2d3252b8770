"""A small HTTP/1.1 server on the event loop, for the daemon's endpoints (health, and later the
read API and web console).

::

    accept -> (at the connection cap: close the oldest connection still sending its head)
           -> read the request head: at most MAX_HEAD bytes within head_timeout seconds
           -> GET or HEAD only; target at most MAX_TARGET; path and query percent-decoded
           -> Request(method, path, query, headers) -> handler (plain or async, with a deadline)
           -> Response(status, body, content_type, headers) -> write, close (one request per
              connection)

**Connection policy.** Probes must be answered while anyone holds connections open: a
connection that has not sent its whole request head within ``head_timeout`` (give or take a
quarter, at random) is closed, and
when ``max_connections`` are open a new connection is never refused: the oldest connection
still reading its head is closed to make room (the oldest of any kind when none is). A probe
sends its head at once, so it is served before it could become the oldest. One process's open
file limit bounds the cap (``raise_open_files_limit``, ``connection_cap``).

**Handlers** get a ``Request`` and return a ``Response`` or an awaitable of one; a handler that
needs the store runs it in a thread and awaits it. A handler's exception is a 500 (and a log
line with the traceback: a programming error); one slower than ``handler_timeout`` is a 503.
``Router`` maps paths, with ``{name}`` segments, to handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import random
import resource
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ingest.errors import ConfigError
from ingest.settings import Address

log = logging.getLogger("ingest.httpserver")

MAX_HEAD = 8192
"""Bytes: a request head (request line and headers) larger than this is a 431."""
MAX_TARGET = 2048
"""Characters: a longer request target is a 414."""
MAX_QUERY_FIELDS = 64
"""Query parameters: more is a 400."""
HEAD_TIMEOUT = 5.0
"""Seconds a client has to send its whole request head, from its connection."""
WRITE_TIMEOUT = 10.0
"""Seconds a client has to take the response."""
HANDLER_TIMEOUT = 30.0
"""Seconds a handler has to answer; then the client gets a 503."""
MAX_CONNECTIONS = 4096
"""Open connections per server at most (see the connection policy above): about 10 KB of
memory each (bench/bench_health.py)."""
BACKLOG = 1024
"""Connections the kernel queues before they are accepted (capped by ``net.core.somaxconn``)."""
RESERVED_FILES = 256
"""Open files kept for the rest of the process (store, parse workers, fetches, logs)."""

_SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"),)


@dataclass(frozen=True, slots=True)
class Request:
    """One request, decoded. ``query`` maps each parameter to its values in order; ``params``
    holds the ``{name}`` segments of the ``Router`` pattern that matched."""

    method: str
    """``GET`` or ``HEAD``."""
    path: str
    """Percent-decoded, without the query."""
    query: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    """Names in lower case; a repeated header keeps its values joined by ``", "``."""
    params: Mapping[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``, or ``default``."""
        values = self.query.get(name)
        return values[0] if values else default


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    """Extra headers (``ETag``, ``Content-Security-Policy``, ``Cache-Control`` ...). A
    ``Cache-Control`` given here replaces the default ``no-store``."""

    @classmethod
    def text(cls, status: int, text: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
        return cls(status, text.encode("utf-8"), headers=headers)

    @classmethod
    def json(
        cls, value: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()
    ) -> Response:
        body = json.dumps(value, ensure_ascii=False, indent=1).encode("utf-8")
        return cls(status, body, "application/json", headers)


Handler = Callable[[Request], Response | Awaitable[Response]]
"""What the server calls for each request."""


class Router:
    """Exact paths and ``/prefix/{name}`` patterns to handlers; anything else goes to
    ``not_found`` (by default a 404 naming the paths there are)."""

    def __init__(self, not_found: Handler | None = None) -> None:
        self._routes: list[tuple[tuple[str, ...], Handler]] = []
        self._not_found = not_found or self._list_paths

    def add(self, pattern: str, handler: Handler) -> None:
        """Route ``pattern`` (``/status``, ``/api/articles/{id}``) to ``handler``."""
        self._routes.append((tuple(pattern.strip("/").split("/")), handler))

    def __call__(self, request: Request) -> Response | Awaitable[Response]:
        parts = tuple(request.path.strip("/").split("/"))
        for pattern, handler in self._routes:
            params = _match(pattern, parts)
            if params is not None:
                return handler(replace(request, params=params) if params else request)
        return self._not_found(request)

    def _list_paths(self, request: Request) -> Response:
        known = ", ".join("/" + "/".join(p) for p, _ in self._routes)
        return Response.text(404, f"not found: try {known}\n")


def _match(pattern: tuple[str, ...], parts: tuple[str, ...]) -> dict[str, str] | None:
    if len(pattern) != len(parts):
        return None
    params = {}
    for want, got in zip(pattern, parts, strict=True):
        if want.startswith("{") and want.endswith("}"):
            if not got:
                return None
            params[want[1:-1]] = got
        elif want != got:
            return None
    return params


class _BadRequest(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def parse_head(head: bytes) -> Request:
    """The request of a head ending in CRLF CRLF; ``_BadRequest`` with the answer otherwise."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(Response.text(400, "bad request\n"))
    method, target = parts[0], parts[1]
    if method not in ("GET", "HEAD"):
        allow = (("Allow", "GET, HEAD"),)
        raise _BadRequest(Response.text(405, "only GET and HEAD\n", headers=allow))
    if len(target) > MAX_TARGET:
        raise _BadRequest(Response.text(414, "request target too long\n"))
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(Response.text(400, "bad request: malformed header\n"))
        key = name.lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    try:
        split = urlsplit(target)
        path = unquote(split.path, errors="strict")
        query = parse_qs(
            split.query,
            keep_blank_values=True,
            strict_parsing=False,
            errors="strict",
            max_num_fields=MAX_QUERY_FIELDS,
        )
    except (ValueError, UnicodeDecodeError):  # bad percent-encoding, too many fields
        raise _BadRequest(Response.text(400, "bad request: malformed target\n")) from None
    if not path.startswith("/"):
        raise _BadRequest(Response.text(400, "bad request: the path must start with /\n"))
    return Request(method, path, {k: tuple(v) for k, v in query.items()}, headers)


def _head(response: Response, length: int) -> bytes:
    reason = HTTPStatus(response.status).phrase
    extra = list(response.headers)
    names = {name.lower() for name, _ in extra}
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    if response.status != 304:
        lines += [f"Content-Type: {response.content_type}", f"Content-Length: {length}"]
    if "cache-control" not in names:
        lines.append("Cache-Control: no-store")
    lines += [f"{k}: {v}" for k, v in _SECURITY_HEADERS if k.lower() not in names]
    lines.append("Connection: close")
    for name, value in extra:
        if not _token(name) or any(c in value for c in "\r\n\0"):
            raise ValueError(f"invalid response header {name!r}: {value!r}")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _token(name: str) -> bool:
    return bool(name) and all(c.isascii() and (c.isalnum() or c in "-_") for c in name)


def raise_open_files_limit(servers: int = 1) -> tuple[int, int]:
    """Raise this process's soft open-files limit, up to its hard limit, to what ``servers``
    servers at ``MAX_CONNECTIONS`` need; (before, after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = MAX_CONNECTIONS * max(1, servers) + RESERVED_FILES
    if soft == resource.RLIM_INFINITY or soft >= want:
        return soft, soft
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target <= soft:
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft, soft
    return soft, target


def connection_cap(open_files: int, servers: int = 1) -> int:
    """``max_connections`` for each of ``servers`` servers under an open-files limit: what is
    left after ``RESERVED_FILES``, shared, at most ``MAX_CONNECTIONS``, at least 16."""
    if open_files == resource.RLIM_INFINITY or open_files < 0:
        return MAX_CONNECTIONS
    share = (open_files - RESERVED_FILES) // max(1, servers)
    return max(16, min(MAX_CONNECTIONS, share))


@dataclass(slots=True, eq=False)
class _Connection:
    writer: asyncio.StreamWriter
    reading: bool = True
    """Still waiting for the request head: the first to go when the cap is reached."""


class HttpServer:
    """Serves ``handler`` on ``address`` (see the module docstring for the policy).

    ``setting`` names the configuration key of the address: a bind failure is a
    ``ConfigError`` that names it.
    """

    def __init__(
        self,
        address: Address,
        handler: Handler,
        *,
        setting: str = "address",
        head_timeout: float = HEAD_TIMEOUT,
        handler_timeout: float = HANDLER_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        rng: random.Random | None = None,
    ) -> None:
        self.requested = address
        self.handler = handler
        self.setting = setting
        self.head_timeout = head_timeout
        self.handler_timeout = handler_timeout
        self.max_connections = max(1, max_connections)
        self.rng = rng or random.Random()
        self.evicted = 0
        """Connections closed to make room for new ones (since start)."""
        self._connections: dict[asyncio.Task[Any], _Connection] = {}
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> Address:
        """The bound address (the real port when 0 was asked for)."""
        assert self._server is not None
        sockname = self._server.sockets[0].getsockname()
        return Address(str(sockname[0]), int(sockname[1]))

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    async def start(self) -> None:
        """Bind and listen; ``ConfigError`` naming the address and its setting when that fails
        (the port is taken, the address is not this machine's ...)."""
        try:
            self._server = await asyncio.start_server(
                self._serve,
                self.requested.host,
                self.requested.port,
                limit=MAX_HEAD,
                backlog=BACKLOG,
                reuse_address=True,
            )
        except OSError as exc:
            why = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise ConfigError(
                f"{self.setting}: cannot listen on {self.requested}: {why} (another ingest "
                f'daemon, or another program, may have it); choose another address, or "" for none'
            ) from exc

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for connection in list(self._connections.values()):
            connection.writer.transport.abort()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2.0)

    def _make_room(self, newcomer: asyncio.Task[Any]) -> None:
        while len(self._connections) > self.max_connections:
            victim = next(
                (t for t, c in self._connections.items() if c.reading and t is not newcomer),
                None,
            ) or next(t for t in self._connections if t is not newcomer)
            self._connections.pop(victim).writer.transport.abort()
            self.evicted += 1

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connection = _Connection(writer)
        self._connections[task] = connection
        self._make_room(task)
        try:
            response, method = await self._respond(reader, connection)
            if response is not None and task in self._connections:
                await self._send(writer, method, response)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client went away or stopped reading: nothing to tell it
        finally:
            self._connections.pop(task, None)
            writer.close()

    async def _respond(
        self, reader: asyncio.StreamReader, connection: _Connection
    ) -> tuple[Response | None, str]:
        # Between 3/4 and 5/4 of head_timeout: connections opened together by one client do
        # not all expire (and come back) together.
        deadline = self.head_timeout * (0.75 + 0.5 * self.rng.random())
        try:
            async with asyncio.timeout(deadline):
                head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.LimitOverrunError, ValueError):
            return Response.text(431, "request head too large\n"), "GET"
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            return None, "GET"  # slow, evicted or vanished client: hang up
        connection.reading = False
        try:
            request = parse_head(head)
        except _BadRequest as bad:
            return bad.response, "GET"
        return await self._call(request), request.method

    async def _call(self, request: Request) -> Response:
        try:
            async with asyncio.timeout(self.handler_timeout):
                answer = self.handler(request)
                response = await answer if inspect.isawaitable(answer) else answer
            _head(response, len(response.body))  # refuse bad headers here, as a 500
        except TimeoutError:
            return Response.text(503, "timed out\n")
        except Exception:  # a handler's bug: log it, answer, keep serving
            log.exception("request failed", extra={"fields": {"path": request.path}})
            return Response.text(500, "internal error\n")
        return response

    async def _send(self, writer: asyncio.StreamWriter, method: str, response: Response) -> None:
        writer.write(_head(response, len(response.body)))
        if method != "HEAD" and response.status != 304:
            writer.write(response.body)
        async with asyncio.timeout(WRITE_TIMEOUT):
            await writer.drain()
            writer.close()
            await writer.wait_closed()
