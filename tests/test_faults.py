"""The fault catalogue of issue 6, each fault through the real pipeline into a real SQLite file.

Every test serves a fault from the scripted server in ``feedserver.py`` (127.0.0.1 only, short
timeouts) to the real ``Pipeline`` (or ``ingest fetch`` / ``ingest run`` as subprocesses) and
asserts the specific outcome: the error code on the feed's row (``Store.feed``), its
consecutive failures, and that what was stored before is unchanged (``ingest export
--duplicates`` before and after). Content faults that are survivable store a correct result
instead: no entity expanded, no local file or internal URL read, nothing duplicated.

=============================== ===================================================
fault                           outcome on the feed (``error_code`` / result)
=============================== ===================================================
slow trickle, 1 byte/s          ``timeout`` at the total deadline
accepts, never answers          ``timeout``
404, 500                        ``http_status`` with the status
410                             ``gone``, next check at ``max_interval``
429 / 503 with Retry-After      ``http_status``, next check honours Retry-After
redirect loop                   ``too_many_redirects``
301 to a new URL                stored URL moves after ``MOVE_AFTER`` (3) fetches
100 MB body                     ``body_too_large`` (refused before reading with a
                                Content-Length; after the cap without one)
gzip bomb (1 MB -> 1 GiB)       ``body_too_large``
billion laughs, XXE             stored, entities literal, no file or URL read
invalid UTF-8                   stored, U+FFFD at the bad bytes only
windows-1256, lying header      stored as correct Arabic, with a warning
HTML instead of a feed, empty   ``not_a_feed``
truncated XML                   the complete items stored, with a warning
10,000 items                    the newest 500 stored
100,000-deep HTML, 10 MB attr   stored, bounded in time and memory
javascript: / data: links       no such link stored
duplicated GUIDs                one row per GUID
changes on every request        every item once, edits in place
parser over its limits          ``parse_resource_limit``; the worker is replaced
=============================== ===================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import ipaddress
import itertools
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from feedserver import (
    Chunked,
    Evolving,
    FeedServer,
    GzipBomb,
    Hang,
    Large,
    Redirect,
    Static,
    Trickle,
    gzip_bomb,
)

from ingest.cli import main
from ingest.fetch import Fetcher
from ingest.isolate import WorkerPool
from ingest.models import FeedOutcome
from ingest.pipeline import MOVE_AFTER, Pipeline, Target
from ingest.settings import DaemonSettings, HttpSettings, SchedulePolicy, Settings
from ingest.store import open_store
from ingest.store.base import FeedUpdate, Store
from ingest.store.sqlite import SQLiteStore

MIB = 1024 * 1024
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
HTTP = HttpSettings(connect_timeout=0.5, read_timeout=0.5, deadline=1.0, allow_networks=LOOPBACK)
DAEMON = DaemonSettings(
    schedule=SchedulePolicy(min_interval=60.0, max_interval=3600.0, backoff_base=60.0, jitter=0.0)
)
BASE = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


# --- feeds ------------------------------------------------------------------------------------


def paragraphs(key: str) -> list[str]:
    """Distinct Arabic pseudo-paragraphs for ``key`` (no two items near-duplicates)."""
    rng = random.Random(zlib.crc32(key.encode()))

    def word() -> str:
        return "".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 7)))

    return [" ".join(word() for _ in range(25)) for _ in range(3)]


def item(feed: str, n: int, *, title: str | None = None, guid: str | None = None) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs(f"{feed}/{n}"))
    date = format_datetime(BASE + timedelta(minutes=n), usegmt=True)
    return (
        f"<item><title>{title or f'{feed} {n}'}</title><link>https://{feed}.example/{n}</link>"
        f"<guid>{guid or f'{feed}-{n}'}</guid><pubDate>{date}</pubDate>"
        f"<description><![CDATA[{body}]]></description></item>"
    )


def rss(feed: str, items: str | range, prolog: str = "") -> bytes:
    if isinstance(items, range):
        items = "".join(item(feed, n) for n in items)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<rss version="2.0"><channel>'
        f"<title>{feed}</title><link>https://{feed}.example/</link>{items}</channel></rss>"
    ).encode()


GOOD = rss("good", range(3))


# --- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    """One parse pool for the module (a pipeline per test would start its own workers)."""
    with WorkerPool(workers=2, time_limit=10.0) as shared:
        yield shared


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "ingest.db"


@pytest.fixture
def store(db: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(db)
    s.migrate()
    yield s
    s.close()


def settings(db: Path, **http: Any) -> Settings:
    return Settings(db=f"sqlite:///{db}", http=dataclasses.replace(HTTP, **http), daemon=DAEMON)


def ingest(
    store: Store,
    db: Path,
    url: str,
    parser: WorkerPool,
    *,
    name: str = "feed",
    **http: Any,
) -> FeedOutcome:
    """One run of the real pipeline for one feed."""
    config = settings(db, **http)

    async def go() -> FeedOutcome:
        async with Fetcher(config.http) as fetcher:
            pipeline = Pipeline(store, config, fetcher, parser=parser)
            try:
                return await pipeline.run(Target(name, url))
            finally:
                pipeline.close()

    return asyncio.run(go())


def export(db: Path, *extra: str) -> list[dict[str, Any]]:
    """``ingest export --duplicates``: every stored row, as the user sees it."""
    out = io.StringIO()
    assert main(["--db", str(db), "export", "--duplicates", *extra], environ={}, out=out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def database_bytes(db: Path) -> bytes:
    """The database file and its WAL: whatever was stored anywhere."""
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())


@dataclasses.dataclass
class Stored:
    """A feed stored in its good version, before the fault is served."""

    url: str
    path: str
    rows: list[dict[str, Any]]
    last_success: datetime | None


def store_good(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool, path: str = "/feed"
) -> Stored:
    url = server.route(path, Static(GOOD, etag='"good"'))
    outcome = ingest(store, db, url, pool)
    assert outcome.status == "ok" and outcome.new == 3, outcome
    row = store.feed(url)
    assert row is not None
    return Stored(url, path, export(db), row.last_success)


def assert_clear_error(
    store: Store,
    db: Path,
    before: Stored,
    outcome: FeedOutcome,
    code: str,
    *,
    status: int | None = None,
    failures: int = 1,
) -> None:
    """HOSTILE's "clear error": the code on the outcome and on the row, the failure counted,
    nothing already stored changed."""
    assert outcome.status == "error" and outcome.error_code == code, outcome
    row = store.feed(before.url)
    assert row is not None
    assert (row.last_status, row.error_code, row.http_status) == ("error", code, status)
    assert row.error and row.consecutive_failures == failures
    assert row.last_success == before.last_success and row.articles == 3
    assert export(db) == before.rows


def serve_fault(server: FeedServer, before: Stored, behaviour: Any) -> None:
    server.routes[before.path] = behaviour


# --- the network side -------------------------------------------------------------------------


def test_slow_trickle_is_ended_by_the_total_deadline(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool
) -> None:
    before = store_good(server, store, db, pool)
    serve_fault(server, before, Trickle(GOOD, bytes_per_second=1))
    started = time.monotonic()
    # A read timeout longer than the gaps: only the total deadline can end it (HOSTILE 8).
    outcome = ingest(store, db, before.url, pool, read_timeout=5.0)
    assert time.monotonic() - started < HTTP.deadline + 1
    assert "deadline" in (outcome.error or "")
    assert_clear_error(store, db, before, outcome, "timeout")


def test_a_server_that_accepts_and_never_answers_times_out(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool
) -> None:
    before = store_good(server, store, db, pool)
    serve_fault(server, before, Hang(seconds=30))
    started = time.monotonic()
    outcome = ingest(store, db, before.url, pool)
    assert time.monotonic() - started < HTTP.deadline + 1
    assert_clear_error(store, db, before, outcome, "timeout")


@pytest.mark.parametrize("status", [404, 500])
def test_http_errors_are_recorded_with_their_status(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool, status: int
) -> None:
    before = store_good(server, store, db, pool)
    serve_fault(server, before, Static(b"no", status=status))
    ingest(store, db, before.url, pool)
    outcome = ingest(store, db, before.url, pool)
    assert outcome.http_status == status
    assert_clear_error(store, db, before, outcome, "http_status", status=status, failures=2)


def test_410_gone_is_its_own_error_retried_at_the_slowest_rate(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool
) -> None:
    before = store_good(server, store, db, pool)
    serve_fault(server, before, Static(b"gone", status=410))
    for failures in (1, 2):
        now = datetime.now(UTC)
        outcome = ingest(store, db, before.url, pool)
        assert_clear_error(store, db, before, outcome, "gone", status=410, failures=failures)
        # Never given up, never hammered: due again after max_interval, not backoff_base.
        assert outcome.next_check is not None
        wait = (outcome.next_check - now).total_seconds()
        assert DAEMON.schedule.max_interval - 1 <= wait <= DAEMON.schedule.max_interval + 5
        row = store.feed(before.url)
        assert row is not None and row.next_check is not None


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool, status: int
) -> None:
    before = store_good(server, store, db, pool)
    serve_fault(server, before, Static(b"busy", status=status, headers=(("Retry-After", "7200"),)))
    now = datetime.now(UTC)
    outcome = ingest(store, db, before.url, pool)
    assert_clear_error(store, db, before, outcome, "http_status", status=status)
    # Above max_interval (3600 s) and far above the first back-off (60 s): the server asked.
    assert outcome.next_check is not None
    assert outcome.next_check - now >= timedelta(seconds=7200)


def test_redirect_loop_fails_fast(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool
) -> None:
    before = store_good(server, store, db, pool)
    serve_fault(server, before, Redirect(before.path))
    started = time.monotonic()
    outcome = ingest(store, db, before.url, pool)
    assert time.monotonic() - started < 1
    assert_clear_error(store, db, before, outcome, "too_many_redirects")
    assert server.hits[before.path] == 1 + HTTP.max_redirects + 1  # the good fetch, then 6


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
def test_a_100_mb_body_is_refused(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool, length: bool
) -> None:
    before = store_good(server, store, db, pool)
    fault = Large(100 * MIB) if length else Chunked(100 * MIB)
    serve_fault(server, before, fault)
    started = time.monotonic()
    outcome = ingest(store, db, before.url, pool)
    assert time.monotonic() - started < HTTP.deadline
    assert_clear_error(store, db, before, outcome, "body_too_large")
    if length:  # refused on the header, before reading
        assert "Content-Length" in (outcome.error or "")


def test_a_gzip_bomb_is_refused_at_the_decoded_cap(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool
) -> None:
    before = store_good(server, store, db, pool)
    gzip_bomb(1 << 30)  # made once and cached: the server must not build it inside a request
    serve_fault(server, before, GzipBomb(1 << 30))
    outcome = ingest(store, db, before.url, pool)
    assert "after decoding" in (outcome.error or "")
    assert_clear_error(store, db, before, outcome, "body_too_large")


# --- permanent redirects ----------------------------------------------------------------------


def test_a_consistent_301_moves_the_feed(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool
) -> None:
    old = server.route("/old", Redirect("/new", 301))
    new = server.route("/new", Static(GOOD))
    for fetch in range(1, MOVE_AFTER + 1):
        outcome = ingest(store, db, old, pool)
        assert outcome.status == "ok"
        row = store.feed(old)
        assert row is not None
        if fetch < MOVE_AFTER:
            assert (row.url, row.redirect_url, row.redirect_count) == (old, new, fetch)
            assert not outcome.warnings
    assert any("moved permanently" in w for w in outcome.warnings)
    assert row.url == new and row.origin_url == old and row.redirect_count == 0
    # The configured (old) URL still finds the feed; fetches now go to the new URL directly.
    outcome = ingest(store, db, old, pool)
    assert outcome.status == "ok" and outcome.unchanged == 3
    assert (server.hits["/old"], server.hits["/new"]) == (MOVE_AFTER, MOVE_AFTER + 1)
    moved = store.feed(new)
    assert moved is not None and moved.id == row.id and len(store.feeds()) == 1
    assert len(export(db)) == 3  # nothing duplicated
    assert len(export(db, "--feed", old)) == 3  # the old URL still names the feed


def test_a_temporary_or_inconsistent_redirect_never_moves_the_feed(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool
) -> None:
    temporary = server.route("/tmp", Redirect("/there", 302))
    server.route("/there", Static(GOOD))
    fickle = server.route("/fickle", Redirect("/a", 301))
    server.route("/a", Static(GOOD))
    server.route("/b", Static(GOOD))
    for fetch in range(MOVE_AFTER + 1):
        ingest(store, db, temporary, pool, name="temporary")
        # A permanent redirect to another place every time: no streak.
        server.routes["/fickle"] = Redirect("/a" if fetch % 2 else "/b", 301)
        ingest(store, db, fickle, pool, name="fickle")
    kept, moving = store.feed(temporary), store.feed(fickle)
    assert kept is not None and kept.url == temporary and kept.redirect_count == 0
    assert moving is not None and moving.url == fickle and moving.redirect_count == 1


def test_a_move_onto_another_feeds_url_is_refused_with_a_warning(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool
) -> None:
    taken = server.route("/taken", Static(GOOD))
    mover = server.route("/mover", Redirect("/taken", 301))
    assert ingest(store, db, taken, pool, name="taken").status == "ok"
    for _ in range(MOVE_AFTER + 1):
        outcome = ingest(store, db, mover, pool, name="mover")
        assert outcome.status == "ok"
    assert any("already the feed 'taken'" in w for w in outcome.warnings)
    row = store.feed(mover)
    assert row is not None and row.url == mover and row.redirect_count == MOVE_AFTER + 1
    assert {f.url for f in store.feeds()} == {taken, mover}


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_store_contract_of_a_move(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Migration 3 on both backends: the redirect streak, the move, lookups by the old URL."""
    url = (
        f"sqlite:///{tmp_path / 'x.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    s = open_store(url)
    try:
        s.migrate()
        old, new, other = "https://a.example/rss", "https://b.example/rss", "https://c.example/"
        with s.transaction() as tx:
            feed = tx.feed_id(old, "A")
            tx.update_feed(feed, FeedUpdate(BASE, "ok", redirect_url=new, redirect_count=2))
            tx.feed_id(other, "C")
        row = s.feed(old)
        assert row is not None and (row.redirect_url, row.redirect_count) == (new, 2)
        with s.transaction() as tx:  # an error keeps the streak
            tx.update_feed(feed, FeedUpdate(BASE, "error", error_code="timeout"))
        row = s.feed(old)
        assert row is not None and row.redirect_count == 2
        with s.transaction() as tx:
            tx.update_feed(
                feed, FeedUpdate(BASE, "ok", url=new, redirect_url=new, redirect_count=3)
            )
        for key in (old, new):
            row = s.feed(key)
            assert row is not None and row.id == feed
            assert (row.url, row.origin_url, row.redirect_count) == (new, old, 0)
        with s.transaction() as tx:
            assert tx.feed_id(old, None) == feed == tx.feed_id(new, None)
        assert s.claim(old, "A", "me", BASE, 60).claimed
        s.release(old, "me")
        row = s.feed(new)
        assert row is not None and row.lease_owner is None and row.url == new
        assert len(s.feeds()) == 2
    finally:
        s.close()


# --- hostile XML ------------------------------------------------------------------------------


def _laugh(level: int) -> str:
    inner = f"&lol{level - 1};" if level > 1 else "&lol;"
    return f'<!ENTITY lol{level} "{inner * 10}">'


BILLION_LAUGHS = (
    '<!DOCTYPE rss [<!ENTITY lol "lol">' + "".join(_laugh(i) for i in range(1, 10)) + "]>"
)


def test_billion_laughs_is_stored_unexpanded(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool
) -> None:
    before = store_good(server, store, db, pool)
    items = item("lol", 10, title="&lol9; laughs") + before_items()
    serve_fault(server, before, Static(rss("good", items, prolog=BILLION_LAUGHS)))
    started = time.monotonic()
    outcome = ingest(store, db, before.url, pool)
    assert time.monotonic() - started < 2
    assert outcome.status == "ok" and outcome.new == 1 and outcome.unchanged == 3
    assert any("DOCTYPE" in w for w in outcome.warnings)
    rows = export(db)
    assert rows[:3] == before.rows  # nothing already stored changed
    assert rows[3]["title"] == "&lol9; laughs"
    assert b"lollol" not in database_bytes(db)


def before_items() -> str:
    return "".join(item("good", n) for n in range(3))


@pytest.mark.parametrize("where", ["title", "description"])
def test_xxe_to_a_local_file_reads_nothing(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool, where: str
) -> None:
    before = store_good(server, store, db, pool)
    prolog = '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    hostile = (
        "<item><title>a &xxe; b</title><guid>xxe-1</guid>"
        "<description>&lt;p&gt;وصف &amp;xxe; &xxe;&lt;/p&gt;</description></item>"
    )
    serve_fault(server, before, Static(rss("good", hostile + before_items(), prolog=prolog)))
    outcome = ingest(store, db, before.url, pool)
    assert outcome.status == "ok" and outcome.new == 1 and outcome.unchanged == 3
    rows = export(db)
    assert rows[:3] == before.rows
    assert rows[3]["title"] == "a &xxe; b"  # the reference stays literal text
    assert b"root:x:0" not in database_bytes(db)
    assert "root:x:0" not in json.dumps(rows)


def test_xxe_to_an_internal_url_makes_no_request(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool
) -> None:
    before = store_good(server, store, db, pool)
    for path in ("/secret", "/evil.dtd", "/param.dtd"):
        server.route(path, Static(b"internal secret", content_type="text/plain"))
    secret, dtd, param = (server.url(p) for p in ("/secret", "/evil.dtd", "/param.dtd"))
    prologs = [
        f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{secret}">]>',
        f'<!DOCTYPE rss SYSTEM "{dtd}">',
        f'<!DOCTYPE rss [<!ENTITY % remote SYSTEM "{param}"> %remote;]>',
    ]
    for prolog in prologs:
        hostile = "<item><title>x &xxe; y</title><guid>xxe-http</guid></item>"
        serve_fault(server, before, Static(rss("good", hostile + before_items(), prolog=prolog)))
        outcome = ingest(store, db, before.url, pool)
        assert outcome.status == "ok", outcome
    assert server.hits["/secret"] == server.hits["/evil.dtd"] == server.hits["/param.dtd"] == 0
    assert b"internal secret" not in database_bytes(db)


# --- encodings and not-a-feed -----------------------------------------------------------------


def test_invalid_utf8_is_stored_with_replacement_characters_only_at_the_bad_bytes(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool
) -> None:
    before = store_good(server, store, db, pool)
    bad = "<item><title>مقهى café @BAD@ نهاية</title><guid>u8</guid></item>"
    body = rss("good", bad + before_items()).replace(b"@BAD@", b"\xff")
    serve_fault(server, before, Static(body))
    outcome = ingest(store, db, before.url, pool)
    assert outcome.status == "ok" and outcome.new == 1
    assert any("U+FFFD" in w for w in outcome.warnings)
    rows = export(db)
    assert rows[:3] == before.rows
    assert rows[3]["title"] == "مقهى café \ufffd نهاية"  # é intact, never Ã©


def test_windows_1256_with_a_lying_header_is_read_as_arabic(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool
) -> None:
    before = store_good(server, store, db, pool)
    title = "الحكومة تقر الميزانية الجديدة"
    text = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>قناة</title>'
        f"<item><title>{title}</title><guid>cp</guid>"
        "<description>صادق مجلس الوزراء على مشروع الميزانية</description></item>"
        "</channel></rss>"
    )
    lying = Static(text.encode("cp1256"), content_type="application/rss+xml; charset=utf-8")
    serve_fault(server, before, lying)
    outcome = ingest(store, db, before.url, pool)
    assert outcome.status == "ok" and outcome.new == 1
    assert any("windows-1256" in w for w in outcome.warnings)
    rows = export(db)
    assert rows[:3] == before.rows
    assert rows[3]["title"] == title
    assert rows[3]["paragraphs"] == ["صادق مجلس الوزراء على مشروع الميزانية"]


@pytest.mark.parametrize(
    "case",
    [
        (b"<!DOCTYPE html><html><body><p>hi</p></body></html>", "text/html", "HTML page"),
        (b"", "application/rss+xml", "empty"),
    ],
    ids=["html", "empty"],
)
def test_html_or_an_empty_body_is_not_a_feed(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool, case: tuple[bytes, str, str]
) -> None:
    body, content_type, reason = case
    before = store_good(server, store, db, pool)
    serve_fault(server, before, Static(body, content_type=content_type))
    outcome = ingest(store, db, before.url, pool)
    assert reason in (outcome.error or "")
    assert_clear_error(store, db, before, outcome, "not_a_feed", status=None)


@pytest.mark.parametrize("where", ["title", "text"])
def test_truncated_xml_stores_the_complete_items(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool, where: str
) -> None:
    before = store_good(server, store, db, pool)
    whole = rss("good", item("good", 3) + before_items())
    if where == "title":  # item good-0 is cut before its GUID: nothing identifies it
        cut = whole[: whole.index(b"<title>", whole.index(b"</item>")) + 12]
    else:  # cut inside the text of item good-0, after its GUID: it comes back short
        cut = whole[: whole.index(b"<p>", whole.index(b"<guid>good-0</guid>")) + 20]
    serve_fault(server, before, Static(cut))
    outcome = ingest(store, db, before.url, pool)
    assert outcome.status == "ok" and (outcome.new, outcome.updated) == (1, 0), outcome
    assert any("not well-formed" in w for w in outcome.warnings)
    rows = export(db)
    # The cut item neither overwrites the stored one nor comes in as a second article.
    assert rows[:3] == before.rows and [r["guid"] for r in rows[3:]] == ["good-3"]


# --- big and pathological content -------------------------------------------------------------


def test_a_10000_item_feed_keeps_the_newest_500(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool
) -> None:
    items = "".join(
        f"<item><title>t{n}</title><guid>g{n}</guid><description>item number {n}</description>"
        f"<pubDate>{format_datetime(BASE + timedelta(minutes=n), usegmt=True)}</pubDate></item>"
        for n in range(10_000)
    )
    url = server.route("/big", Static(rss("big", items)))
    started = time.monotonic()
    outcome = ingest(store, db, url, pool)
    assert time.monotonic() - started < 8
    assert outcome.status == "ok" and outcome.new + outcome.exact + outcome.duplicates == 500
    guids = {row["guid"] for row in export(db)}
    assert guids == {f"g{n}" for n in range(9_500, 10_000)}


def test_100000_deep_nested_html_in_an_item_is_bounded(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool
) -> None:
    deep = "<div>" * 100_000 + "عمق" + "</div>" * 100_000
    hostile = f"<item><title>deep</title><guid>deep</guid><description><![CDATA[{deep}]]></description></item>"
    url = server.route("/deep", Static(rss("deep", hostile + item("deep", 1))))
    started = time.monotonic()
    outcome = ingest(store, db, url, pool)
    assert time.monotonic() - started < 5
    assert outcome.status == "ok" and outcome.new == 2
    rows = {row["guid"]: row for row in export(db)}
    assert rows["deep"]["title"] == "deep" and sum(map(len, rows["deep"]["paragraphs"])) < 1000
    assert rows["deep-1"]["paragraphs"] == paragraphs("deep/1")


def test_a_10_mb_attribute_is_bounded(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool
) -> None:
    attribute = "A" * (10 * MIB)
    hostile = (
        "<item><title>wide</title><guid>wide</guid>"
        f'<description>&lt;p title="{attribute}"&gt;visible&lt;/p&gt;</description></item>'
    )
    body = rss("wide", hostile + item("wide", 1))
    assert len(body) < HTTP.max_body_bytes
    url = server.route("/wide", Static(body))
    started = time.monotonic()
    outcome = ingest(store, db, url, pool)
    assert time.monotonic() - started < 5
    assert outcome.status == "ok" and outcome.new == 2
    rows = {row["guid"]: row for row in export(db)}
    assert rows["wide"]["title"] == "wide"
    assert sum(map(len, rows["wide"]["paragraphs"])) < 1_000_000  # capped, not 10 MB
    assert rows["wide-1"]["paragraphs"] == paragraphs("wide/1")


def test_javascript_and_data_links_are_never_stored(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool
) -> None:
    links = ["javascript:alert(1)", "JaVaScRiPt:alert(2)", "data:text/html,<script>x</script>"]
    items = "".join(
        f"<item><title>link {i}</title><guid>l{i}</guid><link>{link.replace('<', '&lt;')}</link>"
        f'<description>&lt;p&gt;read &lt;a href="{link.replace("<", "&amp;lt;")}"&gt;here&lt;/a&gt; '
        f"كلمات عربية هنا&lt;/p&gt;</description></item>"
        for i, link in enumerate(links)
    )
    url = server.route("/links", Static(rss("links", items)))
    outcome = ingest(store, db, url, pool)
    # Three items saying one thing: three rows, the first a story, the others its exact
    # copies (the same text under GUIDs the document also names is not a renamed item).
    assert outcome.status == "ok" and (outcome.new, outcome.exact, outcome.unchanged) == (1, 2, 0)
    rows = export(db, "--duplicates")
    assert [row["url"] for row in rows] == [None, None, None]
    again = ingest(store, db, url, pool)
    assert (again.new, again.exact, again.updated) == (0, 0, 0)
    stored = database_bytes(db).lower()
    assert b"javascript:" not in stored and b"data:text" not in stored


def test_duplicated_guids_in_one_feed_give_one_row(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool
) -> None:
    items = item("dup", 1, title="first version", guid="same") + item(
        "dup", 2, title="second version", guid="same"
    )
    url = server.route("/dup", Static(rss("dup", items)))
    outcome = ingest(store, db, url, pool)
    # The newest version is kept, once; a second fetch changes nothing.
    assert outcome.status == "ok" and (outcome.new, outcome.updated) == (1, 0)
    assert [(r["guid"], r["title"]) for r in export(db)] == [("same", "second version")]
    again = ingest(store, db, url, pool)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 1)
    assert len(export(db)) == 1


def test_a_feed_that_changes_on_every_request(
    server: FeedServer, store: Store, db: Path, pool: WorkerPool
) -> None:
    """Version n publishes items n .. n + 2 + n % 3, and retitles item n (an edit)."""

    def render(n: int) -> bytes:
        items = "".join(
            item("moving", k, title=f"moving {k} (edited in {n})" if k == n else None)
            for k in range(n, n + 3 + n % 3)
        )
        return rss("moving", items)

    counter = itertools.count()
    url = server.route("/moving", Evolving(render, lambda: next(counter)))
    published: set[int] = set()
    for n in range(6):
        outcome = ingest(store, db, url, pool)
        assert outcome.status == "ok"
        fresh = set(range(n, n + 3 + n % 3)) - published
        assert outcome.new == len(fresh)
        assert outcome.updated == (1 if n in published else 0)
        published |= fresh
    rows = export(db)
    assert sorted(r["guid"] for r in rows) == sorted(f"moving-{k}" for k in published)
    titles = {r["guid"]: r["title"] for r in rows}
    assert titles["moving-5"] == "moving 5 (edited in 5)"


def test_a_parse_over_its_limits_is_recorded_and_the_next_feed_parses(
    server: FeedServer, store: Store, db: Path
) -> None:
    """HOSTILE 16 through the pipeline: a pool whose limit a 10,000-item feed exceeds."""
    items = "".join(f"<item><title>t{n}</title><guid>g{n}</guid></item>" for n in range(10_000))
    slow = server.route("/slow-parse", Static(rss("big", items)))
    good = server.route("/good", Static(GOOD))
    with WorkerPool(workers=1, time_limit=0.05) as tight:
        outcome = ingest(store, db, slow, tight)
        assert outcome.error_code == "parse_resource_limit", outcome
        row = store.feed(slow)
        assert row is not None and row.error_code == "parse_resource_limit"
        assert row.consecutive_failures == 1
        tight.time_limit = 10.0
        assert ingest(store, db, good, tight).new == 3
        assert tight.stats.limited == 1 and tight.stats.started == 2


# --- memory of the worst cases, as a user runs them ---------------------------------------------


def _config(tmp_path: Path, db: Path) -> Path:
    path = tmp_path / "ingest.toml"
    path.write_text(
        f'[store]\ndb = "sqlite:///{db}"\n[http]\nallow_networks = ["127.0.0.0/8"]\n'
        "connect_timeout = 1.0\nread_timeout = 1.0\ndeadline = 5.0\n",
        encoding="utf-8",
    )
    return path


def test_worst_cases_through_ingest_fetch_stay_bounded_in_memory(
    server: FeedServer, tmp_path: Path, db: Path
) -> None:
    deep = "<div>" * 100_000 + "x" + "</div>" * 100_000
    huge = "A" * (10 * MIB)
    faults: dict[str, tuple[Any, str | None]] = {
        "/bomb": (GzipBomb(1 << 30), "body_too_large"),
        "/100mb": (Chunked(100 * MIB), "body_too_large"),
        "/10k": (
            Static(
                rss(
                    "k",
                    "".join(
                        f"<item><guid>{n}</guid><title>t {n}</title></item>" for n in range(10_000)
                    ),
                )
            ),
            None,
        ),
        "/deep": (
            Static(
                rss(
                    "d", f"<item><guid>d</guid><description><![CDATA[{deep}]]></description></item>"
                )
            ),
            None,
        ),
        "/wide": (
            Static(
                rss(
                    "w",
                    f'<item><guid>w</guid><description>&lt;p title="{huge}"&gt;x&lt;/p&gt;</description></item>',
                )
            ),
            None,
        ),
        "/laughs": (Static(rss("l", item("l", 1, title="&lol9;"), prolog=BILLION_LAUGHS)), None),
    }
    gzip_bomb(1 << 30)
    urls = {server.route(path, fault): code for path, (fault, code) in faults.items()}
    config = _config(tmp_path, db)
    # One run, all at once, as a daemon meets them: the peaks are over the whole lot.
    out, main_mib, worker_mib = run_measured(["--config", str(config), "fetch", "--json", *urls])
    *feeds, _summary = map(json.loads, out.splitlines())
    outcomes = {o["url"]: o["error_code"] for o in feeds}
    assert outcomes == urls
    print(f"peak RSS: main process {main_mib:.0f} MiB, parse workers {worker_mib:.0f} MiB")
    assert main_mib < 300 and worker_mib < 300


_MEASURED = """
import json, resource, sys
from ingest.cli import main
code = main(sys.argv[1:])
status = open("/proc/self/status").read()
hwm = int(status.split("VmHWM:")[1].split()[0])
workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print("MEASURED", json.dumps([hwm / 1024, workers / 1024]), file=sys.stderr)
sys.exit(code)
"""


def run_measured(args: list[str]) -> tuple[str, float, float]:
    """Run the CLI (``ingest ARGS``) in a fresh interpreter: its stdout, the peak RSS of the
    process (VmHWM: its own memory since exec, not the pytest process it was forked from) and
    of its parse workers (``RUSAGE_CHILDREN``: an upper bound, it counts the parent's RSS at
    the moment a worker was started)."""
    result = subprocess.run(
        [sys.executable, "-c", _MEASURED, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in ("INGEST_DB", "INGEST_CONFIG")},
    )
    assert "Traceback" not in result.stderr, result.stderr
    measured = json.loads(result.stderr.split("MEASURED", 1)[1])
    return result.stdout, float(measured[0]), float(measured[1])


# --- the daemon -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(predicate: Any, timeout: float = 15.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with contextlib.suppress(OSError, KeyError, ValueError, urllib.error.URLError):
            if predicate():
                return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_the_daemon_records_each_fault_and_stays_ready(
    server: FeedServer, tmp_path: Path, db: Path
) -> None:
    expected = {
        "ok": (Static(GOOD), None),
        "missing": (Static(b"no", status=404), "http_status"),
        "gone": (Static(b"gone", status=410), "gone"),
        "broken": (Static(b"boom", status=500), "http_status"),
        "busy": (Static(b"", status=503, headers=(("Retry-After", "1"),)), "http_status"),
        "loop": (Redirect("/loop"), "too_many_redirects"),
        "hang": (Hang(seconds=30), "timeout"),
        "html": (Static(b"<html><body>x</body></html>", content_type="text/html"), "not_a_feed"),
        "bomb": (GzipBomb(1 << 30), "body_too_large"),
        "huge": (Chunked(100 * MIB), "body_too_large"),
    }
    feeds = {name: server.route(f"/{name}", behaviour) for name, (behaviour, _) in expected.items()}
    port = free_port()
    config = tmp_path / "daemon.toml"
    config.write_text(
        f'[store]\ndb = "sqlite:///{db}"\n'
        '[http]\nallow_networks = ["127.0.0.0/8"]\nconnect_timeout = 0.5\nread_timeout = 0.5\n'
        "deadline = 1.0\nmax_connections = 10\nper_host = 10\n"
        "[daemon]\nmin_interval = 0.5\nmax_interval = 2.0\nbackoff_base = 0.5\njitter = 0.1\n"
        f'stop_timeout = 2.0\nhealth_address = "127.0.0.1:{port}"\n[web]\naddress = ""\n'
        + "".join(f'[[feeds]]\nname = "{n}"\nurl = "{u}"\n' for n, u in feeds.items()),
        encoding="utf-8",
    )
    log = tmp_path / "daemon.log"
    env = {k: v for k, v in os.environ.items() if k not in ("INGEST_DB", "NOTIFY_SOCKET")}
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingest", "--config", str(config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
        try:

            def status() -> dict[str, dict[str, Any]]:
                code, body = http_get(port, "/status")
                assert code == 200
                return {f["name"]: f for f in json.loads(body)["feeds"]}

            def all_recorded() -> bool:
                now = status()
                return all(
                    now[name]["outcome"] is not None and now[name]["error_code"] == code
                    for name, (_, code) in expected.items()
                )

            assert wait_for(all_recorded, 20), (status(), log.read_text())
            # Failing feeds keep being retried; the daemon stays live and ready.
            assert wait_for(lambda: status()["gone"]["consecutive_failures"] >= 2, 10)
            assert http_get(port, "/livez")[0] == 200 and http_get(port, "/readyz")[0] == 200
            assert status()["ok"]["articles"] == 3
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0  # the process really exited
            assert time.monotonic() - started < 2.0 + 1.0 + 1.0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    logged = log.read_text()
    assert "Traceback" not in logged
    for name, (_, code) in expected.items():
        if code:
            assert f"feed={name} " in logged and f"error_code={code}" in logged
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = dict(conn.execute("SELECT name, error_code FROM feeds").fetchall())
    finally:
        conn.close()
    assert rows == {name: code for name, (_, code) in expected.items()}
