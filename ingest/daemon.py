"""``ingest run``: the scheduling daemon (the only module importing APScheduler).

::

    start:   listen on [daemon] health_address, then on [web] address with a store object
             of its own for reads (either taken: one line, exit 2) -> open the fetcher and
             the pipeline -> release this host's dead daemons' leases -> schedule every
             enabled feed (none: a warning) -> READY=1
    a feed:  timer -> claim its lease -> Pipeline.run -> record -> timer at the next check
             (feedjobs.py; leases.py says when to ask again for a feed another daemon holds)
    probes:  every PROBE_EVERY s the store is pinged and its feed rows read (health.py);
             WATCHDOG=1 only while the scheduler ticks and the store answers
    retention: with [store] retention_days, RETENTION_FIRST s after start and then every
             RETENTION_EVERY s: Store.prune on the writer thread, what it removed logged (a
             failure is logged, never fatal)
    SIGHUP:  RELOADING=1 -> read and validate the configuration (invalid: keep the old one)
             -> apply the plan (reload.py): add, remove, change feeds -> READY=1
    SIGTERM: STOPPING=1 -> no new fetches -> fetches in flight get ``stop_timeout`` seconds to
             finish and be stored -> cancel the rest, named in a warning -> close -> exit 0

Modules: ``feedjobs`` (the feed table, one job per feed), ``leases`` (sharing feeds between
daemons), ``feedstate`` (each feed's state and the ``/status`` document), ``health``
(liveness, readiness and the routes), ``httpserver`` (the HTTP server), ``metrics``,
``reload``, ``notify`` (sd_notify), ``web`` (the read API and the console). This one wires
them: lifecycle, signals, the scheduler.

Each feed has one date timer that its job sets again when it ends, and one job task at a time,
so a feed never runs twice at once and a missed run is one run, not a burst. The lease in the
store (``Store.claim``) extends that guarantee to several daemons sharing one store: the daemon
that fetched a feed asks for it first when it falls due, the others a moment later
(``leases.STANDBY``), so a feed stays with one daemon and passes to another when that one is
late, or dead and its lease (``lease_seconds``) expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from ingest import __version__, health, reload
from ingest.errors import IngestError
from ingest.feedjobs import FeedJobs
from ingest.feedstate import by_url, document, iso, last_success_age, store_identity
from ingest.fetch import Fetcher
from ingest.health import PROBE_EVERY, Readiness
from ingest.httpserver import HttpServer, connection_cap, raise_open_files_limit
from ingest.leases import dead_here, lease_seconds, owner_id
from ingest.logs import event
from ingest.metrics import Metrics
from ingest.notify import Notifier
from ingest.pipeline import Pipeline, utcnow
from ingest.settings import Settings
from ingest.store import open_store, sqlite_path
from ingest.store.base import FeedRow, Store
from ingest.web import WebApp

__all__ = ["PROBE_EVERY", "Daemon"]

log = logging.getLogger("ingest.daemon")

HTTP_SERVERS = 2
"""Servers the daemon may run (the health endpoint, a web one): they share the open files."""
RETENTION_FIRST = 5.0
"""Seconds after the start when ``[store] retention_days`` is first applied."""
RETENTION_EVERY = 24 * 3600.0
"""Seconds between two applications of ``[store] retention_days``."""


class _SchedulerTimer:
    """``feedjobs.Timer`` on APScheduler: one date job per key."""

    def __init__(self, scheduler: AsyncIOScheduler) -> None:
        self.scheduler = scheduler

    def at(self, key: str, when: datetime, callback: Callable[[], Awaitable[None]]) -> None:
        self.scheduler.add_job(callback, "date", run_date=when, id=key, replace_existing=True)

    def cancel(self, key: str) -> None:
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(key)


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
        self.store_name = store_identity(settings.db)
        self.metrics = Metrics(per_feed=settings.daemon.per_feed_metrics)
        self.readiness = Readiness()
        self.started_at = clock()
        self._started = time.monotonic()
        self._stop = asyncio.Event()
        self.scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.health: HttpServer | None = None
        self.web: HttpServer | None = None
        self.web_app: WebApp | None = None
        self._web_store: Store | None = None
        self.fetcher: Fetcher | None = None
        self.pipeline: Pipeline | None = None
        self.jobs: FeedJobs | None = None
        self._old_fetchers: list[Fetcher] = []
        self._probing: asyncio.Task[None] | None = None
        self._reload_after_start = False

    # -- lifecycle ----------------------------------------------------------------------

    async def run(self) -> int:
        """Run until SIGTERM or SIGINT; 0. ``ConfigError`` (exit 2) when the health address
        cannot be listened on: before anything else is started."""
        await self._listen()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        try:
            await self._start()
            if self.readiness.phase == "starting":  # no SIGTERM meanwhile
                self.readiness.phase = "ready"
                self.notifier.ready(self._status_line())
                feeds = len(self.jobs.feeds) if self.jobs else 0
                event(log, "ready", feeds=feeds, owner=self.owner, store=self.store_name)
                if self._reload_after_start:
                    self.request_reload()
            await self._stop.wait()
        finally:
            await self._shutdown()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        return 0

    async def _listen(self) -> None:
        if self.settings.daemon.health_address is None and self.settings.web.address is None:
            return
        # Held connections cost a file each: take the files they need, up to the hard limit
        # (systemd and most shells give 1,024 soft, far more hard), and cap them under that.
        before, limit = raise_open_files_limit(HTTP_SERVERS)
        await self._listen_health(limit)
        try:
            await self._listen_web(limit)
        except BaseException:
            if self.health is not None:
                await self.health.close()
            raise
        # Said once both listen: an address that is taken is the only line printed.
        if limit > before:
            event(log, "raised the open files limit", soft_before=before, soft=limit)
        if self.health is not None:
            event(
                log,
                "health endpoint listening",
                address=str(self.health.address),
                max_connections=self.health.max_connections,
            )
        if self.web is not None:
            event(
                log,
                "web console listening",
                address=str(self.web.address),
                url=f"http://{self.web.address}/",
            )

    async def _listen_health(self, limit: int) -> None:
        address = self.settings.daemon.health_address
        if address is None:
            return
        server = HttpServer(
            address,
            health.routes(self.readiness, self.status, self.metrics),
            setting="[daemon] health_address",
            max_connections=connection_cap(limit, HTTP_SERVERS),
        )
        await server.start()
        self.health = server

    def _open_reader(self) -> Store:
        """A store object of the web's own, so that its reads never wait for the writer (an
        in-memory store cannot be opened twice: the writer's is shared)."""
        if sqlite_path(self.settings.db) == ":memory:":
            return self.store
        return open_store(self.settings.db, create=False)

    async def _listen_web(self, limit: int) -> None:
        address = self.settings.web.address
        if address is None:
            return
        loop = asyncio.get_running_loop()
        store = await loop.run_in_executor(None, self._open_reader)
        app = WebApp(store, self.settings, feeds=lambda: self.status()["feeds"], clock=self.clock)
        server = HttpServer(
            address,
            app,
            setting="[web] address",
            max_connections=connection_cap(limit, HTTP_SERVERS),
        )
        try:
            await server.start()
        except BaseException:
            app.close()
            if store is not self.store:
                store.close()
            raise
        self.web, self.web_app, self._web_store = server, app, store

    async def _start(self) -> None:
        self.fetcher = Fetcher(self.settings.http)
        self.pipeline = Pipeline(
            self.store, self.settings, self.fetcher, clock=self.clock, rng=self.rng
        )
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
        self.jobs = FeedJobs(
            self.settings,
            self.pipeline,
            _SchedulerTimer(self.scheduler),
            owner=self.owner,
            metrics=self.metrics,
            readiness=self.readiness,
            clock=self.clock,
            rng=self.rng,
        )
        stored = await self.pipeline.call(self.store.feeds)
        for row in stored:
            # A previous life of this daemon (killed, OOM, crashed) left its leases: take its
            # feeds back now instead of skipping them, and the whole host, until they expire.
            if row.lease_owner and row.lease_owner != self.owner and dead_here(row.lease_owner):
                await self.pipeline.call(self.store.release, row.url, row.lease_owner)
                event(log, "released a dead daemon's lease", feed=row.name, holder=row.lease_owner)
        self.readiness.probe_ok()
        self.scheduler.start()
        self.readiness.scheduler_running = True
        self.scheduler.add_job(self._heartbeat, "interval", seconds=1, id="_heartbeat")
        self.scheduler.add_job(self._probe, "interval", seconds=PROBE_EVERY, id="_probe")
        self.scheduler.add_job(
            self._retention,
            "interval",
            seconds=RETENTION_EVERY,
            next_run_time=datetime.now(UTC) + timedelta(seconds=RETENTION_FIRST),
            id="_retention",
        )
        if self.notifier.watchdog_seconds:
            self.scheduler.add_job(
                self._watchdog,
                "interval",
                seconds=self.notifier.watchdog_seconds / 2,
                id="_watchdog",
            )
        now = self.clock()
        enabled = [feed for feed in self.settings.feeds if feed.enabled]
        if not enabled:
            self._warn_no_feeds()
        rows = by_url(stored)
        for feed in enabled:
            self.jobs.add(feed, rows.get(feed.url), now)
        self.metrics.up_since.set(time.time())
        self.metrics.feeds.set(len(self.jobs.feeds))

    def _warn_no_feeds(self) -> None:
        event(
            log,
            "no enabled feeds: nothing will be fetched until a reload (SIGHUP) adds some",
            logging.WARNING,
            config=self.settings.source,
            configured=len(self.settings.feeds),
        )

    def request_stop(self, why: str = "stop") -> None:
        if self.readiness.phase != "stopping":
            in_flight = self.jobs.in_flight if self.jobs else 0
            event(log, "stopping", signal=why, in_flight=in_flight)
            self.readiness.phase = "stopping"
            if self.jobs is not None:
                self.jobs.stopping = True
            self.notifier.stopping()
        self._stop.set()

    async def _shutdown(self) -> None:
        self.readiness.phase = "stopping"
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.readiness.scheduler_running = False
        if self.jobs is not None:
            await self.jobs.stop(self.settings.daemon.stop_timeout)
        if self._probing is not None and not self._probing.done():
            self._probing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._probing
        if self.pipeline is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.pipeline.close)
        for fetcher in [self.fetcher, *self._old_fetchers]:
            if fetcher is not None:
                await fetcher.aclose()
        await self._close_web()
        if self.health is not None:
            await self.health.close()
        self.notifier.close()
        event(log, "stopped", uptime_s=round(time.monotonic() - self._started, 1))

    async def _close_web(self) -> None:
        if self.web is not None:
            await self.web.close()
        loop = asyncio.get_running_loop()
        if self.web_app is not None:
            await loop.run_in_executor(None, self.web_app.close)
        if self._web_store is not None and self._web_store is not self.store:
            await loop.run_in_executor(None, self._web_store.close)

    # -- retention ----------------------------------------------------------------------

    async def _retention(self) -> None:
        """Remove what ``[store] retention_days`` no longer keeps (``ingest prune``), on the
        writer thread; a failure is logged and tried again at the next run."""
        days = self.settings.retention_days
        if days is None or self.pipeline is None or self.readiness.phase == "stopping":
            return
        before = self.clock() - timedelta(days=days)
        started = time.monotonic()
        try:
            removed = await self.pipeline.call(self.store.prune, before)
        except IngestError as exc:
            event(
                log,
                "retention failed",
                logging.ERROR,
                error_code=exc.code,
                error=exc.message,
                before=iso(before),
            )
            return
        except Exception:  # a bug must not stop the daemon: logged with its traceback
            log.exception("retention failed", extra={"fields": {"before": iso(before)}})
            return
        event(
            log,
            "retention",
            retention_days=days,
            before=iso(before),
            articles=removed.articles,
            links=removed.links,
            kept=removed.kept,
            duration_ms=round((time.monotonic() - started) * 1000),
        )

    # -- reload -------------------------------------------------------------------------

    def request_reload(self) -> None:
        """SIGHUP (on the event loop, so never during another reload or a job's step); one
        that comes while starting is applied once ready."""
        if self.readiness.phase == "starting":
            self._reload_after_start = True
            return
        if self.readiness.phase == "stopping":
            return
        self.notifier.reloading()
        try:
            self.reload()
        finally:
            self.notifier.ready(self._status_line())

    def reload(self) -> bool:
        """Apply a new configuration; on any problem keep the running one. True if applied."""
        if self.reload_settings is None or self.jobs is None or self.pipeline is None:
            return False
        new = reload.read(self.reload_settings, self.settings)
        if new is None:
            return False
        change = reload.plan(self.settings, {n: e.feed for n, e in self.jobs.feeds.items()}, new)
        if change.http_changed and self.fetcher is not None:
            self._old_fetchers.append(self.fetcher)  # runs in progress keep theirs
            self.fetcher = Fetcher(new.http)
        if new.web.address != self.settings.web.address:
            event(
                log,
                "reload: a new web.address needs a restart; keeping the current one",
                logging.WARNING,
                web_address=str(new.web.address or ""),
            )
        self.settings = new
        if self.web_app is not None:
            self.web_app.settings = new
        self.pipeline.settings = new
        self.pipeline.policy = new.daemon.schedule
        self.pipeline.fetcher = self.fetcher or self.pipeline.fetcher
        self.jobs.use(new)
        if change.schedule_changed:
            self.jobs.rebound()
        for name in change.removed:
            self.jobs.remove(name)
        self.metrics.forget(change.removed)
        now = self.clock()
        for feed in change.added:
            self.jobs.add(feed, None, now)
        for feed in change.changed:
            self.jobs.change(feed, now)
        self.metrics.feeds.set(len(self.jobs.feeds))
        if not self.jobs.feeds:
            self._warn_no_feeds()
        event(
            log,
            "reloaded",
            added=len(change.added),
            removed=len(change.removed),
            changed=len(change.changed),
            feeds=len(self.jobs.feeds),
        )
        return True

    # -- health -------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        self.readiness.tick()

    async def _probe(self) -> None:
        """Start a store probe unless one is still running (on a task of ours, so stopping the
        scheduler never cancels it half-way)."""
        if self._probing is None or self._probing.done():
            self._probing = asyncio.get_running_loop().create_task(self._probe_store())

    async def _probe_store(self) -> None:
        """Check that the store answers and is writable; refresh the persisted feed state."""

        def probe() -> list[FeedRow]:
            self.store.ping()
            return self.store.feeds()

        try:
            rows = await asyncio.get_running_loop().run_in_executor(None, probe)
        except IngestError as exc:
            self.readiness.probe_failed(exc.code, exc.message)
            return
        self.readiness.probe_ok()
        if self.jobs is not None:
            self.jobs.absorb(rows)

    async def _watchdog(self) -> None:
        if self.readiness.live_reason() is None and self.readiness.store_reason() is None:
            self.notifier.watchdog()

    def _status_line(self) -> str:
        states = self.jobs.states() if self.jobs else []
        return f"{len(states)} feeds, {sum(s.failing for s in states)} failing"

    def status(self) -> dict[str, Any]:
        """The ``/status`` document (``feedstate``)."""
        now = self.clock()
        states = self.jobs.states() if self.jobs else []
        reason = self.readiness.ready_reason()
        daemon = {
            "version": __version__,
            "owner": self.owner,
            "started": iso(self.started_at),
            "uptime_seconds": round(time.monotonic() - self._started, 1),
            "ready": reason is None,
            "reason": reason,
            "feeds": len(states),
            "failing": sum(s.failing for s in states),
            "in_flight": self.jobs.in_flight if self.jobs else 0,
            "last_success_age_seconds": last_success_age(states, now),
        }
        return document(daemon, self.store_name, states, now)
