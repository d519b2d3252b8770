"""Date strings from Arabic news feeds -> timezone-aware UTC ``datetime`` (pure, stdlib only).

feedparser reads RFC 822 and ISO 8601 dates itself; this module reads what it cannot: dates
written in Arabic, as many Arabic sites put them in ``pubDate``::

    الأحد 06 ديسمبر 2024
    ٦ كانون الأول ٢٠٢٤ - ٢:٣٠ م
    6 ديسمبر/كانون الأول 2024 14:30 +03:00
    الخميس 5 جمادى الآخرة 1446 هـ الموافق 5 ديسمبر 2024 م

Recognised: the month names of the Levant and Iraq (كانون الثاني ... كانون الأول), of Egypt and
the Gulf (يناير ... ديسمبر, with their common spellings), of the Maghreb (جانفي فيفري أفريل ماي
جوان جويلية أوت) and of Morocco (يوليوز غشت شتنبر نونبر دجنبر), a pair of names for one month
("ديسمبر/كانون الأول"), English and French month names, Arabic-Indic and Persian digits, an
optional weekday, an optional time ``14:30[:05]`` with ص/م (AM/PM), and an optional offset
(``+03:00``, ``+0300``, ``GMT+3``, ``UTC``, ``غرينتش``). No offset means UTC. All-numeric dates
are read as ``YYYY-MM-DD`` or, as written in Arab countries, day first (``DD/MM/YYYY``).

The entry point is :func:`parse_date`; it returns ``None`` for anything it cannot read with
confidence (a month without a day, two names for different months, an impossible date).
"""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime, timedelta, timezone

__all__ = ["parse_date"]

# A date string is short; anything longer is not a date, and the bound keeps the regexes cheap.
_MAX_DATE_CHARS = 200

_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "0123456789" * 2)

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
_ARABIC_LETTER = re.compile("[\u0621-\u064a]")

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


def _fold(text: str) -> str:
    """Fold digits, spelling variants and case so that one table entry matches every spelling."""
    return _HARAKAT.sub("", text.translate(_DIGITS).translate(_FOLD)).lower()


_MONTHS: dict[str, int] = {
    _fold(name): number for number, names in _MONTH_NAMES.items() for name in names
}
# Longest names first, so that "تشرين الثاني" wins over a shorter name at the same place.
_MONTH = re.compile(
    r"(?<!\w)("
    + "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in sorted(_MONTHS, key=len, reverse=True))
    + r")(?!\w)"
)
# Between the two names of one month: "ديسمبر/كانون الأول", "ديسمبر (كانون الأول)".
_MONTH_PAIR_GAP = re.compile(r"[\s/()\-–|,]*")

_AM = ("ص", "صباحا", "صباح", "am", "a.m.")
_PM = ("م", "مساء", "مساءا", "ظهرا", "pm", "p.m.")
_MERIDIEM = "|".join(re.escape(m) for m in sorted(_AM + _PM, key=len, reverse=True))
_ZONE_WORD = r"(?:gmt|utc|(?:بتوقيت\s+|توقيت\s+)?(?:غرينتش|جرينتش))"
# After a zone word the offset may be loose ("GMT+3"); a bare one must look like "+03:00"/"+0300",
# so that the dash in "14:30 - 6 ديسمبر" is not read as an offset.
_LOOSE_OFFSET = r"([+-])\s?(\d{1,2})(?::?(\d{2}))?(?!\d)"
_STRICT_OFFSET = r"([+-])(\d{2}):?(\d{2})(?!\d)"
_TIME = re.compile(
    r"(?<!\d)(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?"
    rf"(?:\s*({_MERIDIEM})(?!\w))?"
    rf"(?:\s*{_ZONE_WORD}\s*{_LOOSE_OFFSET}|\s*{_STRICT_OFFSET}|\s*(z|{_ZONE_WORD})(?!\w))?"
)
_ZONE = re.compile(rf"(?<!\w){_ZONE_WORD}(?:\s*{_LOOSE_OFFSET})?")

_SEP = r"[\s,./\-]*"
_DAY_BEFORE = re.compile(rf"(?<!\d)(\d{{1,2}}){_SEP}$")
_YEAR_AFTER = re.compile(rf"{_SEP}(\d{{4}})(?!\d)")
_DAY_YEAR_AFTER = re.compile(rf"{_SEP}(\d{{1,2}})(?!\d),?{_SEP}(\d{{4}})(?!\d)")
_NUMERIC_YMD = re.compile(r"(?<!\d)(\d{4})[/.\-](\d{1,2})[/.\-](\d{1,2})(?!\d)")
_NUMERIC_DMY = re.compile(r"(?<!\d)(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(?!\d)")
_LATIN_MERIDIEM = re.compile(r"\d\s*[ap]\.?m\b", re.IGNORECASE)
_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]|$)")


def parse_date(text: str) -> datetime | None:
    """Read a feed date (RFC 822, ISO 8601 or Arabic) as an aware UTC datetime, else ``None``."""
    text = text.strip()
    if not text or len(text) > _MAX_DATE_CHARS:
        return None
    if not _ARABIC_LETTER.search(text):
        # email.utils drops an AM/PM it does not understand ("2:30 PM" -> 02:30): skip it then.
        rfc822 = None if _LATIN_MERIDIEM.search(text) else _parse_rfc822(text)
        found = rfc822 or _parse_iso(text.translate(_DIGITS))
        if found is not None:
            return found
    return _parse_words(_fold(text))


def _parse_rfc822(text: str) -> datetime | None:
    try:
        found = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return _as_utc(found)


def _parse_iso(text: str) -> datetime | None:
    if not _ISO_START.match(text):
        return None
    try:
        found = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return None
    return _as_utc(found)


def _as_utc(found: datetime) -> datetime | None:
    if found.tzinfo is None:
        found = found.replace(tzinfo=UTC)
    try:
        return found.astimezone(UTC)
    except OverflowError:
        return None


class _Invalid(ValueError):
    """A date string with an impossible part (hour 25, offset +20): no date rather than a guess."""


def _parse_words(text: str) -> datetime | None:
    """Read a folded date written with a month name (or all digits), time and offset anywhere."""
    # "... هـ الموافق 5 ديسمبر 2024 م": the Gregorian date follows "corresponding to".
    _, _, after = text.partition("الموافق")
    text = after or text
    try:
        hour, minute, second, offset, text = _read_time(text)
        if offset is None:
            offset, text = _read_zone(text)
    except _Invalid:
        return None
    ymd = _read_month_date(text) or _read_numeric_date(text)
    if ymd is None:
        return None
    try:
        local = datetime(*ymd, hour, minute, second, tzinfo=UTC if offset is None else offset)
        return local.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _read_time(text: str) -> tuple[int, int, int, timezone | None, str]:
    """Hour, minute, second, offset (if written next to the time) and the text without them."""
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
        raise _Invalid(found.group(0))
    second = min(second, 59)  # a leap second is not representable; keep the minute
    offset: timezone | None = None
    if found.group(5):
        offset = _offset(found.group(5), found.group(6), found.group(7))
    elif found.group(8):
        offset = _offset(found.group(8), found.group(9), found.group(10))
    elif found.group(11):
        offset = UTC
    rest = text[: found.start()] + " " + text[found.end() :]
    return hour, minute, second, offset, rest


def _read_zone(text: str) -> tuple[timezone | None, str]:
    """A zone written apart from the time ("GMT+3", "بتوقيت غرينتش"), and the text without it."""
    found = _ZONE.search(text)
    if found is None:
        return None, text
    offset = _offset(found.group(1), found.group(2), found.group(3))
    return offset, text[: found.start()] + " " + text[found.end() :]


def _offset(sign: str | None, hours: str | None, minutes: str | None) -> timezone:
    """``+03:00`` -> timezone(+3h); a zone word without a sign is UTC."""
    if not sign or hours is None:
        return UTC
    h, m = int(hours), int(minutes or 0)
    if h > 14 or m > 59:
        raise _Invalid(f"{sign}{hours}:{minutes}")
    delta = timedelta(hours=h, minutes=m)
    return timezone(-delta if sign == "-" else delta)


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
            return None  # "ديسمبر/تشرين الثاني" names two months: refuse to guess
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
