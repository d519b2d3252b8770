"""The store contract, on a real SQLite file (the PostgreSQL backend will join the params)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.errors import SchemaError, StoreError
from ingest.models import Article, HttpCache, Removed, Verdict
from ingest.store import open_store, sqlite_path
from ingest.store.base import FeedUpdate, Store, from_signed64, to_signed64

T0 = datetime(2024, 12, 7, 9, 0, tzinfo=UTC)
BIG = 0xF00D_0000_0000_BEEF  # above 2**63: exercises the signed BIGINT mapping


def article(guid: str, *, simhash: int = BIG, url: str | None = None, text: str = "t",
            published: datetime | None = T0, paragraphs: tuple[str, ...] = ("فقرة أولى",),
            content: str = "c") -> Article:
    return Article(
        feed_url="https://a.example/rss", guid=guid, url=url, canonical_url=url, title=f"title {guid}",
        published=published, fetched=T0, author=None, paragraphs=paragraphs,
        removed=(Removed(reason="ad_marker", text="[ad_1]", position=0),), simhash=simhash,
        fp_version=1, text_hash=text, content_hash=content,
    )


def bands_of(fp: int) -> tuple[int, ...]:
    return tuple((fp >> (16 * i)) & 0xFFFF for i in range(4))


@pytest.fixture(params=["sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'sub' / 'ingest.db'}")
    s.migrate()
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
    s = open_store(str(path))
    with pytest.raises(SchemaError, match="run `ingest --db"):
        s.check_schema()
    assert s.migrate() == 1
    assert s.migrate() == 1
    s.check_schema()
    s.close()
    assert path.exists()
    import sqlite3

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT count(*) FROM ingest_schema").fetchone()[0] == 1
    conn.close()


def test_canonical_and_link_records(store: Store) -> None:
    with store.transaction() as tx:
        feed = tx.feed_id("https://a.example/rss", "A")
        assert tx.feed_id("https://a.example/rss", "A") == feed
        first = tx.insert_article(feed, article("g1", url="https://a.example/1"), bands_of(BIG),
                                  Verdict(kind="new"))
        link = tx.insert_article(
            feed, article("g2", simhash=BIG ^ 0b111), bands_of(BIG ^ 0b111),
            Verdict(kind="near", duplicate_of=first, rule="simhash", distance=3, overlap=0.8),
        )
    canonical = store.article(first)
    assert canonical is not None
    assert canonical.simhash == BIG and canonical.paragraphs == ("فقرة أولى",)
    assert canonical.removed[0].reason == "ad_marker"
    duplicate = store.article(link)
    assert duplicate is not None
    assert duplicate.duplicate_of == first and duplicate.paragraphs == () and duplicate.removed == ()
    assert (duplicate.dup_rule, duplicate.dup_distance, duplicate.dup_overlap) == ("simhash", 3, 0.8)
    assert [a.id for a in store.articles()] == [first]
    assert [a.id for a in store.articles(duplicates=True)] == [first, link]
    assert [a.id for a in store.links_to(first)] == [link]


def test_lookups(store: Store) -> None:
    with store.transaction() as tx:
        feed = tx.feed_id("https://a.example/rss", None)
        aid = tx.insert_article(feed, article("g1", url="https://a.example/1", text="h1"),
                                bands_of(BIG), Verdict(kind="new"))
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
        tx.update_feed(feed, FeedUpdate(fetched_at=T0, status="ok", http_status=200,
                                        cache=HttpCache('"e1"', "Sat, 07 Dec 2024 09:00:00 GMT"),
                                        ttl_seconds=1800, new_articles=3, new_duplicates=1))
    for i in range(2):
        with store.transaction() as tx:
            tx.update_feed(feed, FeedUpdate(fetched_at=T0 + timedelta(minutes=i + 1),
                                            status="error", http_status=503,
                                            error_code="http_status", error="503 from server"))
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
        old = tx.insert_article(a, article("g1", published=T0 - timedelta(days=3)), bands_of(BIG),
                                Verdict(kind="new"))
        other, edited_fp = 0x1111_2222_3333_4444, 0x5555_6666_7777_8888
        tx.insert_article(b, article("g1", simhash=other, text="other"), bands_of(other),
                          Verdict(kind="new"))
        tx.update_article(old, article("g1", simhash=edited_fp, paragraphs=("معدلة",),
                                       content="c2"), bands_of(edited_fp))
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
