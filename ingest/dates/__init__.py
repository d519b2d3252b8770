"""Feed dates -> aware UTC ``datetime`` values, one module per dialect (pure, stdlib only).

::

    read_date(text)                     -> DateReading(value | problem)
      rfc822.read     Sat, 06 Dec 2024 14:30:00 +0300      RSS pubDate and its variants
      iso8601.read    2024-12-06T14:30:00+03:00            Atom, dc:date, RFC 3339
      arabic.read     ٦ كانون الأول ٢٠٢٤ - ٢:٣٠ م          month names in Arabic (and French)
        zones.read_zone   +03:00, GMT+3, Asia/Riyadh, AST, بتوقيت مكة (shared by all three)
    range_problem(value, fetched=, clock_skew=)           the range rule (bounds.py)

A string without Arabic letters is tried as RFC 822, then ISO 8601, then as words; one with
Arabic letters only as words. The first dialect that recognises the string decides: it gives
the date or the problem with it ("is not a calendar date", "has an unknown time zone ...").

**Why we read the raw strings ourselves** and never use feedparser's ``*_parsed`` values:
feedparser's handlers are one global list (``registerDateHandler``) tried in order until one
returns a value, so a handler of ours could add readings but never veto a wrong one. And the
wrong readings were theirs: its RFC 822 handler reads any unknown zone name (``Asia/Riyadh``)
as UTC, ``AST`` as -04:00 and gives up on ``GMT+3`` (after which ``email.utils``, our old
fallback, read it as GMT, 3 hours off, and year ``0001`` as 2001); its W3DTF and ISO 8601
handlers carry ``2024-02-30`` over into 1 March; and its ISO 8601 handler fills what a string
lacks from the current clock (``2024-W49-5`` and a Korean date both came out as the 1st of the
month we ran in). A reading that depends on when it ran, or on a veto we cannot cast, is worse
than none, so a string no dialect here recognises is no date: ``parse.py`` keeps its text and
says so in a warning.
"""

from __future__ import annotations

import re
from datetime import datetime

from ingest.dates import arabic, iso8601, rfc822
from ingest.dates.base import DateReading
from ingest.dates.bounds import DEFAULT_CLOCK_SKEW, EARLIEST, describe_seconds, range_problem

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "EARLIEST",
    "MAX_DATE_CHARS",
    "DateReading",
    "describe_seconds",
    "parse_date",
    "range_problem",
    "read_date",
]

MAX_DATE_CHARS = 200
"""A date string is short; anything longer is not a date, and the bound keeps regexes cheap."""

TOO_LONG = "is too long to be a date"
_ARABIC_LETTER = re.compile("[\u0621-\u064a]")


def read_date(text: str) -> DateReading:
    """Read a feed date in any dialect above; see :class:`DateReading` for the outcomes."""
    text = text.strip()
    if not text:
        return DateReading()
    if len(text) > MAX_DATE_CHARS:
        return DateReading(problem=TOO_LONG)
    if not _ARABIC_LETTER.search(text):
        latin = text.translate(arabic.DIGITS)
        for dialect in (rfc822.read, iso8601.read):
            reading = dialect(latin)
            if reading is not None:
                return reading
    return arabic.read(text) or DateReading()


def parse_date(text: str) -> datetime | None:
    """The date ``text`` gives as an aware UTC datetime, or ``None`` (no date, or a problem)."""
    return read_date(text).value
