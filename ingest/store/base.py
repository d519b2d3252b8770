"""The store interface every backend implements (``sqlite.py``, ``postgres.py``).

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
from urllib.parse import urlsplit

from ingest.models import Article, Candidate, HttpCache, Removed, Verdict

SCHEMA_VERSION = 3
"""The schema version this code expects; see the backend's migration list."""


def feed_host(url: str) -> str:
    """The host part that per-host politeness counts (local files share one pseudo-host)."""
    try:
        return (urlsplit(url).hostname or "").lower() or "local"
    except ValueError:
        return "local"


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
    publish_interval: float | None = None
    """Typical seconds between the feed's items, learnt from its dates."""
    lease_owner: str | None = None
    lease_until: datetime | None = None
    origin_url: str | None = None
    """The URL the feed had before its first move (the configured one); looking a feed up by
    URL also finds it by this one."""
    redirect_url: str | None = None
    """Where the latest fetches were permanently redirected, and how many in a row."""
    redirect_count: int = 0


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
class ArticleRecord:
    """Everything stored about one article row, for copying a store into another backend.

    ``article`` is what readers see; the rest are the lookup columns readers never need.
    ``bands`` are the ``(band index, value)`` rows of the near-duplicate lookup (none for a
    link record).
    """

    article: StoredArticle
    feed_id: int
    canonical_url: str | None
    ts: int
    text_hash: str
    content_hash: str
    bands: tuple[tuple[int, int], ...]


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
    """A new URL after consistent permanent redirects: the old one is kept as ``origin_url``
    (unless the feed has one already) and the redirect streak is cleared."""
    redirect_url: str | None = None
    redirect_count: int | None = None
    """The permanent-redirect streak after this fetch; ``None`` keeps the stored one."""
    next_check: datetime | None = None
    """When the feed is due again; writing it also releases the fetching daemon's lease."""
    publish_interval: float | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to ``Store.claim``: whether this daemon may fetch the feed now."""

    claimed: bool
    reason: str = ""
    """Why not: ``leased`` (another daemon has it), ``not_due``, ``host_busy``."""
    next_check: datetime | None = None
    lease_owner: str | None = None


class Tx(Protocol):
    """One unit of work. Leaving the ``with`` block commits; an exception rolls back."""

    def feed_id(self, url: str, name: str | None) -> int:
        """The feed's id (found by its URL or its ``origin_url``), creating its row on first
        use."""
        ...

    def lock_keys(self, keys: Sequence[int]) -> None:
        """Serialise deduplication decisions with other writers of the same store.

        ``keys`` (signed 64-bit integers, sorted: one acquisition per transaction, in a fixed
        order, cannot deadlock) name the fingerprint bands, canonical URLs and text hashes the
        transaction is about to look up; another transaction that would look up any of them
        waits until this one commits. SQLite's single writer makes this a no-op there.
        """
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

    def fingerprints_since(
        self, after_id: int, fp_version: int, min_ts: int
    ) -> list[tuple[int, int, int]]:
        """``(id, simhash, ts)`` of the canonical articles with an id above ``after_id``,
        fingerprinted with ``fp_version`` and timed at or after ``min_ts``, by id: what a
        ``fingerprint.WindowIndex`` needs to catch up with the store."""
        ...

    def candidates(self, ids: Sequence[int]) -> list[Candidate]:
        """The stored articles with these ids (the window index's hits), by id."""
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

    def update_fingerprint(
        self, article_id: int, simhash: int, fp_version: int, text_hash: str, bands: Sequence[int]
    ) -> None:
        """Re-fingerprint a stored canonical article (``ingest rebuild-fingerprints``): its
        simhash, fingerprint version and text hash, and its rows of the band lookup."""
        ...

    def load_feeds(self, rows: Sequence[FeedRow]) -> None:
        """Insert feeds exactly as given, ids and all state included (``copy_store``)."""
        ...

    def load_articles(self, records: Sequence[ArticleRecord]) -> None:
        """Insert article rows and their bands exactly as given, ids included; a record's
        ``duplicate_of`` must already be stored (``copy_store``)."""
        ...


class Store(Protocol):
    """A backend. ``migrate()`` brings the schema up to date; ``check_schema()`` refuses an
    outdated one with a message saying what to run."""

    url: str

    def migrate(self) -> int: ...

    def schema_version(self) -> int:
        """The applied schema version; 0 for an empty database."""
        ...

    def check_schema(self) -> None: ...

    def transaction(self) -> AbstractContextManager[Tx]: ...

    def feeds(self) -> list[FeedRow]: ...

    def feed(self, url: str) -> FeedRow | None:
        """The feed with that URL, else the one that moved away from it (``origin_url``)."""
        ...

    def articles(
        self,
        *,
        since: datetime | None = None,
        feed_url: str | None = None,
        duplicates: bool = False,
    ) -> Iterator[StoredArticle]: ...

    def article(self, article_id: int) -> StoredArticle | None: ...

    def links_to(self, article_id: int) -> list[StoredArticle]: ...

    def recent_paragraphs(self, feed_url: str, limit: int) -> list[tuple[str, ...]]:
        """The feed's last ``limit`` canonical articles, newest first, each as its kept
        paragraphs followed by the texts removed from it as ``boilerplate``: the history that
        ``boilerplate.recurring_keys`` learns the feed's boilerplate from."""
        ...

    def dump_articles(self) -> Iterator[ArticleRecord]:
        """Every article row (canonical and link records) in id order, with its bands."""
        ...

    def ping(self) -> None:
        """Raise ``StoreError`` unless the store answers and is writable."""
        ...

    def integrity_check(self) -> str:
        """``ok``, or what is broken (SQLite's page check; PostgreSQL's row invariants)."""
        ...

    def claim(
        self,
        url: str,
        name: str | None,
        owner: str,
        now: datetime,
        lease_seconds: float,
        *,
        per_host: int = 0,
    ) -> Claim:
        """Atomically take the feed's lease when it is due and nobody else holds it.

        With ``per_host`` > 0, also refuse while that many live leases are held on feeds of the
        same host (by any daemon), so politeness holds across daemons sharing a store.
        """
        ...

    def release(self, url: str, owner: str) -> None:
        """Give a lease back without fetching (shutdown, removed feed)."""
        ...

    def close(self) -> None: ...
