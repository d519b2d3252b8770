"""Run the speed benchmarks and print the issue-12 table, every figure against a baseline
measured in the same run.

    .venv/bin/python bench/run_all.py                          # the suite, about 15 minutes
    .venv/bin/python bench/run_all.py --daemon-seconds 600     # with the issue's 10-minute daemon
    .venv/bin/python bench/run_all.py --quick                  # a smoke run, about 3 minutes
    .venv/bin/python bench/run_all.py --only 1,2 --json out.json

Each benchmark runs in its own process (``bench/bench_*.py``, each also usable alone), so its
CPU and memory figures are its own. The table starts with the rows that carry an issue-12
goal (G1 to G6), then the context rows; each row carries the machine's load average while its
benchmark ran (median and max of samples every 5 s: other sessions share the 2 cores). Full
output (profiles, per-run numbers) goes to ``--out`` (a new temporary directory by default):
``<n>-<name>.log``, ``<n>-<name>.json`` and ``results.json`` (every row); ``--json`` writes the
rows to one more file. See ``bench/README.md`` for what each figure means. Needs
``../shared/corpus`` (each benchmark says "skipped" without it), PostgreSQL on 127.0.0.1:5432
for the PostgreSQL rows (``--no-postgres`` skips them; ``INGEST_BENCH_PG`` names another
database), and ``reader`` for the peer rows (``.venv/bin/pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import PYTHON, ROOT, LoadWatch, format_table

HERE = Path(__file__).resolve().parent

BENCHES = {
    1: "pipeline",  # G1, G2, G3, G6
    2: "lookup",  # G4
    3: "fetch",
    4: "daemon",  # G5
    5: "peer",
}

GOALS = {
    "G1": "`ingest fetch` 20 feeds x 50 vs bare feedparser.parse: >= 1.0x",
    "G2": "the same vs reader 3.26 update_feeds: >= 1.0x",
    "G3": "unchanged re-fetch of 1,000 stored items vs their first ingest: <= 0.10x",
    "G4": "lookup at 1,000,000, p99 < 2 ms (SQLite, PostgreSQL); peak memory < 300 MB",
    "G5": "5,000-feed daemon, 10 minutes, fetch-start lag p99 < 5 s, cold start included",
    "G6": "PostgreSQL ingest rate vs SQLite >= 0.8x (and at most two round trips an article)",
}


def command(number: int, args: argparse.Namespace, out: Path) -> list[str]:
    name = BENCHES[number]
    cmd = [PYTHON, str(HERE / f"bench_{name}.py"), "--json", str(out / f"{number}-{name}.json")]
    if args.quick:
        cmd.append("--quick")
    if number == 1:
        cmd += ["--profile-out", str(out / "1-pipeline-profile.txt")]
    if number in (1, 2) and args.no_postgres:
        cmd.append("--no-postgres")
    if number == 4:
        seconds = args.daemon_seconds if args.daemon_seconds else (60.0 if args.quick else 300.0)
        feeds = args.daemon_feeds if args.daemon_feeds else (500 if args.quick else 5000)
        cmd += ["--seconds", str(seconds), "--feeds", str(feeds)]
    return cmd


def git_commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return done.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", help="comma-separated benchmark numbers (1-5)")
    parser.add_argument(
        "--daemon-seconds",
        type=float,
        help="how long the daemon benchmark runs: 300 by default (60 with --quick); the "
        "issue's figure is 600",
    )
    parser.add_argument(
        "--daemon-feeds", type=int, help="feeds of the daemon benchmark (5000; 500 with --quick)"
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--out", help="directory for logs and JSON results")
    parser.add_argument("--json", help="also write every row (and the run's facts) here")
    args = parser.parse_args(argv)
    numbers = [int(n) for n in args.only.split(",")] if args.only else list(BENCHES)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    rows: list[dict[str, Any]] = []
    failed = []
    runs: dict[str, Any] = {}
    for number in numbers:
        name = BENCHES[number]
        log = out / f"{number}-{name}.log"
        t0 = time.monotonic()
        print(f"[{time.monotonic() - started:6.0f} s] {number} {name} ...", flush=True)
        with log.open("w") as handle, LoadWatch() as load:
            done = subprocess.run(
                command(number, args, out), stdout=handle, stderr=subprocess.STDOUT, check=False
            )
        seconds = time.monotonic() - t0
        runs[name] = {"seconds": seconds, "load": load.samples, "exit": done.returncode}
        result = out / f"{number}-{name}.json"
        if done.returncode != 0 or not result.exists():
            failed.append(name)
            print(f"         {name} failed (exit {done.returncode}); see {log}", flush=True)
            continue
        for row in json.loads(result.read_text())["rows"]:
            row["load"] = load.summary()
            rows.append(row)
        print(f"         done in {seconds:.0f} s, load average {load.summary()}", flush=True)
    goals = sorted((r for r in rows if r.get("goal")), key=lambda r: r["goal"])
    context = [r for r in rows if not r.get("goal")]
    print()
    print("Issue 12 goals (each against a baseline measured in this run):")
    print(format_table(goals))
    print()
    print("Context:")
    print(format_table(context))
    targets = [r for r in goals if r.get("met") is not None]
    met = sum(1 for r in targets if r["met"])
    total = time.monotonic() - started
    spent = ", ".join(f"{k} {v['seconds']:.0f} s" for k, v in runs.items())
    print()
    print(
        f"{met} of {len(targets)} goal rows met; {len(failed)} benchmark(s) failed"
        f"{': ' + ', '.join(failed) if failed else ''}; {total:.0f} s in all "
        f"({spent}); commit "
        f"{git_commit()}; logs and JSON in {out}"
    )
    results = {
        "goals": GOALS,
        "rows": rows,
        "runs": runs,
        "seconds": total,
        "commit": git_commit(),
        "cpus": os.cpu_count(),
        "quick": args.quick,
        "failed": failed,
    }
    (out / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
