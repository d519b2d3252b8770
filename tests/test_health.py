"""The health endpoint's HTTP handling, metrics format and sd_notify, without the daemon."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ingest.health import HealthServer, Response
from ingest.metrics import Metrics
from ingest.models import FeedOutcome
from ingest.notify import Notifier


def router(path: str) -> Response:
    return Response(200, b"ok\n") if path == "/healthz" else Response(404, b"nope\n")


async def exchange(port: int, raw: bytes, *, close_write: bool = False) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data


def run_server(scenario):  # type: ignore[no-untyped-def]
    async def main() -> object:
        server = HealthServer("127.0.0.1", 0, router, read_timeout=0.5, max_connections=4)
        await server.start()
        try:
            return await scenario(server)
        finally:
            await server.close()

    return asyncio.run(main())


def test_binds_loopback_and_answers() -> None:
    async def scenario(server: HealthServer) -> None:
        host, port = server.address
        assert host == "127.0.0.1"
        reply = await exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and reply.endswith(b"ok\n")
        reply = await exchange(port, b"GET /healthz?x=1 HTTP/1.1\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 200")
        reply = await exchange(port, b"HEAD /healthz HTTP/1.1\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 200") and not reply.endswith(b"ok\n")
        reply = await exchange(port, b"GET /other HTTP/1.1\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 404")

    run_server(scenario)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n", b"405"),
        (b"DELETE /healthz HTTP/1.1\r\n\r\n", b"405"),
        (b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\n\r\n", b"414"),
        (b"GET /healthz HTTP/1.1\r\n" + b"X: " + b"y" * 9000 + b"\r\n\r\n", b"431"),
        (b"garbage\r\n\r\n", b"400"),
        (b"\xff\xfe\x00\r\n\r\n", b"400"),
    ],
)
def test_bad_requests_get_clear_errors(raw: bytes, status: bytes) -> None:
    async def scenario(server: HealthServer) -> bytes:
        return await exchange(server.address[1], raw)

    reply = run_server(scenario)
    assert isinstance(reply, bytes) and reply.split(b" ")[1] == status


def test_slow_client_is_cut_off_and_many_connections_are_bounded() -> None:
    async def scenario(server: HealthServer) -> None:
        port = server.address[1]
        t0 = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /hea")  # never finishes the request
        assert await asyncio.wait_for(reader.read(), 3) == b""
        assert time.monotonic() - t0 < 2
        writer.close()
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(6)]
        await asyncio.sleep(0.05)
        reply = await exchange(port, b"GET /healthz HTTP/1.1\r\n\r\n")
        assert reply.split(b" ")[1] in (b"503", b"200")
        for _, w in held:
            w.close()
        await asyncio.sleep(0.6)  # the held ones time out
        reply = await exchange(port, b"GET /healthz HTTP/1.1\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 200")

    run_server(scenario)


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
            removed=(("ad_marker", 2), ("near_duplicate", 1)),
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
    assert samples[("ingest_duplicates_total", (("level", "paragraph"),))] == 1
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
