"""The worker side, stage by stage: what preparing 1,000 corpus items costs (issue 12).

``prepare.prepare_feed`` runs in the parse workers: parse (feedparser), clean (bs4 + lxml),
analyse (normalise, tokenise, stem once per paragraph), boilerplate, the paragraph rule and
the article features (simhash, stem set, text hash). This script times each stage alone on
the same items and the whole of ``prepare_feed``, per 1,000 items, next to a bare
``feedparser.parse`` of the same bytes (default options: the issue-12 baseline) measured in
the same process, first, before anything of ``ingest`` is imported (``ingest.parse`` swaps two
of feedparser's internals for faster equivalents, which would speed the baseline up too)::

    .venv/bin/python bench/bench_prepare.py                     # this tree, 5 rounds
    .venv/bin/python bench/bench_prepare.py --against HEAD~3    # and another revision's code
    .venv/bin/python bench/bench_prepare.py --fetch             # and `ingest fetch` end to end

Each round runs in a fresh process; with ``--against REV`` the rounds of this tree and of
REV's ``ingest/`` package (``git archive``, imported first on ``sys.path``) alternate, and the
medians are compared, so a busy machine slows both alike. Stages are timed in CPU seconds of
the process (``time.process_time``): on a machine shared with other work, wall time would
count the waits for a core. The stages run one feed at a time, in ``prepare_feed``'s order,
each timed on its own, so that only one feed's objects are alive (the garbage collector's
work then is what a worker's is). Every pass is warm (the stemmer's cache filled by a first,
untimed pass, as in a worker that has prepared a few feeds), except ``prepare_feed (cold)``:
that first pass of a fresh process, as ``ingest fetch``'s workers see it. The paragraph cache
of ``arabic.tokens`` is cleared before each pass, so no pass reads what an earlier one
analysed.

``--fetch`` times ``ingest fetch`` of the same feeds (local files, a fresh SQLite store, the
default settings) as whole processes, next to a process that only imports feedparser and
parses the same files, and next to the parse time alone inside it.

The feeds: the corpus articles of one outlet and category, 50 to a feed (20 feeds), RSS 2.0
with the body in ``content:encoded`` as ``<p>`` paragraphs in CDATA, built at run time from
``../shared/corpus/ant-multisource.jsonl.gz`` into a temporary directory (or ``--feeds``).
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "ant-multisource.jsonl.gz"
PYTHON = sys.executable

STAGES = (
    "feedparser (baseline)",
    "parse",
    "clean",
    "analyse",
    "boilerplate",
    "paragraph rule",
    "article features",
    "prepare_feed",
    "prepare_feed (cold)",
    "result pickle",
)
PARTS = ("parse", "clean", "analyse", "boilerplate", "paragraph rule", "article features")


# --- the feeds ------------------------------------------------------------------------------


def build_feeds(directory: Path, count: int = 20, per_feed: int = 50) -> list[Path]:
    """``count`` feeds of ``per_feed`` corpus articles (one outlet and category each)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with gzip.open(CORPUS, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if record.get("body"):
                groups.setdefault((record["source"], record["category"]), []).append(record)
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for _, records in sorted(groups.items()):
        for start in range(0, len(records) - per_feed, per_feed * 7):
            items = "".join(_item(r) for r in records[start : start + per_feed])
            path = directory / f"f{len(paths):02d}.xml"
            path.write_text(
                '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
                'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
                "<title>t</title><link>https://x.example/</link>" + items + "</channel></rss>",
                encoding="utf-8",
            )
            paths.append(path)
            if len(paths) >= count:
                return paths
    return paths


def _item(r: dict[str, Any]) -> str:
    date = format_datetime(datetime.fromisoformat(r["date"]))
    body = "".join(f"<p>{html.escape(p)}</p>" for p in r["body"].split("\n") if p.strip())
    return (
        f"<item><title>{html.escape(r['title'] or '')}</title>"
        f"<link>{html.escape(r['url'] or '')}</link><guid>{html.escape(r['id'])}</guid>"
        f"<pubDate>{date}</pubDate>"
        f"<description>{html.escape(r.get('summary') or '')}</description>"
        f"<content:encoded><![CDATA[{body}]]></content:encoded></item>"
    )


# --- one round, in a fresh process ----------------------------------------------------------


def child(feeds: Path) -> dict[str, float]:
    """Seconds per 1,000 items for each stage (runs in a fresh process, ``--child``)."""
    import io
    import pickle
    from datetime import UTC

    import feedparser

    bodies = [p.read_bytes() for p in sorted(feeds.glob("*.xml"))]
    # The baseline first, before anything of ingest is imported (parse.py tunes feedparser).
    started = time.process_time()
    for body in bodies:
        feedparser.parse(io.BytesIO(body))
    baseline = time.process_time() - started

    from ingest import arabic, fingerprint
    from ingest.boilerplate import recurring_keys, remove_boilerplate
    from ingest.clean import clean_any
    from ingest.dedupe import dedupe_paragraphs
    from ingest.jobs import FeedJob
    from ingest.prepare import prepare_feed
    from ingest.settings import DedupSettings

    dedup = DedupSettings()
    job = FeedJob("file:///bench.xml", datetime(2019, 1, 1, tzinfo=UTC), dedup)
    clock = time.process_time
    times = {"feedparser (baseline)": baseline} | dict.fromkeys(PARTS, 0.0)

    def clear_caches() -> None:  # no pass reads the paragraphs an earlier pass analysed
        cache = getattr(arabic, "_tokens", None)
        if cache is not None and hasattr(cache, "cache_clear"):
            cache.cache_clear()

    def whole(name: str) -> list[Any]:
        clear_caches()
        started = clock()
        value = [prepare_feed(b, {}, job) for b in bodies]
        times[name] = clock() - started
        return value

    prepared = whole("prepare_feed (cold)")
    # The stages one feed at a time, as prepare_feed runs them (so that only one feed's objects
    # are alive, as in a worker), each timed on its own.
    clear_caches()
    items = 0
    for body in bodies:
        t0 = clock()
        entries = list(parse_feed_(body).entries)
        t1 = clock()
        cleaned = [clean_any(e.content) for e in entries]
        t2 = clock()
        paras = [fingerprint.analyse(c.paragraphs) for c in cleaned]
        t3 = clock()
        # the feed's recurring lines, as the store would have learnt them (not timed)
        keys = ([p.bkey for p in ps] for ps in paras)
        recurring = recurring_keys(keys, dedup.boilerplate_min_articles)
        t4 = clock()
        stripped = [
            remove_boilerplate(c, p, recurring) for c, p in zip(cleaned, paras, strict=True)
        ]
        t5 = clock()
        kept = [dedupe_paragraphs(c, p, dedup) for c, p, _ in stripped]
        t6 = clock()
        for _, p in kept:
            fingerprint.article_features(p)
        t7 = clock()
        for name, seconds in zip(
            PARTS, (t1 - t0, t2 - t1, t3 - t2, t5 - t4, t6 - t5, t7 - t6), strict=True
        ):
            times[name] += seconds
        items += len(entries)
    whole("prepare_feed")
    started = clock()
    for feed in prepared:
        pickle.loads(pickle.dumps(feed, protocol=5))
    times["result pickle"] = clock() - started
    scale = 1000 / items
    return {name: seconds * scale for name, seconds in times.items()} | {"items": items}


def parse_feed_(body: bytes) -> Any:
    from ingest.parse import parse_feed

    return parse_feed(body, {}, url="file:///bench.xml")


# --- the parent ------------------------------------------------------------------------------


def export(rev: str, into: Path) -> Path:
    """REV's ``ingest`` package, extracted into ``into``; returns the directory to import from."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "ingest"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_child(code: Path, feeds: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run(
        [PYTHON, __file__, "--child", str(feeds), "--code", str(code)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return dict(json.loads(out.splitlines()[-1]))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fetch_round(code: Path, feeds: Path, work: Path) -> tuple[float, float]:
    """Wall and CPU seconds (its workers included) of ``ingest fetch FEEDS`` (a fresh store)
    with the code in ``code``."""
    db = work / "fetch.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    config = work / "empty.toml"
    config.write_text("", encoding="utf-8")
    # ``python -c`` puts the working directory first on sys.path: run where no ``ingest`` is,
    # so that the code in ``code`` is the one imported (the workers inherit the path).
    boot = (
        "import sys; import ingest; "
        f"assert ingest.__file__.startswith({str(code.resolve()) + '/'!r}), ingest.__file__; "
        "from ingest.cli import main; sys.exit(main())"
    )
    command = [PYTHON, "-c", boot, "--config", str(config), "--db", str(db), "-q", "fetch"]
    command += [str(p) for p in sorted(feeds.glob("*.xml"))]
    env = {**os.environ, "PYTHONPATH": str(code)}
    cpu, started = children_cpu(), time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env, cwd=work)
    return time.perf_counter() - started, children_cpu() - cpu


_BARE = """
import io, sys, time
from pathlib import Path
import feedparser
bodies = [p.read_bytes() for p in sorted(Path(sys.argv[1]).glob("*.xml"))]
t = time.perf_counter()
for b in bodies:
    feedparser.parse(io.BytesIO(b))
print(time.perf_counter() - t)
"""


def bare_round(feeds: Path) -> tuple[float, float, float]:
    """(process wall, parse time inside it, process CPU) of a bare feedparser over the same
    files."""
    cpu, started = children_cpu(), time.perf_counter()
    out = subprocess.run(
        [PYTHON, "-c", _BARE, str(feeds)], check=True, capture_output=True, text=True
    ).stdout
    return time.perf_counter() - started, float(out.split()[-1]), children_cpu() - cpu


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(results: dict[str, list[dict[str, float]]]) -> None:
    names = list(results)
    print(f"\nseconds per 1,000 items, medians of {len(results[names[0]])} rounds")
    header = f"{'stage':<24}" + "".join(f"{n:>14}" for n in names)
    if len(names) == 2:
        header += f"{'ratio':>9}"
    print(header)
    rows = [*STAGES, "sum of the parts", "rest of prepare_feed", "prepare / feedparser"]
    for stage in rows:
        values = []
        for name in names:
            rounds = results[name]
            if stage == "sum of the parts":
                value = median([sum(r[p] for p in PARTS) for r in rounds])
            elif stage == "rest of prepare_feed":
                value = median([r["prepare_feed"] - sum(r[p] for p in PARTS) for r in rounds])
            elif stage == "prepare / feedparser":
                value = median([r["prepare_feed"] / r["feedparser (baseline)"] for r in rounds])
            else:
                value = median([r[stage] for r in rounds])
            values.append(value)
        line = f"{stage:<24}" + "".join(f"{v:>14.3f}" for v in values)
        if len(values) == 2 and values[0]:
            line += f"{values[1] / values[0]:>8.2f}x"
        print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", metavar="REV", help="also time REV's ingest/ package")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--feeds", type=Path, help="a directory of feeds (default: built)")
    parser.add_argument("--fetch", action="store_true", help="also time `ingest fetch`")
    parser.add_argument("--fetch-rounds", type=int, default=5)
    parser.add_argument("--no-stages", action="store_true", help="only the --fetch figures")
    parser.add_argument("--json", metavar="FILE", help="write every round's figures here")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.code is not None:
            import ingest

            where = Path(ingest.__file__).resolve().parent.parent
            if where != args.code.resolve():
                raise SystemExit(f"imported ingest from {where}, not {args.code}")
        print(json.dumps(child(args.child)))
        return 0
    if args.feeds is None and not CORPUS.exists():
        print("skipped: ../shared/corpus is absent")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
        work = Path(tmp)
        feeds = args.feeds or work / "feeds"
        if args.feeds is None:
            build_feeds(feeds)
        trees = {"this tree": ROOT}
        if args.against:
            trees = {args.against: export(args.against, work / "against"), "this tree": ROOT}
        results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        fetches: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
        bare: list[tuple[float, float, float]] = []
        for round_ in range(args.rounds if not args.no_stages else 0):
            for name, code in trees.items():
                results[name].append(run_child(code, feeds))
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
        if results[next(iter(trees))]:
            report(results)
        if args.fetch:
            for _ in range(args.fetch_rounds):
                bare.append(bare_round(feeds))
                for name, code in trees.items():
                    fetches[name].append(fetch_round(code, feeds, work))
            wall, inside = median([b[0] for b in bare]), median([b[1] for b in bare])
            bare_cpu = median([b[2] for b in bare])
            print(
                f"\n`ingest fetch` of {len(list(feeds.glob('*.xml')))} feeds, seconds, "
                f"medians of {args.fetch_rounds} (CPU: the process and its workers)"
            )
            print(
                f"bare feedparser: {inside:.3f} s parsing; as a process {wall:.3f} s wall, "
                f"{bare_cpu:.3f} s CPU"
            )
            for name in trees:
                seconds = median([f[0] for f in fetches[name]])
                cpu = median([f[1] for f in fetches[name]])
                print(
                    f"{name:<12} {seconds:.3f} s wall: {inside / seconds:.2f}x the bare parse, "
                    f"{wall / seconds:.2f}x the bare process (>= 1.0x is faster); "
                    f"{cpu:.3f} s CPU"
                )
        if args.json:
            Path(args.json).write_text(
                json.dumps({"stages": results, "fetch": fetches, "bare": bare}, indent=1),
                encoding="utf-8",
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
