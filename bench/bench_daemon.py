"""Benchmark 4: the real ``ingest run`` daemon with 5,000 feeds on the local feed server.

The feeds (``bench_server.py``, 5 feeds per host address, 1,000 hosts) publish at realistic,
very different rates: each feed's mean gap between items is drawn log-uniformly between 3
minutes (a wire desk) and 24 hours (a small site), and items arrive as a Poisson process. Each
feed carries its newest 20 items; one in five carries full HTML bodies (``content:encoded``),
the others only the RSS summary, as most Arabic outlets' feeds do. Items are corpus articles,
so the same article appears in several feeds, as wire copy does (link records in the store).

The daemon starts on an empty SQLite store with the default settings (``min_interval`` 300 s,
``max_interval`` 6 h, 20 connections, 2 per host, jitter 10%), so every feed is due within its
first 30 seconds: the first round is a cold start. Measured while it runs:

* CPU (% of one core) and memory (RSS, and its peak) of the daemon process, every second;
* fetch lag: when the server received a feed's request minus when the daemon had scheduled
  it. The schedule comes from the daemon's own log (``event=fetch ... next_run=``, whole
  seconds, truncated, so a lag reads up to 1 s high) and, for the first fetch, from
  ``/status`` right after start; the request time from the server's log;
* latency of ``/healthz`` (every second) and ``/status`` (every 5 s) seen by a client.

Usage: .venv/bin/python bench/bench_daemon.py [--feeds 5000] [--seconds 600] [--json OUT]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import (
    PYTHON,
    ROOT,
    FeedServerProcess,
    Row,
    corpus_feeds,
    have_corpus,
    host_address,
    load_corpus,
    median,
    percentile,
    proc_cpu_s,
    rss_mb,
    tree_cpu_s,
    tree_rss_mb,
    write_rows,
)

FEEDS_PER_HOST = 5
ITEMS = 20
FULL_SHARE = 0.2
GAP_RANGE = (180.0, 86400.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def feed_specs(count: int, seed: int) -> list[dict[str, Any]]:
    records = load_corpus()
    position = {r["id"]: i for i, r in enumerate(records)}
    groups = [[position[r["id"]] for r in g] for g in corpus_feeds(records)]
    rng = random.Random(seed)
    low, high = map(math.log, GAP_RANGE)
    specs = []
    for i in range(count):
        group = groups[i % len(groups)]
        shift = (i // len(groups)) * 7 % len(group)  # feeds sharing a group start apart
        specs.append(
            {
                "host": host_address(i // FEEDS_PER_HOST),
                "records": group[shift:] + group[:shift],
                "full": rng.random() < FULL_SHARE,
                "gap": math.exp(rng.uniform(low, high)),
                "seed": seed * 100_003 + i,
            }
        )
    return specs


def write_config(
    path: Path, db: Path, health_port: int, urls: list[str], min_interval: float | None
) -> None:
    daemon = f'[daemon]\nhealth_address = "127.0.0.1:{health_port}"\nlog_format = "json"'
    if min_interval is not None:
        daemon += f"\nmin_interval = {min_interval}"
    daemon += '\n[web]\naddress = ""'
    lines = [
        f'[store]\ndb = "sqlite:///{db}"',
        '[http]\nallow_networks = ["127.0.0.0/8"]',
        daemon,
    ]
    lines += [f'[[feeds]]\nname = "feed-{i:05d}"\nurl = "{url}"' for i, url in enumerate(urls)]
    path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")


def get(port: int, path: str, timeout: float = 10.0) -> tuple[int, bytes, float]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            body = r.read()
            return r.status, body, time.perf_counter() - started
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), time.perf_counter() - started
    except OSError:
        return 0, b"", time.perf_counter() - started


class Sampler(threading.Thread):
    """CPU and RSS of the daemon every second; /healthz every second, /status every 5 s."""

    def __init__(self, pid: int, port: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.port = pid, port
        self.stop = threading.Event()
        self.samples: list[tuple[float, float, float]] = []  # (t, cpu s, rss MB): daemon
        self.tree: list[tuple[float, float]] = []  # (cpu s, rss MB) with its parse workers
        self.healthz: list[tuple[float, int]] = []
        self.status: list[tuple[float, int, int]] = []
        self.load: list[float] = []  # the machine's 1-minute load average (2 cores here)

    def run(self) -> None:
        tick = 0
        while not self.stop.wait(1.0):
            try:
                self.samples.append((time.time(), proc_cpu_s(self.pid), rss_mb(self.pid)[0]))
                self.load.append(os.getloadavg()[0])
                self.tree.append((tree_cpu_s(self.pid), tree_rss_mb(self.pid)))
            except (OSError, IndexError):
                return
            code, _, seconds = get(self.port, "/healthz")
            self.healthz.append((seconds, code))
            tick += 1
            if tick % 5 == 0:
                code, body, seconds = get(self.port, "/status", timeout=30)
                self.status.append((seconds, code, len(body)))


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def lags(
    requests: list[tuple[int, float, int]],
    events: dict[int, list[dict[str, Any]]],
    first_scheduled: dict[int, float],
) -> tuple[list[float], list[float]]:
    """(first-round lags, later lags) in seconds, pairing each feed's requests with its
    fetch events in order: request j+1 was scheduled at event j's ``next_run``."""
    by_feed: dict[int, list[float]] = defaultdict(list)
    for feed, when, _ in requests:
        by_feed[feed].append(when)
    first: list[float] = []
    later: list[float] = []
    for feed, times in by_feed.items():
        times.sort()
        if feed in first_scheduled:
            first.append(times[0] - first_scheduled[feed])
        for j, done in enumerate(events.get(feed, [])):
            if j + 1 < len(times) and done.get("next_run"):
                later.append(times[j + 1] - parse_iso(done["next_run"]))
    return first, later


def run(
    feeds: int, seconds: float, seed: int, workdir: Path, min_interval: float | None = None
) -> dict[str, Any]:
    specs = feed_specs(feeds, seed)
    health_port = free_port()
    db = workdir / "daemon.db"
    config = workdir / "ingest.toml"
    log_path = workdir / "daemon.log"
    out: dict[str, Any] = {}
    with FeedServerProcess(
        {"feeds": specs, "items": ITEMS, "horizon": seconds + 1800}, workdir
    ) as server:
        urls = [server.url(i) for i in range(feeds)]
        write_config(config, db, health_port, urls, min_interval)
        env = {k: v for k, v in os.environ.items() if k not in ("INGEST_DB", "INGEST_CONFIG")}
        with log_path.open("w") as log:
            started = time.time()
            proc = subprocess.Popen(
                [PYTHON, "-m", "ingest", "--config", str(config), "run"],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=env,
            )
            try:
                while get(health_port, "/readyz", 1.0)[0] != 200:
                    if proc.poll() is not None or time.time() - started > 120:
                        raise RuntimeError(
                            f"daemon did not become ready:\n{log_path.read_text()[-3000:]}"
                        )
                    time.sleep(0.2)
                ready_s = time.time() - started
                _, body, _ = get(health_port, "/status", 60)
                first_scheduled = {}
                for state in json.loads(body)["feeds"]:
                    if state["next_run"]:
                        first_scheduled[int(state["name"].split("-")[1])] = parse_iso(
                            state["next_run"]
                        )
                out["first_spread_s"] = (
                    max(first_scheduled.values()) - started if first_scheduled else None
                )
                sampler = Sampler(proc.pid, health_port)
                sampler.start()
                deadline = started + seconds
                while time.time() < deadline and proc.poll() is None:
                    time.sleep(1.0)
                sampler.stop.set()
                sampler.join()
                peak = rss_mb(proc.pid)[1]
                proc.send_signal(signal.SIGTERM)
                exit_code = proc.wait(timeout=120)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    served = server.requests()
    events: dict[int, list[dict[str, Any]]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    outcomes: dict[str, int] = defaultdict(int)
    new = 0
    for line in log_path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("event") == "fetch":
            feed = int(str(record["feed"]).split("-")[1])
            events[feed].append(record)
            outcomes[record.get("status", "?")] += 1
            new += int(record.get("new") or 0)
            if record.get("status") == "error":
                errors[str(record.get("error_code"))] += 1
    first, later = lags(served["log"], events, first_scheduled)
    samples = sampler.samples
    cpu_pct = [
        100 * (b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(samples) if b[0] > a[0]
    ]
    # The first round ends when every feed has been fetched once.
    first_seen: dict[int, float] = {}
    for feed, when, _ in served["log"]:
        first_seen[feed] = min(when, first_seen.get(feed, when))
    first_done = max(first_seen.values()) if len(first_seen) == feeds else None
    statuses = defaultdict(int)
    for _, _, status in served["log"]:
        statuses[status] += 1
    out.update(
        min_interval=min_interval,
        feeds=feeds,
        seconds=seconds,
        ready_s=ready_s,
        exit_code=exit_code,
        requests=len(served["log"]),
        statuses=dict(statuses),
        outcomes=dict(outcomes),
        errors=dict(errors),
        new_articles=new,
        first_round_s=first_done - started if first_done else None,
        lag_first=first,
        lag_later=later,
        cpu_pct=cpu_pct,
        cpu_total_s=samples[-1][1] if samples else None,
        rss=[s[2] for s in samples],
        rss_peak=peak,
        healthz=sampler.healthz,
        load=sampler.load,
        tree_cpu_s=sampler.tree[-1][0] if sampler.tree else None,
        tree_rss=[r for _, r in sampler.tree],
        status=sampler.status,
        log_tail=log_path.read_text().splitlines()[-5:],
    )
    return out


def rows_for(res: dict[str, Any]) -> list[Row]:
    all_lags = res["lag_first"] + res["lag_later"]
    p99_all = percentile(all_lags, 99)
    p99_later = percentile(res["lag_later"], 99) if res["lag_later"] else None
    cpu = res["cpu_pct"]
    half = len(cpu) // 2
    health = [s * 1000 for s, code in res["healthz"] if code == 200]
    failed_health = sum(1 for _, code in res["healthz"] if code != 200)
    status = [s * 1000 for s, code, _ in res["status"] if code == 200]
    size = max((b for _, _, b in res["status"]), default=0)
    minutes = res["seconds"] / 60
    tree = res.get("tree_rss", [])
    tree_pct = 100 * (res.get("tree_cpu_s") or 0) / max(1.0, len(res["cpu_pct"]) + 1)
    first_round = res["first_round_s"]
    return [
        Row(
            "4 daemon",
            f"fetch-start lag p99 s, {res['feeds']} feeds, {minutes:.0f} min, cold start included"
            + (f" (min_interval {res['min_interval']:g} s)" if res["min_interval"] else ""),
            p99_all,
            None,
            "s",
            target="p99 < 5 s",
            met=p99_all < 5,
            note=f"median {median(all_lags):.2f} s over {len(all_lags)} fetches; first round "
            f"(cold start: every feed never fetched, scheduled by the daemon within "
            f"{res.get('first_spread_s') or 0:.0f} s of its start) p99 "
            f"{percentile(res['lag_first'], 99):.1f} s, every feed fetched once after "
            f"{first_round or float('nan'):.0f} s; the daemon was ready after "
            f"{res['ready_s']:.1f} s",
            goal="G5",
        ),
        Row(
            "4 daemon",
            "fetch lag p99 s, after the first round (steady state)",
            p99_later,
            None,
            "s",
            target="p99 < 5 s",
            met=p99_later < 5 if p99_later is not None else None,
            note=(
                f"median {median(res['lag_later']):.2f} s, max {max(res['lag_later']):.1f} s over "
                f"{len(res['lag_later'])} fetches (next_run is logged in whole seconds: up to +1 s)"
                if res["lag_later"]
                else "no second fetch within the run: feeds come round after min_interval "
                "(300 s by default); run 10 minutes (--seconds 600) for this row"
            ),
        ),
        Row(
            "4 daemon",
            "CPU % of one core, daemon process (mean)",
            sum(cpu) / len(cpu) if cpu else None,
            None,
            "%",
            note=f"second half {sum(cpu[half:]) / max(1, len(cpu[half:])):.0f}%, max "
            f"{max(cpu, default=0):.0f}%; machine load average {median(res.get('load', [])):.1f} "
            f"(2 cores); with parse workers {tree_pct:.0f}% mean; {res['requests']} requests "
            f"({res['statuses']}), {res['new_articles']} new articles, outcomes {res['outcomes']}",
        ),
        Row(
            "4 daemon",
            "memory RSS MB, daemon + parse workers (max sampled)",
            max(tree, default=None),
            None,
            "MB",
            target="< 300 MB",
            met=max(tree, default=0) < 300 if tree else None,
            note=f"daemon process alone: end {res['rss'][-1] if res['rss'] else 0:.0f} MB, "
            f"peak {res['rss_peak']:.0f} MB; with workers at the end "
            f"{tree[-1] if tree else 0:.0f} MB",
        ),
        Row(
            "4 daemon",
            "/healthz latency p99 ms while running",
            percentile(health, 99),
            None,
            "ms",
            note=f"median {median(health):.1f} ms, max {max(health, default=0):.0f} ms, "
            f"{len(health)} probes, {failed_health} not 200",
        ),
        Row(
            "4 daemon",
            "/status latency p99 ms while running",
            percentile(status, 99),
            None,
            "ms",
            note=f"median {median(status):.0f} ms, {len(status)} probes, body {size / 1e6:.1f} MB",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--min-interval",
        type=float,
        help="the daemon's min_interval (default: the project's, 300 s); shorter runs use a "
        "shorter one so that feeds come round again within the run",
    )
    parser.add_argument("--quick", action="store_true", help="500 feeds for 60 s")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    if args.quick:
        args.feeds, args.seconds = 500, 60.0
    if not have_corpus():
        print("skipped: ../shared/corpus is absent")
        return 0
    with tempfile.TemporaryDirectory(prefix="ingest-bench-daemon-") as tmp:
        res = run(args.feeds, args.seconds, args.seed, Path(tmp), args.min_interval)
    extra = {k: v for k, v in res.items() if k not in ("rss",)}
    write_rows(rows_for(res), extra, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
