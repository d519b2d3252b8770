"""Time zones as feeds write them (``ingest.dates.zones``), on their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest.dates.base import Invalid
from ingest.dates.zones import ABBREVIATIONS, AMBIGUOUS, iana_zone, read_zone

WINTER = datetime(2024, 12, 6, 12, 0)
SUMMER = datetime(2024, 7, 6, 12, 0)


def east(zone: object, when: datetime = WINTER) -> timedelta | None:
    """How far east of UTC ``zone`` is at ``when``."""
    assert isinstance(zone, timezone) or hasattr(zone, "utcoffset")
    return when.replace(tzinfo=zone).utcoffset()  # type: ignore[arg-type]


H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("token", "offset"),
    [
        ("Z", 0 * H),
        ("z", 0 * H),
        ("UT", 0 * H),
        ("UTC", 0 * H),
        ("GMT", 0 * H),
        ("(GMT)", 0 * H),
        ("+03:00", 3 * H),
        ("+0300", 3 * H),
        ("+03", 3 * H),
        ("+3", 3 * H),
        ("-05:00", -5 * H),
        ("+05:30", 5.5 * H),
        ("-0000", 0 * H),
        ("+14:00", 14 * H),
        # a zone word with an offset: GMT+3 is three hours EAST, as publishers mean it
        ("GMT+3", 3 * H),
        ("GMT +3", 3 * H),
        ("gmt+3", 3 * H),
        ("GMT+03:00", 3 * H),
        ("GMT+0300", 3 * H),
        ("UTC-5", -5 * H),
        ("UTC+5:30", 5.5 * H),
        ("GMT-2", -2 * H),
        ("+0300 (Arabian Standard Time)", 3 * H),
        # abbreviations
        ("AST", 3 * H),  # Arabia Standard Time, not Atlantic (-4)
        ("ast", 3 * H),
        ("EET", 2 * H),
        ("EEST", 3 * H),
        ("CET", 1 * H),
        ("GST", 4 * H),
        ("MSK", 3 * H),
        ("TRT", 3 * H),
        ("IRST", 3.5 * H),
        ("EST", -5 * H),
        ("PDT", -7 * H),
        # IANA names, any case, through the tz database
        ("Asia/Riyadh", 3 * H),
        ("asia/riyadh", 3 * H),
        ("[Asia/Riyadh]", 3 * H),
        ("Asia/Dubai", 4 * H),
        ("Asia/Tehran", 3.5 * H),
        ("Africa/Casablanca", 1 * H),
        ("America/Argentina/Buenos_Aires", -3 * H),
        ("Etc/GMT+3", -3 * H),  # the database's own name: POSIX signs, UTC-03:00
    ],
)
def test_zones(token: str, offset: timedelta) -> None:
    assert east(read_zone(token)) == offset


def test_named_zones_follow_summer_time() -> None:
    cairo = read_zone("Africa/Cairo")
    assert (east(cairo, WINTER), east(cairo, SUMMER)) == (2 * H, 3 * H)
    riyadh = read_zone("Asia/Riyadh")
    assert east(riyadh, WINTER) == east(riyadh, SUMMER) == 3 * H


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("IST", "has an ambiguous time zone 'IST' (India +05:30, Israel +02:00 or Ireland"),
        ("ADT", "has an ambiguous time zone 'ADT' (Atlantic -03:00 or Arabia +04:00)"),
        ("Mars/Olympus", "has an unknown time zone 'Mars/Olympus'"),
        ("Asia/Nowhere", "has an unknown time zone 'Asia/Nowhere'"),
        ("../../etc/passwd", "has an unknown time zone '../../etc/passwd'"),
        ("KSA", "has an unknown time zone 'KSA'"),
        ("GMT+3 GMT+4", "has an unknown time zone 'GMT+3 GMT+4'"),
        ("+20:00", "has an impossible UTC offset '+20:00'"),
        ("+03:75", "has an impossible UTC offset '+03:75'"),
        ("GMT+15", "has an impossible UTC offset 'GMT+15'"),
        ("x" * 500, "has an unknown time zone '" + "x" * 40 + "'"),
    ],
)
def test_unknown_and_ambiguous_zones_are_problems_never_utc(token: str, problem: str) -> None:
    with pytest.raises(Invalid) as caught:
        read_zone(token)
    assert caught.value.problem.startswith(problem)


def test_every_abbreviation_is_a_whole_number_of_minutes_within_14_hours() -> None:
    for name, minutes in ABBREVIATIONS.items():
        assert name == name.lower() and -14 * 60 <= minutes <= 14 * 60
        assert east(read_zone(name.upper())) == timedelta(minutes=minutes)
    assert not ABBREVIATIONS.keys() & AMBIGUOUS.keys()


def test_utc_is_the_utc_singleton() -> None:
    assert read_zone("GMT") is UTC and read_zone("+00:00") is UTC


def test_iana_lookup_refuses_what_is_not_a_zone() -> None:
    assert iana_zone("Asia/Riyadh") is not None
    assert iana_zone("asia/RIYADH") is not None
    assert iana_zone("Asia") is None
    assert iana_zone("Asia/Riyadh/../../x") is None
