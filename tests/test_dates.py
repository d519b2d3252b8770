"""``ingest.dates``: which dialect reads which string, and the range rule (bounds.py).

Each dialect has its own file (tests/test_dates_rfc822.py, _iso8601, _arabic, _zones); this one
checks the entry points and walks the cases of issue 10 end to end: named zones, abbreviations,
GMT+3 / UTC-5 / غرينتش+3 offsets, impossible dates, 0001, 0999, 1970, 2099 and undated items.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest.dates import (
    DEFAULT_CLOCK_SKEW,
    EARLIEST,
    MAX_DATE_CHARS,
    DateReading,
    describe_seconds,
    parse_date,
    range_problem,
    read_date,
)


def utc(*fields: int) -> datetime:
    """utc(2024, 12, 6, 14, 30) -> 2024-12-06 14:30 UTC."""
    year, month, day, hour, minute, second = (*fields, 0, 0, 0)[:6]
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


FETCHED = utc(2024, 12, 6, 12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # named zones
        ("Sat, 06 Dec 2024 14:30:00 Asia/Riyadh", utc(2024, 12, 6, 11, 30)),
        ("2024-12-06T14:30:00 Asia/Riyadh", utc(2024, 12, 6, 11, 30)),
        ("6 ديسمبر 2024 14:30 بتوقيت مكة المكرمة", utc(2024, 12, 6, 11, 30)),
        # abbreviations
        ("Sat, 06 Dec 2024 14:30:00 AST", utc(2024, 12, 6, 11, 30)),
        ("Sat, 06 Dec 2024 14:30:00 EET", utc(2024, 12, 6, 12, 30)),
        # offsets written after a zone word
        ("Sat, 06 Dec 2024 14:30:00 GMT+3", utc(2024, 12, 6, 11, 30)),
        ("Sat, 06 Dec 2024 14:30:00 UTC-5", utc(2024, 12, 6, 19, 30)),
        ("6 ديسمبر 2024 14:30 غرينتش+3", utc(2024, 12, 6, 11, 30)),
        ("٦ ديسمبر ٢٠٢٤ ١٤:٣٠ غرينتش+٣", utc(2024, 12, 6, 11, 30)),
        # digits of any script, with no Arabic letter: still RFC 822 / ISO 8601
        ("٢٠٢٤-١٢-٠٦T١٤:٣٠:٠٠Z", utc(2024, 12, 6, 14, 30)),
        ("٢٠٢٤/١٢/٠٦", utc(2024, 12, 6)),
        ("06/12/2024 14:30", utc(2024, 12, 6, 14, 30)),  # day first, as written in Arab countries
        ("6 décembre 2024", utc(2024, 12, 6)),
        # read as written; the range rule refuses them later
        ("Mon, 01 Jan 0001 00:00:00 GMT", utc(1, 1, 1)),
        ("0999-01-01T00:00:00Z", utc(999, 1, 1)),
        ("Thu, 01 Jan 1970 00:00:00 GMT", utc(1970, 1, 1)),
        ("Thu, 01 Jan 2099 00:00:00 GMT", utc(2099, 1, 1)),
    ],
)
def test_read_date(text: str, expected: datetime) -> None:
    assert read_date(text) == DateReading(expected)
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("2024-02-30", "is not a calendar date"),
        ("Fri, 30 Feb 2024 10:00:00 GMT", "is not a calendar date"),
        ("30 فبراير 2024", "is not a calendar date"),
        ("Sat, 06 Dec 2024 14:30:00 IST", "has an ambiguous time zone 'IST'"),
        ("Sat, 06 Dec 2024 14:30:00 Mars/Olympus", "has an unknown time zone"),
        ("2024-12", "has no day"),
        ("6 " * 101, "is too long to be a date"),
    ],
)
def test_problems(text: str, problem: str) -> None:
    reading = read_date(text)
    assert reading.value is None and parse_date(text) is None
    assert reading.problem is not None and reading.problem.startswith(problem)


@pytest.mark.parametrize("text", ["", "   ", "غير معروف", "soon", "1733495400", "2024-W49-5"])
def test_strings_no_dialect_recognises(text: str) -> None:
    assert read_date(text) == DateReading()


def test_a_string_of_max_length_is_still_read() -> None:
    text = "2024-12-06".ljust(MAX_DATE_CHARS)
    assert len(text) == MAX_DATE_CHARS and read_date(text) == DateReading(utc(2024, 12, 6))


# --- the range rule -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (utc(1, 1, 1), "is before 1990-01-01"),
        (utc(999, 1, 1), "is before 1990-01-01"),
        (utc(1970, 1, 1), "is before 1990-01-01"),
        (utc(1989, 12, 31, 23, 59, 59), "is before 1990-01-01"),
        (EARLIEST, None),
        (utc(2024, 12, 6, 11), None),
        (FETCHED + timedelta(seconds=DEFAULT_CLOCK_SKEW), None),
        (FETCHED + timedelta(seconds=DEFAULT_CLOCK_SKEW + 1), "is after the fetch time + 24 h"),
        (utc(2099, 1, 1), "is after the fetch time + 24 h"),
        (datetime(9999, 12, 31, tzinfo=UTC), "is after the fetch time + 24 h"),
    ],
)
def test_range_rule(value: datetime, problem: str | None) -> None:
    assert range_problem(value, fetched=FETCHED) == problem


def test_range_rule_without_a_fetch_time_has_only_the_lower_bound() -> None:
    assert range_problem(utc(2099, 1, 1)) is None
    assert range_problem(utc(1970, 1, 1)) == "is before 1990-01-01"


def test_range_rule_compares_instants_not_wall_clocks() -> None:
    riyadh = timezone(timedelta(hours=3))
    # 14:00 in Riyadh is 11:00 UTC: one hour before the fetch, with no skew allowed
    value = datetime(2024, 12, 6, 14, 0, tzinfo=riyadh)
    assert range_problem(value, fetched=FETCHED, clock_skew=0) is None
    later = datetime(2024, 12, 6, 15, 0, 1, tzinfo=riyadh)
    assert range_problem(later, fetched=FETCHED, clock_skew=0) == "is after the fetch time + 0 s"


def test_range_rule_with_a_huge_skew_accepts_every_date() -> None:
    assert range_problem(utc(9999, 1, 1), fetched=FETCHED, clock_skew=1e12) is None


def test_range_rule_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        range_problem(datetime(2024, 12, 6), fetched=FETCHED)
    with pytest.raises(ValueError, match="aware"):
        range_problem(FETCHED, fetched=datetime(2024, 12, 6))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(86_400, "24 h"), (3600, "1 h"), (5400, "90 min"), (60, "1 min"), (45, "45 s"), (0, "0 s")],
)
def test_describe_seconds(seconds: float, text: str) -> None:
    assert describe_seconds(seconds) == text
