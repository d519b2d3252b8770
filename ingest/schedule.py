"""When to check a feed next: a pure function of the feed's state, the last result and ``now``.

::

    interval = adaptive(publish rate)  on success      (poll about twice per publishing gap)
             = backoff(failures)       on error        (exponential, capped at max_interval)
    interval = clamp(interval, min_interval, max_interval)
    interval = max(interval, what the server allows)   (<ttl>, Cache-Control max-age, Expires,
                                                        Retry-After; capped at hint_cap)
    interval = interval * (1 + jitter * rand)          (never earlier, so hints still hold)
    next     = now + interval

A failing feed is never given up: it is retried at ``max_interval`` (or later when the server
asks) for as long as it fails, and its failures stay visible in status and health.
No clock, no randomness and no settings are read here: all are arguments (the bounds are a
``settings.SchedulePolicy``, the ``[daemon]`` keys or a feed's own).
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from ingest.settings import SchedulePolicy

__all__ = [
    "FetchResult",
    "SchedulePolicy",
    "backoff",
    "max_age",
    "next_check_at",
    "publish_interval",
    "retry_after",
    "server_floor",
]


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What the last check of a feed taught us."""

    status: str
    """``ok``, ``not_modified`` or ``error``."""
    consecutive_failures: int = 0
    """Failures in a row, this one included when ``status == "error"``."""
    http_status: int | None = None
    headers: Mapping[str, str] | None = None
    """Response headers with lower-case names (Cache-Control, Expires, Retry-After)."""
    ttl_seconds: int | None = None
    publish_interval: float | None = None
    """The feed's typical gap between items in seconds, from ``publish_interval()``."""


def publish_interval(published: Sequence[datetime], *, keep: int = 20) -> float | None:
    """The median gap between the newest ``keep`` item dates, or ``None`` without enough dates."""
    dates = sorted(published, reverse=True)[:keep]
    gaps = [(a - b).total_seconds() for a, b in itertools.pairwise(dates)]
    gaps = [g for g in gaps if g > 0]
    if len(gaps) < 2:
        return None
    return float(statistics.median(gaps))


def _seconds(value: str) -> float | None:
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks us to wait (delta-seconds or an HTTP date)."""
    if not value:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    return _until(value, now)


def _until(http_date: str, now: datetime) -> float | None:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def max_age(cache_control: str | None) -> float | None:
    """``max-age`` (or ``s-maxage``) of a Cache-Control header, in seconds."""
    if not cache_control:
        return None
    best = None
    for part in cache_control.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() in ("max-age", "s-maxage"):
            seconds = _seconds(value.strip().strip('"'))
            if seconds is not None:
                best = seconds if best is None else max(best, seconds)
    return best


def server_floor(result: FetchResult, now: datetime) -> float:
    """The earliest next check the server allows, in seconds from ``now`` (0: no limit)."""
    headers = result.headers or {}
    floors = [
        float(result.ttl_seconds) if result.ttl_seconds else None,
        max_age(headers.get("cache-control")),
        retry_after(headers.get("retry-after"), now),
    ]
    if "max-age" not in (headers.get("cache-control") or "") and headers.get("expires"):
        floors.append(_until(headers["expires"], now))
    return max((f for f in floors if f is not None), default=0.0)


def backoff(failures: int, policy: SchedulePolicy) -> float:
    """Exponential back-off: base, 2x base, 4x base ... capped at ``max_interval``."""
    exponent = min(max(failures - 1, 0), 30)
    return min(policy.backoff_base * 2.0**exponent, policy.max_interval)


def next_check_at(
    result: FetchResult, now: datetime, rand: float, policy: SchedulePolicy
) -> datetime:
    """When to check the feed next. ``rand`` is a number in [0, 1) from the caller's RNG."""
    if result.status == "error":
        interval = backoff(result.consecutive_failures, policy)
    elif result.publish_interval is not None:
        interval = result.publish_interval / policy.polls_per_gap
    else:
        interval = policy.min_interval * 2  # no rate known yet: a cautious default
    interval = min(max(interval, policy.min_interval), policy.max_interval)
    interval = max(interval, min(server_floor(result, now), policy.hint_cap))
    interval *= 1.0 + policy.jitter * min(max(rand, 0.0), 1.0)
    return now + timedelta(seconds=interval)
