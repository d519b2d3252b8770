"""Time zones as feeds write them -> ``tzinfo`` (pure; IANA names through ``zoneinfo``).

What a zone may be, and what it means (the publisher's meaning, not a library's accident):

=========================== =================================================================
``Z`` ``UT`` ``UTC`` ``GMT`` UTC
``+03:00`` ``+0300`` ``+03`` a numeric offset east of Greenwich (``-05:00`` west)
``GMT+3`` ``UTC-5``          a zone word with an offset: ``GMT+3`` is +03:00, as publishers
``GMT+03:00`` ``UTC+5:30``   mean it (feedparser gives up on ``GMT+3`` and ``email.utils``
                             reads it as plain GMT: three hours off)
``Asia/Riyadh``              an IANA name, looked up in the tz database with ``zoneinfo``
``[Asia/Riyadh]``            (case-insensitive, daylight saving time included). ``Etc/GMT+3``
                             is the database's own zone, UTC-03:00 (POSIX signs): a name is
                             read as the software that printed it read it
abbreviations                the table below; an unknown name is a problem, never UTC
=========================== =================================================================

The abbreviations (:data:`ABBREVIATIONS`). RFC 822 defines the North American ones, so they
keep that meaning. The others are those of the Arab world and of the places Arabic news is
published from. ``AST`` is Arabia Standard Time (+03:00: Saudi Arabia, Iraq, Kuwait, Qatar,
Bahrain, Yemen), not Atlantic Standard Time (-04:00, feedparser's reading), because that is
what an Arabic news feed means by it. Abbreviations that name several zones in use where
Arabic news comes from are refused rather than guessed (:data:`AMBIGUOUS`): ``IST`` (India
+05:30, Israel +02:00, Ireland +01:00) and ``ADT`` (Atlantic -03:00, Arabia daylight time
+04:00).

Named zones need the tz database: the system's (``/usr/share/zoneinfo``) or the ``tzdata``
package. Without it an IANA name is reported as unknown, never read as UTC. This is the one
file access a date can cause: the database's list of names is read once per process, and a
zone's file when it is first named (``zoneinfo`` caches it). Only names on that list are
opened, so a feed can never make us open a path of its choosing.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from datetime import UTC, timedelta, timezone, tzinfo

from ingest.dates.base import Invalid

__all__ = ["ABBREVIATIONS", "AMBIGUOUS", "iana_zone", "offset", "read_zone"]

_H = 60  # minutes per hour, for the table below

ABBREVIATIONS: dict[str, int] = {
    # UTC
    "z": 0, "ut": 0, "utc": 0, "gmt": 0, "wet": 0,
    # RFC 822 (North America)
    "est": -5 * _H, "edt": -4 * _H, "cst": -6 * _H, "cdt": -5 * _H,
    "mst": -7 * _H, "mdt": -6 * _H, "pst": -8 * _H, "pdt": -7 * _H,
    # Europe and North Africa
    "west": 1 * _H, "bst": 1 * _H, "cet": 1 * _H, "met": 1 * _H, "cest": 2 * _H,
    "mest": 2 * _H, "eet": 2 * _H, "eest": 3 * _H, "msk": 3 * _H, "trt": 3 * _H,
    # Africa
    "wat": 1 * _H, "cat": 2 * _H, "sast": 2 * _H, "eat": 3 * _H,
    # The Middle East and beyond
    "ast": 3 * _H, "idt": 3 * _H, "irst": 3 * _H + 30, "irdt": 4 * _H + 30, "gst": 4 * _H,
    "pkt": 5 * _H, "hkt": 8 * _H, "sgt": 8 * _H, "jst": 9 * _H, "kst": 9 * _H,
}  # fmt: skip
"""Zone abbreviations (lower case) -> minutes east of UTC."""

AMBIGUOUS: dict[str, str] = {
    "ist": "India +05:30, Israel +02:00 or Ireland +01:00",
    "adt": "Atlantic -03:00 or Arabia +04:00",
}
"""Abbreviations that name several zones: refused, with what they could mean."""

MAX_OFFSET_HOURS = 14  # Kiribati, +14:00, is the furthest from UTC

_NUMERIC = re.compile(r"([+-])\s?(\d{1,2})(?::?(\d{2}))?")
_WORD_OFFSET = re.compile(r"(?:gmt|utc|ut|z)\s?([+-])\s?(\d{1,2})(?::?(\d{2}))?", re.IGNORECASE)
_IANA = re.compile(r"\[?([A-Za-z][A-Za-z0-9_+\-]{0,30}(?:/[A-Za-z0-9_+\-]{1,30}){1,2})\]?")
_WORD = re.compile(r"[A-Za-z]{1,5}")
_COMMENT = re.compile(r"\s*\([^()]{0,40}\)$")


def offset(sign: str, hours: str, minutes: str | None, text: str) -> tzinfo:
    """``+``, ``03``, ``30`` -> UTC+03:30; ``Invalid`` beyond +-14:00 or past minute 59."""
    h, m = int(hours), int(minutes or 0)
    if h > MAX_OFFSET_HOURS or m > 59:
        raise Invalid(f"has an impossible UTC offset {text!r}")
    if h == m == 0:
        return UTC
    delta = timedelta(hours=h, minutes=m)
    return timezone(-delta if sign == "-" else delta)


def read_zone(token: str) -> tzinfo:
    """The zone ``token`` names (see the module docstring); ``Invalid`` when it names none.

    ``token`` is what follows the time, stripped: ``GMT``, ``+0300``, ``GMT+3``,
    ``Asia/Riyadh``, ``AST``. A comment in parentheses after a numeric offset, as mail
    software writes it (``+0300 (AST)``), is ignored.
    """
    text = token.strip()
    if text.endswith(")") and not text.startswith("("):
        text = _COMMENT.sub("", text)
    if found := _NUMERIC.fullmatch(text):
        return offset(found.group(1), found.group(2), found.group(3), text)
    if found := _WORD_OFFSET.fullmatch(text):
        return offset(found.group(1), found.group(2), found.group(3), text)
    if found := _IANA.fullmatch(text):
        zone = iana_zone(found.group(1))
        if zone is None:
            raise Invalid(f"has an unknown time zone {found.group(1)!r}")
        return zone
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()  # "(GMT)"
    if _WORD.fullmatch(text):
        key = text.lower()
        if key in AMBIGUOUS:
            raise Invalid(f"has an ambiguous time zone {text!r} ({AMBIGUOUS[key]})")
        if key in ABBREVIATIONS:
            minutes = ABBREVIATIONS[key]
            return UTC if minutes == 0 else timezone(timedelta(minutes=minutes))
    raise Invalid(f"has an unknown time zone {token.strip()[:40]!r}")


def iana_zone(name: str) -> tzinfo | None:
    """The tz database zone called ``name`` (any case), or ``None`` if there is none."""
    key = _iana_names().get(name.lower())
    if key is None:
        return None
    try:
        return zoneinfo.ZoneInfo(key)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


@functools.cache
def _iana_names() -> dict[str, str]:
    """Lower-case IANA names -> their spelling in the database (read once per process)."""
    return {name.lower(): name for name in zoneinfo.available_timezones()}
