"""Articles for tests, built the way ``prepare.py`` builds them (real analysis of real text)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from ingest import dedupe, fingerprint
from ingest.decide import Decider
from ingest.jobs import dedup_time
from ingest.models import Article, Cleaned, Removed, Stored, Verdict
from ingest.search import document_text
from ingest.settings import DedupSettings

T0 = datetime(2024, 12, 7, 9, 0, tzinfo=UTC)


def make_article(
    guid: str,
    paragraphs: tuple[str, ...] = (),
    *,
    feed_url: str = "https://a.example/rss",
    url: str | None = None,
    canonical_url: str | None = None,
    title: str | None = None,
    published: datetime | None = T0,
    fetched: datetime = T0,
    removed: tuple[Removed, ...] = (),
    content_hash: str | None = None,
    simhash: int | None = None,
    text_hash: str | None = None,
    dedup: DedupSettings | None = None,
) -> Article:
    """An article whose features are computed from ``paragraphs``; ``simhash`` and
    ``text_hash`` may be forced (lookups that need chosen fingerprints)."""
    paras = fingerprint.analyse(paragraphs)
    features = fingerprint.article_features(paras)
    return Article(
        feed_url=feed_url,
        guid=guid,
        url=url,
        canonical_url=canonical_url if canonical_url is not None else url,
        title=title if title is not None else guid,
        published=published,
        fetched=fetched,
        dedup_ts=dedup_time(published, fetched, dedup or DedupSettings()),
        author=None,
        paragraphs=paragraphs,
        removed=removed,
        simhash=features.simhash if simhash is None else simhash,
        fp_version=fingerprint.FINGERPRINT_VERSION,
        text_hash=features.text_hash if text_hash is None else text_hash,
        content_hash=content_hash if content_hash is not None else guid,
        stems=features.stems,
        para_keys=tuple(p.bkey for p in paras),
        search_text=document_text(title if title is not None else guid, (p.key for p in paras)),
    )


def dedupe_text(cleaned: Cleaned, settings: DedupSettings) -> Cleaned:
    """The paragraph rule on a cleaned item, analysing its paragraphs first."""
    return dedupe.dedupe_paragraphs(cleaned, fingerprint.analyse(cleaned.paragraphs), settings)[0]


def article_fp(paragraphs: Sequence[str]) -> int:
    return fingerprint.article_features(fingerprint.analyse(paragraphs)).simhash


def stored(
    paragraphs: Sequence[str], id_: int = 7, simhash: int | None = None, ts: int | None = None
) -> Stored:
    """A stored canonical article's facts, as ``Tx.stored`` gives them."""
    features = fingerprint.article_features(fingerprint.analyse(paragraphs))
    return Stored(
        id=id_,
        root=id_,
        feed_id=1,
        simhash=features.simhash if simhash is None else simhash,
        dedup_ts=int(T0.timestamp()) if ts is None else ts,
        stems=features.stems,
        canonical_url=None,
        text_hash=features.text_hash,
    )


def decide(
    paragraphs: Sequence[str], *candidates: Stored, settings: DedupSettings | None = None
) -> Verdict:
    """The article-level verdict for ``paragraphs`` among ``candidates``."""
    article = make_article("item", tuple(paragraphs))
    return Decider(settings or DedupSettings()).decide(article, candidates).verdict
