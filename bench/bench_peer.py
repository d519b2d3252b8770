"""Benchmark 5: ``ingest fetch`` against ``reader`` (lemon24/reader, PyPI) over HTTP, three cycles.

Context for goal G2 (``bench_pipeline.py`` measures the goal itself on local files): here the
feeds come from the local feed server, and the cycles after the first show what each tool
does with what it has stored.

The feeds: corpus feeds (50 items, full HTML bodies) on the local feed server, one host
address each. Both tools store into a fresh SQLite file, run as a whole process each (startup
and imports included, as a user runs them), at the same concurrency (20: ``ingest``'s default
``max_connections``; ``reader.update_feeds(workers=20)``). Three cycles:

1. first ingest: every item is new;
2. update: the server publishes one new item in every feed (the oldest drops out); both tools
   get a 200 with 50 items of which 49 are known;
3. no change: conditional GETs, all 304.

The tools do different work: ``ingest`` cleans HTML to paragraphs, fingerprints and dedupes;
``reader`` stores entries as feedparser gives them (sanitized HTML) and computes hashes to
detect changed entries. Wall time and CPU (user + system of the process) are reported.

``reader`` is a benchmark-only dependency: ``.venv/bin/pip install -e '.[bench]'``.

Usage: .venv/bin/python bench/bench_peer.py [--feeds 100] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import resource
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
    ROOT,
    FeedServerProcess,
    Row,
    corpus_feeds,
    have_corpus,
    host_address,
    load_corpus,
    ratio,
    write_rows,
)

WORKERS = 20

READER_SCRIPT = """
import sys
from reader import make_reader
db, urls, first = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
reader = make_reader(db)
if first:
    for url in open(urls).read().split():
        reader.add_feed(url, exist_ok=True)
reader.update_feeds(workers={workers}, scheduled=False)
entries = reader.get_entry_counts().total
broken = sum(1 for f in reader.get_feeds() if f.last_exception)
reader.close()
print(entries, broken)
"""


def timed(cmd: list[str]) -> dict[str, Any]:
    """Run ``cmd`` to completion; its wall time and CPU (user + system) and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False, timeout=900)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "rc": done.returncode, "out": done.stdout,
            "err": done.stderr[-2000:]}  # fmt: skip


def reader_available() -> bool:
    return (
        subprocess.run([PYTHON, "-c", "import reader"], capture_output=True, check=False).returncode
        == 0
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="20 feeds")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    if args.quick:
        args.feeds = 20
    if not have_corpus():
        print("skipped: ../shared/corpus is absent")
        return 0
    if not reader_available():
        print("skipped: reader is not installed (.venv/bin/pip install -e '.[bench]')")
        write_rows([Row("5 peer", "skipped: reader not installed", None)], {}, args.json)
        return 0

    records = load_corpus()
    position = {r["id"]: i for i, r in enumerate(records)}
    groups = [[position[r["id"]] for r in g] for g in corpus_feeds(records)]
    # Items beyond the first 50 come from a group no other feed uses at first, so an update
    # brings a new article, not a copy of another feed's item.
    far = len(groups) // 2
    feeds = [
        {"host": host_address(i),
         "records": groups[i % len(groups)] + groups[(i + far) % len(groups)], "full": True}
        for i in range(args.feeds)
    ]  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="ingest-bench-peer-"))
    script = workdir / "reader_run.py"
    script.write_text(READER_SCRIPT.format(workers=WORKERS))
    results: dict[str, dict[str, Any]] = {"ingest": {}, "reader": {}}
    try:
        with FeedServerProcess({"feeds": feeds, "items": 50}, workdir) as server:
            urls = [server.url(i) for i in range(args.feeds)]
            (workdir / "urls.txt").write_text("\n".join(urls))
            config = workdir / "ingest.toml"
            lines = [
                f'[store]\ndb = "sqlite:///{workdir / "ingest.db"}"',
                f'[http]\nallow_networks = ["127.0.0.0/8"]\nmax_connections = {WORKERS}',
            ]
            lines += [f'[[feeds]]\nname = "feed-{i}"\nurl = "{u}"' for i, u in enumerate(urls)]
            config.write_text("\n\n".join(lines) + "\n")
            ingest_cmd = [PYTHON, "-m", "ingest", "--config", str(config), "fetch", "--json"]

            def reader_cmd(first: bool) -> list[str]:
                return [PYTHON, str(script), str(workdir / "reader.db"), str(workdir / "urls.txt"),
                        "1" if first else "0"]  # fmt: skip

            for cycle in ("first", "update", "unchanged"):
                if cycle == "update":
                    server.bump()
                results["reader"][cycle] = timed(reader_cmd(cycle == "first"))
                results["ingest"][cycle] = timed(ingest_cmd)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rows: list[Row] = []
    labels = {
        "first": f"first ingest, {args.feeds} feeds x 50 items",
        "update": "update cycle (1 new item per feed, 200)",
        "unchanged": "no-change cycle (all 304)",
    }
    for cycle, label in labels.items():
        ours, peer = results["ingest"][cycle], results["reader"][cycle]
        summary = _ingest_summary(ours["out"])
        rows.append(
            Row(
                "5 peer",
                f"{label}: wall s",
                ours["wall"],
                peer["wall"],
                "s",
                "reader",
                ratio(ours["wall"], peer["wall"]),
                note=f"ingest: {summary}; reader: entries/broken {peer['out'].strip()}"
                + (
                    ""
                    if ours["rc"] in (0,) and peer["rc"] == 0
                    else f"; rc {ours['rc']}/{peer['rc']}"
                ),
            )
        )
        rows.append(
            Row(
                "5 peer",
                f"{label}: CPU s",
                ours["cpu"],
                peer["cpu"],
                "s",
                "reader",
                ratio(ours["cpu"], peer["cpu"]),
            )
        )
    for tool in results.values():
        for run in tool.values():
            run["out"] = run["out"][-2000:]
    write_rows(rows, {"results": results, "feeds": args.feeds}, args.json)
    return 0


def _ingest_summary(output: str) -> str:
    totals: dict[str, int] = {}
    for line in output.splitlines():
        try:
            outcome = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "summary" in outcome:
            continue
        key = outcome.get("status", "?")
        totals[key] = totals.get(key, 0) + 1
        for field in ("new", "near_duplicates", "exact_duplicates", "unchanged"):
            totals[field] = totals.get(field, 0) + int(outcome.get(field) or 0)
    return ", ".join(f"{k}={v}" for k, v in totals.items())


if __name__ == "__main__":
    raise SystemExit(main())
