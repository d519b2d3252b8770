"""The daemon's health: whether it is live and ready, and the routes that say so.

::

    /healthz, /livez  200 "ok" while the scheduler ticks (never touches the store or network)
    /readyz           200 "ready" when started, not stopping, the scheduler ticks and the store
                      answers and is writable; 503 "not ready: <reason>" otherwise
    /status           the status document (``feedstate``)
    /metrics          Prometheus text (``metrics``)

Everything is answered from memory. ``Readiness`` holds what the answers are made of: the
scheduler's heartbeat, the last store probe, and the last store write (a ping writes nothing
and passes on a full disk or a read-only file; every feed outcome is a write).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ingest.httpserver import Request, Response, Router
from ingest.logs import event
from ingest.metrics import CONTENT_TYPE, Metrics
from ingest.models import FeedOutcome

log = logging.getLogger("ingest.health")

PROBE_EVERY = 5.0
"""Seconds between store probes (ping + status snapshot)."""
PROBE_STALE = 30.0
"""A store that has not answered a probe for this long makes the daemon not ready."""
HEARTBEAT_STALE = 10.0
"""A scheduler that has not ticked for this long is wedged: not live, no watchdog pings."""


class Readiness:
    """Liveness and readiness from the daemon's phase, heartbeat, probes and writes.
    ``monotonic`` is the clock (seconds)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._now = monotonic
        self.phase = "starting"
        """``starting``, ``ready`` or ``stopping``."""
        self.scheduler_running = False
        self._tick = monotonic()
        self._probe_ok_at: float | None = None
        self._probe_error: str | None = "starting"
        self._write_error: str | None = None

    def tick(self) -> None:
        """The scheduler made progress."""
        self._tick = self._now()

    def probe_ok(self) -> None:
        if self._probe_error is not None and self._probe_ok_at is not None:
            event(log, "store ready again")
        self._probe_ok_at = self._now()
        self._probe_error = None

    def probe_failed(self, code: str, message: str) -> None:
        reason = f"store: {code}: {message}"
        if self._probe_error != reason:
            event(log, "store not ready", logging.ERROR, error_code=code, error=message)
        self._probe_error = reason

    def wrote(self, outcome: FeedOutcome) -> None:
        """A feed's outcome was (or failed to be) written: a ``db_*`` error makes the store not
        ready until a write succeeds."""
        code = outcome.error_code or ""
        if outcome.status == "error" and code.startswith("db_"):
            if self._write_error is None:
                event(log, "store not ready", logging.ERROR, error_code=code, error=outcome.error)
            self._write_error = f"store: {code}: {outcome.error}"
        elif outcome.status != "error" and self._write_error is not None:
            self._write_error = None
            event(log, "store ready again")

    def live_reason(self) -> str | None:
        age = self._now() - self._tick
        if self.scheduler_running and age > HEARTBEAT_STALE:
            return f"scheduler has not ticked for {age:.0f} s"
        return None

    def store_reason(self) -> str | None:
        if self._probe_error:
            return self._probe_error
        if self._write_error:
            return self._write_error
        if self._probe_ok_at is None or self._now() - self._probe_ok_at > PROBE_STALE:
            return f"store has not answered a probe for {PROBE_STALE:.0f} s"
        return None

    def ready_reason(self) -> str | None:
        if self.phase != "ready":
            return self.phase
        if not self.scheduler_running:
            return "scheduler not running"
        return self.live_reason() or self.store_reason()


def routes(readiness: Readiness, status: Callable[[], dict[str, Any]], metrics: Metrics) -> Router:
    """The health endpoint's routes."""

    def live(_: Request) -> Response:
        reason = readiness.live_reason()
        return Response.text(503, f"not live: {reason}\n") if reason else Response.text(200, "ok\n")

    def ready(_: Request) -> Response:
        reason = readiness.ready_reason()
        if reason:
            return Response.text(503, f"not ready: {reason}\n")
        return Response.text(200, "ready\n")

    router = Router()
    router.add("/healthz", live)
    router.add("/livez", live)
    router.add("/readyz", ready)
    router.add("/status", lambda _: Response.json(status()))
    router.add("/metrics", lambda _: Response(200, metrics.render(), CONTENT_TYPE))
    return router
