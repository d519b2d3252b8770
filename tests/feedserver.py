"""A scripted HTTP server on 127.0.0.x for tests: routes, behaviours and hit counters.

::

    with FeedServer() as server:                       # binds 127.0.0.1 on a free port
        server.route("/feed", Static(b"<rss/>", etag='"v1"'))
        server.route("/slow", Trickle(b"x" * 100, bytes_per_second=1))
        server.route("/loop", Redirect("/loop"))
        url = server.url("/feed")
        ...
        assert server.hits["/feed"] == 1 and server.connections == 1

Each route maps a path (query ignored) to a behaviour: an object with a
``serve(handler)`` method writing the response on ``handler`` (a
``BaseHTTPRequestHandler``). Unknown paths get a 404. ``server.hits`` counts requests
per path, ``server.connections`` counts accepted TCP connections, ``server.requests``
keeps every request (method, path, headers) and ``server.exchanges`` when each was served
(arrival, start of the answer, end; wall-clock seconds, to compare with a daemon's schedule). Requests in absolute form
(``GET http://host/path``, as sent to a forward proxy) are routed on their path and marked
``proxied``, so one server can also play an HTTP proxy.

Behaviours that wait (hangs, trickles) end as soon as the client goes away or the server
stops, so ``stop()`` (also the ``with`` exit) returns promptly and leaves no thread or
socket behind.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import gzip
import http.server
import socket
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

# Waits poll the client socket this often, so they notice a disconnect or a stop quickly.
_POLL = 0.02


class Behaviour(Protocol):
    def serve(self, handler: FeedHandler) -> None: ...


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: Mapping[str, str]
    proxied: bool


@dataclass(frozen=True)
class Exchange:
    """When one request was served, in ``time.time()`` seconds.

    ``answered`` is taken just before the status line is written, so a client cannot have
    read the answer before it: two clients taking turns (each asking only after the other's
    answer) give exchanges whose ``[arrived, answered]`` spans never overlap. A request the
    client gave up on before any answer is ``answered`` when the handler finished.
    """

    path: str
    arrived: float
    answered: float
    finished: float


class FeedHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    answered: float | None = None

    def setup(self) -> None:
        super().setup()
        self.server.owner._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._closed(self.connection)

    def handle(self) -> None:
        # A client that resets or vanishes is routine here, not an error worth a traceback.
        with contextlib.suppress(ConnectionError, TimeoutError):
            super().handle()

    def do_GET(self) -> None:
        owner = self.server.owner
        parts = urlsplit(self.path)
        proxied = bool(parts.scheme)
        path = parts.path or "/"
        headers = {name.lower(): value for name, value in self.headers.items()}
        arrived, self.answered = time.time(), None
        owner._record(Seen(self.command, path, headers, proxied))
        behaviour = owner.routes.get(path, Static(b"not found", status=404))
        try:
            behaviour.serve(self)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        finally:
            finished = time.time()
            owner._exchanged(Exchange(path, arrived, self.answered or finished, finished))

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean

    # Helpers for behaviours ------------------------------------------------------------

    def send_head(self, status: int, headers: Iterable[tuple[str, str]] = ()) -> None:
        """Write the status line and headers (no body)."""
        if self.answered is None:
            self.answered = time.time()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.flush()

    def wait_while_connected(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False as soon as the client hung up or the server stops."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.server.owner.stopping.is_set() or self._peer_closed():
                return False
            time.sleep(min(_POLL, max(0.0, end - time.monotonic())))
        return True

    def _peer_closed(self) -> bool:
        sock = self.connection
        try:
            sock.setblocking(False)
            try:
                data = sock.recv(1, socket.MSG_PEEK)
            finally:
                sock.setblocking(True)
        except BlockingIOError:
            return False
        except OSError:
            return True
        return bool(data == b"")

    def reset(self) -> None:
        """Abort the connection with a TCP RST instead of a clean close."""
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


# --- Behaviours ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Static:
    """A fixed body; with ``etag``/``last_modified`` it answers conditional GETs with 304."""

    body: bytes = b""
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None

    def serve(self, handler: FeedHandler) -> None:
        validators = []
        if self.etag is not None:
            validators.append(("ETag", self.etag))
        if self.last_modified is not None:
            validators.append(("Last-Modified", self.last_modified))
        if self._not_modified(handler):
            handler.send_head(304, [*validators, *self.headers])
            return
        head = [("Content-Type", self.content_type), ("Content-Length", str(len(self.body)))]
        handler.send_head(self.status, [*head, *validators, *self.headers])
        if handler.command != "HEAD":
            handler.wfile.write(self.body)

    def _not_modified(self, handler: FeedHandler) -> bool:
        if self.status != 200:
            return False
        match = handler.headers.get("If-None-Match")
        if match is not None and self.etag is not None:
            return self.etag in [tag.strip() for tag in match.split(",")] or match == "*"
        since = handler.headers.get("If-Modified-Since")
        return since is not None and since == self.last_modified


@dataclass(frozen=True)
class Trickle:
    """Send ``body`` at ``bytes_per_second`` (chunked when ``length`` is False)."""

    body: bytes
    bytes_per_second: float = 1.0
    length: bool = True

    def serve(self, handler: FeedHandler) -> None:
        head = [("Content-Type", "application/rss+xml")]
        head.append(("Content-Length", str(len(self.body))) if self.length else _CHUNKED)
        handler.send_head(200, head)
        for index in range(len(self.body)):
            piece = self.body[index : index + 1]
            handler.wfile.write(_chunk(piece) if not self.length else piece)
            handler.wfile.flush()
            if not handler.wait_while_connected(1.0 / self.bytes_per_second):
                return
        if not self.length:
            handler.wfile.write(b"0\r\n\r\n")


@dataclass(frozen=True)
class Hang:
    """Say nothing (``after_headers=False``) or send headers then no body, for ``seconds``."""

    after_headers: bool = False
    seconds: float = 60.0

    def serve(self, handler: FeedHandler) -> None:
        if self.after_headers:
            handler.send_head(
                200, [("Content-Type", "application/rss+xml"), ("Content-Length", "100")]
            )
        handler.wait_while_connected(self.seconds)
        handler.close_connection = True


@dataclass(frozen=True)
class Redirect:
    """Redirect to ``location``: a path on this server or any absolute URL."""

    location: str
    status: int = 302

    def serve(self, handler: FeedHandler) -> None:
        handler.send_head(self.status, [("Location", self.location), ("Content-Length", "0")])


@dataclass(frozen=True)
class GzipBomb:
    """``decoded_size`` zero bytes gzip-compressed ``layers`` times (1 GiB is about 1 MB)."""

    decoded_size: int = 1 << 30
    layers: int = 1
    encoding: str | None = None
    """The Content-Encoding header; by default ``gzip`` once per layer."""

    def serve(self, handler: FeedHandler) -> None:
        payload = gzip_bomb(self.decoded_size, self.layers)
        encoding = self.encoding or ", ".join(["gzip"] * self.layers)
        head = [
            ("Content-Type", "application/rss+xml"),
            ("Content-Encoding", encoding),
            ("Content-Length", str(len(payload))),
        ]
        handler.send_head(200, head)
        handler.wfile.write(payload)


@dataclass(frozen=True)
class Chunked:
    """``total`` bytes of ``fill`` sent chunked, without a Content-Length, made on the fly."""

    total: int
    chunk_size: int = 64 * 1024
    fill: bytes = b"x"

    def serve(self, handler: FeedHandler) -> None:
        handler.send_head(200, [("Content-Type", "application/rss+xml"), _CHUNKED])
        block = (self.fill * (self.chunk_size // len(self.fill) + 1))[: self.chunk_size]
        sent = 0
        while sent < self.total:
            if handler.server.owner.stopping.is_set():
                return
            piece = block[: min(self.chunk_size, self.total - sent)]
            handler.wfile.write(_chunk(piece))
            sent += len(piece)
        handler.wfile.write(b"0\r\n\r\n")


@dataclass(frozen=True)
class ShortBody:
    """Declare ``declared`` bytes in Content-Length, send ``len(body)``, then close."""

    body: bytes = b"<rss>"
    declared: int = 1000

    def serve(self, handler: FeedHandler) -> None:
        handler.send_head(
            200, [("Content-Type", "application/rss+xml"), ("Content-Length", str(self.declared))]
        )
        handler.wfile.write(self.body)
        handler.wfile.flush()
        handler.close_connection = True


@dataclass(frozen=True)
class Reset:
    """Reset the connection, optionally after the headers and ``body`` were sent."""

    after_headers: bool = True
    body: bytes = b""
    declared: int = 1000

    def serve(self, handler: FeedHandler) -> None:
        if self.after_headers:
            head = [("Content-Type", "application/rss+xml"), ("Content-Length", str(self.declared))]
            handler.send_head(200, head)
            handler.wfile.write(self.body)
        handler.reset()


@dataclass(frozen=True)
class Custom:
    """Any function of the handler, for one-off behaviours."""

    function: Callable[[FeedHandler], None]

    def serve(self, handler: FeedHandler) -> None:
        self.function(handler)


class Evolving:
    """A feed whose content changes: version ``n`` is ``render(n)``, ``version()`` says which
    one is published now.

    Each version has its own validators (ETag ``"v<n>"``, a Last-Modified ``n`` minutes after
    2026-11-29 08:00 UTC), and a conditional GET gets a 304 only for the current one, as from
    a real server: a client that stored the validators without the items never sees them
    again. ``served`` holds every version sent with a 200, so a test knows which items a
    client was offered.
    """

    def __init__(
        self,
        render: Callable[[int], bytes],
        version: Callable[[], int],
        content_type: str = "application/rss+xml; charset=utf-8",
    ) -> None:
        self.render = render
        self.version = version
        self.content_type = content_type
        self.served: set[int] = set()
        self._lock = threading.Lock()

    @staticmethod
    def validators(version: int) -> tuple[str, str]:
        """The ETag and Last-Modified of ``version``."""
        when = 1795939200 + 60 * version  # 2026-11-29T08:00:00Z
        return f'"v{version}"', email.utils.formatdate(when, usegmt=True)

    def serve(self, handler: FeedHandler) -> None:
        version = self.version()
        etag, modified = self.validators(version)
        match = handler.headers.get("If-None-Match")
        since = handler.headers.get("If-Modified-Since")
        fresh = (
            etag in [tag.strip() for tag in match.split(",")]
            if match is not None
            else since == modified
        )
        if fresh:
            handler.send_head(304, [("ETag", etag), ("Last-Modified", modified)])
            return
        body = self.render(version)
        with self._lock:
            self.served.add(version)
        head = [
            ("Content-Type", self.content_type),
            ("Content-Length", str(len(body))),
            ("ETag", etag),
            ("Last-Modified", modified),
        ]
        handler.send_head(200, head)
        if handler.command != "HEAD":
            handler.wfile.write(body)


@dataclass(frozen=True)
class Rotating:
    """Faults that come and go: ``behaviours[i]`` serves during the ``i``-th slot of ``period``
    seconds (cycling), the slots shifted by ``phase`` seconds so that feeds rotate out of step."""

    behaviours: tuple[Behaviour, ...]
    period: float
    phase: float = 0.0
    clock: Callable[[], float] = time.monotonic

    def current(self) -> Behaviour:
        slot = int((self.clock() + self.phase) // self.period)
        return self.behaviours[slot % len(self.behaviours)]

    def serve(self, handler: FeedHandler) -> None:
        self.current().serve(handler)


@dataclass(frozen=True)
class Large:
    """``total`` bytes of ``fill`` with a ``Content-Length``, made on the fly in blocks (a
    100 MB body without holding 100 MB). ``declared`` sends another length than ``total``."""

    total: int
    fill: bytes = b"x"
    declared: int | None = None
    block_size: int = 64 * 1024

    def serve(self, handler: FeedHandler) -> None:
        length = self.total if self.declared is None else self.declared
        head = [("Content-Type", "application/rss+xml"), ("Content-Length", str(length))]
        handler.send_head(200, head)
        block = (self.fill * (self.block_size // len(self.fill) + 1))[: self.block_size]
        sent = 0
        while sent < self.total:
            if handler.server.owner.stopping.is_set():
                return
            piece = block[: min(self.block_size, self.total - sent)]
            handler.wfile.write(piece)
            sent += len(piece)
        handler.close_connection = True


_CHUNKED = ("Transfer-Encoding", "chunked")


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def gzip_bomb(decoded_size: int, layers: int = 1) -> bytes:
    """``decoded_size`` zero bytes, gzipped ``layers`` times; cached for the session.

    Each MiB of zeros is compressed once after a full flush, so its deflate block can be
    repeated: a 1 GiB bomb takes a quarter of a second (mostly the CRC), not three.
    """
    return _gzip_bomb(decoded_size, layers)


@functools.cache
def _gzip_bomb(decoded_size: int, layers: int) -> bytes:
    block_size = 1 << 20
    whole, rest = divmod(decoded_size, block_size)
    zeros = bytes(block_size)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.compress(zeros[:rest]) + compressor.flush()
    crc = 0
    for _ in range(whole):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(zeros[:rest], crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, decoded_size & 0xFFFFFFFF)
    payload = header + block * whole + tail + trailer
    for _ in range(layers - 1):
        payload = gzip.compress(payload, compresslevel=9, mtime=0)
    return payload


# --- The server ---------------------------------------------------------------------------


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = False  # joined in server_close(): nothing outlives stop()
    block_on_close = True
    owner: FeedServer


@dataclass
class FeedServer:
    """A threaded HTTP server on ``host`` (a 127.0.0.x address) with scripted routes."""

    host: str = "127.0.0.1"
    port: int = 0
    routes: dict[str, Behaviour] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    requests: list[Seen] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    connections: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def route(self, path: str, behaviour: Behaviour) -> str:
        """Serve ``behaviour`` at ``path``; return the path's full URL."""
        self.routes[path] = behaviour
        return self.url(path)

    def redirect_chain(self, prefix: str, length: int, final: Behaviour, status: int = 302) -> str:
        """``prefix/0`` -> ``prefix/1`` ... -> ``prefix/<length>`` serving ``final``."""
        for index in range(length):
            self.route(f"{prefix}/{index}", Redirect(f"{prefix}/{index + 1}", status))
        self.route(f"{prefix}/{length}", final)
        return self.url(f"{prefix}/0")

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    def start(self) -> FeedServer:
        server = _Server((self.host, self.port), FeedHandler)
        server.owner = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and join every handler thread."""
        if self._server is None:
            return
        self.stopping.set()
        self._server.shutdown()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.hits[seen.path] += 1
            self.requests.append(seen)

    def _exchanged(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def _opened(self, sock: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._open.add(sock)

    def _closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)


class SilentListener:
    """A TCP port that completes handshakes (the kernel's backlog) but never says a word.

    For stalled TLS handshakes and servers that accept and then freeze before any HTTP.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._sock = socket.create_server((host, 0), backlog=16)
        self.host = host
        self.port: int = self._sock.getsockname()[1]

    def url(self, path: str = "/", scheme: str = "https") -> str:
        return f"{scheme}://{self.host}:{self.port}{path}"

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> SilentListener:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def wait_until(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; return its last value."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return predicate()
        time.sleep(0.01)
    return True


def same_port_pair(first: str, second: str, attempts: int = 20) -> tuple[FeedServer, FeedServer]:
    """Two started servers on ``first`` and ``second`` sharing one port (for DNS tests)."""
    for _ in range(attempts):
        one = FeedServer(first).start()
        try:
            return one, FeedServer(second, port=one.port).start()
        except OSError:
            one.stop()
    raise OSError(f"no port free on both {first} and {second}")
