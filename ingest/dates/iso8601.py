"""The ISO 8601 / RFC 3339 dialect (Atom, ``dc:date``): ``2024-12-06T14:30:00+03:00``.

Read here rather than by feedparser, whose W3DTF and ISO 8601 handlers normalise through
``time.mktime``-style arithmetic: ``2024-02-30`` came out as 1 March. Accepted::

    2024-12-06                                  a date (midnight UTC)
    2024-12-06T14:30[:00[.123456]][zone]        "T" or spaces between date and time
    20241206T143000Z                            the basic format
    2024-12-06T14:30:00+03:00[Asia/Riyadh]      RFC 9557: the offset is what counts

The zone may be ``Z``, an offset, or (after a space or in brackets) anything
:func:`zones.read_zone` reads: ``2024-12-06T14:30:00 Asia/Riyadh``. None means UTC. A year or
a month alone (``2024``, ``2024-12``) is not a day: a problem, never the 1st of the month.
"""

from __future__ import annotations

import re
from datetime import UTC

from ingest.dates.base import DateReading, Invalid, build
from ingest.dates.zones import read_zone

__all__ = ["read"]

_TIME_EXTENDED = r"(?:(?:T\s*|\s+)(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,]\d{1,9})?)?)?"
_EXTENDED = re.compile(
    rf"(?P<y>\d{{4}})-(?P<mo>\d{{1,2}})-(?P<d>\d{{1,2}}){_TIME_EXTENDED}\s*(?P<zone>.*)",
    re.IGNORECASE,
)
_BASIC = re.compile(
    r"(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})"
    r"(?:T(?P<h>\d{2})(?P<mi>\d{2})(?P<s>\d{2})?(?:[.,]\d{1,9})?)?"
    r"(?P<zone>z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)
_NO_DAY = re.compile(r"\d{4}(?:-\d{1,2})?")
_OFFSET_AND_NAME = re.compile(r"(?P<offset>z|[+-]\d{2}(?::?\d{2})?)\[[^\[\]]{1,40}\]", re.I)
NO_DAY = "has no day"


def read(text: str) -> DateReading | None:
    """Read an ISO 8601 date; ``None`` when ``text`` is not one."""
    if _NO_DAY.fullmatch(text):
        return DateReading(problem=NO_DAY)
    found = _EXTENDED.fullmatch(text) or _BASIC.fullmatch(text)
    if found is None:
        return None
    zone_text = (found.group("zone") or "").strip()
    if pair := _OFFSET_AND_NAME.fullmatch(zone_text):
        zone_text = pair.group("offset")
    try:
        zone = read_zone(zone_text) if zone_text else UTC
    except Invalid as exc:
        return DateReading(problem=exc.problem)
    fields = (found.group(name) for name in ("y", "mo", "d", "h", "mi", "s"))
    year, month, day, hour, minute, second = (int(value or 0) for value in fields)
    return build((year, month, day), (hour, minute, second), zone)
