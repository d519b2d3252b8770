"""Run every issue-7 benchmark and print one table.

    .venv/bin/python bench/run_all.py            # the whole suite, about 12 minutes idle
    .venv/bin/python bench/run_all.py --quick    # a smoke run, about 2 minutes
    .venv/bin/python bench/run_all.py --only 2,4 --daemon-seconds 600

Each benchmark runs in its own process (``bench/bench_*.py``, each also usable alone), so
its CPU and memory figures are its own; each figure is compared with a baseline measured in
the same run. Their full output (profiles, per-run numbers) goes to ``--out`` (a new
temporary directory by default): ``<n>-<name>.log`` and ``<n>-<name>.json``. See
``bench/README.md`` for what each figure means. Needs ``../shared/corpus`` (each benchmark
says "skipped" without it), PostgreSQL on 127.0.0.1:5432 for the lookup benchmark's
PostgreSQL rows (``--no-postgres`` to skip; ``INGEST_BENCH_PG`` names another database), and
``reader`` for the peer benchmark (``.venv/bin/pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import PYTHON, format_table

HERE = Path(__file__).resolve().parent

BENCHES = {
    1: "pipeline",
    2: "lookup",
    3: "fetch",
    4: "daemon",
    5: "peer",
}


def command(number: int, args: argparse.Namespace, out: Path) -> list[str]:
    name = BENCHES[number]
    cmd = [PYTHON, str(HERE / f"bench_{name}.py"), "--json", str(out / f"{number}-{name}.json")]
    if args.quick:
        cmd.append("--quick")
    if number == 1:
        cmd += ["--profile-out", str(out / "1-pipeline-profile.txt")]
    if number == 2 and args.no_postgres:
        cmd.append("--no-postgres")
    if number == 4 and not args.quick:
        cmd += ["--seconds", str(args.daemon_seconds), "--feeds", str(args.daemon_feeds)]
    return cmd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", help="comma-separated benchmark numbers (1-5)")
    parser.add_argument(
        "--daemon-seconds",
        type=float,
        default=300.0,
        help="how long the daemon benchmark runs (the issue's figure is 600)",
    )
    parser.add_argument("--daemon-feeds", type=int, default=5000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--out", help="directory for logs and JSON results")
    args = parser.parse_args(argv)
    numbers = [int(n) for n in args.only.split(",")] if args.only else list(BENCHES)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    rows = []
    failed = []
    for number in numbers:
        name = BENCHES[number]
        log = out / f"{number}-{name}.log"
        t0 = time.monotonic()
        print(f"[{time.monotonic() - started:6.0f} s] {number} {name} ...", flush=True)
        with log.open("w") as handle:
            done = subprocess.run(
                command(number, args, out), stdout=handle, stderr=subprocess.STDOUT, check=False
            )
        result = out / f"{number}-{name}.json"
        if done.returncode != 0 or not result.exists():
            failed.append(name)
            print(f"         {name} failed (exit {done.returncode}); see {log}", flush=True)
            continue
        rows += json.loads(result.read_text())["rows"]
        print(f"         done in {time.monotonic() - t0:.0f} s", flush=True)
    print()
    print(format_table(rows))
    targets = [r for r in rows if r.get("met") is not None]
    met = sum(1 for r in targets if r["met"])
    print()
    print(
        f"{met} of {len(targets)} targets met; {len(failed)} benchmark(s) failed"
        f"{': ' + ', '.join(failed) if failed else ''}; "
        f"{time.monotonic() - started:.0f} s in all; logs and JSON in {out}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
