"""The daemon's feed table and the job of each feed.

::

    timer fires for a feed -> one task per feed (a run still going defers the next)
      -> a global and a per-host slot (``limits.FetchLimits``)
      -> claim the feed's lease in the store (``leases``)       refused: ask again (``retry_at``)
      -> Pipeline.run(Target(name, url, the feed's policy))    fetch, parse, store, next check
      -> record the outcome (feed state, readiness, metrics, a log line)
      -> set the timer at the stored next check

A feed is an entry (``ScheduledFeed``) that a job holds from start to end: a reload that
removes or replaces the feed meanwhile leaves the job to finish its run, after which it neither
reschedules nor touches the new entry. Nothing is looked up by name after a wait.

The tasks are this module's own, not the scheduler's, so stopping is ours too (``stop``): jobs
still waiting for a slot are dropped, fetches in flight get ``stop_timeout`` to finish and be
stored, and only those still running then are cancelled, by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from ingest.errors import IngestError, StoreError
from ingest.feedstate import FeedState, by_url, iso
from ingest.health import Readiness
from ingest.leases import lease_seconds, retry_at
from ingest.limits import FetchLimits
from ingest.logs import event
from ingest.metrics import Metrics
from ingest.models import FeedOutcome, Status
from ingest.pipeline import Pipeline, Target
from ingest.settings import FeedSettings, SchedulePolicy, Settings
from ingest.store.base import Claim, FeedRow

log = logging.getLogger("ingest.daemon")

FIRST_ROUND_SECONDS_PER_FEED = 0.04
"""Measured ingest time of one feed (bench/README.md, daemon at scale): the first round of
never-fetched feeds is spread over this many seconds per configured feed."""
FIRST_SPREAD = 30.0
"""Seconds (or ``min_interval`` when shorter) over which feeds due at start are spread."""
BUSY_RETRY = 1.0
"""Seconds before firing again a feed whose previous run (of an older configuration) still
goes on."""
RELEASE_TIMEOUT = 2.0
"""Seconds a cancelled job waits to give its lease back."""


class Timer(Protocol):
    """One-shot timers by key (the daemon's scheduler)."""

    def at(self, key: str, when: datetime, callback: Callable[[], Awaitable[None]]) -> None:
        """Call ``callback`` at ``when``, replacing the timer ``key`` had."""

    def cancel(self, key: str) -> None:
        """Drop the timer of ``key``, if any."""


@dataclass(eq=False)
class ScheduledFeed:
    """A configured feed as the daemon runs it: its settings, its policy (the daemon's with
    the feed's own bounds, resolved once) and its state."""

    feed: FeedSettings
    policy: SchedulePolicy
    state: FeedState

    @property
    def name(self) -> str:
        return self.feed.name

    @property
    def key(self) -> str:
        return f"feed:{self.feed.name}"


class FeedJobs:
    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        timer: Timer,
        *,
        owner: str,
        metrics: Metrics,
        readiness: Readiness,
        clock: Callable[[], datetime],
        rng: random.Random,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.timer = timer
        self.owner = owner
        self.metrics = metrics
        self.readiness = readiness
        self.clock = clock
        self.rng = rng
        self.limits = FetchLimits(settings.http.max_connections, settings.http.per_host)
        self.feeds: dict[str, ScheduledFeed] = {}
        self.stopping = False
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._fetching: set[str] = set()
        """Feeds whose job has its slots: it may hold a lease and is fetching or storing."""

    # -- the feed table -------------------------------------------------------------------

    def use(self, settings: Settings) -> None:
        """Run with new settings (a reload): new limits when they changed; the feeds are the
        caller's (``add``, ``remove``, ``change``)."""
        old = self.settings.http
        if (old.max_connections, old.per_host) != (
            settings.http.max_connections,
            settings.http.per_host,
        ):
            self.limits = FetchLimits(settings.http.max_connections, settings.http.per_host)
        self.settings = settings

    def _entry(self, feed: FeedSettings, state: FeedState | None = None) -> ScheduledFeed:
        policy = self.settings.daemon.schedule.bounded(feed.min_interval, feed.max_interval)
        return ScheduledFeed(feed, policy, state or FeedState(feed.name, feed.url))

    def add(self, feed: FeedSettings, row: FeedRow | None, now: datetime) -> None:
        """Schedule a feed: soon when it is due (spread out so feeds do not all fire at once),
        at its stored next check when it was checked recently."""
        entry = self._entry(feed)
        if row is not None:
            entry.state.absorb(row)
        self.feeds[feed.name] = entry
        spread = min(FIRST_SPREAD, self.settings.daemon.schedule.min_interval)
        if row is None or row.last_fetch is None:
            # Never fetched: spread the first round over the time ingesting it takes, so a
            # large new configuration does not start thousands of fetches late (bench/README).
            spread = max(spread, FIRST_ROUND_SECONDS_PER_FEED * len(self.settings.feeds))
        first = now + timedelta(seconds=self.rng.random() * spread)
        if row is not None and row.next_check is not None and row.next_check > first:
            first = row.next_check
        self._schedule(entry, first)

    def remove(self, name: str) -> None:
        """Stop scheduling a feed. A run in progress finishes (and stores what it fetched)."""
        entry = self.feeds.pop(name, None)
        if entry is not None:
            self.timer.cancel(entry.key)

    def change(self, feed: FeedSettings, now: datetime) -> None:
        """Take a feed's new settings. A new URL is a new feed, due now; anything else keeps
        the feed's state and schedule."""
        entry = self.feeds.get(feed.name)
        if entry is None:
            return
        if entry.feed.url != feed.url:
            self.feeds[feed.name] = fresh = self._entry(feed)
            self._schedule(fresh, now)
        else:
            entry.feed = feed
            entry.policy = self._entry(feed, entry.state).policy

    def rebound(self) -> None:
        """Resolve every feed's policy again (the daemon's scheduling keys changed)."""
        for entry in self.feeds.values():
            entry.policy = self._entry(entry.feed, entry.state).policy

    def states(self) -> list[FeedState]:
        return [entry.state for entry in self.feeds.values()]

    def absorb(self, rows: Iterable[FeedRow]) -> None:
        """Take the persisted state of every feed (a probe's snapshot of the store)."""
        stored = by_url(rows)
        for entry in self.feeds.values():
            row = stored.get(entry.feed.url)
            if row is not None:
                entry.state.absorb(row)

    @property
    def in_flight(self) -> int:
        return len(self._fetching)

    # -- jobs -----------------------------------------------------------------------------

    def _schedule(self, entry: ScheduledFeed, when: datetime) -> None:
        if self.stopping or self.feeds.get(entry.name) is not entry:
            return  # stopping, or the feed was removed or replaced while its job ran
        entry.state.next_run = when
        self.timer.at(entry.key, when, functools.partial(self._fire, entry.name))

    async def _fire(self, name: str) -> None:
        """The timer's callback: start the feed's job on a task of ours."""
        entry = self.feeds.get(name)
        if entry is None or self.stopping:
            return
        if name in self._tasks:  # a run of an older configuration of this feed still goes on
            self._schedule(entry, self.clock() + timedelta(seconds=BUSY_RETRY))
            return
        task = asyncio.get_running_loop().create_task(self._job(entry), name=entry.key)
        self._tasks[name] = task
        task.add_done_callback(functools.partial(self._done, name))

    def _done(self, name: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(name) is task:
            del self._tasks[name]

    async def _job(self, entry: ScheduledFeed) -> None:
        name, feed, state = entry.name, entry.feed, entry.state
        schedule = self.settings.daemon.schedule
        try:
            async with self.limits.slot(feed.url):
                if self.stopping or self.feeds.get(name) is not entry:
                    return  # stopped, or removed, while waiting for a slot
                self._fetching.add(name)
                try:
                    claim = await self.pipeline.call(self._claim, feed)
                except StoreError as exc:  # db_full, db_readonly ...: a clear error, not a crash
                    outcome = FeedOutcome(
                        name=name,
                        url=feed.url,
                        status=Status.ERROR,
                        error_code=exc.code,
                        error=exc.message,
                    )
                    self._record(entry, outcome)
                    self._schedule(entry, self.clock() + timedelta(seconds=schedule.backoff_base))
                    return
                if not claim.claimed:
                    self._not_claimed(entry, claim)
                    return
                state.running, state.lease_owner, state.host_waits = True, self.owner, 0
                outcome = await self.pipeline.run(Target(name, feed.url, entry.policy))
            self._record(entry, outcome)
            retry = self.clock() + timedelta(seconds=entry.policy.max_interval)
            self._schedule(entry, outcome.next_check or retry)
        except asyncio.CancelledError:
            if name in self._fetching:
                # Give the lease back so another daemon need not wait for it to expire.
                with contextlib.suppress(TimeoutError, IngestError):
                    async with asyncio.timeout(RELEASE_TIMEOUT):
                        await self.pipeline.call(self.pipeline.store.release, feed.url, self.owner)
            raise
        except Exception:  # a programming error: log it, keep the daemon and the feed going
            log.exception("job failed", extra={"fields": {"feed": name}})
            self._schedule(entry, self.clock() + timedelta(seconds=entry.policy.max_interval))
        finally:
            state.running = False
            self._fetching.discard(name)

    def _claim(self, feed: FeedSettings) -> Claim:
        """Ask the store for the feed's lease (on the writer thread). The clock is read here,
        not when the job woke: a claim queued behind other store work must not judge "due"
        nor start its lease by a time already past."""
        return self.pipeline.store.claim(
            feed.url,
            feed.name,
            self.owner,
            self.clock(),
            lease_seconds(self.settings),
            per_host=self.settings.http.per_host,
        )

    def _not_claimed(self, entry: ScheduledFeed, claim: Claim) -> None:
        state = entry.state
        when = retry_at(
            claim.reason,
            next_check=claim.next_check,
            host_waits=state.host_waits,
            min_interval=self.settings.daemon.schedule.min_interval,
            now=self.clock(),
            rand=self.rng.random(),
        )
        state.host_waits = state.host_waits + 1 if claim.reason == "host_busy" else 0
        state.lease_owner = claim.lease_owner
        event(
            log,
            "skip",
            logging.DEBUG,
            feed=entry.name,
            reason=claim.reason,
            holder=claim.lease_owner,
            next_run=iso(when),
        )
        self._schedule(entry, when)

    def _record(self, entry: ScheduledFeed, outcome: FeedOutcome) -> None:
        now = self.clock()
        self.readiness.wrote(outcome)
        entry.state.record(outcome, now)
        ok = outcome.status != "error"
        configured = self.feeds.get(entry.name) is entry
        self.metrics.observe(outcome, now.timestamp() if ok else None, configured=configured)
        self.metrics.failing.set(sum(e.state.failing for e in self.feeds.values()))
        fields: dict[str, Any] = {
            "feed": outcome.name,
            "url": outcome.url,
            "status": outcome.status,
            "http_status": outcome.http_status,
            "duration_ms": outcome.duration_ms,
            "new": outcome.new,
            "duplicates": outcome.duplicates + outcome.exact,
            "unchanged": outcome.unchanged,
            "next_run": iso(outcome.next_check),
        }
        if not ok:
            fields.update(
                error_code=outcome.error_code,
                error=outcome.error,
                consecutive_failures=entry.state.consecutive_failures,
            )
        event(log, "fetch", logging.INFO if ok else logging.WARNING, **fields)

    # -- stopping -------------------------------------------------------------------------

    async def stop(self, timeout: float) -> None:
        """Start nothing more; let the fetches in flight finish and be stored for up to
        ``timeout`` seconds, then cancel those still running, naming them in a warning."""
        self.stopping = True
        fetching = {n: t for n, t in self._tasks.items() if n in self._fetching}
        for name, task in self._tasks.items():
            if name not in fetching:
                task.cancel()  # still waiting for a slot: it never started
        if fetching:
            _, late = await asyncio.wait(fetching.values(), timeout=timeout)
            if late:
                names = sorted(n for n, t in fetching.items() if t in late)
                event(
                    log,
                    "cancelled fetches at the stop deadline",
                    logging.WARNING,
                    count=len(names),
                    feeds=", ".join(names),
                    stop_timeout=timeout,
                )
                for task in late:
                    task.cancel()
        remaining = list(self._tasks.values())
        if remaining:
            await asyncio.wait(remaining, timeout=RELEASE_TIMEOUT + 1)
