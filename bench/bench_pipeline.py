"""Benchmark 1: the pipeline against the parser alone and the peer, re-fetching what is stored,
PostgreSQL against SQLite (issue 12, goals G1, G2, G3 and G6).

The feeds: the first 20 corpus feeds (``bench_common.corpus_feeds``: 50 articles each of one
outlet and category, full HTML bodies, about 180 KB a feed; 1,000 articles) as local files.

A. **Whole processes on the same files** (G1, G2), each started fresh (interpreter start-up and
   imports included, as a user runs them), the three alternating, medians of ``--reps``:

   * ours: ``ingest --db sqlite:///NEW fetch --json FILE ...`` on a new store (the CLI's
     concurrency: two files at a time, parsed in the worker processes, one per core);
   * G1 baseline: ``feedparser.parse(bytes)`` with its defaults on every file, one process;
   * G2 baseline: ``reader`` 3.26: ``make_reader(NEW, feed_root='')``, ``add_feed`` of each
     file, ``update_feeds()`` with its defaults.

   Context: when each line of ``ingest fetch``'s output arrived (start-up until the first
   feed, then per feed, then shut-down), and start-up alone: ``import ingest.cli``, a parse
   worker's ``import ingest.prepare`` and ``import feedparser``, each a fresh process, with
   ``-X importtime``'s largest direct imports of ``ingest.cli``.

B. **Re-fetch in one process** (G3): ``Pipeline.run`` over the 20 files as ``ingest fetch``
   runs them (``bench_common.run_targets``) into a new store: the first ingest; then again
   (a) the same bytes, as from a server that ignores conditional GET; (b) the same items in
   new bytes: every file rewritten with a ``lastBuildDate``. The worker pool is started before
   and shared, so no cycle pays for its start-up; each cycle makes its own ``Pipeline`` (so
   warms its own fingerprint index, as a new ``ingest fetch`` would). Context: the first
   ingest in this warm process against ``feedparser.parse`` over the bytes in memory, and
   the main process's CPU against the workers'.

C. **PostgreSQL against SQLite** (G6): B's first ingest into a new store of each backend (a
   new schema per PostgreSQL run), alternating. Then one more PostgreSQL run through a TCP
   proxy that counts round trips (one each time the client sends after the server answered,
   on every connection), with every statement psycopg executes counted by kind (psycopg's
   ``Cursor.execute``/``executemany`` wrapped in this process; ``pg_stat_statements`` is off).

D. **Where the time goes**: the stages called one by one on the main thread, with the calls
   ``prepare.prepare_feed`` and ``Pipeline._ingest`` make; a cProfile of the worker side
   (``prepare_feed``) and of the writer side (``store_articles`` in its transaction).

Usage: .venv/bin/python bench/bench_pipeline.py [--feeds 20] [--reps 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import feedparser  # the baseline; the project itself imports it only in ingest/parse.py
from bench_common import (
    PG_URL,
    PYTHON,
    Row,
    Stopwatch,
    have_corpus,
    median,
    outcome_counts,
    pg_available,
    pg_create_schema,
    pg_drop_schema,
    pg_with_port,
    proc_cpu_s,
    ratio,
    run_process,
    run_targets,
    write_corpus_feeds,
    write_rows,
)

from ingest.isolate import WorkerPool, parse_limits
from ingest.settings import Settings
from ingest.store import open_store

FEEDPARSER_SCRIPT = """
import sys
import feedparser
items = 0
for path in sys.argv[1:]:
    with open(path, "rb") as handle:
        items += len(feedparser.parse(handle.read()).entries)
print(items)
"""

READER_SCRIPT = """
import sys
from reader import make_reader
db, *paths = sys.argv[1:]
reader = make_reader(db, feed_root="")
for path in paths:
    reader.add_feed("file:" + path, exist_ok=True)
reader.update_feeds()
broken = [f.url for f in reader.get_feeds() if f.last_exception]
print(reader.get_entry_counts().total, len(broken))
reader.close()
"""


def reader_available() -> bool:
    return run_process([PYTHON, "-c", "import reader"])["rc"] == 0


# --- A. whole processes ------------------------------------------------------------------


def whole_processes(
    paths: list[Path], workdir: Path, reps: int, with_reader: bool
) -> dict[str, list[dict[str, Any]]]:
    """``ingest fetch``, bare feedparser and reader, each a fresh process, alternating."""
    files = [str(p) for p in paths]
    (workdir / "feedparser_run.py").write_text(FEEDPARSER_SCRIPT)
    (workdir / "reader_run.py").write_text(READER_SCRIPT)
    runs: dict[str, list[dict[str, Any]]] = {"reader": []}

    def ingest(n: int) -> dict[str, Any]:
        db = workdir / f"cli-{n}.db"
        done = run_cli([PYTHON, "-m", "ingest", "--db", f"sqlite:///{db}", "fetch", "--json",
                        *files])  # fmt: skip
        _unlink_sqlite(db)
        return done

    contenders: dict[str, Callable[[int], dict[str, Any]]] = {
        "ingest": ingest,
        "feedparser": lambda n: run_process([PYTHON, str(workdir / "feedparser_run.py"), *files]),
        # Start-up alone: the interpreter and the imports of the CLI, of a parse worker, and
        # of feedparser (a worker imports ``ingest.prepare`` when the pool starts it).
        "ingest_imports": lambda n: run_process([PYTHON, "-c", "import ingest.cli"]),
        "worker_imports": lambda n: run_process([PYTHON, "-c", "import ingest.prepare"]),
        "feedparser_imports": lambda n: run_process([PYTHON, "-c", "import feedparser"]),
    }
    if with_reader:

        def reader(n: int) -> dict[str, Any]:
            db = workdir / f"reader-{n}.db"
            done = run_process([PYTHON, str(workdir / "reader_run.py"), str(db), *files])
            _unlink_sqlite(db)
            return done

        contenders["reader"] = reader
    for run in contenders.values():  # warm the page cache and the .pyc files
        run(-1)
    for n in range(reps):
        for name, run in contenders.items():
            done = run(n)
            if done["rc"] != 0:
                raise RuntimeError(f"{name} failed: {done['err']}")
            runs.setdefault(name, []).append(done)
    return runs


def run_cli(cmd: list[str]) -> dict[str, Any]:
    """``run_process`` for ``ingest fetch --json``, with when each line of its output arrived
    (seconds after the start): the first outcome, the last one, the summary, the exit."""
    import resource
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("INGEST_DB", "INGEST_CONFIG")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[tuple[float, str]] = []
    for line in proc.stdout:
        lines.append((time.perf_counter() - started, line))
    err = proc.stderr.read()
    rc = proc.wait()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    outcomes = [t for t, line in lines if '"summary"' not in line]
    return {
        "wall": wall,
        "cpu": cpu,
        "rc": rc,
        "out": "".join(line for _, line in lines),
        "err": err[-2000:],
        "first_outcome_s": outcomes[0] if outcomes else None,
        "last_outcome_s": outcomes[-1] if outcomes else None,
        "summary_s": lines[-1][0] if lines else None,
    }


def import_times(module: str) -> list[tuple[str, float]]:
    """The modules ``module`` imports directly, by cumulative import time (ms), largest first
    (``python -X importtime``; each counted where it is first imported)."""
    err = run_process([PYTHON, "-X", "importtime", "-c", f"import {module}"], keep_err=True)["err"]
    found: list[tuple[str, float]] = []
    for line in err.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        _, cumulative, name = line.split("|")
        if name.startswith("   ") and not name.startswith("    "):  # depth 1: direct imports
            with contextlib.suppress(ValueError):
                found.append((name.strip(), int(cumulative) / 1000))
    return sorted(found, key=lambda x: -x[1])


def _unlink_sqlite(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def _cli_summary(output: str) -> dict[str, Any]:
    import json

    for line in reversed(output.splitlines()):
        with contextlib.suppress(json.JSONDecodeError):
            found = json.loads(line)
            if "summary" in found:
                return dict(found["summary"])
    return {}


# --- B. re-fetch -------------------------------------------------------------------------


def started_pool(settings: Settings) -> WorkerPool:
    memory, seconds = parse_limits(settings.http.max_body_bytes)
    return WorkerPool(memory_limit=memory, time_limit=seconds, preload=("ingest.prepare",))


def warm_pool(pool: WorkerPool, paths: list[Path], workdir: Path) -> None:
    """Start the pool's workers (two feeds at once) on a throw-away store."""
    db = workdir / "warm.db"
    store = open_store(str(db))
    store.migrate()
    asyncio.run(run_targets(store, Settings(db=str(db)), [p.as_uri() for p in paths[:2]],
                            parser=pool))  # fmt: skip
    store.close()
    _unlink_sqlite(db)


def timed_run(store: Any, urls: list[str], pool: WorkerPool) -> dict[str, Any]:
    """One cycle: wall time, this process's CPU, the workers' CPU, the outcome counts."""
    settings = Settings(db=store.url)
    workers = {pid: proc_cpu_s(pid) for pid in pool.pids}
    self_cpu = _self_cpu()
    with Stopwatch() as sw:
        outcomes = asyncio.run(run_targets(store, settings, urls, parser=pool))
    main_cpu = _self_cpu() - self_cpu
    worker_cpu = 0.0
    for pid in pool.pids:
        with contextlib.suppress(OSError):
            worker_cpu += proc_cpu_s(pid) - workers.get(pid, 0.0)
    counts = outcome_counts(outcomes)
    if counts["errors"]:
        errors = [o.error for o in outcomes if o.status == "error"]
        raise RuntimeError(f"feeds failed: {errors[:3]}")
    return {"wall": sw.wall, "main_cpu": main_cpu, "worker_cpu": worker_cpu, **counts}


def _self_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def refetch(
    paths: list[Path], rebuilt: list[bytes], workdir: Path, reps: int, pool: WorkerPool
) -> dict[str, list[dict[str, Any]]]:
    originals = [p.read_bytes() for p in paths]
    urls = [p.as_uri() for p in paths]
    runs: dict[str, list[dict[str, Any]]] = {"first": [], "same": [], "new_bytes": [],
                                             "bare": []}  # fmt: skip
    for n in range(reps):
        for path, body in zip(paths, originals, strict=True):
            path.write_bytes(body)
        db = workdir / f"refetch-{n}.db"
        store = open_store(str(db))
        store.migrate()
        runs["first"].append(timed_run(store, urls, pool))
        runs["same"].append(timed_run(store, urls, pool))
        for path, body in zip(paths, rebuilt, strict=True):
            path.write_bytes(body)
        runs["new_bytes"].append(timed_run(store, urls, pool))
        store.close()
        _unlink_sqlite(db)
        with Stopwatch() as sw:
            items = sum(len(feedparser.parse(body).entries) for body in originals)
        runs["bare"].append({"wall": sw.wall, "cpu": sw.cpu, "items": items})
    for path, body in zip(paths, originals, strict=True):
        path.write_bytes(body)
    return runs


_RAW_ITEM = re.compile(rb"<(item|entry)[\s>].*?</\1\s*>", re.DOTALL)


def item_digest_scan(bodies: list[bytes], reps: int) -> dict[str, Any]:
    """Prototype for (b): each raw ``<item>``/``<entry>`` element of the bytes found with a
    regular expression and hashed (what a store could keep per item, to skip the parse when
    every item of new bytes is known); timed against ``parse_feed`` of the same bytes."""
    import hashlib

    from ingest.parse import parse_feed

    scan, parse = [], []
    found = 0
    for _ in range(max(1, reps)):
        with Stopwatch() as sw:
            found = sum(
                len([hashlib.blake2b(m.group(0), digest_size=16).digest()
                     for m in _RAW_ITEM.finditer(body)])
                for body in bodies
            )  # fmt: skip
        scan.append(sw.wall)
        with Stopwatch() as sw:
            for body in bodies:
                parse_feed(body, {}, url="file:///bench.xml")
        parse.append(sw.wall)
    return {"scan_s": min(scan), "parse_s": min(parse), "items": found, "feeds": len(bodies)}


# --- C. PostgreSQL against SQLite ----------------------------------------------------------


PG_VARIANTS = {
    "postgresql": "",
    # Prototypes, to see where PostgreSQL's time goes: the same run without the search index
    # (a GIN index over the stems, updated on every insert), and with commits that do not
    # wait for the WAL flush (one per feed).
    "postgresql_no_search_index": "drop",
    "postgresql_async_commit": " -csynchronous_commit=off",
}


def backends(
    paths: list[Path], workdir: Path, reps: int, pool: WorkerPool, pg: str
) -> dict[str, list[dict[str, Any]]]:
    """SQLite, then PostgreSQL and its variants, alternating; the PostgreSQL runs also count
    the CPU of the server process behind the store's connection."""
    from urllib.parse import quote

    urls = [p.as_uri() for p in paths]
    runs: dict[str, list[dict[str, Any]]] = {"sqlite": [], **{k: [] for k in PG_VARIANTS}}
    for n in range(reps):
        db = workdir / f"backend-{n}.db"
        store = open_store(str(db))
        store.migrate()
        runs["sqlite"].append(timed_run(store, urls, pool))
        store.close()
        _unlink_sqlite(db)
        for variant, change in PG_VARIANTS.items():
            schema = f"bench_pipe_{os.getpid()}_{n}"
            try:
                url = pg_create_schema(pg, schema)
                if change.startswith(" -c"):
                    url = url.replace(quote(f"-csearch_path={schema}"),
                                      quote(f"-csearch_path={schema}{change}"))  # fmt: skip
                store = open_store(url)
                store.migrate()
                if change == "drop":
                    import psycopg

                    with psycopg.connect(url, autocommit=True) as conn:
                        # The search index is a table its triggers keep: without them
                        # nothing is indexed.
                        conn.execute("DROP TRIGGER articles_search_insert ON articles")
                        conn.execute("DROP TRIGGER articles_search_update ON articles")
                backend = store._conn.info.backend_pid  # type: ignore[attr-defined]
                before = proc_cpu_s(backend)
                done = timed_run(store, urls, pool)
                done["server_cpu"] = proc_cpu_s(backend) - before
                runs[variant].append(done)
                store.close()
            finally:
                pg_drop_schema(pg, schema)
    return runs


class RoundTripProxy:
    """A TCP proxy in front of PostgreSQL counting round trips: one each time a client sends
    after the server has sent (or first), on every connection through it."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.turns = 0
        self.connections = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _handle(self, client_r: Any, client_w: Any) -> None:
        server_r, server_w = await asyncio.open_connection(*self.target)
        self.connections += 1
        last = ["server"]

        async def pump(src: Any, dst: Any, side: str) -> None:
            try:
                while data := await src.read(1 << 16):
                    if side == "client" and last[0] != "client":
                        self.turns += 1
                    last[0] = side
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(client_r, server_w, "client"), pump(server_r, client_w, "server"))

    def __enter__(self) -> RoundTripProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", re.IGNORECASE)
_CALL = re.compile(r"\bSELECT\s+(\w+)\s*\(", re.IGNORECASE)


def _kind(sql: Any) -> str:
    text = sql if isinstance(sql, str) else str(getattr(sql, "_obj", sql))
    verb = text.split(None, 1)[0].upper() if text.strip() else "?"
    target = _TABLE.search(text) or _CALL.search(text)
    return f"{verb} {target.group(1)}" if target else verb


@contextlib.contextmanager
def counted_statements() -> Iterator[Counter[str]]:
    """Count the statements psycopg sends from this process, by kind (``executemany`` counts
    its rows; its calls are counted under ``executemany calls``)."""
    import psycopg

    counts: Counter[str] = Counter()
    saved = psycopg.Cursor.execute, psycopg.Cursor.executemany, psycopg.ServerCursor.execute

    def execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        counts[_kind(query)] += 1
        return saved[0](self, query, *args, **kwargs)

    def executemany(self: Any, query: Any, params_seq: Any, *args: Any, **kwargs: Any) -> Any:
        rows = list(params_seq)
        counts[_kind(query)] += len(rows)
        counts["executemany calls"] += 1
        return saved[1](self, query, rows, *args, **kwargs)

    def server_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        counts[_kind(query)] += 1
        return saved[2](self, query, *args, **kwargs)

    psycopg.Cursor.execute = execute  # type: ignore[method-assign,assignment]
    psycopg.Cursor.executemany = executemany  # type: ignore[method-assign,assignment]
    psycopg.ServerCursor.execute = server_execute  # type: ignore[method-assign,assignment]
    try:
        yield counts
    finally:
        psycopg.Cursor.execute, psycopg.Cursor.executemany, psycopg.ServerCursor.execute = saved  # type: ignore[method-assign]


def round_trips(paths: list[Path], pool: WorkerPool, pg: str) -> dict[str, Any]:
    """The first ingest into PostgreSQL through the counting proxy (not timed)."""
    from urllib.parse import urlsplit

    parts = urlsplit(pg)
    urls = [p.as_uri() for p in paths]
    schema = f"bench_trips_{os.getpid()}"
    url = pg_create_schema(pg, schema)
    try:
        with RoundTripProxy((parts.hostname or "127.0.0.1", parts.port or 5432)) as proxy:
            store = open_store(pg_with_port(url, proxy.port))
            store.migrate()
            turns, connections = proxy.turns, proxy.connections
            with counted_statements() as statements:
                outcomes = asyncio.run(
                    run_targets(store, Settings(db=store.url), urls, parser=pool)
                )
            store.close()
            turns, connections = proxy.turns - turns, proxy.connections - connections
    finally:
        pg_drop_schema(pg, schema)
    counts = outcome_counts(outcomes)
    articles = counts["new"] + counts["duplicates"] + counts["exact"]
    return {
        "round_trips": turns,
        "connections": connections,
        "statements": dict(statements.most_common()),
        "articles": articles,
        "feeds": len(paths),
        **counts,
    }


# --- D. where the time goes ------------------------------------------------------------------


def stages(
    bodies: list[bytes], workdir: Path, profile_out: Path | None, reps: int = 1
) -> dict[str, Any]:
    """The stages one by one on this thread (the calls ``prepare_feed`` and ``_ingest`` make),
    each the fastest of ``reps`` passes (the least disturbed by other work on the machine),
    and a cProfile of each side."""
    from ingest import fingerprint
    from ingest.clean import clean_any
    from ingest.decide import Decider
    from ingest.fingerprint import WindowIndex
    from ingest.jobs import FeedJob
    from ingest.models import Status
    from ingest.parse import parse_feed
    from ingest.pipeline import KNOWN_ENTRIES, store_articles, sync_index, warm_index
    from ingest.prepare import clean_article, prepare, prepare_feed
    from ingest.store.base import FeedUpdate

    settings = Settings()
    dedup, limits = settings.dedup, settings.limits
    now = datetime.now(UTC)
    jobs = [FeedJob(url=f"file:///bench/{i}.xml", fetched=now, dedup=dedup, limits=limits)
            for i in range(len(bodies))]  # fmt: skip
    skew = dedup.clock_skew_s

    def worker_side() -> tuple[dict[str, float], list[Any], int]:
        t: dict[str, float] = {}
        start = time.perf_counter()
        parsed = [parse_feed(body, {}, url=job.url, limits=limits, fetched=now, clock_skew=skew)
                  for body, job in zip(bodies, jobs, strict=True)]  # fmt: skip
        t["parse: parse_feed (feedparser and our pre-passes)"] = time.perf_counter() - start
        entries = [(e, job) for feed, job in zip(parsed, jobs, strict=True) for e in feed.entries]
        start = time.perf_counter()
        cleaned = [clean_any(e.content, limits=limits) for e, _ in entries]
        t["clean: clean_any (BeautifulSoup tree, then the rules)"] = time.perf_counter() - start
        start = time.perf_counter()
        for c in cleaned:
            fingerprint.analyse(c.paragraphs)
        t["analyse: normalise, tokenise, stem each paragraph"] = time.perf_counter() - start
        start = time.perf_counter()
        for e, job in entries:
            clean_article(e.content, dedup, job.recurring, limits)
        whole_clean = time.perf_counter() - start
        start = time.perf_counter()
        for e, job in entries:
            prepare(e, job)
        whole_prepare = time.perf_counter() - start
        t["boilerplate + paragraph rule"] = max(
            0.0,
            whole_clean
            - t["clean: clean_any (BeautifulSoup tree, then the rules)"]
            - t["analyse: normalise, tokenise, stem each paragraph"],
        )
        t["article features, title, links, hashes (rest of prepare)"] = max(
            0.0, whole_prepare - whole_clean
        )
        start = time.perf_counter()
        prepared = [prepare_feed(body, {}, job) for body, job in zip(bodies, jobs, strict=True)]
        t["worker side as one call: prepare_feed"] = time.perf_counter() - start
        return t, prepared, len(entries)

    def write_side(prepared: list[Any], profiler: cProfile.Profile | None) -> dict[str, float]:
        db = workdir / f"stages-{time.monotonic_ns()}.db"
        store = open_store(str(db))
        store.migrate()
        decider = Decider(dedup)
        index = WindowIndex(dedup.window_s)
        times: dict[str, float] = Counter()
        if profiler:
            profiler.enable()
        start = time.perf_counter()
        warm_index(store, index, now, dedup)
        for job, feed in zip(jobs, prepared, strict=True):
            t0 = time.perf_counter()
            row = store.feed(job.url)
            if row is not None:
                store.known_entries(row.url, KNOWN_ENTRIES)
            t1 = time.perf_counter()
            with store.transaction() as tx:
                feed_id = tx.feed_id(job.url, job.url)
                tx.lock_dedup()
                sync_index(tx, index, now, dedup)
                t2 = time.perf_counter()
                store_articles(tx, feed_id, feed.articles, decider, index,
                               edits=not feed.recovered)  # fmt: skip
                t3 = time.perf_counter()
                tx.update_feed(feed_id, FeedUpdate(fetched_at=now, status=Status.OK))
            t4 = time.perf_counter()
            times["write: read the feed row and its known entries"] += t1 - t0
            times["write: transaction, lock, index sync"] += t2 - t1
            times["write: store_articles (facts, decide, insert)"] += t3 - t2
            times["write: feed update and commit"] += t4 - t3
        times["writer side in all"] = time.perf_counter() - start
        if profiler:
            profiler.disable()
        store.close()
        _unlink_sqlite(db)
        return dict(times)

    best: dict[str, float] = {}
    items = 0
    prepared: list[Any] = []
    for _ in range(max(1, reps)):
        t, prepared, items = worker_side()
        t.update(write_side(prepared, None))
        best = {k: min(v, best.get(k, v)) for k, v in t.items()}
    worker_profile = cProfile.Profile()
    worker_profile.enable()
    for body, job in zip(bodies, jobs, strict=True):
        prepare_feed(body, {}, job)
    worker_profile.disable()
    writer_profile = cProfile.Profile()
    write_side(prepared, writer_profile)
    report = _profile_text(worker_profile, "worker side: prepare_feed") + _profile_text(
        writer_profile, "writer side: warm_index, transactions, store_articles"
    )
    if profile_out is not None:
        profile_out.write_text(report, encoding="utf-8")
    return {
        "items": items,
        "us": {k: v / items * 1e6 for k, v in best.items()},
        "profile_top": report.splitlines()[:160],
    }


def _profile_text(profiler: cProfile.Profile, title: str) -> str:
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(25)
    body = text.getvalue().replace(str(Path(sys.prefix)), "<venv>")
    return f"==== {title} ====\n{body}\n"


# --- the rows --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=20, help="corpus feeds of 50 items")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 repetition")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--pg", default=PG_URL)
    parser.add_argument("--profile-out", help="write the cProfile reports here")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    if args.quick:
        args.reps = 1
    if not have_corpus():
        print("skipped: ../shared/corpus is absent")
        write_rows([Row("1 pipeline", "skipped: ../shared/corpus is absent", None)], {},
                   args.json)  # fmt: skip
        return 0
    with_reader = reader_available()
    with_pg = not args.no_postgres and pg_available(args.pg)
    workdir = Path(tempfile.mkdtemp(prefix="ingest-bench-pipe-"))
    extra: dict[str, Any] = {"feeds": args.feeds, "reps": args.reps}
    pool = started_pool(Settings())
    try:
        paths = write_corpus_feeds(workdir / "feeds", args.feeds)
        rebuilt_dir = workdir / "rebuilt"
        write_corpus_feeds(rebuilt_dir, args.feeds, built=datetime.now(UTC))
        rebuilt = [(rebuilt_dir / p.name).read_bytes() for p in paths]
        bodies = [p.read_bytes() for p in paths]
        extra["feed_kb"] = sum(map(len, bodies)) / len(bodies) / 1024
        print(f"A. whole processes, {args.reps} reps ...", flush=True)
        whole = whole_processes(paths, workdir, args.reps, with_reader)
        extra["imports_ms"] = import_times("ingest.cli")
        print("B. re-fetch ...", flush=True)
        warm_pool(pool, paths, workdir)
        again = refetch(paths, rebuilt, workdir, args.reps, pool)
        scan = item_digest_scan(rebuilt, args.reps)
        stores = None
        trips = None
        if with_pg:
            print("C. PostgreSQL against SQLite ...", flush=True)
            stores = backends(paths, workdir, args.reps, pool, args.pg)
            trips = round_trips(paths, pool, args.pg)
        print("D. stages and profiles ...", flush=True)
        try:
            split: dict[str, Any] | None = stages(
                bodies, workdir, Path(args.profile_out) if args.profile_out else None, args.reps
            )
        except Exception as exc:  # the worker-side code is being reshaped: keep the rows
            split = None
            extra["stages_error"] = repr(exc)
    finally:
        pool.close()
        shutil.rmtree(workdir, ignore_errors=True)

    rows = whole_rows(whole, args.feeds, with_reader, extra["imports_ms"])
    rows += refetch_rows(again, scan)
    if stores is not None and trips is not None:
        rows += backend_rows(stores, trips)
    else:
        rows.append(Row("1 postgres", "skipped: PostgreSQL not reachable or --no-postgres",
                        None, goal="G6"))  # fmt: skip
    if split is not None:
        print()
        print(f"where the time goes ({split['items']} articles, stages one by one):")
        for name, us in sorted(split["us"].items(), key=lambda kv: -kv[1]):
            print(f"  {name:62s} {us:7.0f} us/article")
        print("\n".join(split["profile_top"][:90]))
    extra.update(whole=_trim(whole), refetch=again, item_scan=scan, backends=stores,
                 round_trips=trips, stages=split)  # fmt: skip
    write_rows(rows, extra, args.json)
    return 0


def _trim(runs: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    return {k: [{**r, "out": r["out"][-600:]} for r in v] for k, v in runs.items()}


def whole_rows(
    whole: dict[str, list[dict[str, Any]]],
    feeds: int,
    with_reader: bool,
    imports: list[tuple[str, float]],
) -> list[Row]:
    items = int(whole["feedparser"][0]["out"].split()[0])
    walls = {k: median([r["wall"] for r in v]) for k, v in whole.items() if v}
    cpus = {k: median([r["cpu"] for r in v]) for k, v in whole.items() if v}
    summary = _cli_summary(whole["ingest"][-1]["out"])
    ours = items / walls["ingest"]
    base = items / walls["feedparser"]
    r = ratio(ours, base)
    rows = [
        Row(
            "1 fetch",
            f"`ingest fetch` of {feeds} files x 50, items/s by wall time, vs feedparser",
            ours,
            base,
            "items/s",
            "feedparser.parse, defaults, 1 process",
            r,
            ">= 1.0x",
            r is not None and r >= 1.0,
            f"wall {walls['ingest']:.2f} s vs {walls['feedparser']:.2f} s; CPU (workers "
            f"included) {cpus['ingest']:.2f} s vs {cpus['feedparser']:.2f} s; stored new "
            f"{summary.get('new')}, near {summary.get('near_duplicates')}, exact "
            f"{summary.get('exact_duplicates')}, unchanged {summary.get('unchanged')}",
            goal="G1",
        )
    ]
    runs = whole["ingest"]
    timeline = {k: median([r[k] for r in runs]) for k in
                ("first_outcome_s", "last_outcome_s", "summary_s", "wall")}  # fmt: skip
    rows.append(
        Row(
            "1 fetch",
            "context: one `ingest fetch` process, s from its start to its first outcome line",
            timeline["first_outcome_s"],
            walls["feedparser"],
            "s",
            "the whole feedparser run",
            ratio(timeline["first_outcome_s"], walls["feedparser"]),
            note=f"then the other {feeds - 1} feeds until "
            f"{timeline['last_outcome_s']:.2f} s ("
            f"{(timeline['last_outcome_s'] - timeline['first_outcome_s']) / max(1, feeds - 1) * 1000:.0f}"
            f" ms a feed), the summary at {timeline['summary_s']:.2f} s, exit at "
            f"{timeline['wall']:.2f} s (medians)",
        )
    )
    start = {k: median([r["wall"] for r in whole[k]]) for k in
             ("ingest_imports", "worker_imports", "feedparser_imports")}  # fmt: skip
    rows.append(
        Row(
            "1 fetch",
            "context: process start-up and imports, wall s: `import ingest.cli`",
            start["ingest_imports"],
            start["feedparser_imports"],
            "s",
            "`import feedparser`",
            ratio(start["ingest_imports"], start["feedparser_imports"]),
            note=f"a parse worker (`import ingest.prepare`) {start['worker_imports']:.2f} s, "
            "started when the first feed is parsed; both workers start at once; what "
            "ingest.cli imports, cumulative ms (-X importtime, one run): "
            + ", ".join(f"{name} {ms:.0f}" for name, ms in imports[:6]),
        )
    )
    if with_reader and whole["reader"]:
        peer = items / walls["reader"]
        r = ratio(ours, peer)
        entries, broken = whole["reader"][-1]["out"].split()[:2]
        rows.append(
            Row(
                "1 fetch",
                f"`ingest fetch` of {feeds} files x 50, items/s by wall time, vs reader",
                ours,
                peer,
                "items/s",
                "reader 3.26 update_feeds",
                r,
                ">= 1.0x",
                r is not None and r >= 1.0,
                f"wall {walls['ingest']:.2f} s vs {walls['reader']:.2f} s; CPU "
                f"{cpus['ingest']:.2f} s vs {cpus['reader']:.2f} s; reader stored {entries} "
                f"entries, {broken} feed(s) it could not read",
                goal="G2",
            )
        )
    else:
        rows.append(Row("1 fetch", "skipped: reader is not installed (pip install -e '.[bench]')",
                        None, goal="G2"))  # fmt: skip
    return rows


def refetch_rows(again: dict[str, list[dict[str, Any]]], scan: dict[str, Any]) -> list[Row]:
    def med(cycle: str, key: str = "wall") -> float:
        return median([r[key] for r in again[cycle]])

    first = med("first")
    stored = again["first"][-1]
    items = again["bare"][-1]["items"]
    rows = []
    for cycle, label in (
        ("same", "(a) the same bytes again (a server ignoring conditional GET)"),
        ("new_bytes", "(b) the same items in new bytes (a new lastBuildDate)"),
    ):
        last = again[cycle][-1]
        r = ratio(med(cycle), first)
        rows.append(
            Row(
                "1 re-fetch",
                f"unchanged re-fetch of {items} stored items, wall s: {label}",
                med(cycle),
                first,
                "s",
                "their first ingest",
                r,
                "<= 0.10x",
                r is not None and r <= 0.10,
                f"main-process CPU {med(cycle, 'main_cpu'):.2f} s, workers "
                f"{med(cycle, 'worker_cpu'):.2f} s; outcome: new {last['new']}, unchanged "
                f"{last['unchanged']}, updated {last['updated']}",
                goal="G3",
            )
        )
    projected = med("same") + scan["scan_s"]
    r = ratio(projected, first)
    rows.append(
        Row(
            "1 re-fetch",
            "prototype for (b): skip the parse when every raw <item> of the new bytes is "
            "known (per-item digests), wall s",
            projected,
            first,
            "s",
            "their first ingest",
            r,
            "<= 0.10x",
            r is not None and r <= 0.10,
            f"a projection, not a run: (a)'s wall {med('same'):.3f} s + the scan "
            f"{scan['scan_s'] * 1000:.1f} ms (regular expression split and blake2b of "
            f"{scan['items']} items in {scan['feeds']} feeds) instead of "
            f"parse_feed of the same bytes ({scan['parse_s'] * 1000:.0f} ms on one core)",
        )
    )
    bare = items / median([r["wall"] for r in again["bare"]])
    ours = items / first
    rows.append(
        Row(
            "1 fetch",
            "context: the first ingest inside a warm process (Pipeline.run, workers "
            "started), items/s",
            ours,
            bare,
            "items/s",
            "feedparser.parse on bytes in memory",
            ratio(ours, bare),
            note=f"wall {first:.2f} s; main-process CPU {med('first', 'main_cpu'):.2f} s "
            f"(decide and write, the event loop), workers {med('first', 'worker_cpu'):.2f} s "
            f"(parse, clean, analyse); stored new {stored['new']}, near "
            f"{stored['duplicates']}, exact {stored['exact']}",
        )
    )
    return rows


def backend_rows(stores: dict[str, list[dict[str, Any]]], trips: dict[str, Any]) -> list[Row]:
    def rate(backend: str) -> float:
        runs = stores[backend]
        articles = runs[-1]["new"] + runs[-1]["duplicates"] + runs[-1]["exact"]
        return articles / median([r["wall"] for r in runs])

    pg, lite = rate("postgresql"), rate("sqlite")
    r = ratio(pg, lite)
    server = {b: median([x["server_cpu"] for x in stores[b]]) for b in PG_VARIANTS}
    per_article = trips["round_trips"] / max(1, trips["articles"])
    statements = trips["statements"]
    top = ", ".join(f"{k} {v}" for k, v in list(statements.items())[:8])
    main_cpu = {b: median([x["main_cpu"] for x in stores[b]]) for b in stores}
    return [
        Row(
            "1 postgres",
            "ingest rate, articles/s, Pipeline.run into a new store: PostgreSQL",
            pg,
            lite,
            "art/s",
            "SQLite (WAL)",
            r,
            ">= 0.8x",
            r is not None and r >= 0.8,
            f"main-process CPU {main_cpu['postgresql']:.2f} s vs {main_cpu['sqlite']:.2f} s "
            f"(SQLite writes in this process); the PostgreSQL server process behind the "
            f"connection {server['postgresql']:.2f} s",
            goal="G6",
        ),
        *(
            Row(
                "1 postgres",
                f"prototype: PostgreSQL {label}, articles/s",
                rate(variant),
                lite,
                "art/s",
                "SQLite (WAL)",
                ratio(rate(variant), lite),
                note=f"server process CPU {server[variant]:.2f} s (with it: "
                f"{server['postgresql']:.2f} s); main-process CPU "
                f"{median([x['main_cpu'] for x in stores[variant]]):.2f} s",
            )
            for variant, label in (
                ("postgresql_no_search_index", "without the search index (GIN, tsvector)"),
                ("postgresql_async_commit", "with synchronous_commit = off"),
            )
        ),
        Row(
            "1 postgres",
            "PostgreSQL round trips per article (first ingest, counted at a TCP proxy)",
            per_article,
            None,
            "",
            target="<= 2",
            met=per_article <= 2,
            note=f"{trips['round_trips']} round trips for {trips['articles']} articles of "
            f"{trips['feeds']} feeds ({trips['round_trips'] / trips['feeds']:.0f} a feed) on "
            f"{trips['connections']} connection(s); statements "
            f"{sum(v for k, v in statements.items() if k != 'executemany calls')} "
            f"({statements.get('executemany calls', 0)} executemany calls): {top}",
            goal="G6",
        ),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
