"""The store contract, run on a real SQLite file and on a PostgreSQL schema alike.

PostgreSQL tests are marked ``postgres`` and use the throw-away database of ``conftest.py``;
tests about one backend's own machinery (WAL, advisory locks, SQLSTATEs) say so in their name.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from ingest.errors import ConfigError, SchemaError, StoreError
from ingest.models import Article, HttpCache, Removed, Verdict
from ingest.store import open_store, sqlite_path
from ingest.store.base import (
    SCHEMA_VERSION,
    FeedUpdate,
    Store,
    from_signed64,
    to_signed64,
)
from ingest.store.copy import CopyReport, copy_store

T0 = datetime(2024, 12, 7, 9, 0, tzinfo=UTC)
BIG = 0xF00D_0000_0000_BEEF  # above 2**63: exercises the signed BIGINT mapping
OTHER, EDITED = 0x1111_2222_3333_4444, 0x5555_6666_7777_8888  # no band in common with BIG


def article(
    guid: str,
    *,
    simhash: int = BIG,
    url: str | None = None,
    text: str = "t",
    published: datetime | None = T0,
    paragraphs: tuple[str, ...] = ("فقرة أولى",),
    content: str = "c",
) -> Article:
    return Article(
        feed_url="https://a.example/rss",
        guid=guid,
        url=url,
        canonical_url=url,
        title=f"title {guid}",
        published=published,
        fetched=T0,
        author=None,
        paragraphs=paragraphs,
        removed=(Removed(reason="ad_marker", text="[ad_1]", position=0),),
        simhash=simhash,
        fp_version=1,
        text_hash=text,
        content_hash=content,
    )


def bands_of(fp: int) -> tuple[int, ...]:
    return tuple((fp >> (16 * i)) & 0xFFFF for i in range(4))


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new, empty store of each backend."""
    if request.param == "sqlite":
        (tmp_path / "sub").mkdir()  # a store's directory must exist (issue 11, finding 5)
        return f"sqlite:///{tmp_path / 'sub' / 'ingest.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def other(db_url: str, store: Store) -> Iterator[Store]:
    """A second store object on the same database: another daemon."""
    s = open_store(db_url)
    yield s
    s.close()


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    s = open_store(pg_url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def pg_other(pg_url: str, pg_store: Store) -> Iterator[Store]:
    s = open_store(pg_url)
    yield s
    s.close()


def test_signed_mapping_round_trips() -> None:
    for value in (0, 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1, BIG):
        assert from_signed64(to_signed64(value)) == value
        assert -(1 << 63) <= to_signed64(value) < 1 << 63


def test_sqlite_urls() -> None:
    assert sqlite_path("sqlite:///rel/x.db") == "rel/x.db"
    assert sqlite_path("sqlite:////abs/x.db") == "/abs/x.db"
    assert sqlite_path("plain.db") == "plain.db"
    assert sqlite_path("postgresql://localhost/test") is None


def test_file_is_created_in_wal_mode_and_migrations_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "x.db"
    path.parent.mkdir(parents=True)  # only the default location's directory is made for us
    s = open_store(str(path))
    with pytest.raises(SchemaError, match="run `ingest --db"):
        s.check_schema()
    assert s.migrate() == SCHEMA_VERSION
    assert s.migrate() == SCHEMA_VERSION
    s.check_schema()
    s.close()
    assert path.exists()
    import sqlite3

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT count(*) FROM ingest_schema").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_canonical_and_link_records(store: Store) -> None:
    with store.transaction() as tx:
        feed = tx.feed_id("https://a.example/rss", "A")
        assert tx.feed_id("https://a.example/rss", "A") == feed
        first = tx.insert_article(
            feed, article("g1", url="https://a.example/1"), bands_of(BIG), Verdict(kind="new")
        )
        link = tx.insert_article(
            feed,
            article("g2", simhash=BIG ^ 0b111),
            bands_of(BIG ^ 0b111),
            Verdict(kind="near", duplicate_of=first, rule="simhash", distance=3, overlap=0.8),
        )
    canonical = store.article(first)
    assert canonical is not None
    assert canonical.simhash == BIG and canonical.paragraphs == ("فقرة أولى",)
    assert canonical.removed[0].reason == "ad_marker"
    duplicate = store.article(link)
    assert duplicate is not None
    assert (
        duplicate.duplicate_of == first and duplicate.paragraphs == () and duplicate.removed == ()
    )
    assert (duplicate.dup_rule, duplicate.dup_distance, duplicate.dup_overlap) == (
        "simhash",
        3,
        0.8,
    )
    assert [a.id for a in store.articles()] == [first]
    assert [a.id for a in store.articles(duplicates=True)] == [first, link]
    assert [a.id for a in store.links_to(first)] == [link]
    assert store.integrity_check() == "ok"


def test_lookups(store: Store) -> None:
    with store.transaction() as tx:
        feed = tx.feed_id("https://a.example/rss", None)
        aid = tx.insert_article(
            feed,
            article("g1", url="https://a.example/1", text="h1"),
            bands_of(BIG),
            Verdict(kind="new"),
        )
        assert tx.find_guid(feed, "g1") == (aid, "c")
        assert tx.find_guid(feed, "nope") is None
        assert tx.find_exact("https://a.example/1", "zzz") == (aid, "url")
        assert tx.find_exact(None, "h1") == (aid, "text")
        assert tx.find_exact("https://other", "zzz") is None
        ts = int(T0.timestamp())
        # One band equal is enough to be a candidate; distance is measured by the caller.
        near = BIG ^ 0xFFFF_FFFF_FFFF_0000
        found = tx.near_candidates(bands_of(near), 1, ts, 3600)
        assert [c.id for c in found] == [aid] and found[0].simhash == BIG
        assert found[0].paragraphs == ("فقرة أولى",)
        assert tx.near_candidates(bands_of(~BIG & (2**64 - 1)), 1, ts, 3600) == []
        assert tx.near_candidates(bands_of(BIG), 2, ts, 3600) == []  # other fingerprint version
        assert tx.near_candidates(bands_of(BIG), 1, ts + 7200, 3600) == []  # outside the window


def test_rollback_keeps_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        feed = tx.feed_id("https://a.example/rss", None)
        tx.insert_article(feed, article("g1"), bands_of(BIG), Verdict(kind="new"))
        tx.update_feed(feed, FeedUpdate(fetched_at=T0, status="ok", cache=HttpCache(etag='"x"')))
        raise RuntimeError("crash between items and feed state")
    assert store.feeds() == []
    assert list(store.articles(duplicates=True)) == []


def test_constraint_violation_is_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError), store.transaction() as tx:
        feed = tx.feed_id("https://a.example/rss", None)
        tx.insert_article(feed, article("g1"), bands_of(BIG), Verdict(kind="new"))
        tx.insert_article(feed, article("g1"), bands_of(BIG), Verdict(kind="new"))
    assert list(store.articles()) == []


def test_feed_state(store: Store) -> None:
    url = "https://a.example/rss"
    with store.transaction() as tx:
        feed = tx.feed_id(url, "A")
        tx.update_feed(
            feed,
            FeedUpdate(
                fetched_at=T0,
                status="ok",
                http_status=200,
                cache=HttpCache('"e1"', "Sat, 07 Dec 2024 09:00:00 GMT"),
                ttl_seconds=1800,
                new_articles=3,
                new_duplicates=1,
            ),
        )
    for i in range(2):
        with store.transaction() as tx:
            tx.update_feed(
                feed,
                FeedUpdate(
                    fetched_at=T0 + timedelta(minutes=i + 1),
                    status="error",
                    http_status=503,
                    error_code="http_status",
                    error="503 from server",
                ),
            )
    row = store.feed(url)
    assert row is not None
    assert row.consecutive_failures == 2 and row.error_code == "http_status"
    assert row.cache == HttpCache('"e1"', "Sat, 07 Dec 2024 09:00:00 GMT")  # errors keep them
    assert row.last_success == T0 and row.last_fetch == T0 + timedelta(minutes=2)
    assert (row.articles, row.duplicates, row.ttl_seconds) == (3, 1, 1800)
    with store.transaction() as tx:
        tx.update_feed(feed, FeedUpdate(fetched_at=T0, status="not_modified", http_status=304))
    row = store.feed(url)
    assert row is not None and row.consecutive_failures == 0 and row.error_code is None


def test_update_in_place_and_filters(store: Store) -> None:
    with store.transaction() as tx:
        a = tx.feed_id("https://a.example/rss", "A")
        b = tx.feed_id("https://b.example/rss", "B")
        old = tx.insert_article(
            a, article("g1", published=T0 - timedelta(days=3)), bands_of(BIG), Verdict(kind="new")
        )
        other, edited_fp = 0x1111_2222_3333_4444, 0x5555_6666_7777_8888
        tx.insert_article(
            b, article("g1", simhash=other, text="other"), bands_of(other), Verdict(kind="new")
        )
        tx.update_article(
            old,
            article("g1", simhash=edited_fp, paragraphs=("معدلة",), content="c2"),
            bands_of(edited_fp),
        )
    edited = store.article(old)
    assert edited is not None and edited.paragraphs == ("معدلة",) and edited.simhash == edited_fp
    with store.transaction() as tx:
        # The old bands are gone, the new ones are found.
        assert tx.near_candidates(bands_of(BIG), 1, int(T0.timestamp()), 86400 * 9) == []
        found = tx.near_candidates(bands_of(edited_fp), 1, int(T0.timestamp()), 86400 * 9)
        assert [c.id for c in found] == [old]
    assert len(list(store.articles(feed_url="https://b.example/rss"))) == 1
    assert len(list(store.articles(since=T0 - timedelta(days=1)))) == 2
    assert len(list(store.articles(since=T0 + timedelta(days=1)))) == 0


def test_leases(store: Store) -> None:
    url, other = "https://a.example/rss", "https://a.example/other"
    first = store.claim(url, "A", "daemon-1", T0, 60)
    assert first.claimed
    taken = store.claim(url, "A", "daemon-2", T0 + timedelta(seconds=30), 60)
    assert (taken.claimed, taken.reason, taken.lease_owner) == (False, "leased", "daemon-1")
    # Per-host politeness: a second feed of the same host waits while the first is leased.
    busy = store.claim(other, "B", "daemon-2", T0 + timedelta(seconds=30), 60, per_host=1)
    assert (busy.claimed, busy.reason) == (False, "host_busy")
    assert store.claim(other, "B", "daemon-2", T0 + timedelta(seconds=30), 60, per_host=2).claimed
    # Finishing the fetch writes the next check and releases the lease.
    with store.transaction() as tx:
        feed = tx.feed_id(url, "A")
        tx.update_feed(
            feed, FeedUpdate(fetched_at=T0, status="ok", next_check=T0 + timedelta(minutes=10))
        )
    row = store.feed(url)
    assert (
        row is not None and row.lease_owner is None and row.next_check == T0 + timedelta(minutes=10)
    )
    early = store.claim(url, "A", "daemon-2", T0 + timedelta(minutes=5), 60)
    assert (early.claimed, early.reason) == (False, "not_due")
    assert store.claim(url, "A", "daemon-2", T0 + timedelta(minutes=10), 60).claimed
    # A dead daemon's lease expires and another takes over.
    assert store.claim(other, "B", "daemon-3", T0 + timedelta(minutes=2), 60).claimed
    store.release(other, "daemon-3")
    row = store.feed(other)
    assert row is not None and row.lease_owner is None


# -- both backends: the schema, the copy, daemons sharing a store ----------------------------


def test_new_store_needs_migrating_and_migrations_are_idempotent(db_url: str) -> None:
    s = open_store(db_url)
    try:
        assert s.schema_version() == 0
        with pytest.raises(SchemaError, match=r"run `ingest --db \S+ migrate`"):
            s.check_schema()
        assert s.migrate() == SCHEMA_VERSION
        assert s.migrate() == SCHEMA_VERSION
        s.check_schema()
        assert s.schema_version() == SCHEMA_VERSION
    finally:
        s.close()


def test_dump_articles_gives_every_row_with_its_bands(store: Store) -> None:
    with store.transaction() as tx:
        feed = tx.feed_id("https://a.example/rss", "A")
        first = tx.insert_article(
            feed, article("g1", url="https://a.example/1"), bands_of(BIG), Verdict(kind="new")
        )
        link = tx.insert_article(
            feed,
            article("g2"),
            bands_of(BIG),
            Verdict(kind="exact", duplicate_of=first, rule="text"),
        )
    records = list(store.dump_articles())
    assert [r.article for r in records] == list(store.articles(duplicates=True))
    canonical, duplicate = records
    assert canonical.bands == tuple(enumerate(bands_of(BIG)))
    assert (canonical.feed_id, canonical.canonical_url, canonical.text_hash) == (
        feed,
        "https://a.example/1",
        "t",
    )
    assert canonical.ts == int(T0.timestamp()) and canonical.content_hash == "c"
    assert duplicate.article.id == link and duplicate.bands == ()


def test_lock_keys_makes_the_second_writer_wait_and_see_the_first(
    store: Store, other: Store
) -> None:
    """Two daemons about to judge the same text: the second decides after the first commits,
    and so finds its article (on SQLite the whole write transaction waits)."""
    a_holds = threading.Event()
    events: list[str] = []
    seen: list[tuple[int, str] | None] = []

    def daemon_a() -> None:
        with store.transaction() as tx:
            feed = tx.feed_id("https://a.example/rss", "A")
            tx.lock_keys([1, 2])
            tx.insert_article(feed, article("g1", text="same"), bands_of(BIG), Verdict("new"))
            a_holds.set()
            time.sleep(0.3)
            events.append("a commits")

    def daemon_b() -> None:
        assert a_holds.wait(10)
        with other.transaction() as tx:
            tx.lock_keys([2, 3])
            events.append("b holds")
            seen.append(tx.find_exact(None, "same"))

    run_threads(daemon_a, daemon_b)
    assert events == ["a commits", "b holds"]
    assert seen[0] is not None and seen[0][1] == "text"


def test_daemons_never_share_a_lease_nor_exceed_per_host(db_url: str, store: Store) -> None:
    """Four daemons on one store race through 12 hosts of 2 feeds each, with ``per_host=1``:
    d1 and d3 want the same feeds (a lease conflict), d2 and d4 the other feed of each host at
    the same moment (a per-host conflict)."""
    hosts = 12
    daemons = [open_store(db_url) for _ in range(4)]
    start = threading.Barrier(len(daemons))
    won: dict[str, list[str]] = {}

    def daemon(s: Store, owner: str, feed: int) -> None:
        won[owner] = []
        start.wait(10)
        for h in range(hosts):
            url = f"https://h{h}.example/{feed}"
            if s.claim(url, None, owner, T0, 60, per_host=1).claimed:
                won[owner].append(url)

    try:
        run_threads(*(partial(daemon, s, f"d{i + 1}", i % 2) for i, s in enumerate(daemons)))
    finally:
        for s in daemons:
            s.close()
    claimed = [url for urls in won.values() for url in urls]
    assert len(claimed) == len(set(claimed))  # no feed leased twice
    # One lease per host, no more (per_host) and no fewer: a refusal means the feed is leased
    # or its host already is.
    assert sorted(url.split("/")[2] for url in claimed) == sorted(
        f"h{h}.example" for h in range(hosts)
    )
    leases = {row.url: row.lease_owner for row in store.feeds() if row.lease_owner}
    assert leases == {url: owner for owner, urls in won.items() for url in urls}


def _sample_store(url: str) -> Store:
    """A store holding what a copy must keep: feed state of every kind, canonical articles,
    link records of both rules, an edited item, removals with every field."""
    s = open_store(url)
    s.migrate()
    removed = (
        Removed(reason="ad_marker", text="[ad_1]", position=0),
        Removed(
            reason="near_duplicate",
            text="فقرة",
            position=3,
            duplicate_of=1,
            distance=2,
            overlap=0.9,
        ),
    )
    with s.transaction() as tx:
        a = tx.feed_id("https://a.example/rss", "A")
        b = tx.feed_id("https://b.example/rss", None)
        first = tx.insert_article(
            a,
            replace(article("g1", url="https://a.example/1"), removed=removed),
            bands_of(BIG),
            Verdict(kind="new"),
        )
        tx.insert_article(
            b,
            article("g1", url="https://a.example/1"),
            bands_of(BIG),
            Verdict("exact", first, "url", 0),
        )
        tx.insert_article(
            b,
            article("g2", simhash=BIG ^ 0b11, published=None),
            bands_of(BIG ^ 0b11),
            Verdict("near", first, "simhash", 2, 0.75),
        )
        second = tx.insert_article(
            b, article("g3", simhash=OTHER, text="x"), bands_of(OTHER), Verdict("new")
        )
        tx.update_article(
            second, article("g3", simhash=EDITED, text="y", content="c2"), bands_of(EDITED)
        )
        tx.update_feed(
            a,
            FeedUpdate(
                fetched_at=T0 + timedelta(microseconds=999),
                status="ok",
                http_status=200,
                cache=HttpCache('"e1"', "Sat, 07 Dec 2024 09:00:00 GMT"),
                ttl_seconds=1800,
                new_articles=1,
                next_check=T0 + timedelta(minutes=10),
                publish_interval=1234.5,
            ),
        )
        tx.update_feed(
            b,
            FeedUpdate(
                fetched_at=T0,
                status="error",
                http_status=503,
                error_code="http_status",
                error="503",
            ),
        )
    assert s.claim("https://b.example/rss", None, "daemon-1", T0, 60).claimed
    return s


@pytest.mark.parametrize(
    ("src_backend", "dst_backend"),
    [
        ("sqlite", "sqlite"),
        pytest.param("sqlite", "postgres", marks=pytest.mark.postgres),
        pytest.param("postgres", "sqlite", marks=pytest.mark.postgres),
    ],
)
def test_copy_keeps_everything_and_every_id(
    src_backend: str, dst_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    def new_url(backend: str, name: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / name}"
        return str(request.getfixturevalue("pg_url"))

    src_url, db_url = new_url(src_backend, "src.db"), new_url(dst_backend, "dst.db")
    src = _sample_store(src_url)
    dst = open_store(db_url)
    try:
        dst.migrate()
        report = copy_store(src, dst, batch=2)
        assert report == CopyReport(feeds=2, articles=2, links=2, bands=8)
        assert dst.feeds() == src.feeds()
        assert list(dst.articles(duplicates=True)) == list(src.articles(duplicates=True))
        assert list(dst.dump_articles()) == list(src.dump_articles())
        # The lookups work on the copy, and new rows get new ids after the copied ones.
        with dst.transaction() as tx:
            assert tx.find_exact("https://a.example/1", "zz") == (1, "url")
            assert tx.find_guid(2, "g3") == (4, "c2")
            found = tx.near_candidates(bands_of(EDITED), 1, int(T0.timestamp()), 60)
            assert [c.id for c in found] == [4]
            assert tx.feed_id("https://c.example/rss", None) == 3
            assert tx.insert_article(3, article("n"), (), Verdict("new")) == 5
        with pytest.raises(StoreError, match="already holds feeds") as info:
            copy_store(src, dst)
        assert info.value.code == "db_not_empty"
    finally:
        src.close()
        dst.close()


@pytest.mark.postgres
def test_both_backends_give_back_identical_values(pg_url: str, tmp_path: Path) -> None:
    """The same writes on each backend read back equal: ids, UTC times cut to the second,
    fingerprints above 2**63, floats, removals, link records, leases."""
    sqlite, postgres = _sample_store(f"sqlite:///{tmp_path / 'x.db'}"), _sample_store(pg_url)
    try:
        assert sqlite.feeds() == postgres.feeds()
        assert list(sqlite.articles(duplicates=True)) == list(postgres.articles(duplicates=True))
        since = T0 - timedelta(seconds=1)
        assert list(sqlite.articles(since=since)) == list(postgres.articles(since=since))
        assert sqlite.links_to(1) == postgres.links_to(1)
        assert list(sqlite.dump_articles()) == list(postgres.dump_articles())
        assert postgres.feeds()[0].last_fetch == T0  # microseconds dropped, like SQLite's text
    finally:
        sqlite.close()
        postgres.close()


# -- PostgreSQL's own machinery --------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_migrations_run_concurrently(pg_url: str) -> None:
    stores = [open_store(pg_url) for _ in range(3)]
    start = threading.Barrier(len(stores))
    versions: list[int] = []

    def migrate(s: Store) -> None:
        start.wait(10)
        versions.append(s.migrate())

    try:
        run_threads(*(partial(migrate, s) for s in stores))
        assert versions == [SCHEMA_VERSION] * len(stores)
        stores[0].check_schema()
    finally:
        for s in stores:
            s.close()
    import psycopg

    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM ingest_schema").fetchone() == (SCHEMA_VERSION,)


@pytest.mark.postgres
def test_postgres_lock_keys_lets_other_keys_through(pg_store: Store, pg_other: Store) -> None:
    a_holds, b_done = threading.Event(), threading.Event()
    events: list[str] = []

    def daemon_a() -> None:
        with pg_store.transaction() as tx:
            tx.lock_keys([1, 2])
            a_holds.set()
            b_done.wait(5)
            events.append("a commits")

    def daemon_b() -> None:
        assert a_holds.wait(10)
        with pg_other.transaction() as tx:
            tx.lock_keys([3, 4])
            events.append("b holds")
        b_done.set()

    run_threads(daemon_a, daemon_b)
    assert events == ["b holds", "a commits"]


@pytest.mark.postgres
def test_postgres_lock_timeout_is_db_locked(pg_url: str, pg_store: Store) -> None:
    impatient = open_store(with_options(pg_url, "lock_timeout=100"))
    try:
        with pg_store.transaction() as tx:
            tx.lock_keys([42])
            with pytest.raises(StoreError) as info, impatient.transaction() as tx2:
                tx2.lock_keys([42])
        assert info.value.code == "db_locked"
        with impatient.transaction() as tx2:  # the holder committed: free again
            tx2.lock_keys([42])
    finally:
        impatient.close()


@pytest.mark.postgres
def test_postgres_read_only_is_db_readonly(pg_url: str, pg_store: Store) -> None:
    ro = open_store(with_options(pg_url, "default_transaction_read_only=on"))
    try:
        with pytest.raises(StoreError) as info:
            ro.ping()
        assert info.value.code == "db_readonly"
        with pytest.raises(StoreError) as info, ro.transaction() as tx:
            tx.feed_id("https://a.example/rss", None)
        assert info.value.code == "db_readonly"
        assert ro.feeds() == []  # reading still works
    finally:
        ro.close()


@pytest.mark.postgres
def test_postgres_connection_failures_are_db_open_and_hide_the_password() -> None:
    with pytest.raises(StoreError) as info:
        open_store("postgresql://ingest:s3cret@127.0.0.1:1/nowhere?password=s3cret")
    assert info.value.code == "db_open"
    assert "s3cret" not in str(info.value)
    assert "postgresql://ingest:***@127.0.0.1:1/nowhere?password=***" in str(info.value)


@pytest.mark.postgres
def test_postgres_store_reconnects_after_losing_its_connection(
    pg_url: str, pg_store: Store
) -> None:
    import psycopg

    def kill_connections() -> None:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'ingest' AND datname = current_database()"
            ).fetchone()
        assert killed == (1,)

    kill_connections()
    pg_store.ping()  # a read is asked again on a new connection
    kill_connections()
    with pg_store.transaction() as tx:  # so is a BEGIN: nothing was sent yet
        tx.feed_id("https://a.example/rss", None)
    assert [row.url for row in pg_store.feeds()] == ["https://a.example/rss"]
    with pytest.raises(StoreError) as info, pg_store.transaction() as tx:
        tx.feed_id("https://b.example/rss", None)
        kill_connections()  # mid-transaction: the writer must hear of it
        tx.feed_id("https://c.example/rss", None)
    assert info.value.code == "db_open"
    assert [row.url for row in pg_store.feeds()] == ["https://a.example/rss"]


@pytest.mark.postgres
def test_postgres_keeps_long_keys(pg_store: Store) -> None:
    store = pg_store
    # PostgreSQL refuses B-tree entries above ~2.7 kB; URLs (4096) and GUIDs (2000) may exceed it.
    url = "https://a.example/" + "ب" * 4000
    with store.transaction() as tx:
        feed = tx.feed_id(url, None)
        aid = tx.insert_article(feed, article("غ" * 2000, url=url), bands_of(BIG), Verdict("new"))
        assert tx.find_guid(feed, "غ" * 2000) == (aid, "c")
        assert tx.find_exact(url, "zz") == (aid, "url")
    assert store.feed(url) is not None
    assert store.integrity_check() == "ok"


@pytest.mark.postgres
def test_postgres_reads_page_by_page(monkeypatch: pytest.MonkeyPatch, pg_store: Store) -> None:
    import ingest.store.postgres

    monkeypatch.setattr(ingest.store.postgres, "_DUMP_PAGE", 2)
    with pg_store.transaction() as tx:
        feed = tx.feed_id("https://a.example/rss", None)
        ids = [
            tx.insert_article(feed, article(f"g{i}", text=f"t{i}"), bands_of(i), Verdict("new"))
            for i in range(4)
        ]
        ids.append(tx.insert_article(feed, article("l"), (), Verdict("exact", ids[0], "text")))
    assert [a.id for a in pg_store.articles()] == ids[:4]
    assert [a.id for a in pg_store.articles(duplicates=True)] == ids
    assert [r.article.id for r in pg_store.dump_articles()] == ids
    assert [r.bands for r in pg_store.dump_articles()][:2] == [
        tuple(enumerate(bands_of(0))),
        tuple(enumerate(bands_of(1))),
    ]


@pytest.mark.postgres
def test_postgres_integrity_check_names_broken_invariants(pg_url: str, pg_store: Store) -> None:
    import psycopg

    with pg_store.transaction() as tx:
        feed = tx.feed_id("https://a.example/rss", None)
        first = tx.insert_article(feed, article("g1"), bands_of(BIG), Verdict("new"))
        tx.insert_article(feed, article("g2"), (), Verdict("exact", first, "text"))
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE articles SET paragraphs = '[\"x\"]' WHERE duplicate_of IS NOT NULL")
    assert pg_store.integrity_check() == "1 link records keeping a body"


def test_postgres_url_without_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.delitem(sys.modules, "ingest.store.postgres", raising=False)
    with pytest.raises(ConfigError, match=r"pip install 'ingest\[postgres\]'"):
        open_store("postgresql://127.0.0.1/test")


def with_options(url: str, *settings: str) -> str:
    """``url`` with server settings (``name=value``) added to its ``options`` parameter."""
    flags = quote(" ".join(f"-c{s}" for s in settings), safe="")
    parts = urlsplit(url)
    if "options=" in parts.query:
        query = parts.query.replace("options=", f"options={flags}%20", 1)
    else:
        query = f"{parts.query}&options={flags}" if parts.query else f"options={flags}"
    return parts._replace(query=query).geturl()


def run_threads(*targets: Callable[[], None]) -> None:
    """Run each target in its own thread; re-raise the first failure."""
    errors: list[BaseException] = []

    def guard(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=guard, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
        assert not t.is_alive(), "a thread hung"
    if errors:
        raise errors[0]


def test_window_index_feed(store: Store) -> None:
    """``fingerprints_since`` feeds ``fingerprint.WindowIndex``; ``candidates`` reads its hits."""
    with store.transaction() as tx:
        feed = tx.feed_id("https://a.example/rss", None)
        first = tx.insert_article(feed, article("g1"), bands_of(BIG), Verdict(kind="new"))
        old = tx.insert_article(
            feed,
            article("g2", published=T0 - timedelta(days=30), text="h2"),
            bands_of(BIG),
            Verdict(kind="new"),
        )
        link = tx.insert_article(
            feed,
            article("g3", text="h3"),
            bands_of(BIG),
            Verdict(kind="near", duplicate_of=first, rule="simhash", distance=1, overlap=0.9),
        )
        ts = int(T0.timestamp())
        rows = tx.fingerprints_since(0, 1, ts - 86400)
        assert rows == [(first, BIG, ts)]  # not the old one, not the link record
        old_ts = int((T0 - timedelta(days=30)).timestamp())
        assert tx.fingerprints_since(first, 1, 0) == [(old, BIG, old_ts)]
        assert [r[0] for r in tx.fingerprints_since(0, 1, 0)] == [first, old]
        assert tx.fingerprints_since(0, 2, 0) == []
        found = tx.candidates([old, first, link])
        assert [c.id for c in found] == [first, old, link]
        assert found[0].paragraphs == ("فقرة أولى",) and found[0].simhash == BIG
        assert tx.candidates([]) == []
