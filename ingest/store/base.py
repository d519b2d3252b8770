"""The store interface every backend implements (SQLite now, PostgreSQL later).

A backend offers read methods on the ``Store`` and a unit of work, ``Store.transaction()``,
whose ``Tx`` holds everything one feed's ingestion writes: the article rows, the link rows of
duplicates, and the feed's HTTP state, committed together or not at all (so a crash can never
store an ETag without the items it covered).

The decisions (is this new, a duplicate, a near-duplicate?) are not made here: the pipeline
asks the ``Tx`` for facts (an existing GUID, an exact match, near-duplicate candidates) and
hands them to the pure functions of ``dedupe.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ingest.models import Article, Candidate, HttpCache, Removed, Verdict

SCHEMA_VERSION = 1
"""The schema version this code expects; see the backend's migration list."""


def to_signed64(value: int) -> int:
    """Map an unsigned 64-bit fingerprint onto SQL's signed BIGINT range."""
    return value - (1 << 64) if value >= 1 << 63 else value


def from_signed64(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


@dataclass(frozen=True, slots=True)
class FeedRow:
    """A feed's stored state."""

    id: int
    url: str
    name: str | None
    cache: HttpCache
    last_fetch: datetime | None
    last_success: datetime | None
    last_status: str | None
    http_status: int | None
    error_code: str | None
    error: str | None
    consecutive_failures: int
    articles: int
    duplicates: int
    ttl_seconds: int | None
    next_check: datetime | None


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """An article row as stored: a canonical body, or a link record (``duplicate_of`` set)."""

    id: int
    feed_url: str
    feed_name: str | None
    guid: str
    url: str | None
    title: str
    author: str | None
    published: datetime | None
    fetched: datetime
    paragraphs: tuple[str, ...]
    removed: tuple[Removed, ...]
    simhash: int
    fp_version: int
    duplicate_of: int | None
    dup_rule: str | None
    dup_distance: int | None
    dup_overlap: float | None


@dataclass(frozen=True, slots=True)
class FeedUpdate:
    """What one fetch changes on the feed's record."""

    fetched_at: datetime
    status: str
    """``ok``, ``not_modified`` or ``error``."""
    http_status: int | None = None
    cache: HttpCache | None = None
    """New validators; ``None`` keeps the stored ones."""
    error_code: str | None = None
    error: str | None = None
    ttl_seconds: int | None = None
    new_articles: int = 0
    new_duplicates: int = 0
    url: str | None = None
    """A new URL after consistent permanent redirects."""


class Tx(Protocol):
    """One unit of work. Leaving the ``with`` block commits; an exception rolls back."""

    def feed_id(self, url: str, name: str | None) -> int:
        """The feed's id, creating its row on first use."""
        ...

    def find_guid(self, feed_id: int, guid: str) -> tuple[int, str] | None:
        """``(article id, content_hash)`` of this feed's item with that GUID, if stored."""
        ...

    def find_exact(self, canonical_url: str | None, text_hash: str) -> tuple[int, str] | None:
        """``(canonical id, rule)`` of a stored canonical article with the same URL or text."""
        ...

    def near_candidates(
        self, bands: Sequence[int], fp_version: int, ts: int, window_s: int
    ) -> list[Candidate]:
        """Canonical articles sharing a band, fingerprinted with ``fp_version``, whose time is
        within ``window_s`` seconds of ``ts`` (epoch seconds). The caller measures distances."""
        ...

    def insert_article(
        self, feed_id: int, article: Article, bands: Sequence[int], verdict: Verdict
    ) -> int:
        """Store a canonical article (``verdict.kind == "new"``) or a link record."""
        ...

    def update_article(self, article_id: int, article: Article, bands: Sequence[int]) -> None:
        """Replace an item the feed has edited (same GUID, new content)."""
        ...

    def update_feed(self, feed_id: int, update: FeedUpdate) -> None: ...


class Store(Protocol):
    """A backend. ``migrate()`` brings the schema up to date; ``check_schema()`` refuses an
    outdated one with a message saying what to run."""

    url: str

    def migrate(self) -> int: ...

    def check_schema(self) -> None: ...

    def transaction(self) -> AbstractContextManager[Tx]: ...

    def feeds(self) -> list[FeedRow]: ...

    def feed(self, url: str) -> FeedRow | None: ...

    def articles(
        self,
        *,
        since: datetime | None = None,
        feed_url: str | None = None,
        duplicates: bool = False,
    ) -> Iterator[StoredArticle]: ...

    def article(self, article_id: int) -> StoredArticle | None: ...

    def links_to(self, article_id: int) -> list[StoredArticle]: ...

    def ping(self) -> None:
        """Raise ``StoreError`` unless the store answers and is writable."""
        ...

    def close(self) -> None: ...
