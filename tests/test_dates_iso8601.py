"""The ISO 8601 / RFC 3339 date dialect on its own (``ingest.dates.iso8601``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.dates import iso8601
from ingest.dates.base import DateReading


def utc(*fields: int) -> datetime:
    """utc(2024, 12, 6, 14, 30) -> 2024-12-06 14:30 UTC."""
    year, month, day, hour, minute, second = (*fields, 0, 0, 0)[:6]
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


DATES = [
    ("2024-12-06T14:30:00+03:00", utc(2024, 12, 6, 11, 30)),
    ("2024-12-06T14:30:00Z", utc(2024, 12, 6, 14, 30)),
    ("2024-12-06t14:30:00z", utc(2024, 12, 6, 14, 30)),
    ("2024-12-06T14:30:00.123456-05:00", utc(2024, 12, 6, 19, 30)),
    ("2024-12-06T14:30+0300", utc(2024, 12, 6, 11, 30)),
    ("2024-12-06T14:30:00+03", utc(2024, 12, 6, 11, 30)),
    ("2024-12-06 14:30:00", utc(2024, 12, 6, 14, 30)),  # no zone: UTC
    ("2024-12-06", utc(2024, 12, 6)),
    ("2024-1-5", utc(2024, 1, 5)),
    ("20241206T143000Z", utc(2024, 12, 6, 14, 30)),
    ("20241206T143000+0300", utc(2024, 12, 6, 11, 30)),
    ("20241206", utc(2024, 12, 6)),
    ("2024-12-06T14:30:00 Asia/Riyadh", utc(2024, 12, 6, 11, 30)),
    ("2024-12-06T14:30:00[Asia/Riyadh]", utc(2024, 12, 6, 11, 30)),
    ("2024-12-06T14:30:00+03:00[Asia/Riyadh]", utc(2024, 12, 6, 11, 30)),
    ("2024-12-06T14:30:00+03:00[Europe/London]", utc(2024, 12, 6, 11, 30)),  # offset wins
    ("2024-12-06T14:30:00 GMT+3", utc(2024, 12, 6, 11, 30)),
    ("2024-12-06T14:30:00 UTC-5", utc(2024, 12, 6, 19, 30)),
    ("2024-12-06 14:30 AST", utc(2024, 12, 6, 11, 30)),
    ("2024-02-29", utc(2024, 2, 29)),
    ("0001-01-01T00:00:00Z", utc(1, 1, 1)),
    ("0999-01-01T00:00:00Z", utc(999, 1, 1)),
    ("1970-01-01T00:00:00Z", utc(1970, 1, 1)),
    ("2099-01-01T00:00:00Z", utc(2099, 1, 1)),
]

PROBLEMS = [
    ("2024-02-30", "is not a calendar date"),  # feedparser: 1 March
    ("2024-02-30T10:00:00Z", "is not a calendar date"),
    ("2023-02-29", "is not a calendar date"),
    ("2024-13-01", "is not a calendar date"),
    ("2024-00-10", "is not a calendar date"),
    ("0000-01-01", "is not a calendar date"),
    ("2024-12-06T24:00:00Z", "has an impossible time of day"),
    ("2024-12-06T14:30:00+25:00", "has an impossible UTC offset '+25:00'"),
    ("2024-12-06T14:30:00 Atlantis/Capital", "has an unknown time zone 'Atlantis/Capital'"),
    ("2024-12-06T14:30:00 soon", "has an unknown time zone 'soon'"),
    ("0001-01-01T00:00:00+03:00", "is outside the years 1 to 9999"),
    ("2024", "has no day"),
    ("2024-12", "has no day"),
]

NOT_ISO = ["Fri, 06 Dec 2024 14:30:00 GMT", "06/12/2024", "1733495400", "2024-W49-5", ""]


@pytest.mark.parametrize(("text", "expected"), DATES)
def test_dates(text: str, expected: datetime) -> None:
    reading = iso8601.read(text)
    assert reading == DateReading(expected)
    assert reading.value is not None and reading.value.tzinfo is UTC


@pytest.mark.parametrize(("text", "problem"), PROBLEMS)
def test_problems_are_reported_not_shifted(text: str, problem: str) -> None:
    reading = iso8601.read(text)
    assert reading is not None and reading.value is None
    assert reading.problem == problem


@pytest.mark.parametrize("text", NOT_ISO)
def test_other_dialects_are_left_to_others(text: str) -> None:
    assert iso8601.read(text) is None
