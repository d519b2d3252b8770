"""Fuzzing the whole pure path and the store (HOSTILE.md 21): only declared errors escape.

Hypothesis mutates real-looking feeds (the seed feeds, with bytes dropped, repeated or
flipped, and generated markup) and runs each through parse -> prepare (clean, dedupe,
fingerprint) -> store on an in-memory SQLite store. A fixed number of examples runs in CI;
raise ``INGEST_FUZZ_EXAMPLES`` for a longer run.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.decide import Decider
from ingest.errors import ParseError
from ingest.fingerprint import WindowIndex
from ingest.jobs import FeedJob
from ingest.pipeline import store_articles, sync_index
from ingest.prepare import prepare_feed
from ingest.settings import DedupSettings
from ingest.store.sqlite import SQLiteStore

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
SEEDS = [(FEEDS / name).read_bytes() for name in ("seed-a.xml", "seed-b.xml")]
EXAMPLES = int(os.environ.get("INGEST_FUZZ_EXAMPLES", "60"))
NOW = datetime(2026, 11, 29, tzinfo=UTC)
DEDUP = DedupSettings()


@st.composite
def mutated_feed(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["cut", "dup", "flip", "insert"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        width = draw(st.integers(1, 400))
        if op == "cut":
            del data[at : at + width]
        elif op == "dup":
            data[at:at] = data[at : at + width] * draw(st.integers(1, 5))
        elif op == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        else:
            data[at:at] = draw(
                st.sampled_from(
                    [
                        b"<p>",
                        b"</p>",
                        b"<![CDATA[",
                        b"]]>",
                        b"&amp;",
                        b"&#0;",
                        b"\xff\xfe",
                        b"<script>x</script>",
                        b"[ad_1]",
                        b"<item>",
                        b"</item>",
                        b"\x00",
                        "اقرأ أيضا".encode(),
                        b"<!DOCTYPE x [<!ENTITY a 'b'>]>",
                    ]
                )
            )
    return bytes(data)


def run_once(body: bytes, headers: dict[str, str]) -> None:
    started = time.monotonic()
    try:
        prepared = prepare_feed(body, headers, FeedJob("https://fuzz.example/rss", NOW, DEDUP))
    except ParseError:
        return
    store = SQLiteStore(":memory:")
    store.migrate()
    try:
        index = WindowIndex(7 * 86400)
        for _ in range(2):  # the second time, every item is stored already
            with store.transaction() as tx:
                feed = tx.feed_id("https://fuzz.example/rss", "fuzz")
                tx.lock_dedup()
                sync_index(tx, index, NOW, DEDUP)
                store_articles(tx, feed, prepared.articles, Decider(DEDUP), index)
        assert store.integrity_check() == "ok"
    finally:
        store.close()
    assert time.monotonic() - started < 10


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=mutated_feed(), charset=st.sampled_from(["", "utf-8", "windows-1256", "iso-8859-1"]))
def test_mutated_feeds_only_raise_declared_errors(body: bytes, charset: str) -> None:
    headers = {"content-type": f"application/rss+xml; charset={charset}"} if charset else {}
    run_once(body, headers)


@settings(max_examples=EXAMPLES, deadline=None)
@given(body=st.binary(max_size=4096))
def test_random_bytes(body: bytes) -> None:
    run_once(body, {})
