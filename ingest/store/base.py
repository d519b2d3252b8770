"""The store contract every backend implements (``sqlite.py``, ``postgres.py``).

A backend offers read methods on the ``Store`` and a unit of work, ``Store.transaction()``,
whose ``Tx`` holds everything one feed's ingestion writes: the article rows (canonical
articles and link records), their search documents, and the feed's HTTP state, committed
together or not at all (so a crash can never store an ETag without the items it covered).

The decisions (is this new, a copy, which story?) are not made here: the pipeline asks the
``Tx`` for facts (stored GUIDs, exact matches, stored articles near in fingerprint) and hands
them to the pure ``decide.Decider``. The SQL and the row codecs of both backends live in
``core.py``; a backend keeps its connection, its locking, its error translation and its
migrations.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

from ingest.models import Article, HttpCache, Removed, Status, Stored, Verdict
from ingest.search import Query

SCHEMA_VERSION = 4
"""The schema version this code expects; see the backend's migration list."""


def feed_host(url: str) -> str:
    """The host part that per-host politeness counts (local files share one pseudo-host)."""
    try:
        return (urlsplit(url).hostname or "").lower() or "local"
    except ValueError:
        return "local"


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
    body_hash: str | None = None
    """Hash of the last body stored whole: the same bytes again need no parsing."""
    body_items: int | None = None
    """How many items that body held."""
    removed_at: datetime | None = None
    """When ``ingest feeds remove`` removed the feed; its kept articles still point here."""


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """An article row as stored: a canonical article, or a link record (``duplicate_of``).

    Both keep their own text; the canonical article stands for the story. ``match_id`` is the
    article the decision matched (the canonical one or another copy), with ``dup_rule``,
    ``dup_distance`` and ``dup_overlap``.
    """

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
    match_id: int | None = None
    published_raw: str | None = None
    dedup_ts: int = 0
    feed_removed: bool = False
    """The article's feed was removed (``ingest feeds remove --keep-articles``, or the
    article is a story's canonical article other feeds' copies still link to)."""


@dataclass(frozen=True, slots=True)
class ArticleRecord:
    """Everything stored about one article row, for copying a store into another backend.

    ``article`` is what readers see; the rest are the columns the decisions and the search
    index read.
    """

    article: StoredArticle
    feed_id: int
    canonical_url: str | None
    text_hash: str
    content_hash: str
    features: str
    para_keys: str
    search_text: str
    alias_guid: str | None
    seq: int


@dataclass(frozen=True, slots=True)
class KnownEntry:
    """A stored item of a feed, as the next fetch of the feed needs it."""

    id: int
    guid: str
    content_hash: str
    para_keys: tuple[str, ...]
    alias_guid: str | None = None


@dataclass(frozen=True, slots=True)
class GuidRow:
    """A stored item found by its feed and GUID (or alias GUID)."""

    id: int
    guid: str
    content_hash: str
    alias_guid: str | None
    facts: Stored


@dataclass(frozen=True, slots=True)
class FeedUpdate:
    """What one fetch changes on the feed's record."""

    fetched_at: datetime
    status: Status
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
    body_hash: str | None = None
    """The hash of the body just stored whole, and how many items it held; ``None`` keeps
    the stored ones."""
    body_items: int | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to ``Store.claim``: whether this daemon may fetch the feed now."""

    claimed: bool
    reason: str = ""
    """Why not: ``leased`` (another daemon has it), ``not_due``, ``host_busy``."""
    next_check: datetime | None = None
    lease_owner: str | None = None


@dataclass(frozen=True, slots=True)
class StoryRow:
    """A story as ``Store.stories`` lists it: its canonical article and how many carry it."""

    root: int
    articles: int
    """Articles of the story: the canonical one and its link records."""
    first: datetime | None
    last: datetime | None
    """When its first and its last copy were published (fetched, when undated)."""


@dataclass(frozen=True, slots=True)
class Removal:
    """What ``Store.prune`` or ``Store.remove_feed`` removed (or, dry, would remove)."""

    articles: int = 0
    """Canonical articles removed."""
    links: int = 0
    """Link records removed."""
    kept: int = 0
    """Articles kept although they qualified: canonical articles that copies kept in the
    store still link to (or, with ``--keep-articles``, every article of the feed)."""


@dataclass(frozen=True, slots=True)
class NewRow:
    """An article to insert, with the id and change sequence number allotted to it."""

    id: int
    seq: int
    feed_id: int
    article: Article
    verdict: Verdict


class Tx(Protocol):
    """One unit of work. Leaving the ``with`` block commits; an exception rolls back."""

    def feed_id(self, url: str, name: str | None) -> int:
        """The feed's id (found by its URL or its ``origin_url``), creating its row on first
        use."""
        ...

    def lock_dedup(self) -> None:
        """Serialise deduplication decisions with other writers of the same store: until this
        transaction ends, no other one that called it decides (PostgreSQL: an advisory lock;
        SQLite's single writer already does it)."""
        ...

    def changes_since(self, seq: int, fp_version: int) -> list[tuple[int, int, int, int]]:
        """``(id, fingerprint, dedup time, seq)`` of every article written (inserted, edited,
        re-fingerprinted) after change ``seq``, by seq; the fingerprint is 0 for articles of
        another fingerprint version."""
        ...

    def fingerprints_between(self, lo: int, hi: int, fp_version: int) -> list[tuple[int, int, int]]:
        """``(id, fingerprint, dedup time)`` of the articles with ``lo <= dedup time < hi``."""
        ...

    def by_guid(self, feed_id: int, guids: Sequence[str]) -> dict[str, GuidRow]:
        """The feed's stored items whose GUID, or alias GUID, is one of ``guids``, by the GUID
        asked for."""
        ...

    def same_text_or_url(
        self, feed_id: int | None, urls: Sequence[str], text_hashes: Sequence[str]
    ) -> list[Stored]:
        """The stored articles (of the feed ``feed_id``, or of any feed when it is ``None``)
        with one of these canonical URLs or text hashes."""
        ...

    def stored(self, ids: Sequence[int]) -> list[Stored]:
        """The facts of the stored articles with these ids (missing ones are left out)."""
        ...

    def members(self, root: int) -> list[Stored]:
        """The canonical article ``root`` and every link record of its story."""
        ...

    def allot(self, count: int) -> tuple[list[int], list[int]]:
        """``count`` new article ids and ``count`` change sequence numbers, in order."""
        ...

    def next_seqs(self, count: int) -> list[int]:
        """``count`` change sequence numbers: every write that changes an article's
        fingerprint, dedup time or story takes one, so the other writers' indexes see it."""
        ...

    def insert_articles(self, rows: Sequence[NewRow]) -> None:
        """Store new articles: canonical (``verdict.kind == "new"``) or link records."""
        ...

    def update_article(self, article_id: int, article: Article, seq: int) -> None:
        """Replace an item the feed has edited (same GUID, new content): text, dates,
        fingerprint, features; its place in a story is set apart (``set_story``)."""
        ...

    def set_story(self, article_id: int, verdict: Verdict, seq: int | None = None) -> None:
        """Make the article canonical (``Kind.NEW``) or a copy of ``verdict.duplicate_of``
        with the verdict's match; ``seq`` (when given) marks it changed."""
        ...

    def move_story(self, old_root: int, new_root: int) -> None:
        """Point every link record of ``old_root``'s story at ``new_root``."""
        ...

    def set_alias(self, article_id: int, guid: str) -> None:
        """Remember ``guid`` as the latest other GUID the feed gave this item."""
        ...

    def update_feed(self, feed_id: int, update: FeedUpdate) -> None: ...

    def update_fingerprint(self, article_id: int, article: Article, seq: int) -> None:
        """Re-fingerprint a stored article (``ingest rebuild-fingerprints``, ``migrate``):
        fingerprint, version, text hash, features, boilerplate keys, search document and the
        dedup time."""
        ...

    def load_feeds(self, rows: Sequence[FeedRow]) -> None:
        """Insert feeds exactly as given, ids and all state included (``copy_store``)."""
        ...

    def load_articles(self, records: Sequence[ArticleRecord]) -> None:
        """Insert article rows exactly as given, ids included (``copy_store``)."""
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
    ) -> Iterator[StoredArticle]:
        """Stored articles in id order, read from the database as they are consumed."""
        ...

    def article(self, article_id: int) -> StoredArticle | None: ...

    def links_to(self, article_id: int) -> list[StoredArticle]: ...

    def known_entries(self, feed_url: str, limit: int) -> list[KnownEntry]:
        """The feed's last ``limit`` items, newest first: their GUIDs and content hashes (the
        next fetch skips unchanged ones) and boilerplate keys (``boilerplate.recurring_keys``
        learns the feed's boilerplate from them)."""
        ...

    def fingerprints_between(
        self, lo: int, hi: int, fp_version: int, *, batch: int = 50_000
    ) -> Iterator[list[tuple[int, int, int]]]:
        """``Tx.fingerprints_between`` outside a transaction, in batches (warming the index)."""
        ...

    def max_seq(self) -> int:
        """The latest change sequence number written."""
        ...

    def articles_to_upgrade(
        self, fp_version: int | None, after_id: int, limit: int
    ) -> list[StoredArticle]:
        """Articles with an id above ``after_id`` whose stored features are not of
        ``fp_version``, or were never computed (stores made by older versions), by id; every
        article when ``fp_version`` is ``None``; only those never computed when it is 0."""
        ...

    def dump_articles(self) -> Iterator[ArticleRecord]:
        """Every article row (canonical and link records) in id order."""
        ...

    def search(
        self,
        query: Query,
        *,
        since: datetime | None = None,
        feed_url: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> list[tuple[int, float]]:
        """``(story's canonical id, score)`` of the stories with an article whose search
        document matches ``query`` (published since ``since``, of feed ``feed_url``), best
        first (SQLite: FTS5's bm25, negated; PostgreSQL: ``ts_rank``)."""
        ...

    def stories(
        self,
        *,
        since: datetime | None = None,
        min_copies: int = 2,
        limit: int = 50,
        offset: int = 0,
    ) -> list[StoryRow]:
        """Stories with at least ``min_copies`` articles (of those published since ``since``),
        largest first, then the most recent."""
        ...

    def members_of(self, roots: Sequence[int]) -> dict[int, list[StoredArticle]]:
        """Every article of each story, by its canonical id, in id order."""
        ...

    def articles_after(self, after_id: int, limit: int) -> list[StoredArticle]:
        """Up to ``limit`` articles with an id above ``after_id``, in id order: how a reader
        follows what is new (ids are never handed out twice)."""
        ...

    def prune(self, before: datetime, *, dry_run: bool = False) -> Removal:
        """Remove the articles published before ``before`` (fetched, for undated ones), with
        their search rows; a canonical article that a kept copy links to stays. SQLite gives
        the space back (incremental vacuum)."""
        ...

    def remove_feed(self, feed_id: int, *, keep_articles: bool, dry_run: bool = False) -> Removal:
        """Forget a feed's state; remove its articles unless ``keep_articles``, except the
        canonical articles other feeds' copies link to. Kept articles stay readable and
        searchable, marked as from a removed feed."""
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
