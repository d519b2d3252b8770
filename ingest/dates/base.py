"""What every date dialect returns, and the checks they share (pure, stdlib only)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

__all__ = ["DateReading", "Invalid", "build"]

NOT_A_CALENDAR_DATE = "is not a calendar date"
IMPOSSIBLE_TIME = "has an impossible time of day"
OUT_OF_RANGE = "is outside the years 1 to 9999"


@dataclass(frozen=True, slots=True)
class DateReading:
    """The outcome of reading one date string.

    ``value`` is the date as an aware UTC ``datetime``. When it is ``None``, ``problem`` says
    why a string shaped like a date gives no date, as a phrase that follows the date in a
    sentence ("is not a calendar date", "has an unknown time zone 'XYZ'"); both ``None``
    means the string is no date this reader recognises.
    """

    value: datetime | None = None
    problem: str | None = None


class Invalid(ValueError):
    """A date string with an impossible part: the dialect stops and reports ``problem``."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def build(
    date: tuple[int, int, int], time: tuple[int, int, int] = (0, 0, 0), zone: tzinfo = UTC
) -> DateReading:
    """The UTC reading of a local ``(year, month, day)`` and ``(hour, minute, second)`` in
    ``zone``, or the problem with it.

    An impossible calendar date (30 February, month 13, day 0, year 0) is a problem, never
    carried over into the next month as ``time.mktime`` and feedparser do. A leap second
    (``:60``) is kept as second 59 of its minute.
    """
    year, month, day = date
    hour, minute, second = time
    if not (1 <= year <= 9999 and 1 <= month <= 12):
        return DateReading(problem=NOT_A_CALENDAR_DATE)
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return DateReading(problem=NOT_A_CALENDAR_DATE)
    if hour > 23 or minute > 59 or second > 60:
        return DateReading(problem=IMPOSSIBLE_TIME)
    try:
        local = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=zone)
        return DateReading(local.astimezone(UTC))
    except (OverflowError, ValueError):
        # 0001-01-01 00:00 +03:00 is in year 0 in UTC: not representable.
        return DateReading(problem=OUT_OF_RANGE)
