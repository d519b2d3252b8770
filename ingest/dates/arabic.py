"""The Arabic dialect: dates written with month names, as many Arabic sites put them in feeds::

    الأحد 06 ديسمبر 2024
    ٦ كانون الأول ٢٠٢٤ - ٢:٣٠ م
    6 ديسمبر/كانون الأول 2024 14:30 +03:00
    6 ديسمبر 2024 14:30 بتوقيت مكة المكرمة
    الخميس 5 جمادى الآخرة 1446 هـ الموافق 5 ديسمبر 2024 م

Recognised: the month names of the Levant and Iraq (كانون الثاني ... كانون الأول), of Egypt and
the Gulf (يناير ... ديسمبر, with their common spellings), of the Maghreb (جانفي فيفري أفريل ماي
جوان جويلية أوت) and of Morocco (يوليوز غشت شتنبر نونبر دجنبر), a pair of names for one month
("ديسمبر/كانون الأول"), English and French month names, Arabic-Indic and Persian digits, an
optional weekday, an optional time ``14:30[:05]`` with ص/م (AM/PM), and an optional zone:
an offset (``+03:00``, ``+0300``), Greenwich with or without an offset (``GMT+3``, ``UTC``,
``غرينتش+3``, ``بتوقيت غرينتش``: +3 means +03:00), "the time of" a capital or country
(``بتوقيت مكة المكرمة``, ``بتوقيت القاهرة``: :data:`PLACES`, read through the tz database),
or, right after the time, an IANA name or an abbreviation of ``zones.ABBREVIATIONS``. No zone
means UTC. All-numeric dates are read as ``YYYY-MM-DD`` or, as written in Arab countries, day
first (``DD/MM/YYYY``).

Problems, not dates: two names for different months ("ديسمبر/تشرين الثاني"), an impossible
calendar date or time (31 فبراير, 25:00), an impossible offset, an ambiguous abbreviation.
Not recognised (``None``): a month without a day, a string without a date.
"""

from __future__ import annotations

import re
from datetime import UTC, tzinfo

from ingest.dates.base import IMPOSSIBLE_TIME, DateReading, Invalid, build
from ingest.dates.zones import ABBREVIATIONS, AMBIGUOUS, iana_zone, offset, read_zone

__all__ = ["PLACES", "fold", "read"]

DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "0123456789" * 2)

# Spelling variants folded before matching month names: hamza forms of alef, alef maqsura,
# ta marbuta (يونيه/يونية), the Arabic comma. Tatweel, harakat and direction marks are dropped.
_FOLD = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ة": "ه",
        "،": ",",
        "ـ": None,
        "\u200e": None,
        "\u200f": None,
        "\u061c": None,
        "\u200c": None,
        "\u200d": None,
    }
)
_HARAKAT = re.compile("[\u064b-\u065f\u0670]")

_MONTH_NAMES: dict[int, tuple[str, ...]] = {
    1: ("يناير", "كانون الثاني", "كانون ثاني", "جانفي", "january", "jan", "janvier"),
    2: ("فبراير", "شباط", "فيفري", "february", "feb", "février", "fevrier"),
    3: ("مارس", "آذار", "march", "mar", "mars"),
    4: ("أبريل", "إبريل", "نيسان", "أفريل", "april", "apr", "avril"),
    5: ("مايو", "أيار", "ماي", "may", "mai"),
    6: ("يونيو", "يونيه", "حزيران", "جوان", "june", "jun", "juin"),
    7: ("يوليو", "يوليه", "تموز", "جويلية", "يوليوز", "july", "jul", "juillet"),
    8: ("أغسطس", "آب", "أوت", "غشت", "august", "aug", "août", "aout"),
    9: ("سبتمبر", "أيلول", "شتنبر", "september", "sep", "sept", "septembre"),
    10: ("أكتوبر", "تشرين الأول", "تشرين أول", "october", "oct", "octobre"),
    11: ("نوفمبر", "تشرين الثاني", "تشرين ثاني", "نونبر", "november", "nov", "novembre"),
    12: ("ديسمبر", "كانون الأول", "كانون أول", "دجنبر", "december", "dec", "décembre", "decembre"),
}

PLACES: dict[str, str] = {
    "مكة المكرمة": "Asia/Riyadh", "مكة": "Asia/Riyadh", "الرياض": "Asia/Riyadh",
    "السعودية": "Asia/Riyadh", "القاهرة": "Africa/Cairo", "مصر": "Africa/Cairo",
    "بيروت": "Asia/Beirut", "لبنان": "Asia/Beirut", "دمشق": "Asia/Damascus",
    "سوريا": "Asia/Damascus", "بغداد": "Asia/Baghdad", "العراق": "Asia/Baghdad",
    "الدوحة": "Asia/Qatar", "قطر": "Asia/Qatar", "أبوظبي": "Asia/Dubai", "أبو ظبي": "Asia/Dubai",
    "دبي": "Asia/Dubai", "الإمارات": "Asia/Dubai", "الكويت": "Asia/Kuwait",
    "المنامة": "Asia/Bahrain", "البحرين": "Asia/Bahrain", "مسقط": "Asia/Muscat",
    "صنعاء": "Asia/Aden", "اليمن": "Asia/Aden", "القدس": "Asia/Jerusalem",
    "الأردن": "Asia/Amman", "الخرطوم": "Africa/Khartoum", "السودان": "Africa/Khartoum",
    "ليبيا": "Africa/Tripoli", "تونس": "Africa/Tunis", "الجزائر": "Africa/Algiers",
    "الرباط": "Africa/Casablanca", "المغرب": "Africa/Casablanca",
    "نواكشوط": "Africa/Nouakchott", "موريتانيا": "Africa/Nouakchott",
}  # fmt: skip
"""Places named in "بتوقيت ..." -> IANA zones. Names shared by two places are left out:
عمان (Amman or Oman), طرابلس (Tripoli in Libya or in Lebanon)."""


def fold(text: str) -> str:
    """Fold digits, spelling variants and case so that one table entry matches every spelling."""
    return _HARAKAT.sub("", text.translate(DIGITS).translate(_FOLD)).lower()


_MONTHS: dict[str, int] = {
    fold(name): number for number, names in _MONTH_NAMES.items() for name in names
}
# Longest names first, so that "تشرين الثاني" wins over a shorter name at the same place.
_MONTH = re.compile(
    r"(?<!\w)("
    + "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in sorted(_MONTHS, key=len, reverse=True))
    + r")(?!\w)"
)
# Between the two names of one month: "ديسمبر/كانون الأول", "ديسمبر (كانون الأول)".
_MONTH_PAIR_GAP = re.compile(r"[\s/()\-–|,]*")

_PLACE_ZONES = {fold(name): zone for name, zone in PLACES.items()}
_PLACE = re.compile(
    r"(?<!\w)(?:ب|حسب\s+)?توقيت\s+("
    + "|".join(
        re.escape(n).replace(r"\ ", r"\s*") for n in sorted(_PLACE_ZONES, key=len, reverse=True)
    )
    + r")(?!\w)"
)

_AM = ("ص", "صباحا", "صباح", "am", "a.m.")
_PM = ("م", "مساء", "مساءا", "ظهرا", "pm", "p.m.")
_MERIDIEM = "|".join(re.escape(m) for m in sorted(_AM + _PM, key=len, reverse=True))
_ZONE_WORD = r"(?:gmt|utc|(?:بتوقيت\s+|توقيت\s+)?(?:غرينتش|جرينتش))"
# After a zone word the offset may be loose ("GMT+3"); a bare one must look like "+03:00"/"+0300",
# so that the dash in "14:30 - 6 ديسمبر" is not read as an offset.
_LOOSE_OFFSET = r"([+-])\s?(\d{1,2})(?::?(\d{2}))?(?!\d)"
_STRICT_OFFSET = r"([+-])(\d{2}):?(\d{2})(?!\d)"
# Right after the time: a known abbreviation or an IANA name ("14:30 AST", "14:30 Asia/Riyadh").
_NAMED = (
    r"((?:"
    + "|".join(sorted(ABBREVIATIONS.keys() | AMBIGUOUS.keys(), key=len, reverse=True))
    + r")(?![\w/])|[a-z][a-z_+\-]*(?:/[a-z0-9_+\-]+){1,2})"
)
_TIME = re.compile(
    r"(?<!\d)(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?"
    rf"(?:\s*({_MERIDIEM})(?!\w))?"
    rf"(?:\s*{_ZONE_WORD}\s*{_LOOSE_OFFSET}|\s*{_STRICT_OFFSET}|\s*(z|{_ZONE_WORD})(?!\w)"
    rf"|\s*{_NAMED})?"
)
_ZONE = re.compile(rf"(?<!\w){_ZONE_WORD}(?:\s*{_LOOSE_OFFSET})?")

_SEP = r"[\s,./\-]*"
_DAY_BEFORE = re.compile(rf"(?<!\d)(\d{{1,2}}){_SEP}$")
_YEAR_AFTER = re.compile(rf"{_SEP}(\d{{4}})(?!\d)")
_DAY_YEAR_AFTER = re.compile(rf"{_SEP}(\d{{1,2}})(?!\d),?{_SEP}(\d{{4}})(?!\d)")
_NUMERIC_YMD = re.compile(r"(?<!\d)(\d{4})[/.\-](\d{1,2})[/.\-](\d{1,2})(?!\d)")
_NUMERIC_DMY = re.compile(r"(?<!\d)(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(?!\d)")

TWO_MONTHS = "names two different months"


def read(text: str) -> DateReading | None:
    """Read a date written with a month name (or all in digits), time and zone anywhere."""
    text = fold(text)
    # "... هـ الموافق 5 ديسمبر 2024 م": the Gregorian date follows "corresponding to".
    _, _, after = text.partition("الموافق")
    text = after or text
    try:
        hour, minute, second, zone, rest = _read_time(text)
        if zone is None:
            zone, rest = _read_zone(rest)
        ymd = _read_month_date(rest) or _read_numeric_date(rest)
    except Invalid as exc:
        # A problem counts only in something that is a date; "غدا 25:00" is not one.
        try:
            dated = _read_month_date(text) or _read_numeric_date(text)
        except Invalid:
            dated = (0, 0, 0)
        return DateReading(problem=exc.problem) if dated else None
    if ymd is None:
        return None
    return build(ymd, (hour, minute, second), zone or UTC)


def _read_time(text: str) -> tuple[int, int, int, tzinfo | None, str]:
    """Hour, minute, second, zone (if written next to the time) and the text without them."""
    found = _TIME.search(text)
    if found is None:
        return 0, 0, 0, None, text
    hour, minute = int(found.group(1)), int(found.group(2))
    second = int(found.group(3) or 0)
    meridiem = found.group(4)
    if meridiem in _AM and hour == 12:
        hour = 0
    elif meridiem in _PM and hour < 12:
        hour += 12
    if hour > 23 or minute > 59 or second > 60:
        raise Invalid(IMPOSSIBLE_TIME)
    zone: tzinfo | None = None
    if found.group(5):
        zone = _offset(found.group(5), found.group(6), found.group(7))
    elif found.group(8):
        zone = _offset(found.group(8), found.group(9), found.group(10))
    elif found.group(11):
        zone = UTC
    elif found.group(12):
        zone = read_zone(found.group(12))
    rest = text[: found.start()] + " " + text[found.end() :]
    return hour, minute, second, zone, rest


def _read_zone(text: str) -> tuple[tzinfo | None, str]:
    """A zone written apart from the time ("GMT+3", "بتوقيت مكة"), and the text without it."""
    found = _ZONE.search(text)
    if found is not None:
        zone: tzinfo = UTC
        if found.group(1):
            zone = _offset(found.group(1), found.group(2), found.group(3))
        return zone, text[: found.start()] + " " + text[found.end() :]
    place = _PLACE.search(text)
    if place is not None:
        name = _PLACE_ZONES[re.sub(r"\s+", " ", place.group(1))]
        zone_or_none = iana_zone(name)
        if zone_or_none is None:
            raise Invalid(f"has an unknown time zone {name!r}")
        return zone_or_none, text[: place.start()] + " " + text[place.end() :]
    return None, text


def _offset(sign: str, hours: str, minutes: str | None) -> tzinfo:
    return offset(sign, hours, minutes, f"{sign}{hours}" + (f":{minutes}" if minutes else ""))


def _read_month_date(text: str) -> tuple[int, int, int] | None:
    """Day, month name and year: "6 ديسمبر 2024", "ديسمبر 6, 2024", "6 ديسمبر/كانون الأول 2024"."""
    names = list(_MONTH.finditer(text))
    if not names:
        return None
    # Keep the first name, plus any names right after it that spell the same month again.
    first = names[0]
    month = _MONTHS[re.sub(r"\s+", " ", first.group(1))]
    end = first.end()
    for other in names[1:]:
        if not _MONTH_PAIR_GAP.fullmatch(text, end, other.start()):
            break
        if _MONTHS[re.sub(r"\s+", " ", other.group(1))] != month:
            raise Invalid(TWO_MONTHS)  # "ديسمبر/تشرين الثاني": refuse to guess
        end = other.end()
    after = text[end:].lstrip(")")
    day = _DAY_BEFORE.search(text, 0, first.start())
    year = _YEAR_AFTER.match(after)
    if day and year:
        return int(year.group(1)), month, int(day.group(1))
    day_year = _DAY_YEAR_AFTER.match(after)
    if day_year:
        return int(day_year.group(2)), month, int(day_year.group(1))
    return None


def _read_numeric_date(text: str) -> tuple[int, int, int] | None:
    found = _NUMERIC_YMD.search(text)
    if found:
        return int(found.group(1)), int(found.group(2)), int(found.group(3))
    found = _NUMERIC_DMY.search(text)
    if found:
        return int(found.group(3)), int(found.group(2)), int(found.group(1))
    return None
