"""The HTTP server, health readiness, metrics format and sd_notify, without the daemon."""

from __future__ import annotations

import asyncio
import resource
import socket
import subprocess
import sys
from urllib.parse import quote

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ingest.errors import ConfigError
from ingest.health import HEARTBEAT_STALE, PROBE_STALE, Readiness
from ingest.httpserver import (
    MAX_CONNECTIONS,
    RESERVED_FILES,
    HttpServer,
    Request,
    Response,
    Router,
)
from ingest.metrics import Metrics
from ingest.models import FeedOutcome
from ingest.notify import Notifier
from ingest.settings import Address, DaemonSettings


def router(request: Request) -> Response:
    if request.path == "/healthz":
        return Response.text(200, "ok\n")
    return Response.text(404, "nope\n")


async def exchange(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def run_server(scenario, handler=router, **options):  # type: ignore[no-untyped-def]
    async def main() -> object:
        settings = {"head_timeout": 0.5, "max_connections": 4, **options}
        server = HttpServer(Address("127.0.0.1", 0), handler, **settings)
        await server.start()
        try:
            return await scenario(server)
        finally:
            await server.close()

    return asyncio.run(main())


def test_binds_loopback_and_answers() -> None:
    async def scenario(server: HttpServer) -> None:
        host, port = server.address.host, server.address.port
        assert host == "127.0.0.1"
        reply = await exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and reply.endswith(b"ok\n")
        assert b"Cache-Control: no-store" in reply and b"Connection: close" in reply
        reply = await exchange(port, b"GET /healthz?x=1 HTTP/1.1\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 200")
        reply = await exchange(port, b"HEAD /healthz HTTP/1.1\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 200") and not reply.endswith(b"ok\n")
        assert b"Content-Length: 3" in reply
        reply = await exchange(port, b"GET /other HTTP/1.1\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 404")

    run_server(scenario)


def test_the_default_health_address_is_loopback() -> None:
    assert DaemonSettings().health_address == Address("127.0.0.1", 8425)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
        (b"DELETE /healthz HTTP/1.1\r\n\r\n", 405),
        (b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /healthz HTTP/1.1\r\n" + b"X: " + b"y" * 9000 + b"\r\n\r\n", 431),
        (b"garbage\r\n\r\n", 400),
        (b"\xff\xfe\x00\r\n\r\n", 400),
        (b"GET /%ff HTTP/1.1\r\n\r\n", 400),
        (b"GET /healthz?q=%ff HTTP/1.1\r\n\r\n", 400),
        (b"GET healthz HTTP/1.1\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\nno colon\r\n\r\n", 400),
    ],
)
def test_bad_requests_get_clear_errors(raw: bytes, status: int) -> None:
    async def scenario(server: HttpServer) -> bytes:
        return await exchange(server.address.port, raw)

    reply = run_server(scenario)
    assert isinstance(reply, bytes) and status_of(reply) == status


def test_a_slow_client_is_cut_off_at_the_head_deadline() -> None:
    async def scenario(server: HttpServer) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.address.port)
        writer.write(b"GET /hea")  # never finishes the request
        assert await asyncio.wait_for(reader.read(), 5) == b""  # the server hung up
        writer.close()
        assert server.open_connections == 0

    run_server(scenario)


def test_idle_connections_never_take_the_endpoint_down() -> None:
    """Issue 11 finding 1: connections that send half a request head and wait made the
    endpoint answer 503 "too many connections" to probes. Now the oldest of them are closed
    to make room, and every probe is answered."""

    async def scenario(server: HttpServer) -> list[int]:
        port = server.address.port
        held = []
        for _ in range(40):  # ten times the cap, each with half a request head
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            await writer.drain()
            held.append((reader, writer))
        codes = [
            status_of(await exchange(port, b"GET /healthz HTTP/1.1\r\n\r\n")) for _ in range(20)
        ]
        assert server.evicted >= 36 and server.open_connections <= server.max_connections
        for _, writer in held:
            writer.close()
        return codes

    codes = run_server(scenario, head_timeout=30.0)
    assert codes == [200] * 20


def test_request_parts_async_handlers_and_headers() -> None:
    """What the web console needs: method, decoded path and query, path parameters, async
    handlers, response headers, conditional answers."""
    seen: list[Request] = []

    async def article(request: Request) -> Response:
        seen.append(request)
        await asyncio.sleep(0)  # a store query in a thread would be awaited here
        tag = '"v1"'
        if request.headers.get("if-none-match") == tag:
            return Response(304, headers=(("ETag", tag),))
        csp = ("Content-Security-Policy", "default-src 'self'")
        return Response.json({"id": request.params["id"]}, headers=(("ETag", tag), csp))

    routes = Router()
    routes.add("/healthz", router)
    routes.add("/api/articles/{id}", article)

    async def scenario(server: HttpServer) -> list[bytes]:
        port = server.address.port
        query = f"q={quote('الجزائر')}&q=2&e="
        first = await exchange(port, f"GET /api/articles/12?{query} HTTP/1.1\r\n\r\n".encode())
        again = await exchange(
            port, b'GET /api/articles/12 HTTP/1.1\r\nIf-None-Match: "v1"\r\n\r\n'
        )
        missing = await exchange(port, b"GET /api/articles/ HTTP/1.1\r\n\r\n")
        return [first, again, missing]

    first, again, missing = run_server(scenario, handler=routes)
    assert status_of(first) == 200 and first.endswith(b'{\n "id": "12"\n}')
    assert b'ETag: "v1"' in first and b"Content-Security-Policy: default-src 'self'" in first
    assert b"Content-Type: application/json" in first
    assert status_of(again) == 304 and again.endswith(b"\r\n\r\n")
    assert status_of(missing) == 404 and b"/api/articles/{id}" in missing
    request = seen[0]
    assert (request.method, request.path, request.params) == (
        "GET",
        "/api/articles/12",
        {"id": "12"},
    )
    assert request.query == {"q": ("الجزائر", "2"), "e": ("",)}
    assert request.arg("q") == "الجزائر" and request.arg("none", "x") == "x"
    assert seen[1].headers["if-none-match"] == '"v1"'


def test_a_failing_handler_is_a_500_and_the_server_goes_on() -> None:
    def broken(request: Request) -> Response:
        if request.path == "/bug":
            raise RuntimeError("a bug")
        if request.path == "/inject":
            return Response(200, headers=(("X-Evil", "a\r\nSet-Cookie: x=1"),))
        return Response.text(200, "ok\n")

    async def scenario(server: HttpServer) -> list[bytes]:
        port = server.address.port
        return [
            await exchange(port, f"GET {path} HTTP/1.1\r\n\r\n".encode())
            for path in ("/bug", "/inject", "/fine")
        ]

    bug, inject, fine = run_server(scenario, handler=broken)
    assert status_of(bug) == 500 and status_of(inject) == 500
    assert b"Set-Cookie" not in inject
    assert status_of(fine) == 200


def test_a_busy_address_is_a_config_error_naming_it() -> None:
    async def scenario(server: HttpServer) -> str:
        second = HttpServer(server.address, router, setting="[daemon] health_address")
        with pytest.raises(ConfigError) as caught:
            await second.start()
        return caught.value.message

    message = run_server(scenario)
    assert isinstance(message, str) and "\n" not in message
    assert message.startswith("[daemon] health_address: cannot listen on 127.0.0.1:")


def test_readiness_follows_phase_heartbeat_probes_and_writes() -> None:
    now = [100.0]
    readiness = Readiness(lambda: now[0])
    assert readiness.ready_reason() == "starting" and readiness.live_reason() is None
    readiness.probe_ok()
    readiness.scheduler_running = True
    readiness.phase = "ready"
    assert readiness.ready_reason() is None
    # A failed write (a full disk) makes it not ready, a good one ready again.
    readiness.wrote(FeedOutcome("A", "u", "error", error_code="db_full", error="disk full"))
    assert readiness.ready_reason() == "store: db_full: disk full"
    readiness.wrote(FeedOutcome("A", "u", "ok"))
    assert readiness.ready_reason() is None
    # A probe that fails, or none for too long.
    readiness.probe_failed("db_locked", "locked")
    assert readiness.ready_reason() == "store: db_locked: locked"
    readiness.probe_ok()
    now[0] += PROBE_STALE + 1
    readiness.tick()
    assert "has not answered a probe" in (readiness.ready_reason() or "")
    readiness.probe_ok()
    # A wedged scheduler: not live, not ready.
    now[0] += HEARTBEAT_STALE + 1
    assert "has not ticked" in (readiness.live_reason() or "")
    assert readiness.ready_reason() == readiness.live_reason()
    readiness.tick()
    readiness.phase = "stopping"
    assert readiness.ready_reason() == "stopping" and readiness.live_reason() is None


def test_metrics_parse_and_follow_conventions() -> None:
    metrics = Metrics()
    metrics.observe(
        FeedOutcome(
            name="A",
            url="https://user:pw@a.example/rss?token=s3cret",
            status="ok",
            new=3,
            duplicates=1,
            exact=1,
            duration_ms=120,
            removed=(("ad_marker", 2), ("near_duplicate", 1), ("contained", 2), ("new_rule", 1)),
        ),
        1.0e9,
    )
    metrics.observe(
        FeedOutcome(
            name="B",
            url="https://b.example/",
            status="error",
            error_code="timeout",
            duration_ms=5000,
        ),
        None,
    )
    text = metrics.render().decode()
    assert "s3cret" not in text and "a.example" not in text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert samples[("ingest_fetches_total", (("outcome", "ok"),))] == 1
    assert samples[("ingest_fetches_total", (("outcome", "timeout"),))] == 1
    assert samples[("ingest_articles_stored_total", ())] == 3
    # Every removal reason is counted; the paragraph rule's (contained too) are duplicates.
    assert samples[("ingest_duplicates_total", (("level", "paragraph"),))] == 3
    assert samples[("ingest_paragraphs_removed_total", (("reason", "contained"),))] == 2
    assert samples[("ingest_paragraphs_removed_total", (("reason", "new_rule"),))] == 1
    assert samples[("ingest_paragraphs_removed_total", (("reason", "exact_duplicate"),))] == 0
    assert samples[("ingest_duplicates_total", (("level", "article"),))] == 1
    assert samples[("ingest_duplicates_total", (("level", "exact"),))] == 1
    assert samples[("ingest_paragraphs_removed_total", (("reason", "ad_marker"),))] == 2
    assert samples[("ingest_feed_last_success_timestamp_seconds", (("feed", "A"),))] == 1.0e9
    assert ("ingest_fetch_duration_seconds_count", ()) in samples
    for name in families:
        assert name.startswith("ingest_")
    assert len(samples) < 80


def test_notifier(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "n.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"})
    assert notifier.watchdog_seconds == 4.0
    assert notifier.ready("3 feeds")
    assert notifier.reloading()
    assert sock.recv(100) == b"READY=1\nSTATUS=3 feeds"
    assert sock.recv(100).startswith(b"RELOADING=1\nMONOTONIC_USEC=")
    notifier.close()
    sock.close()
    silent = Notifier({})
    assert not silent.enabled and not silent.ready("x")
    assert Notifier({"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}).watchdog_seconds is None


def test_the_open_files_limit_is_raised_to_what_held_connections_need() -> None:
    """The connection cap follows the open-files limit, raised (up to the hard limit) at start;
    run in a child so this process keeps its own limit."""
    script = """
import resource
from ingest.httpserver import connection_cap, raise_open_files_limit
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
before, after = raise_open_files_limit(2)
print(before, after, connection_cap(after, 2), resource.getrlimit(resource.RLIMIT_NOFILE)[0])
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
before, after = raise_open_files_limit(2)
print(before, after, connection_cap(after, 2))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=30
    )
    first, second = result.stdout.splitlines()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard >= 2 * MAX_CONNECTIONS + RESERVED_FILES:
        want = 2 * MAX_CONNECTIONS + RESERVED_FILES
        assert first.split() == ["256", str(want), str(MAX_CONNECTIONS), str(want)]
    # A hard limit of 1,024 leaves (1,024 - reserved) / 2 connections per server.
    assert second.split() == ["1024", "1024", str((1024 - RESERVED_FILES) // 2)]
