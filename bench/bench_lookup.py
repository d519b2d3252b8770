"""Benchmark 2: near-duplicate lookup among 100,000 and 1,000,000 stored articles.

Fingerprints come from real text. Every corpus paragraph is reduced once to its stem counts
(``ingest.arabic.stems``, the features ``ingest`` uses); a stored "article" is a mix of real
paragraphs: the first 2 to 8 paragraphs of a random corpus article plus 0 to 3 paragraphs of
other articles of the same category (a story with wire paragraphs spliced in, as aggregators
publish). Its fingerprint is the 64-bit simhash of the concatenated stems, computed with numpy
from each stem's md5 bits exactly as ``simhash.Simhash`` does (checked against
``ingest.dedupe.article_fingerprint`` on a sample: identical values), so a million cost seconds
instead of minutes. Real fingerprints cluster (common news vocabulary), unlike random numbers.

Queries (half of each kind): an edited copy of a stored article (last paragraph cut, or a
paragraph added), which must be found, and a fresh mix that is not stored. All stored articles
lie inside the query's 7-day window: a 1,000,000-article window means about 143,000 canonical
articles a day, the output of several thousand busy feeds after deduplication.

Ours (the project's path): ``WindowIndex.query(fp, ts, article_max_distance)`` (numpy XOR and
popcount over the window) and then ``Tx.candidates(hit ids)`` (the hit rows fetched by primary
key, with their paragraphs) on SQLite and on PostgreSQL. The stores hold one row per article
with its real paragraphs (about 3 KB of JSON each) and the project's schema and indexes; band
rows are left out, since this lookup path does not read them. Baselines: ``simhash.SimhashIndex``
with k=3 (its documented use) and with k=article_max_distance (the project's recall) on the same
fingerprints. Each contender runs in its own process, so its memory (RSS) is its own.

Usage: .venv/bin/python bench/bench_lookup.py [--sizes 100000,1000000] [--queries 2000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

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
    ratio,
    rss_mb,
    write_rows,
)

from ingest import arabic, dedupe
from ingest.fingerprint import FINGERPRINT_VERSION, WindowIndex
from ingest.settings import DedupSettings
from ingest.store import open_store

T0 = 1_790_000_000  # window start (epoch seconds); the window is 7 days after it
WEEK = 7 * 86400
NEAREST = 32  # proposal: fetch at most this many nearest hits per batch
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ingest-bench"


# --- realistic fingerprints ------------------------------------------------------------


def _bits(stem: str) -> np.ndarray:
    # simhash 2.1.2: the last 8 bytes of md5(utf-8), unpacked most significant bit first.
    digest = hashlib.md5(stem.encode("utf-8")).digest()[-8:]
    return np.unpackbits(np.frombuffer(digest, dtype=np.uint8))


def paragraph_features(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per corpus paragraph: text, stem weight and per-bit ones (cached by fingerprint version)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    cache = CACHE / f"paragraphs-v{FINGERPRINT_VERSION}-{len(records)}.npz"
    texts: list[str] = []
    owner: list[int] = []
    for index, record in enumerate(records):
        for text in (record.get("body") or "").split("\n"):
            if text.strip():
                texts.append(text.strip())
                owner.append(index)
    if cache.exists():
        data = np.load(cache)
        return {"texts": texts, "owner": np.array(owner), "ones": data["ones"], "w": data["w"]}
    bits: dict[str, np.ndarray] = {}
    ones = np.zeros((len(texts), 64), dtype=np.int32)
    weights = np.zeros(len(texts), dtype=np.int32)
    for row, text in enumerate(texts):
        for stem in arabic.stems(text):
            vector = bits.get(stem)
            if vector is None:
                vector = bits[stem] = _bits(stem)
            ones[row] += vector
            weights[row] += 1
    np.savez(cache, ones=ones, w=weights)
    return {"texts": texts, "owner": np.array(owner), "ones": ones, "w": weights}


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

    def paragraph_json(self) -> list[str]:
        if not hasattr(self, "_pjson"):
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
        return sum(
            dedupe.article_fingerprint([texts[r] for r in m]) == int(fp)
            for m, fp in zip(mixes, fps.tolist(), strict=True)
        )


# --- stores ----------------------------------------------------------------------------


def _rows(mixer: Mixer, mixes: list[list[int]], bases: list[int], fps: np.ndarray, ts: np.ndarray):  # type: ignore[no-untyped-def]
    """Article rows: the mix's real paragraphs as the JSON ``json.dumps`` would write."""
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
        )


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


COLUMNS = (
    "id, feed_id, guid, url, canonical_url, title, published, fetched, ts, paragraphs, "
    "removed, simhash, fp_version, text_hash, content_hash"
)


def build_sqlite(path: Path, rows) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    store = open_store(str(path))
    store.migrate()
    store.close()
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")  # a throw-away bench store
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO feeds (id, url, name, host) VALUES (1, 'https://bench.example/feed', 'bench', 'bench.example')"
    )
    conn.executemany(f"INSERT INTO articles ({COLUMNS}) VALUES ({','.join('?' * 15)})", rows)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - started


def pg_schema_url(base: str, schema: str) -> str:
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options={quote(f'-csearch_path={schema}')}"


def build_postgres(url: str, rows) -> float:  # type: ignore[no-untyped-def]
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
                chunk.append("\t".join(str(v).translate(_COPY_ESCAPES) for v in row))
                if len(chunk) >= 5000:
                    copy.write(("\n".join(chunk) + "\n").encode("utf-8"))
                    chunk = []
            if chunk:
                copy.write(("\n".join(chunk) + "\n").encode("utf-8"))
        for _, definition in indexes:
            conn.execute(definition)
        conn.commit()
        conn.execute("ANALYZE articles")
        conn.commit()
    return time.perf_counter() - started


# --- contenders (each in its own process) ----------------------------------------------


def child_project(db_url: str, queries: Path, max_distance: int) -> dict[str, Any]:
    """The project's path: warm the WindowIndex from the store, then query + fetch hits."""
    base_rss = rss_mb()[0]
    store = open_store(db_url)
    data = np.load(queries)
    index = WindowIndex(int(DedupSettings().window_days * 86400))
    started = time.perf_counter()
    with store.transaction() as tx:
        index.add(tx.fingerprints_since(0, FINGERPRINT_VERSION, T0 - WEEK))
        index.query(0, T0 + WEEK, 0)  # the first query builds the arrays
    warm_s = time.perf_counter() - started
    after_warm = rss_mb()
    fps_arr = np.array([fp for _, fp, _ in rows_snapshot(index)], dtype=np.uint64)
    ts_arr = np.array([t for _, _, t in rows_snapshot(index)], dtype=np.int64)
    ids_arr = np.array([i for i, _, _ in rows_snapshot(index)], dtype=np.int64)
    proposed: list[float] = []
    capped: list[float] = []
    same = 0
    scan: list[float] = []
    fetch: list[float] = []
    total: list[float] = []
    hits: list[int] = []
    found_expected = 0
    expected = data["expected"].tolist()
    with store.transaction() as tx:
        for fp, ts, want in zip(data["fps"].tolist(), data["ts"].tolist(), expected, strict=True):
            p0 = time.perf_counter()
            quick = proposed_scan(fps_arr, ts_arr, ids_arr, fp, ts, max_distance, index.window_s)
            proposed.append(time.perf_counter() - p0)
            t0 = time.perf_counter()
            found = index.query(fp, ts, max_distance)
            t1 = time.perf_counter()
            same += sorted(found) == sorted(quick)
            candidates = tx.candidates([article_id for article_id, _ in found])
            t2 = time.perf_counter()
            tx.candidates([article_id for article_id, _ in found[:NEAREST]])
            capped.append(time.perf_counter() - t2)
            scan.append(t1 - t0)
            fetch.append(t2 - t1)
            total.append(t2 - t0)
            hits.append(len(candidates))
            found_expected += want > 0 and any(c.id == want for c in candidates)
    store.close()
    rss, peak = rss_mb()
    return {
        "indexed": len(index),
        "warm_s": warm_s,
        "total_ms": [x * 1000 for x in total],
        "scan_ms": [x * 1000 for x in scan],
        "proposed_scan_ms": [x * 1000 for x in proposed],
        "proposed_same": same,
        "capped_fetch_ms": [x * 1000 for x in capped],
        "fetch_ms": [x * 1000 for x in fetch],
        "hits": hits,
        "found_expected": found_expected,
        "expected": sum(1 for e in expected if e > 0),
        "rss_base_mb": base_rss,
        "rss_after_warm_mb": after_warm[0],
        "rss_mb": rss,
        "peak_mb": peak,
    }


def rows_snapshot(index: WindowIndex) -> list[tuple[int, int, int]]:
    """The index's rows (id, fingerprint, time), read from its arrays (bench-only access)."""
    index.query(0, 0, 0)
    return list(zip(index._ids.tolist(), index._fps.tolist(), index._ts.tolist(), strict=True))


def proposed_scan(  # noqa: PLR0917
    fps: np.ndarray,
    ts: np.ndarray,
    ids: np.ndarray,
    fp: int,
    at: int,
    max_distance: int,
    window: int,
) -> list[tuple[int, int]]:
    """A proposed ``WindowIndex.query``: XOR + popcount over the fingerprints only, then the
    time filter on the few hits (not on the whole window), same answer."""
    dist = np.bitwise_count(fps ^ np.uint64(fp))
    hit = np.flatnonzero(dist <= max_distance)
    hit = hit[np.abs(ts[hit] - at) <= window]
    return sorted(
        zip(ids[hit].tolist(), dist[hit].tolist(), strict=True), key=lambda h: (h[1], h[0])
    )


def child_stream(db_url: str) -> dict[str, Any]:
    """Proposed warm-up: the window's fingerprints streamed into numpy arrays in chunks, never
    as a list of a million tuples; its peak RSS."""
    base = rss_mb()[0]
    started = time.perf_counter()
    chunks = []
    sql = (
        "SELECT id, simhash, ts FROM articles WHERE duplicate_of IS NULL AND fp_version = {p} "
        "AND ts >= {p} ORDER BY id"
    )
    if db_url.startswith("sqlite"):
        import sqlite3

        conn: Any = sqlite3.connect(db_url[len("sqlite:///") :])
        cur = conn.execute(sql.format(p="?"), (FINGERPRINT_VERSION, T0 - WEEK))
    else:
        import psycopg

        conn = psycopg.connect(db_url)
        cur = conn.cursor(name="warm")  # server-side cursor: rows arrive in batches
        cur.execute(sql.format(p="%s"), (FINGERPRINT_VERSION, T0 - WEEK))
    while batch := cur.fetchmany(50_000):
        chunks.append(np.array(batch, dtype=np.int64))
    conn.close()
    rows = np.concatenate(chunks)
    del chunks
    fps = rows[:, 1].view(np.uint64).copy()
    return {"rows": len(rows), "seconds": time.perf_counter() - started, "rss_base_mb": base,
            "peak_mb": rss_mb()[1], "fps": int(fps[:1].sum())}  # fmt: skip


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
    for fp, want in zip(data["fps"].tolist()[:max_queries], expected, strict=True):
        t0 = time.perf_counter()
        found = index.get_near_dups(Simhash(fp))
        total.append(time.perf_counter() - t0)
        hits.append(len(found))
        found_expected += want > 0 and str(want) in found
    return {
        "build_s": build_s,
        "total_ms": [x * 1000 for x in total],
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
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--simhash-queries", type=int, default=300)
    parser.add_argument("--simhash-wide-queries", type=int, default=20)
    parser.add_argument(
        "--simhash-wide-max",
        type=int,
        default=100_000,
        help="largest size at which SimhashIndex(k=article_max_distance) is built",
    )
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
            result = child_project(rest[0], Path(rest[1]), int(rest[2]))
        elif kind == "stream":
            result = child_stream(rest[0])
        else:
            result = child_simhash(Path(rest[0]), Path(rest[1]), int(rest[2]), int(rest[3]))
        print(json.dumps(result))
        return 0

    if args.quick:
        args.sizes, args.queries, args.simhash_queries = "20000", 300, 100
        args.simhash_wide_max, args.simhash_wide_queries = 20_000, 10
    if not have_corpus():
        print("skipped: ../shared/corpus is absent")
        return 0
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
        f"{identical}/200 identical to ingest.dedupe.article_fingerprint"
    )
    # Distances between unrelated stored fingerprints: how much real ones cluster.
    a, b = fps[:20000], fps[20000:40000] if largest >= 40000 else fps[::-1][:20000]
    unrelated = np.bitwise_count(a[: len(b)] ^ b)
    cluster = {
        "p1": float(np.percentile(unrelated, 1)),
        "p50": float(np.median(unrelated)),
        "share_within_max": float(np.mean(unrelated <= max_distance)),
    }

    workdir = Path(tempfile.mkdtemp(prefix="ingest-bench-lookup-"))
    rows: list[Row] = []
    extra: dict[str, Any] = {"cluster": cluster, "identical_of_200": identical, "sizes": {}}
    try:
        for size in sizes:
            n_q = args.queries
            q_fps: list[int] = []
            expected: list[int] = []
            for qi in range(n_q):
                if qi % 2 == 0:
                    target = mixer.rng.randrange(size)
                    edited = mixer.edited(mixes[target])
                    q_fps.append(int(mixer.fingerprints([edited])[0]))
                    expected.append(target + 1)
                else:
                    q_fps.append(int(mixer.fingerprints([mixer.mix()[1]])[0]))
                    expected.append(0)
            queries = workdir / f"queries-{size}.npz"
            np.savez(
                queries,
                fps=np.array(q_fps, dtype=np.uint64),
                ts=np.full(n_q, T0 + WEEK, dtype=np.int64),
                expected=np.array(expected, dtype=np.int64),
            )
            fps_path = workdir / f"fps-{size}.npz"
            np.savez(fps_path, fps=fps[:size])
            results: dict[str, Any] = {}
            build: dict[str, float] = {}
            db = workdir / f"lookup-{size}.db"
            # The SQLite store is built in a forked process while this one builds the
            # PostgreSQL one: nothing is timed during the builds, and they are most of the run.
            sqlite_build = _fork(
                lambda db=db, size=size: build_sqlite(
                    db, _rows(mixer, mixes[:size], bases[:size], fps[:size], ts[:size])
                )
            )
            schema = f"bench_lookup_{os.getpid()}_{size}"
            pg_url = None
            try:
                if not args.no_postgres:
                    pg_url = _create_schema(args.pg, schema)
                    build["postgres"] = build_postgres(
                        pg_url, _rows(mixer, mixes[:size], bases[:size], fps[:size], ts[:size])
                    )
                build["sqlite"] = sqlite_build()
                results["sqlite"] = run_child(
                    "project", f"sqlite:///{db}", str(queries), str(max_distance)
                )
                results["sqlite"]["stream"] = run_child("stream", f"sqlite:///{db}")
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
                if pg_url is not None:
                    results["postgres"] = run_child(
                        "project", pg_url, str(queries), str(max_distance)
                    )
                    results["postgres"]["stream"] = run_child("stream", pg_url)
            finally:
                if pg_url is not None:
                    _drop_schema(args.pg, schema)
            results["simhash_k3"] = run_child(
                "simhash", str(fps_path), str(queries), "3", str(args.simhash_queries)
            )
            if size <= args.simhash_wide_max:
                results[f"simhash_k{max_distance}"] = run_child(
                    "simhash",
                    str(fps_path),
                    str(queries),
                    str(max_distance),
                    str(args.simhash_wide_queries),
                )
            extra["sizes"][size] = {"build_s": build, "results": results}
            rows += size_rows(size, results, max_distance)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"unrelated stored fingerprints: median distance {cluster['p50']:.0f} bits, p1 "
        f"{cluster['p1']:.0f}; {cluster['share_within_max']:.3%} of pairs within "
        f"{max_distance} bits"
    )
    write_rows(rows, extra, args.json)
    return 0


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


def _create_schema(pg: str, schema: str) -> str:
    import psycopg

    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return pg_schema_url(pg, schema)


def _drop_schema(pg: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def size_rows(size: int, results: dict[str, Any], max_distance: int) -> list[Row]:
    rows = []
    label = f"{size // 1000}k" if size < 1_000_000 else f"{size // 1_000_000}M"
    k3 = results["simhash_k3"]
    k3s = summary(k3)
    for backend in ("sqlite", "postgres"):
        if backend not in results:
            continue
        res = results[backend]
        s = summary(res)
        scan = summary(res, "scan_ms")
        fetch = summary(res, "fetch_ms")
        target = "< 2 ms" if size >= 1_000_000 else ""
        rows.append(
            Row(
                "2 lookup",
                f"{label} p99 ms, WindowIndex.query + Tx.candidates ({backend})",
                s["p99"],
                k3s["p99"],
                "ms",
                "SimhashIndex k=3",
                ratio(s["p99"], k3s["p99"]),
                target,
                (s["p99"] < 2.0) if target else None,
                f"median {s['median']:.2f} ms (scan {scan['median']:.2f}, fetch "
                f"{fetch['median']:.2f}; scan p99 {scan['p99']:.2f}, fetch p99 {fetch['p99']:.2f}); "
                f"hits median {median(res['hits']):.0f}, p99 {percentile(res['hits'], 99):.0f}, "
                f"max {max(res['hits'])}; copies found {res['found_expected']}/{res['expected']}",
            )
        )
        rows.append(
            Row(
                "2 lookup",
                f"{label} memory MB, index process RSS ({backend})",
                res["rss_mb"],
                k3["rss_mb"],
                "MB",
                "SimhashIndex k=3",
                ratio(res["rss_mb"], k3["rss_mb"]),
                "< 300 MB" if size >= 1_000_000 else "",
                (res["peak_mb"] < 300) if size >= 1_000_000 else None,
                f"peak {res['peak_mb']:.0f} MB while warming (fingerprints_since + add) in "
                f"{res['warm_s']:.1f} s; imports alone {res['rss_base_mb']:.0f} MB; streamed "
                f"warm-up (proposal) peak {res['stream']['peak_mb']:.0f} MB",
            )
        )
        capped = summary(res, "capped_fetch_ms")
        rows.append(
            Row(
                "2 lookup",
                f"{label} proposal: fetch p99 ms, {NEAREST} nearest hits only ({backend})",
                capped["p99"],
                fetch["p99"],
                "ms",
                "Tx.candidates(all hits)",
                ratio(capped["p99"], fetch["p99"]),
                note=f"median {capped['median']:.2f} vs {fetch['median']:.2f} ms; "
                f"{sum(h > NEAREST for h in res['hits'])} of {len(res['hits'])} lookups had more hits",
            )
        )
        proposed = summary(res, "proposed_scan_ms")
        rows.append(
            Row(
                "2 lookup",
                f"{label} proposal: scan p99 ms, time filter on hits only ({backend})",
                proposed["p99"],
                scan["p99"],
                "ms",
                "WindowIndex.query",
                ratio(proposed["p99"], scan["p99"]),
                note=f"median {proposed['median']:.2f} vs {scan['median']:.2f} ms; same hits "
                f"in {res['proposed_same']}/{len(res['hits'])} queries",
            )
        )
    rows.append(
        Row(
            "2 lookup",
            f"{label} SimhashIndex k=3: median / build",
            k3s["median"],
            None,
            "ms",
            note=f"p99 {k3s['p99']:.2f} ms; built in {k3['build_s']:.1f} s; finds only <= 3 bits: "
            f"copies found {k3['found_expected']}/{k3['expected']}",
        )
    )
    wide = results.get(f"simhash_k{max_distance}")
    if wide is not None:
        ws = summary(wide)
        rows.append(
            Row(
                "2 lookup",
                f"{label} SimhashIndex k={max_distance} (our recall): median",
                ws["median"],
                None,
                "ms",
                note=f"p99 {ws['p99']:.0f} ms over {len(wide['total_ms'])} queries; "
                f"{wide['rss_mb']:.0f} MB; built in {wide['build_s']:.1f} s; copies found "
                f"{wide['found_expected']}/{wide['expected']}",
            )
        )
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
