"""Parse stage: a feed's bytes plus its HTTP headers -> :class:`ParsedFeed` (pure, no I/O).

This is the only module that imports feedparser. The stage, step by step::

    body, headers
      -> _decode            pick the encoding ourselves; the result is text (see _decode)
      -> _strip_doctype     drop the DOCTYPE and its internal subset; fail closed if unterminated
      -> _cap_authors       shorten huge author-like elements before feedparser reads them
      -> _fix_entities      HTML named entities -> numeric references; unknown names -> literal text
      -> _fix_references    references to no character (&#xD800;) -> U+FFFD; UTF-16 pairs joined
      -> _cap_items         more than 2 * max_items items: keep the first and the last max_items
      -> feedparser.parse(io.BytesIO(utf-8 bytes), sanitize_html=False, resolve_relative_uris=False)
      -> _entry             Entry records: raw HTML fields, dates (ingest.dates), mojibake repair,
                            caps
      -> newest first, at most max_items

Why each step (measured facts in HOSTILE.md section B):

* feedparser is handed an ``io.BytesIO``, never ``str`` *nor* ``bytes``: given ``bytes`` it first
  calls ``open(body)`` (an audit event on every parse; a body ``b"/etc/passwd"`` reads that file);
  given ``str`` it also fetches URLs. A file object is the one input it reads without I/O.
* Stripping the DOCTYPE defeats XXE, external DTDs, billion laughs and the quadratic entity
  blow-up of feedparser's lenient fallback parser, which re-inserts "safe" internal entities. With
  no DOCTYPE left, feedparser's lenient parser has no entity table to expand, and expat has no
  declarations: an undefined reference stays literal text.
* feedparser's author parsing runs a backtracking e-mail regex (64 KB took 14 s), so author-like
  elements are cut to ``limits.max_author_chars`` in the raw XML, before feedparser sees them.
* A reference to a lone surrogate or beyond U+10FFFF made feedparser's lenient parser raise and
  lost every item of the feed (``ingest.charrefs``).
* HTML's sanitizing and URL resolving are the cleaner's job (3x faster without, PERF.md).
* Dates are read from the raw strings by ``ingest.dates`` (its docstring says why feedparser's
  readings are not used), then checked by the range rule: a date before 1990 or after
  ``fetched + clock_skew`` is not used, and the item keeps the text in ``published_raw``.

Nothing is dropped silently: every item dropped, field cut, reference replaced and date not used
is a warning naming the feed (and the item, by GUID, else link, else title), with the counts
kept and dropped and the ``[limits]`` key that decides. Fields are returned raw (HTML allowed;
``javascript:`` links included): ``ingest.clean`` filters.
"""

from __future__ import annotations

import codecs
import copy
import html.entities
import io
import re
import xml.parsers.expat
import xml.sax
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import feedparser
import feedparser.html
import feedparser.mixin
import feedparser.util

from ingest.charrefs import fix_references
from ingest.dates import (
    DEFAULT_CLOCK_SKEW,
    MAX_DATE_CHARS,
    parse_date,
    range_problem,
    read_date,
)
from ingest.errors import ParseError
from ingest.models import Entry, ParsedFeed
from ingest.settings import MAX_AUTHOR_CHARS_CEILING, LimitSettings

__all__ = [
    "MAX_ITEM_WARNINGS",
    "parse_date",
    "parse_feed",
]

DEFAULT_LIMITS = LimitSettings()
MAX_ITEM_WARNINGS = 10
"""Per-item warnings of one kind (dates, cut fields) listed per feed; the rest are counted."""

_UTF8_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'
# What feedparser is told about the bytes we hand it: they are always UTF-8 XML by then.
_FEEDPARSER_CONTENT_TYPE = "application/xml; charset=utf-8"


def parse_feed(
    body: bytes,
    headers: Mapping[str, str],
    *,
    url: str,
    limits: LimitSettings = DEFAULT_LIMITS,
    fetched: datetime | None = None,
    clock_skew: float = DEFAULT_CLOCK_SKEW,
) -> ParsedFeed:
    """Parse a feed body (RSS 0.9x/1.0/2.0, Atom) into entries, newest first.

    ``headers`` are the HTTP response headers (any case); their charset is one input of the
    encoding decision. ``url`` only names the feed in errors and warnings. ``limits`` caps
    items and fields (``[limits]``). ``fetched`` (aware) is when the body was fetched: an
    item date after ``fetched + clock_skew`` seconds, or before 1990, is not used; without
    it only the lower bound applies. Raises :class:`ParseError` (code ``not_a_feed``) when the
    body is not a feed we can read safely; survivable problems (bad XML with items recovered,
    a mislabelled encoding, a cap, a date not used ...) become ``ParsedFeed.warnings``.
    """
    if not isinstance(body, bytes):
        # feedparser treats a str as a path or URL to open: refuse anything but bytes.
        raise TypeError(f"parse_feed needs the body as bytes, not {type(body).__name__}")
    _check_limits(limits)
    if fetched is not None and fetched.tzinfo is None:
        raise ValueError("parse_feed needs an aware fetched time")
    if not body.strip():
        raise ParseError(f"{url}: not a feed: the body is empty", code="not_a_feed")

    decoded = _decode(body, headers)
    warnings = list(decoded.warnings)
    xml_text, in_document = _prepare(decoded.text, url, limits, warnings)
    data = xml_text.encode("utf-8")
    result = _run_feedparser(data, headers, url)

    raw_entries: list[Any] = list(result.get("entries") or [])
    version: str = result.get("version") or ""
    bozo_exc = result.get("bozo_exception") if result.get("bozo") else None
    if not raw_entries and not version:
        reason = _not_a_feed_reason(decoded.text, headers, bozo_exc)
        raise ParseError(f"{url}: not a feed: {reason}", code="not_a_feed")
    if not version:
        warnings.append("unrecognised feed format; items read anyway")

    repair = _Repairs()
    notes = _ItemNotes()
    reader = _EntryReader(limits, repair, _DateRule(fetched, clock_skew), notes)
    entries = [reader.entry(raw, index) for index, raw in enumerate(raw_entries)]
    # The lenient parser makes an entry of a cut-off "<item><title>..." with nothing in it.
    kept = [entry for entry in entries if not _is_empty(entry)]
    # expat with namespaces also stops at an undeclared prefix ("<media:thumbnail>" without its
    # xmlns): such a document is well-formed and whole, so its items are not "recovered".
    recovered = isinstance(bozo_exc, xml.sax.SAXException) and not _well_formed(data)
    if bozo_exc is not None:
        warnings.append(_describe_bozo(bozo_exc, items=len(kept), recovered=recovered))
    empty = len(entries) - len(kept)
    if empty:
        warnings.append(f"{empty} empty item(s) dropped (no title, link, id, text)")
    newest = _newest_first(kept)[: limits.max_items]
    total = in_document if in_document is not None else len(entries)
    if len(newest) + empty < total:
        warnings.append(_items_cut(total, len(newest), empty, limits.max_items, in_document))
    feed: Any = result.get("feed") or {}
    title = _stripped(repair(_str(_get(feed, "title"))))
    link = _stripped(_get(feed, "link"))
    feed_cuts: list[str] = []
    title = _cut(title, limits.max_title_chars, "title", "max_title_chars", feed_cuts)
    link = _cut(link, limits.max_link_chars, "link", "max_link_chars", feed_cuts)
    if feed_cuts:
        warnings.append("feed " + "; ".join(feed_cuts))
    if repair.count:
        warnings.append(f"repaired mojibake (Arabic read as Latin) in {repair.count} field(s)")
    warnings += notes.warnings()
    return ParsedFeed(
        title=title or None,
        link=link or None,
        entries=tuple(newest),
        ttl_seconds=_ttl_seconds(_get(feed, "ttl")),
        encoding=decoded.encoding,
        warnings=tuple(f"{url}: {warning}" for warning in warnings),
        recovered=recovered,
    )


def _check_limits(limits: LimitSettings) -> None:
    for name in LimitSettings.__dataclass_fields__:
        if getattr(limits, name) < 1:
            raise ValueError(f"limits.{name} must be positive")
    if limits.max_author_chars > MAX_AUTHOR_CHARS_CEILING:
        raise ValueError(f"limits.max_author_chars must be at most {MAX_AUTHOR_CHARS_CEILING}")


def _items_cut(total: int, kept: int, empty: int, max_items: int, in_document: int | None) -> str:
    dropped = total - kept - empty
    text = f"{total} items, more than limits.max_items ({max_items}): kept the newest {kept}"
    text += f", dropped {dropped}"
    if in_document is not None:
        text += f" (only the first and last {max_items} in document order were read)"
    return text


def _prepare(
    text: str, url: str, limits: LimitSettings, warnings: list[str]
) -> tuple[str, int | None]:
    """The XML feedparser may safely see: UTF-8 declared, no DOCTYPE, bounded authors and items,
    and references only to characters. Also the number of items in the document when it had
    more than twice ``max_items`` (else ``None``)."""
    text = _rewrite_declaration(text)
    text = _strip_doctype(text, url, warnings)
    text = _cap_authors(text, limits.max_author_chars, warnings)
    text = _fix_entities(text, warnings)
    text = _fix_references(text, warnings)
    return _cap_items(text, limits.max_items)


# --- encoding -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Decoded:
    text: str
    encoding: str
    """The IANA name of the encoding used: ``utf-8``, ``windows-1256`` ..."""
    warnings: tuple[str, ...] = ()


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# "<?" in UTF-16 without a byte order mark.
_UTF16_MARKS = ((b"<\x00?\x00", "utf-16-le"), (b"\x00<\x00?", "utf-16-be"))
_PROLOG_ENCODING = re.compile(
    rb"""\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._:\-]{1,40})["']"""
)
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:\-]{1,40})""", re.IGNORECASE)
# Codecs Python knows that no feed uses; decoding with them would only do harm.
_REFUSED_CODECS = frozenset(
    {"unicode-escape", "raw-unicode-escape", "utf-7", "idna", "punycode", "undefined"}
)
# Browsers read these labels as windows-1252 (WHATWG Encoding); so do we.
_AS_WINDOWS_1252 = frozenset({"ascii", "iso8859-1", "latin-1"})
_ARABIC_CODECS = frozenset({"cp1256", "iso8859-6", "cp720", "cp864", "mac-arabic"})
_IANA_NAMES = {"cp1256": "windows-1256", "cp1252": "windows-1252", "iso8859-6": "iso-8859-6"}
# A body that is not strict UTF-8 is still read as UTF-8 when at least this many of its
# non-ASCII characters decode (a few corrupt bytes); windows-1256 Arabic decodes almost none.
_UTF8_GOOD_PER_BAD = 4
# Text "looks Arabic" when this share of its non-ASCII characters are Arabic letters. Real
# windows-1256 news text scores above 0.9; random bytes decoded as windows-1256 about 0.35.
_ARABIC_LETTER_SHARE = 0.8
_ARABIC_MIN_LETTERS = 4
_ARABIC_LETTERS = re.compile("[\u0621-\u064a\u0671-\u06d3]")


def _decode(body: bytes, headers: Mapping[str, str]) -> _Decoded:
    """Decide the encoding ourselves and return text; feedparser then only ever sees UTF-8.

    Deterministic order (first match wins):

    1. a byte order mark (UTF-8/16/32), or UTF-16 without one;
    2. the bytes are valid UTF-8 -> UTF-8, whatever was declared (a label is a claim, valid
       UTF-8 is evidence; a warning names a contradicting label);
    3. nearly valid UTF-8 (>= 80 % of the non-ASCII characters decode) -> UTF-8 with U+FFFD
       at the bad bytes only (``é`` never becomes ``Ã©``);
    4. an Arabic encoding declared (HTTP charset first, then the XML prolog) -> that encoding;
    5. the bytes read as windows-1256 look like Arabic -> windows-1256, with a warning (no
       label, or a wrong one such as ``ISO-8859-1`` or ``utf-8``);
    6. another declared encoding that decodes the bytes -> it (ISO-8859-1 read as windows-1252);
    7. windows-1252 with a warning.
    """
    for mark, codec in _BOMS:
        if body.startswith(mark):
            return _decode_unicode(body[len(mark) :], codec)
    for mark, codec in _UTF16_MARKS:
        if body.startswith(mark):
            return _decode_unicode(body, codec)

    warnings: list[str] = []
    labels = _declared_codecs(body, headers, warnings)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        wrong = [label for label, codec in labels if codec != "utf-8"]
        if wrong and not body.isascii():
            warnings.append(f"declared {wrong[0]!r} but the bytes are valid UTF-8; read as UTF-8")
        return _Decoded(text, "utf-8", tuple(warnings))

    lenient = body.decode("utf-8", "replace")
    bad = lenient.count("\ufffd") - body.count("\ufffd".encode())
    good = _non_ascii(lenient) - lenient.count("\ufffd")
    if good >= _UTF8_GOOD_PER_BAD * bad:
        warnings.append(f"{bad} invalid UTF-8 sequence(s) replaced with U+FFFD")
        return _Decoded(lenient, "utf-8", tuple(warnings))

    for _, codec in labels:
        if codec in _ARABIC_CODECS:
            decoded = _try_decode(body, codec)
            if decoded is not None:
                return _Decoded(decoded, _iana(codec), tuple(warnings))

    as_1256 = body.decode("cp1256", "replace")
    if _looks_arabic(as_1256):
        if labels:
            claim = " and ".join(repr(label) for label, _ in labels)
            warnings.append(f"declared {claim} but the bytes are windows-1256 Arabic; read so")
        else:
            warnings.append("no encoding declared; the bytes look like windows-1256 Arabic")
        return _Decoded(as_1256, "windows-1256", tuple(warnings))

    for _, codec in labels:
        decoded = _try_decode(body, codec)
        if decoded is not None:
            return _Decoded(decoded, _iana(codec), tuple(warnings))
    warnings.append(
        "encoding unknown (not UTF-8, not Arabic, no working label); read as windows-1252"
    )
    return _Decoded(body.decode("cp1252", "replace"), "windows-1252", tuple(warnings))


def _decode_unicode(body: bytes, codec: str) -> _Decoded:
    text = body.decode(codec, "replace")
    warnings = () if "\ufffd" not in text else (f"invalid {codec} bytes replaced with U+FFFD",)
    return _Decoded(text, codec.replace("-le", "le").replace("-be", "be"), warnings)


def _declared_codecs(
    body: bytes, headers: Mapping[str, str], warnings: list[str]
) -> list[tuple[str, str]]:
    """(label, Python codec) pairs from the HTTP charset and then the XML prolog."""
    declared: list[str] = []
    charset = _CHARSET.search(_header(headers, "content-type"))
    if charset:
        declared.append(charset.group(1))
    prolog = _PROLOG_ENCODING.match(body, 0, 512)
    if prolog:
        declared.append(prolog.group(1).decode("ascii"))
    pairs: list[tuple[str, str]] = []
    for label in declared:
        codec = _codec(label)
        if codec is None:
            warnings.append(f"unknown encoding {label!r} declared; ignored")
        elif (label, codec) not in pairs:
            pairs.append((label, codec))
    return pairs


def _codec(label: str) -> str | None:
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    if name in _REFUSED_CODECS:
        return None
    return "cp1252" if name in _AS_WINDOWS_1252 else name


def _try_decode(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _iana(codec: str) -> str:
    return _IANA_NAMES.get(codec, codec)


def _non_ascii(text: str) -> int:
    return len(text) - len(text.encode("ascii", "ignore"))


def _looks_arabic(text: str) -> bool:
    non_ascii = _non_ascii(text)
    if non_ascii == 0:
        return False
    letters = len(text) - len(_ARABIC_LETTERS.sub("", text))
    return letters >= _ARABIC_MIN_LETTERS and letters >= _ARABIC_LETTER_SHARE * non_ascii


# --- mojibake in fields ---------------------------------------------------------------------

# Two characters that UTF-8 or windows-1256 Arabic turn into when read as Latin-1/windows-1252:
# "Ø§Ù„" (UTF-8 ال), "ÇáÚÑÈíÉ" (windows-1256 العربية).
_CP1252_EXTRAS = (
    "\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u203a\u20ac\u2122"
)
_MOJIBAKE_HINT = re.compile(f"[\u00c0-\u00ff][\u0080-\u00ff{_CP1252_EXTRAS}]")
_TAG = re.compile(r"<[^<>]*>")
_ASCII_LETTERS = re.compile(r"[A-Za-z]")


class _Repairs:
    """Repairs mojibake in one field at a time and counts the repairs (for one warning)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, text: str) -> str:
        if not _MOJIBAKE_HINT.search(text):
            return text
        fixed = _unmojibake(text)
        if fixed is not None:
            self.count += 1
            return fixed
        return text


def _unmojibake(text: str) -> str | None:
    """The Arabic that ``text`` was before a wrong Latin decoding, or None if it is not that."""
    raw = _latin_bytes(text)
    if raw is None:
        return None  # holds characters no Latin decoding produces: genuine text
    try:
        as_utf8 = raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return as_utf8 if _looks_arabic(as_utf8) else None
    as_1256 = raw.decode("cp1256", "replace")
    # Spanish "año" also maps to Arabic marks in windows-1256: demand Arabic-dominated words.
    words = _TAG.sub(" ", as_1256)
    arabic = len(words) - len(_ARABIC_LETTERS.sub("", words))
    latin = len(_ASCII_LETTERS.findall(words))
    if _looks_arabic(as_1256) and arabic > latin:
        return as_1256
    return None


def _latin_bytes(text: str) -> bytes | None:
    """The bytes a Latin-1 or windows-1252 decoding turned into ``text`` (either, mixed)."""
    try:
        return text.translate(_CP1252_AS_LATIN1).encode("latin-1")
    except UnicodeEncodeError:
        return None


# windows-1252's characters for bytes 0x80-0x9F, mapped back to those bytes' Latin-1 code points.
_CP1252_AS_LATIN1 = {
    ord(char): byte
    for byte in range(0x80, 0xA0)
    if (char := bytes([byte]).decode("cp1252", "ignore"))
}


# --- XML pre-passes -------------------------------------------------------------------------

_XML_DECLARATION = re.compile(r"<\?xml\s[^<>]*\?>")


def _rewrite_declaration(text: str) -> str:
    """Drop leading whitespace and the declared encoding: the bytes will be UTF-8."""
    text = text.lstrip("\ufeff \t\r\n")
    found = _XML_DECLARATION.match(text)
    if found:
        return _UTF8_DECLARATION + text[found.end() :]
    return text


_PROLOG_ITEM = re.compile(r"\s*(<\?|<!--|<!doctype)", re.IGNORECASE)
_DOCTYPE_TOKEN = re.compile(r"""["'\[\]>]|<!--|<\?""")
# feedparser's own idea of the prolog: everything before the first "<" + ASCII word character.
_FIRST_ELEMENT = re.compile(r"<\w", re.ASCII)
_DECLARATION = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def _strip_doctype(text: str, url: str, warnings: list[str]) -> str:
    """Remove every DOCTYPE (internal subset included) from the prolog, in linear time.

    Raises ParseError when a DOCTYPE has no end, or when a DOCTYPE or ENTITY declaration is
    still before the first element afterwards: we fail closed rather than let a parser see it.
    """
    pieces: list[str] = []
    kept_from = pos = 0
    subset = False
    while found := _PROLOG_ITEM.match(text, pos):
        opener = found.group(1)
        if opener == "<?":
            end = text.find("?>", found.end())
            pos = end + 2
        elif opener == "<!--":
            end = text.find("-->", found.end())
            pos = end + 3
        else:
            end, has_subset = _doctype_end(text, found.end())
            if end < 0:
                raise ParseError(
                    f"{url}: not a feed: a DOCTYPE starts but never ends; refused unparsed",
                    code="not_a_feed",
                )
            pieces.append(text[kept_from : found.start(1)])
            kept_from = pos = end
            subset = subset or has_subset
        if end < 0:
            break  # an unterminated comment or PI: the XML parser reports it
    pieces.append(text[kept_from:])
    stripped = "".join(pieces)

    first = _FIRST_ELEMENT.search(stripped)
    if _DECLARATION.search(stripped, 0, first.start() if first else len(stripped)):
        raise ParseError(
            f"{url}: not a feed: a DOCTYPE or ENTITY declaration outside the prolog; refused",
            code="not_a_feed",
        )
    if subset:
        warnings.append("DOCTYPE with an internal subset removed; its entities are not expanded")
    return stripped


def _doctype_end(text: str, pos: int) -> tuple[int, bool]:
    """Index just past the DOCTYPE that starts before ``pos`` (-1 if none), and if it had a subset.

    Quoted strings, comments and processing instructions may hold ``>`` or ``]``; each is
    skipped with one ``find``, so the scan is linear even for an unterminated construct.
    """
    in_subset = had_subset = False
    while found := _DOCTYPE_TOKEN.search(text, pos):
        mark = found.group()
        closer = {'"': '"', "'": "'", "<!--": "-->", "<?": "?>"}.get(mark)
        if closer is not None:
            end = text.find(closer, found.end())
            if end < 0:
                return -1, had_subset
            pos = end + len(closer)
        elif mark == "[":
            in_subset = had_subset = True
            pos = found.end()
        elif mark == "]":
            in_subset = False
            pos = found.end()
        elif in_subset:  # ">" ending a declaration inside the subset
            pos = found.end()
        else:
            return found.end(), had_subset
    return -1, had_subset


_CDATA_OPEN = "<![CDATA["
_AUTHOR_LIKE = re.compile(
    r"<!\[CDATA\[|<(?:[A-Za-z_][\w.\-]*:)?"
    r"(?:author|creator|managingEditor|webMaster|publisher|contributor|owner|name|email)"
    r"(?:\s[^<>]*)?(?<!/)>"
)
_PARTIAL_ENTITY = re.compile(r"&[#\w]{0,32}$")


def _cap_authors(text: str, max_chars: int, warnings: list[str]) -> str:
    """Cut the text of author-like elements to ``max_chars``, in the raw XML (linear).

    feedparser runs a backtracking e-mail regex over every author it reads, so a long one
    must never reach it. CDATA sections elsewhere are skipped whole.
    """
    pieces: list[str] = []
    kept_from = pos = 0
    cut = dropped = 0
    while found := _AUTHOR_LIKE.search(text, pos):
        start = found.end()
        if found.group() == _CDATA_OPEN:  # a CDATA section outside an author element
            end = text.find("]]>", start)
            if end < 0:
                break
            pos = end + 3
            continue
        if text.startswith(_CDATA_OPEN, start):
            start += len(_CDATA_OPEN)
            end = text.find("]]>", start)
        else:
            end = text.find("<", start)
        if end < 0:
            end = len(text)
        if end - start > max_chars:
            short = _PARTIAL_ENTITY.sub("", text[start : start + max_chars])
            pieces += [text[kept_from:start], short]
            kept_from = end
            cut += 1
            dropped += end - start - len(short)
        pos = end
    if not cut:
        return text
    pieces.append(text[kept_from:])
    warnings.append(
        f"{cut} author field(s) longer than limits.max_author_chars ({max_chars}) cut to "
        f"{max_chars} characters ({dropped:,} characters dropped)"
    )
    return "".join(pieces)


_ENTITY_REFERENCE = re.compile(r"&([A-Za-z][A-Za-z0-9]{0,31});")
_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})


def _fix_entities(text: str, warnings: list[str]) -> str:
    """Make entity references well-formed XML without a DTD, outside CDATA sections.

    HTML names (``&nbsp;``, ``&hellip;``) become numeric references, so expat reads the feed
    instead of falling back to the lenient parser; any other name (``&xxe;``) is escaped and
    stays literal text, never expanded.
    """
    unknown: set[str] = set()

    def replace(found: re.Match[str]) -> str:
        name = found.group(1)
        if name in _XML_ENTITIES:
            return found.group()
        chars = html.entities.html5.get(name + ";")
        if chars is None:
            unknown.add(name)
            return "&amp;" + name + ";"
        return "".join(f"&#{ord(c)};" for c in chars)

    fixed = _outside_cdata(text, lambda part: _ENTITY_REFERENCE.sub(replace, part))
    if unknown:
        names = ", ".join(f"&{n};" for n in sorted(unknown)[:5])
        warnings.append(f"undefined entity reference(s) kept as literal text: {names}")
    return fixed


def _outside_cdata(text: str, change: Callable[[str], str]) -> str:
    """Apply ``change`` to the text between CDATA sections (one ``find`` per section)."""
    if "&" not in text:
        return text
    pieces: list[str] = []
    pos = 0
    while (start := text.find(_CDATA_OPEN, pos)) >= 0:
        end = text.find("]]>", start)
        end = len(text) if end < 0 else end + 3
        pieces += [change(text[pos:start]), text[start:end]]
        pos = end
    pieces.append(change(text[pos:]))
    return "".join(pieces)


def _fix_references(text: str, warnings: list[str]) -> str:
    """References to no character -> U+FFFD, UTF-16 pairs joined (``ingest.charrefs``), outside
    CDATA sections (inside one a reference is text, HTML that the cleaner decodes)."""
    replaced = 0

    def fix(part: str) -> str:
        nonlocal replaced
        fixed, count = fix_references(part, xml=True)
        replaced += count
        return fixed

    fixed = _outside_cdata(text, fix)
    if replaced:
        warnings.append(
            f"{replaced} character reference(s) to no valid character (a lone surrogate, beyond "
            "U+10FFFF, a control character) replaced with U+FFFD"
        )
    return fixed


_ITEM_START = re.compile(r"<(?:[A-Za-z_][\w.\-]*:)?(?:item|entry)[\s/>]")


def _cap_items(text: str, max_items: int) -> tuple[str, int | None]:
    """Keep the first and last ``max_items`` items of a huge feed (before feedparser builds them),
    and say how many items the document had (``None`` when nothing was cut here).

    Feeds list newest first (sometimes oldest first); keeping both ends keeps the newest either
    way, and the final newest-first sort then picks ``max_items`` of them.
    """
    limit = 2 * max_items
    if text.count("item") + text.count("entry") <= limit:  # cheap over-estimate
        return text, None
    starts = [found.start() for found in _ITEM_START.finditer(text)]
    if len(starts) <= limit:
        return text, None
    return text[: starts[max_items]] + text[starts[len(starts) - max_items] :], len(starts)


# --- feedparser -----------------------------------------------------------------------------

# Two of feedparser's own steps cost it a third of its time on Arabic feeds, for nothing that
# needs them to be slow; each is replaced here by an exact equivalent (feedparser is pinned),
# checked when this module is imported and by tests/test_parse.py, which parses every test feed
# both ways and requires the same result:
#
# * every element's text goes through ``str.translate(_cp1252)`` (C1 controls read as
#   windows-1252). With a dict, CPython raises and clears a KeyError for every character the
#   table does not map, that is nearly every character of an article: a list over the BMP
#   built from the same dict maps the same characters to the same values without exceptions;
# * every content element's parameters are copied with ``copy.deepcopy``, which for a
#   ``FeedParserDict`` first fails an attribute lookup through its ``__getattr__`` (a raised
#   KeyError) and then rebuilds it through ``__reduce_ex__``. ``__deepcopy__`` below builds the
#   same dict the same way (each key set through ``__setitem__``, each value deep-copied).
#
# Measured on 20 feeds of 50 corpus articles: feedparser as ``_run_feedparser`` calls it
# 345 -> 258 ms (bench/bench_prepare.py has the stage).

_ORIGINAL_CP1252: dict[int, str] = feedparser.html._cp1252
"""feedparser's table (``feedparser.mixin`` reads its own name for it, replaced below)."""


def _feedparser_dict_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
    """``copy.deepcopy`` of a ``FeedParserDict``, as ``copy._reconstruct`` makes it."""
    copied = type(self)()
    memo[id(self)] = copied
    for key, value in self.items():
        copied[copy.deepcopy(key, memo)] = copy.deepcopy(value, memo)
    return copied


def _tune_feedparser() -> None:
    table = _ORIGINAL_CP1252
    if isinstance(table, dict) and all(
        isinstance(code, int) and 0 <= code < 0x10000 and isinstance(char, str)
        for code, char in table.items()
    ):
        spread: list[int | str] = list(range(0x10000))
        for code, char in table.items():
            spread[code] = char
        feedparser.mixin._cp1252 = spread
    parser_dict = feedparser.util.FeedParserDict
    if "__deepcopy__" not in vars(parser_dict) and issubclass(parser_dict, dict):
        parser_dict.__deepcopy__ = _feedparser_dict_deepcopy


_tune_feedparser()


def _run_feedparser(data: bytes, headers: Mapping[str, str], url: str) -> Any:
    response_headers = {"content-type": _FEEDPARSER_CONTENT_TYPE}
    language = _header(headers, "content-language")
    if language:
        response_headers["content-language"] = language
    try:
        # io.BytesIO, not bytes: feedparser.parse(bytes) first tries open(bytes) as a path.
        return feedparser.parse(
            io.BytesIO(data),
            response_headers=response_headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser has no exception contract; any failure is per feed
        # The record gets our words; the exception itself is chained for the log.
        raise ParseError(
            f"{url}: not a feed: the feed parser failed on this body (an input it cannot "
            "handle); no item was read",
            code="not_a_feed",
        ) from exc


def _xml_problem(exc: object) -> str:
    """What is wrong with the XML, in words, with the place: never an exception's repr."""
    if isinstance(exc, xml.sax.SAXParseException):
        where = f"line {exc.getLineNumber()}, column {exc.getColumnNumber()}"
        return f"{exc.getMessage()} at {where}"
    if isinstance(exc, xml.sax.SAXException):
        return exc.getMessage()
    if isinstance(exc, feedparser.UndeclaredNamespace):
        return "an element or attribute prefix without a namespace declaration"
    if isinstance(exc, feedparser.CharacterEncodingOverride):
        return "the declared encoding was overridden"
    if isinstance(exc, feedparser.CharacterEncodingUnknown | feedparser.NonXMLContentType):
        return "the encoding or the content type could not be used"
    return "a problem the feed parser reported"


def _well_formed(data: bytes) -> bool:
    """Whether ``data`` is well-formed XML 1.0, namespaces aside (expat, no DTD left to read)."""
    parser = xml.parsers.expat.ParserCreate()
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError:
        return False
    return True


def _describe_bozo(exc: object, *, items: int, recovered: bool) -> str:
    if recovered:
        return (
            f"not well-formed XML ({_xml_problem(exc)}); "
            f"{items} item(s) recovered by the lenient parser"
        )
    if isinstance(exc, xml.sax.SAXException):
        return f"XML namespace error ({_xml_problem(exc)}); {items} item(s) read"
    return f"feed problem ({_xml_problem(exc)}); {items} item(s) read"


_HTML_START = re.compile(r"\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)[\s>]", re.I | re.S)


def _not_a_feed_reason(text: str, headers: Mapping[str, str], bozo_exc: object) -> str:
    content_type = _header(headers, "content-type").split(";")[0].strip().lower()
    if content_type == "text/html" or _HTML_START.match(text[:4096]):
        return f"an HTML page (Content-Type {content_type or 'missing'}), no RSS or Atom in it"
    if bozo_exc is not None:
        return f"no RSS, RDF or Atom feed found in unreadable XML ({_xml_problem(bozo_exc)})"
    return "well-formed XML, but no RSS, RDF or Atom root element"


# --- entries --------------------------------------------------------------------------------


_NOTE_KINDS = {
    "date": "with a date kept as text, not used",
    "cut": "with a field cut",
}


class _ItemNotes:
    """Per-item warnings of one feed, by kind; the first ``MAX_ITEM_WARNINGS`` of each kind are
    listed and the rest counted, so a feed of 500 bad dates makes 11 lines, not 500."""

    def __init__(self) -> None:
        self.listed: dict[str, list[str]] = {kind: [] for kind in _NOTE_KINDS}
        self.more: dict[str, int] = dict.fromkeys(_NOTE_KINDS, 0)

    def add(self, kind: str, text: str) -> None:
        if len(self.listed[kind]) < MAX_ITEM_WARNINGS:
            self.listed[kind].append(text)
        else:
            self.more[kind] += 1

    def warnings(self) -> list[str]:
        out: list[str] = []
        for kind, listed in self.listed.items():
            out += listed
            if self.more[kind]:
                out.append(f"{self.more[kind]} more item(s) {_NOTE_KINDS[kind]}")
        return out


@dataclass(frozen=True, slots=True)
class _DateRule:
    fetched: datetime | None
    clock_skew: float


@dataclass(frozen=True, slots=True)
class _EntryReader:
    """Reads feedparser's entries into :class:`Entry` records, with one feed's caps and rules."""

    limits: LimitSettings
    repair: _Repairs
    dates: _DateRule
    notes: _ItemNotes

    def entry(self, raw: Any, index: int) -> Entry:
        limits, repair = self.limits, self.repair
        summary = repair(_str(_get(raw, "summary")))
        content = ""
        for part in _get(raw, "content") or []:
            content = _str(_get(part, "value"))
            if content:
                content = repair(content)
                break
        cuts: list[str] = []
        link_cap, title_cap, field_cap = (
            limits.max_link_chars,
            limits.max_title_chars,
            limits.max_field_chars,
        )
        guid = _cut(_stripped(_get(raw, "id")), link_cap, "GUID", "max_link_chars", cuts)
        link = _cut(_stripped(_get(raw, "link")), link_cap, "link", "max_link_chars", cuts)
        title = _cut(repair(_str(_get(raw, "title"))), title_cap, "title", "max_title_chars", cuts)
        if content:
            content = _cut(content, field_cap, "content", "max_field_chars", cuts)
            summary = _cut(summary, field_cap, "summary", "max_field_chars", cuts)
        else:  # the description is the content too: cut (and reported) once
            summary = content = _cut(summary, field_cap, "description", "max_field_chars", cuts)
        # Author-like elements were cut in the XML already (_cap_authors), where the warning is.
        author = repair(_author(raw)).strip()[: limits.max_author_chars]
        published, raw_date, problem = _published(raw, self.dates)
        entry = Entry(
            guid=guid or None,
            link=link or None,
            title=title,
            content=content,
            summary=summary,
            published=published,
            author=author or None,
            published_raw=raw_date,
        )
        if cuts:
            self.notes.add("cut", f"item {_item_name(entry, index)}: " + "; ".join(cuts))
        if raw_date is not None:
            self.notes.add(
                "date",
                f"item {_item_name(entry, index)}: date {_shorten(raw_date)} {problem}; "
                "kept as text, not used",
            )
        return entry


def _cut(text: str, cap: int, what: str, key: str, cuts: list[str]) -> str:
    """``text`` cut to ``cap`` characters; a cut is described in ``cuts``."""
    if len(text) <= cap:
        return text
    cuts.append(
        f"{what} cut to {cap:,} of {len(text):,} characters "
        f"({len(text) - cap:,} dropped; limits.{key})"
    )
    return text[:cap]


def _item_name(entry: Entry, index: int) -> str:
    """How a warning names an item: its GUID, else its link, else its title, else its place."""
    if entry.guid:
        return entry.guid[:200]
    if entry.link:
        return entry.link[:200]
    title = " ".join(entry.title.split())
    if title:
        return _shorten(title)
    return f"#{index + 1} (no GUID, link or title)"


def _shorten(text: str, limit: int = 100) -> str:
    """``repr`` of ``text``, cut to ``limit`` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _author(raw: Any) -> str:
    """The author's name: feedparser's parsed name when it has one, not "name (e-mail)"."""
    detail = _get(raw, "author_detail") or {}
    return _str(_get(detail, "name")) or _str(_get(raw, "author"))


def _published(raw: Any, rule: _DateRule) -> tuple[datetime | None, str | None, str | None]:
    """The item's date in UTC (published, else updated, else created), or, when the item gives
    a date and none of them can be used, ``None`` with the first one's text and its problem.

    Every string is read by ``ingest.dates``, never by feedparser (``*_parsed``): see that
    package's docstring for why. A date that is read is then put to the range rule.
    """
    unused: tuple[str, str] | None = None
    for key in ("published", "updated", "created"):
        text = _str(_get(raw, key)).strip()
        if not text:
            continue
        reading = read_date(text)
        problem = reading.problem or "could not be read"
        if reading.value is not None:
            found = range_problem(reading.value, fetched=rule.fetched, clock_skew=rule.clock_skew)
            if found is None:
                return reading.value, None, None
            problem = found
        if unused is None:
            unused = (text[:MAX_DATE_CHARS], problem)
    if unused is None:
        return None, None, None
    return None, *unused


def _is_empty(entry: Entry) -> bool:
    return not (entry.title.strip() or entry.link or entry.guid or entry.content.strip())


def _newest_first(entries: list[Entry]) -> list[Entry]:
    """Dated entries newest first, then undated ones; ties keep document order (stable sort)."""

    def key(entry: Entry) -> tuple[bool, float]:
        if entry.published is None:
            return (True, 0.0)
        return (False, -entry.published.timestamp())

    return sorted(entries, key=key)


def _ttl_seconds(value: object) -> int | None:
    """RSS ``<ttl>`` is minutes; anything but a non-negative whole number is ignored."""
    text = _str(value).strip()
    if not text.isdecimal() or len(text) > 7:
        return None
    return int(text) * 60


# --- small helpers --------------------------------------------------------------------------


def _get(record: Any, key: str) -> Any:
    """``record[key]`` or None, bypassing FeedParserDict's aliases (its ``updated`` -> ``published``
    fallback emits a DeprecationWarning and would read a date twice)."""
    return dict.get(record, key) if isinstance(record, dict) else None


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _stripped(value: object) -> str:
    return _str(value).strip()


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""
