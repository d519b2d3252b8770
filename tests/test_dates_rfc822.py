"""The RFC 822 date dialect on its own (``ingest.dates.rfc822``): RSS ``pubDate`` as feeds
really write it, including the cases ``email.utils`` and feedparser got wrong."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.dates import rfc822
from ingest.dates.base import DateReading


def utc(*fields: int) -> datetime:
    """utc(2024, 12, 6, 14, 30) -> 2024-12-06 14:30 UTC."""
    year, month, day, hour, minute, second = (*fields, 0, 0, 0)[:6]
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


DATES = [
    ("Fri, 06 Dec 2024 14:30:00 +0300", utc(2024, 12, 6, 11, 30)),
    ("Fri, 06 Dec 2024 14:30:00 GMT", utc(2024, 12, 6, 14, 30)),
    ("Fri, 6 Dec 2024 14:30 GMT", utc(2024, 12, 6, 14, 30)),
    ("06 Dec 2024 14:30:00 Z", utc(2024, 12, 6, 14, 30)),
    ("Fri, 06 Dec 2024 14:30:00", utc(2024, 12, 6, 14, 30)),  # no zone: UTC
    ("Fri, 06 Dec 2024", utc(2024, 12, 6)),
    ("fri, 06 dec 2024 14:30:00 gmt", utc(2024, 12, 6, 14, 30)),
    ("Friday, 06 December 2024 14:30:00 +0000", utc(2024, 12, 6, 14, 30)),
    ("Friday, 06-Dec-24 14:30:00 GMT", utc(2024, 12, 6, 14, 30)),  # RFC 850
    ("Fri, 06 Dec 99 14:30:00 GMT", utc(1999, 12, 6, 14, 30)),  # RFC 2822: 50-99 -> 19xx
    ("Mon, 01 Jan 124 00:00:00 GMT", utc(2024, 1, 1)),  # getYear(): 3 digits + 1900
    ("Fri, 06 Dec 2024 14:30:00.123 +0300", utc(2024, 12, 6, 11, 30)),
    ("Fri, 06 Dec 2024 14:30:60 GMT", utc(2024, 12, 6, 14, 30, 59)),  # a leap second
    ("Fri, 06 Dec 2024 2:30 PM +0300", utc(2024, 12, 6, 11, 30)),
    ("6 December 2024 2:30 PM", utc(2024, 12, 6, 14, 30)),
    ("6 December 2024 12:10 am", utc(2024, 12, 6, 0, 10)),
    ("Dec 6, 2024 14:30 GMT", utc(2024, 12, 6, 14, 30)),
    ("December 6, 2024", utc(2024, 12, 6)),
    ("Sept 6, 2024", utc(2024, 9, 6)),
    ("Fri Dec  6 14:30:00 2024", utc(2024, 12, 6, 14, 30)),  # asctime()
    # JavaScript's Date.toString(): the comment after the offset is ignored
    ("Fri Dec 06 2024 14:30:00 GMT+0300 (Arabian Standard Time)", utc(2024, 12, 6, 11, 30)),
    ("Fri, 06 Dec 2024 14:30:00 +0300 (AST)", utc(2024, 12, 6, 11, 30)),
    # zones: each spelling means what the publisher means
    ("Fri, 06 Dec 2024 14:30:00 GMT+3", utc(2024, 12, 6, 11, 30)),
    ("Fri, 06 Dec 2024 14:30:00 GMT+03:00", utc(2024, 12, 6, 11, 30)),
    ("Fri, 06 Dec 2024 14:30:00 GMT+0530", utc(2024, 12, 6, 9, 0)),
    ("Fri, 06 Dec 2024 14:30:00 UTC-5", utc(2024, 12, 6, 19, 30)),
    ("Fri, 06 Dec 2024 14:30:00 UTC+5:30", utc(2024, 12, 6, 9, 0)),
    ("Fri, 06 Dec 2024 14:30:00 +3", utc(2024, 12, 6, 11, 30)),
    ("Fri, 06 Dec 2024 14:30:00 Asia/Riyadh", utc(2024, 12, 6, 11, 30)),
    ("Fri, 06 Dec 2024 14:30:00 asia/riyadh", utc(2024, 12, 6, 11, 30)),
    ("Sat, 06 Jul 2024 14:30:00 Africa/Cairo", utc(2024, 7, 6, 11, 30)),  # summer time, +03:00
    ("Fri, 06 Dec 2024 14:30:00 Africa/Cairo", utc(2024, 12, 6, 12, 30)),
    ("Fri, 06 Dec 2024 14:30:00 AST", utc(2024, 12, 6, 11, 30)),  # Arabia, not Atlantic
    ("Fri, 06 Dec 2024 14:30:00 EST", utc(2024, 12, 6, 19, 30)),  # RFC 822's own
    ("Fri, 06 Dec 2024 14:30:00 EET", utc(2024, 12, 6, 12, 30)),
    ("Fri, 06 Dec 2024 14:30:00 GST", utc(2024, 12, 6, 10, 30)),
    # years the range rule refuses later; read as written, never as 2001
    ("Mon, 01 Jan 0001 00:00:00 GMT", utc(1, 1, 1)),
    ("Tue, 01 Jan 0999 00:00:00 GMT", utc(999, 1, 1)),
    ("Thu, 01 Jan 1970 00:00:00 GMT", utc(1970, 1, 1)),
    ("Thu, 01 Jan 2099 00:00:00 GMT", utc(2099, 1, 1)),
]

PROBLEMS = [
    ("Fri, 30 Feb 2024 10:00:00 GMT", "is not a calendar date"),
    ("Thu, 29 Feb 2023 10:00:00 GMT", "is not a calendar date"),
    ("Fri, 00 Dec 2024 10:00:00 GMT", "is not a calendar date"),
    ("Fri, 06 Dec 2024 25:30:00 GMT", "has an impossible time of day"),
    ("Fri, 06 Dec 2024 14:60:00 GMT", "has an impossible time of day"),
    ("Fri, 06 Dec 2024 13:30 PM", "has an impossible time of day"),
    ("Fri, 06 Dec 2024 14:30:00 +2000", "has an impossible UTC offset '+2000'"),
    ("Fri, 06 Dec 2024 14:30:00 GMT+15", "has an impossible UTC offset 'GMT+15'"),
    ("Fri, 06 Dec 2024 14:30:00 Mars/Olympus", "has an unknown time zone 'Mars/Olympus'"),
    ("Fri, 06 Dec 2024 14:30:00 XYZ", "has an unknown time zone 'XYZ'"),
    ("Fri, 06 Dec 2024 14:30:00 IST", "has an ambiguous time zone 'IST'"),
    ("Fri, 06 Dec 2024 14:30:00 ADT", "has an ambiguous time zone 'ADT'"),
    ("Fri, 31 Dec 9999 23:00:00 -0500", "is outside the years 1 to 9999"),
]

NOT_RFC822 = [
    "2024-12-06T14:30:00Z",
    "6 décembre 2024",  # French: the words dialect reads it
    "Foo, 06 Dec 2024 14:30:00 GMT",  # not a weekday
    "06 Decembre 2024",  # not an English month
    "06 Dec 5",
    "1733495400",
    "",
]


@pytest.mark.parametrize(("text", "expected"), DATES)
def test_dates(text: str, expected: datetime) -> None:
    reading = rfc822.read(text)
    assert reading == DateReading(expected)
    assert reading.value is not None and reading.value.tzinfo is UTC


@pytest.mark.parametrize(("text", "problem"), PROBLEMS)
def test_problems_are_reported_not_guessed(text: str, problem: str) -> None:
    reading = rfc822.read(text)
    assert reading is not None and reading.value is None
    assert reading.problem is not None and reading.problem.startswith(problem)


@pytest.mark.parametrize("text", NOT_RFC822)
def test_other_dialects_are_left_to_others(text: str) -> None:
    assert rfc822.read(text) is None
