"""The fetcher: HTTP semantics, limits, decoding, redirects and the SSRF guard.

Unit tests run against ``httpx.MockTransport``; integration tests talk to the scripted
server in ``feedserver.py`` on 127.0.0.1/127.0.0.2 (HOSTILE.md section A, tests 1-11).
Coroutines run with ``asyncio.run``: pytest-asyncio is not a dependency.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import ipaddress
import os
import resource
import socket
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpcore
import httpx
import pytest
from feedserver import (
    Chunked,
    FeedServer,
    GzipBomb,
    Hang,
    Redirect,
    Reset,
    ShortBody,
    SilentListener,
    Static,
    Trickle,
    gzip_bomb,
    same_port_pair,
    wait_until,
)

from ingest.errors import ConfigError, FetchError
from ingest.fetch import Fetcher, _Body, _PoolTransport, fetch_local
from ingest.models import Fetched, HttpCache
from ingest.netguard import is_refused, parse_host_address
from ingest.settings import HttpSettings

T = TypeVar("T")
KIB = 1024
MIB = 1024 * KIB
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
FAST = HttpSettings(connect_timeout=0.5, read_timeout=0.5, deadline=1.5, max_body_bytes=MIB)
LOCAL = HttpSettings(
    connect_timeout=0.5, read_timeout=0.5, deadline=1.5, max_body_bytes=MIB, allow_networks=LOOPBACK
)
FEED = b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title></channel></rss>'

Handler = Callable[[httpx.Request], httpx.Response]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def settings(**changes: Any) -> HttpSettings:
    return dataclasses.replace(LOCAL, **changes)


async def fetch_with(
    handler: Handler, url: str, cache: HttpCache | None = None, config: HttpSettings = FAST
) -> Fetched:
    async with Fetcher(config, transport=httpx.MockTransport(handler)) as fetcher:
        return await fetcher.fetch(url, cache or HttpCache())


def mock_fetch(
    handler: Handler, url: str, cache: HttpCache | None = None, config: HttpSettings = FAST
) -> Fetched:
    return run(fetch_with(handler, url, cache, config))


def mock_error(handler: Handler, url: str, config: HttpSettings = FAST) -> FetchError:
    with pytest.raises(FetchError) as caught:
        mock_fetch(handler, url, config=config)
    return caught.value


def real_fetch(
    url: str, config: HttpSettings = LOCAL, cache: HttpCache | None = None, **kw: Any
) -> Fetched:
    async def go() -> Fetched:
        async with Fetcher(config, **kw) as fetcher:
            return await fetcher.fetch(url, cache or HttpCache())

    return run(go())


def real_error(url: str, config: HttpSettings = LOCAL, **kw: Any) -> FetchError:
    with pytest.raises(FetchError) as caught:
        real_fetch(url, config, **kw)
    return caught.value


class Recorder:
    """A MockTransport handler that answers from a table and records every request."""

    def __init__(self, answers: dict[str, Callable[[httpx.Request], httpx.Response]]) -> None:
        self.answers = answers
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        answer = self.answers.get(str(request.url))
        if answer is None:
            return httpx.Response(404)
        return answer(request)


def redirect(location: str, status: int = 302) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _: httpx.Response(status, headers={"Location": location})


def feed(
    body: bytes = FEED, headers: dict[str, str] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    """A 200 whose body is streamed raw, as from the network (``content=`` would pre-decode)."""
    return lambda _: httpx.Response(200, headers=headers, stream=Stream(pieces(body)))


def never_called(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request expected, got {request.url}")


class Stream(httpx.AsyncByteStream):
    """A streamed body that counts what the fetcher pulled out of it."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.pulled += len(chunk)
            yield chunk


def pieces(data: bytes, size: int = 64 * KIB) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


# --- Unit: HTTP semantics over MockTransport ---------------------------------------------


def test_200_hands_on_body_lowercase_headers_and_validators() -> None:
    handler = Recorder(
        {
            "https://feeds.example/rss": feed(
                FEED,
                {
                    "Content-Type": "application/rss+xml; charset=windows-1256",
                    "ETag": '"abc"',
                    "Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT",
                    "X-Custom": "1",
                },
            )
        }
    )
    fetched = mock_fetch(handler, "https://feeds.example/rss")
    assert fetched.status == 200
    assert fetched.body == FEED
    assert fetched.url == fetched.final_url == "https://feeds.example/rss"
    assert fetched.headers["content-type"] == "application/rss+xml; charset=windows-1256"
    assert fetched.headers["x-custom"] == "1"
    assert all(name == name.lower() for name in fetched.headers)
    assert fetched.cache == HttpCache('"abc"', "Wed, 01 Jan 2025 00:00:00 GMT")
    assert fetched.permanent_redirect is None
    sent = handler.seen[0].headers
    assert sent["user-agent"] == FAST.user_agent
    assert sent["accept-encoding"] == "gzip, deflate"
    assert "if-none-match" not in sent and "if-modified-since" not in sent


def test_in_memory_mock_responses_are_accepted() -> None:
    body = FEED * 10
    handler = Recorder(
        {
            "https://f.example/": lambda _: httpx.Response(
                200, content=gzip.compress(body), headers={"Content-Encoding": "gzip"}
            )
        }
    )
    assert mock_fetch(handler, "https://f.example/").body == body
    big = Recorder({"https://f.example/": lambda _: httpx.Response(200, content=b"x" * (MIB + 1))})
    assert mock_error(big, "https://f.example/").code == "body_too_large"


def test_user_agent_comes_from_settings() -> None:
    handler = Recorder({"https://feeds.example/rss": feed()})
    mock_fetch(handler, "https://feeds.example/rss", config=settings(user_agent="probe/1"))
    assert handler.seen[0].headers["user-agent"] == "probe/1"


def test_conditional_get_sends_validators_and_304_keeps_them() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["if-none-match"] == '"v1"'
        assert request.headers["if-modified-since"] == "Wed, 01 Jan 2025 00:00:00 GMT"
        return httpx.Response(304)

    cache = HttpCache('"v1"', "Wed, 01 Jan 2025 00:00:00 GMT")
    fetched = mock_fetch(
        Recorder({"https://feeds.example/rss": answer}), "https://feeds.example/rss", cache
    )
    assert fetched.status == 304 and fetched.not_modified
    assert fetched.body == b""
    assert fetched.cache == cache


def test_304_with_new_validators_replaces_them() -> None:
    handler = Recorder(
        {"https://feeds.example/rss": lambda _: httpx.Response(304, headers={"ETag": '"v2"'})}
    )
    fetched = mock_fetch(handler, "https://feeds.example/rss", HttpCache('"v1"', "old"))
    assert fetched.cache == HttpCache('"v2"', "old")


@pytest.mark.parametrize("status", [404, 410, 429, 500, 503])
def test_http_errors_carry_status_retry_after_and_url(status: int) -> None:
    headers = {"Retry-After": "120"} if status in (429, 503) else {}
    handler = Recorder(
        {"https://feeds.example/rss": lambda _: httpx.Response(status, headers=headers)}
    )
    error = mock_error(handler, "https://feeds.example/rss")
    assert error.code == "http_status"
    assert error.status == status
    assert error.retry_after == headers.get("Retry-After")
    assert "https://feeds.example/rss" in error.message
    assert str(status) in error.message


def test_relative_redirects_are_followed_and_permanent_chain_is_reported() -> None:
    handler = Recorder(
        {
            "https://old.example/rss": redirect("https://new.example/a", 301),
            "https://new.example/a": redirect("/b", 308),
            "https://new.example/b": feed(),
        }
    )
    fetched = mock_fetch(handler, "https://old.example/rss")
    assert fetched.body == FEED
    assert fetched.url == "https://old.example/rss"
    assert fetched.final_url == "https://new.example/b"
    assert fetched.permanent_redirect == "https://new.example/b"
    assert len(handler.seen) == 3


def test_a_temporary_hop_means_no_permanent_redirect() -> None:
    handler = Recorder(
        {
            "https://old.example/rss": redirect("https://new.example/a", 301),
            "https://new.example/a": redirect("https://new.example/b", 302),
            "https://new.example/b": feed(),
        }
    )
    fetched = mock_fetch(handler, "https://old.example/rss")
    assert fetched.final_url == "https://new.example/b"
    assert fetched.permanent_redirect is None


def test_validators_are_sent_again_after_a_redirect() -> None:
    handler = Recorder(
        {
            "https://old.example/rss": redirect("https://new.example/rss", 301),
            "https://new.example/rss": lambda _: httpx.Response(304),
        }
    )
    fetched = mock_fetch(handler, "https://old.example/rss", HttpCache('"v1"'))
    assert fetched.status == 304
    assert fetched.permanent_redirect == "https://new.example/rss"
    assert [r.headers.get("if-none-match") for r in handler.seen] == ['"v1"', '"v1"']


@pytest.mark.parametrize(("length", "ok"), [(5, True), (6, False)])
def test_redirect_limit(length: int, ok: bool) -> None:
    answers = {f"https://feeds.example/{i}": redirect(f"/{i + 1}") for i in range(length)}
    answers[f"https://feeds.example/{length}"] = feed()
    handler = Recorder(answers)
    if ok:
        assert mock_fetch(handler, "https://feeds.example/0").body == FEED
    else:
        assert mock_error(handler, "https://feeds.example/0").code == "too_many_redirects"
    assert len(handler.seen) == 6


def test_redirect_without_location_is_an_http_error() -> None:
    handler = Recorder({"https://feeds.example/rss": lambda _: httpx.Response(302)})
    error = mock_error(handler, "https://feeds.example/rss")
    assert (error.code, error.status) == ("http_status", 302)


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "ftp://feeds.example/rss",
        "data:text/xml,<rss/>",
        "javascript:alert(1)",
        "gopher://x/",
    ],
)
def test_redirect_to_another_scheme_is_refused(location: str) -> None:
    handler = Recorder({"https://feeds.example/rss": redirect(location)})
    assert mock_error(handler, "https://feeds.example/rss").code == "unsupported_scheme"
    assert len(handler.seen) == 1


@pytest.mark.parametrize(
    "url", ["ftp://feeds.example/rss", "gopher://feeds.example/", "data:text/xml,<rss/>"]
)
def test_other_schemes_are_refused_before_sending(url: str) -> None:
    assert mock_error(never_called, url).code == "unsupported_scheme"


@pytest.mark.parametrize(
    "url",
    [
        "http://",
        "http://[::1/feed",
        "http://256.1.1.1/feed",
        "http://1.2.3.4.5/",
        "https://example.999/",
    ],
)
def test_invalid_urls(url: str) -> None:
    assert mock_error(never_called, url).code == "invalid_url"


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (httpx.ConnectError("refused"), "connect"),
        (httpx.ConnectTimeout("slow"), "timeout"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.ProxyError("407"), "connect"),
        (httpx.RemoteProtocolError("peer closed"), "broken_transfer"),
        (httpx.ReadError("reset"), "broken_transfer"),
    ],
)
def test_transport_errors_are_translated_with_the_cause(exc: Exception, code: str) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    error = mock_error(fail, "https://feeds.example/rss")
    assert error.code == code
    assert error.__cause__ is exc
    assert "https://feeds.example/rss" in error.message


def test_secrets_in_the_feed_url_are_redacted_from_messages() -> None:
    url = "https://reader:hunter22@feeds.example/rss?token=s3cr3t&cat=5"
    handler = Recorder(
        {
            "https://reader:hunter22@feeds.example/rss?token=s3cr3t&cat=5": lambda _: (
                httpx.Response(500)
            )
        }
    )
    error = mock_error(handler, url)
    assert error.status == 500
    assert "hunter22" not in error.message and "s3cr3t" not in error.message
    assert "feeds.example/rss" in error.message and "cat=5" in error.message
    # The credentials went to that URL as Basic auth (and only there).
    assert handler.seen[0].headers["authorization"].startswith("Basic ")


def test_url_credentials_do_not_follow_a_redirect_to_another_host() -> None:
    handler = Recorder(
        {
            "https://reader:hunter22@feeds.example/rss": redirect("https://cdn.example/rss"),
            "https://cdn.example/rss": feed(),
        }
    )
    mock_fetch(handler, "https://reader:hunter22@feeds.example/rss")
    assert "authorization" in handler.seen[0].headers
    assert "authorization" not in handler.seen[1].headers


# --- Unit: body limits and decoding --------------------------------------------------------


def encoded(body: bytes, encoding: str) -> bytes:
    if encoding in ("gzip", "x-gzip"):
        return gzip.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    if encoding == "raw-deflate":
        compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        return compressor.compress(body) + compressor.flush()
    return body


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", "raw-deflate", "identity", ""])
def test_supported_encodings_decode(encoding: str) -> None:
    body = FEED * 100
    header = "deflate" if encoding == "raw-deflate" else encoding
    stream = Stream(pieces(encoded(body, encoding), 100))
    handler = Recorder(
        {
            "https://feeds.example/rss": lambda _: httpx.Response(
                200, headers={"Content-Encoding": header}, stream=stream
            )
        }
    )
    assert mock_fetch(handler, "https://feeds.example/rss").body == body


def test_several_gzip_members_decode_as_one_body() -> None:
    data = gzip.compress(b"<rss>") + gzip.compress(b"</rss>")
    handler = Recorder({"https://f.example/": feed(data, {"Content-Encoding": "gzip"})})
    assert mock_fetch(handler, "https://f.example/").body == b"<rss></rss>"


def test_truncated_gzip_is_a_broken_transfer() -> None:
    data = gzip.compress(FEED * 50)[:-30]
    handler = Recorder({"https://f.example/": feed(data, {"Content-Encoding": "gzip"})})
    assert mock_error(handler, "https://f.example/").code == "broken_transfer"


def test_gzip_bomb_stops_at_the_decoded_cap() -> None:
    bomb = gzip_bomb(1 << 30)  # 1 GiB of zeros, about 1 MB on the wire
    stream = Stream(pieces(bomb))
    handler = Recorder(
        {
            "https://f.example/": lambda _: httpx.Response(
                200, headers={"Content-Encoding": "gzip"}, stream=stream
            )
        }
    )
    config = settings(max_body_bytes=2 * MIB)
    tracemalloc.start()
    try:
        error = mock_error(handler, "https://f.example/", config)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.code == "body_too_large"
    assert "after decoding" in error.message
    # 2 MiB of zeros is about 2 KB of deflate: the fetcher stopped reading right there.
    assert stream.pulled <= 64 * KIB
    assert peak < 2 * MIB + 64 * KIB + 512 * KIB, (
        f"peak {peak} bytes"
    )  # bytearray slack, one raw chunk


def test_body_holds_at_most_cap_plus_one_decoded_byte() -> None:
    cap = 256 * KIB
    body = _Body("gzip", cap)
    with pytest.raises(Exception, match="after decoding"):
        for chunk in pieces(gzip_bomb(64 * MIB), 4 * KIB):
            body.feed(chunk)
            assert len(body._out) <= cap + 1
    assert len(body._out) == cap + 1


@pytest.mark.parametrize(
    "encoding", ["gzip, gzip", "gzip,deflate", "br", "zstd", "compress", "x-unknown"]
)
def test_stacked_and_unknown_encodings_are_refused_without_decoding(encoding: str) -> None:
    stream = Stream(pieces(gzip_bomb(16 * MIB, layers=2)))
    handler = Recorder(
        {
            "https://f.example/": lambda _: httpx.Response(
                200, headers={"Content-Encoding": encoding}, stream=stream
            )
        }
    )
    error = mock_error(handler, "https://f.example/")
    assert error.code == "unsupported_encoding"
    assert stream.pulled == 0


def test_content_length_over_the_cap_is_refused_before_reading() -> None:
    stream = Stream(pieces(b"x" * (2 * MIB)))
    handler = Recorder(
        {
            "https://f.example/": lambda _: httpx.Response(
                200, headers={"Content-Length": str(2 * MIB)}, stream=stream
            )
        }
    )
    error = mock_error(handler, "https://f.example/")
    assert error.code == "body_too_large"
    assert "Content-Length" in error.message
    assert stream.pulled == 0


def test_raw_bytes_are_capped_without_content_length() -> None:
    stream = Stream(pieces(b"x" * (200 * MIB)))
    handler = Recorder({"https://f.example/": lambda _: httpx.Response(200, stream=stream)})
    error = mock_error(handler, "https://f.example/")
    assert error.code == "body_too_large"
    assert stream.pulled <= MIB + 64 * KIB


def test_body_at_exactly_the_cap_is_accepted() -> None:
    handler = Recorder({"https://f.example/": feed(b"x" * MIB)})
    assert len(mock_fetch(handler, "https://f.example/").body) == MIB


# --- Unit: the address policy before sending (injected transport) ---------------------------

PRIVATE_URLS = [
    "http://127.0.0.1/feed",
    "http://[::1]/feed",
    "http://10.0.0.1/feed",
    "http://172.16.0.1/feed",
    "http://192.168.1.1/feed",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/feed",
    "http://0.0.0.0/feed",
    "http://[fc00::1]/feed",
    "http://[fe80::1]/feed",
    "http://localhost/feed",
    "http://2130706433/feed",
    "http://0x7f.0.0.1/feed",
    "http://0177.0.0.1/feed",
    "http://127.1/feed",
    "http://[::ffff:127.0.0.1]/feed",
    "http://localhost./feed",
    "http://[64:ff9b::7f00:1]/feed",
    "http://[2002:7f00:1::]/feed",
    "http://192.0.0.8/feed",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_destinations_are_refused_before_any_request(url: str) -> None:
    error = mock_error(never_called, url)
    assert error.code in ("refused_private", "invalid_url")


def test_redirect_to_a_private_address_is_refused_at_the_hop() -> None:
    handler = Recorder(
        {"https://feeds.example/rss": redirect("http://169.254.169.254/latest/meta-data/")}
    )
    assert mock_error(handler, "https://feeds.example/rss").code == "refused_private"
    assert [str(r.url) for r in handler.seen] == ["https://feeds.example/rss"]


def test_allow_list_lets_a_private_literal_through() -> None:
    handler = Recorder({"http://10.1.2.3/feed": feed()})
    allowing = settings(allow_networks=(ipaddress.ip_network("10.1.0.0/16"),))
    assert mock_fetch(handler, "http://10.1.2.3/feed", config=allowing).body == FEED


# --- Local files --------------------------------------------------------------------------


def test_local_files_by_path_and_file_url(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(FEED)
    for target in (str(path), path.as_uri()):
        fetched = fetch_local(target, MIB)
        assert (fetched.status, fetched.body, dict(fetched.headers)) == (200, FEED, {})
        assert fetched.url == target
        assert mock_fetch(never_called, target).body == FEED


def test_local_file_errors(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    big.write_bytes(b"x" * 101)
    cases = [
        (str(tmp_path / "missing.xml"), "not_found"),
        (str(tmp_path), "not_found"),
        (str(big), "body_too_large"),
        ("file://otherhost/etc/passwd", "invalid_url"),
    ]
    for target, code in cases:
        with pytest.raises(FetchError) as caught:
            fetch_local(target, 100)
        assert caught.value.code == code, target


def test_socks_and_unknown_proxies_are_configuration_errors() -> None:
    for proxy in ("socks5://user:pw12345@10.0.0.1:1080", "ftp://10.0.0.1/"):
        with pytest.raises(ConfigError) as caught:
            Fetcher(settings(proxy=proxy))
        assert "pw12345" not in str(caught.value)


# --- Integration: the scripted server on 127.0.0.1 ---------------------------------------------


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_conditional_get_round_trip(server: FeedServer) -> None:
    url = server.route(
        "/feed", Static(FEED, etag='"v7"', last_modified="Wed, 01 Jan 2025 00:00:00 GMT")
    )
    first = real_fetch(url)
    assert (first.status, first.body) == (200, FEED)
    assert first.headers["content-type"] == "application/rss+xml; charset=utf-8"
    second = real_fetch(url, cache=first.cache)
    assert (second.status, second.body, second.cache) == (304, b"", first.cache)
    assert server.requests[1].headers["if-none-match"] == '"v7"'
    assert server.requests[1].headers["if-modified-since"] == "Wed, 01 Jan 2025 00:00:00 GMT"
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


def test_keep_alive_reuses_one_connection(server: FeedServer) -> None:
    url = server.route("/feed", Static(FEED))

    async def twice() -> None:
        async with Fetcher(LOCAL) as fetcher:
            await fetcher.fetch(url)
            await fetcher.fetch(url)

    run(twice())
    assert server.hits["/feed"] == 2
    assert server.connections == 1


@pytest.mark.parametrize(
    ("path", "behaviour"),
    [
        ("/trickle", Trickle(b"x" * 100, bytes_per_second=1)),
        ("/trickle-chunked", Trickle(b"x" * 100, bytes_per_second=1, length=False)),
        ("/hang-before-headers", Hang()),
        ("/hang-after-headers", Hang(after_headers=True)),
    ],
)
def test_total_deadline_ends_slow_servers(server: FeedServer, path: str, behaviour: Any) -> None:
    # Read timeout longer than the deadline: only the total deadline can end these.
    config = settings(read_timeout=5.0, deadline=0.6)
    url = server.route(path, behaviour)
    baseline = open_fds()
    error = real_error(url, config)
    assert error.code == "timeout"
    assert "within the 0.6 s deadline" in error.message  # not the 5 s read timeout
    assert wait_until(lambda: open_fds() <= baseline), f"{open_fds()} fds open, {baseline} before"


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_stalled_handshake_ends_at_the_deadline(scheme: str) -> None:
    # TCP connects (the kernel's backlog) but no TLS ServerHello / no HTTP response ever comes.
    config = settings(connect_timeout=5.0, read_timeout=5.0, deadline=0.6)
    with SilentListener() as silent:
        baseline = open_fds()
        error = real_error(silent.url("/feed", scheme), config)
        assert error.code == "timeout"
        assert "within the 0.6 s deadline" in error.message  # not the 5 s timeouts
        assert open_fds() <= baseline


def test_read_timeout_ends_a_silent_server_before_the_deadline(server: FeedServer) -> None:
    url = server.route("/hang", Hang(after_headers=True))
    error = real_error(url, settings(read_timeout=0.3, deadline=5.0))
    assert error.code == "timeout"
    assert "no data for 0.3 s" in error.message and "deadline" not in error.message


def test_oversized_bodies(server: FeedServer) -> None:
    declared = server.route("/big", Static(b"x" * (30 * MIB)))
    chunked = server.route("/chunked", Chunked(200 * MIB))
    error = real_error(declared)
    assert error.code == "body_too_large"
    assert f"Content-Length {30 * MIB} is over" in error.message  # refused before reading
    error = real_error(chunked)
    assert error.code == "body_too_large"
    # The client hung up at the cap: the server did not get to send its 200 MiB.
    assert wait_until(lambda: server.open_connections == 0)
    assert server.exchanges[-1].path == "/chunked"


def test_gzip_bomb_over_the_wire_stays_small(server: FeedServer) -> None:
    url = server.route("/bomb", GzipBomb(1 << 30))  # 1 GiB decoded, 1 MB sent
    stacked = server.route("/bomb2", GzipBomb(64 * MIB, layers=2))
    # Generous timeouts: tracemalloc slows the server thread too.
    config = settings(max_body_bytes=2 * MIB, read_timeout=3.0, deadline=5.0)
    gzip_bomb(1 << 30)  # build it before measuring
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    try:
        error = real_error(url, config)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.code == "body_too_large"
    assert "after decoding" in error.message
    assert peak < 2 * MIB + 64 * KIB + 1 * MIB, f"peak {peak} bytes"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 64 * 1024
    assert real_error(stacked, config).code == "unsupported_encoding"


@pytest.mark.parametrize(
    ("behaviour", "code"),
    [
        (ShortBody(b"<rss>", declared=1000), "broken_transfer"),
        (Reset(body=b"<rss><channel>"), "broken_transfer"),
        (Reset(after_headers=False), "broken_transfer"),
    ],
)
def test_broken_transfers(server: FeedServer, behaviour: Any, code: str) -> None:
    url = server.route("/broken", behaviour)
    assert real_error(url).code == code


def test_empty_200_body_is_handed_on(server: FeedServer) -> None:
    url = server.route("/empty", Static(b""))
    assert real_fetch(url).body == b""


def test_closed_port_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert real_error(f"http://127.0.0.1:{port}/feed").code == "connect"


def test_redirect_loop_fails_fast(server: FeedServer) -> None:
    url = server.route("/loop", Redirect("/loop"))
    error = real_error(url)
    assert error.code == "too_many_redirects"
    assert server.hits["/loop"] == 6  # the first request and 5 redirects followed


def test_permanent_redirect_chain_over_the_wire(server: FeedServer) -> None:
    url = server.redirect_chain("/moved", 2, Static(FEED), status=301)
    fetched = real_fetch(url)
    assert fetched.permanent_redirect == server.url("/moved/2")


def test_default_policy_refuses_loopback_without_connecting(server: FeedServer) -> None:
    url = server.route("/feed", Static(FEED))
    error = real_error(url, FAST)
    assert error.code == "refused_private"
    assert "loopback" in error.message
    assert server.connections == 0
    assert real_fetch(url, LOCAL).body == FEED  # the allow-list entry makes it work


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "2130706433",
        "0x7f.0.0.1",
        "127.1",
        "[::ffff:127.0.0.1]",
        "localhost",
        "localhost.",
        "0177.0.0.1",
    ],
)
def test_address_spellings_end_to_end(server: FeedServer, host: str) -> None:
    server.route("/feed", Static(FEED))
    url = f"http://{host}:{server.port}/feed"
    assert real_error(url, FAST).code in ("refused_private", "invalid_url")
    assert server.connections == 0


@pytest.mark.parametrize("host", ["2130706433", "0x7f.0.0.1", "127.1", "[::ffff:127.0.0.1]"])
def test_allowed_odd_spellings_connect_to_the_vetted_address(server: FeedServer, host: str) -> None:
    server.route("/feed", Static(FEED))
    assert real_fetch(f"http://{host}:{server.port}/feed").body == FEED


def test_localhost_allowed_when_both_loopbacks_are(server: FeedServer) -> None:
    url = server.route("/feed", Static(FEED)).replace("127.0.0.1", "localhost")
    both = settings(allow_networks=(*LOOPBACK, ipaddress.ip_network("::1/128")))
    assert real_fetch(url, both).body == FEED


@pytest.fixture
def public_and_private() -> Iterator[tuple[FeedServer, FeedServer]]:
    """127.0.0.2 plays a public host, 127.0.0.1 a private one, on the same port."""
    private, public = same_port_pair("127.0.0.1", "127.0.0.2")
    try:
        yield public, private
    finally:
        public.stop()
        private.stop()


ONLY_PUBLIC = settings(allow_networks=(ipaddress.ip_network("127.0.0.2/32"),))


def test_redirect_to_a_private_server_is_refused(
    public_and_private: tuple[FeedServer, FeedServer],
) -> None:
    public, private = public_and_private
    private.route("/secret", Static(b"secret"))
    url = public.route("/go", Redirect(private.url("/secret")))
    error = real_error(url, ONLY_PUBLIC)
    assert error.code == "refused_private"
    assert public.hits["/go"] == 1
    assert private.connections == 0


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "ftp://127.0.0.2/x", "data:text/xml,<rss/>"]
)
def test_redirect_to_another_scheme_over_the_wire(
    public_and_private: tuple[FeedServer, FeedServer], location: str
) -> None:
    public, _ = public_and_private
    url = public.route("/go", Redirect(location))
    assert real_error(url, ONLY_PUBLIC).code == "unsupported_scheme"


class Rebinding:
    """A stub resolver answering the allowed address first, then the private one."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return [answer]


def test_dns_rebinding_is_caught_at_connect_time(
    public_and_private: tuple[FeedServer, FeedServer],
) -> None:
    public, private = public_and_private
    # The public server closes each connection, so every fetch resolves the name again.
    public.route("/feed", Static(FEED, headers=(("Connection", "close"),)))
    private.route("/feed", Static(b"secret"))
    resolver = Rebinding("127.0.0.2", "127.0.0.1")
    url = f"http://rebind.example:{public.port}/feed"

    async def twice() -> tuple[Fetched, FetchError]:
        async with Fetcher(ONLY_PUBLIC, resolver=resolver) as fetcher:
            first = await fetcher.fetch(url)
            with pytest.raises(FetchError) as caught:
                await fetcher.fetch(url)
            return first, caught.value

    first, error = run(twice())
    assert first.body == FEED
    assert error.code == "refused_private"
    assert resolver.calls == 2
    assert private.connections == 0


class NaiveBackend(httpcore.AsyncNetworkBackend):
    """What a pre-flight check relies on: a connection that resolves the name again."""

    def __init__(self, resolver: Callable[[str, int], Awaitable[list[str]]]) -> None:
        self.resolver = resolver
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, *args: Any, **kwargs: Any
    ) -> httpcore.AsyncNetworkStream:
        address = (await self.resolver(host, port))[0]
        return await self.inner.connect_tcp(address, port, *args, **kwargs)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def test_a_naive_preflight_check_is_bypassed_by_the_same_rebinding(
    public_and_private: tuple[FeedServer, FeedServer],
) -> None:
    # Regression proof for the test above: with the check outside the connect path,
    # the same stub resolver gets a request through to the private server.
    public, private = public_and_private
    private.route("/feed", Static(b"secret"))
    resolver = Rebinding("127.0.0.2", "127.0.0.1")

    async def naive() -> Fetched:
        checked = [parse_host_address(a) for a in await resolver("rebind.example", public.port)]
        assert all(
            a is not None and is_refused(a, ONLY_PUBLIC.allow_networks) is None for a in checked
        )
        transport = _PoolTransport(
            httpcore.AsyncConnectionPool(network_backend=NaiveBackend(resolver))
        )
        async with Fetcher(ONLY_PUBLIC, transport=transport) as fetcher:
            fetched = await fetcher.fetch(f"http://rebind.example:{public.port}/feed")
        await transport.aclose()
        return fetched

    assert run(naive()).body == b"secret"
    assert private.hits["/feed"] == 1


def test_a_host_with_one_private_answer_is_refused(server: FeedServer) -> None:
    server.route("/feed", Static(FEED))

    async def mixed(host: str, port: int) -> list[str]:
        return ["127.0.0.2", "10.0.0.1"]

    allow_127 = settings(allow_networks=LOOPBACK)
    error = real_error(f"http://mixed.example:{server.port}/feed", allow_127, resolver=mixed)
    assert error.code == "refused_private"
    assert "10.0.0.1" in error.message


# --- Proxy ----------------------------------------------------------------------------------

PUBLIC_ANSWER = "93.184.216.34"


async def public_resolver(host: str, port: int) -> list[str]:
    return ["10.0.0.1"] if host.startswith("internal") else [PUBLIC_ANSWER]


def test_proxy_is_used_and_private_targets_are_still_refused(server: FeedServer) -> None:
    server.route("/feed", Static(FEED))
    config = settings(allow_networks=(), proxy=f"http://reader:pr0xyPass@127.0.0.1:{server.port}")
    fetched = real_fetch("http://feeds.example/feed", config, resolver=public_resolver)
    assert fetched.body == FEED
    assert server.requests[0].proxied
    assert server.requests[0].headers["proxy-authorization"].startswith("Basic ")
    for url in ("http://10.0.0.1/feed", "http://internal.example/feed", "http://localhost/feed"):
        assert real_error(url, config, resolver=public_resolver).code == "refused_private"
    assert server.hits["/feed"] == 1


def test_proxy_credentials_never_appear_in_errors() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = settings(proxy=f"http://reader:pr0xyPass@127.0.0.1:{port}")
    error = real_error("http://feeds.example/feed", config, resolver=public_resolver)
    assert error.code == "connect"
    text = f"{error.message} {error!r} {error.__cause__!r}"
    assert "pr0xyPass" not in error.message and "pr0xyPass" not in repr(error)
    assert "reader:" not in text
