"""Benchmark (issue 13, item 6): search and console pages on a store of 100,000 articles, on
SQLite and PostgreSQL, through the real HTTP server.

The store: real Arabic articles of ``../shared/corpus`` (never copied into the repository),
each the canonical article of a story of 1 to 12 articles from different outlets (a quarter
stand alone; 3.5 on average), every copy a variation of it (another title: "عاجل: ...", a
word fewer; the last paragraph cut, or the first; an ``[ad_1]`` removed), published over the
last 60 days, copies within six hours of each other. Articles are analysed as ``ingest``
analyses them (``fingerprint.analyse``, ``search.document_text``: each paragraph once) and
written through the store's own unit of work (``Tx.allot``, ``Tx.insert_articles``: rows,
search index and all, in batches), so the schema and indexes are the project's. Corpus
articles are reused (with other dates and feeds) until the store holds the size asked for.

Measured: ``ingest serve`` (its own process, the store opened as a user would) answers, one
request at a time from this process, over a fresh connection each (the server closes after
one request):

* search: ``/api/search?q=`` with 200 queries drawn from the corpus titles (single words,
  common and rare; two words; quoted phrases), p50 / p95 / max; goal p95 < 50 ms;
* console pages: ``/`` (the latest stories), ``/search?q=`` (the same queries, rendered),
  ``/articles/ID`` (random articles, their explanation included) and ``/feeds``; p95 of each
  and of all; goal p95 < 200 ms;
* baseline: the same ``HttpServer`` with a handler that answers "ok" at once, in its own
  process, in the same run: what the socket, the server and the client cost by themselves.

Usage: .venv/bin/python bench/bench_web.py [--articles 100000] [--backends sqlite,postgres]
       [--queries 200] [--pages 100] [--json out.json] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import (
    PG_URL,
    PYTHON,
    Row,
    have_corpus,
    load_corpus,
    percentile,
    pg_create_schema,
    pg_drop_schema,
    write_rows,
)

from ingest import fingerprint
from ingest.fingerprint import FINGERPRINT_VERSION, Para
from ingest.models import Article, Kind, Reason, Removed, Rule, Verdict
from ingest.search import document_text
from ingest.store import open_store
from ingest.store.base import NewRow

FEEDS = 24
"""Outlets the stories are spread over."""
SIZES = [(1, 25), (2, 20), (3, 15), (4, 12), (5, 10), (6, 8), (8, 6), (12, 4)]
"""Story sizes (articles) and how often each is drawn (percent)."""
DAYS = 60
"""Days the stories are published over, up to now."""
BATCH = 2_000
"""Articles per transaction while building."""
SEARCH_GOAL_MS = 50.0
PAGE_GOAL_MS = 200.0


# -- the store --------------------------------------------------------------------------


@dataclass
class Base:
    """A corpus article, analysed once."""

    title: str
    paras: tuple[Para, ...]


def bases(records: list[dict[str, Any]]) -> list[Base]:
    found = []
    for record in records:
        paragraphs = [p.strip() for p in (record.get("body") or "").split("\n") if p.strip()]
        if len(paragraphs) >= 2 and record.get("title"):
            found.append(Base(record["title"].strip(), tuple(fingerprint.analyse(paragraphs))))
    return found


def _size(rng: random.Random) -> int:
    roll, total = rng.random() * 100, 0.0
    for size, share in SIZES:
        total += share
        if roll < total:
            return size
    return SIZES[-1][0]


def _variant(base: Base, copy: int, rng: random.Random) -> tuple[str, tuple[Para, ...], bool]:
    """The title and kept paragraphs of copy number ``copy`` of ``base``, and whether an
    ``[ad_1]`` was removed from it (copy 0 is the canonical article, as written)."""
    if copy == 0:
        return base.title, base.paras, False
    words = base.title.split()
    title = rng.choice(
        [base.title, f"عاجل: {base.title}", " ".join(words[:-1]) if len(words) > 3 else base.title]
    )
    paras = base.paras
    cut = rng.random()
    if cut < 0.4 and len(paras) > 2:
        paras = paras[:-1]
    elif cut < 0.6 and len(paras) > 2:
        paras = paras[1:]
    return title, paras, rng.random() < 0.3


def articles(
    pool: list[Base], total: int, now: datetime, seed: int = 7
) -> Iterator[tuple[int, int, Article]]:
    """``(story number, outlet, article)`` in insertion order: ``total`` articles."""
    rng = random.Random(seed)
    made = story = 0
    while made < total:
        base = pool[story % len(pool)]
        size = min(_size(rng), total - made, FEEDS)
        start = now - timedelta(seconds=rng.uniform(6 * 3600, DAYS * 86400))
        outlets = rng.sample(range(FEEDS), size)
        for copy, outlet in enumerate(outlets):
            title, paras, ad = _variant(base, copy, rng)
            published = start + timedelta(seconds=rng.uniform(0, 6 * 3600) if copy else 0)
            fetched = published + timedelta(minutes=rng.uniform(5, 30))
            features = fingerprint.article_features(paras)
            feed_url = f"https://outlet-{outlet:02d}.example/rss"
            url = f"https://outlet-{outlet:02d}.example/news/{story}-{copy}"
            yield (
                story,
                outlet,
                Article(
                    feed_url=feed_url,
                    guid=f"{story}-{copy}",
                    url=url,
                    canonical_url=url,
                    title=title,
                    published=published,
                    fetched=fetched,
                    dedup_ts=int(published.timestamp()),
                    author=None,
                    paragraphs=tuple(p.text for p in paras),
                    removed=(Removed(Reason.AD_MARKER, "[ad_1]", 0),) if ad else (),
                    simhash=features.simhash,
                    fp_version=FINGERPRINT_VERSION,
                    text_hash=features.text_hash,
                    content_hash=secrets.token_hex(8),
                    stems=features.stems,
                    para_keys=tuple(p.bkey for p in paras),
                    search_text=document_text(title, (p.key for p in paras)),
                ),
            )
            made += 1
        story += 1


def _verdict(article: Article, root: tuple[int, Article] | None) -> Verdict:
    if root is None:
        return Verdict(Kind.NEW)
    root_id, canonical = root
    union = len(article.stems | canonical.stems) or 1
    return Verdict(
        Kind.NEAR,
        duplicate_of=root_id,
        rule=Rule.SIMHASH,
        distance=(article.simhash ^ canonical.simhash).bit_count(),
        overlap=round(len(article.stems & canonical.stems) / union, 4),
        match_id=root_id,
    )


def build(url: str, pool: list[Base], total: int, now: datetime) -> tuple[float, list[int]]:
    """Write ``total`` articles into the (new) store at ``url``: seconds taken, and the ids."""
    started = time.perf_counter()
    every: list[int] = []
    store = open_store(url)
    try:
        store.migrate()
        roots: dict[int, tuple[int, Article]] = {}
        feed_ids: dict[int, int] = {}
        batch: list[tuple[int, int, Article]] = []

        def flush() -> None:
            with store.transaction() as tx:
                for outlet in {o for _, o, _ in batch} - feed_ids.keys():
                    feed_ids[outlet] = tx.feed_id(
                        f"https://outlet-{outlet:02d}.example/rss", f"outlet-{outlet:02d}"
                    )
                ids, seqs = tx.allot(len(batch))
                every.extend(ids)
                rows = []
                for (story, outlet, article), article_id, seq in zip(batch, ids, seqs, strict=True):
                    verdict = _verdict(article, roots.get(story))
                    roots.setdefault(story, (article_id, article))
                    rows.append(NewRow(article_id, seq, feed_ids[outlet], article, verdict))
                tx.insert_articles(rows)
            batch.clear()

        for item in articles(pool, total, now):
            batch.append(item)
            if len(batch) >= BATCH:
                flush()
        if batch:
            flush()
    finally:
        store.close()
    return time.perf_counter() - started, every


# -- the servers and the client ----------------------------------------------------------


def start(argv: list[str], workdir: Path, name: str) -> tuple[subprocess.Popen[bytes], int]:
    """A server process; its port, read from its log."""
    log = workdir / f"{name}.log"
    handle = log.open("wb")
    proc = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = re.search(r"listening\W.*?127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
        if found:
            return proc, int(found.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not start:\n{log.read_text(errors='replace')}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def fetch_ms(port: int, path: str) -> float:
    """Milliseconds for one GET (connect, request, the whole body); the status must be 200."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", quote(path, safe="/?=&"))
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status}")
    finally:
        conn.close()
    return (time.perf_counter() - started) * 1000


def timed(port: int, paths: list[str], warmup: int = 10) -> list[float]:
    for path in paths[:warmup]:
        fetch_ms(port, path)
    return [fetch_ms(port, path) for path in paths]


KINDS = ("word", "two_words", "phrase")
"""The kinds of query ``queries`` makes: half single words, a quarter each of the others."""


def kind_of(query: str) -> str:
    if query.startswith('"'):
        return "phrase"
    return "two_words" if " " in query else "word"


def queries(records: list[dict[str, Any]], count: int, seed: int = 11) -> list[str]:
    """Queries as people type them: words of real titles (single, pairs, quoted phrases)."""
    rng = random.Random(seed)
    titles = [r["title"].split() for r in records if r.get("title")]
    found: list[str] = []
    while len(found) < count:
        words = [w.strip("«»\"'،.:؟!()") for w in rng.choice(titles)]
        words = [w for w in words if len(w) >= 4]
        if len(words) < 2:
            continue
        kind = len(found) % 4
        if kind < 2:
            found.append(rng.choice(words))
        elif kind == 2:
            found.append(" ".join(rng.sample(words, 2)))
        else:
            i = rng.randrange(len(words) - 1)
            found.append(f'"{words[i]} {words[i + 1]}"')
    return found


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50), 1),
        "p95": round(percentile(values, 95), 1),
        "max": round(max(values), 1),
        "n": len(values),
    }


def trivial_child() -> int:
    """``--trivial``: the baseline server, answering "ok" at once."""
    from ingest.httpserver import HttpServer, Response
    from ingest.settings import Address

    async def serve() -> None:
        server = HttpServer(Address("127.0.0.1", 0), lambda _: Response.text(200, "ok\n"))
        await server.start()
        print(f"trivial server listening on {server.address}", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


def measure(
    db: str, workdir: Path, qs: list[str], ids: list[int], *, pages: int, seed: int = 5
) -> dict[str, Any]:
    rng = random.Random(seed)
    web, port = start(
        [PYTHON, "-m", "ingest", "--db", db, "serve", "--address", "127.0.0.1:0"], workdir, "serve"
    )
    try:
        results: dict[str, Any] = {}
        searches = timed(port, [f"/api/search?q={q}" for q in qs])
        results["search_api"] = summary(searches)
        for name in KINDS:
            results[f"search_{name}"] = summary(
                [ms for ms, q in zip(searches, qs, strict=True) if kind_of(q) == name]
            )
        console = {
            "home": ["/"] * pages,
            "search": [f"/search?q={q}" for q in qs[:pages]],
            "article": [f"/articles/{rng.choice(ids)}" for _ in range(pages)],
            "feeds": ["/feeds"] * pages,
        }
        every: list[float] = []
        for name, paths in console.items():
            values = timed(port, paths)
            every += values
            results[f"page_{name}"] = summary(values)
        results["pages_all"] = summary(every)
        results["api_stories"] = summary(timed(port, ["/api/stories"] * pages))
    finally:
        stop(web)
    return results


def pg_schema(base: str) -> tuple[str, str]:
    schema = f"bench_web_{secrets.token_hex(4)}"
    return pg_create_schema(base, schema), schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--json", help="also write the rows here (for run_all.py)")
    parser.add_argument(
        "--keep", help="build the SQLite store in this directory and keep both stores"
    )
    parser.add_argument("--trivial", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.trivial:
        return trivial_child()
    if not have_corpus():
        print("bench_web: skipped: ../shared/corpus is absent", file=sys.stderr)
        return 0
    records = load_corpus()
    started = time.perf_counter()
    pool = bases(records)
    analysed_s = time.perf_counter() - started
    qs = queries(records, args.queries)
    now = datetime.now(UTC)
    workdir = Path(args.keep or tempfile.mkdtemp(prefix="bench-web-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    extra: dict[str, Any] = {"articles": args.articles, "analysed_s": round(analysed_s, 1)}
    try:
        trivial, port = start([PYTHON, __file__, "--trivial"], workdir, "trivial")
        try:
            baseline = summary(timed(port, ["/"] * args.pages * 2))
        finally:
            stop(trivial)
        extra["baseline"] = baseline
        for backend in args.backends.split(","):
            schema = None
            if backend == "sqlite":
                db = f"sqlite:///{workdir / 'web.db'}"
                if (workdir / "web.db").exists():
                    (workdir / "web.db").unlink()
            else:
                db, schema = pg_schema(PG_URL)
            try:
                build_s, ids = build(db, pool, args.articles, now)
                print(f"{backend}: built {args.articles} articles in {build_s:.0f} s", flush=True)
                got = measure(db, workdir, qs, ids, pages=args.pages)
            finally:
                if schema is not None and args.keep:
                    print(f"postgres: kept {db}", flush=True)
                elif schema is not None:
                    pg_drop_schema(PG_URL, schema)
            extra[backend] = {"build_s": round(build_s, 1), **got}
            rows += result_rows(backend, args.articles, got, baseline)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    write_rows(rows, extra, args.json)
    return 0


def result_rows(
    backend: str, size: int, got: dict[str, Any], baseline: dict[str, float]
) -> list[Row]:
    section = f"web {backend} {size // 1000}k"
    rows = [
        Row(
            section,
            "search p95 (/api/search)",
            got["search_api"]["p95"],
            baseline["p95"],
            "ms",
            "trivial handler",
            target=f"< {SEARCH_GOAL_MS:g} ms",
            met=got["search_api"]["p95"] < SEARCH_GOAL_MS,
            note=f"p50 {got['search_api']['p50']}, max {got['search_api']['max']}",
        ),
        Row(
            section,
            "console pages p95 (all)",
            got["pages_all"]["p95"],
            baseline["p95"],
            "ms",
            "trivial handler",
            target=f"< {PAGE_GOAL_MS:g} ms",
            met=got["pages_all"]["p95"] < PAGE_GOAL_MS,
        ),
    ]
    for kind in KINDS:
        figures = got[f"search_{kind}"]
        rows.append(
            Row(
                section,
                f"search p95, {kind.replace('_', ' ')}",
                figures["p95"],
                unit="ms",
                note=f"p50 {figures['p50']}, max {figures['max']}, n {figures['n']}",
            )
        )
    for name in ("home", "search", "article", "feeds"):
        figures = got[f"page_{name}"]
        rows.append(
            Row(
                section,
                f"page {name} p95",
                figures["p95"],
                baseline["p95"],
                "ms",
                "trivial handler",
                target=f"< {PAGE_GOAL_MS:g} ms",
                met=figures["p95"] < PAGE_GOAL_MS,
                note=f"p50 {figures['p50']}, max {figures['max']}",
            )
        )
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
