"""The Arabic date dialect on its own (``ingest.dates.arabic``): month names, digits, times,
zones written in Arabic, and the problems it reports instead of guessing."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime

import pytest

from ingest.dates import arabic
from ingest.dates.base import DateReading


def utc(*fields: int) -> datetime:
    """utc(2024, 12, 6, 14, 30) -> 2024-12-06 14:30 UTC."""
    year, month, day, hour, minute, second = (*fields, 0, 0, 0)[:6]
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


DATES = [
    ("الأحد 06 ديسمبر 2024", utc(2024, 12, 6)),
    ("6 كانون الأول 2024", utc(2024, 12, 6)),
    ("6 كانون أول 2024", utc(2024, 12, 6)),
    ("15 كانون الثاني 2025", utc(2025, 1, 15)),
    ("1 شباط 2025", utc(2025, 2, 1)),
    ("1 آذار 2025", utc(2025, 3, 1)),
    ("1 نيسان 2025", utc(2025, 4, 1)),
    ("1 أيار 2025", utc(2025, 5, 1)),
    ("1 حزيران 2025", utc(2025, 6, 1)),
    ("1 تموز 2025", utc(2025, 7, 1)),
    ("1 آب 2025", utc(2025, 8, 1)),
    ("1 أيلول 2025", utc(2025, 9, 1)),
    ("1 تشرين الأول 2025", utc(2025, 10, 1)),
    ("1 تشرين الثاني 2025", utc(2025, 11, 1)),
    ("1 تشرين ثاني 2025", utc(2025, 11, 1)),
    ("3 يناير 2025", utc(2025, 1, 3)),
    ("3 فبراير 2025", utc(2025, 2, 3)),
    ("3 مارس 2025", utc(2025, 3, 3)),
    ("3 أبريل 2025", utc(2025, 4, 3)),
    ("3 ابريل 2025", utc(2025, 4, 3)),
    ("3 إبريل 2025", utc(2025, 4, 3)),
    ("3 مايو 2025", utc(2025, 5, 3)),
    ("3 يونيو 2025", utc(2025, 6, 3)),
    ("3 يونيه 2025", utc(2025, 6, 3)),
    ("3 يوليو 2025", utc(2025, 7, 3)),
    ("3 يوليه 2025", utc(2025, 7, 3)),
    ("3 أغسطس 2025", utc(2025, 8, 3)),
    ("3 اغسطس 2025", utc(2025, 8, 3)),
    ("3 سبتمبر 2025", utc(2025, 9, 3)),
    ("3 أكتوبر 2025", utc(2025, 10, 3)),
    ("3 اكتوبر 2025", utc(2025, 10, 3)),
    ("3 نوفمبر 2025", utc(2025, 11, 3)),
    ("3 جانفي 2025", utc(2025, 1, 3)),
    ("3 فيفري 2025", utc(2025, 2, 3)),
    ("3 أفريل 2025", utc(2025, 4, 3)),
    ("3 ماي 2025", utc(2025, 5, 3)),
    ("3 جوان 2025", utc(2025, 6, 3)),
    ("3 جويلية 2025", utc(2025, 7, 3)),
    ("3 أوت 2025", utc(2025, 8, 3)),
    ("3 يوليوز 2025", utc(2025, 7, 3)),
    ("3 غشت 2025", utc(2025, 8, 3)),
    ("3 شتنبر 2025", utc(2025, 9, 3)),
    ("3 نونبر 2025", utc(2025, 11, 3)),
    ("3 دجنبر 2025", utc(2025, 12, 3)),
    ("6 ديسمبر/كانون الأول 2024", utc(2024, 12, 6)),
    ("6 كانون الأول/ديسمبر 2024", utc(2024, 12, 6)),
    ("6 ديسمبر (كانون الأول) 2024", utc(2024, 12, 6)),
    ("٦ ديسمبر ٢٠٢٤", utc(2024, 12, 6)),
    ("٠٦ كانون الأول ٢٠٢٤ ١٤:٣٠", utc(2024, 12, 6, 14, 30)),
    ("الجمعة 6 ديسمبر 2024 14:30", utc(2024, 12, 6, 14, 30)),
    ("6 ديسمبر 2024 14:30:15", utc(2024, 12, 6, 14, 30, 15)),
    ("6 ديسمبر 2024 14:30 - 6 ديسمبر", utc(2024, 12, 6, 14, 30)),
    ("6 ديسمبر 2024 - 02:30 م", utc(2024, 12, 6, 14, 30)),
    ("6 ديسمبر 2024 - 02:30 ص", utc(2024, 12, 6, 2, 30)),
    ("6 ديسمبر 2024 12:05 ص", utc(2024, 12, 6, 0, 5)),
    ("6 ديسمبر 2024 12:05 م", utc(2024, 12, 6, 12, 5)),
    ("٦ ديسمبر ٢٠٢٤ - ٢:٣٠ مساءً", utc(2024, 12, 6, 14, 30)),
    ("14:30 - 6 ديسمبر 2024", utc(2024, 12, 6, 14, 30)),
    ("ديسمبر 6, 2024", utc(2024, 12, 6)),
    ("الخميس 5 جمادى الآخرة 1446 هـ الموافق 5 ديسمبر 2024 م", utc(2024, 12, 5)),
    ("Sun, 06 ديسمبر 2024 14:30:00 +0300", utc(2024, 12, 6, 11, 30)),
]
"""Month names of every region, digits, weekdays, times with ص/م."""

ZONES = [
    ("6 ديسمبر 2024 14:30 +03:00", utc(2024, 12, 6, 11, 30)),
    ("6 ديسمبر 2024 14:30 +0300", utc(2024, 12, 6, 11, 30)),
    ("6 ديسمبر 2024 14:30 GMT+3", utc(2024, 12, 6, 11, 30)),
    ("6 ديسمبر 2024 14:30 UTC-5", utc(2024, 12, 6, 19, 30)),
    ("6 ديسمبر 2024 14:30 GMT-2", utc(2024, 12, 6, 16, 30)),
    ("6 ديسمبر 2024 14:30 GMT", utc(2024, 12, 6, 14, 30)),
    ("6 ديسمبر 2024 14:30 غرينتش+3", utc(2024, 12, 6, 11, 30)),
    ("6 ديسمبر 2024 14:30 جرينتش +3", utc(2024, 12, 6, 11, 30)),
    ("6 ديسمبر 2024 14:30 بتوقيت غرينتش", utc(2024, 12, 6, 14, 30)),
    ("6 ديسمبر 2024 14:30 بتوقيت غرينتش+3", utc(2024, 12, 6, 11, 30)),
    ("6 ديسمبر 2024 GMT+3", utc(2024, 12, 5, 21, 0)),
    ("6 ديسمبر 2024 9:00 صباحاً +03:00", utc(2024, 12, 6, 6, 0)),
    ("6 ديسمبر 2024 14:30 بتوقيت مكة المكرمة", utc(2024, 12, 6, 11, 30)),
    ("6 ديسمبر 2024 14:30 بتوقيت مكه", utc(2024, 12, 6, 11, 30)),
    ("6 ديسمبر 2024 14:30 حسب توقيت أبو ظبي", utc(2024, 12, 6, 10, 30)),
    ("6 ديسمبر 2024 14:30 بتوقيت القاهرة", utc(2024, 12, 6, 12, 30)),
    ("6 يوليو 2024 14:30 بتوقيت القاهرة", utc(2024, 7, 6, 11, 30)),  # Egypt's summer time
    ("6 ديسمبر 2024 14:30 بتوقيت الرباط", utc(2024, 12, 6, 13, 30)),
    ("6 ديسمبر 2024 14:30 AST", utc(2024, 12, 6, 11, 30)),
    ("6 ديسمبر 2024 14:30 EET", utc(2024, 12, 6, 12, 30)),
    ("6 ديسمبر 2024 14:30 Asia/Riyadh", utc(2024, 12, 6, 11, 30)),
    ("6 ديسمبر 2024 14:30 بتوقيت عمان", utc(2024, 12, 6, 14, 30)),  # Amman or Oman: no zone
]
"""Offsets, Greenwich in Arabic, "the time of" a place, abbreviations and IANA names."""

PROBLEMS = [
    ("6 ديسمبر/تشرين الثاني 2024", "names two different months"),
    ("31 فبراير 2024", "is not a calendar date"),
    ("29 شباط 2023", "is not a calendar date"),
    ("0 ديسمبر 2024", "is not a calendar date"),
    ("6 ديسمبر 2024 25:00", "has an impossible time of day"),
    ("6 ديسمبر 2024 60:61", "has an impossible time of day"),
    ("6 ديسمبر 2024 24:00", "has an impossible time of day"),
    ("6 ديسمبر 2024 14:30 +20:00", "has an impossible UTC offset '+20:00'"),
    ("6 ديسمبر 2024 14:30 غرينتش+16", "has an impossible UTC offset '+16'"),
    ("6 ديسمبر 2024 14:30 IST", "has an ambiguous time zone 'ist'"),
]

NOT_DATES = ["غدا", "ديسمبر 2024", "۶ دیسمبر ۲۰۲۴", "غدا 25:00", "الساعة 14:30", "عاجل"]
"""No day, Persian spelling (yeh), no date at all: not recognised, not a problem."""


@pytest.mark.parametrize(("text", "expected"), DATES + ZONES)
def test_dates_and_zones(text: str, expected: datetime) -> None:
    reading = arabic.read(text)
    assert reading == DateReading(expected)
    assert reading.value is not None and reading.value.tzinfo is UTC


@pytest.mark.parametrize(("text", "problem"), PROBLEMS)
def test_problems_are_reported_not_guessed(text: str, problem: str) -> None:
    reading = arabic.read(text)
    assert reading is not None and reading.value is None
    assert reading.problem is not None and reading.problem.startswith(problem)


@pytest.mark.parametrize("text", NOT_DATES)
def test_strings_without_a_day_are_not_recognised(text: str) -> None:
    assert arabic.read(text) is None


@pytest.mark.parametrize("name", sorted(arabic.PLACES))
def test_every_place_is_read_in_its_zone(name: str) -> None:
    local = datetime(2024, 12, 6, 12, 0, tzinfo=zoneinfo.ZoneInfo(arabic.PLACES[name]))
    assert arabic.read(f"6 ديسمبر 2024 12:00 بتوقيت {name}") == DateReading(local.astimezone(UTC))
