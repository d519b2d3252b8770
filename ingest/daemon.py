"""``ingest run``: the scheduling daemon (the only module importing APScheduler).

::

    start:   open store (refuse an outdated schema) -> schedule every feed -> health endpoint
             -> READY=1
    a job:   wait for a global and a per-host slot -> claim the feed's lease in the store
             -> Pipeline.run (fetch, parse, clean, dedupe, store, write next check)
             -> schedule the feed's next job at the stored next check
    SIGHUP:  RELOADING=1 -> validate the new configuration (keep the old one if invalid)
             -> add, remove and change feeds -> READY=1
    SIGTERM: STOPPING=1 -> stop scheduling -> in-flight fetches get ``stop_timeout`` seconds
             -> cancel the rest -> commit, close -> exit 0

Each feed is one APScheduler date job (``max_instances=1``, ``coalesce=True``) that
reschedules itself, so a feed never runs twice at once and a missed run is one run, not a
burst. The lease in the store (``Store.claim``) extends that guarantee to several daemons
sharing one store. Each of them schedules every feed: the daemon that fetched a feed asks for it
first when it falls due, the others a moment later (``STANDBY``), so a feed stays with one daemon
and passes to another when that one is late, or dead and its lease (``lease_seconds``) expired.
The health endpoint answers from memory; a background probe checks that the
store answers and is writable, and the systemd watchdog is fed only while both the scheduler
and that probe make progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from ingest import __version__, config
from ingest.errors import ConfigError, IngestError, StoreError
from ingest.fetch import Fetcher
from ingest.health import HealthServer, Response
from ingest.logs import event
from ingest.metrics import CONTENT_TYPE, Metrics
from ingest.models import FeedOutcome, Status
from ingest.netguard import redact_url
from ingest.notify import Notifier
from ingest.pipeline import Pipeline, Target, utcnow
from ingest.schedule import SchedulePolicy
from ingest.settings import FeedSettings, Settings
from ingest.store.base import Claim, FeedRow, Store

log = logging.getLogger("ingest.daemon")

PROBE_EVERY = 5.0
"""Seconds between store probes (ping + status snapshot)."""
PROBE_STALE = 30.0
"""A store that has not answered a probe for this long makes the daemon not ready."""
FIRST_ROUND_SECONDS_PER_FEED = 0.04
"""Measured ingest time of one feed (bench/README.md, daemon at scale): the first round of
never-fetched feeds is spread over this many seconds per configured feed."""
HEARTBEAT_STALE = 10.0
"""A scheduler that has not ticked for this long is wedged: not live, no watchdog pings."""
STANDBY = 0.1
"""A daemon that finds a feed not due yet (another daemon fetched it) asks again this fraction of
``min_interval`` after it falls due (at most 30 s; at random between half and one and a half
times that). The daemon that fetched the feed asks first, at the due time itself, and keeps it:
the daemons do not all claim every due feed at the same moment (all but one finding it leased,
then asking again), and a feed passes to another daemon only when its own is late or dead."""
HOST_BUSY_RETRY = 0.25
"""Seconds before asking again for a feed whose host other daemons are fetching from (``per_host``
across daemons), doubled per refusal in a row up to the retry of a leased feed. A fetch usually
takes well under a second, so retrying at a fraction of ``min_interval`` made such feeds late by
that much; a host that stays busy (a slow server) is asked less and less often."""
LEASE_MARGIN = 120.0
"""Seconds a lease outlasts the fetch deadline unless ``[daemon] lease_seconds`` says: time to
parse and store the feed after the fetch."""


def lease_seconds(settings: Settings) -> float:
    """How long a claim on a feed lasts (``[daemon] lease_seconds``, else deadline + margin)."""
    given = settings.daemon.lease_seconds
    return given if given is not None else settings.http.deadline + LEASE_MARGIN


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


@dataclass
class FeedState:
    """What the daemon knows about one feed, for /status (mutable, daemon-internal)."""

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
    """Claims refused in a row because the feed's host was busy (``HOST_BUSY_RETRY``)."""

    def absorb(self, row: FeedRow) -> None:
        """Take the persisted state (another daemon may have fetched the feed)."""
        self.last_fetch, self.last_success = row.last_fetch, row.last_success
        self.outcome, self.error_code, self.error = row.last_status, row.error_code, row.error
        self.consecutive_failures = row.consecutive_failures
        self.articles, self.duplicates = row.articles, row.duplicates
        self.lease_owner = row.lease_owner
        if row.next_check and not self.running:
            self.next_run = row.next_check

    def as_json(self, now: datetime) -> dict[str, Any]:
        age = (now - self.last_success).total_seconds() if self.last_success else None
        return {
            "name": self.name,
            "url": redact_url(self.url),
            "last_fetch": _iso(self.last_fetch),
            "last_success": _iso(self.last_success),
            "last_success_age_seconds": round(age, 1) if age is not None else None,
            "outcome": self.outcome,
            "error_code": self.error_code,
            "error": self.error,
            "consecutive_failures": self.consecutive_failures,
            "failing": self.outcome == "error",
            "next_run": _iso(self.next_run),
            "articles": self.articles,
            "duplicates": self.duplicates,
            "lease_owner": self.lease_owner,
            "running": self.running,
        }


def _by_url(rows: list[FeedRow]) -> dict[str, FeedRow]:
    """Stored feeds by URL, a moved feed also by the URL it was configured with."""
    found = {row.origin_url: row for row in rows if row.origin_url}
    found.update({row.url: row for row in rows})
    return found


def dead_here(owner: str) -> bool:
    """Whether lease holder ``owner`` (see ``owner_id``) is a daemon of this host that is gone:
    its pid does not run, or is ours (a restart that got the same pid, as in a container)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def owner_id() -> str:
    """This daemon's name in leases and /status: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Daemon:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        reload_settings: Callable[[], Settings] | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.reload_settings = reload_settings
        self.clock = clock
        self.rng = rng or random.Random()
        self.notifier = Notifier(environ)
        self.owner = owner_id()
        self.metrics = Metrics(per_feed=settings.daemon.per_feed_metrics)
        self.feeds: dict[str, FeedSettings] = {}
        self.states: dict[str, FeedState] = {}
        self.started_at = clock()
        self._started_mono = time.monotonic()
        self._ready = False
        self._stopping = False
        self._stop = asyncio.Event()
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._tick = time.monotonic()
        self._probe_ok_at: float | None = None
        self._probe_error: str | None = "starting"
        self._store_failure: str | None = None
        """Set by a failed store write (db_full, db_readonly ...), cleared by a good one."""
        self._limit = asyncio.Semaphore(max(1, settings.http.max_connections))
        self._host_limits: dict[str, asyncio.Semaphore] = {}
        self.scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.health: HealthServer | None = None
        self.fetcher: Fetcher | None = None
        self.pipeline: Pipeline | None = None
        self._old_fetchers: list[Fetcher] = []

    # -- lifecycle ----------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        try:
            await self._start()
            if not self._stopping:
                self._ready = True
                self.notifier.ready(self._status_line())
                event(log, "ready", feeds=len(self.feeds), owner=self.owner)
            await self._stop.wait()
        finally:
            await self._shutdown()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        return 0

    async def _start(self) -> None:
        self.fetcher = Fetcher(self.settings.http)
        await self.fetcher.__aenter__()
        self.pipeline = Pipeline(
            self.store, self.settings, self.fetcher, clock=self.clock, rng=self.rng
        )
        address = self.settings.daemon.health_address
        if address:
            host, port = config.parse_address(address)
            self.health = HealthServer(host, port, self.route)
            await self.health.start()
            bound = self.health.address
            event(log, "health endpoint listening", address=f"{bound[0]}:{bound[1]}")
        lease = lease_seconds(self.settings)
        if lease <= self.settings.http.deadline:
            event(
                log,
                "daemon.lease_seconds is not above http.deadline: "
                "another daemon may take over a slow fetch",
                logging.WARNING,
                lease_seconds=lease,
                deadline=self.settings.http.deadline,
            )
        rows = _by_url(await self.pipeline.call(self.store.feeds))
        for row in rows.values():
            # A previous life of this daemon (killed, OOM, crashed) left its leases: take its
            # feeds back now instead of skipping them, and the whole host, until they expire.
            if row.lease_owner and row.lease_owner != self.owner and dead_here(row.lease_owner):
                await self.pipeline.call(self.store.release, row.url, row.lease_owner)
                event(log, "released a dead daemon's lease", feed=row.name, holder=row.lease_owner)
        self._probe_ok_at = time.monotonic()
        self._probe_error = None
        self.scheduler.start()
        self.scheduler.add_job(self._heartbeat, "interval", seconds=1, id="_heartbeat")
        self.scheduler.add_job(self._probe, "interval", seconds=PROBE_EVERY, id="_probe")
        if self.notifier.watchdog_seconds:
            self.scheduler.add_job(
                self._watchdog,
                "interval",
                seconds=self.notifier.watchdog_seconds / 2,
                id="_watchdog",
            )
        now = self.clock()
        for feed in self.settings.feeds:
            if feed.enabled:
                self._add_feed(feed, rows.get(feed.url), now)
        self.metrics.up_since.set(time.time())
        self.metrics.feeds.set(len(self.feeds))

    def request_stop(self, why: str = "stop") -> None:
        if not self._stopping:
            event(log, "stopping", signal=why, in_flight=len(self._running))
            self._stopping = True
            self._ready = False
            self.notifier.stopping()
        self._stop.set()

    def request_reload(self) -> None:
        if self._stopping:
            return
        self.notifier.reloading()
        try:
            self.reload()
        finally:
            self.notifier.ready(self._status_line())

    async def _shutdown(self) -> None:
        self._stopping = True
        self._ready = False
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        running = list(self._running.values())
        deadline = self.settings.daemon.stop_timeout
        if running:
            _, pending = await asyncio.wait(running, timeout=deadline)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
                event(
                    log,
                    "cancelled fetches at the stop deadline",
                    count=len(pending),
                    level=logging.WARNING,
                )
        if self.pipeline is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.pipeline.close)
        for fetcher in [self.fetcher, *self._old_fetchers]:
            if fetcher is not None:
                await fetcher.aclose()
        if self.health is not None:
            await self.health.close()
        self.notifier.close()
        event(log, "stopped", uptime_s=round(time.monotonic() - self._started_mono, 1))

    # -- feeds and jobs -----------------------------------------------------------------

    def _policy(self, feed: FeedSettings) -> SchedulePolicy | None:
        if feed.min_interval is None and feed.max_interval is None:
            return None
        assert self.pipeline is not None
        base = self.pipeline.policy
        return dataclasses.replace(
            base,
            min_interval=feed.min_interval if feed.min_interval is not None else base.min_interval,
            max_interval=feed.max_interval if feed.max_interval is not None else base.max_interval,
        )

    def _add_feed(self, feed: FeedSettings, row: FeedRow | None, now: datetime) -> None:
        self.feeds[feed.name] = feed
        state = self.states.get(feed.name) or FeedState(feed.name, feed.url)
        state.url = feed.url
        if row is not None:
            state.absorb(row)
        self.states[feed.name] = state
        # A feed due now starts within the first seconds, spread out so feeds do not all
        # fire at once; one checked recently waits for its stored next check.
        spread = min(30.0, self.settings.daemon.min_interval)
        if row is None or row.last_fetch is None:
            # Never fetched: spread the first round over the time ingesting it takes, so a
            # large new configuration does not start thousands of fetches late (bench/README).
            spread = max(spread, FIRST_ROUND_SECONDS_PER_FEED * len(self.settings.feeds))
        first = now + timedelta(seconds=self.rng.random() * spread)
        if row is not None and row.next_check is not None and row.next_check > first:
            first = row.next_check
        self._schedule(feed.name, first)

    def _schedule(self, name: str, when: datetime) -> None:
        if self._stopping or name not in self.feeds:
            return
        self.states[name].next_run = when
        self.scheduler.add_job(
            self._job, "date", run_date=when, args=[name], id=f"feed:{name}", replace_existing=True
        )

    def _host_limit(self, url: str) -> asyncio.Semaphore:
        host = (urlsplit(url).hostname or "local").lower()
        if host not in self._host_limits:
            self._host_limits[host] = asyncio.Semaphore(max(1, self.settings.http.per_host))
        return self._host_limits[host]

    async def _job(self, name: str) -> None:
        feed = self.feeds.get(name)
        if feed is None or self._stopping:
            return
        task = asyncio.current_task()
        assert task is not None and self.pipeline is not None
        self._running[name] = task
        state = self.states[name]
        try:
            async with self._limit, self._host_limit(feed.url):
                if self._stop.is_set():  # SIGTERM came while this job waited for a slot
                    return
                try:
                    claim = await self.pipeline.call(self._claim, feed)
                except StoreError as exc:  # db_full, db_readonly ...: a clear error, not a crash
                    self._record(
                        state,
                        FeedOutcome(
                            name=name,
                            url=feed.url,
                            status=Status.ERROR,
                            error_code=exc.code,
                            error=exc.message,
                        ),
                    )
                    backoff = timedelta(seconds=self.settings.daemon.backoff_base)
                    self._schedule(name, self.clock() + backoff)
                    return
                if not claim.claimed:
                    self._not_claimed(name, claim.reason, claim.next_check, claim.lease_owner)
                    return
                state.running, state.lease_owner, state.host_waits = True, self.owner, 0
                outcome = await self.pipeline.run(Target(name, feed.url, self._policy(feed)))
            self._record(state, outcome)
            retry = self.clock() + timedelta(seconds=self.settings.daemon.max_interval)
            self._schedule(name, outcome.next_check or retry)
        except asyncio.CancelledError:
            if self.pipeline is not None:
                # Give the lease back so another daemon need not wait for it to expire.
                with contextlib.suppress(TimeoutError, IngestError):
                    await asyncio.wait_for(
                        self.pipeline.call(self.store.release, feed.url, self.owner), 2
                    )
            raise
        except Exception:  # a programming error: log it, keep the daemon and the feed going
            log.exception("job failed", extra={"fields": {"feed": name}})
            self._schedule(
                name, self.clock() + timedelta(seconds=self.settings.daemon.max_interval)
            )
        finally:
            state.running = False
            self._running.pop(name, None)

    def _claim(self, feed: FeedSettings) -> Claim:
        """Ask the store for the feed's lease (on the writer thread). The clock is read here,
        not when the job woke: a claim queued behind other store work must not judge "due"
        nor start its lease by a time already past."""
        return self.store.claim(
            feed.url,
            feed.name,
            self.owner,
            self.clock(),
            lease_seconds(self.settings),
            per_host=self.settings.http.per_host,
        )

    def _not_claimed(
        self, name: str, reason: str, next_check: datetime | None, holder: str | None
    ) -> None:
        now = self.clock()
        state = self.states[name]
        base = min(self.settings.daemon.min_interval, 30.0)
        if reason == "not_due" and next_check is not None:
            standby = min(STANDBY * self.settings.daemon.min_interval, 30.0)
            when = next_check + timedelta(seconds=standby * (0.5 + self.rng.random()))
        elif reason == "host_busy":  # another daemon fetches from the host: soon free again
            delay = min(base, HOST_BUSY_RETRY * 2.0 ** min(state.host_waits, 16))
            when = now + timedelta(seconds=delay * (0.5 + self.rng.random()))
        else:  # leased elsewhere: its holder writes the next check; look again soon, spread out
            when = now + timedelta(seconds=base * (0.5 + self.rng.random()))
        state.host_waits = state.host_waits + 1 if reason == "host_busy" else 0
        state.lease_owner = holder
        event(
            log, "skip", logging.DEBUG, feed=name, reason=reason, holder=holder, next_run=_iso(when)
        )
        self._schedule(name, when)

    def _record(self, state: FeedState, outcome: FeedOutcome) -> None:
        now = self.clock()
        # Readiness follows real writes: a ping (BEGIN IMMEDIATE; ROLLBACK) writes nothing
        # and passes on a full disk or a read-only file; every outcome was a write.
        if outcome.status == "error" and (outcome.error_code or "").startswith("db_"):
            if self._store_failure is None:
                event(
                    log,
                    "store not ready",
                    logging.ERROR,
                    error_code=outcome.error_code,
                    error=outcome.error,
                )
            self._store_failure = f"store: {outcome.error_code}: {outcome.error}"
        elif outcome.status != "error" and self._store_failure is not None:
            self._store_failure = None
            event(log, "store ready again")
        state.last_fetch = now
        state.outcome = outcome.status
        state.lease_owner = None
        if outcome.status == "error":
            state.consecutive_failures += 1
            state.error_code, state.error = outcome.error_code, outcome.error
        else:
            state.consecutive_failures = 0
            state.error_code = state.error = None
            state.last_success = now
        state.articles += outcome.new
        state.duplicates += outcome.duplicates + outcome.exact
        self.metrics.observe(outcome, now.timestamp() if outcome.status != "error" else None)
        self.metrics.failing.set(sum(s.outcome == "error" for s in self.states.values()))
        level = logging.WARNING if outcome.status == "error" else logging.INFO
        fields: dict[str, Any] = {
            "feed": outcome.name,
            "url": outcome.url,
            "status": outcome.status,
            "http_status": outcome.http_status,
            "duration_ms": outcome.duration_ms,
            "new": outcome.new,
            "duplicates": outcome.duplicates + outcome.exact,
            "unchanged": outcome.unchanged,
            "next_run": _iso(outcome.next_check),
        }
        if outcome.status == "error":
            fields.update(
                error_code=outcome.error_code,
                error=outcome.error,
                consecutive_failures=state.consecutive_failures,
            )
        event(log, "fetch", level, **fields)

    # -- reload -------------------------------------------------------------------------

    def reload(self) -> bool:
        """Apply a new configuration; on any problem keep the running one. True if applied."""
        if self.reload_settings is None:
            return False
        try:
            new = self.reload_settings()
        except ConfigError as exc:
            for problem in exc.problems:
                event(log, "reload rejected", logging.ERROR, problem=problem)
            return False
        if new.db != self.settings.db:
            event(
                log,
                "reload: a new store needs a restart; keeping the current one",
                logging.WARNING,
                db=redact_url(new.db),
            )
            new = dataclasses.replace(new, db=self.settings.db)
        old_feeds = self.feeds
        wanted = {f.name: f for f in new.feeds if f.enabled}
        removed = [n for n in old_feeds if n not in wanted]
        added = [f for n, f in wanted.items() if n not in old_feeds]
        changed = [f for n, f in wanted.items() if n in old_feeds and old_feeds[n] != f]
        if new.http != self.settings.http and self.fetcher is not None:
            self._old_fetchers.append(self.fetcher)
            self.fetcher = Fetcher(new.http)
            asyncio.get_running_loop().create_task(self.fetcher.__aenter__())
        self.settings = new
        if self.pipeline is not None:
            old = self.pipeline
            self.pipeline.settings = new
            self.pipeline.fetcher = self.fetcher or old.fetcher
            self.pipeline.policy = dataclasses.replace(
                old.policy,
                min_interval=new.daemon.min_interval,
                max_interval=new.daemon.max_interval,
                backoff_base=new.daemon.backoff_base,
                jitter=new.daemon.jitter,
            )
        for name in removed:
            self.feeds.pop(name, None)
            self.states.pop(name, None)
            if self.scheduler.get_job(f"feed:{name}"):
                self.scheduler.remove_job(f"feed:{name}")
        self.metrics.forget(removed)
        now = self.clock()
        for feed in added:
            self._add_feed(feed, None, now)
        for feed in changed:
            url_changed = old_feeds[feed.name].url != feed.url
            self.feeds[feed.name] = feed
            if url_changed:
                self.states[feed.name] = FeedState(feed.name, feed.url)
                self._schedule(feed.name, now)
        self.metrics.feeds.set(len(self.feeds))
        event(
            log,
            "reloaded",
            added=len(added),
            removed=len(removed),
            changed=len(changed),
            feeds=len(self.feeds),
        )
        return True

    # -- health -------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        self._tick = time.monotonic()

    async def _probe(self) -> None:
        """Check that the store answers and is writable; refresh the persisted feed state."""
        assert self.pipeline is not None
        loop = asyncio.get_running_loop()

        def probe() -> list[FeedRow]:
            self.store.ping()
            return self.store.feeds()

        try:
            rows = await loop.run_in_executor(None, probe)
        except IngestError as exc:
            if self._probe_error != exc.message:
                event(log, "store not ready", logging.ERROR, error_code=exc.code, error=exc.message)
            self._probe_error = f"store: {exc.code}: {exc.message}"
            return
        if self._probe_error:
            event(log, "store ready again")
        self._probe_ok_at = time.monotonic()
        self._probe_error = None
        by_url = _by_url(rows)
        for name, feed in self.feeds.items():
            row = by_url.get(feed.url)
            if row is not None and name in self.states:
                self.states[name].absorb(row)

    def _watchdog(self) -> None:
        if self.live_reason() is None and self.store_reason() is None:
            self.notifier.watchdog()

    def live_reason(self) -> str | None:
        age = time.monotonic() - self._tick
        if self.scheduler.running and age > HEARTBEAT_STALE:
            return f"scheduler has not ticked for {age:.0f} s"
        return None

    def store_reason(self) -> str | None:
        if self._probe_error:
            return self._probe_error
        if self._store_failure:
            return self._store_failure
        if self._probe_ok_at is None or time.monotonic() - self._probe_ok_at > PROBE_STALE:
            return "store has not answered a probe for 30 s"
        return None

    def ready_reason(self) -> str | None:
        if self._stopping:
            return "stopping"
        if not self._ready:
            return "starting"
        if not self.scheduler.running:
            return "scheduler not running"
        return self.live_reason() or self.store_reason()

    def _status_line(self) -> str:
        failing = sum(s.outcome == "error" for s in self.states.values())
        return f"{len(self.feeds)} feeds, {failing} failing"

    def status(self) -> dict[str, Any]:
        now = self.clock()
        successes = [s.last_success for s in self.states.values() if s.last_success]
        reason = self.ready_reason()
        return {
            "daemon": {
                "version": __version__,
                "owner": self.owner,
                "started": _iso(self.started_at),
                "uptime_seconds": round(time.monotonic() - self._started_mono, 1),
                "ready": reason is None,
                "reason": reason,
                "feeds": len(self.feeds),
                "failing": sum(s.outcome == "error" for s in self.states.values()),
                "in_flight": len(self._running),
                "last_success_age_seconds": (
                    round((now - max(successes)).total_seconds(), 1) if successes else None
                ),
            },
            "feeds": [self.states[n].as_json(now) for n in sorted(self.states)],
        }

    def route(self, path: str) -> Response:
        if path in ("/healthz", "/livez"):
            reason = self.live_reason()
            return (
                Response(503, f"not live: {reason}\n".encode())
                if reason
                else Response(200, b"ok\n")
            )
        if path == "/readyz":
            reason = self.ready_reason()
            return (
                Response(503, f"not ready: {reason}\n".encode())
                if reason
                else Response(200, b"ready\n")
            )
        if path == "/status":
            body = json.dumps(self.status(), ensure_ascii=False, indent=1).encode()
            return Response(200, body, "application/json")
        if path == "/metrics":
            return Response(200, self.metrics.render(), CONTENT_TYPE)
        return Response(404, b"not found: try /healthz, /readyz, /status or /metrics\n")
