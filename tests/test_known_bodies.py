"""A body whose items are all known costs a hash, not a parse (issue 12, "Skip what is known").

Many servers ignore conditional GET and write a new ``lastBuildDate`` (or a "generated in 0.2 s"
comment) on every request: the bytes differ, the items do not. ``pipeline.body_hash`` leaves
the feed's header (its own elements before the first item) and comments after the last item
out, so such a body is known as it is and never reaches a parse worker; any change inside or
between the items, in the XML declaration or in the root element's namespaces is a new body.
Through the real pipeline, real worker processes and a real SQLite file.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ingest.fetch import Fetcher
from ingest.isolate import WorkerPool
from ingest.models import FeedOutcome, Status
from ingest.pipeline import Pipeline, Target, body_hash
from ingest.settings import Settings
from ingest.store import open_store

SEED_A = (Path(__file__).parent / "fixtures" / "feeds" / "seed-a.xml").read_bytes()
ITEMS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Weather</title><link>http://127.0.0.1/</link>
<lastBuildDate>Sat, 05 Dec 2026 10:00:00 GMT</lastBuildDate><ttl>30</ttl>
<item><title>\xd8\xb7\xd9\x82\xd8\xb3</title><guid>w-1</guid><description>one</description></item>
<item><title>\xd8\xb1\xd9\x8a\xd8\xa7\xd8\xad</title><guid>w-2</guid><description>two</description></item>
</channel></rss>
<!-- generated in 0.12 seconds -->
"""


def with_header(body: bytes, build: str, comment: str = "0.12") -> bytes:
    return body.replace(b"10:00:00", build.encode()).replace(b"0.12", comment.encode())


@pytest.mark.parametrize(
    "changed",
    [
        with_header(ITEMS, "11:30:00"),  # a new build date
        with_header(ITEMS, "10:00:00", "0.47"),  # a new "generated in" comment
        ITEMS.replace(b"<ttl>30</ttl>", b"<ttl>60</ttl>"),  # the header's other elements
    ],
)
def test_the_same_items_under_a_new_header_hash_the_same(changed: bytes) -> None:
    assert changed != ITEMS
    assert body_hash(changed) == body_hash(ITEMS)


@pytest.mark.parametrize(
    "changed",
    [
        ITEMS.replace(b"<description>two</description>", b"<description>twa</description>"),
        ITEMS.replace(b"</item>\n<item>", b"</item>\n<!-- between -->\n<item>"),
        ITEMS.replace(b"</channel>", b"<item><guid>w-3</guid><title>new</title></item></channel>"),
        ITEMS.replace(b'encoding="utf-8"', b'encoding="windows-1256"'),
        ITEMS.replace(b'<rss version="2.0">', b'<rss version="2.0" xml:base="http://a.example/">'),
        ITEMS.replace(b"<item>", b"<item>", 1).replace(b"<guid>w-1</guid>", b"<guid>w-9</guid>"),
    ],
)
def test_a_change_in_or_between_the_items_is_a_new_body(changed: bytes) -> None:
    assert body_hash(changed) != body_hash(ITEMS)


def test_a_body_without_recognisable_items_is_hashed_whole() -> None:
    atom_prefixed = (
        b'<a:feed xmlns:a="http://www.w3.org/2005/Atom"><a:updated>1</a:updated></a:feed>'
    )
    assert body_hash(atom_prefixed) != body_hash(atom_prefixed.replace(b">1<", b">2<"))
    utf16 = ITEMS.decode().replace('encoding="utf-8"', 'encoding="utf-16"').encode("utf-16")
    assert body_hash(utf16) != body_hash(with_header(ITEMS, "11:30:00").decode().encode("utf-16"))


class CountingPool(WorkerPool):
    """The real worker pool, counting the bodies it is given to parse."""

    parses = 0

    async def run(self, fn: Any, *args: Any, label: str, **kwargs: Any) -> Any:
        self.parses += 1
        return await super().run(fn, *args, label=label, **kwargs)


def fetch(db: Path, feed: Path, pool: WorkerPool) -> FeedOutcome:
    settings = Settings(db=f"sqlite:///{db}")
    store = open_store(settings.db)
    store.migrate()

    async def go() -> FeedOutcome:
        async with Fetcher(settings.http) as fetcher:
            pipeline = Pipeline(
                store,
                settings,
                fetcher,
                parser=pool,
                clock=lambda: datetime(2026, 12, 5, tzinfo=UTC),
            )
            try:
                return await pipeline.run(Target("weather", feed.as_uri()))
            finally:
                pipeline.close()

    try:
        return asyncio.run(go())
    finally:
        store.close()


def test_a_new_build_date_costs_no_parse_and_an_edit_is_still_seen(tmp_path: Path) -> None:
    db, feed = tmp_path / "ingest.db", tmp_path / "weather.xml"
    with CountingPool(workers=1, time_limit=10.0) as pool:
        feed.write_bytes(ITEMS)
        first = fetch(db, feed, pool)
        assert (first.status, first.new, pool.parses) == (Status.OK, 2, 1)

        feed.write_bytes(with_header(ITEMS, "11:30:00", "0.31"))  # new bytes, the same items
        again = fetch(db, feed, pool)
        assert (again.status, again.new, again.unchanged, again.updated) == (Status.OK, 0, 2, 0)
        assert pool.parses == 1  # known as it is: no worker was asked

        edited = with_header(ITEMS, "12:00:00").replace(b">two<", b">two, corrected<")
        feed.write_bytes(edited)
        third = fetch(db, feed, pool)
        assert (third.status, third.new, third.updated, pool.parses) == (Status.OK, 0, 1, 2)


def test_the_seed_feed_with_a_new_build_date_is_known(tmp_path: Path) -> None:
    db, feed = tmp_path / "ingest.db", tmp_path / "seed-a.xml"
    with CountingPool(workers=1, time_limit=10.0) as pool:
        feed.write_bytes(SEED_A)
        assert fetch(db, feed, pool).new == 1
        feed.write_bytes(
            SEED_A.replace(
                b"<channel>", b"<channel><lastBuildDate>Sat, 05 Dec 2026</lastBuildDate>"
            )
        )
        outcome = fetch(db, feed, pool)
        assert (outcome.new, outcome.unchanged, pool.parses) == (0, 1, 1)
