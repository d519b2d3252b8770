"""Benchmark 2: near-duplicate lookup among 1,000,000 stored articles (issue 12, goal G4).

Fingerprints come from real text. Every corpus paragraph is analysed once with
``fingerprint.analyse_paragraph`` (the pipeline's own normalisation, tokens and stems); a
stored "article" is a mix of 3 to 8 real paragraphs of random corpus articles of one category
(sharing its vocabulary, as news does, but not copies of each other: the window holds
canonical articles). Its fingerprint is the 64-bit simhash of all its stems (term frequency),
computed with numpy from each stem's md5 bits exactly as ``simhash.Simhash`` does (checked:
a sample equals ``fingerprint.article_features(...).simhash``), so a million cost seconds;
its stored ``features`` are its distinct stems, as the pipeline writes them. Real
fingerprints cluster (common news vocabulary), unlike random numbers.

Queries (half each): an edited copy of a stored article (last paragraph cut, or a paragraph
added), which should be found, and a fresh mix that is not stored. All stored articles lie
inside the query's 7-day window: a 1,000,000-article window means about 143,000 canonical
articles a day, the output of several thousand busy feeds after deduplication.

Ours (what ``StoryWriter.candidates`` does): ``WindowIndex.query(fp, ts,
article_max_distance)`` (numpy XOR and popcount over the window) and ``tx.stored(hit ids)``
(the hits' facts: fingerprint, time, stem set, URL, text hash, by primary key), on SQLite and
on PostgreSQL, each in its own process after ``pipeline.warm_index`` (batched) loaded the
window: its memory peak while warming is the process's peak RSS (VmHWM) when warming ends.
The stores have the project's schema (``migrate``) and one row per article with its real
paragraphs (about 3.6 KB of JSON) and stem set; ``search_text`` and ``para_keys`` are left
empty (this path does not read them). Context: ``Decider.decide`` on the facts read, a cProfile
of 200 lookups, and a prototype that reads only the 32 nearest hits. Baseline:
``simhash.SimhashIndex`` with k=3 (its documented use) on the same fingerprints, in its own
process.

Usage: .venv/bin/python bench/bench_lookup.py [--sizes 1000000] [--queries 1000]
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import hashlib
import io
import json
import os
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import (
    PG_URL,
    PYTHON,
    Row,
    have_corpus,
    load_corpus,
    median,
    percentile,
    pg_available,
    pg_create_schema,
    pg_drop_schema,
    ratio,
    rss_mb,
    write_rows,
)

from ingest import arabic, fingerprint
from ingest.fingerprint import FINGERPRINT_VERSION
from ingest.settings import DedupSettings
from ingest.store import open_store

T0 = 1_790_000_000  # window start (epoch seconds); the window is 7 days after it
WEEK = 7 * 86400
NEAREST = 32  # prototype: read at most this many nearest hits
PROFILED = 200  # lookups under cProfile (after the timed ones)
ROUNDS = 3  # passes over the lookups (see child_project)
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ingest-bench"


# --- realistic fingerprints ------------------------------------------------------------


def _bits(stem: str) -> np.ndarray:
    # simhash 2.1.2: the last 8 bytes of md5(utf-8), unpacked most significant bit first.
    digest = hashlib.md5(stem.encode("utf-8")).digest()[-8:]
    return np.unpackbits(np.frombuffer(digest, dtype=np.uint8))


def paragraph_features(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per corpus paragraph: text, stem weight, per-bit ones and distinct stems (cached by
    fingerprint version and stemmer)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    key = hashlib.blake2b(
        f"{FINGERPRINT_VERSION}-{len(records)}-{arabic.STEMMER_ID}".encode(),
        digest_size=6,
    ).hexdigest()
    cache, stems_cache = CACHE / f"paragraphs-{key}.npz", CACHE / f"stems-{key}.txt.gz"
    texts: list[str] = []
    owner: list[int] = []
    for index, record in enumerate(records):
        for text in (record.get("body") or "").split("\n"):
            if text.strip():
                texts.append(text.strip())
                owner.append(index)
    if cache.exists() and stems_cache.exists():
        data = np.load(cache)
        with gzip.open(stems_cache, "rt", encoding="utf-8") as handle:
            sets = [frozenset(line.split()) for line in handle.read().split("\n")[: len(texts)]]
        return {"texts": texts, "owner": np.array(owner), "ones": data["ones"], "w": data["w"],
                "sets": sets}  # fmt: skip
    bits: dict[str, np.ndarray] = {}
    ones = np.zeros((len(texts), 64), dtype=np.int32)
    weights = np.zeros(len(texts), dtype=np.int32)
    sets = []
    for row, text in enumerate(texts):
        stems = fingerprint.analyse_paragraph(text).stems
        for stem in stems:
            vector = bits.get(stem)
            if vector is None:
                vector = bits[stem] = _bits(stem)
            ones[row] += vector
        weights[row] = len(stems)
        sets.append(frozenset(stems))
    np.savez(cache, ones=ones, w=weights)
    with gzip.open(stems_cache, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(" ".join(sorted(s)) for s in sets))
    return {"texts": texts, "owner": np.array(owner), "ones": ones, "w": weights, "sets": sets}


def simhash_of(ones: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Fingerprints (uint64) from summed per-bit ones and total weights, as simhash does."""
    packed = np.packbits(2 * ones > weights[:, None], axis=1)
    fps = packed.view(">u8").ravel().astype(np.uint64)
    fps[weights == 0] = 0
    return fps


class Mixer:
    """Articles made of real paragraphs (see the module docstring)."""

    def __init__(self, records: list[dict[str, Any]], feats: dict[str, Any], seed: int) -> None:
        self.rng = random.Random(seed)
        self.feats = feats
        self.by_article: list[list[int]] = [[] for _ in records]
        for row, article in enumerate(feats["owner"].tolist()):
            self.by_article[article].append(row)
        self.articles = [i for i, rows in enumerate(self.by_article) if rows]
        self.by_category: dict[str, list[int]] = {}
        for i in self.articles:
            self.by_category.setdefault(records[i]["category"], []).append(i)
        self.category = [r["category"] for r in records]
        self.titles = [r["title"] or "" for r in records]
        self._pjson: list[str] = []

    def paragraph_json(self) -> list[str]:
        if not self._pjson:
            self._pjson = [json.dumps(t, ensure_ascii=False) for t in self.feats["texts"]]
        return self._pjson

    def mix(self) -> tuple[int, list[int]]:
        """3 to 8 paragraphs of random articles of one category; returns (first article, rows)."""
        rng = self.rng
        base = rng.choice(self.articles)
        pool = self.by_category[self.category[base]]
        rows = [rng.choice(self.by_article[base])]
        for _ in range(rng.randint(2, 7)):
            rows.append(rng.choice(self.by_article[rng.choice(pool)]))
        return base, rows

    def edited(self, rows: list[int]) -> list[int]:
        if len(rows) >= 3 and self.rng.random() < 0.5:
            return rows[:-1]  # the last paragraph cut
        other = self.rng.choice(self.articles)
        return [*rows, self.rng.choice(self.by_article[other])]  # a paragraph added

    def stems(self, rows: list[int]) -> frozenset[str]:
        sets = self.feats["sets"]
        return frozenset().union(*(sets[r] for r in rows))

    def features_text(self, rows: list[int]) -> str:
        return fingerprint.features_text(self.stems(rows))

    def fingerprints(self, mixes: list[list[int]]) -> np.ndarray:
        out = np.empty(len(mixes), dtype=np.uint64)
        for start in range(0, len(mixes), 50_000):
            chunk = mixes[start : start + 50_000]
            flat = np.fromiter((r for m in chunk for r in m), dtype=np.int64)
            offsets = np.cumsum([0] + [len(m) for m in chunk[:-1]])
            ones = np.add.reduceat(self.feats["ones"][flat], offsets, axis=0)
            weights = np.add.reduceat(self.feats["w"][flat], offsets)
            out[start : start + len(chunk)] = simhash_of(ones, weights)
        return out

    def check(self, mixes: list[list[int]], fps: np.ndarray) -> int:
        """How many of ``mixes`` get the project's own fingerprint (must be all)."""
        texts = self.feats["texts"]
        same = 0
        for m, fp in zip(mixes, fps.tolist(), strict=True):
            features = fingerprint.article_features(fingerprint.analyse([texts[r] for r in m]))
            same += features.simhash == int(fp) and features.stems == self.stems(m)
        return same


# --- stores ----------------------------------------------------------------------------

COLUMNS = (
    "id, feed_id, guid, url, canonical_url, title, published, fetched, ts, paragraphs, "
    "removed, simhash, fp_version, text_hash, content_hash, features, seq"
)


def _rows(mixer: Mixer, mixes: list[list[int]], bases: list[int], fps: np.ndarray, ts: np.ndarray):  # type: ignore[no-untyped-def]
    """Article rows: the mix's real paragraphs as ``json.dumps`` writes them, its stem set."""
    pjson = mixer.paragraph_json()
    signed = fps.view(np.int64).tolist()
    for i, (rows, base) in enumerate(zip(mixes, bases, strict=True)):
        published = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(ts[i])))
        yield (
            i + 1,
            1,
            f"bench-{i}",
            f"https://bench.example/{i}",
            f"https://bench.example/{i}",
            mixer.titles[base],
            published,
            published,
            int(ts[i]),
            "[" + ", ".join([pjson[r] for r in rows]) + "]",
            "[]",
            signed[i],
            FINGERPRINT_VERSION,
            f"{i:064x}",
            f"{i:032x}",
            mixer.features_text(rows),
            i + 1,
        )


def _copy_text(value: object) -> str:
    """A value as COPY's text format writes it (``str.translate`` with a mapping walks a
    non-ASCII string character by character: 110 us against 2 us for 1 KB of Arabic)."""
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
        text = text.replace("\r", "\\r")
    return text


def build_sqlite(path: Path, rows, count: int) -> float:  # type: ignore[no-untyped-def]
    import sqlite3

    started = time.perf_counter()
    store = open_store(str(path))
    store.migrate()
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")  # a throw-away bench store
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO feeds (id, url, name, host) "
        "VALUES (1, 'https://bench.example/feed', 'bench', 'bench.example')"
    )
    # Secondary indexes are dropped for the load and made again after it (their own SQL).
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'articles' "
        "AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    marks = ",".join("?" * len(COLUMNS.split(",")))
    conn.executemany(f"INSERT INTO articles ({COLUMNS}) VALUES ({marks})", rows)
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("UPDATE ingest_counters SET value = ?", (count,))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - started


def build_postgres(url: str, rows, count: int) -> float:  # type: ignore[no-untyped-def]
    """The project's schema (``migrate``), rows loaded with COPY; secondary indexes are dropped
    for the load and rebuilt after it with their own definitions (faster than row by row)."""
    import psycopg

    started = time.perf_counter()
    store = open_store(url)
    store.migrate()
    store.close()
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO feeds (id, url, name, host) VALUES "
            "(1, 'https://bench.example/feed', 'bench', 'bench.example')"
        )
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'articles' AND indexname <> 'articles_pkey'"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        with conn.cursor() as cur, cur.copy(f"COPY articles ({COLUMNS}) FROM STDIN") as copy:
            chunk: list[str] = []
            for row in rows:
                chunk.append("\t".join(_copy_text(v) for v in row))
                if len(chunk) >= 5000:
                    copy.write(("\n".join(chunk) + "\n").encode("utf-8"))
                    chunk = []
            if chunk:
                copy.write(("\n".join(chunk) + "\n").encode("utf-8"))
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("UPDATE ingest_counters SET value = %s", (count,))
        conn.execute("SELECT setval(pg_get_serial_sequence('articles', 'id'), %s)", (count,))
        conn.commit()
        conn.execute("ANALYZE articles")
        conn.commit()
    return time.perf_counter() - started


# --- contenders (each in its own process) ----------------------------------------------

SCAN_C = r"""
#include <stdint.h>
#include <stddef.h>
/* The positions of the fingerprints within max_distance bits of fp whose time lies within
   window of at: XOR, popcount, compare and the time test fused in one pass. */
size_t scan(const uint64_t *fps, const int64_t *ts, size_t n, uint64_t fp, int64_t at,
            int64_t window, int max_distance, int64_t *out, size_t cap) {
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        if (__builtin_popcountll(fps[i] ^ fp) <= max_distance) {
            int64_t d = ts[i] - at;
            if (d <= window && d >= -window && found < cap) out[found++] = (int64_t)i;
        }
    }
    return found;
}
"""


def compile_scan(workdir: Path) -> str:
    """Prototype: the window scan as one compiled loop (gcc, ctypes); ``"-"`` without gcc."""
    source, library = workdir / "scan.c", workdir / "libscan.so"
    source.write_text(SCAN_C)
    done = subprocess.run(
        ["gcc", "-O2", "-march=native", "-shared", "-fPIC", "-o", str(library), str(source)],
        capture_output=True, check=False,
    )  # fmt: skip
    return str(library) if done.returncode == 0 and library.exists() else "-"


def _compiled_scan(library: str, index: Any, window: int) -> Any:
    """A ``query(fp, ts, max_distance)`` like ``WindowIndex.query`` over the index's arrays
    (read once they are built), by the compiled loop; ``None`` without the library."""
    import ctypes

    if library == "-":
        return None
    lib = ctypes.CDLL(library)
    lib.scan.restype = ctypes.c_size_t
    lib.scan.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint64,
                         ctypes.c_int64, ctypes.c_int64, ctypes.c_int, ctypes.c_void_p,
                         ctypes.c_size_t]  # fmt: skip
    len(index)
    fps, ts, ids = index._fps, index._ts, index._ids  # bench-only access to the arrays
    out = np.empty(len(fps), dtype=np.int64)

    def query(fp: int, at: int, max_distance: int) -> list[tuple[int, int]]:
        count = lib.scan(fps.ctypes.data, ts.ctypes.data, len(fps), fp, at, window,
                         max_distance, out.ctypes.data, len(out))  # fmt: skip
        hit = out[:count]
        dist = np.bitwise_count(fps[hit] ^ np.uint64(fp))
        found = zip(ids[hit].tolist(), dist.tolist(), strict=True)
        return sorted(found, key=lambda h: (h[1], h[0]))

    return query


def child_project(
    db_url: str, queries: Path, max_distance: int, library: str = "-"
) -> dict[str, Any]:
    """``warm_index`` from the store, then per query: ``WindowIndex.query`` + ``tx.stored``
    (+ ``Decider.decide`` as context; + the prototypes)."""
    from ingest.decide import Decider
    from ingest.fingerprint import WindowIndex
    from ingest.models import Stored
    from ingest.pipeline import warm_index

    base_rss = rss_mb()[0]
    store = open_store(db_url)
    data = np.load(queries, allow_pickle=False)
    dedup = DedupSettings()
    index = WindowIndex(dedup.window_s)
    now = datetime.fromtimestamp(T0 + WEEK, UTC)
    started = time.perf_counter()
    warm_index(store, index, now, dedup)
    len(index)  # the rows loaded become the arrays
    warm_s = time.perf_counter() - started
    after_warm, warm_peak = rss_mb()
    decider = Decider(dedup)
    fast_query = _compiled_scan(library, index, index.window_s)
    stems = [frozenset(s.split()) for s in data["stems"].tolist()]
    items = [
        Stored(id=0, root=0, feed_id=2, simhash=int(fp), dedup_ts=int(ts), stems=s,
               text_hash=f"query-{i}")
        for i, (fp, ts, s) in enumerate(zip(data["fps"].tolist(), data["ts"].tolist(), stems,
                                            strict=True))
    ]  # fmt: skip
    expected = data["expected"].tolist()
    n = len(items)
    # ROUNDS passes over all the lookups, round robin: a lookup's time is also kept as the best
    # of its passes, which drops the pauses where another process had the core (the machine is
    # shared) but keeps what the lookup itself costs; 1,000 other lookups run in between.
    scan = [[0.0] * n for _ in range(ROUNDS)]
    fetch = [[0.0] * n for _ in range(ROUNDS)]
    decide = [[0.0] * n for _ in range(ROUNDS)]
    capped = [[0.0] * n for _ in range(ROUNDS)]
    fast = [[0.0] * n for _ in range(ROUNDS)]
    fast_same = 0
    hits: list[int] = []
    found = 0
    same_verdict = 0
    with store.transaction() as tx:
        for rnd in range(ROUNDS):
            for q, (item, want) in enumerate(zip(items, expected, strict=True)):
                t0 = time.perf_counter()
                near = index.query(item.simhash, item.dedup_ts, max_distance)
                t1 = time.perf_counter()
                facts = tx.stored([i for i, _ in near])
                t2 = time.perf_counter()
                decision = decider.decide(item, facts)
                t3 = time.perf_counter()
                nearest = tx.stored([i for i, _ in near[:NEAREST]])
                capped[rnd][q] = time.perf_counter() - t3
                scan[rnd][q], fetch[rnd][q], decide[rnd][q] = t1 - t0, t2 - t1, t3 - t2
                if fast_query is not None:
                    t4 = time.perf_counter()
                    quick = fast_query(item.simhash, item.dedup_ts, max_distance)
                    tx.stored([i for i, _ in quick[:NEAREST]])
                    fast[rnd][q] = time.perf_counter() - t4
                    fast_same += rnd == 0 and quick == near
                if rnd == 0:
                    hits.append(len(near))
                    found += want > 0 and any(f.id == want for f in facts)
                    same_verdict += decider.decide(item, nearest).verdict == decision.verdict
        profiler = cProfile.Profile()
        profiler.enable()
        for item in items[:PROFILED]:
            near = index.query(item.simhash, item.dedup_ts, max_distance)
            tx.stored([i for i, _ in near])
        profiler.disable()
    store.close()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(12)
    rss, peak = rss_mb()
    return {
        "indexed": len(index),
        "warm_s": warm_s,
        "total_ms": [(a + b) * 1000 for a, b in zip(scan[0], fetch[0], strict=True)],
        "scan_ms": [x * 1000 for x in scan[0]],
        "fetch_ms": [x * 1000 for x in fetch[0]],
        "decide_ms": [x * 1000 for x in decide[0]],
        "capped_fetch_ms": [x * 1000 for x in capped[0]],
        "best_total_ms": [
            min(scan[r][q] + fetch[r][q] for r in range(ROUNDS)) * 1000 for q in range(n)
        ],
        "best_scan_ms": [min(scan[r][q] for r in range(ROUNDS)) * 1000 for q in range(n)],
        "best_fetch_ms": [min(fetch[r][q] for r in range(ROUNDS)) * 1000 for q in range(n)],
        "best_decide_ms": [min(decide[r][q] for r in range(ROUNDS)) * 1000 for q in range(n)],
        "best_fast_ms": [min(fast[r][q] for r in range(ROUNDS)) * 1000 for q in range(n)]
        if fast_query is not None
        else None,
        "fast_same_hits": fast_same,
        "best_capped_fetch_ms": [min(capped[r][q] for r in range(ROUNDS)) * 1000 for q in range(n)],
        "capped_same_verdict": same_verdict,
        "hits": hits,
        "found_expected": found,
        "expected": sum(1 for e in expected if e > 0),
        "rss_base_mb": base_rss,
        "rss_after_warm_mb": after_warm,
        "warm_peak_mb": warm_peak,
        "rss_mb": rss,
        "peak_mb": peak,
        "profile": text.getvalue().replace(str(Path(sys.prefix)), "<venv>").splitlines()[:40],
    }


def child_warm_flushed(db_url: str) -> dict[str, Any]:
    """Prototype: ``warm_index`` with the index's pending rows made into arrays after every
    batch (``len(index)`` flushes them), instead of a dict holding every row until the first
    query; its peak RSS."""
    from ingest.fingerprint import BUCKET_S, WindowIndex
    from ingest.pipeline import hot_days

    base_rss = rss_mb()[0]
    store = open_store(db_url)
    dedup = DedupSettings()
    index = WindowIndex(dedup.window_s)
    days = hot_days(datetime.fromtimestamp(T0 + WEEK, UTC), dedup)
    started = time.perf_counter()
    index.load(days, ())
    for rows in store.fingerprints_between(
        days.start * BUCKET_S, days.stop * BUCKET_S, FINGERPRINT_VERSION
    ):
        index.load(days, rows)
        len(index)
    seconds = time.perf_counter() - started
    rss, peak = rss_mb()
    store.close()
    return {"indexed": len(index), "warm_s": seconds, "rss_base_mb": base_rss, "rss_mb": rss,
            "peak_mb": peak}  # fmt: skip


def child_simhash(fps_path: Path, queries: Path, k: int, max_queries: int) -> dict[str, Any]:
    from simhash import Simhash, SimhashIndex

    base_rss = rss_mb()[0]
    fps = np.load(fps_path)["fps"].tolist()
    data = np.load(queries)
    started = time.perf_counter()
    index = SimhashIndex([(str(i + 1), Simhash(fp)) for i, fp in enumerate(fps)], f=64, k=k)
    build_s = time.perf_counter() - started
    del fps
    rss = rss_mb()[0]
    total: list[float] = []
    hits: list[int] = []
    found_expected = 0
    expected = data["expected"].tolist()[:max_queries]
    queries = data["fps"].tolist()[:max_queries]
    best = [float("inf")] * len(queries)
    for rnd in range(ROUNDS):  # as child_project: the best of the passes, and the first alone
        for q, (fp, want) in enumerate(zip(queries, expected, strict=True)):
            t0 = time.perf_counter()
            found = index.get_near_dups(Simhash(fp))
            spent = time.perf_counter() - t0
            best[q] = min(best[q], spent)
            if rnd == 0:
                total.append(spent)
                hits.append(len(found))
                found_expected += want > 0 and str(want) in found
    return {
        "build_s": build_s,
        "total_ms": [x * 1000 for x in total],
        "best_total_ms": [x * 1000 for x in best],
        "hits": hits,
        "found_expected": found_expected,
        "expected": sum(1 for e in expected if e > 0),
        "rss_base_mb": base_rss,
        "rss_mb": rss,
        "peak_mb": rss_mb()[1],
    }


def run_child(kind: str, *args: str, timeout: float = 900) -> dict[str, Any]:
    out = subprocess.run(
        [PYTHON, __file__, "--child", kind, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- driver ----------------------------------------------------------------------------


def summary(result: dict[str, Any], key: str = "total_ms") -> dict[str, float]:
    values = result[key]
    return {"median": median(values), "p99": percentile(values, 99), "max": max(values)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--simhash-queries", type=int, default=300)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--pg", default=PG_URL)
    parser.add_argument("--quick", action="store_true", help="20,000 articles, 300 queries")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind, *rest = args.child
        if kind == "project":
            result = child_project(rest[0], Path(rest[1]), int(rest[2]), rest[3])
        elif kind == "warm":
            result = child_warm_flushed(rest[0])
        else:
            result = child_simhash(Path(rest[0]), Path(rest[1]), int(rest[2]), int(rest[3]))
        print(json.dumps(result))
        return 0

    if args.quick:
        args.sizes, args.queries, args.simhash_queries = "20000", 300, 100
    if not have_corpus():
        print("skipped: ../shared/corpus is absent")
        write_rows([Row("2 lookup", "skipped: ../shared/corpus is absent", None)], {},
                   args.json)  # fmt: skip
        return 0
    with_pg = not args.no_postgres and pg_available(args.pg)
    sizes = [int(s) for s in args.sizes.split(",")]
    max_distance = DedupSettings().article_max_distance
    records = load_corpus()
    t0 = time.perf_counter()
    feats = paragraph_features(records)
    feature_s = time.perf_counter() - t0
    mixer = Mixer(records, feats, args.seed)
    largest = max(sizes)
    t0 = time.perf_counter()
    stored = [mixer.mix() for _ in range(largest)]
    bases = [b for b, _ in stored]
    mixes = [m for _, m in stored]
    fps = mixer.fingerprints(mixes)
    mix_s = time.perf_counter() - t0
    rng = np.random.default_rng(args.seed)
    ts = rng.integers(T0, T0 + WEEK, size=largest)
    sample = random.Random(args.seed).sample(range(largest), 200)
    identical = mixer.check([mixes[i] for i in sample], fps[sample])
    print(
        f"fingerprints: {largest} mixes in {mix_s:.1f} s (+{feature_s:.1f} s paragraph stems); "
        f"{identical}/200 identical to fingerprint.article_features (fingerprint and stems)",
        flush=True,
    )
    # Distances between unrelated stored fingerprints: how much real ones cluster.
    half = min(20000, largest // 2)
    unrelated = np.bitwise_count(fps[:half] ^ fps[half : 2 * half])
    cluster = {
        "p1": float(np.percentile(unrelated, 1)),
        "p50": float(np.median(unrelated)),
        "share_within_max": float(np.mean(unrelated <= max_distance)),
    }

    workdir = Path(tempfile.mkdtemp(prefix="ingest-bench-lookup-"))
    library = compile_scan(workdir)
    rows: list[Row] = []
    extra: dict[str, Any] = {"cluster": cluster, "identical_of_200": identical, "sizes": {}}
    try:
        for size in sizes:
            queries = write_queries(workdir, mixer, mixes, size, args.queries)
            fps_path = workdir / f"fps-{size}.npz"
            np.savez(fps_path, fps=fps[:size])
            results: dict[str, Any] = {}
            build: dict[str, float] = {}
            db = workdir / f"lookup-{size}.db"

            def rows_of(size: int = size):  # type: ignore[no-untyped-def]
                return _rows(mixer, mixes[:size], bases[:size], fps[:size], ts[:size])

            # The SQLite store is built in a forked process while this one builds the
            # PostgreSQL one: nothing is timed during the builds, and they are most of the run.
            sqlite_build = _fork(lambda db=db, size=size: build_sqlite(db, rows_of(size), size))
            schema = f"bench_lookup_{os.getpid()}_{size}"
            pg_url = None
            try:
                if with_pg:
                    pg_url = pg_create_schema(args.pg, schema)
                    build["postgres"] = build_postgres(pg_url, rows_of(size), size)
                build["sqlite"] = sqlite_build()
                print(f"{size}: stores built {build}", flush=True)
                results["sqlite"] = run_child(
                    "project", f"sqlite:///{db}", str(queries), str(max_distance), library
                )
                results["sqlite"]["flushed"] = run_child("warm", f"sqlite:///{db}")
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
                if pg_url is not None:
                    results["postgres"] = run_child(
                        "project", pg_url, str(queries), str(max_distance), library
                    )
                    results["postgres"]["flushed"] = run_child("warm", pg_url)
            finally:
                if pg_url is not None:
                    pg_drop_schema(args.pg, schema)
            results["simhash_k3"] = run_child(
                "simhash", str(fps_path), str(queries), "3", str(args.simhash_queries)
            )
            extra["sizes"][size] = {"build_s": build, "results": results}
            rows += size_rows(size, results, with_pg)
            for backend in ("sqlite", "postgres"):
                if backend in results:
                    print(f"--- profile of {PROFILED} lookups ({backend}, {size}) ---")
                    print("\n".join(results[backend]["profile"]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"unrelated stored fingerprints: median distance {cluster['p50']:.0f} bits, p1 "
        f"{cluster['p1']:.0f}; {cluster['share_within_max']:.3%} of pairs within "
        f"{max_distance} bits"
    )
    write_rows(rows, extra, args.json)
    return 0


def write_queries(
    workdir: Path, mixer: Mixer, mixes: list[list[int]], size: int, count: int
) -> Path:
    """Half edited copies of stored articles (``expected`` = the article's id), half fresh."""
    q_fps: list[int] = []
    q_stems: list[str] = []
    expected: list[int] = []
    for qi in range(count):
        if qi % 2 == 0:
            target = mixer.rng.randrange(size)
            rows = mixer.edited(mixes[target])
            expected.append(target + 1)
        else:
            rows = mixer.mix()[1]
            expected.append(0)
        q_fps.append(int(mixer.fingerprints([rows])[0]))
        q_stems.append(mixer.features_text(rows))
    queries = workdir / f"queries-{size}.npz"
    np.savez(
        queries,
        fps=np.array(q_fps, dtype=np.uint64),
        ts=np.full(count, T0 + WEEK, dtype=np.int64),
        expected=np.array(expected, dtype=np.int64),
        stems=np.array(q_stems, dtype=np.str_),
    )
    return queries


def _fork(build: Any) -> Any:
    """Run ``build()`` (returning seconds) in a forked process; returns a function that waits
    for it and returns its result."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    queue = context.SimpleQueue()
    process = context.Process(target=lambda: queue.put(build()))
    process.start()

    def wait() -> float:
        seconds = float(queue.get())
        process.join()
        return seconds

    return wait


def size_rows(size: int, results: dict[str, Any], with_pg: bool) -> list[Row]:
    rows = []
    label = f"{size // 1000:,}k" if size < 1_000_000 else f"{size // 1_000_000}M"
    big = size >= 1_000_000
    k3 = results["simhash_k3"]
    k3s = summary(k3, "best_total_ms")
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    for backend in ("sqlite", "postgres"):
        if backend not in results:
            if backend == "postgres" and not with_pg:
                rows.append(Row("2 lookup", "skipped (PostgreSQL): not reachable or "
                                "--no-postgres", None, goal="G4"))  # fmt: skip
            continue
        res = results[backend]
        s = summary(res, "best_total_ms")
        raw = summary(res)
        scan = summary(res, "best_scan_ms")
        fetch = summary(res, "best_fetch_ms")
        decide = summary(res, "best_decide_ms")
        rows.append(
            Row(
                "2 lookup",
                f"{label} lookup p99 ms: WindowIndex.query + tx.stored ({names[backend]}), "
                f"best of {ROUNDS} passes",
                s["p99"],
                k3s["p99"],
                "ms",
                "SimhashIndex k=3",
                ratio(s["p99"], k3s["p99"]),
                "< 2 ms" if big else "",
                (s["p99"] < 2.0) if big else None,
                f"median {s['median']:.2f} ms; query median {scan['median']:.2f} / p99 "
                f"{scan['p99']:.2f} ms, tx.stored median {fetch['median']:.2f} / p99 "
                f"{fetch['p99']:.2f} ms; first pass alone: p99 {raw['p99']:.2f} ms, median "
                f"{raw['median']:.2f} ms; hits median {median(res['hits']):.0f}, p99 "
                f"{percentile(res['hits'], 99):.0f}, max {max(res['hits'])}; edited copies found "
                f"{res['found_expected']}/{res['expected']}; then Decider.decide median "
                f"{decide['median']:.2f} / p99 {decide['p99']:.2f} ms",
                goal="G4",
            )
        )
        rows.append(
            Row(
                "2 lookup",
                f"{label} peak RSS MB while warming (warm_index, batched) ({names[backend]})",
                res["warm_peak_mb"],
                k3["rss_mb"],
                "MB",
                "SimhashIndex k=3",
                ratio(res["warm_peak_mb"], k3["rss_mb"]),
                "< 300 MB" if big else "",
                (res["warm_peak_mb"] < 300) if big else None,
                f"{res['indexed']:,} fingerprints warmed in {res['warm_s']:.1f} s; RSS after "
                f"warming {res['rss_after_warm_mb']:.0f} MB, imports alone "
                f"{res['rss_base_mb']:.0f} MB; at the end {res['rss_mb']:.0f} MB",
                goal="G4",
            )
        )
        if res.get("best_fast_ms"):
            quick = summary(res, "best_fast_ms")
            rows.append(
                Row(
                    "2 lookup",
                    f"{label} prototype: the scan as one compiled loop + tx.stored of the "
                    f"{NEAREST} nearest hits, p99 ms ({names[backend]})",
                    quick["p99"],
                    s["p99"],
                    "ms",
                    "WindowIndex.query + tx.stored",
                    ratio(quick["p99"], s["p99"]),
                    "< 2 ms" if big else "",
                    (quick["p99"] < 2.0) if big else None,
                    f"best of {ROUNDS}; median {quick['median']:.2f} ms; the loop (C through "
                    f"ctypes, gcc -O2 -march=native: XOR, popcount, compare and the time test in "
                    f"one pass) gave the same hits in {res['fast_same_hits']}/{len(res['hits'])} "
                    "lookups; numpy makes four passes with a temporary array each",
                )
            )
        flushed = res["flushed"]
        rows.append(
            Row(
                "2 lookup",
                f"{label} prototype: peak RSS MB while warming, rows made into arrays after "
                f"every batch ({names[backend]})",
                flushed["peak_mb"],
                res["warm_peak_mb"],
                "MB",
                "warm_index",
                ratio(flushed["peak_mb"], res["warm_peak_mb"]),
                note=f"{flushed['indexed']:,} fingerprints in {flushed['warm_s']:.1f} s; "
                f"WindowIndex.load keeps every row of the batches in a dict (id -> (fingerprint, "
                f"time)) until the first query; len(index) after each load turns them into the "
                f"arrays",
            )
        )
        capped = summary(res, "best_capped_fetch_ms")
        rows.append(
            Row(
                "2 lookup",
                f"{label} prototype: tx.stored of the {NEAREST} nearest hits only, p99 ms "
                f"({names[backend]})",
                capped["p99"],
                fetch["p99"],
                "ms",
                "tx.stored of every hit",
                ratio(capped["p99"], fetch["p99"]),
                note=f"best of {ROUNDS}; median {capped['median']:.2f} vs {fetch['median']:.2f} "
                f"ms; {sum(h > NEAREST for h in res['hits'])} of {len(res['hits'])} lookups had "
                f"more hits; same verdict in {res['capped_same_verdict']}/{len(res['hits'])}",
            )
        )
    rows.append(
        Row(
            "2 lookup",
            f"{label} SimhashIndex k=3: median ms",
            k3s["median"],
            None,
            "ms",
            note=f"best of {ROUNDS}: p99 {k3s['p99']:.2f} ms (first pass alone "
            f"{summary(k3)['p99']:.2f}); built in {k3['build_s']:.1f} s; finds only <= 3 bits: "
            f"edited copies found {k3['found_expected']}/{k3['expected']}",
        )
    )
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
