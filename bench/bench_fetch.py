"""Benchmark 3: fetching a cycle of 1,000 feeds, all 200 and then all 304.

The feeds are corpus feeds (50 items, full HTML bodies, about 180 KB) on a local server
process (``bench_server.py``), each on its own host address (127.0.1.1, 127.0.1.2 ...), as
feeds of different sites are. Each contender runs in a fresh process and does two cycles:
every feed without validators (200 with the body), then every feed with the ETag it got
(304, no body). Client CPU is the contender process's own CPU (user + system) during the
cycle; the server's CPU is not counted.

* ours: ``ingest.fetch.Fetcher`` (HttpSettings with ``allow_networks=(127.0.0.0/8,)`` and the
  default ``max_connections`` of 20): SSRF guard at connect time, deadlines, capped body,
  manual redirects;
* baseline: a bare ``httpx.AsyncClient`` loop at the same concurrency (``Limits`` of 20
  connections, an ``asyncio.Semaphore(20)``), reading ``response.content``;
* the same two without ``sniffio`` (the import made to fail as if it were not installed:
  PERF.md says httpcore then retries it on every request);
* the same two with all feeds on one host, where httpx's pool is known to cost more.

Usage: .venv/bin/python bench/bench_fetch.py [--feeds 1000] [--reps 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.machinery
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import (
    PYTHON,
    FeedServerProcess,
    Row,
    corpus_feeds,
    cpu_s,
    have_corpus,
    host_address,
    load_corpus,
    median,
    ratio,
    write_rows,
)

CONCURRENCY = 20


class _NoSniffio(importlib.machinery.PathFinder):
    """The path finder, except that ``sniffio`` is never found (after the usual search, so
    each failing import costs what it costs when the package is really absent)."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):  # type: ignore[no-untyped-def,override]
        spec = super().find_spec(fullname, path, target)
        return None if fullname == "sniffio" else spec


def _hide_sniffio() -> None:
    sys.meta_path[:] = [
        _NoSniffio if f is importlib.machinery.PathFinder else f for f in sys.meta_path
    ]


async def _cycle_ours(urls: list[str], caches: list[Any]) -> tuple[list[Any], list[int]]:
    import ipaddress

    from ingest.fetch import Fetcher
    from ingest.settings import HttpSettings

    settings = HttpSettings(
        allow_networks=(ipaddress.ip_network("127.0.0.0/8"),), max_connections=CONCURRENCY
    )
    async with Fetcher(settings) as fetcher:
        results = await asyncio.gather(
            *(fetcher.fetch(u, c) for u, c in zip(urls, caches, strict=True))
        )
    return [r.cache for r in results], [r.status for r in results]


async def _cycle_bare(urls: list[str], caches: list[Any]) -> tuple[list[Any], list[int]]:
    import httpx

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(client: httpx.AsyncClient, url: str, etag: str | None) -> tuple[str | None, int]:
        async with slots:
            response = await client.get(url, headers={"If-None-Match": etag} if etag else {})
            _ = response.content
            return response.headers.get("etag"), response.status_code

    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        results = await asyncio.gather(
            *(one(client, u, c) for u, c in zip(urls, caches, strict=True))
        )
    return [r[0] for r in results], [r[1] for r in results]


def child(kind: str, urls_path: str) -> dict[str, Any]:
    """Two cycles (200, then 304) in this fresh process; CPU and wall per cycle."""
    contender, _, variant = kind.partition("-")
    if variant == "nosniffio":
        _hide_sniffio()
    import httpx  # noqa: F401 - imported before timing, for both contenders

    from ingest.models import HttpCache

    urls = json.loads(Path(urls_path).read_text())
    out: dict[str, Any] = {"sniffio_loaded": False}
    if contender == "ours":
        import ingest.fetch  # noqa: F401

        caches: list[Any] = [HttpCache() for _ in urls]
        cycle = _cycle_ours
    else:
        caches = [None for _ in urls]
        cycle = _cycle_bare
    for name in ("200", "304"):
        wall, cpu = time.perf_counter(), cpu_s()
        caches, statuses = asyncio.run(cycle(urls, caches))
        out[name] = {
            "wall": time.perf_counter() - wall,
            "cpu": cpu_s() - cpu,
            "statuses": sorted(set(statuses)),
        }
    out["sniffio_loaded"] = "sniffio" in sys.modules
    return out


def run_child(kind: str, urls_path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [PYTHON, __file__, "--child", kind, str(urls_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind}: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="200 feeds, 1 repetition")
    parser.add_argument("--json")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    if args.quick:
        args.feeds, args.reps = 200, 1
    if not have_corpus():
        print("skipped: ../shared/corpus is absent")
        return 0

    records = load_corpus()
    position = {r["id"]: i for i, r in enumerate(records)}
    groups = [[position[r["id"]] for r in g] for g in corpus_feeds(records)]
    feeds = [
        {"host": host_address(i), "records": groups[i % len(groups)], "full": True}
        for i in range(args.feeds)
    ]
    workdir = Path(tempfile.mkdtemp(prefix="ingest-bench-fetch-"))
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        with FeedServerProcess({"feeds": feeds, "items": 50}, workdir) as server:
            many = workdir / "many-hosts.json"
            many.write_text(json.dumps([server.url(i) for i in range(args.feeds)]))
            one = workdir / "one-host.json"
            one.write_text(
                json.dumps([f"http://127.0.0.1:{server.port}/feed/{i}" for i in range(args.feeds)])
            )
            kinds = [
                ("ours", many),
                ("bare", many),
                ("ours-nosniffio", many),
                ("bare-nosniffio", many),
                ("ours-onehost", one),
                ("bare-onehost", one),
            ]
            run_child("bare", many)  # warm the server's sockets and the page cache
            for _ in range(args.reps):
                for kind, path in kinds:
                    results.setdefault(kind, []).append(run_child(kind, path))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def med(kind: str, cycle: str, key: str) -> float:
        return median([r[cycle][key] for r in results[kind]])

    n = args.feeds
    rows: list[Row] = []
    for cycle in ("200", "304"):
        ours_cpu = med("ours", cycle, "cpu") / n * 1000
        bare_cpu = med("bare", cycle, "cpu") / n * 1000
        r = ratio(ours_cpu, bare_cpu)
        rows.append(
            Row(
                "3 fetch",
                f"CPU ms per feed, {n} feeds on {n} hosts, all {cycle}",
                ours_cpu,
                bare_cpu,
                "ms",
                "bare httpx.AsyncClient",
                r,
                "<= 1.25x",
                r is not None and r <= 1.25,
                f"statuses {results['ours'][0][cycle]['statuses']}",
            )
        )
        ours_rate = n / med("ours", cycle, "wall")
        bare_rate = n / med("bare", cycle, "wall")
        wall = med("ours", cycle, "wall")
        rows.append(
            Row(
                "3 fetch",
                f"feeds/s, all {cycle} (cycle {wall:.2f} s)",
                ours_rate,
                bare_rate,
                "feeds/s",
                "bare httpx",
                ratio(ours_rate, bare_rate),
                "304 cycle < 3 s" if cycle == "304" else "",
                (wall * 1000 / n < 3.0) if cycle == "304" else None,
                f"concurrency {CONCURRENCY}",
            )
        )
    for contender in ("ours", "bare"):
        with_ = med(contender, "304", "cpu")
        without = med(f"{contender}-nosniffio", "304", "cpu")
        with200 = med(contender, "200", "cpu")
        without200 = med(f"{contender}-nosniffio", "200", "cpu")
        rows.append(
            Row(
                "3 fetch",
                f"{contender}: CPU without sniffio vs with it (304 cycle)",
                without / n * 1000,
                with_ / n * 1000,
                "ms",
                "with sniffio",
                ratio(without, with_),
                note=f"200 cycle: {ratio(without200, with200):.2f}x; sniffio loaded: "
                f"{results[contender][0]['sniffio_loaded']} / "
                f"{results[contender + '-nosniffio'][0]['sniffio_loaded']}",
            )
        )
    for contender in ("ours", "bare"):
        one_host = med(f"{contender}-onehost", "200", "cpu")
        hosts = med(contender, "200", "cpu")
        rows.append(
            Row(
                "3 fetch",
                f"{contender}: CPU, all feeds on one host vs {n} hosts (200 cycle)",
                one_host / n * 1000,
                hosts / n * 1000,
                "ms",
                f"{n} hosts",
                ratio(one_host, hosts),
                note=f"304 cycle: {ratio(med(contender + '-onehost', '304', 'cpu'), med(contender, '304', 'cpu')):.2f}x, "
                f"{n / med(contender + '-onehost', '304', 'wall'):.0f} feeds/s",
            )
        )
    write_rows(rows, {"runs": results, "feeds": n, "concurrency": CONCURRENCY}, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
