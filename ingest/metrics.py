"""Prometheus metrics of the daemon (the only module importing ``prometheus_client``).

Names follow the conventions: ``ingest_`` prefix, ``_total`` counters, ``_seconds`` units.
No label carries a URL. Label values are bounded: outcomes are the error codes of
``errors.py``; levels are fixed here; reasons are the ``Removed.reason`` values the pipeline
reports (any of them is counted, the paragraph rule's ``models.PARAGRAPH_RULE_REASONS`` also
as paragraph duplicates). The per-feed last-success gauge
(labelled by the operator's feed name) is the only series that grows with the number of feeds,
and ``[daemon] per_feed_metrics = false`` turns it off.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ingest.models import PARAGRAPH_RULE_REASONS, FeedOutcome

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self, *, per_feed: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.per_feed = per_feed
        r = self.registry
        self.fetches = Counter(
            "ingest_fetches",
            "Feed fetches by outcome (ok, not_modified or an error code).",
            ["outcome"],
            registry=r,
        )
        self.duration = Histogram(
            "ingest_fetch_duration_seconds",
            "Time to fetch, parse and store one feed.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=r,
        )
        self.articles = Counter("ingest_articles_stored", "Canonical articles stored.", registry=r)
        self.duplicates = Counter(
            "ingest_duplicates",
            "Duplicates found: paragraph (inside an article), article (near-duplicate "
            "article stored as a link), exact (same URL or text as a stored article).",
            ["level"],
            registry=r,
        )
        self.removed = Counter(
            "ingest_paragraphs_removed",
            "Pieces removed from stored articles, by reason.",
            ["reason"],
            registry=r,
        )
        self.failing = Gauge("ingest_failing_feeds", "Feeds whose last fetch failed.", registry=r)
        self.feeds = Gauge("ingest_feeds", "Feeds scheduled by this daemon.", registry=r)
        self.last_success = Gauge(
            "ingest_feed_last_success_timestamp_seconds",
            "Unix time of each feed's last successful fetch.",
            ["feed"],
            registry=r,
        )
        self.up_since = Gauge(
            "ingest_start_time_seconds", "Unix time the daemon started.", registry=r
        )
        for level in ("paragraph", "article", "exact"):
            self.duplicates.labels(level=level)
        for reason in PARAGRAPH_RULE_REASONS:
            self.removed.labels(reason=str(reason))

    def observe(
        self, outcome: FeedOutcome, success_at: float | None, *, configured: bool = True
    ) -> None:
        """Count one feed's outcome; ``configured=False`` (a feed removed while it ran) counts it
        without bringing its per-feed series back."""
        label = outcome.status if outcome.status != "error" else (outcome.error_code or "error")
        self.fetches.labels(outcome=label).inc()
        self.duration.observe(outcome.duration_ms / 1000)
        self.articles.inc(outcome.new)
        self.duplicates.labels(level="article").inc(outcome.duplicates)
        self.duplicates.labels(level="exact").inc(outcome.exact)
        for reason, count in outcome.removed:
            self.removed.labels(reason=str(reason)).inc(count)
            if reason in PARAGRAPH_RULE_REASONS:
                self.duplicates.labels(level="paragraph").inc(count)
        if success_at is not None and self.per_feed and configured:
            self.last_success.labels(feed=outcome.name).set(success_at)

    def forget(self, names: Iterable[str]) -> None:
        """Drop the series of feeds no longer configured."""
        for name in names:
            with contextlib.suppress(KeyError):  # never reported a success
                self.last_success.remove(name)

    def render(self) -> bytes:
        return generate_latest(self.registry)
