"""Parse stage: a feed's bytes plus its HTTP headers -> :class:`ParsedFeed` (pure, no I/O).

This is the only module that imports feedparser. The stage, step by step::

    body, headers
      -> _decode            pick the encoding ourselves; the result is text (see _decode)
      -> _strip_doctype     drop the DOCTYPE and its internal subset; fail closed if unterminated
      -> _cap_authors       shorten huge author-like elements before feedparser reads them
      -> _fix_entities      HTML named entities -> numeric references; unknown names -> literal text
      -> _cap_items         more than 2 * max_items items: keep the first and the last max_items
      -> feedparser.parse(io.BytesIO(utf-8 bytes), sanitize_html=False, resolve_relative_uris=False)
      -> _entry             Entry records: raw HTML fields, UTC dates, mojibake repair, caps
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
  elements are cut to ``MAX_AUTHOR_CHARS`` in the raw XML, before feedparser sees them.
* HTML's sanitizing and URL resolving are the cleaner's job (3x faster without, PERF.md).

Fields are returned raw (HTML allowed; ``javascript:`` links included): ``ingest.clean`` filters.
"""

from __future__ import annotations

import codecs
import html.entities
import io
import re
import time
import xml.sax
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from ingest.dates import parse_date
from ingest.errors import ParseError
from ingest.models import Entry, ParsedFeed

__all__ = [
    "DEFAULT_MAX_FIELD_CHARS",
    "DEFAULT_MAX_ITEMS",
    "MAX_AUTHOR_CHARS",
    "MAX_LINK_CHARS",
    "MAX_TITLE_CHARS",
    "parse_date",
    "parse_feed",
]

DEFAULT_MAX_ITEMS = 500
# Caps an item's HTML (content, summary). A long news article is 20-100 KB of HTML; the cleaner
# caps what it feeds to a parser tree again, so this only bounds memory per item.
DEFAULT_MAX_FIELD_CHARS = 500_000
# Tighter caps for fields that are short by nature (each also bounded by max_field_chars).
MAX_TITLE_CHARS = 2_000
MAX_LINK_CHARS = 4_096
# feedparser's author regex is quadratic: 16 KB took 0.9 s, so 256 chars cost about 0.2 ms.
MAX_AUTHOR_CHARS = 256

_UTF8_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'
# What feedparser is told about the bytes we hand it: they are always UTF-8 XML by then.
_FEEDPARSER_CONTENT_TYPE = "application/xml; charset=utf-8"


def parse_feed(
    body: bytes,
    headers: Mapping[str, str],
    *,
    url: str,
    max_items: int = DEFAULT_MAX_ITEMS,
    max_field_chars: int = DEFAULT_MAX_FIELD_CHARS,
) -> ParsedFeed:
    """Parse a feed body (RSS 0.9x/1.0/2.0, Atom) into entries, newest first.

    ``headers`` are the HTTP response headers (any case); their charset is one input of the
    encoding decision. ``url`` only names the feed in errors and warnings. Raises
    :class:`ParseError` (code ``not_a_feed``) when the body is not a feed we can read safely;
    survivable problems (bad XML with items recovered, a mislabelled encoding ...) become
    ``ParsedFeed.warnings``.
    """
    if not isinstance(body, bytes):
        # feedparser treats a str as a path or URL to open: refuse anything but bytes.
        raise TypeError(f"parse_feed needs the body as bytes, not {type(body).__name__}")
    if max_items < 1 or max_field_chars < 1:
        raise ValueError("max_items and max_field_chars must be positive")
    if not body.strip():
        raise ParseError(f"{url}: not a feed: the body is empty", code="not_a_feed")

    decoded = _decode(body, headers)
    warnings = list(decoded.warnings)
    xml_text = _prepare(decoded.text, url, max_items, warnings)
    result = _run_feedparser(xml_text.encode("utf-8"), headers, url)

    raw_entries: list[Any] = list(result.get("entries") or [])
    version: str = result.get("version") or ""
    bozo_exc = result.get("bozo_exception") if result.get("bozo") else None
    if not raw_entries and not version:
        reason = _not_a_feed_reason(decoded.text, headers, bozo_exc)
        raise ParseError(f"{url}: not a feed: {reason}", code="not_a_feed")
    if not version:
        warnings.append("unrecognised feed format; items read anyway")

    repair = _Repairs()
    entries = [_entry(raw, max_field_chars, repair) for raw in raw_entries]
    # The lenient parser makes an entry of a cut-off "<item><title>..." with nothing in it.
    kept = [entry for entry in entries if not _is_empty(entry)]
    if bozo_exc is not None:
        warnings.append(_describe_bozo(bozo_exc, recovered=len(kept)))
    if len(kept) < len(entries):
        warnings.append(
            f"{len(entries) - len(kept)} empty item(s) dropped (no title, link, id, text)"
        )
    feed: Any = result.get("feed") or {}
    title = _optional(repair(_str(_get(feed, "title"))), min(MAX_TITLE_CHARS, max_field_chars))
    if repair.count:
        warnings.append(f"repaired mojibake (Arabic read as Latin) in {repair.count} field(s)")
    return ParsedFeed(
        title=title,
        link=_optional(_str(_get(feed, "link")), min(MAX_LINK_CHARS, max_field_chars)),
        entries=tuple(_newest_first(kept)[:max_items]),
        ttl_seconds=_ttl_seconds(_get(feed, "ttl")),
        encoding=decoded.encoding,
        warnings=tuple(f"{url}: {warning}" for warning in warnings),
    )


def _prepare(text: str, url: str, max_items: int, warnings: list[str]) -> str:
    """The XML feedparser may safely see: UTF-8 declared, no DOCTYPE, bounded authors and items."""
    text = _rewrite_declaration(text)
    text = _strip_doctype(text, url, warnings)
    text = _cap_authors(text, warnings)
    text = _fix_entities(text, warnings)
    return _cap_items(text, max_items, warnings)


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


def _cap_authors(text: str, warnings: list[str]) -> str:
    """Cut the text of author-like elements to MAX_AUTHOR_CHARS, in the raw XML (linear).

    feedparser runs a backtracking e-mail regex over every author it reads, so a long one
    must never reach it. CDATA sections elsewhere are skipped whole.
    """
    pieces: list[str] = []
    kept_from = pos = 0
    cut = 0
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
        if end - start > MAX_AUTHOR_CHARS:
            short = _PARTIAL_ENTITY.sub("", text[start : start + MAX_AUTHOR_CHARS])
            pieces += [text[kept_from:start], short]
            kept_from = end
            cut += 1
        pos = end
    if not cut:
        return text
    pieces.append(text[kept_from:])
    warnings.append(f"{cut} author field(s) longer than {MAX_AUTHOR_CHARS} characters cut")
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


_ITEM_START = re.compile(r"<(?:[A-Za-z_][\w.\-]*:)?(?:item|entry)[\s/>]")


def _cap_items(text: str, max_items: int, warnings: list[str]) -> str:
    """Keep the first and last ``max_items`` items of a huge feed (before feedparser builds them).

    Feeds list newest first (sometimes oldest first); keeping both ends keeps the newest either
    way, and the final newest-first sort then picks ``max_items`` of them.
    """
    limit = 2 * max_items
    if text.count("item") + text.count("entry") <= limit:  # cheap over-estimate
        return text
    starts = [found.start() for found in _ITEM_START.finditer(text)]
    if len(starts) <= limit:
        return text
    warnings.append(
        f"{len(starts)} items; only the first and last {max_items} in document order were read"
    )
    return text[: starts[max_items]] + text[starts[len(starts) - max_items] :]


# --- feedparser -----------------------------------------------------------------------------


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
        raise ParseError(
            f"{url}: not a feed: feedparser failed ({type(exc).__name__}: {exc})",
            code="not_a_feed",
        ) from exc


def _describe_bozo(exc: object, *, recovered: int) -> str:
    if isinstance(exc, xml.sax.SAXParseException):
        where = f"line {exc.getLineNumber()}, column {exc.getColumnNumber()}"
        return (
            f"not well-formed XML ({exc.getMessage()} at {where}); "
            f"{recovered} item(s) recovered by the lenient parser"
        )
    return f"feed problem ({type(exc).__name__}: {exc}); {recovered} item(s) read"


_HTML_START = re.compile(r"\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)[\s>]", re.I | re.S)


def _not_a_feed_reason(text: str, headers: Mapping[str, str], bozo_exc: object) -> str:
    content_type = _header(headers, "content-type").split(";")[0].strip().lower()
    if content_type == "text/html" or _HTML_START.match(text[:4096]):
        return f"an HTML page (Content-Type {content_type or 'missing'}), no RSS or Atom in it"
    if bozo_exc is not None:
        return f"no RSS, RDF or Atom feed found in unreadable XML ({bozo_exc})"
    return "well-formed XML, but no RSS, RDF or Atom root element"


# --- entries --------------------------------------------------------------------------------


def _entry(raw: Any, max_field_chars: int, repair: _Repairs) -> Entry:
    summary = repair(_str(_get(raw, "summary")))
    content = ""
    for part in _get(raw, "content") or []:
        content = _str(_get(part, "value"))
        if content:
            content = repair(content)
            break
    return Entry(
        guid=_optional(_str(_get(raw, "id")), min(MAX_LINK_CHARS, max_field_chars)),
        link=_optional(_str(_get(raw, "link")), min(MAX_LINK_CHARS, max_field_chars)),
        title=repair(_str(_get(raw, "title")))[: min(MAX_TITLE_CHARS, max_field_chars)],
        content=(content or summary)[:max_field_chars],
        summary=summary[:max_field_chars],
        published=_published(raw),
        author=_optional(repair(_author(raw)), min(MAX_AUTHOR_CHARS, max_field_chars)),
    )


def _author(raw: Any) -> str:
    """The author's name: feedparser's parsed name when it has one, not "name (e-mail)"."""
    detail = _get(raw, "author_detail") or {}
    return _str(_get(detail, "name")) or _str(_get(raw, "author"))


_ARABIC_OR_ARABIC_DIGITS = re.compile("[\u0600-\u06ff]")


def _published(raw: Any) -> datetime | None:
    """The item's date in UTC: published, else updated, else created.

    feedparser's reading is used for Latin-script dates; a date written with Arabic letters or
    digits is read by ``ingest.dates.parse_date`` first, as are strings feedparser gave up on.
    """
    for key in ("published", "updated", "created"):
        text = _str(_get(raw, key)).strip()
        theirs = _from_struct(_get(raw, key + "_parsed"))
        if text and _ARABIC_OR_ARABIC_DIGITS.search(text):
            found = parse_date(text) or theirs
        else:
            found = theirs or (parse_date(text) if text else None)
        if found is not None:
            return found
    return None


def _from_struct(value: object) -> datetime | None:
    """feedparser's UTC ``time.struct_time`` -> aware datetime (None if absent or impossible)."""
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime(*value[:5], min(value[5], 59), tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


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


def _optional(text: str, cap: int) -> str | None:
    text = text.strip()[:cap]
    return text or None


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""
