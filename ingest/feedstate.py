"""What is known about each feed, and the status document that shows it: the daemon's
``/status`` and ``ingest status`` (from the daemon, or from the store when no daemon answers)
read and write the same shape here.

::

    {"daemon": {"version", "owner", "started", "uptime_seconds", "ready", "reason",
                "feeds", "failing", "in_flight", "last_success_age_seconds"} | null,
     "store": "sqlite:////var/lib/ingest/ingest.db",
     "feeds": [{"name", "url", "last_fetch", "last_success", "last_success_age_seconds",
                "outcome", "error_code", "error", "consecutive_failures", "failing",
                "next_run", "articles", "duplicates", "lease_owner", "running"}, ...]}

URLs are shown with their credentials masked (``netguard.redact_url``); ``store`` names the
store by ``store_identity``, so two processes can tell whether they read the same one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.models import FeedOutcome
from ingest.netguard import redact_url
from ingest.settings import FeedSettings
from ingest.store import sqlite_path
from ingest.store.base import FeedRow


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def store_identity(db: str) -> str:
    """The store ``db`` names, fit to show and to compare: a SQLite store as the absolute path
    of its file, any other as its URL with credentials masked."""
    path = sqlite_path(db)
    if path is None:
        return redact_url(db)
    if path == ":memory:":
        return "sqlite:///:memory:"
    return f"sqlite:///{Path(path).expanduser().resolve()}"


@dataclass(eq=False)
class FeedState:
    """One feed as the daemon sees it (mutable; the daemon's feed table owns it)."""

    name: str
    url: str
    last_fetch: datetime | None = None
    last_success: datetime | None = None
    outcome: str | None = None
    error_code: str | None = None
    error: str | None = None
    consecutive_failures: int = 0
    next_run: datetime | None = None
    articles: int = 0
    duplicates: int = 0
    lease_owner: str | None = None
    running: bool = False
    host_waits: int = 0
    """Claims refused in a row because the feed's host was busy (``leases.retry_at``)."""

    @property
    def failing(self) -> bool:
        return self.outcome == "error"

    def absorb(self, row: FeedRow) -> None:
        """Take the persisted state (another daemon may have fetched the feed)."""
        self.last_fetch, self.last_success = row.last_fetch, row.last_success
        self.outcome, self.error_code, self.error = row.last_status, row.error_code, row.error
        self.consecutive_failures = row.consecutive_failures
        self.articles, self.duplicates = row.articles, row.duplicates
        self.lease_owner = row.lease_owner
        if row.next_check and not self.running:
            self.next_run = row.next_check

    def record(self, outcome: FeedOutcome, now: datetime) -> None:
        """Take the outcome of a run of this feed that ended at ``now``."""
        self.last_fetch = now
        self.outcome = outcome.status
        self.lease_owner = None
        if outcome.status == "error":
            self.consecutive_failures += 1
            self.error_code, self.error = outcome.error_code, outcome.error
        else:
            self.consecutive_failures = 0
            self.error_code = self.error = None
            self.last_success = now
        self.articles += outcome.new
        self.duplicates += outcome.duplicates + outcome.exact

    def as_json(self, now: datetime) -> dict[str, Any]:
        age = (now - self.last_success).total_seconds() if self.last_success else None
        return {
            "name": self.name,
            "url": redact_url(self.url),
            "last_fetch": iso(self.last_fetch),
            "last_success": iso(self.last_success),
            "last_success_age_seconds": round(age, 1) if age is not None else None,
            "outcome": self.outcome,
            "error_code": self.error_code,
            "error": self.error,
            "consecutive_failures": self.consecutive_failures,
            "failing": self.failing,
            "next_run": iso(self.next_run),
            "articles": self.articles,
            "duplicates": self.duplicates,
            "lease_owner": self.lease_owner,
            "running": self.running,
        }


def by_url(rows: Iterable[FeedRow]) -> dict[str, FeedRow]:
    """Stored feeds by URL, a moved feed also by the URL it was configured with."""
    rows = list(rows)
    found = {row.origin_url: row for row in rows if row.origin_url}
    found.update({row.url: row for row in rows})
    return found


def from_store(feeds: Sequence[FeedSettings], rows: Sequence[FeedRow]) -> list[FeedState]:
    """The feeds a daemon would show, from the store alone: every enabled configured feed
    with its stored state, or every stored feed when none is configured."""
    pairs: list[tuple[str, str, FeedRow | None]]
    if not feeds:
        pairs = [(row.name or row.url, row.url, row) for row in rows]
    else:
        stored = by_url(rows)
        pairs = [(f.name, f.url, stored.get(f.url)) for f in feeds if f.enabled]
    states = []
    for name, url, row in pairs:
        state = FeedState(name, url)
        if row is not None:
            state.absorb(row)
        states.append(state)
    return states


def last_success_age(states: Iterable[FeedState], now: datetime) -> float | None:
    successes = [s.last_success for s in states if s.last_success]
    return round((now - max(successes)).total_seconds(), 1) if successes else None


def document(
    daemon: Mapping[str, Any] | None, store: str, states: Iterable[FeedState], now: datetime
) -> dict[str, Any]:
    """The status document (the module docstring shows it)."""
    ordered = sorted(states, key=lambda s: s.name)
    return {
        "daemon": dict(daemon) if daemon is not None else None,
        "store": store,
        "feeds": [s.as_json(now) for s in ordered],
    }


def feed_line(feed: Mapping[str, Any]) -> str:
    """One feed of a status document as a line of text."""
    outcome = feed["outcome"] or "not fetched yet"
    if feed["error_code"]:
        failures = feed["consecutive_failures"]
        outcome += f" ({feed['error_code']}: {feed['error']}; {failures} in a row)"
    held = f"; held by {feed['lease_owner']}" if feed["lease_owner"] else ""
    return (
        f"{feed['name']} <{feed['url']}>: {outcome}; last success {feed['last_success'] or '-'}; "
        f"next run {feed['next_run'] or '-'}; articles {feed['articles']}, "
        f"duplicates {feed['duplicates']}{held}"
    )


def text_lines(doc: Mapping[str, Any], source: str) -> list[str]:
    """A status document as text: a first line saying what was read (``source``: the daemon's
    address, or why the store was read directly), then one line per feed."""
    feeds = doc["feeds"]
    failing = sum(bool(f["failing"]) for f in feeds)
    d = doc["daemon"]
    if d is None:
        first = f"store {doc['store']} ({source}): {len(feeds)} feeds, {failing} failing"
    else:
        state = "ready" if d["ready"] else f"not ready ({d['reason']})"
        first = (
            f"daemon {d['owner']} at {source} on store {doc['store']} (ingest {d['version']}): "
            f"{state}, up {d['uptime_seconds']} s, {d['feeds']} feeds, {d['failing']} failing"
        )
    return [first, *(feed_line(f) for f in feeds)]
