"""Frozen records passed between the pipeline's stages.

Every stage takes and returns these small immutable values; none of them holds a
connection, a clock or a file. Timestamps are timezone-aware UTC ``datetime`` values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Reason(StrEnum):
    """Why a piece of an item's text was removed (``Removed.reason``).

    The cleaner's residue (``clean.py``), the feed's learnt boilerplate (``boilerplate.py``)
    and the paragraph rule (``dedupe.py``). A ``StrEnum``: stored and exported as its value.
    """

    AD_MARKER = "ad_marker"
    SHORTCODE = "shortcode"
    SOURCE_TRAILER = "source_trailer"
    TRUNCATION_MARKER = "truncation_marker"
    READ_ALSO = "read_also"
    PLACEHOLDER = "placeholder"
    BOILERPLATE = "boilerplate"
    EXACT_DUPLICATE = "exact_duplicate"
    NEAR_DUPLICATE = "near_duplicate"
    CONTAINED = "contained"
    COVERED = "covered"


PARAGRAPH_RULE_REASONS = frozenset(
    {Reason.EXACT_DUPLICATE, Reason.NEAR_DUPLICATE, Reason.CONTAINED, Reason.COVERED}
)
"""The reasons of the paragraph rule: the removed piece repeats another paragraph."""


class Kind(StrEnum):
    """The article-level verdict: a new story, or a copy of a stored one."""

    NEW = "new"
    EXACT = "exact"
    NEAR = "near"


class Rule(StrEnum):
    """What made two articles the same story (``Verdict.rule``, a link record's rule)."""

    URL = "url"
    """The same link once tracking parameters are removed."""
    TEXT = "text"
    """The same text once normalised."""
    SIMHASH = "simhash"
    """Fingerprints within ``article_max_distance`` bits and stems overlapping enough."""


class Status(StrEnum):
    """How one fetch of a feed ended (``FeedOutcome.status``, the feed's ``last_status``)."""

    OK = "ok"
    NOT_MODIFIED = "not_modified"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class HttpCache:
    """The validators a server gave us, sent back on the next conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    """What the fetch stage hands the parser: bytes plus the response headers.

    ``status`` is 200 (a body to parse) or 304 (nothing changed; ``body`` is empty).
    ``headers`` has lower-case names. ``permanent_redirect`` is the final URL when every
    hop of the redirect chain was permanent (301/308), else ``None``.
    """

    url: str
    final_url: str
    status: int
    body: bytes
    headers: Mapping[str, str]
    cache: HttpCache
    elapsed_ms: int = 0
    permanent_redirect: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True, slots=True)
class Entry:
    """One feed item as the parser read it; text fields are still raw (HTML allowed)."""

    guid: str | None
    link: str | None
    title: str
    content: str
    """The article HTML: ``content:encoded`` when present, else the description."""
    summary: str
    """The description/summary HTML (may equal ``content``)."""
    published: datetime | None
    author: str | None = None
    published_raw: str | None = None
    """The item's date as the feed wrote it, when it gave one that is not used (``published``
    is then ``None``): unreadable, impossible (30 February), or outside the range rule
    (``ingest.dates.range_problem``). At most ``ingest.dates.MAX_DATE_CHARS`` characters."""


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed: its entries plus non-fatal warnings (a survivable ``bozo``).

    ``recovered`` is true when the XML was not well-formed and feedparser's lenient parser
    read the entries out of it: a truncated feed ends in a cut item, so such entries may be
    added but should not edit stored ones.
    """

    title: str | None
    link: str | None
    entries: tuple[Entry, ...]
    ttl_seconds: int | None = None
    encoding: str | None = None
    warnings: tuple[str, ...] = ()
    recovered: bool = False


@dataclass(frozen=True, slots=True)
class Removed:
    """A piece of text the cleaner or the deduplicator dropped, and why.

    ``position`` is the piece's index among the blocks the cleaner found in the item.
    For ``near_duplicate``/``exact_duplicate`` paragraphs, ``duplicate_of`` is the position
    of the kept paragraph it repeats, with the fingerprint ``distance`` and the stemmed
    word-set ``overlap`` (Jaccard) that decided it.
    """

    reason: Reason | str
    text: str
    position: int
    duplicate_of: int | None = None
    distance: int | None = None
    overlap: float | None = None


@dataclass(frozen=True, slots=True)
class Cleaned:
    """An item's text after cleaning: kept paragraphs (display text untouched) and removals.

    ``positions[i]`` is the original block index of ``paragraphs[i]``.
    """

    paragraphs: tuple[str, ...]
    removed: tuple[Removed, ...] = ()
    positions: tuple[int, ...] = ()
    links: tuple[str, ...] = field(default=())
    warnings: tuple[str, ...] = ()
    """What the cleaner had to do to the input that a person should know: HTML cut at a cap
    (with the counts kept and dropped), references to no character replaced."""


@dataclass(frozen=True, slots=True)
class Article:
    """A cleaned, analysed item ready for the article-level decision and the store.

    Built in a worker process (``prepare.py``) and handed to the writer: everything the
    decision and the store need is computed once there, so the main process never
    normalises, stems or fingerprints again.
    """

    feed_url: str
    guid: str
    url: str | None
    canonical_url: str | None
    title: str
    published: datetime | None
    """The item's date when it is plausible, else ``None`` (``published_raw`` keeps the text)."""
    fetched: datetime
    dedup_ts: int
    """Epoch seconds the article is compared at: ``published`` clamped into
    [fetched - max_age, fetched + clock_skew], else ``fetched`` (``jobs.dedup_time``)."""
    author: str | None
    paragraphs: tuple[str, ...]
    removed: tuple[Removed, ...]
    simhash: int
    fp_version: int
    text_hash: str
    """Hash of the normalised text: equal for exact duplicates; ``""`` when there is no word."""
    content_hash: str
    """Hash of what the feed sent for this item: a change means the item was edited."""
    stems: frozenset[str] = frozenset()
    """The distinct stems of the kept paragraphs: what the article rule's overlap compares."""
    para_keys: tuple[str, ...] = ()
    """Boilerplate keys of the kept paragraphs and of those removed as boilerplate: the feed's
    history that ``boilerplate.recurring_keys`` learns from."""
    search_text: str = ""
    """The stems of the title and the kept paragraphs, in order: the search index's document."""
    published_raw: str | None = None
    """The feed's date text when it could not be used (unreadable or implausible)."""


@dataclass(frozen=True, slots=True)
class Stored:
    """What the article-level decision knows of a stored article (``decide.py``)."""

    id: int
    root: int
    """The canonical article of its story: itself when canonical."""
    feed_id: int
    simhash: int
    dedup_ts: int
    stems: frozenset[str]
    canonical_url: str | None = None
    text_hash: str = ""


@dataclass(frozen=True, slots=True)
class Edge:
    """Two articles found to tell the same story, and the figures that decided it."""

    other: int
    """The stored article matched."""
    rule: Rule
    distance: int
    overlap: float


@dataclass(frozen=True, slots=True)
class Verdict:
    """The article-level decision for one item.

    ``kind``: ``new`` (a story of its own: canonical), ``exact`` or ``near`` (a copy of the
    story whose canonical article is ``duplicate_of``). ``rule`` names what matched, with the
    measured ``distance`` and ``overlap``, against ``match_id`` (the article matched: the
    canonical one, or another copy of the story).
    """

    kind: Kind
    duplicate_of: int | None = None
    rule: Rule | None = None
    distance: int | None = None
    overlap: float | None = None
    match_id: int | None = None


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    """What happened to one feed in one run, as reported by ``ingest fetch``."""

    name: str
    url: str
    status: Status
    new: int = 0
    duplicates: int = 0
    exact: int = 0
    unchanged: int = 0
    updated: int = 0
    error_code: str | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()
    http_status: int | None = None
    duration_ms: int = 0
    next_check: datetime | None = None
    removed: tuple[tuple[str, int], ...] = ()
    """How many pieces each reason removed from the new articles, e.g. ``("ad_marker", 2)``."""
