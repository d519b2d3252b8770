"""The range rule: a date a feed gives is used only if it could be true (pure).

A date before :data:`EARLIEST` (1990-01-01, before any news feed existed: ``0001``, ``0999``,
``1970`` are placeholders and software defaults) or after the fetch time plus the allowed
clock skew (a date in the future, such as ``2099``) is not used: the item keeps the text, not
the time. Without a fetch time only the lower bound applies.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["DEFAULT_CLOCK_SKEW", "EARLIEST", "describe_seconds", "range_problem"]

EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
"""The earliest date used: RSS dates from 1999, the web itself from 1991."""

DEFAULT_CLOCK_SKEW = 86_400.0
"""Seconds a date may lie after the fetch time (publishers' clocks and zones are off)."""


def range_problem(
    value: datetime, *, fetched: datetime | None = None, clock_skew: float = DEFAULT_CLOCK_SKEW
) -> str | None:
    """Why ``value`` is outside [EARLIEST, fetched + clock_skew], or ``None`` when it is inside.

    The phrase follows the date in a sentence: "is before 1990-01-01", "is after the fetch
    time + 24 h". ``value`` and ``fetched`` must be aware datetimes.
    """
    if value.tzinfo is None or (fetched is not None and fetched.tzinfo is None):
        raise ValueError("range_problem needs timezone-aware datetimes")
    if value < EARLIEST:
        return f"is before {EARLIEST:%Y-%m-%d}"
    if fetched is not None:
        try:
            latest = fetched + timedelta(seconds=clock_skew)
        except OverflowError:
            return None  # a skew beyond year 9999 allows every date
        if value > latest:
            return f"is after the fetch time + {describe_seconds(clock_skew)}"
    return None


def describe_seconds(seconds: float) -> str:
    """86400 -> "24 h", 5400 -> "90 min", 45 -> "45 s"."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
