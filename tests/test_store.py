"""The store contract (``store/base.py``), run on a real SQLite file and on a PostgreSQL schema
alike.

Articles are built by ``tests.articles.make_article`` (real analysis of real text) and written
the way the pipeline writes them: ids and change numbers from ``Tx.allot``, rows through
``Tx.insert_articles``. PostgreSQL tests are marked ``postgres`` and use the throw-away database
of ``conftest.py``; tests about one backend's own machinery (WAL, FTS5, advisory locks,
SQLSTATEs) say so in their name.

Sections: the files and URLs; articles; the facts the decisions read; the change sequence and
the fingerprint index; edits and stories; the search index; feed state and leases; the schema
and its migration from the previous release; copying and comparing backends; several writers;
PostgreSQL's own machinery.
"""

from __future__ import annotations

import inspect
import io
import json
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from ingest import fingerprint
from ingest.cli import main
from ingest.errors import ConfigError, SchemaError, StoreError
from ingest.fingerprint import FINGERPRINT_VERSION, features_text, from_signed64, to_signed64
from ingest.jobs import dedup_time
from ingest.models import Article, HttpCache, Kind, Reason, Removed, Rule, Status, Stored, Verdict
from ingest.settings import DedupSettings
from ingest.store import open_store, sqlite_path
from ingest.store.base import SCHEMA_VERSION, FeedUpdate, NewRow, Store, Tx
from ingest.store.copy import CopyReport, copy_store
from ingest.upgrade import migrate
from tests.articles import T0, make_article

# -- texts, articles and helpers -------------------------------------------------------------------

# Short news paragraphs written for these tests, on unrelated subjects (distinct stems).
HEALTH = (
    "أعلنت وزارة الصحة اليوم افتتاح مستشفى جديد في مدينة الرياض لخدمة آلاف المرضى",
    "وقال المتحدث باسم الوزارة إن المستشفى يضم أقساما للطوارئ والجراحة والأطفال",
)
MARKETS = ("شهدت الأسواق المالية ارتفاعا ملحوظا في أسعار الأسهم بعد صدور التقرير الاقتصادي",)
FOOTBALL = ("فاز المنتخب الوطني لكرة القدم على منافسه بثلاثة أهداف في المباراة النهائية",)
WEATHER = ("حذرت هيئة الأرصاد الجوية من موجة حر شديدة تضرب المنطقة الشرقية نهاية الأسبوع",)

FEED_A, FEED_B = "https://a.example/rss", "https://b.example/rss"
BIG = 0xF00D_0000_0000_BEEF  # above 2**63: exercises the signed BIGINT mapping
NEW = Verdict(Kind.NEW)
DAY = 86400
TS0 = int(T0.timestamp())


def link(
    root: int,
    rule: Rule = Rule.TEXT,
    *,
    match: int | None = None,
    distance: int = 0,
    overlap: float = 1.0,
) -> Verdict:
    """The verdict of a copy of story ``root``, matched against ``match`` (``root`` unless
    given)."""
    kind = Kind.NEAR if rule == Rule.SIMHASH else Kind.EXACT
    return Verdict(kind, root, rule, distance, overlap, root if match is None else match)


def put(tx: Tx, feed_id: int, *items: Article | tuple[Article, Verdict]) -> list[int]:
    """Insert articles (canonical ones, or ``(article, verdict)``) as the pipeline does: ids and
    change numbers from ``allot``, the rows in one batch. The ids, in order."""
    pairs = [item if isinstance(item, tuple) else (item, NEW) for item in items]
    ids, seqs = tx.allot(len(pairs))
    tx.insert_articles(
        [
            NewRow(i, seq, feed_id, article, verdict)
            for (article, verdict), i, seq in zip(pairs, ids, seqs, strict=True)
        ]
    )
    return ids


def facts(article: Article, article_id: int, feed_id: int, root: int | None = None) -> Stored:
    """What ``Tx.stored`` and its kin should give back for ``article`` stored as ``article_id``."""
    return Stored(
        id=article_id,
        root=article_id if root is None else root,
        feed_id=feed_id,
        simhash=article.simhash,
        dedup_ts=article.dedup_ts,
        stems=article.stems,
        canonical_url=article.canonical_url,
        text_hash=article.text_hash,
    )


def stems_of(paragraphs: Sequence[str]) -> frozenset[str]:
    return fingerprint.article_features(fingerprint.analyse(paragraphs)).stems


def stem_of(paragraphs: Sequence[str], *others: Sequence[str]) -> str:
    """A stem of ``paragraphs`` that none of ``others`` has."""
    taken: set[str] = set()
    for texts in others:
        taken |= stems_of(texts)
    return sorted(stems_of(paragraphs) - taken)[0]


def raw(db_url: str, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run SQL on the store's database behind the store's back (``?`` placeholders)."""
    path = sqlite_path(db_url)
    if path is not None:
        conn = sqlite3.connect(path)
        try:
            with conn:
                return conn.execute(statement, params).fetchall()
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as pg:
        # Without parameters a script of several statements goes as one simple query.
        cursor = (
            pg.execute(statement.replace("?", "%s"), params) if params else pg.execute(statement)
        )
        return cursor.fetchall() if cursor.description else []


def search(db_url: str, stem: str) -> list[int]:
    """The ids the search index finds for one stem: SQLite's FTS5 table, PostgreSQL's
    ``article_search`` table its trigger keeps."""
    if sqlite_path(db_url) is not None:
        sql = "SELECT rowid FROM articles_fts WHERE articles_fts MATCH ? ORDER BY rowid"
        rows = raw(db_url, sql, (f'"{stem}"',))
    else:
        sql = "SELECT id FROM article_search WHERE search @@ to_tsquery('simple', ?) ORDER BY id"
        rows = raw(db_url, sql, (stem,))
    return [int(r[0]) for r in rows]


def check_fts(db_url: str) -> None:
    """FTS5's own check of the index against the articles table (raises when they differ)."""
    if sqlite_path(db_url) is not None:
        raw(db_url, "INSERT INTO articles_fts (articles_fts, rank) VALUES ('integrity-check', 1)")


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


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), environ={}, out=out), out.getvalue()


# -- fixtures --------------------------------------------------------------------------------------

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


# -- files and URLs --------------------------------------------------------------------------------


def test_signed_mapping_round_trips() -> None:
    for value in (0, 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1, BIG):
        assert from_signed64(to_signed64(value)) == value
        assert -(1 << 63) <= to_signed64(value) < 1 << 63


def test_sqlite_urls() -> None:
    assert sqlite_path("sqlite:///rel/x.db") == "rel/x.db"
    assert sqlite_path("sqlite:////abs/x.db") == "/abs/x.db"
    assert sqlite_path("plain.db") == "plain.db"
    assert sqlite_path("postgresql://localhost/test") is None
    with pytest.raises(ConfigError, match="sqlite:///relative"):
        sqlite_path("sqlite://host/x.db")


def test_sqlite_file_is_created_in_wal_mode_and_migrations_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "x.db"
    path.parent.mkdir(parents=True)  # only the default location's directory is made for us
    s = open_store(str(path))
    with pytest.raises(SchemaError, match="run `ingest --db"):
        s.check_schema()
    assert s.migrate() == SCHEMA_VERSION
    assert s.migrate() == SCHEMA_VERSION
    s.check_schema()
    s.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        count = conn.execute("SELECT count(*) FROM ingest_schema").fetchone()[0]
        assert count == SCHEMA_VERSION
    finally:
        conn.close()


# -- articles --------------------------------------------------------------------------------------


def test_canonical_and_link_records(store: Store) -> None:
    removed = (
        Removed(reason=Reason.AD_MARKER, text="[ad_1]", position=0),
        Removed(Reason.NEAR_DUPLICATE, "فقرة", 3, duplicate_of=1, distance=2, overlap=0.9),
    )
    canonical = replace(
        make_article("g1", HEALTH, url="https://a.example/1", simhash=BIG), removed=removed
    )
    copy = make_article("g2", HEALTH[:1], published=None)
    with store.transaction() as tx:
        feed = tx.feed_id(FEED_A, "A")
        assert tx.feed_id(FEED_A, "A") == feed
        (first,) = put(tx, feed, canonical)
        (second,) = put(tx, feed, (copy, link(first, Rule.SIMHASH, distance=3, overlap=0.8)))
    assert second > first
    got = store.article(first)
    assert got is not None
    assert (got.feed_url, got.feed_name, got.guid, got.url, got.title) == (
        FEED_A,
        "A",
        "g1",
        "https://a.example/1",
        "g1",
    )
    assert got.simhash == BIG and got.fp_version == FINGERPRINT_VERSION
    assert got.paragraphs == HEALTH and got.removed == removed
    assert (got.published, got.fetched, got.dedup_ts) == (T0, T0, TS0)
    assert (got.duplicate_of, got.dup_rule, got.match_id) == (None, None, None)
    dup = store.article(second)
    assert dup is not None
    # A link record keeps its own text: it is compared like any other article.
    assert dup.paragraphs == HEALTH[:1] and dup.published is None
    assert (dup.duplicate_of, dup.dup_rule, dup.dup_distance, dup.dup_overlap, dup.match_id) == (
        first,
        "simhash",
        3,
        0.8,
        first,
    )
    assert store.article(second + 100) is None
    assert [a.id for a in store.articles()] == [first]
    assert [a.id for a in store.articles(duplicates=True)] == [first, second]
    assert [a.id for a in store.links_to(first)] == [second]
    assert store.links_to(second) == []
    assert store.integrity_check() == "ok"


def test_dump_articles_gives_every_row_with_every_column(store: Store) -> None:
    canonical = make_article("g1", HEALTH, url="https://a.example/1?utm=x", content_hash="c1")
    canonical = replace(canonical, canonical_url="https://a.example/1")
    copy = make_article("g2", MARKETS, feed_url=FEED_B, content_hash="c2")
    with store.transaction() as tx:
        a = tx.feed_id(FEED_A, "A")
        b = tx.feed_id(FEED_B, "B")
        (first,) = put(tx, a, canonical)
        (second,) = put(tx, b, (copy, link(first, Rule.SIMHASH, distance=8, overlap=0.61)))
        tx.set_alias(second, "g2-alias")
    records = list(store.dump_articles())
    assert [r.article for r in records] == list(store.articles(duplicates=True))
    one, two = records
    assert (one.feed_id, one.canonical_url, one.text_hash, one.content_hash) == (
        a,
        "https://a.example/1",
        canonical.text_hash,
        "c1",
    )
    assert one.features == features_text(canonical.stems) and one.features
    assert one.para_keys == " ".join(canonical.para_keys) and one.para_keys
    assert one.search_text == canonical.search_text and one.search_text
    assert one.alias_guid is None and one.article.url == "https://a.example/1?utm=x"
    assert (two.feed_id, two.article.id, two.article.duplicate_of, two.alias_guid) == (
        b,
        second,
        first,
        "g2-alias",
    )
    assert two.features == features_text(copy.stems)  # a link record keeps its features
    assert 0 < one.seq < two.seq == store.max_seq()


def test_rollback_keeps_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        feed = tx.feed_id(FEED_A, None)
        put(tx, feed, make_article("g1", HEALTH))
        tx.update_feed(feed, FeedUpdate(fetched_at=T0, status=Status.OK, cache=HttpCache('"x"')))
        raise RuntimeError("crash between items and feed state")
    assert store.feeds() == []
    assert list(store.articles(duplicates=True)) == []
    assert store.max_seq() == 0


@pytest.mark.parametrize("clash", ["guid", "id", "story"])
def test_constraint_violation_is_a_store_error(store: Store, clash: str) -> None:
    with store.transaction() as tx:
        feed = tx.feed_id(FEED_A, None)
        (kept,) = put(tx, feed, make_article("g0", HEALTH))
    with pytest.raises(StoreError) as info, store.transaction() as tx:
        if clash == "guid":  # (feed, GUID) is unique
            put(tx, feed, make_article("g1", MARKETS), make_article("g1", FOOTBALL))
        elif clash == "id":  # an id taken twice
            (seq,) = tx.next_seqs(1)
            tx.insert_articles([NewRow(kept, seq, feed, make_article("g2", MARKETS), NEW)])
        else:  # a link record to no article
            put(tx, feed, (make_article("g3", MARKETS), link(kept + 100)))
    assert info.value.code == "db_error"
    assert [a.guid for a in store.articles(duplicates=True)] == ["g0"]


def test_export_filters(store: Store) -> None:
    with store.transaction() as tx:
        a = tx.feed_id(FEED_A, "A")
        b = tx.feed_id(FEED_B, "B")
        (old,) = put(tx, a, make_article("g1", HEALTH, published=T0 - timedelta(days=3)))
        (undated,) = put(tx, b, make_article("g1", MARKETS, published=None))
        (dup,) = put(tx, b, (make_article("g2", HEALTH), link(old)))
        tx.update_feed(b, FeedUpdate(fetched_at=T0, status=Status.OK, url=FEED_B + "?moved"))
    assert [x.id for x in store.articles(feed_url=FEED_A)] == [old]
    # A feed that moved is still found by the URL it was configured with.
    assert [x.id for x in store.articles(feed_url=FEED_B)] == [undated]
    assert [x.id for x in store.articles(feed_url=FEED_B + "?moved", duplicates=True)] == [
        undated,
        dup,
    ]
    # ``since`` reads the date, else the fetch time.
    assert [x.id for x in store.articles(since=T0 - timedelta(days=1))] == [undated]
    assert [x.id for x in store.articles(since=T0 - timedelta(days=4))] == [old, undated]
    assert list(store.articles(since=T0 + timedelta(seconds=1))) == []
    assert list(store.articles(feed_url="https://nowhere.example/rss")) == []


# -- the facts the decisions read ------------------------------------------------------------------


def test_by_guid_finds_guids_and_alias_guids_of_one_feed(store: Store) -> None:
    g1 = make_article("g1", HEALTH, url="https://a.example/1", content_hash="c1")
    g2 = make_article("g2", MARKETS)
    with store.transaction() as tx:
        a = tx.feed_id(FEED_A, None)
        b = tx.feed_id(FEED_B, None)
        (id1,) = put(tx, a, g1)
        (id2,) = put(tx, a, (g2, link(id1, Rule.SIMHASH, distance=9, overlap=0.6)))
        (other,) = put(tx, b, make_article("g1", FOOTBALL, feed_url=FEED_B))
        found = tx.by_guid(a, ["g1", "g2", "g3"])
        assert sorted(found) == ["g1", "g2"]
        assert (found["g1"].id, found["g1"].guid, found["g1"].content_hash) == (id1, "g1", "c1")
        assert found["g1"].alias_guid is None
        assert found["g1"].facts == facts(g1, id1, a)
        assert found["g2"].facts == facts(g2, id2, a, root=id1)  # a copy knows its story
        assert tx.by_guid(b, ["g1"])["g1"].id == other
        assert tx.by_guid(a, []) == {} and tx.by_guid(a, ["nope"]) == {}

        tx.set_alias(id2, "g2-renamed")
        found = tx.by_guid(a, ["g2-renamed", "g2"])
        assert {k: (r.id, r.guid, r.alias_guid) for k, r in found.items()} == {
            "g2": (id2, "g2", "g2-renamed"),
            "g2-renamed": (id2, "g2", "g2-renamed"),
        }
        assert tx.by_guid(b, ["g2-renamed"]) == {}  # aliases belong to their feed
        # A GUID that is one item's GUID and another's alias names the first.
        tx.set_alias(id1, "g2")
        assert tx.by_guid(a, ["g2"])["g2"].id == id2
    assert store.known_entries(FEED_A, 10)[0].alias_guid == "g2-renamed"


def test_same_text_or_url_scoped_to_a_feed_or_any(store: Store) -> None:
    one = make_article("g1", HEALTH, url="https://a.example/1")
    again = make_article("g2", HEALTH, feed_url=FEED_B, url="https://b.example/2")
    elsewhere = make_article("g3", MARKETS, feed_url=FEED_B, url="https://a.example/1")
    with store.transaction() as tx:
        a = tx.feed_id(FEED_A, None)
        b = tx.feed_id(FEED_B, None)
        (id1,) = put(tx, a, one)
        (id2,) = put(tx, b, (again, link(id1)))
        (id3,) = put(tx, b, (elsewhere, link(id1, Rule.URL)))
        put(tx, a, make_article("g4", FOOTBALL))
        by_text = tx.same_text_or_url(None, [], [one.text_hash])
        assert by_text == [facts(one, id1, a), facts(again, id2, b, root=id1)]
        by_url = tx.same_text_or_url(None, ["https://a.example/1"], [])
        assert [s.id for s in by_url] == [id1, id3]
        both = tx.same_text_or_url(None, ["https://a.example/1"], [one.text_hash])
        assert [s.id for s in both] == [id1, id2, id3]  # each once, by id
        assert [s.id for s in tx.same_text_or_url(a, ["https://a.example/1"], [])] == [id1]
        assert [s.id for s in tx.same_text_or_url(b, [], [one.text_hash])] == [id2]
        assert tx.same_text_or_url(b, ["https://b.example/none"], ["0" * 64]) == []
        assert tx.same_text_or_url(None, [""], [""]) == []  # no URL, no text: no match


def test_stored_and_members_follow_the_story(store: Store) -> None:
    root_article = make_article("g1", HEALTH)
    with store.transaction() as tx:
        feed = tx.feed_id(FEED_A, None)
        (root,) = put(tx, feed, root_article)
        (alone,) = put(tx, feed, make_article("g2", MARKETS))
        c1, c2 = put(
            tx,
            feed,
            (make_article("g3", HEALTH[:1]), link(root, Rule.SIMHASH, distance=4, overlap=0.7)),
            (make_article("g4", HEALTH), link(root, match=root)),
        )
        got = tx.stored([c2, alone, 999_999, root, c2])
        assert [s.id for s in got] == [root, alone, c2]  # by id, once, missing ones left out
        assert [s.root for s in got] == [root, alone, root]
        assert got[0] == facts(root_article, root, feed)
        assert tx.stored([]) == []
        assert [m.id for m in tx.members(root)] == [root, c1, c2]
        assert [m.id for m in tx.members(alone)] == [alone]
        assert {m.root for m in tx.members(root)} == {root}
        assert tx.members(999_999) == []


def test_known_entries_newest_first_with_link_records(store: Store) -> None:
    articles = [
        make_article(f"g{i}", text, content_hash=f"c{i}")
        for i, text in enumerate((HEALTH, MARKETS, FOOTBALL, WEATHER))
    ]
    with store.transaction() as tx:
        a = tx.feed_id(FEED_A, None)
        b = tx.feed_id(FEED_B, None)
        (first,) = put(tx, a, articles[0])
        ids = [first, *put(tx, a, (articles[1], link(first)), *articles[2:])]
        put(tx, b, make_article("b1", HEALTH, feed_url=FEED_B))
        tx.set_alias(ids[1], "g1-alias")
    known = store.known_entries(FEED_A, 3)
    assert [k.id for k in known] == ids[::-1][:3]
    assert [(k.guid, k.content_hash) for k in known] == [("g3", "c3"), ("g2", "c2"), ("g1", "c1")]
    assert known[0].para_keys == articles[3].para_keys and known[0].para_keys
    assert known[2].alias_guid == "g1-alias"  # the link record is there, alias and all
    assert len(store.known_entries(FEED_A, 100)) == 4
    assert store.known_entries("https://nowhere.example/rss", 10) == []


# -- the change sequence and the fingerprint index -------------------------------------------------


def test_allot_and_next_seqs_never_hand_out_a_number_twice(
    db_url: str, store: Store, other: Store
) -> None:
    with store.transaction() as tx:
        feed = tx.feed_id(FEED_A, None)
        assert tx.allot(0) == ([], [])
        ids, seqs = tx.allot(3)
        assert ids == sorted(set(ids)) and seqs == sorted(set(seqs)) and len(ids) == 3
        later = tx.next_seqs(2)
        assert len(later) == 2 and seqs[-1] < later[0] < later[1]
        tx.insert_articles(
            [
                NewRow(i, s, feed, make_article(f"g{n}", text), NEW)
                for n, (i, s, text) in enumerate(
                    zip(ids, seqs, (HEALTH, MARKETS, FOOTBALL), strict=True)
                )
            ]
        )
    assert store.max_seq() == later[-1]
    # The newest article goes away: its id is never handed out again (readers follow new
    # articles by id), nor by another store object on the same database.
    raw(db_url, "DELETE FROM articles WHERE id = ?", (ids[-1],))
    for s in (store, other):
        with s.transaction() as tx:
            more_ids, more_seqs = tx.allot(2)
            tx.insert_articles(
                [
                    NewRow(i, q, feed, make_article(f"more{i}", WEATHER), NEW)
                    for i, q in zip(more_ids, more_seqs, strict=True)
                ]
            )
        assert more_ids[0] > ids[-1] and more_seqs[0] > later[-1]
        ids, later = more_ids, more_seqs
    assert store.max_seq() == other.max_seq() == later[-1]


def test_changes_since_gives_every_write_its_seq(store: Store) -> None:
    one, two = make_article("g1", HEALTH), make_article("g2", MARKETS)
    foreign = replace(make_article("g3", FOOTBALL), fp_version=FINGERPRINT_VERSION + 1)
    edited = make_article("g1", WEATHER, published=T0 - timedelta(days=2), content_hash="c2")
    with store.transaction() as tx:
        assert tx.changes_since(0, FINGERPRINT_VERSION) == []
        feed = tx.feed_id(FEED_A, None)
        id1, id2, id3 = put(tx, feed, one, two, foreign)
        changes = tx.changes_since(0, FINGERPRINT_VERSION)
        assert [c[:3] for c in changes] == [
            (id1, one.simhash, one.dedup_ts),
            (id2, two.simhash, two.dedup_ts),
            (id3, 0, foreign.dedup_ts),  # another fingerprint version: no fingerprint
        ]
        first_seqs = [c[3] for c in changes]
        assert first_seqs == sorted(set(first_seqs))
        (s_edit,) = tx.next_seqs(1)
        tx.update_article(id1, edited, s_edit)
        (s_story,) = tx.next_seqs(1)
        tx.set_story(id2, link(id1, Rule.SIMHASH, distance=5, overlap=0.7), s_story)
        tx.set_story(id3, link(id1))  # no seq given: not a change the index must see
        assert tx.changes_since(first_seqs[-1], FINGERPRINT_VERSION) == [
            (id1, edited.simhash, edited.dedup_ts, s_edit),
            (id2, two.simhash, two.dedup_ts, s_story),
        ]
        assert tx.changes_since(s_story, FINGERPRINT_VERSION) == []
        # Asked for the other version, the fingerprints of this one come back as 0.
        other_version = tx.changes_since(0, FINGERPRINT_VERSION + 1)
        assert [(c[0], c[1]) for c in other_version] == [(id3, foreign.simhash), (id1, 0), (id2, 0)]
    assert store.max_seq() == s_story


def test_fingerprints_between_on_tx_and_store(store: Store) -> None:
    at = [
        make_article(f"d{day}", text, published=T0 + timedelta(days=day))
        for day, text in ((-3, HEALTH), (-2, MARKETS), (-1, FOOTBALL), (0, WEATHER))
    ]
    skipped = [
        make_article("empty", (), published=T0 - timedelta(days=2)),  # no text: no fingerprint
        replace(make_article("v2", HEALTH[1:]), fp_version=FINGERPRINT_VERSION + 1),
    ]
    with store.transaction() as tx:
        feed = tx.feed_id(FEED_A, None)
        ids = put(tx, feed, *at, *skipped)
        # A link record is compared like any other article: its fingerprint is listed too.
        (copy,) = put(tx, feed, (make_article("copy", MARKETS[:1] + HEALTH[:1]), link(ids[1])))
        lo, hi = TS0 - 3 * DAY, TS0  # lo inclusive, hi exclusive
        rows = sorted(tx.fingerprints_between(lo, hi, FINGERPRINT_VERSION))
        assert rows == [(i, a.simhash, a.dedup_ts) for i, a in zip(ids[:3], at[:3], strict=True)]
        everything = sorted(tx.fingerprints_between(0, 2 * TS0, FINGERPRINT_VERSION))
        assert [r[0] for r in everything] == [*ids[:4], copy]
        assert tx.fingerprints_between(lo, hi, FINGERPRINT_VERSION + 1) == []
        assert [r[0] for r in tx.fingerprints_between(0, 2 * TS0, FINGERPRINT_VERSION + 1)] == [
            ids[5]
        ]
    batches = list(store.fingerprints_between(0, 2 * TS0, FINGERPRINT_VERSION, batch=2))
    assert [len(b) for b in batches] == [2, 2, 1]
    assert sorted(r for b in batches for r in b) == everything
    assert list(store.fingerprints_between(hi + DAY, hi + 2 * DAY, FINGERPRINT_VERSION)) == []


def test_articles_to_upgrade(store: Store) -> None:
    with store.transaction() as tx:
        feed = tx.feed_id(FEED_A, None)
        ids, seqs = tx.allot(3)
        tx.insert_articles(
            [
                # seq 0: a row a store made before schema 4 kept, never analysed since
                NewRow(ids[0], 0, feed, make_article("never", HEALTH), NEW),
                NewRow(ids[1], seqs[1], feed, make_article("current", MARKETS), NEW),
                NewRow(
                    ids[2],
                    seqs[2],
                    feed,
                    replace(make_article("older", FOOTBALL), fp_version=FINGERPRINT_VERSION + 1),
                    NEW,
                ),
            ]
        )

    def upgrade(version: int | None, after: int = 0, limit: int = 10) -> list[int]:
        return [a.id for a in store.articles_to_upgrade(version, after, limit)]

    assert upgrade(None) == ids  # every article
    assert upgrade(0) == [ids[0]]  # only those never analysed
    assert upgrade(FINGERPRINT_VERSION) == [ids[0], ids[2]]  # and those of another version
    assert upgrade(FINGERPRINT_VERSION + 1) == [ids[0], ids[1]]
    assert upgrade(None, after=ids[0], limit=1) == [ids[1]]  # by id, in pages
    assert upgrade(None, after=ids[2]) == []
    assert store.articles_to_upgrade(None, 0, 1)[0].paragraphs == HEALTH


# -- edits and stories -----------------------------------------------------------------------------


def test_update_article_replaces_text_features_and_dedup_time(store: Store) -> None:
    old = make_article("g1", HEALTH, url="https://a.example/1", content_hash="c1")
    new = replace(
        make_article(
            "g1",
            MARKETS,
            url="https://a.example/1-edited",
            title="عنوان معدل",
            published=T0 - timedelta(days=2),
            content_hash="c2",
        ),
        author="كاتب",
        published_raw=None,
    )
    with store.transaction() as tx:
        feed = tx.feed_id(FEED_A, None)
        (root,) = put(tx, feed, make_article("g0", FOOTBALL))
        (aid,) = put(tx, feed, (old, link(root, Rule.SIMHASH, distance=7, overlap=0.6)))
        (seq,) = tx.next_seqs(1)
        tx.update_article(aid, new, seq)
        assert tx.stored([aid]) == [facts(new, aid, feed, root=root)]
        assert tx.by_guid(feed, ["g1"])["g1"].content_hash == "c2"
        assert tx.same_text_or_url(None, [], [old.text_hash]) == []
        assert [s.id for s in tx.same_text_or_url(None, ["https://a.example/1-edited"], [])] == [
            aid
        ]
    got = store.article(aid)
    assert got is not None
    assert (got.url, got.title, got.author, got.published) == (
        "https://a.example/1-edited",
        "عنوان معدل",
        "كاتب",
        T0 - timedelta(days=2),
    )
    assert got.paragraphs == MARKETS and got.simhash == new.simhash
    assert got.dedup_ts == new.dedup_ts == TS0 - 2 * DAY
    # Its place in a story is set apart (set_story): the edit leaves it.
    assert (got.duplicate_of, got.dup_rule, got.match_id) == (root, "simhash", root)
    record = {r.article.id: r for r in store.dump_articles()}[aid]
    assert record.features == features_text(new.stems) and record.features
    assert record.para_keys == " ".join(new.para_keys)
    assert (record.search_text, record.content_hash, record.seq) == (new.search_text, "c2", seq)
    assert record.canonical_url == "https://a.example/1-edited"


def test_update_fingerprint_changes_only_the_derived_columns(store: Store) -> None:
    stored = make_article("g1", HEALTH, content_hash="c1", simhash=BIG, text_hash="stale")
    again = replace(
        make_article("g1", HEALTH, published=None, content_hash="ignored", title="ignored"),
        published_raw="0001-01-01T00:00:00+00:00",
        para_keys=("k1", "k2"),
        search_text="بحث نص",
    )
    with store.transaction() as tx:
        feed = tx.feed_id(FEED_A, None)
        (aid,) = put(tx, feed, stored)
        (seq,) = tx.next_seqs(1)
        tx.update_fingerprint(aid, again, seq)
        assert tx.changes_since(seq - 1, FINGERPRINT_VERSION) == [
            (aid, again.simhash, again.dedup_ts, seq)
        ]
    got = store.article(aid)
    assert got is not None
    assert (got.simhash, got.published, got.published_raw, got.dedup_ts) == (
        again.simhash,
        None,
        "0001-01-01T00:00:00+00:00",
        again.dedup_ts,
    )
    assert (got.title, got.paragraphs) == ("g1", HEALTH)  # the text is not touched
    (record,) = store.dump_articles()
    assert (record.text_hash, record.para_keys, record.search_text) == (
        again.text_hash,
        "k1 k2",
        "بحث نص",
    )
    assert record.features == features_text(again.stems) and record.content_hash == "c1"


def test_set_story_move_story_and_set_alias(store: Store) -> None:
    with store.transaction() as tx:
        feed = tx.feed_id(FEED_A, None)
        a, b = put(tx, feed, make_article("a", HEALTH), make_article("b", HEALTH[:1]))
        (c,) = put(tx, feed, (make_article("c", HEALTH[1:]), link(b, Rule.URL)))
        # Story b joins story a: its members move, then b becomes a copy, matched through c.
        tx.move_story(b, a)
        (seq,) = tx.next_seqs(1)
        tx.set_story(b, link(a, Rule.SIMHASH, match=c, distance=6, overlap=0.65), seq)
        assert [m.id for m in tx.members(a)] == [a, b, c]
        assert tx.members(b) == [tx.stored([b])[0]]
        tx.set_alias(c, "c-new-guid")
    got_b, got_c = store.article(b), store.article(c)
    assert got_b is not None and got_c is not None
    assert (got_b.duplicate_of, got_b.dup_rule, got_b.dup_distance) == (a, "simhash", 6)
    assert (got_b.dup_overlap, got_b.match_id) == (0.65, c)
    assert (got_c.duplicate_of, got_c.dup_rule, got_c.match_id) == (a, "url", b)
    assert [x.id for x in store.links_to(a)] == [b, c]
    with store.transaction() as tx:
        tx.set_story(b, NEW)  # canonical again: every figure of the match cleared
        assert tx.changes_since(seq, FINGERPRINT_VERSION) == []  # no seq given: unchanged
        assert [m.id for m in tx.members(b)] == [b]
    got_b = store.article(b)
    assert got_b is not None
    assert (got_b.duplicate_of, got_b.dup_rule, got_b.dup_distance) == (None, None, None)
    assert (got_b.dup_overlap, got_b.match_id) == (None, None)
    records = {r.article.id: r for r in store.dump_articles()}
    assert records[c].alias_guid == "c-new-guid" and records[b].seq == seq


# -- the search index ------------------------------------------------------------------------------


def test_search_index_follows_the_rows(db_url: str, store: Store) -> None:
    health, markets = stem_of(HEALTH, MARKETS, FOOTBALL), stem_of(MARKETS, HEALTH, FOOTBALL)
    football = stem_of(FOOTBALL, HEALTH, MARKETS)
    with store.transaction() as tx:
        feed = tx.feed_id(FEED_A, None)
        aid, other_id = put(tx, feed, make_article("g1", HEALTH), make_article("g2", FOOTBALL))
    assert search(db_url, health) == [aid] and search(db_url, football) == [other_id]
    with store.transaction() as tx:
        (seq,) = tx.next_seqs(1)
        tx.update_article(aid, make_article("g1", MARKETS, content_hash="c2"), seq)
    assert search(db_url, health) == [] and search(db_url, markets) == [aid]
    with store.transaction() as tx:
        (seq,) = tx.next_seqs(1)
        tx.update_fingerprint(aid, make_article("g1", HEALTH), seq)
    assert search(db_url, markets) == [] and search(db_url, health) == [aid]
    check_fts(db_url)
    raw(db_url, "DELETE FROM articles WHERE id = ?", (aid,))
    assert search(db_url, health) == [] and search(db_url, football) == [other_id]
    check_fts(db_url)


def test_sqlite_search_index_is_an_fts5_table_kept_by_triggers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    s = open_store(url)
    s.migrate()
    s.close()
    names = {
        row[0]: row[1]
        for row in raw(url, "SELECT name, type FROM sqlite_master WHERE name LIKE 'articles_fts%'")
    }
    assert names["articles_fts"] == "table"
    assert {"articles_fts_insert", "articles_fts_delete", "articles_fts_update"} <= names.keys()
    sql = raw(url, "SELECT sql FROM sqlite_master WHERE name = 'articles_fts'")[0][0]
    assert "fts5" in sql and "content='articles'" in sql  # external content: no second copy


# -- feed state and leases -------------------------------------------------------------------------


def test_feed_state(store: Store) -> None:
    with store.transaction() as tx:
        feed = tx.feed_id(FEED_A, "A")
        tx.update_feed(
            feed,
            FeedUpdate(
                fetched_at=T0,
                status=Status.OK,
                http_status=200,
                cache=HttpCache('"e1"', "Sat, 07 Dec 2024 09:00:00 GMT"),
                ttl_seconds=1800,
                new_articles=3,
                new_duplicates=1,
                publish_interval=1234.5,
                body_hash="h1",
                body_items=4,
            ),
        )
    for i in range(2):
        with store.transaction() as tx:
            tx.update_feed(
                feed,
                FeedUpdate(
                    fetched_at=T0 + timedelta(minutes=i + 1),
                    status=Status.ERROR,
                    http_status=503,
                    error_code="http_status",
                    error="503 from server",
                    new_articles=1,
                ),
            )
    row = store.feed(FEED_A)
    assert row is not None and row.id == feed and row.name == "A"
    assert row.consecutive_failures == 2 and row.error_code == "http_status"
    assert (row.last_status, row.http_status, row.error) == ("error", 503, "503 from server")
    assert row.cache == HttpCache('"e1"', "Sat, 07 Dec 2024 09:00:00 GMT")  # errors keep them
    assert row.last_success == T0 and row.last_fetch == T0 + timedelta(minutes=2)
    assert (row.articles, row.duplicates, row.ttl_seconds) == (5, 1, 1800)  # counters add up
    assert (row.publish_interval, row.body_hash, row.body_items) == (1234.5, "h1", 4)  # kept
    with store.transaction() as tx:
        tx.update_feed(
            feed,
            FeedUpdate(
                fetched_at=T0,
                status=Status.NOT_MODIFIED,
                http_status=304,
                body_hash="h2",
                body_items=0,
            ),
        )
        assert tx.feed_id(FEED_A, "A renamed") == feed
    row = store.feed(FEED_A)
    assert row is not None and row.consecutive_failures == 0 and row.error_code is None
    assert (row.body_hash, row.body_items, row.name) == ("h2", 0, "A renamed")
    assert store.feed(FEED_B) is None
    assert [f.url for f in store.feeds()] == [FEED_A]


def test_feed_moves_and_redirect_streak(store: Store) -> None:
    moved, again = "https://new.example/rss", "https://newer.example/rss"
    with store.transaction() as tx:
        feed = tx.feed_id(FEED_A, "A")
        tx.update_feed(
            feed,
            FeedUpdate(fetched_at=T0, status=Status.OK, redirect_url=moved, redirect_count=2),
        )
        tx.update_feed(feed, FeedUpdate(fetched_at=T0, status=Status.ERROR))  # keeps the streak
    row = store.feed(FEED_A)
    assert row is not None and (row.redirect_url, row.redirect_count) == (moved, 2)
    with store.transaction() as tx:
        tx.update_feed(feed, FeedUpdate(fetched_at=T0, status=Status.OK, url=moved))
    row = store.feed(moved)
    assert row is not None and row.id == feed
    assert (row.url, row.origin_url, row.redirect_url, row.redirect_count) == (
        moved,
        FEED_A,
        None,
        0,
    )
    assert store.feed(FEED_A) == row  # the configured URL still finds it
    # Per-host politeness follows the move: the feed now counts for its new host.
    assert store.claim(moved, "A", "daemon-1", T0, 60).claimed
    assert store.claim("https://a.example/other", None, "daemon-1", T0, 60, per_host=1).claimed
    busy = store.claim("https://new.example/other", None, "daemon-1", T0, 60, per_host=1)
    assert busy.reason == "host_busy"
    with store.transaction() as tx:
        assert tx.feed_id(FEED_A, "A") == feed  # and does not make a second feed
        tx.update_feed(feed, FeedUpdate(fetched_at=T0, status=Status.OK, url=again))
    row = store.feed(FEED_A)
    assert row is not None and (row.url, row.origin_url) == (again, FEED_A)  # the first kept
    assert [f.id for f in store.feeds() if FEED_A in (f.url, f.origin_url)] == [feed]
    # Another feed moves to the first one's configured URL: a URL names the feed that has it
    # now before the one that moved away from it.
    with store.transaction() as tx:
        other = tx.feed_id("https://y.example/rss", "Y")
        tx.update_feed(other, FeedUpdate(fetched_at=T0, status=Status.OK, url=FEED_A))
    found = store.feed(FEED_A)
    assert found is not None and found.id == other and found.origin_url == "https://y.example/rss"


def test_leases(store: Store) -> None:
    url, other = FEED_A, "https://a.example/other"
    first = store.claim(url, "A", "daemon-1", T0, 60)
    assert first.claimed
    taken = store.claim(url, "A", "daemon-2", T0 + timedelta(seconds=30), 60)
    assert (taken.claimed, taken.reason, taken.lease_owner) == (False, "leased", "daemon-1")
    assert store.claim(url, "A", "daemon-1", T0 + timedelta(seconds=30), 60).claimed  # renewed
    # Per-host politeness: a second feed of the same host waits while the first is leased.
    busy = store.claim(other, "B", "daemon-2", T0 + timedelta(seconds=30), 60, per_host=1)
    assert (busy.claimed, busy.reason) == (False, "host_busy")
    assert store.claim(other, "B", "daemon-2", T0 + timedelta(seconds=30), 60, per_host=2).claimed
    # Finishing the fetch writes the next check and releases the lease.
    due = T0 + timedelta(minutes=10, microseconds=999)
    with store.transaction() as tx:
        feed = tx.feed_id(url, "A")
        tx.update_feed(feed, FeedUpdate(fetched_at=T0, status=Status.OK, next_check=due))
    row = store.feed(url)
    assert row is not None and row.lease_owner is None and row.lease_until is None
    assert row.next_check == due  # scheduling times keep their microseconds
    early = store.claim(url, "A", "daemon-2", due - timedelta(microseconds=1), 60)
    assert (early.claimed, early.reason, early.next_check) == (False, "not_due", due)
    assert store.claim(url, "A", "daemon-2", due, 60).claimed
    # A dead daemon's lease expires and another takes over.
    assert store.claim(other, "B", "daemon-3", T0 + timedelta(minutes=2), 60).claimed
    store.release(other, "daemon-2")  # not the holder: nothing happens
    row = store.feed(other)
    assert row is not None and row.lease_owner == "daemon-3"
    store.release(other, "daemon-3")
    row = store.feed(other)
    assert row is not None and row.lease_owner is None
    store.release("https://nowhere.example/rss", "daemon-3")  # an unknown feed: nothing to do


# -- the schema ------------------------------------------------------------------------------------


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
        assert s.max_seq() == 0 and s.integrity_check() == "ok"
    finally:
        s.close()


def test_a_newer_schema_is_refused(db_url: str, store: Store) -> None:
    raw(
        db_url,
        "INSERT INTO ingest_schema (version, applied) VALUES (?, CURRENT_TIMESTAMP)",
        (SCHEMA_VERSION + 1,),
    )
    with pytest.raises(SchemaError, match="newer than this ingest understands"):
        store.migrate()
    with pytest.raises(SchemaError, match=f"schema version {SCHEMA_VERSION + 1}"):
        store.check_schema()


# The previous release (schema 3) as it wrote rows: paragraphs and removals kept on canonical
# articles only ('[]' on link records), ``ts`` the date (else the fetch time), dates as they
# came (strftime wrote year 1 without padding), four band rows per canonical article.
OLD_FP = 0x0123_4567_89AB_CDEF
OLD_FEEDS = ((FEED_A, "A", "a.example"), (FEED_B, "B", "b.example"))
OLD_ROWS: tuple[tuple[int, str, datetime | None, tuple[str, ...], int | None], ...] = (
    # feed, guid, published, paragraphs, link to (article id)
    (1, "old-1", T0 - timedelta(hours=2), HEALTH, None),
    (2, "old-2", T0 - timedelta(hours=1), HEALTH, 1),
    (1, "old-3", datetime(1, 1, 1, tzinfo=UTC), MARKETS, None),
    (2, "old-4", datetime(2099, 1, 1, tzinfo=UTC), FOOTBALL, None),
    (1, "old-5", None, WEATHER, None),
)


def _old_iso(value: datetime | None) -> str | None:
    """What the previous release's ``strftime('%Y-...')`` wrote (glibc: the year unpadded)."""
    return None if value is None else f"{value.year}-{value:%m-%dT%H:%M:%S}Z"


def build_schema3_store(db_url: str) -> None:
    """A store made and filled by the previous release: its migrations 1 to 3 applied by hand,
    its rows inserted as its ``insert_article`` did."""
    sqlite = sqlite_path(db_url) is not None
    if sqlite:
        from ingest.store.sqlite import MIGRATIONS

        raw(db_url, "PRAGMA journal_mode = WAL")
        raw(
            db_url,
            "CREATE TABLE ingest_schema (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)",
        )
        path = sqlite_path(db_url)
        assert path is not None
        conn = sqlite3.connect(path)
        try:
            for script in MIGRATIONS[:3]:
                conn.executescript(script)
        finally:
            conn.close()
    else:
        from ingest.store.postgres import MIGRATIONS

        raw(
            db_url,
            "CREATE TABLE ingest_schema (version INTEGER PRIMARY KEY, applied TIMESTAMPTZ NOT NULL)",
        )
        for script in MIGRATIONS[:3]:
            raw(db_url, script)
    for version in (1, 2, 3):
        raw(
            db_url,
            "INSERT INTO ingest_schema (version, applied) VALUES (?, CURRENT_TIMESTAMP)",
            (version,),
        )
    for url, name, host in OLD_FEEDS:
        raw(db_url, "INSERT INTO feeds (url, name, host) VALUES (?, ?, ?)", (url, name, host))

    def when(value: datetime | None) -> Any:
        return _old_iso(value) if sqlite else value

    removed = json.dumps([{"reason": "ad_marker", "text": "[ad_1]", "position": 0}])
    for n, (feed, guid, published, paragraphs, target) in enumerate(OLD_ROWS, 1):
        canonical = target is None
        fp = to_signed64(OLD_FP ^ n)
        (row,) = raw(
            db_url,
            """INSERT INTO articles (feed_id, guid, url, canonical_url, title, author, published,
                   fetched, ts, paragraphs, removed, simhash, fp_version, text_hash,
                   content_hash, duplicate_of, dup_rule, dup_distance, dup_overlap)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id""",
            (
                feed,
                guid,
                f"https://x.example/{guid}",
                f"https://x.example/{guid}",
                f"عنوان {guid}",
                None,
                when(published),
                when(T0),
                int((published or T0).timestamp()),
                json.dumps(list(paragraphs) if canonical else [], ensure_ascii=False),
                removed if canonical else "[]",
                fp,
                1,
                f"old-text-hash-{n}",
                f"content-{n}",
                target,
                None if canonical else "simhash",
                None if canonical else 3,
                None if canonical else 0.8,
            ),
        )
        assert row[0] == n
        if canonical:
            for band in range(4):
                raw(
                    db_url,
                    "INSERT INTO article_bands (band, value, article_id) VALUES (?, ?, ?)",
                    (band, ((OLD_FP ^ n) >> (16 * band)) & 0xFFFF, n),
                )


def test_migrating_a_schema3_store_computes_what_schema_4_adds(db_url: str, tmp_path: Path) -> None:
    build_schema3_store(db_url)
    # A server in another time zone than UTC still reads year 1 (psycopg answers in the
    # session's zone, and year 1 in New York is year 0).
    url = db_url if sqlite_path(db_url) else with_options(db_url, "timezone=America/New_York")
    store = open_store(url)
    try:
        assert store.schema_version() == 3
        with pytest.raises(SchemaError, match="run `ingest --db"):
            store.check_schema()
        settings = DedupSettings()
        assert migrate(store, settings) == SCHEMA_VERSION
        store.check_schema()
        tables = (
            "SELECT count(*) FROM sqlite_master WHERE name = 'article_bands'"
            if sqlite_path(db_url)
            else "SELECT count(*) FROM pg_tables WHERE tablename = 'article_bands'"
        )
        assert raw(db_url, tables) == [(0,)]
        records = list(store.dump_articles())
        assert [r.article.guid for r in records] == [guid for _, guid, *_ in OLD_ROWS]
        seqs = [r.seq for r in records]
        assert all(seq > 0 for seq in seqs) and len(set(seqs)) == len(seqs)
        assert store.max_seq() == max(seqs)
        for record, (_, _, published, paragraphs, target) in zip(records, OLD_ROWS, strict=True):
            a = record.article
            kept = paragraphs if target is None else ()  # link records kept no text
            features = fingerprint.article_features(fingerprint.analyse(kept))
            assert a.paragraphs == kept
            assert record.features == features_text(features.stems)
            assert (a.simhash, record.text_hash) == (features.simhash, features.text_hash)
            assert a.fp_version == FINGERPRINT_VERSION
            assert record.para_keys == " ".join(p.bkey for p in fingerprint.analyse(kept))
            assert (a.duplicate_of, a.match_id) == (target, target)
            if published is not None and published.year in (1, 2099):
                # an implausible date is moved aside, the dedup time is the fetch time
                assert a.published is None and a.published_raw is not None
                assert a.published_raw.startswith(f"{published.year:04d}-01-01")
            else:
                assert (a.published, a.published_raw) == (published, None)
            assert a.dedup_ts == dedup_time(a.published, a.fetched, settings)
        assert records[0].article.dedup_ts == TS0 - 2 * 3600
        assert records[2].article.dedup_ts == records[3].article.dedup_ts == TS0
        # The search index holds the old rows: their text, and their titles (link records too).
        assert search(db_url, stem_of(MARKETS, HEALTH, FOOTBALL, WEATHER)) == [3]
        assert search(db_url, stem_of(HEALTH, MARKETS, FOOTBALL, WEATHER)) == [1]
        (title_stem,) = fingerprint.analyse_paragraph("عنوان").stems  # in every title
        assert search(db_url, title_stem) == [1, 2, 3, 4, 5]
        check_fts(db_url)
        assert store.integrity_check() == "ok"
        # A second run has nothing left to do.
        assert migrate(store, settings) == SCHEMA_VERSION
        assert list(store.dump_articles()) == records
        assert store.max_seq() == max(seqs)
        # New articles get new ids and change numbers after the old ones.
        with store.transaction() as tx:
            ids, new_seqs = tx.allot(1)
            assert ids == [len(OLD_ROWS) + 1] and new_seqs[0] > max(seqs)
    finally:
        store.close()
    # The commands that read every row run on the migrated store.
    code, text = cli("--db", db_url, "export", "--duplicates")
    assert code == 0, text
    exported = [json.loads(line) for line in text.splitlines()]
    assert [e["id"] for e in exported] == [1, 2, 3, 4, 5]
    assert [e["published"] for e in exported][2:] == [None, None, None]
    for article_id in (1, 2, 3):
        code, text = cli("--db", db_url, "explain", str(article_id))
        assert code == 0 and text
    code, text = cli("copy", "--from", db_url, "--to", f"sqlite:///{tmp_path / 'copy.db'}")
    assert code == 0, text
    assert "copied 2 feeds, 4 articles and 1 link records" in text


# -- copying a store, both backends alike ----------------------------------------------------------


def sample_store(url: str) -> Store:
    """A store holding what a copy must keep: feed state of every kind (validators, failures,
    schedule, a lease, a move, a redirect streak, the last body), canonical articles, link
    records of each rule, an edited item, an alias GUID, removals with every field, an article
    without text, a fingerprint above 2**63."""
    s = open_store(url)
    s.migrate()
    removed = (
        Removed(reason=Reason.AD_MARKER, text="[ad_1]", position=0),
        Removed(Reason.NEAR_DUPLICATE, "فقرة", 3, duplicate_of=1, distance=2, overlap=0.9),
    )
    with s.transaction() as tx:
        a = tx.feed_id(FEED_A, "A")
        b = tx.feed_id(FEED_B, None)
        first = make_article("g1", HEALTH, url="https://a.example/1", simhash=BIG)
        (one,) = put(tx, a, replace(first, removed=removed))
        put(
            tx,
            b,
            (make_article("g1", HEALTH, feed_url=FEED_B, url="https://a.example/1"), link(one)),
            (
                make_article("g2", HEALTH[:1], feed_url=FEED_B, published=None),
                link(one, Rule.SIMHASH, distance=2, overlap=0.75),
            ),
        )
        (edited,) = put(tx, b, make_article("g3", MARKETS, feed_url=FEED_B))
        (seq,) = tx.next_seqs(1)
        tx.update_article(
            edited, make_article("g3", FOOTBALL, feed_url=FEED_B, content_hash="c2"), seq
        )
        tx.set_alias(edited, "g3-renamed")
        put(tx, b, make_article("empty", (), feed_url=FEED_B))
        tx.update_feed(
            a,
            FeedUpdate(
                fetched_at=T0 + timedelta(microseconds=999),
                status=Status.OK,
                http_status=200,
                cache=HttpCache('"e1"', "Sat, 07 Dec 2024 09:00:00 GMT"),
                ttl_seconds=1800,
                new_articles=1,
                next_check=T0 + timedelta(minutes=10, microseconds=999),
                publish_interval=1234.5,
                redirect_url="https://a.example/next",
                redirect_count=2,
                body_hash="h1",
                body_items=1,
            ),
        )
        tx.update_feed(
            b,
            FeedUpdate(
                fetched_at=T0,
                status=Status.ERROR,
                http_status=503,
                error_code="http_status",
                error="503",
            ),
        )
        c = tx.feed_id("https://c.example/old", "C")
        tx.update_feed(c, FeedUpdate(fetched_at=T0, status=Status.OK, url="https://c.example/new"))
    assert s.claim(FEED_B, None, "daemon-1", T0, 60).claimed
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

    src_url, dst_url = new_url(src_backend, "src.db"), new_url(dst_backend, "dst.db")
    src = sample_store(src_url)
    dst = open_store(dst_url)
    try:
        dst.migrate()
        report = copy_store(src, dst, batch=2)
        assert report == CopyReport(feeds=3, articles=3, links=2)
        assert dst.feeds() == src.feeds()
        assert list(dst.articles(duplicates=True)) == list(src.articles(duplicates=True))
        assert list(dst.dump_articles()) == list(src.dump_articles())
        assert dst.max_seq() == src.max_seq() > 0
        # The lookups work on the copy, and new rows get ids and numbers after the copied ones.
        with dst.transaction() as tx:
            assert [s.id for s in tx.same_text_or_url(None, ["https://a.example/1"], [])] == [1, 2]
            assert tx.by_guid(2, ["g3-renamed"])["g3-renamed"].id == 4
            assert [m.id for m in tx.members(1)] == [1, 2, 3]
            assert tx.feed_id("https://d.example/rss", None) == 4
            ids, seqs = tx.allot(1)
            assert ids == [6] and seqs[0] == src.max_seq() + 1
        assert search(dst_url, stem_of(FOOTBALL, HEALTH, MARKETS)) == [4]
        check_fts(dst_url)
        with pytest.raises(StoreError, match="already holds feeds") as info:
            copy_store(src, dst)
        assert info.value.code == "db_not_empty"
    finally:
        src.close()
        dst.close()


@pytest.mark.postgres
def test_both_backends_give_back_identical_values(pg_url: str, tmp_path: Path) -> None:
    """The same writes on each backend read back equal: ids, UTC times cut to the second (but
    scheduling times to the microsecond), fingerprints above 2**63, floats, removals, link
    records, aliases, features, change numbers, leases."""
    sqlite, postgres = sample_store(f"sqlite:///{tmp_path / 'x.db'}"), sample_store(pg_url)
    try:
        assert sqlite.feeds() == postgres.feeds()
        for kwargs in ({}, {"duplicates": True}, {"feed_url": FEED_B, "duplicates": True}):
            assert list(sqlite.articles(**kwargs)) == list(postgres.articles(**kwargs))
        since = T0 - timedelta(seconds=1)
        assert list(sqlite.articles(since=since)) == list(postgres.articles(since=since))
        assert sqlite.links_to(1) == postgres.links_to(1)
        assert list(sqlite.dump_articles()) == list(postgres.dump_articles())
        assert sqlite.known_entries(FEED_B, 10) == postgres.known_entries(FEED_B, 10)
        assert sqlite.max_seq() == postgres.max_seq()
        assert sqlite.articles_to_upgrade(None, 0, 10) == postgres.articles_to_upgrade(None, 0, 10)
        fps = [
            sorted(r for b in s.fingerprints_between(0, 2 * TS0, 1, batch=2) for r in b)
            for s in (sqlite, postgres)
        ]
        assert fps[0] == fps[1] and fps[0]
        answers = []
        for s in (sqlite, postgres):
            with s.transaction() as tx:
                answers.append(
                    (
                        tx.changes_since(0, FINGERPRINT_VERSION),
                        tx.by_guid(2, ["g1", "g2", "g3-renamed"]),
                        tx.stored(range(1, 7)),
                        tx.members(1),
                        tx.same_text_or_url(None, ["https://a.example/1"], ["x"]),
                    )
                )
        assert answers[0] == answers[1]
        row = postgres.feed(FEED_A)
        assert row is not None
        assert row.last_fetch == T0  # microseconds dropped, like SQLite's text
        assert row.next_check == T0 + timedelta(minutes=10, microseconds=999)
    finally:
        sqlite.close()
        postgres.close()


# -- several writers -------------------------------------------------------------------------------


def test_long_reads_stream_from_their_own_connection(
    monkeypatch: pytest.MonkeyPatch, db_url: str, store: Store
) -> None:
    """``articles()`` is read as it is consumed, from one snapshot, on a connection of its own:
    the store writes while a read is under way, and the read does not see it."""
    import ingest.store.sqlite

    monkeypatch.setattr(ingest.store.sqlite, "_STREAM_BATCH", 2)
    if sqlite_path(db_url) is None:
        import ingest.store.postgres

        monkeypatch.setattr(ingest.store.postgres, "_STREAM_BATCH", 2)
    with store.transaction() as tx:
        feed = tx.feed_id(FEED_A, None)
        ids = put(tx, feed, *(make_article(f"g{i}", HEALTH[i % 2 :]) for i in range(5)))
    rows = store.articles()
    assert inspect.isgenerator(rows)
    assert next(rows).id == ids[0]
    with store.transaction() as tx:  # not held up by the read
        (late,) = put(tx, feed, make_article("late", MARKETS))
    assert [a.id for a in rows] == ids[1:]  # in order, from the snapshot taken first
    assert [a.id for a in store.articles()] == [*ids, late]


def test_lock_dedup_makes_the_second_writer_wait_and_see_the_first(
    store: Store, other: Store
) -> None:
    """Two daemons about to judge the same text: the second decides after the first commits,
    and so finds its article and its change (on SQLite the whole write transaction waits)."""
    a_holds = threading.Event()
    events: list[str] = []
    seen: list[list[Stored]] = []
    changes: list[list[tuple[int, int, int, int]]] = []
    article = make_article("g1", HEALTH)

    def daemon_a() -> None:
        with store.transaction() as tx:
            feed = tx.feed_id(FEED_A, "A")
            tx.lock_dedup()
            put(tx, feed, article)
            a_holds.set()
            time.sleep(0.3)  # room for a broken lock to let b in
            events.append("a commits")

    def daemon_b() -> None:
        assert a_holds.wait(10)
        with other.transaction() as tx:
            tx.lock_dedup()
            events.append("b holds")
            seen.append(tx.same_text_or_url(None, [], [article.text_hash]))
            changes.append(tx.changes_since(0, FINGERPRINT_VERSION))

    run_threads(daemon_a, daemon_b)
    assert events == ["a commits", "b holds"]
    assert [s.id for s in seen[0]] == [1]
    assert [c[:3] for c in changes[0]] == [(1, article.simhash, article.dedup_ts)]


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


# -- PostgreSQL's own machinery --------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_migrations_run_concurrently(pg_url: str) -> None:
    stores = [open_store(pg_url) for _ in range(3)]
    start = threading.Barrier(len(stores))
    versions: list[int] = []

    def migrate_one(s: Store) -> None:
        start.wait(10)
        versions.append(s.migrate())

    try:
        run_threads(*(partial(migrate_one, s) for s in stores))
        assert versions == [SCHEMA_VERSION] * len(stores)
        stores[0].check_schema()
    finally:
        for s in stores:
            s.close()
    assert raw(pg_url, "SELECT count(*) FROM ingest_schema") == [(SCHEMA_VERSION,)]


@pytest.mark.postgres
def test_postgres_lock_timeout_is_db_locked(pg_url: str, pg_store: Store) -> None:
    impatient = open_store(with_options(pg_url, "lock_timeout=100"))
    try:
        with pg_store.transaction() as tx:
            tx.lock_dedup()
            with pytest.raises(StoreError) as info, impatient.transaction() as tx2:
                tx2.lock_dedup()
        assert info.value.code == "db_locked"
        with impatient.transaction() as tx2:  # the holder committed: free again
            tx2.lock_dedup()
    finally:
        impatient.close()


@pytest.mark.postgres
def test_postgres_dedup_lock_does_not_hold_up_claims(pg_url: str, pg_store: Store) -> None:
    """Claims lock the host and the feed's row, never the dedup lock: a daemon deciding a
    feed's stories does not stop another from taking its next feed."""
    impatient = open_store(with_options(pg_url, "lock_timeout=100"))
    try:
        with pg_store.transaction() as tx:
            tx.lock_dedup()
            assert impatient.claim(FEED_A, "A", "daemon-2", T0, 60).claimed
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
            tx.feed_id(FEED_A, None)
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
    def kill_connections() -> None:
        killed = raw(
            pg_url,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'ingest' AND datname = current_database()",
        )
        assert killed == [(1,)]

    kill_connections()
    pg_store.ping()  # a read is asked again on a new connection
    kill_connections()
    with pg_store.transaction() as tx:  # so is a BEGIN: nothing was sent yet
        tx.feed_id(FEED_A, None)
    assert [row.url for row in pg_store.feeds()] == [FEED_A]
    with pytest.raises(StoreError) as info, pg_store.transaction() as tx:
        tx.feed_id(FEED_B, None)
        kill_connections()  # mid-transaction: the writer must hear of it
        tx.feed_id("https://c.example/rss", None)
    assert info.value.code == "db_open"
    assert [row.url for row in pg_store.feeds()] == [FEED_A]


@pytest.mark.postgres
def test_postgres_keeps_long_keys(pg_store: Store) -> None:
    """PostgreSQL refuses B-tree entries above ~2.7 kB; URLs (4096) and GUIDs (2000) may exceed
    it, so those keys are indexed through md5()."""
    url = "https://a.example/" + "ب" * 4000
    guid, alias = "غ" * 2000, "ع" * 2000
    with pg_store.transaction() as tx:
        feed = tx.feed_id(url, None)
        assert tx.feed_id(url, None) == feed
        (aid,) = put(tx, feed, make_article(guid, HEALTH, feed_url=url, url=url))
        tx.set_alias(aid, alias)
        found = tx.by_guid(feed, [guid, alias])
        assert {k: r.id for k, r in found.items()} == {guid: aid, alias: aid}
        assert [s.id for s in tx.same_text_or_url(feed, [url], [])] == [aid]
        tx.update_feed(feed, FeedUpdate(fetched_at=T0, status=Status.OK, url=url + "/moved"))
    row = pg_store.feed(url)
    assert row is not None and row.id == feed and row.origin_url == url
    assert [a.id for a in pg_store.articles(feed_url=url)] == [aid]
    assert pg_store.known_entries(url, 1)[0].alias_guid == alias
    assert pg_store.integrity_check() == "ok"


@pytest.mark.postgres
def test_postgres_streams_through_a_server_side_cursor(
    monkeypatch: pytest.MonkeyPatch, pg_url: str, pg_store: Store
) -> None:
    import ingest.store.postgres

    monkeypatch.setattr(ingest.store.postgres, "_STREAM_BATCH", 2)
    with pg_store.transaction() as tx:
        feed = tx.feed_id(FEED_A, None)
        (first,) = put(tx, feed, make_article("g0", HEALTH))
        ids = [first, *put(tx, feed, *(make_article(f"g{i}", MARKETS) for i in range(1, 4)))]
        ids.append(put(tx, feed, (make_article("copy", HEALTH), link(first)))[0])

    def streams() -> list[tuple[Any, ...]]:
        return raw(
            pg_url,
            "SELECT state, query FROM pg_stat_activity WHERE application_name = 'ingest' "
            "AND datname = current_database() AND query LIKE 'FETCH%'",
        )

    rows = pg_store.articles(duplicates=True)
    assert inspect.isgenerator(rows)
    assert next(rows).id == ids[0]
    # Mid-read: a connection of its own holds the cursor open, fetched two rows at a time.
    assert streams() == [("idle in transaction", 'FETCH FORWARD 2 FROM "ingest_stream"')]
    assert [a.id for a in rows] == ids[1:]
    assert streams() == []  # read to the end: its connection is closed
    assert [a.id for a in pg_store.articles()] == ids[:4]
    records = list(pg_store.dump_articles())
    assert [r.article.id for r in records] == ids
    assert records[-1].article.duplicate_of == first
    batches = list(pg_store.fingerprints_between(0, 2 * TS0, FINGERPRINT_VERSION, batch=2))
    assert [len(b) for b in batches] == [2, 2, 1]


@pytest.mark.postgres
def test_postgres_integrity_check_names_broken_invariants(pg_url: str, pg_store: Store) -> None:
    with pg_store.transaction() as tx:
        feed = tx.feed_id(FEED_A, None)
        (first,) = put(tx, feed, make_article("g1", HEALTH))
        second, third = put(
            tx,
            feed,
            (make_article("g2", HEALTH), link(first)),
            (make_article("g3", HEALTH), link(first)),
        )
    assert pg_store.integrity_check() == "ok"
    raw(pg_url, "UPDATE articles SET duplicate_of = ? WHERE id = ?", (second, third))
    raw(pg_url, "UPDATE articles SET seq = 0 WHERE id = ?", (first,))
    assert pg_store.integrity_check() == (
        "1 link records pointing at link records; 1 articles never given a change number"
    )


def test_postgres_url_without_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.delitem(sys.modules, "ingest.store.postgres", raising=False)
    with pytest.raises(ConfigError, match=r"pip install 'ingest\[postgres\]'"):
        open_store("postgresql://127.0.0.1/test")
