"""The RFC 822 dialect (RSS ``pubDate``): ``Sat, 06 Dec 2024 14:30:00 +0300`` and its variants.

Read here rather than by ``email.utils`` or feedparser, because both get real feeds wrong:
``email.utils`` reads year ``0001`` as 2001 and ``GMT+3`` as GMT; feedparser gives up on
``GMT+3``, reads ``Asia/Riyadh`` (any unknown name) as UTC and ``AST`` as -04:00. Accepted::

    [Sat[,]] 06 Dec 2024 [14:30[:00[.000]] [PM]] [zone]      the RFC order (RFC 850 dashes too)
    [Sat[,]] Dec 6[,] 2024 [14:30[:00]] [zone]               month first
    Sat Dec  6 14:30:00 2024                                 C's asctime()

Month and weekday names are English, full or abbreviated. Years: four digits as written
(``0001`` is year 1, left for the range rule to refuse); two digits per RFC 2822 (00-49 ->
20xx, 50-99 -> 19xx); three digits plus 1900 (RFC 2822: JavaScript's ``getYear()`` writes
2024 as ``124``). The zone is everything after the time, read by :func:`zones.read_zone`;
none means UTC.
"""

from __future__ import annotations

import re
from datetime import UTC

from ingest.dates.base import IMPOSSIBLE_TIME, DateReading, Invalid, build
from ingest.dates.zones import read_zone

__all__ = ["read"]

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_FULL_MONTHS = {
    "january", "february", "march", "april", "june", "july", "august", "september",
    "sept", "october", "november", "december",
}  # fmt: skip
_WEEKDAYS = {"mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun"}
_FULL_WEEKDAYS = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}

_WEEKDAY = r"(?:(?P<wd>[a-z]{3,9})\.?(?:\s*,\s*|\s+))?"
_TIME = (
    r"(?:[\s,]+(?:at\s+)?(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?(?:[.,]\d{1,9})?"
    r"(?:\s*(?P<ampm>[ap])\.?m\.?(?![a-z]))?)?"
)
_ZONE = r"(?:\s*(?P<zone>.*?))?"
_DAY_FIRST = re.compile(
    rf"{_WEEKDAY}(?P<d>\d{{1,2}})(?:st|nd|rd|th)?[\s\-/]+(?P<mon>[a-z]{{3,9}})\.?,?[\s\-/]+"
    rf"(?P<y>\d{{2,4}})(?!\d){_TIME}{_ZONE}",
    re.IGNORECASE,
)
_MONTH_FIRST = re.compile(
    rf"{_WEEKDAY}(?P<mon>[a-z]{{3,9}})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+"
    rf"(?P<y>\d{{4}})(?!\d){_TIME}{_ZONE}",
    re.IGNORECASE,
)
_ASCTIME = re.compile(
    r"(?P<wd>[a-z]{3})\s+(?P<mon>[a-z]{3})\s+(?P<d>\d{1,2})\s+"
    r"(?P<h>\d{1,2}):(?P<mi>\d{2}):(?P<s>\d{2})\s+(?P<y>\d{4})(?P<zone>)(?P<ampm>)",
    re.IGNORECASE,
)


def read(text: str) -> DateReading | None:
    """Read an RFC 822-style date; ``None`` when ``text`` is not one."""
    for pattern in (_DAY_FIRST, _MONTH_FIRST, _ASCTIME):
        found = pattern.fullmatch(text)
        if found is not None and _names_ok(found):
            break
    else:
        return None
    month = _MONTHS[found.group("mon").lower()[:3]]
    try:
        hour = _hour(found)
        zone_text = (found.group("zone") or "").strip()
        zone = read_zone(zone_text) if zone_text else UTC
    except Invalid as exc:
        return DateReading(problem=exc.problem)
    minute = int(found.group("mi") or 0)
    second = int(found.group("s") or 0)
    date = (_year(found.group("y")), month, int(found.group("d")))
    return build(date, (hour, minute, second), zone)


def _names_ok(found: re.Match[str]) -> bool:
    month = found.group("mon").lower()
    if month[:3] not in _MONTHS or (len(month) > 3 and month not in _FULL_MONTHS):
        return False
    weekday = (found.group("wd") or "").lower()
    return not weekday or weekday in _WEEKDAYS or weekday in _FULL_WEEKDAYS


def _year(digits: str) -> int:
    year = int(digits)
    if len(digits) == 2:
        return year + (2000 if year < 50 else 1900)
    if len(digits) == 3:
        return year + 1900
    return year


def _hour(found: re.Match[str]) -> int:
    hour = int(found.group("h") or 0)
    meridiem = (found.group("ampm") or "").lower()
    if meridiem:
        if not 1 <= hour <= 12:
            raise Invalid(IMPOSSIBLE_TIME)
        hour = hour % 12 + (12 if meridiem == "p" else 0)
    return hour
