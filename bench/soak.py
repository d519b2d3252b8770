"""A bounded soak of the real ``ingest run`` daemon: 1,000 feeds, a tenth of them faulty in
rotating ways, content changing all the time (issue 6; HOSTILE.md 47 and 48).

::

    farm:     --feeds feeds (1,000) on 10 servers, 127.0.0.1 to 127.0.0.10; each feed gains an
              item every --item-period seconds (own phase), shows its newest --window items,
              edits one item in 20 two items after publishing it, and every 10th item is a
              wire story shared by the 10 feeds of its group (one canonical row, 9 links)
    faults:   every 10th feed alternates healthy slots with faults, --fault-period seconds
              each: trickle, hang, 500, 429 + Retry-After, garbage, gzip bomb, huge body,
              reset, redirect loop, truncated XML, HTML page, 404
    sampling: every --sample seconds: the daemon's RSS, open fds and threads (/proc/PID),
              its parse workers' RSS, the SQLite file and -wal sizes, rows; /readyz every
              second
    end:      faults off, versions frozen, the daemon gets --settle seconds to store the
              rest; then the audit (every item served is stored exactly once, one canonical
              row per story, counters and ETags in step, integrity ok) and SIGTERM -> exit 0

Usage (from the repository root; at least 10 minutes by default)::

    .venv/bin/python bench/soak.py
    .venv/bin/python bench/soak.py --minutes 2 --feeds 200     # a short look

Exit status 1 when the audit finds a problem, readiness was lost, or the exit was not clean.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from durability import (
    Daemon,
    acknowledged,
    audit,
    free_port,
    rss,
    snapshot,
    stored_all,
    write_config,
)
from feedserver import (
    Behaviour,
    Chunked,
    Evolving,
    FeedHandler,
    FeedServer,
    GzipBomb,
    Hang,
    Redirect,
    Reset,
    Rotating,
    Static,
    Trickle,
    gzip_bomb,
)

HOSTS = 10
GROUP = 10
"""Feeds sharing wire stories."""

# --- the farm -----------------------------------------------------------------------------


@dataclass
class Calm:
    """Serve ``healthy`` once the soak ends (``calm`` set), else the rotation."""

    healthy: Behaviour
    rotation: Rotating
    calm: threading.Event

    def serve(self, handler: FeedHandler) -> None:
        (self.healthy if self.calm.is_set() else self.rotation).serve(handler)


def faults(path: str, body: bytes) -> list[Behaviour]:
    """The rotating faults of one feed; ``body`` is a valid feed to truncate."""
    garbage = random.Random(path).randbytes(4096)
    return [
        Trickle(body[:4000], bytes_per_second=200),  # outlasts the 5 s deadline
        Hang(seconds=30),
        Static(b"internal error", status=500),
        Static(b"slow down", status=429, headers=(("Retry-After", "15"),)),
        Static(garbage, content_type="application/octet-stream"),
        GzipBomb(decoded_size=1 << 30),
        Chunked(total=16 << 20),  # over the 4 MiB cap
        Reset(after_headers=True, body=body[:100], declared=len(body)),
        Redirect(path),  # to itself
        Static(body[: len(body) // 2]),  # truncated XML
        Static(b"<html><body><p>Not a feed</p></body></html>", content_type="text/html"),
        Static(b"gone missing", status=404),
    ]


class SoakFarm:
    """The feeds, their versions over time, and what a feed's version contains."""

    def __init__(self, feeds: int, item_period: float, window: int, first: int) -> None:
        self.names = [f"s{i:04d}" for i in range(feeds)]
        self.item_period = item_period
        self.window = window
        self.first = first
        self.start = time.monotonic()
        rng = random.Random(48)
        self.phase = {name: rng.random() * item_period for name in self.names}
        self.frozen: dict[str, int] | None = None
        self.routes: dict[str, Evolving] = {}

    def version(self, feed: str) -> int:
        if self.frozen is not None:
            return self.frozen[feed]
        return int((time.monotonic() - self.start + self.phase[feed]) / self.item_period)

    def freeze(self) -> None:
        self.frozen = {name: self.version(name) for name in self.names}

    def story_key(self, feed: str, n: int) -> str:
        group = int(feed[1:]) // GROUP
        return f"wire/{group}/{n // 10}" if n % 10 == 9 else f"{feed}/{n}"

    def numbers(self, version: int) -> range:
        top = self.first + version
        return range(max(0, top - self.window), top)

    def items(self, feed: str, version: int) -> list[tuple[int, str]]:
        top = self.first + version
        items = []
        for n in self.numbers(version):
            key = self.story_key(feed, n)
            if n % 20 == 7 and top - n > 2:  # edited two items after it appeared
                key += "/edited"
            items.append((n, key))
        return items

    def guids(self, feed: str, version: int) -> set[str]:
        return {f"{feed}-{n}" for n in self.numbers(version)}

    @functools.lru_cache(maxsize=8192)  # noqa: B019 - one farm per run
    def render(self, feed: str, version: int) -> bytes:
        return rss(feed, self.items(feed, version))

    def published(self) -> dict[str, set[str]]:
        """Every item a 200 response carried, by feed."""
        found: dict[str, set[str]] = {}
        for name, route in self.routes.items():
            for version in list(route.served):
                found.setdefault(name, set()).update(self.guids(name, version))
        return found


def build(
    farm: SoakFarm, servers: Sequence[FeedServer], fault_period: float, calm: threading.Event
) -> tuple[dict[str, str], set[str]]:
    """Route every feed; return the feeds' URLs and the names of the faulty ones."""
    urls, faulty = {}, set()
    rng = random.Random(47)
    for index, name in enumerate(farm.names):
        server = servers[index % len(servers)]
        route = Evolving(
            functools.partial(farm.render, name), functools.partial(farm.version, name)
        )
        farm.routes[name] = route
        behaviour: Behaviour = route
        if index % 10 == 5:
            path = f"/{name}"
            kinds = faults(path, farm.render(name, 0))
            first, second = kinds[index // 10 % len(kinds)], kinds[(index // 10 + 5) % len(kinds)]
            rotation = Rotating((route, first, route, second), fault_period, rng.random() * 60)
            behaviour = Calm(route, rotation, calm)
            faulty.add(name)
        urls[name] = server.route(f"/{name}", behaviour)
    return urls, faulty


# --- sampling -----------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS (kB), Threads and open fds of ``pid``; {} once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return {}
    values = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {
        "rss_kb": int(values["VmRSS"].split()[0]),
        "threads": int(values["Threads"]),
        "fds": fds,
    }


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (started by any of its threads)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            found += [int(p) for p in task.read_text().split()]
    return found


@dataclass
class Sample:
    at: float
    rss_kb: int
    fds: int
    threads: int
    workers: int
    workers_rss_kb: int
    db_bytes: int
    wal_bytes: int
    rows: int


@dataclass
class Readiness:
    ok: int = 0
    failed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


def poll_readiness(daemon: Daemon, stop: threading.Event, into: Readiness) -> None:
    while not stop.wait(1.0):
        status, body = daemon.get("/readyz", timeout=2.0)
        if status == 200:
            into.ok += 1
        else:
            into.failed += 1
            into.reasons[f"{status} {body.strip()[:80]}"] += 1


def sample(daemon: Daemon, db_path: Path, started: float) -> Sample | None:
    own = proc_status(daemon.pid)
    if not own:
        return None
    workers = [proc_status(pid) for pid in children(daemon.pid)]
    wal = Path(f"{db_path}-wal")
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
        ) as conn:
            rows = int(conn.execute("SELECT count(*) FROM articles").fetchone()[0])
    except sqlite3.Error:
        rows = -1
    return Sample(
        at=time.monotonic() - started,
        rss_kb=own["rss_kb"],
        fds=own["fds"],
        threads=own["threads"],
        workers=len([w for w in workers if w]),
        workers_rss_kb=sum(w.get("rss_kb", 0) for w in workers),
        db_bytes=db_path.stat().st_size if db_path.exists() else 0,
        wal_bytes=wal.stat().st_size if wal.exists() else 0,
        rows=rows,
    )


# --- the run ------------------------------------------------------------------------------


def mb(kb: int) -> str:
    return f"{kb / 1024:.1f} MB"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--item-period", type=float, default=120.0, help="seconds per new item")
    parser.add_argument("--window", type=int, default=30, help="items a feed shows")
    parser.add_argument("--fault-period", type=float, default=45.0, help="seconds per slot")
    parser.add_argument("--sample", type=float, default=15.0, help="seconds between samples")
    parser.add_argument("--settle", type=float, default=240.0, help="seconds to catch up")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "ingest.db"
    db = f"sqlite:///{db_path}"
    print(f"soak: {args.feeds} feeds for {args.minutes:g} min, work in {workdir}", flush=True)
    gzip_bomb(1 << 30)  # build the bomb once, before the clock starts
    farm = SoakFarm(args.feeds, args.item_period, args.window, first=10)
    calm = threading.Event()
    servers = [FeedServer(f"127.0.0.{i + 1}").start() for i in range(HOSTS)]
    problems: list[str] = []
    samples: list[Sample] = []
    readiness = Readiness()
    stop_polling = threading.Event()
    try:
        urls, faulty = build(farm, servers, args.fault_period, calm)
        port = free_port()
        write_config(
            workdir / "ingest.toml",
            db,
            port,
            urls,
            http={
                "connect_timeout": 3.0,
                "read_timeout": 3.0,
                "deadline": 5.0,
                "max_body_bytes": 4 << 20,
                "max_connections": 40,
                "per_host": 6,
            },
            daemon={
                "min_interval": 10.0,
                "max_interval": 60.0,
                "backoff_base": 5.0,
                "jitter": 0.2,
                "stop_timeout": 10.0,
            },
        )
        started = time.monotonic()
        with Daemon(workdir / "ingest.toml", workdir / "daemon.log", port) as daemon:
            if not wait_ready(daemon, 60):
                problems.append("not ready within 60 s")
            poller = threading.Thread(
                target=poll_readiness, args=(daemon, stop_polling, readiness), daemon=True
            )
            poller.start()
            end = started + args.minutes * 60
            while time.monotonic() < end and daemon.alive():
                taken = sample(daemon, db_path, started)
                if taken:
                    samples.append(taken)
                    report(taken)
                time.sleep(min(args.sample, max(0.0, end - time.monotonic())))
            if not daemon.alive():
                problems.append(f"the daemon died: exit {daemon.proc.returncode}")
            soak_readiness = Readiness(readiness.ok, readiness.failed, Counter(readiness.reasons))
            # The end: no more faults, no more new items; the daemon stores what is left.
            calm.set()
            farm.freeze()
            expected = {n: farm.guids(n, farm.frozen[n]) for n in farm.names if farm.frozen}
            t0 = time.monotonic()
            settled = wait_until(lambda: stored_all(db, expected), args.settle)
            settle_s = time.monotonic() - t0
            if not settled:
                problems.append(f"not every item stored {args.settle:.0f} s after the faults ended")
            last = sample(daemon, db_path, started)
            if last:
                samples.append(last)
            stop_polling.set()
            poller.join()
            t0 = time.monotonic()
            code = daemon.stop(timeout=30)
            stop_s = time.monotonic() - t0
            if code != 0:
                problems.append(f"SIGTERM: exit code {code}")
            events = daemon.events("fetch")
            failures = [e for e in daemon.events() if "exception" in e]
            ack = acknowledged([daemon])
        final = audit(snapshot(db), farm, ack, final=True)
        problems += final.problems[:20]
        if failures:
            problems.append(f"{len(failures)} logged tracebacks, first: {failures[0]['event']}")
        if soak_readiness.failed:
            problems.append(f"/readyz failed {soak_readiness.failed} times")
    finally:
        stop_polling.set()
        for server in servers:
            server.stop()
    summary(
        samples=samples,
        readiness=soak_readiness,
        events=events,
        faulty=faulty,
        final=final,
        settle_s=settle_s,
        stop_s=stop_s,
        code=code,
    )
    for problem in problems:
        print(f"PROBLEM {problem}")
    return 0 if not problems else 1


def wait_ready(daemon: Daemon, timeout: float) -> bool:
    return wait_until(lambda: daemon.get("/readyz")[0] == 200, timeout)


def wait_until(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(1.0)
    return bool(predicate())


def report(s: Sample) -> None:
    print(
        f"  {s.at:6.0f} s  rss {mb(s.rss_kb):>9}  fds {s.fds:>4}  threads {s.threads:>3}  "
        f"workers {s.workers} ({mb(s.workers_rss_kb)})  rows {s.rows:>6}  "
        f"db {s.db_bytes / 1e6:6.1f} MB  wal {s.wal_bytes / 1e6:5.1f} MB",
        flush=True,
    )


def summary(
    *,
    samples: Sequence[Sample],
    readiness: Readiness,
    events: Sequence[dict[str, Any]],
    faulty: set[str],
    final: Any,
    settle_s: float,
    stop_s: float,
    code: int,
) -> None:
    if not samples:
        print("no samples")
        return
    first, last = samples[0], samples[-1]
    # Warm-up: the first round of fetches fills caches and the database; compare after it.
    warm = [s for s in samples if s.at >= 120] or samples
    print("\n| figure | start | peak | end |\n|---|---|---|---|")
    print(
        f"| daemon RSS | {mb(first.rss_kb)} | {mb(max(s.rss_kb for s in samples))} "
        f"| {mb(last.rss_kb)} |"
    )
    print(
        f"| daemon RSS after 2 min warm-up | {mb(warm[0].rss_kb)} "
        f"| {mb(max(s.rss_kb for s in warm))} | {mb(last.rss_kb)} |"
    )
    print(f"| open fds | {first.fds} | {max(s.fds for s in samples)} | {last.fds} |")
    print(f"| threads | {first.threads} | {max(s.threads for s in samples)} | {last.threads} |")
    print(
        f"| parse workers' RSS (sum) | {mb(first.workers_rss_kb)} "
        f"| {mb(max(s.workers_rss_kb for s in samples))} | {mb(last.workers_rss_kb)} |"
    )
    print(
        f"| -wal file | {first.wal_bytes / 1e6:.1f} MB | "
        f"{max(s.wal_bytes for s in samples) / 1e6:.1f} MB | {last.wal_bytes / 1e6:.1f} MB |"
    )
    print(f"| rows | {first.rows} | | {last.rows} |")
    total = readiness.ok + readiness.failed
    print(
        f"\nreadiness: /readyz 200 in {readiness.ok}/{total} polls "
        f"({100 * readiness.ok / max(1, total):.2f}%)"
    )
    for reason, count in readiness.reasons.most_common(5):
        print(f"  {count} x {reason}")
    outcomes = Counter((e.get("status"), e.get("error_code")) for e in events)
    healthy = Counter(
        (e.get("status"), e.get("error_code")) for e in events if e.get("feed") not in faulty
    )
    print(f"fetches: {len(events)}; outcomes (status, error code):")
    for (status, error), count in sorted(outcomes.items(), key=lambda kv: -kv[1]):
        print(f"  {count:>7}  {status} {error or ''}")
    bad = sum(n for (status, _), n in healthy.items() if status == "error")
    print(f"errors on the feeds that are never faulty: {bad}")
    durations = [int(e["duration_ms"]) for e in events if e.get("duration_ms") is not None]
    if durations:
        cuts = statistics.quantiles(durations, n=100)
        print(f"fetch duration ms: p50 {cuts[49]:.0f}, p95 {cuts[94]:.0f}, p99 {cuts[98]:.0f}")
    print(
        f"store: {final.stored} rows; lost {final.lost}, duplicated {final.duplicated}, "
        f"inconsistent {final.inconsistent}, published but not stored {final.unstored}, "
        f"integrity {final.integrity}; caught up {settle_s:.0f} s after the faults ended"
    )
    print(f"SIGTERM: exit {code} in {stop_s:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
