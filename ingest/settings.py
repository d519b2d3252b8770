"""Frozen settings objects: built once at the edge (``config.py``), passed to stages as arguments.

Defaults here are the documented defaults of ``config/ingest.toml``. Dedup thresholds are
named and commented with how they were measured.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

USER_AGENT = "ingest/0.1 (+https://github.com/ingest-news/ingest; Arabic news feed ingestion)"


@dataclass(frozen=True, slots=True)
class HttpSettings:
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    deadline: float = 60.0
    """Total seconds for one fetch, headers and body included: ends a trickling server."""
    max_body_bytes: int = 16 * 1024 * 1024
    """Cap on the decoded body; a larger feed fails with ``body_too_large``."""
    max_redirects: int = 5
    user_agent: str = USER_AGENT
    allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    """Non-global networks the operator explicitly allows (tests need 127.0.0.0/8)."""
    proxy: str | None = None
    max_connections: int = 20
    per_host: int = 2


@dataclass(frozen=True, slots=True)
class DedupSettings:
    # Measured by bench/measure_thresholds.py on ../shared/corpus (27,708 articles), fingerprint
    # v1 (term-weighted Snowball stems, stopwords removed, 64-bit simhash); rule: distance <= D AND
    # stem-set Jaccard >= J. Paragraphs: catches 92.1% of RSS leads reworded in the body (n=7,794;
    # distance p50 9, p90 15) and flags 0.19% of body paragraphs (most, read by hand, repeat
    # a fact).
    paragraph_max_distance: int = 16
    paragraph_min_overlap: float = 0.55
    # Fewer distinct stems: exact text, or overlap >= 0.8 with 2 shared stems (2.3% of paragraphs).
    paragraph_min_tokens: int = 5
    # Containment (dedupe.py): the smaller paragraph goes when this share of its stem bigrams is
    # in the other one (truncated RSS excerpts, sentences lifted out of a paragraph). On the
    # corpus, 20% of the leads that repeat a body paragraph (7,701 whose stems are >= 80% in
    # one paragraph) have Jaccard < 0.55; with containment >= 0.8 the rules catch 98.9% of them
    # and flag 0.13% more body paragraph pairs, most of them crossheads repeating a line.
    # bench/dedup_quality.py with these defaults: lead recall 0.996, false drops 0.02% of
    # distinct body paragraphs (README, "Deduplication quality").
    paragraph_min_containment: float = 0.8
    # Cover (dedupe.py, issue 10): the smaller paragraph goes when at least this share of its
    # distinct stems is in the other, with at least paragraph_cover_min_shared of them shared:
    # reworded leads that reorder clauses and change verb forms (distance 15-22, Jaccard
    # 0.41-0.52). Measured by bench/measure_thresholds.py --only rule on the whole corpus
    # (26,233 articles, summary above body, 5-gram labels): reworded-lead recall 0.9945 ->
    # 0.9990 (the hard ones, that simhash and Jaccard miss: 0.921 -> 0.986), distinct body
    # paragraphs removed 0 -> 3 of 112,881 (0.003%); every point 0.6-0.8 x 3-6 meets the
    # targets. Dropping the later paragraph instead of the smaller one removes 138 (0.12%).
    paragraph_min_cover: float = 0.7
    paragraph_cover_min_shared: int = 5
    # Articles: edited copies (title, dateline/byline, last paragraph cut, paragraph added,
    # diacritics/hamza, merge/split) recall 0.974; 448,332 same-day same-category pairs: 11 flagged
    # that sentence alignment calls distinct, precision > 0.999. Copies lie up to 14 bits apart,
    # beyond what a 4x16-bit band index finds, so the lookup scans the window (fingerprint.py).
    article_max_distance: int = 14
    article_min_overlap: float = 0.6
    window_days: float = 7.0
    """Two articles are compared when their dedup times lie within this many days."""
    max_age_days: float = 30.0
    """An item's dedup time is its date, but never earlier than this many days before it was
    fetched (an archive republished with its old dates, or a wrong date, is compared with what
    is current then) nor later than ``clock_skew_hours`` after."""
    clock_skew_hours: float = 24.0
    """Hours a date may lie after the fetch (a publisher's clock or time zone off). A date
    further ahead, or before 1990, is not used: kept as text on the record, with a warning."""
    # Boilerplate (boilerplate.py): a paragraph found in at least boilerplate_min_articles of the
    # feed's last boilerplate_window canonical articles is removed from its new ones. Measured by
    # bench/dedup_quality.py (28 days, 4,862 items): with 3, 0 of 247 shared quotations removed
    # and 85.6% of all occurrences of recurring paragraphs; with 2, 4 quotations removed (the
    # third story quoting one statement) for 88.3%. 200 articles hold about three occurrences of
    # CNN Arabic's rarest disclaimer (24 in 1,640 middleEast articles).
    boilerplate_min_articles: int = 3
    boilerplate_window: int = 200

    @property
    def window_s(self) -> int:
        """``window_days`` in whole seconds."""
        return int(self.window_days * 86400)

    @property
    def max_age_s(self) -> float:
        return self.max_age_days * 86400

    @property
    def clock_skew_s(self) -> float:
        return self.clock_skew_hours * 3600


@dataclass(frozen=True, slots=True)
class SchedulePolicy:
    """How often a feed is checked (``schedule.next_check_at``): the ``[daemon]`` scheduling keys,
    or a feed's own ``min_interval``/``max_interval`` over them (``bounded``)."""

    min_interval: float = 300.0
    """Seconds: no feed is checked more often than this."""
    max_interval: float = 6 * 3600.0
    """Seconds: every feed, failing ones included, is checked at least this often."""
    backoff_base: float = 300.0
    """Seconds before the first retry of a failing feed; doubles per failure up to max_interval."""
    jitter: float = 0.1
    """Fraction of an interval added at random so feeds do not fire in lockstep."""
    hint_cap: float = 24 * 3600.0
    """A server's hints (ttl, max-age, Retry-After) are obeyed up to this many seconds."""
    polls_per_gap: float = 2.0
    """How many checks per average gap between the feed's items."""

    def bounded(self, min_interval: float | None, max_interval: float | None) -> SchedulePolicy:
        """This policy with a feed's own bounds (``None``: keep this one's)."""
        if min_interval is None and max_interval is None:
            return self
        return replace(
            self,
            min_interval=self.min_interval if min_interval is None else min_interval,
            max_interval=self.max_interval if max_interval is None else max_interval,
        )


@dataclass(frozen=True, slots=True)
class Address:
    """A TCP address to listen on (``config.parse_address`` makes one from ``host:port``)."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class DaemonSettings:
    """``[daemon]``, parsed: the four scheduling keys (``min_interval``, ``max_interval``,
    ``backoff_base``, ``jitter``) are ``schedule``; ``health_address = ""`` is ``None``."""

    schedule: SchedulePolicy = SchedulePolicy()
    stop_timeout: float = 20.0
    """Seconds in-flight fetches get to finish after SIGTERM (keep below TimeoutStopSec)."""
    health_address: Address | None = Address("127.0.0.1", 8425)
    """Where /healthz, /readyz, /status, /metrics are served; ``None``: nowhere."""
    per_feed_metrics: bool = True
    """Export a last-success timestamp per feed (one series per feed, labelled by name)."""
    log_format: str = "text"
    """"text" (key=value) or "json": one line per event on stderr."""
    lease_seconds: float | None = None
    """Seconds a daemon's claim on a feed lasts. Daemons sharing a store take over the feeds of
    one that died once its leases expire; a lease must outlast ``http.deadline`` plus the time
    to store one feed, or a slow fetch could be taken over while it runs. ``None``:
    ``http.deadline`` + 120."""


@dataclass(frozen=True, slots=True)
class WebSettings:
    """``[web]``, parsed: ``address = ""`` is ``None``."""

    address: Address | None = Address("127.0.0.1", 8426)
    """Where the read API and the web console are served (by ``ingest run`` and
    ``ingest serve``); ``None``: not by the daemon."""


MAX_AUTHOR_CHARS_CEILING = 4_096
"""The highest ``[limits] max_author_chars`` allowed: feedparser's e-mail pattern is quadratic
(16 KB took 0.9 s, 4 KB about 60 ms)."""


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """Caps on what one feed or item may make us hold (HOSTILE.md 17, 23). Nothing is cut
    silently: every item dropped and every field cut is a warning on the feed's outcome that
    says how much was kept and how much dropped, and names the key to raise."""

    max_items: int = 500
    """Items kept per feed, the newest (by date; undated ones last); the rest are dropped.
    A feed with more than twice as many has only its first and last ``max_items`` read."""
    max_field_chars: int = 500_000
    """Characters kept of an item's HTML (content and summary each). A long news article is
    20-100 KB of HTML."""
    max_title_chars: int = 2_000
    """Characters kept of a feed's or an item's title."""
    max_link_chars: int = 4_096
    """Characters kept of a link or a GUID (a longer GUID is cut, which keeps it stable)."""
    max_author_chars: int = 256
    """Characters kept of an author, cut in the raw XML before feedparser reads it: its e-mail
    pattern is quadratic (64 KB took 14 s). At most ``MAX_AUTHOR_CHARS_CEILING``."""
    max_html_chars: int = 1_000_000
    """Characters of HTML the cleaner builds a tree from (``ingest clean`` and every item)."""
    max_html_tags: int = 50_000
    """Tags the cleaner builds a tree from: tag soup costs about 150 times its size in memory,
    and a real article has a few hundred tags."""


@dataclass(frozen=True, slots=True)
class FeedSettings:
    name: str
    url: str
    enabled: bool = True
    min_interval: float | None = None
    max_interval: float | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    db: str = ""
    """Database URL; ``config.py`` fills in the documented default path."""
    retention_days: float | None = None
    """``[store] retention_days``: the daemon removes articles published more than this many
    days ago, once a day (``ingest prune``); ``None`` keeps everything."""
    http: HttpSettings = field(default_factory=HttpSettings)
    dedup: DedupSettings = field(default_factory=DedupSettings)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    web: WebSettings = field(default_factory=WebSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    feeds: tuple[FeedSettings, ...] = ()
    source: str | None = None
    """The configuration file these settings came from, if any."""
