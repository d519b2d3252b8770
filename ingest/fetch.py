"""Fetch one feed: a URL (or a local file) in, bytes plus response headers out (``Fetched``).

The network edge of the pipeline and the only module that imports httpx and httpcore::

    Fetcher.fetch(url, cache)
      a plain path or file:// URL   -> fetch_local()        (offline use and tests)
      wait for a connection slot    (outside the deadline: queueing is not fetch time)
      within asyncio.timeout(http.deadline), for each hop (at most http.max_redirects):
        check the URL               http(s) only; a valid host; literal addresses and
                                    localhost names judged by netguard.is_refused
        GET                         If-None-Match / If-Modified-Since from ``cache``,
                                    Accept-Encoding: gzip, deflate (never br)
          connect                   _GuardedBackend resolves the host, vets EVERY address,
                                    then connects to a vetted IP literal (TLS SNI and
                                    certificate checks still use the host name)
        301/302/303/307/308         next hop (relative Location resolved)
        304                         Fetched(status=304, body=b"")
        other non-2xx               FetchError(code="http_status", status, retry_after)
        2xx                         the body, capped on the wire and after decoding

What is checked where:

* Every hop, before sending: scheme, URL syntax, and hosts whose address is known without
  DNS (IP literals in any spelling, ``localhost`` names) against the address policy.
* At connect time, in the real transport: every address the host resolves to, through the
  injectable ``resolver``. The connection goes to the address that was vetted, so a DNS
  answer that changes between a check and the connection (rebinding) cannot get through,
  and a refused address never sees a TCP connection.
* With ``http.proxy`` the proxy connects to the target, so the fetcher resolves the target
  itself and vets the answers before each hop (the proxy's own address is trusted: the
  operator chose it). This pre-flight check cannot stop rebinding behind the proxy.
* With an injected ``transport`` (``httpx.MockTransport`` in tests) only the first point
  applies: no DNS lookups are made.

Decoding: the body is read raw (``aiter_raw``) and inflated here with ``zlib`` and
``max_length``, so a gzip bomb never holds more than ``max_body_bytes + 1`` decoded bytes.
Stacked (``gzip, gzip``) and unknown encodings (``br``, ``zstd`` ...) are refused
without decoding, with code ``unsupported_encoding``.

Errors are ``FetchError`` with a ``code``: ``timeout``, ``connect``, ``broken_transfer``,
``body_too_large``, ``unsupported_encoding``, ``too_many_redirects``,
``unsupported_scheme``, ``invalid_url``, ``refused_private``, ``http_status`` (with
``status`` and ``retry_after``) and ``not_found`` (local files). Messages name the feed URL
with its secrets redacted and never contain the proxy's credentials.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import functools
import ipaddress
import logging
import os
import socket
import ssl
import time
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpcore
import httpx

from ingest.errors import ConfigError, FetchError
from ingest.limits import is_local
from ingest.models import Fetched, HttpCache
from ingest.netguard import (
    IPAddress,
    IPNetwork,
    is_local_name,
    is_refused,
    parse_host_address,
    redact_url,
)
from ingest.settings import HttpSettings

__all__ = ["NO_CACHE", "Fetcher", "Resolver", "fetch_local", "system_resolver"]

logger = logging.getLogger(__name__)

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) -> IP address strings``; raises ``OSError`` when the name does not resolve."""

NO_CACHE = HttpCache()

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
# Idle keep-alive connections are dropped after this many seconds.
_KEEPALIVE_EXPIRY = 5.0
_LOOPBACK = ipaddress.IPv4Address("127.0.0.1")
_GZIP_WBITS = 16 + zlib.MAX_WBITS
# Inflate at most this much per call: decoded bytes held never exceed the cap plus one step.
_INFLATE_STEP = 64 * 1024


async def system_resolver(host: str, port: int) -> list[str]:
    """The default resolver: the system's ``getaddrinfo``, run off the event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class Fetcher:
    """Fetches feeds under one ``HttpSettings``: limits, deadline, address policy, proxy.

    Use as ``async with Fetcher(settings) as fetcher: await fetcher.fetch(url, cache)``.
    ``transport`` replaces the network (tests pass ``httpx.MockTransport``; it is not closed
    by :meth:`aclose`, and ``http.proxy`` does not apply to it); ``resolver`` replaces DNS
    for the address check. At most ``http.max_connections`` fetches run at once; the others
    wait for a slot before their deadline starts.
    """

    def __init__(
        self,
        settings: HttpSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self._settings = settings
        self._resolver = resolver or system_resolver
        self._secrets = _proxy_secrets(settings.proxy)
        self._owns_transport = transport is None
        # With our own transport and no proxy, the connect-time check sees every address.
        self._resolve_before_send = transport is None and settings.proxy is not None
        self._transport = transport or _build_transport(settings, self._resolver)
        self._slots = asyncio.Semaphore(settings.max_connections)
        self._timeouts = {
            "connect": settings.connect_timeout,
            "read": settings.read_timeout,
            "write": settings.read_timeout,
            "pool": settings.deadline,
        }

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections of the transport this fetcher built (not an injected one)."""
        if self._owns_transport:
            await self._transport.aclose()

    async def fetch(self, url: str, cache: HttpCache = NO_CACHE) -> Fetched:
        """Fetch ``url`` with a conditional GET from ``cache``; raise ``FetchError`` on failure."""
        if is_local(url):
            return await asyncio.to_thread(fetch_local, url, self._settings.max_body_bytes)
        async with self._slots:
            started = time.monotonic()
            try:
                async with asyncio.timeout(self._settings.deadline):
                    fetched = await self._follow(url, cache)
            except TimeoutError as exc:
                deadline = self._settings.deadline
                detail = f"no complete response within the {deadline:g} s deadline"
                raise self._error(url, None, detail, "timeout") from exc
        elapsed_ms = round((time.monotonic() - started) * 1000)
        return dataclasses.replace(fetched, elapsed_ms=elapsed_ms)

    async def _follow(self, url: str, cache: HttpCache) -> Fetched:
        current = url
        all_permanent = True
        for hop in range(self._settings.max_redirects + 1):
            target = self._check_target(url, current)
            if self._resolve_before_send:
                await self._vet_by_lookup(url, target)
            logger.debug(
                "GET %s (hop %d of feed %s)", redact_url(str(target)), hop, redact_url(url)
            )
            response = await self._send(url, target, cache)
            try:
                if response.status_code not in _REDIRECTS:
                    moved = str(target) if hop and all_permanent else None
                    return await self._finish(url, target, response, cache, moved)
                all_permanent = all_permanent and response.status_code in _PERMANENT
                current = self._next_hop(url, target, response)
            finally:
                await response.aclose()
        detail = f"more than {self._settings.max_redirects} redirects"
        raise self._error(url, None, detail, "too_many_redirects")

    def _check_target(self, url: str, current: str) -> httpx.URL:
        try:
            target = httpx.URL(current)
        except httpx.InvalidURL as exc:
            raise self._error(url, current, f"invalid URL ({exc})", "invalid_url") from exc
        if target.scheme not in ("http", "https"):
            detail = f"scheme {target.scheme or '(none)'!r} is not http or https"
            raise self._error(url, current, detail, "unsupported_scheme")
        if not target.host:
            raise self._error(url, current, "the URL has no host", "invalid_url")
        try:
            address = parse_host_address(target.host)
        except ValueError as exc:
            raise self._error(url, current, f"invalid host ({exc})", "invalid_url") from exc
        if address is None and is_local_name(target.host):
            address = _LOOPBACK
        if address is not None:
            self._vet(url, current, target.host, [address])
        return target

    def _vet(self, url: str, current: str, host: str, addresses: Iterable[IPAddress]) -> None:
        for address in addresses:
            reason = is_refused(address, self._settings.allow_networks)
            if reason is not None:
                raise self._error(url, current, _refusal(host, address, reason), "refused_private")

    async def _vet_by_lookup(self, url: str, target: httpx.URL) -> None:
        if parse_host_address(target.host) is not None or is_local_name(target.host):
            return  # already judged by _check_target
        try:
            addresses = await _resolve(self._resolver, target.host, target.port or 0)
        except OSError as exc:
            detail = f"cannot resolve {target.host} to check its addresses ({exc})"
            raise self._error(url, str(target), detail, "connect") from exc
        self._vet(url, str(target), target.host, addresses)

    async def _send(self, url: str, target: httpx.URL, cache: HttpCache) -> httpx.Response:
        request = httpx.Request(
            "GET",
            target,
            headers=self._request_headers(target, cache),
            extensions={"timeout": self._timeouts},
        )
        try:
            return await self._transport.handle_async_request(request)
        except (httpx.HTTPError, _AddressRefused) as exc:
            raise self._translate(url, str(target), exc) from exc

    def _request_headers(self, target: httpx.URL, cache: HttpCache) -> dict[str, str]:
        headers = {
            "User-Agent": self._settings.user_agent,
            "Accept": _ACCEPT,
            "Accept-Encoding": "gzip, deflate",
        }
        if cache.etag:
            headers["If-None-Match"] = cache.etag
        if cache.last_modified:
            headers["If-Modified-Since"] = cache.last_modified
        if target.username or target.password:
            # Credentials in a URL go where it points; a redirect to another host drops them.
            pair = f"{target.username}:{target.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return headers

    def _next_hop(self, url: str, target: httpx.URL, response: httpx.Response) -> str:
        location = response.headers.get("location")
        if not location:
            detail = f"HTTP {response.status_code} redirect without a Location header"
            raise self._error(url, str(target), detail, "http_status", response)
        try:
            return str(target.join(location))
        except httpx.InvalidURL as exc:
            detail = f"invalid redirect Location ({exc})"
            raise self._error(url, str(target), detail, "invalid_url") from exc

    async def _finish(
        self,
        url: str,
        target: httpx.URL,
        response: httpx.Response,
        cache: HttpCache,
        moved: str | None,
    ) -> Fetched:
        status = response.status_code
        headers = {name.lower(): value for name, value in response.headers.items()}
        if status == 304:
            body = b""
            validators = HttpCache(
                etag=headers.get("etag") or cache.etag,
                last_modified=headers.get("last-modified") or cache.last_modified,
            )
        elif 200 <= status < 300 and status != 206:
            body = await self._read_body(url, target, response, headers)
            validators = HttpCache(headers.get("etag"), headers.get("last-modified"))
        else:
            detail = f"HTTP {status} {response.reason_phrase}".rstrip()
            raise self._error(url, str(target), detail, "http_status", response)
        return Fetched(
            url=url,
            final_url=str(target),
            status=status,
            body=body,
            headers=headers,
            cache=validators,
            permanent_redirect=moved,
        )

    async def _read_body(
        self, url: str, target: httpx.URL, response: httpx.Response, headers: dict[str, str]
    ) -> bytes:
        cap = self._settings.max_body_bytes
        where = str(target)
        try:
            body = _Body(headers.get("content-encoding", ""), cap)
        except _Unsupported as exc:
            raise self._error(url, where, str(exc), "unsupported_encoding") from exc
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            detail = f"Content-Length {declared} is over the {cap} byte limit"
            raise self._error(url, where, detail, "body_too_large")
        try:
            if response.is_stream_consumed:
                # Built in memory (MockTransport with content=): httpx has decoded it already.
                body.accept_decoded(response.content)
            else:
                async for chunk in response.aiter_raw():
                    body.feed(chunk)
            return body.finish()
        except _TooLarge as exc:
            raise self._error(url, where, str(exc), "body_too_large") from exc
        except zlib.error as exc:
            detail = f"corrupt {body.encoding} body ({exc})"
            raise self._error(url, where, detail, "broken_transfer") from exc
        except httpx.HTTPError as exc:
            raise self._translate(url, where, exc) from exc

    def _translate(self, url: str, where: str, exc: Exception) -> FetchError:
        if isinstance(exc, _AddressRefused):
            return self._error(url, where, str(exc), "refused_private")
        if isinstance(exc, httpx.ConnectTimeout):
            detail = f"no connection within {self._settings.connect_timeout:g} s"
            return self._error(url, where, detail, "timeout")
        if isinstance(exc, httpx.ReadTimeout):
            detail = f"no data for {self._settings.read_timeout:g} s"
            return self._error(url, where, detail, "timeout")
        if isinstance(exc, httpx.TimeoutException):
            code = "timeout"
        elif isinstance(exc, httpx.ConnectError | httpx.ProxyError):
            code = "connect"
        elif isinstance(exc, httpx.UnsupportedProtocol):
            code = "unsupported_scheme"
        else:
            code = "broken_transfer"
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return self._error(url, where, detail, code)

    def _error(
        self,
        url: str,
        where: str | None,
        detail: str,
        code: str,
        response: httpx.Response | None = None,
    ) -> FetchError:
        at = f" (at {redact_url(where)})" if where and where != url else ""
        message = self._scrub(f"{redact_url(url)}{at}: {detail}")
        if response is None:
            return FetchError(message, code=code)
        return FetchError(
            message,
            code=code,
            status=response.status_code,
            retry_after=response.headers.get("retry-after"),
        )

    def _scrub(self, message: str) -> str:
        for secret in self._secrets:
            message = message.replace(secret, "***")
        return message


def fetch_local(path_or_file_url: str, max_bytes: int) -> Fetched:
    """Read a feed from a plain path or a ``file://`` URL, as a 200 with no headers.

    Raises ``FetchError`` with code ``not_found`` (missing or unreadable),
    ``body_too_large`` or ``invalid_url`` (a ``file://`` URL naming another host).
    """
    started = time.monotonic()
    path = _local_path(path_or_file_url)
    try:
        with path.open("rb") as handle:
            # st_size is 0 for pipes and /proc files, so the read below is capped as well.
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                detail = f"{size} bytes is over the {max_bytes} byte limit"
                raise FetchError(f"{path_or_file_url}: {detail}", code="body_too_large")
            body = handle.read(max_bytes + 1)
    except OSError as exc:
        detail = exc.strerror or type(exc).__name__
        raise FetchError(f"{path_or_file_url}: cannot read ({detail})", code="not_found") from exc
    if len(body) > max_bytes:
        detail = f"more than the {max_bytes} byte limit"
        raise FetchError(f"{path_or_file_url}: {detail}", code="body_too_large")
    return Fetched(
        url=path_or_file_url,
        final_url=path_or_file_url,
        status=200,
        body=body,
        headers={},
        cache=NO_CACHE,
        elapsed_ms=round((time.monotonic() - started) * 1000),
    )


def _local_path(path_or_file_url: str) -> Path:
    parts = urlsplit(path_or_file_url)
    if parts.scheme.lower() != "file":
        return Path(path_or_file_url)
    if parts.netloc not in ("", "localhost"):
        detail = f"a file:// URL must name this machine, not {parts.netloc!r}"
        raise FetchError(f"{path_or_file_url}: {detail}", code="invalid_url")
    return Path(url2pathname(parts.path))


def _refusal(host: str, address: IPAddress, reason: str) -> str:
    named = host if host.strip("[]") == str(address) else f"{host} ({address})"
    return f"refused to connect to {named}: {reason}; allow it in http.allow_networks"


def _proxy_secrets(proxy: str | None) -> tuple[str, ...]:
    """What must never appear in a message: the proxy's userinfo and password, as written."""
    if not proxy:
        return ()
    try:
        parts = urlsplit(proxy)
        userinfo, _, _ = parts.netloc.rpartition("@")
        password = parts.password
    except ValueError:
        return ()
    # A very short password would mask ordinary letters; the userinfo still covers it.
    return tuple(s for s in (userinfo, password) if s and (s == userinfo or len(s) >= 4))


async def _resolve(resolver: Resolver, host: str, port: int) -> list[IPAddress]:
    answers = await resolver(host, port)
    addresses: list[IPAddress] = []
    for answer in answers:
        try:
            address = parse_host_address(answer)
        except ValueError as exc:
            raise OSError(f"resolver returned {answer!r}, not an address") from exc
        if address is None:
            raise OSError(f"resolver returned {answer!r}, not an address")
        addresses.append(address)
    if not addresses:
        raise OSError(f"no addresses for {host}")
    return addresses


# --- Decoding ---------------------------------------------------------------------------


class _TooLarge(Exception):
    pass


class _Unsupported(Exception):
    pass


class _Body:
    """Collects a body, inflating gzip/deflate with bounded output.

    No more than ``cap + 1`` decoded bytes are ever kept: each ``decompress`` call may
    produce at most 64 KiB and only what is left below the cap plus one byte, which proves
    the overflow. Raw (wire) bytes are capped at ``cap`` too.
    """

    def __init__(self, content_encoding: str, cap: int) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1:
            raise _Unsupported(f"stacked Content-Encoding {content_encoding!r} is not accepted")
        self.encoding = codings[0] if codings else "identity"
        if self.encoding not in ("identity", "gzip", "x-gzip", "deflate"):
            raise _Unsupported(f"Content-Encoding {self.encoding!r} is not supported")
        self._cap = cap
        self._raw = 0
        self._out = bytearray()
        self._members = 0  # complete gzip members (or deflate streams) seen so far
        self._fed = False
        self._inflater: Any = None
        if self.encoding == "deflate":
            # "deflate" means zlib-wrapped; a raw stream is tried when the header is wrong.
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS)
        elif self.encoding != "identity":
            self._inflater = zlib.decompressobj(_GZIP_WBITS)

    def feed(self, chunk: bytes) -> None:
        self._raw += len(chunk)
        if self._raw > self._cap:
            raise _TooLarge(f"more than {self._cap} bytes on the wire")
        if self._inflater is None:
            self._append(chunk)
        else:
            self._inflate(chunk)

    def accept_decoded(self, content: bytes) -> None:
        self._inflater = None
        self._append(content)

    def finish(self) -> bytes:
        if self._inflater is not None and self._fed:
            self._append(self._inflater.flush())
            if self._members == 0 and not self._inflater.eof:
                raise zlib.error("the compressed stream ends early")
        return bytes(self._out)

    def _inflate(self, data: bytes) -> None:
        while data:
            if self._inflater.eof:
                self._members += 1
                if self.encoding == "deflate":
                    return  # bytes after the end of a deflate stream are ignored
                self._inflater = zlib.decompressobj(_GZIP_WBITS)  # gzip allows several members
            room = min(self._cap + 1 - len(self._out), _INFLATE_STEP)
            try:
                piece = self._inflater.decompress(data, room)
            except zlib.error:
                if self._members:
                    return  # trailing garbage after a complete gzip member is ignored
                if self.encoding != "deflate" or self._fed:
                    raise
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                piece = self._inflater.decompress(data, room)
            self._fed = True
            self._append(piece)
            data = (
                self._inflater.unused_data if self._inflater.eof else self._inflater.unconsumed_tail
            )

    def _append(self, piece: bytes) -> None:
        self._out += piece
        if len(self._out) > self._cap:
            raise _TooLarge(f"more than {self._cap} bytes after decoding")


# --- Transport: httpcore with an address check at connect time ---------------------------


class _AddressRefused(Exception):
    """Raised inside httpcore's connect; ``Fetcher`` turns it into ``refused_private``."""


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's AnyIO backend, but every TCP connection goes to a vetted IP literal.

    ``vet=False`` is for the proxy's own connections: the operator chose that address.
    """

    def __init__(
        self, resolver: Resolver, allow: tuple[IPNetwork, ...], *, vet: bool = True
    ) -> None:
        self._resolver = resolver
        self._allow = allow
        self._vet = vet
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._vetted(host, port, timeout)
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
                return _ClosingStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # _vetted never returns an empty list
        raise failure

    async def _vetted(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        try:
            literal = parse_host_address(host)
        except ValueError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        if literal is not None:
            addresses = [literal]
        else:
            try:
                async with asyncio.timeout(timeout):
                    addresses = await _resolve(self._resolver, host, port)
            except TimeoutError as exc:
                raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
            except OSError as exc:
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not self._vet:
            return addresses
        # One refused answer refuses the host: a mixed answer is a rebinding attempt.
        for address in addresses:
            reason = is_refused(address, self._allow)
            if reason is not None:
                raise _AddressRefused(_refusal(host, address, reason))
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _ClosingStream(httpcore.AsyncNetworkStream):
    """A TCP stream that is closed when its TLS handshake is cancelled.

    httpcore 1.0.9 closes the socket when ``start_tls`` fails with an error but not when it
    is cancelled, so a deadline hitting a stalled handshake would leak the descriptor.
    """

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            return await self._stream.start_tls(ssl_context, server_hostname, timeout)
        except asyncio.CancelledError:
            await self._stream.aclose()
            raise

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


# httpcore errors become the httpx errors a transport is expected to raise; most specific first.
_CORE_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core_error, httpx_error in _CORE_ERRORS:
            if isinstance(exc, core_error):
                raise httpx_error(str(exc)) from exc
        raise


class _CoreStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


class _PoolTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool we configured (httpx offers no backend hook)."""

    def __init__(self, pool: httpcore.AsyncConnectionPool) -> None:
        self._pool = pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=None,  # the fetcher only sends GET requests, which have no body
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        stream = response.stream
        assert isinstance(stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_CoreStream(stream),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        with _httpx_errors():
            await self._pool.aclose()


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs 20 ms; one context serves every fetcher. Settings are
    # arguments: no SSL_CERT_FILE or proxy variables are read from the environment.
    return httpx.create_ssl_context(trust_env=False)


def _build_transport(settings: HttpSettings, resolver: Resolver) -> _PoolTransport:
    limits: dict[str, Any] = {
        "ssl_context": _ssl_context(),
        "max_connections": settings.max_connections,
        "max_keepalive_connections": settings.max_connections,
        "keepalive_expiry": _KEEPALIVE_EXPIRY,
    }
    if settings.proxy is None:
        backend = _GuardedBackend(resolver, settings.allow_networks)
        return _PoolTransport(httpcore.AsyncConnectionPool(network_backend=backend, **limits))
    try:
        proxy = httpx.Proxy(settings.proxy)
    except (ValueError, httpx.InvalidURL) as exc:
        raise ConfigError(
            f"http.proxy: {redact_url(settings.proxy)} is not a usable proxy URL"
        ) from exc
    if proxy.url.scheme not in ("http", "https"):
        raise ConfigError(
            f"http.proxy: only http:// and https:// proxies are supported, not {proxy.url.scheme}://"
        )
    pool = httpcore.AsyncHTTPProxy(
        proxy_url=httpcore.URL(
            scheme=proxy.url.raw_scheme,
            host=proxy.url.raw_host,
            port=proxy.url.port,
            target=proxy.url.raw_path,
        ),
        proxy_auth=proxy.raw_auth,
        network_backend=_GuardedBackend(resolver, settings.allow_networks, vet=False),
        **limits,
    )
    return _PoolTransport(pool)
