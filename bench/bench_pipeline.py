"""Benchmark 1: pipeline throughput against a bare ``feedparser.parse(bytes)``.

Ours: ``Pipeline.run`` (exactly what ``ingest fetch FILE ...`` runs, one feed at a time, one
process) over ``file://`` feeds built from the corpus (50 items, full HTML bodies), into a
fresh SQLite store in WAL mode: parse, clean, paragraph dedupe, fingerprint, article dedupe
(window index + exact lookups) and store, one transaction per feed. Every repetition starts
from an empty store, so every repetition does the same work (all items new).

Baseline: ``feedparser.parse(body)`` with default options (sanitizer and relative-URI
resolver on) on the same bytes, already in memory. Runs alternate (ours, baseline, ours ...)
and the medians are compared, so a noisy neighbour slows both.

Where the time goes: the same stages called one by one on the main thread (``parse_feed``,
``clean_any``, ``dedupe_paragraphs``, ``article_fingerprint``, ``text_hash``, the rest of
``prepare``, ``store_articles``), and a cProfile of that run (cProfile only sees the thread it
runs on, and ``Pipeline`` works on a writer thread, so the profile drives the stages itself).

Usage: .venv/bin/python bench/bench_pipeline.py [--feeds 40] [--reps 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import io
import pstats
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from xml.parsers import expat

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import feedparser  # the baseline; the project itself imports it only in ingest/parse.py
from bench_common import (
    Row,
    Stopwatch,
    have_corpus,
    median,
    ratio,
    write_corpus_feeds,
    write_rows,
)

from ingest import arabic, dedupe
from ingest import pipeline as pl
from ingest.clean import clean_any, clean_title
from ingest.dedupe import article_fingerprint, dedupe_paragraphs, text_hash
from ingest.fetch import Fetcher
from ingest.fingerprint import WindowIndex
from ingest.parse import parse_feed
from ingest.settings import Settings
from ingest.store import open_store
from ingest.store.base import FeedUpdate
from ingest.urls import canonical_url, safe_link


def bare_parse(bodies: list[bytes]) -> tuple[int, float, float]:
    with Stopwatch() as sw:
        items = sum(len(feedparser.parse(body).entries) for body in bodies)
    return items, sw.wall, sw.cpu


def bare_parse_fast(bodies: list[bytes]) -> tuple[int, float, float]:
    """Context only: feedparser as ``ingest.parse`` calls it (no sanitizer, no URI resolver)."""
    with Stopwatch() as sw:
        items = sum(
            len(
                feedparser.parse(
                    io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False
                ).entries
            )
            for body in bodies
        )
    return items, sw.wall, sw.cpu


def run_pipeline(paths: list[Path], workdir: Path) -> tuple[int, float, float, dict[str, int]]:
    """``Pipeline.run`` over the files, one after the other, into a fresh SQLite store."""
    db = workdir / f"pipe-{time.monotonic_ns()}.db"
    store = open_store(str(db))
    store.migrate()
    settings = Settings(db=str(db))
    counts: dict[str, int] = defaultdict(int)

    async def go() -> None:
        async with Fetcher(settings.http) as fetcher:
            pipe = pl.Pipeline(store, settings, fetcher)
            try:
                for path in paths:
                    outcome = await pipe.run(pl.Target(path.name, path.as_uri()))
                    if outcome.status != "ok":
                        raise RuntimeError(f"{path}: {outcome.error}")
                    counts["new"] += outcome.new
                    counts["near"] += outcome.duplicates
                    counts["exact"] += outcome.exact
            finally:
                pipe.close()

    with Stopwatch() as sw:
        asyncio.run(go())
    store.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return sum(counts.values()), sw.wall, sw.cpu, dict(counts)


def staged(bodies: list[bytes], workdir: Path) -> dict[str, float]:
    """The pipeline's stages called one by one (same calls as ``prepare``/``_ingest``)."""
    settings = Settings()
    dedup = settings.dedup
    now = datetime.now(UTC)
    t: dict[str, float] = defaultdict(float)
    parsed = []
    start = time.perf_counter()
    for index, body in enumerate(bodies):
        parsed.append((f"file:///bench/{index}.xml", parse_feed(body, {}, url=f"f{index}")))
    t["parse (parse_feed)"] = time.perf_counter() - start
    prepared = []
    for url, feed in parsed:
        articles = []
        for entry in feed.entries:
            t0 = time.perf_counter()
            cleaned = clean_any(entry.content)
            t1 = time.perf_counter()
            deduped = dedupe_paragraphs(cleaned, dedup)
            t2 = time.perf_counter()
            article_fingerprint(deduped.paragraphs)
            t3 = time.perf_counter()
            text_hash(deduped.paragraphs)
            t4 = time.perf_counter()
            clean_title(entry.title)
            canonical_url(safe_link(entry.link))
            t5 = time.perf_counter()
            articles.append(pl.prepare(entry, url, now, dedup))  # the real thing, for storing
            t["clean (clean_any: bs4 + rules)"] += t1 - t0
            t["paragraph dedupe (stems + simhash per paragraph)"] += t2 - t1
            t["article fingerprint (stems + simhash again)"] += t3 - t2
            t["text hash (tokens again)"] += t4 - t3
            t["title, link, canonical URL"] += t5 - t4
        prepared.append((url, articles))
    db = workdir / "staged.db"
    store = open_store(str(db))
    store.migrate()
    index = WindowIndex(pl.window_seconds(dedup))
    start = time.perf_counter()
    for url, articles in prepared:
        with store.transaction() as tx:
            feed_id = tx.feed_id(url, url)
            pl.store_articles(tx, feed_id, articles, dedup, index)
            tx.update_feed(feed_id, FeedUpdate(fetched_at=now, status="ok"))
    t["dedupe + store (store_articles, SQLite WAL)"] = time.perf_counter() - start
    store.close()
    # Part of that: decide_article recomputing the stems of the article it was handed.
    start = time.perf_counter()
    for _, articles in prepared:
        for article in articles:
            frozenset(dedupe.article_features(article.paragraphs))
    t["of which: decide_article re-stemming the article"] = time.perf_counter() - start
    return dict(t)


# --- what the proposals would reach (prototypes, measured on the same articles) ----------


class FastSimhash:
    """Proposal: simhash with each feature's md5 bits computed once (a row of a matrix) and a
    fingerprint as one weighted sum; the same values as ``simhash.Simhash`` (checked)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.rows = np.zeros((4096, 64), dtype=np.int64)

    def _add(self, feature: str) -> int:
        row = len(self.index)
        if row == len(self.rows):
            self.rows = np.concatenate([self.rows, np.zeros_like(self.rows)])
        digest = hashlib.md5(feature.encode("utf-8")).digest()[-8:]
        self.rows[row] = np.unpackbits(np.frombuffer(digest, dtype=np.uint8))
        self.index[feature] = row
        return row

    def ones(self, counts: Counter[str]) -> tuple[np.ndarray, int]:
        get = self.index.get
        rows = [r if (r := get(f)) is not None else self._add(f) for f in counts]
        weights = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
        return weights @ self.rows[rows], int(weights.sum())

    @staticmethod
    def value(ones: np.ndarray, total: int) -> int:
        if total == 0:
            return 0
        return int.from_bytes(np.packbits(2 * ones > total).tobytes(), "big")


def expat_entries(body: bytes) -> list[dict[str, str]]:
    """Proposal: a fast path for well-formed RSS 2.0 (expat, no feedparser): the item fields
    ``ingest`` uses. Anything unusual would fall back to feedparser."""
    wanted = {
        "title", "link", "guid", "pubDate", "description",
        "http://purl.org/rss/1.0/modules/content/ encoded",
        "http://purl.org/dc/elements/1.1/ creator",
    }  # fmt: skip
    items: list[dict[str, str]] = []
    item: dict[str, str] | None = None
    field: str | None = None
    buf: list[str] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal item, field, buf
        if name == "item":
            item = {}
        elif item is not None and field is None and name in wanted:
            field, buf = name, []

    def end(name: str) -> None:
        nonlocal item, field
        if name == "item" and item is not None:
            item["published"] = str(parsedate_to_datetime(item.get("pubDate", "")))
            items.append(item)
            item = None
        elif name == field and item is not None:
            item[name] = "".join(buf)
            field = None

    def text(data: str) -> None:
        if field is not None:
            buf.append(data)

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.Parse(body, True)
    return items


def lxml_paragraphs(markup: str) -> tuple[str, ...]:
    """Proposal: the cleaner's block walk over an lxml tree instead of a BeautifulSoup tree,
    then the same residue rules (``clean._clean_blocks``)."""
    from lxml import etree
    from lxml import html as lhtml

    from ingest import clean

    root = lhtml.fragment_fromstring(markup, create_parent="div")
    blocks: list[str] = []
    pieces: list[str] = []

    def flush() -> None:
        text = clean._normalise("".join(pieces))
        if clean._has_content(text):
            blocks.append(text)
        pieces.clear()

    walker = etree.iterwalk(root, events=("start", "end"))
    for event, element in walker:
        tag = element.tag if isinstance(element.tag, str) else ""
        if event == "start":
            if tag in clean._DROP_TAGS:
                walker.skip_subtree()
                if element.tail:
                    pieces.append(element.tail)
                continue
            if tag in clean._BLOCK_TAGS or tag == "br":
                flush()
            if element.text and tag:
                pieces.append(element.text)
        else:
            if tag in clean._BLOCK_TAGS:
                flush()
            if element.tail and element is not root:
                pieces.append(element.tail)
    flush()
    cleaned = clean._clean_blocks([clean._Block(b) for b in blocks])
    return cleaned.paragraphs


def _batched_features(paragraphs: tuple[str, ...], fast: FastSimhash) -> tuple[int, str]:
    """Per paragraph: tokens, stems (and their set, for the overlap test) and fingerprint, all
    paragraphs' bit counts in one gather; the article's fingerprint is their sum."""
    words = [arabic.tokens(text) for text in paragraphs]
    stems = [arabic.stem_tokens(w) for w in words]
    _sets = [frozenset(s) for s in stems]  # what the paragraph rule compares
    get = fast.index.get
    rows = [r if (r := get(f)) is not None else fast._add(f) for s in stems for f in s]
    counts = np.array([len(s) for s in stems], dtype=np.int64)
    joined = " ".join(w for ws in words for w in ws)
    digest = hashlib.sha256(joined.encode("utf-8")).hexdigest() if joined else ""
    if not rows:
        return 0, digest
    nonempty = counts > 0
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[nonempty]
    ones = np.add.reduceat(fast.rows[rows], starts, axis=0)
    weights = counts[nonempty]
    _paragraph_fps = np.packbits(2 * ones > weights[:, None], axis=1).view(">u8")
    return FastSimhash.value(ones.sum(axis=0), int(weights.sum())), digest


def proposals(bodies: list[bytes], stages: dict[str, float], items: int) -> dict[str, Any]:
    """Measure prototypes of the proposed changes on the same feeds; check same results."""
    settings = Settings()
    entries = [e for b in bodies for e in parse_feed(b, {}, url="bench").entries]
    out: dict[str, Any] = {}
    # Parse: expat fast path vs parse_feed.
    start = time.perf_counter()
    fast: list[dict[str, str]] = []
    fallbacks = 0
    for body in bodies:
        try:
            fast += expat_entries(body)
        except expat.ExpatError:  # not well-formed: the fast path falls back to feedparser
            fallbacks += 1
            fast += [{"title": e.title} for e in parse_feed(body, {}, url="bench").entries]
    out["parse_us"] = (time.perf_counter() - start) / items * 1e6
    out["parse_fallbacks"] = fallbacks
    out["parse_same_titles"] = sum(
        a["title"].strip() == b.title.strip() for a, b in zip(fast, entries, strict=False)
    )
    # Clean: lxml walk + the same rules vs clean_any (bs4).
    start = time.perf_counter()
    lxml_out = [lxml_paragraphs(e.content) for e in entries]
    out["clean_us"] = (time.perf_counter() - start) / items * 1e6
    current = [clean_any(e.content).paragraphs for e in entries]
    out["clean_same"] = sum(a == b for a, b in zip(lxml_out, current, strict=True))
    # Features: tokens and stems once per paragraph, cached simhash rows, article fingerprint
    # and text hash from what the paragraphs already computed.
    deduped = [dedupe_paragraphs(clean_any(e.content), settings.dedup).paragraphs for e in entries]
    fast_hash = FastSimhash()
    start = time.perf_counter()
    results = []
    for paragraphs in deduped:
        total_ones = np.zeros(64, dtype=np.int64)
        total_w = 0
        all_tokens: list[str] = []
        for text in paragraphs:
            words = arabic.tokens(text)
            counts = Counter(arabic.stem_tokens(words))
            ones, weight = fast_hash.ones(counts)
            FastSimhash.value(ones, weight)  # the paragraph's own fingerprint
            total_ones += ones
            total_w += weight
            all_tokens += words
        joined = " ".join(all_tokens)
        digest = hashlib.sha256(joined.encode("utf-8")).hexdigest() if joined else ""
        results.append((FastSimhash.value(total_ones, total_w), digest))
    out["features_us"] = (time.perf_counter() - start) / items * 1e6
    # The same, batched: one numpy gather + reduceat per article for all its paragraphs.
    start = time.perf_counter()
    batched = [_batched_features(paragraphs, fast_hash) for paragraphs in deduped]
    out["features_batched_us"] = (time.perf_counter() - start) / items * 1e6
    out["features_batched_same"] = sum(a == b for a, b in zip(batched, results, strict=True))
    out["features_same"] = sum(
        fp == article_fingerprint(p) and th == text_hash(p)
        for (fp, th), p in zip(results, deduped, strict=True)
    )
    out["items"] = len(entries)
    current_features = (
        sum(
            stages[k]
            for k in stages
            if k.startswith(("paragraph dedupe", "article fingerprint", "text hash"))
        )
        / items
        * 1e6
    )
    out["features_current_us"] = current_features
    out["parse_current_us"] = stages["parse (parse_feed)"] / items * 1e6
    out["clean_current_us"] = stages["clean (clean_any: bs4 + rules)"] / items * 1e6
    rest = sum(stages[k] for k in stages if k.startswith(("title", "dedupe + store"))) / items * 1e6
    restem = stages["of which: decide_article re-stemming the article"] / items * 1e6
    out["restem_us"] = restem
    out["rest_us"] = rest - restem  # proposal: the article carries its stem set to decide
    out["projected_us"] = (
        out["parse_us"]
        + out["clean_us"]
        + min(out["features_us"], out["features_batched_us"])
        + out["rest_us"]
    )
    return out


def profile(bodies: list[bytes], workdir: Path, out: Path | None) -> str:
    """cProfile of the stages on the main thread; returns the top of the report."""
    db = workdir / "profile.db"
    store = open_store(str(db))
    store.migrate()
    settings = Settings(db=str(db))
    index = WindowIndex(pl.window_seconds(settings.dedup))
    now = datetime.now(UTC)

    def go() -> None:
        for i, body in enumerate(bodies):
            url = f"file:///bench/{i}.xml"
            feed = parse_feed(body, {}, url=url)
            articles = [pl.prepare(e, url, now, settings.dedup) for e in feed.entries]
            with store.transaction() as tx:
                feed_id = tx.feed_id(url, url)
                pl.store_articles(tx, feed_id, articles, settings.dedup, index)
                tx.update_feed(feed_id, FeedUpdate(fetched_at=now, status="ok"))

    prof = cProfile.Profile()
    prof.enable()
    go()
    prof.disable()
    store.close()
    text = io.StringIO()
    stats = pstats.Stats(prof, stream=text)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)
    report = text.getvalue().replace(str(Path(sys.prefix)), "<venv>")
    if out is not None:
        out.write_text(report, encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=40, help="corpus feeds of 50 items")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10 feeds, 1 repetition")
    parser.add_argument("--profile-out", help="write the cProfile report here")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    if args.quick:
        args.feeds, args.reps = 10, 1
    if not have_corpus():
        print("skipped: ../shared/corpus is absent")
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="ingest-bench-pipe-"))
    try:
        paths = write_corpus_feeds(workdir / "feeds", args.feeds)
        bodies = [p.read_bytes() for p in paths]
        size_kb = sum(map(len, bodies)) / len(bodies) / 1024
        ours: list[tuple[float, float]] = []
        base: list[tuple[float, float]] = []
        counts: dict[str, int] = {}
        items = 0
        bare_parse(bodies[:2])  # warm imports and caches for both
        run_pipeline(paths[:2], workdir)
        for _ in range(args.reps):
            n, wall, cpu, counts = run_pipeline(paths, workdir)
            ours.append((n / wall, n / cpu))
            items, wall, cpu = bare_parse(bodies)
            base.append((items / wall, items / cpu))
        fast_items, fast_wall, _ = bare_parse_fast(bodies)
        ours_rate = median([r[0] for r in ours])
        base_rate = median([r[0] for r in base])
        stages = staged(bodies, workdir)
        what_if = proposals(bodies, stages, items)
        report = profile(
            bodies[: max(4, len(bodies) // 4)],
            workdir,
            Path(args.profile_out) if args.profile_out else None,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    total_stage = sum(v for k, v in stages.items() if not k.startswith("of which"))
    stage_rows = {
        name: {"seconds": sec, "us_per_article": sec / items * 1e6, "share": sec / total_stage}
        for name, sec in stages.items()
    }
    r = ratio(ours_rate, base_rate)
    rows = [
        Row(
            "1 pipeline",
            f"articles/s, parse..store, {len(paths)} feeds x 50 ({size_kb:.0f} KB each)",
            ours_rate,
            base_rate,
            "art/s",
            "feedparser.parse(bytes) defaults",
            r,
            ">= 1.0x",
            r is not None and r >= 1.0,
            f"CPU-bound: {median([o[1] for o in ours]):.0f} art/CPU-s; stored "
            f"{counts.get('new', 0)} new, {counts.get('near', 0)} near, "
            f"{counts.get('exact', 0)} exact",
        ),
        Row(
            "1 pipeline",
            "context: feedparser as ingest.parse calls it (no sanitizer, no URI resolver)",
            fast_items / fast_wall,
            base_rate,
            "items/s",
            "defaults",
            ratio(fast_items / fast_wall, base_rate),
        ),
    ]
    w = what_if
    projected = 1e6 / w["projected_us"]
    rows += [
        Row(
            "1 pipeline",
            "proposal: parse fast path (expat, RSS 2.0) vs parse_feed, us/article",
            w["parse_us"],
            w["parse_current_us"],
            "us",
            "parse_feed",
            ratio(w["parse_us"], w["parse_current_us"]),
            note=f"same titles {w['parse_same_titles']}/{w['items']}; "
            f"{w['parse_fallbacks']} of {len(bodies)} feeds not well-formed: feedparser",
        ),
        Row(
            "1 pipeline",
            "proposal: clean over an lxml tree vs a BeautifulSoup tree, us/article",
            w["clean_us"],
            w["clean_current_us"],
            "us",
            "clean_any",
            ratio(w["clean_us"], w["clean_current_us"]),
            note=f"same paragraphs {w['clean_same']}/{w['items']}",
        ),
        Row(
            "1 pipeline",
            "proposal: stems once per paragraph + cached simhash rows, us/article",
            w["features_us"],
            w["features_current_us"],
            "us",
            "paragraph dedupe + article fp + text hash",
            ratio(w["features_us"], w["features_current_us"]),
            note=f"same fingerprint and text hash {w['features_same']}/{w['items']} "
            "(paragraph comparisons not included: about 2% of the profile)",
        ),
        Row(
            "1 pipeline",
            "proposal: the same, batched per article (one numpy gather), us/article",
            w["features_batched_us"],
            w["features_current_us"],
            "us",
            "paragraph dedupe + article fp + text hash",
            ratio(w["features_batched_us"], w["features_current_us"]),
            note=f"same fingerprint and text hash {w['features_batched_same']}/{w['items']}",
        ),
        Row(
            "1 pipeline",
            "projected pipeline with all three (store as measured), art/s",
            projected,
            base_rate,
            "art/s",
            "feedparser.parse(bytes) defaults",
            ratio(projected, base_rate),
            ">= 1.0x",
            note=f"{w['projected_us']:.0f} us/article = parse {w['parse_us']:.0f} + clean "
            f"{w['clean_us']:.0f} + features "
            f"{min(w['features_us'], w['features_batched_us']):.0f} + store and the rest "
            f"{w['rest_us']:.0f} (store minus the {w['restem_us']:.0f} us decide_article spends "
            "re-stemming the article, which would carry its stem set); a projection from parts, "
            "not a run",
        ),
    ]
    print()
    print(f"where the time goes (stages called one by one, {items} articles):")
    for name, info in sorted(stage_rows.items(), key=lambda kv: -kv[1]["seconds"]):
        print(f"  {name:52s} {info['us_per_article']:7.0f} us/article  {info['share']:5.1%}")
    print()
    print("\n".join(report.splitlines()[:70]))
    extra: dict[str, Any] = {
        "ours_runs": ours,
        "baseline_runs": base,
        "stages": stage_rows,
        "proposals": what_if,
        "feed_kb": size_kb,
        "profile_top": report.splitlines()[:120],
    }
    write_rows(rows, extra, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
