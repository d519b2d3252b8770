"""One pass over each article (issue 12, "Analyse once"), checked by tracing the real code.

Following the seed scraper feed from its bytes to the stored rows:

* the worker side (``prepare.prepare_feed``) calls each stage once per item, in stage order:
  parse (once per feed), clean, analyse, the paragraph rule, boilerplate, the article
  features, the search document;
* every text is normalised and tokenised exactly once (``arabic.tokens``): the paragraph
  rule, the boilerplate keys, the text hash, the fingerprint and the search document all read
  the one analysis;
* the main process (``pipeline.store_articles``: decide and write) never analyses text: with
  the normaliser made to fail, the articles are still decided and stored.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from ingest import arabic, prepare
from ingest.decide import Decider
from ingest.fingerprint import WindowIndex
from ingest.jobs import FeedJob
from ingest.pipeline import store_articles, sync_index
from ingest.prepare import prepare_feed
from ingest.settings import DedupSettings
from ingest.store import open_store

SEED_A = Path(__file__).parent / "fixtures" / "feeds" / "seed-a.xml"
NOW = datetime(2024, 12, 8, tzinfo=UTC)
STAGES = {
    "parse_feed": "parse",
    "clean_article": "clean",
    "clean_any": "clean",
    "analyse": "analyse",
    "remove_boilerplate": "boilerplate",
    "dedupe_paragraphs": "paragraph rule",
    "article_features": "article features",
    "document_text": "search document",
}


def traced_stages() -> list[str]:
    """The stage functions the worker side calls, in call order."""
    calls: list[str] = []

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_name in STAGES:
            calls.append(STAGES[frame.f_code.co_name])

    job = FeedJob("file:///seed-a.xml", NOW, DedupSettings())
    sys.setprofile(hook)
    try:
        prepare_feed(SEED_A.read_bytes(), {}, job)
    finally:
        sys.setprofile(None)
    return calls


def test_each_stage_runs_once_per_item_in_stage_order() -> None:
    assert traced_stages() == [
        "parse",
        "clean",
        "clean",  # clean_article -> clean_any
        "analyse",
        "paragraph rule",
        "boilerplate",
        "article features",
        "search document",
    ]


def test_every_text_is_normalised_once(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: Counter[str] = Counter()
    tokens = arabic.tokens

    def counting(text: str) -> list[str]:
        seen[text] += 1
        return tokens(text)

    monkeypatch.setattr(arabic, "tokens", counting)
    prepared = prepare_feed(SEED_A.read_bytes(), {}, FeedJob("file:///a", NOW, DedupSettings()))
    (article,) = prepared.articles
    assert set(article.paragraphs) <= set(seen)  # every kept paragraph was analysed ...
    repeated = {text: n for text, n in seen.items() if n > 1}
    assert repeated == {}  # ... and nothing twice


def test_the_writer_never_analyses_text(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    dedup = DedupSettings()
    prepared = prepare_feed(SEED_A.read_bytes(), {}, FeedJob("file:///a", NOW, dedup))

    def refuse(text: str) -> str:
        raise AssertionError(f"the writer analysed {text[:40]!r}")

    monkeypatch.setattr(arabic, "normalize", refuse)
    monkeypatch.setattr(arabic, "tokens", refuse)
    monkeypatch.setattr(prepare, "clean_article", refuse)
    store = open_store(f"sqlite:///{tmp_path / 'ingest.db'}")
    store.migrate()
    index = WindowIndex(dedup.window_s)
    try:
        with store.transaction() as tx:
            feed = tx.feed_id("file:///a", "a")
            tx.lock_dedup()
            sync_index(tx, index, NOW, dedup)
            counts = store_articles(tx, feed, prepared.articles, Decider(dedup), index)
        assert counts.new == 1
    finally:
        store.close()
