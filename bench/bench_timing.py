"""How long the limits take to act: the timings the tests no longer assert (issue 12).

    .venv/bin/python bench/bench_timing.py [--json out.json]

The tests check *which* limit ended a fetch, a parse or a daemon (by its message, the order of
events, the counts); this measures how long each took against what the limit promises, on
127.0.0.1 with ``tests/feedserver.py`` behind the fetches:

- the daemon's stop (HOSTILE.md 34, 35): idle (goal < 1 s); a fetch in flight that ends 1 s
  after SIGTERM (stored, exit right after it); a fetch that never ends with stop_timeout 2 s
  (goal: grace + 1 s);
- the fetcher's limits: the total deadline against trickling and silent servers, the read
  timeout, oversized bodies, a gzip bomb over the wire, a redirect loop (goal: the limit
  plus 1 s, a refusal well under 1 s);
- parse isolation: the wall-clock limit, the entity bomb, the largest admitted feed against
  its limit, a worker's start-up (queue time, not job time), two workers at once, closing a
  pool with a busy worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_common import PYTHON, Row, write_rows
from feedserver import (
    Chunked,
    Custom,
    FeedHandler,
    FeedServer,
    GzipBomb,
    Hang,
    Redirect,
    Static,
    Trickle,
)

from ingest.errors import FetchError, ParseError
from ingest.fetch import Fetcher
from ingest.isolate import MIN_MEMORY_LIMIT, WorkerPool, parse_limits
from ingest.parse import parse_feed
from ingest.settings import HttpSettings

MIB = 1024 * 1024
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
FEED = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
    b"<item><title>one</title><guid>g1</guid><link>https://a.example/1</link>"
    b"<description>&lt;p&gt;text of the item&lt;/p&gt;</description></item></channel></rss>"
)


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def fetch_error(url: str, **changes: Any) -> FetchError:
    config = HttpSettings(
        **{
            "connect_timeout": 0.5,
            "read_timeout": 0.5,
            "deadline": 1.5,
            "max_body_bytes": MIB,
            "allow_networks": LOOPBACK,
            **changes,
        }
    )

    async def go() -> None:
        async with Fetcher(config) as fetcher:
            await fetcher.fetch(url)

    try:
        asyncio.run(go())
    except FetchError as exc:
        return exc
    raise AssertionError(f"{url} did not fail")


# --- the fetcher -----------------------------------------------------------------------------


def fetch_rows() -> list[Row]:
    rows = []
    with FeedServer() as server:
        cases: list[tuple[str, Any, dict[str, Any], str, float]] = [
            ("trickle 1 B/s, deadline 0.6 s", Trickle(b"x" * 100), {"read_timeout": 5.0, "deadline": 0.6}, "timeout", 1.6),
            ("silent before headers, deadline 0.6 s", Hang(), {"read_timeout": 5.0, "deadline": 0.6}, "timeout", 1.6),
            ("silent after headers, read timeout 0.3 s", Hang(after_headers=True), {"read_timeout": 0.3, "deadline": 5.0}, "timeout", 1.3),
            ("Content-Length 30 MiB over a 1 MiB cap", Static(b"x" * (30 * MIB)), {}, "body_too_large", 1.0),
            ("200 MiB chunked over a 1 MiB cap", Chunked(200 * MIB), {}, "body_too_large", 1.0),
            ("1 GiB gzip bomb over a 2 MiB cap", GzipBomb(1 << 30), {"max_body_bytes": 2 * MIB, "read_timeout": 3.0, "deadline": 5.0}, "body_too_large", 2.0),
            ("redirect loop (5 followed)", Redirect("/case-6"), {}, "too_many_redirects", 1.0),
        ]  # fmt: skip
        for index, (name, behaviour, changes, code, goal) in enumerate(cases):
            url = server.route(f"/case-{index}", behaviour)
            started = time.perf_counter()
            got = fetch_error(url, **changes).code
            seconds = time.perf_counter() - started
            rows.append(
                Row(
                    "fetch",
                    name,
                    seconds,
                    unit="s",
                    target=f"< {goal:g} s",
                    met=seconds < goal and got == code,
                    note=got,
                )
            )
    return rows


# --- parse isolation -------------------------------------------------------------------------


def spin(seconds: float) -> int:
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


def entity_bomb(data: bytes) -> int:
    import feedparser  # the worker's own import, bypassing the DOCTYPE strip on purpose

    return len(feedparser.parse(io.BytesIO(data)).entries)


def isolate_rows() -> list[Row]:
    rows = []
    with WorkerPool(workers=1, memory_limit=256 * MIB, time_limit=0.3) as pool:
        pool.call(os.getpid, label="warm")

        def killed() -> None:
            try:
                pool.call(spin, 30, label="spin")
            except ParseError:
                return
            raise AssertionError("not killed")

        seconds = timed(killed)
        rows.append(
            Row(
                "isolate",
                "a 30 s job under a 0.3 s limit",
                seconds,
                unit="s",
                target="< 1.5 s",
                met=seconds < 1.5,
            )
        )
    bomb = (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY e "' + "x" * 50_000 + '">\n]>\n'
        '<rss version="2.0"><channel><item><description>'
        + "&e;" * 10_000
        + "</description></item></channel></rss>"
    ).encode()
    with WorkerPool(workers=1, memory_limit=MIN_MEMORY_LIMIT, time_limit=1.0) as pool:
        pool.call(os.getpid, label="warm")

        def bombed() -> None:
            try:
                pool.call(entity_bomb, bomb, label="bomb")
            except ParseError:
                return
            raise AssertionError("the bomb went off unnoticed")

        seconds = timed(bombed)
        rows.append(
            Row(
                "isolate",
                "entity bomb (24.7 s unmitigated), 1 s limit",
                seconds,
                unit="s",
                target="< 3 s",
                met=seconds < 3,
            )
        )
    items = "".join(
        f"<item><guid>g{i}</guid><title>t{i}</title><description>{'ب' * 16_800}</description></item>"
        for i in range(480)
    )
    body = f'<rss version="2.0"><channel><title>big</title>{items}</channel></rss>'.encode()
    memory, limit = parse_limits(16 * MIB)
    with WorkerPool(workers=1, memory_limit=memory, time_limit=limit) as pool:
        _, timing = pool.call(parse_feed, body, {}, url="u", label="u")
    rows.append(
        Row(
            "isolate",
            f"largest admitted feed ({len(body) / MIB:.1f} MiB) parse",
            timing.run_s,
            unit="s",
            target=f"< {limit / 2:g} s (half its limit)",
            met=timing.run_s < limit / 2,
        )
    )
    with WorkerPool(workers=1, time_limit=5, preload=("ingest.parse",)) as pool:
        _, timing = pool.call(os.getpid, label="x")
    rows.append(
        Row(
            "isolate",
            "a new worker's start-up (queue time)",
            timing.queue_s,
            unit="s",
            note=f"job itself {timing.run_s * 1000:.1f} ms",
        )
    )

    async def two() -> float:
        with WorkerPool(workers=2, time_limit=5) as pool:
            await asyncio.gather(*(pool.run(os.getpid, label="warm") for _ in range(2)))
            started = time.perf_counter()
            await asyncio.gather(*(pool.run(time.sleep, 0.4, label="x") for _ in range(2)))
            return time.perf_counter() - started

    seconds = asyncio.run(two())
    rows.append(
        Row(
            "isolate",
            "two 0.4 s jobs on two workers",
            seconds,
            unit="s",
            target="< 0.75 s",
            met=seconds < 0.75,
        )
    )
    pool = WorkerPool(workers=1, time_limit=60)
    pool.call(os.getpid, label="x")
    threading.Thread(target=lambda: _swallow(pool), daemon=True).start()
    time.sleep(0.3)
    seconds = timed(pool.close)
    rows.append(
        Row(
            "isolate",
            "close a pool whose worker is busy for 60 s",
            seconds,
            unit="s",
            target="< 3 s",
            met=seconds < 3,
        )
    )
    return rows  # fmt: skip


def _swallow(pool: WorkerPool) -> None:
    with contextlib.suppress(ParseError, RuntimeError):
        pool.call(spin, 60, label="busy")


# --- the daemon's stop -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def daemon_stop(workdir: Path, feeds: dict[str, str], stop_timeout: float, after_signal: Callable[[], None] | None = None, wait_for: threading.Event | None = None) -> float:  # fmt: skip
    port = free_port()
    config = workdir / f"stop-{port}.toml"
    lines = [
        f'[store]\ndb = "sqlite:///{workdir / f"stop-{port}.db"}"',
        '[http]\nallow_networks = ["127.0.0.0/8"]\nread_timeout = 60.0\ndeadline = 60.0',
        f'[daemon]\nhealth_address = "127.0.0.1:{port}"\nstop_timeout = {stop_timeout}'
        "\nmin_interval = 0.5\nmax_interval = 5.0",
        '[web]\naddress = ""',
        *(f'[[feeds]]\nname = "{n}"\nurl = "{u}"' for n, u in feeds.items()),
    ]
    config.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    log = workdir / f"stop-{port}.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen([PYTHON, "-m", "ingest", "--config", str(config), "run"], stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while "event=ready" not in log.read_text():
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(log.read_text())
                time.sleep(0.05)
            if wait_for is not None and not wait_for.wait(30):
                raise RuntimeError("the fetch never reached the server")
            started = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            if after_signal is not None:
                after_signal()
            code = proc.wait(60)
            seconds = time.perf_counter() - started
        finally:
            if proc.poll() is None:
                proc.kill()
    if code != 0 or "Traceback" in log.read_text():
        raise RuntimeError(log.read_text())
    return seconds


def held(arrived: threading.Event, release: threading.Event) -> Custom:
    def serve(handler: FeedHandler) -> None:
        arrived.set()
        while not release.is_set():
            if not handler.wait_while_connected(0.02):
                return
        Static(FEED).serve(handler)

    return Custom(serve)


def daemon_rows(workdir: Path) -> list[Row]:
    rows = []
    seconds = daemon_stop(workdir, {}, 20.0)
    rows.append(Row("daemon", "SIGTERM, idle", seconds, unit="s", target="< 1 s", met=seconds < 1))
    arrived, release = threading.Event(), threading.Event()
    with FeedServer() as server:
        url = server.route("/slow", held(arrived, release))
        seconds = daemon_stop(
            workdir,
            {"slow": url},
            20.0,
            after_signal=lambda: threading.Timer(1.0, release.set).start(),
            wait_for=arrived,
        )
    rows.append(
        Row(
            "daemon",
            "SIGTERM, a fetch ending 1 s later (stored)",
            seconds,
            unit="s",
            target="< 2 s",
            met=seconds < 2,
        )
    )
    arrived, never = threading.Event(), threading.Event()
    with FeedServer() as server:
        url = server.route("/stuck", held(arrived, never))
        seconds = daemon_stop(workdir, {"stuck": url}, 2.0, wait_for=arrived)
    rows.append(
        Row(
            "daemon",
            "SIGTERM, a fetch that never ends, stop_timeout 2 s",
            seconds,
            unit="s",
            target="< 3 s",
            met=seconds < 3,
        )
    )
    return rows  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-timing-") as tmp:
        rows = [*daemon_rows(Path(tmp)), *fetch_rows(), *isolate_rows()]
    write_rows(rows, {}, args.json)
    return 0


if __name__ == "__main__":
    # Run as the module ``bench_timing``, so the worker processes can import the jobs
    # (``spin``, ``entity_bomb``) that the pool pickles by reference.
    import bench_timing

    sys.exit(bench_timing.main())
