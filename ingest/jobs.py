"""What the main process and a parse worker pass each other (light: no parser, no HTML).

The main process imports this module, never ``prepare.py``: BeautifulSoup, feedparser, numpy
and simhash are loaded by the workers alone, so a command that does not parse starts fast (the
stemmer is light and loaded everywhere: ``explain`` and ``migrate`` analyse text in the main
process).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from ingest.models import Article
from ingest.settings import DedupSettings, LimitSettings


@dataclass(frozen=True, slots=True)
class FeedJob:
    """What a worker needs to prepare one feed, besides its bytes."""

    url: str
    """The URL the feed was fetched from (``Article.feed_url``, warnings)."""
    fetched: datetime
    dedup: DedupSettings
    limits: LimitSettings = field(default_factory=LimitSettings)
    recurring: frozenset[str] = frozenset()
    """The feed's boilerplate keys (``boilerplate.recurring_keys``)."""
    known: frozenset[int] = frozenset()
    """``entry_digest`` of the feed's stored items: an entry found here is unchanged."""


@dataclass(frozen=True, slots=True)
class PreparedFeed:
    """A feed, parsed and its new or changed entries prepared."""

    ttl_seconds: int | None
    recovered: bool
    """The items were read out of XML that is not well-formed: they may be added, but they
    never edit stored items (the last one may be cut short)."""
    articles: tuple[Article, ...]
    """The entries not known as they are, one per GUID, newest first."""
    unchanged: int
    """Entries skipped because the store has them as they are."""
    dates: tuple[datetime, ...] = ()
    """Every entry's usable date (``schedule.publish_interval`` learns from them)."""
    keys: frozenset[str] = frozenset()
    """Every entry's key (``raw_guid``), prepared or not: a stored item the document still
    names is not one that changed its GUID."""
    warnings: tuple[str, ...] = field(default=())


def entry_digest(guid: str, content_hash: str) -> int:
    """A short key of a stored item as it is: its GUID and the hash of what the feed sent."""
    h = hashlib.blake2b(digest_size=8)
    h.update(guid.encode("utf-8", "surrogatepass"))
    h.update(b"\x00")
    h.update(content_hash.encode("ascii"))
    return int.from_bytes(h.digest(), "big", signed=True)


def dedup_time(published: datetime | None, fetched: datetime, dedup: DedupSettings) -> int:
    """Epoch seconds an article is compared at: its date clamped into
    [fetched - max_age, fetched + clock_skew], else its fetch time."""
    now = fetched.timestamp()
    if published is None:
        return int(now)
    earliest = now - dedup.max_age_s
    latest = now + dedup.clock_skew_s
    return int(min(max(published.timestamp(), earliest), latest))


def prepare(body: bytes, headers: dict[str, str], job: FeedJob) -> PreparedFeed:
    """``prepare.prepare_feed``, named by this module: a worker runs it (the pool sends the
    function by reference, and the main process need not import the parser to name it)."""
    from ingest.prepare import prepare_feed  # noqa: PLC0415 - loaded in the workers only

    return prepare_feed(body, headers, job)
