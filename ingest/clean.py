"""The cleaner: an item's HTML (or plain text) becomes display paragraphs, minus residue.

This is the only module that imports ``bs4`` (with the ``lxml`` tree builder; html5lib is
never used: it is quadratic on hostile input). It only *removes residue*; near-duplicate
paragraphs are dropped afterwards by ``dedupe.py``. Display text is never normalised:
Arabic letters, diacritics, tatweel and punctuation come out exactly as they went in.

::

    clean_any(text)              sniff: tags -> clean_html, otherwise -> clean_text
      clean_html(html)           cap size and tag count -> BeautifulSoup(lxml) -> blocks
      clean_text(text)           one block per line
    blocks -> _clean_block()     per block: shortcodes, trailers, source lines, "read also"
           -> trailing pass      "المصدر: وكالات" only when nothing kept follows it
           -> Cleaned(paragraphs, removed, positions, links)

**Blocks.** ``p``, ``div``, ``li``, ``h1``-``h6``, ``blockquote``, ``figcaption``, ``td`` and
the other block elements each start a new block, and so does every ``<br>`` and every line
of a ``<pre>``; inline elements are joined as the browser would join them. HTML with no
block element and no ``<br>`` at all (a post stored before WordPress's ``wpautop``, a
description with one ``<a>``) is text with inline markup: its line breaks separate blocks,
as in plain text. ``script``, ``style``, ``template``, ``noscript``, ``iframe``, ``form``,
``embed``, ``object``, ``svg``, ``canvas``, ``video``, ``audio``, ``button``, ``select``,
``input``, ``textarea`` (and the document ``head``) are dropped *with their content*;
comments and processing instructions too. Character references are decoded, so escaped
markup stays literal text: ``Hello &lt;script&gt;x&lt;/script&gt;`` becomes
``Hello <script>x</script>``. ``<img alt>`` text is not content and is not kept.

**Whitespace.** Runs of whitespace, including NBSP (U+00A0), narrow NBSP (U+202F), the
other Unicode spaces and ZERO WIDTH SPACE (U+200B, a word boundary, so it becomes a space
rather than gluing two words), collapse to one space; ends are trimmed. Invisible format
characters are deleted: bidi marks and embeddings (U+200E, U+200F, U+061C, U+202A-U+202E,
U+2066-U+2069), WORD JOINER (U+2060), BOM (U+FEFF), soft hyphen (U+00AD), C0/C1 controls.
ZWNJ and ZWJ (U+200C, U+200D) are kept between two visible characters, where they shape a
word (Persian, emoji sequences), and deleted next to a space or at an end, where they are
editor residue. Lone surrogates become U+FFFD.

**Positions.** Blocks without a letter or digit (empty, whitespace, punctuation, emoji
only) are dropped silently and get no position: they are not "pieces". Every other block
gets the next position, whether it is kept or removed, and ``Cleaned.positions`` and
``Removed.position`` use it.

**What is removed** (``Removed.reason``); a block removed whole is recorded once, with its
text; a piece cut from inside a kept block is recorded with the cut text and that block's
position:

================== ======================================================================
``ad_marker``      WordPress ad shortcodes: ``[ad_1]``, ``[ad_2]``, ``[ad]``, ``[ads1]``,
                   ``[adsense]``, ``[advert id=3]`` ... as a whole block or inline.
``shortcode``      other WordPress shortcodes: names in :data:`KNOWN_SHORTCODES`, names
                   with ``_`` or ``-`` (``[source_link]``, ``[vc_row]``), or tags with
                   ``key=value`` attributes. Media shortcodes (:data:`DROP_CONTENT_SHORTCODES`:
                   ``[embed]...[/embed]``, ``[video ...]`` ...) go with their content;
                   others, like ``[caption ...]<img> text[/caption]``, keep it (the caption).
                   ``[Reuters]``, ``[1]`` and Arabic words in brackets are text, not codes.
``source_trailer`` a bare ``المصدر`` / ``المصدر:`` line anywhere; ``المصدر: وكالات`` (a short
                   name after a colon or dash) only in the trailing lines of the item, so
                   ``المصدر الأمني أكد ...`` is never touched; "The post X appeared first on
                   Y." (and the Arabic WordPress wording), whole or at the end of a block.
``truncation_marker`` ``[…]`` / ``[...]`` ending a description: the marker goes, the text
                   stays.
``placeholder``    a block that is nothing but "details shortly", as a breaking-news item
                   carries before its text exists: ``التفاصيل بعد قليل..`` (Al Jazeera),
                   ``التفاصيل لاحقا``, ``تفاصيل أكثر بعد قليل``, ``المزيد من التفاصيل
                   قريبا``, with any diacritics, tatweel and trailing dots
                   (:data:`PLACEHOLDER_PATTERN`). An item with nothing else has an empty body.
                   The words inside a sentence are left alone.
``read_also``      a block starting with "اقرأ أيضا" (and the spellings in
                   :data:`READ_ALSO_PATTERN`, and CNN's bare "أيضا:") whose rest is a
                   headline of at most :data:`READ_ALSO_MAX_CHARS` characters or mostly
                   link text; inside a block, the marker and the short headline that ends
                   the block after ``:``, ``|``, ``-`` or ``...``, the marker and the link
                   that follows it, or a bare "اقرأ المزيد" ending the block. Prose such as
                   "المشاهد أيضاً" or "شاهد أيضا الوزير ..." is left alone.
================== ======================================================================

Not removed, on purpose: hashtags (``#عاصي_الحلاني`` stays as written), bylines and "follow
us" lines (``boilerplate.py`` learns a feed's recurring lines).

**Links.** ``Cleaned.links`` are the ``<a href>`` targets that :func:`ingest.urls.safe_link`
accepts (absolute http/https only), from kept blocks whose anchor text survived cleaning,
deduplicated by :func:`ingest.urls.canonical_url`, in document order.

**Titles.** :func:`clean_title` treats markup in a title as markup, whatever feedparser
called it: real ``<script>`` elements are dropped with their content, escaped ones
(``&lt;script&gt;``) stay as literal text, character references are decoded, shortcodes are
removed, and the result is one line. Every output path must still escape it.

**Bounds.** HTML is cut to ``limits.max_html_chars`` characters and then to
``limits.max_html_tags`` tags before any tree is built (tag-dense input costs about 150 times
its size in memory); each cut is a warning in ``Cleaned.warnings`` with the counts kept and
dropped. The tree walk is iterative (100k nested tags are fine) and every regular expression is
linear. Plain text is not capped (it costs linear time; field caps belong to the parser).

**Character references.** Before HTML (or escaped plain text) is decoded, a UTF-16 surrogate
pair written as two references (``&#55357;&#56832;``) becomes the character it encodes, and a
reference to a lone surrogate, to nothing beyond U+10FFFF or to U+0000 becomes U+FFFD, counted
in a warning (``ingest.charrefs``).

**Warnings** (``Cleaned.warnings``) name neither the feed nor the item: the caller does.
"""

from __future__ import annotations

import html as htmllib
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bs4 import BeautifulSoup
from bs4.builder._lxml import LXMLTreeBuilder
from bs4.element import (
    NavigableString,
    PreformattedString,
    Script,
    Stylesheet,
    Tag,
    TemplateString,
)
from bs4.exceptions import ParserRejectedMarkup
from lxml import etree

from ingest.charrefs import fix_references
from ingest.models import Cleaned, Reason, Removed
from ingest.settings import LimitSettings
from ingest.urls import canonical_url, safe_link

__all__ = [
    "AD_MARKER",
    "MAX_HTML_CHARS",
    "MAX_TAGS",
    "PLACEHOLDER",
    "READ_ALSO",
    "SHORTCODE",
    "SOURCE_TRAILER",
    "TRUNCATION_MARKER",
    "clean_any",
    "clean_html",
    "clean_text",
    "clean_title",
    "looks_like_html",
]

AD_MARKER = Reason.AD_MARKER
SHORTCODE = Reason.SHORTCODE
SOURCE_TRAILER = Reason.SOURCE_TRAILER
TRUNCATION_MARKER = Reason.TRUNCATION_MARKER
READ_ALSO = Reason.READ_ALSO
PLACEHOLDER = Reason.PLACEHOLDER

DEFAULT_LIMITS = LimitSettings()
MAX_HTML_CHARS = DEFAULT_LIMITS.max_html_chars
"""Default cap on an item's HTML, applied before parsing (HOSTILE 23); ``[limits]``."""

MAX_TAGS = DEFAULT_LIMITS.max_html_tags
"""Default cap on the number of ``<`` in the HTML handed to the parser. A real article has a
few hundred tags (a long one with tables a few thousand); 50k keeps the tree of a 1 MB tag soup
to about 0.5 s and 60 MB instead of 2.3 s and 170 MB."""

READ_ALSO_MAX_CHARS = 150
"""Longest "read also" headline removed on length alone. Headlines in the ANT corpus run
40 to 100 characters; a real paragraph starting with the phrase is longer."""

SOURCE_NAME_MAX_CHARS = 50
SOURCE_NAME_MAX_WORDS = 6
"""A trailing "المصدر: ..." line is residue only when the name after it is this short."""

TRAILER_MAX_CHARS = 600
"""Longest "The post X appeared first on Y." trailer (X is a title, Y a site name)."""

# ---------------------------------------------------------------------------------------
# Characters

# Lone surrogates (Python cannot encode them) and C0/C1 controls (lxml refuses NUL).
_SURROGATES = re.compile("[\ud800-\udfff]")
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
_UNPARSABLE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff]")
# Invisible format characters deleted from display text.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u061c\u180e\u200e\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
# Anything but a plain space that _normalise must look at: whitespace, format characters.
_UNUSUAL = re.compile(
    "[\x00-\x1f\x7f-\xa0\u00ad\u061c\u1680\u180e\u2000-\u200f\u2028-\u202f"
    "\u205f-\u206f\u3000\ufeff\ud800-\udfff]"
)
_LOOSE_JOINERS = re.compile("(?:^|(?<= ))[\u200c\u200d]+|[\u200c\u200d]+(?= |$)")
_DOUBLE_SPACE = re.compile(" {2,}")
_CONTENT = re.compile(r"[^\W_]")  # a letter or a digit


def _normalise(text: str) -> str:
    """Collapse whitespace and delete invisible characters; display letters are untouched."""
    if "  " not in text and _UNUSUAL.search(text) is None:
        return text.strip(" ")  # the common case: nothing to do
    if "\u200b" in text:
        text = text.replace("\u200b", " ")  # a word boundary, not a joiner
    if _SURROGATES.search(text):
        text = _SURROGATES.sub("\ufffd", text)
    if _INVISIBLE.search(text):
        text = _INVISIBLE.sub("", text)
    # str.split() splits on exactly the Unicode whitespace we collapse, NBSPs included.
    text = " ".join(text.split())
    if "\u200c" in text or "\u200d" in text:
        text = _DOUBLE_SPACE.sub(" ", _LOOSE_JOINERS.sub("", text)).strip(" ")
    return text


def _has_content(text: str) -> bool:
    return _CONTENT.search(text) is not None


def _sanitise(text: str) -> str:
    """What lxml and the UTF-8 encoder need: no controls, surrogates become U+FFFD."""
    if _UNPARSABLE.search(text):
        text = _SURROGATES.sub("\ufffd", _CONTROLS.sub("", text))
    return text


# ---------------------------------------------------------------------------------------
# Blocks


@dataclass(frozen=True, slots=True)
class _Block:
    """One block of text before the rules run, with the links found in it."""

    text: str
    links: tuple[tuple[str, str], ...] = ()
    """``(href, anchor text)`` of each safe link in the block."""


_DROP_TAGS = frozenset(
    {
        "script", "style", "template", "noscript", "iframe", "frame", "frameset", "noframes",
        "form", "embed", "noembed", "object", "applet", "param", "svg", "canvas", "video",
        "audio", "source", "track", "button", "select", "option", "optgroup", "datalist",
        "textarea", "input", "head", "title", "meta", "link", "base", "map", "area",
    }
)  # fmt: skip
_BLOCK_TAGS = frozenset(
    {
        "html", "body", "address", "article", "aside", "blockquote", "caption", "center",
        "dd", "details", "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption",
        "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr",
        "legend", "li", "main", "menu", "nav", "ol", "p", "pre", "search", "section",
        "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
_SKIPPED_STRINGS = (PreformattedString, Script, Stylesheet, TemplateString)


class _End:
    """Stack marker: the element opened earlier ends here."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind


_END_BLOCK = _End("block")
_END_LINK = _End("link")
_END_PRE = _End("pre")


class _BlockBuilder:
    """Collects text pieces into blocks while the tree is walked."""

    def __init__(self) -> None:
        self.blocks: list[_Block] = []
        self.pieces: list[str] = []
        self.links: list[tuple[str, str]] = []
        self.href: str | None = None
        self.anchor: list[str] = []
        self.newline_depth = 0
        """Above zero inside ``<pre>`` (or in inline-only HTML): a newline ends the block."""

    def text(self, text: str) -> None:
        if self.newline_depth and "\n" in text:
            first, *rest = text.split("\n")
            self._add(first)
            for line in rest:
                self.flush()
                self._add(line)
        else:
            self._add(text)

    def _add(self, text: str) -> None:
        self.pieces.append(text)
        if self.href is not None:
            self.anchor.append(text)

    def open_link(self, href: str | None) -> None:
        self.close_link()
        self.href = href

    def close_link(self) -> None:
        if self.href is not None:
            self.links.append((self.href, _normalise("".join(self.anchor))))
        self.href = None
        self.anchor = []

    def flush(self) -> None:
        # A link that spans a block boundary continues in the next block.
        href = self.href
        self.close_link()
        self.href = href
        text = _normalise("".join(self.pieces)) if self.pieces else ""
        if _has_content(text):
            self.blocks.append(_Block(text, tuple(self.links)))
        self.pieces = []
        self.links = []


def _html_blocks(html: str) -> list[_Block]:
    """Parse ``html`` (already capped) and walk its tree into text blocks."""
    if "<" not in html:
        # No tags: nothing for a parser to do (and bs4 would warn that it looks like a path).
        return _blocks_of_lines(htmllib.unescape(html).splitlines())
    root = _parse(html)
    if root is None:
        return _blocks_of_lines(htmllib.unescape(_ANY_TAG.sub(" ", html)).splitlines())
    builder = _BlockBuilder()
    if not _BLOCK_SIGN.search(html):
        # Inline markup only, as WordPress stores a post before wpautop adds <p>: its line
        # breaks are its paragraph breaks, as in plain text.
        builder.newline_depth = 1
    # Iterative depth-first walk: 100k nested tags must not hit the recursion limit.
    stack: list[object] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, Tag):
            _enter(node, builder, stack)
        elif isinstance(node, NavigableString):
            if not isinstance(node, _SKIPPED_STRINGS):
                builder.text(str(node))
        elif node is _END_BLOCK:
            builder.flush()
        elif node is _END_LINK:
            builder.close_link()
        elif node is _END_PRE:
            builder.newline_depth -= 1
    builder.flush()
    return builder.blocks


def _enter(tag: Tag, builder: _BlockBuilder, stack: list[object]) -> None:
    name = tag.name
    if name in _DROP_TAGS:
        return
    if name == "br":
        builder.flush()
        return
    if name in _BLOCK_TAGS:
        builder.flush()
        stack.append(_END_BLOCK)
        if name == "pre":
            builder.newline_depth += 1
            stack.append(_END_PRE)
    elif name == "a":
        href = tag.get("href")
        builder.open_link(safe_link(href) if isinstance(href, str) else None)
        stack.append(_END_LINK)
    stack.extend(reversed(tag.contents))


_ANY_TAG = re.compile(r"<[^<>]{0,10000}>")
_BLOCK_SIGN = re.compile(
    r"<(?:br|" + "|".join(sorted(_BLOCK_TAGS - {"html", "body"})) + r")(?=[\s/>])", re.IGNORECASE
)


class _LXMLTreeBuilder(LXMLTreeBuilder):
    """bs4's lxml HTML tree builder, keeping its lxml parser from one document to the next.

    ``LXMLTreeBuilder.feed`` makes a new ``lxml.etree.HTMLParser`` (with the builder as its
    target) for every document, and making one cost more than a third of the tree building
    (lxml inspects the target's methods each time). lxml's feed parser is made to be reused
    after ``close()``; this ``feed`` is bs4's with that one change. A parser that failed, or
    a document with a declared encoding (never ours: we parse text), gets bs4's own path.
    """

    _reusable: Any = None  # the lxml parser, between two documents

    def feed(self, markup: str | bytes) -> None:
        assert self.soup is not None
        if self.soup.original_encoding is not None:
            super().feed(markup)
            return
        parser, self._reusable = self._reusable or self.parser_for(None), None
        self.parser = parser
        try:
            parser.feed(markup)
            parser.close()
        except (UnicodeDecodeError, LookupError, etree.ParserError) as exc:
            raise ParserRejectedMarkup(exc) from exc
        self._reusable = parser  # only after a clean close


_BUILDERS = threading.local()


def _lxml_builder() -> LXMLTreeBuilder:
    """This thread's lxml tree builder: ``BeautifulSoup(html, "lxml")``'s, made once per thread
    and handed to each ``BeautifulSoup`` (bs4 takes a builder instance; making one per item
    cost 9% of the tree building). In HTML mode it keeps nothing from one document to the next
    (lxml's HTML parser reports no namespaces), and the lxml parser it keeps is reset by
    ``close()``. Together, trees cost 0.63x the time (``bench/bench_prepare.py``)."""
    builder: LXMLTreeBuilder | None = getattr(_BUILDERS, "lxml", None)
    if builder is None:
        builder = _BUILDERS.lxml = _LXMLTreeBuilder()
    return builder


def _parse(html: str) -> BeautifulSoup | None:
    # bs4 warns when markup starts with "<?xml" (and tests turn warnings into errors); a
    # leading space changes nothing for the HTML parser, which drops the declaration anyway.
    if html.startswith("<?xml"):
        html = " " + html
    try:
        return BeautifulSoup(html, builder=_lxml_builder())
    except ParserRejectedMarkup:
        pass
    try:
        return BeautifulSoup(html, "html.parser")
    except ParserRejectedMarkup:
        return None


def _cap(html: str, limits: LimitSettings, warnings: list[str]) -> str:
    """``html`` cut to the character and tag caps, references fixed, ready for a parser."""
    max_chars, max_tags = limits.max_html_chars, limits.max_html_tags
    if len(html) > max_chars:
        warnings.append(
            f"HTML cut to {max_chars:,} of {len(html):,} characters "
            f"({len(html) - max_chars:,} dropped; limits.max_html_chars)"
        )
        html = html[:max_chars]
    tags = html.count("<")
    if tags > max_tags:
        cut = -1
        for _ in range(max_tags + 1):
            cut = html.find("<", cut + 1)
        warnings.append(
            f"HTML cut at tag {max_tags:,} of {tags:,} ({len(html) - cut:,} characters dropped; "
            "limits.max_html_tags)"
        )
        html = html[:cut]
    return _sanitise(_fix_references(html, warnings))


def _fix_references(text: str, warnings: list[str]) -> str:
    fixed, replaced = fix_references(text)
    if replaced:
        warnings.append(
            f"{replaced} character reference(s) to no character (a lone surrogate, beyond "
            "U+10FFFF) replaced with U+FFFD"
        )
    return fixed


def _blocks_of_lines(lines: Iterable[str]) -> list[_Block]:
    blocks = []
    for line in lines:
        text = _normalise(line)
        if _has_content(text):
            blocks.append(_Block(text))
    return blocks


# ---------------------------------------------------------------------------------------
# Residue rules

KNOWN_SHORTCODES = frozenset(
    {
        "caption", "embed", "gallery", "video", "audio", "playlist", "youtube", "vimeo",
        "tweet", "twitter", "instagram", "facebook", "soundcloud", "iframe", "googlemaps",
        "related", "button", "dropcap", "pullquote", "spoiler",
    }
)  # fmt: skip
"""Shortcode names recognised without ``_``, ``-`` or attributes."""

DROP_CONTENT_SHORTCODES = frozenset(
    {
        "embed", "video", "audio", "playlist", "youtube", "vimeo", "tweet", "twitter",
        "instagram", "facebook", "soundcloud", "iframe", "googlemaps", "related",
        "source_link", "ad", "ads", "adsense",
    }
)  # fmt: skip
"""Enclosing shortcodes whose content is a media URL or widget, removed with the tags."""

_SHORTCODE_TAG = re.compile(r"\[(/?)([A-Za-z][A-Za-z0-9_-]{0,40})(\s[^\[\]]{0,2000})?\]")
_AD_NAME = re.compile(
    r"(?:ad|ads|adv|adsense|advert|advertisement|advertising|adsbygoogle)(?:[_-]?\d{1,3})?",
    re.IGNORECASE,
)


@dataclass(slots=True)
class _Cut:
    """A span of a block's text to remove, and why."""

    start: int
    end: int
    reason: str


@dataclass(slots=True)
class _Result:
    text: str | None
    removed: list[tuple[str, str]] = field(default_factory=list)


def _shortcode_cuts(text: str) -> list[_Cut]:
    if "[" not in text:
        return []
    tags = [m for m in _SHORTCODE_TAG.finditer(text) if _is_shortcode(m)]
    opened = {m.group(2).lower() for m in tags if not m.group(1)}
    cuts: list[_Cut] = []
    consumed = 0  # tags before this index are inside an earlier cut
    for i, tag in enumerate(tags):
        if i < consumed:
            continue
        closing, name = bool(tag.group(1)), tag.group(2).lower()
        if closing and name not in opened and not _is_known(name):
            continue
        reason = AD_MARKER if _AD_NAME.fullmatch(name) else SHORTCODE
        end = tag.end()
        if not closing and name in DROP_CONTENT_SHORTCODES:
            for j in range(i + 1, len(tags)):
                if tags[j].group(1) and tags[j].group(2).lower() == name:
                    end, consumed = tags[j].end(), j + 1
                    break
        cuts.append(_Cut(tag.start(), end, reason))
    return cuts


def _is_known(name: str) -> bool:
    return name in KNOWN_SHORTCODES or "_" in name or "-" in name or bool(_AD_NAME.fullmatch(name))


def _is_shortcode(tag: re.Match[str]) -> bool:
    return _is_known(tag.group(2).lower()) or "=" in (tag.group(3) or "")


def _apply_cuts(text: str, cuts: list[_Cut], result: _Result) -> str:
    """Remove ``cuts`` from ``text``, recording each, and re-normalise what is left."""
    parts: list[str] = []
    last = 0
    for cut in cuts:
        parts.append(text[last : cut.start])
        result.removed.append((cut.reason, text[cut.start : cut.end]))
        last = cut.end
    parts.append(text[last:])
    # A space where a piece was: "word[ad_1]word" must not become one word.
    return _normalise(" ".join(parts))


_TITLE = f".{{1,{TRAILER_MAX_CHARS}}}?"
_POST_TRAILER = re.compile(
    r"(?:^|(?<=\s))(?:"
    rf"(?:The post|The article)\s{_TITLE}\s(?:appeared first|first appeared) on\s"
    rf"|(?:ظهرت المقالة|ظهر المقال|ظهرت التدوينة|ظهر المنشور)\s{_TITLE}\s(?:أولاً|أولا) على\s"
    r").{1,200}$",
    re.IGNORECASE,
)
_TRUNCATION = re.compile(r"(?:\s*\[\s*(?:…|\.{2,3})\s*\])+\s*$")
_SEPARATORS = " :：|/\\-–—.…»«،,>"
_BARE_SOURCE = re.compile(r"(?:المصدر|المصادر|Source|Sources)\s*[:：]?", re.IGNORECASE)
_NAMED_SOURCE = re.compile(
    r"(?:المصدر|المصادر|Source|Sources)\s*[:：\-–—|]\s*(?P<name>[^:：]+)", re.IGNORECASE
)

READ_ALSO_PATTERN = (
    r"(?:(?:[اإأ]قر[أاء]|شاهد|طالع)\s+(?:[اأإ]يض[\u064b-\u0652]*ا[\u064b-\u0652]*|المزيد|كذلك)"
    r"|read\s+(?:also|more))"
)
""""Read also" / "read more" / "see also" in the spellings found in Arabic feeds."""
_WORD_BEFORE = r"(?<![\w\u0640-\u0652])"
_READ_ALSO_START = re.compile(
    r"^[\s»«•·*>|:\-–—]*(?:"
    + READ_ALSO_PATTERN
    + r"(?![\w\u0640])|[اأ]يض[\u064b-\u0652]*ا[\u064b-\u0652]*\s*:)",
    re.IGNORECASE,
)
_READ_ALSO_INLINE = re.compile(_WORD_BEFORE + READ_ALSO_PATTERN + r"(?![\w\u0640])", re.IGNORECASE)
_KEPT_END = " ،,;:|-–—"
_PAST_TENSE = re.compile(r"[^\w]*(?:شاهد|طالع)")


PLACEHOLDER_PATTERN = r"(?:المزيد\s+من\s+)?(?:ال)?تفاصيل(?:\s+اكثر)?\s+(?:بعد\s+قليل|لاحقا|قريبا)"
"""A breaking-news item's "details shortly", on text without diacritics or tatweel and with
alef forms folded (:func:`_fold_placeholder`)."""
_PLACEHOLDER = re.compile(rf"[\s.…:\-–—|]*{PLACEHOLDER_PATTERN}[\s.…!]*")
_PLACEHOLDER_MAX_CHARS = 80  # the longest variant with every diacritic is about 45
_PLACEHOLDER_MARKS = re.compile("[\u0640\u064b-\u0652\u0670]")
_ALEFS = str.maketrans("أإآ", "ااا")


def _is_placeholder(text: str) -> bool:
    """Whether ``text`` is nothing but "details shortly" (conservative: the whole block)."""
    if len(text) > _PLACEHOLDER_MAX_CHARS:
        return False
    folded = _PLACEHOLDER_MARKS.sub("", text).translate(_ALEFS)
    return _PLACEHOLDER.fullmatch(folded) is not None


_MAX_PASSES = 8


def _clean_block(block: _Block) -> _Result:
    """Apply the residue rules to one block; ``text`` is ``None`` when nothing is left."""
    original = block.text
    result = _Result(original)
    text = original
    cuts = _shortcode_cuts(text)
    if cuts:
        text = _apply_cuts(text, cuts, result)
    # Removing one piece can expose another ("text اقرأ المزيد […]"): repeat until stable.
    for _ in range(_MAX_PASSES):
        before = text
        text = _strip_post_trailer(text, result)
        text = _strip_truncation_marker(text, result)
        if _has_content(text):
            text = _strip_read_also(text, block.links, result)
        if text == before:
            break
    if _BARE_SOURCE.fullmatch(text):
        result.removed.append((SOURCE_TRAILER, text))
        text = ""
    elif _is_placeholder(text):
        return _Result(None, [(PLACEHOLDER, original)])
    if not _has_content(text):
        # The whole block was residue: one record for the block, with its text.
        reason = result.removed[0][0] if result.removed else SHORTCODE
        return _Result(None, [(reason, original)])
    result.text = text
    return result


def _strip_post_trailer(text: str, result: _Result) -> str:
    if "appeared" in text or ("ظهر" in text and "أول" in text):
        match = _POST_TRAILER.search(text)
        if match:
            result.removed.append((SOURCE_TRAILER, match.group()))
            return _normalise(text[: match.start()])
    return text


def _strip_truncation_marker(text: str, result: _Result) -> str:
    if text.endswith("]"):
        match = _TRUNCATION.search(text)
        if match:
            result.removed.append((TRUNCATION_MARKER, match.group().strip()))
            return _normalise(text[: match.start()])
    return text


def _may_read_also_inline(text: str) -> bool:
    # Substring tests are ten times faster than the unanchored expression they guard.
    return (
        "قرأ" in text
        or "اقرا" in text
        or "إقرا" in text
        or "قرء" in text
        or "شاهد" in text
        or "طالع" in text
        or "ead" in text
        or "EAD" in text
    )


def _strip_read_also(text: str, links: tuple[tuple[str, str], ...], result: _Result) -> str:
    match = _READ_ALSO_START.match(text)
    if match:
        rest = text[match.end() :].lstrip(_SEPARATORS)
        # "شاهد"/"طالع" are also past tenses ("he watched"): without a separator or a link,
        # "شاهد أيضا الوزير العرض." is a sentence. "اقرأ" can only be the imperative.
        sentence = _PAST_TENSE.match(match.group()) and not _separated(text[match.end() :])
        headline = len(rest) <= READ_ALSO_MAX_CHARS and not sentence
        if not rest or headline or _mostly_links(rest, links):
            result.removed.append((READ_ALSO, text))
            return ""
        anchor = _leading_anchor(rest, links)
        if anchor:
            cut_end = len(text) - len(rest) + len(anchor)
            result.removed.append((READ_ALSO, text[:cut_end]))
            return _normalise(text[cut_end:].lstrip(_SEPARATORS))
        return text
    if not _may_read_also_inline(text):
        return text
    for match in _READ_ALSO_INLINE.finditer(text):
        after = text[match.end() :]
        rest = after.lstrip(_SEPARATORS)
        separated = _separated(after)
        anchor = _leading_anchor(rest, links)
        if not rest:
            # A bare "read more" link label at the end; "شاهد أيضا." may end a sentence.
            if "المزيد" not in match.group() and "more" not in match.group().lower():
                continue
            cut_end = len(text)
        elif separated and len(rest) <= READ_ALSO_MAX_CHARS:
            cut_end = len(text)
        elif anchor:
            cut_end = len(text) - len(rest) + len(anchor)
        else:
            continue
        result.removed.append((READ_ALSO, text[match.start() : cut_end].strip()))
        kept = text[: match.start()].rstrip(_KEPT_END) + " " + text[cut_end:]
        return _normalise(kept)
    return text


def _separated(after: str) -> bool:
    """Whether ``after`` (the text after a marker) starts with punctuation, not just spaces."""
    rest = after.lstrip(_SEPARATORS)
    return any(c != " " for c in after[: len(after) - len(rest)])


def _mostly_links(rest: str, links: tuple[tuple[str, str], ...]) -> bool:
    linked = sum(len(anchor) for _, anchor in links if anchor and anchor in rest)
    return linked * 2 >= len(rest)


def _leading_anchor(rest: str, links: tuple[tuple[str, str], ...]) -> str:
    """The anchor text of a link that ``rest`` starts with (quotes allowed before it)."""
    for _, anchor in links:
        if anchor and rest.lstrip("\"'«“ ").startswith(anchor):
            return rest[: rest.index(anchor) + len(anchor)]
    return ""


# ---------------------------------------------------------------------------------------
# Public API


def _clean_blocks(blocks: list[_Block], warnings: list[str]) -> Cleaned:
    kept: list[tuple[int, str, _Block]] = []
    removed: list[Removed] = []
    for position, block in enumerate(blocks):
        result = _clean_block(block)
        removed.extend(Removed(reason, text, position) for reason, text in result.removed)
        if result.text is not None:
            kept.append((position, result.text, block))
    # "المصدر: وكالات" is a source line only at the end, after the last real paragraph.
    while kept and _is_named_source(kept[-1][1]):
        position, text, _ = kept.pop()
        removed.append(Removed(SOURCE_TRAILER, text, position))
    removed.sort(key=lambda r: r.position)
    return Cleaned(
        paragraphs=tuple(text for _, text, _ in kept),
        removed=tuple(removed),
        positions=tuple(position for position, _, _ in kept),
        links=_kept_links(kept),
        warnings=tuple(warnings),
    )


def _is_named_source(text: str) -> bool:
    match = _NAMED_SOURCE.fullmatch(text)
    if match is None:
        return False
    name = match.group("name").strip()
    return len(name) <= SOURCE_NAME_MAX_CHARS and len(name.split()) <= SOURCE_NAME_MAX_WORDS


def _kept_links(kept: list[tuple[int, str, _Block]]) -> tuple[str, ...]:
    seen: set[str] = set()
    links: list[str] = []
    for _, text, block in kept:
        for href, anchor in block.links:
            key = canonical_url(href) or href
            if key not in seen and (not anchor or anchor in text):
                seen.add(key)
                links.append(href)
    return tuple(links)


_TAG_NAMES = (
    "a|abbr|address|article|aside|audio|b|base|bdi|bdo|blockquote|body|br|button|canvas|"
    "caption|center|cite|code|col|colgroup|data|datalist|dd|del|details|dfn|dialog|dir|div|"
    "dl|dt|em|embed|fieldset|figcaption|figure|font|footer|form|frame|frameset|h[1-6]|head|"
    "header|hgroup|hr|html|i|iframe|img|input|ins|kbd|label|legend|li|link|main|map|mark|"
    "marquee|math|menu|meta|meter|nav|noembed|noframes|noscript|object|ol|optgroup|option|"
    "output|p|param|picture|pre|progress|q|rp|rt|ruby|s|samp|script|search|section|select|"
    "small|source|span|strike|strong|style|sub|summary|sup|svg|table|tbody|td|template|"
    "textarea|tfoot|th|thead|time|title|tr|track|tt|u|ul|var|video|wbr"
)
_HTML_SIGN = re.compile(
    r"<(?:/?(?:" + _TAG_NAMES + r")(?=[\s/>])[^<>]*>|!--|!\[CDATA\[|!doctype)", re.IGNORECASE
)
_CHAR_REFERENCE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def looks_like_html(text: str) -> bool:
    """True when ``text`` has an HTML element tag, comment or doctype in it."""
    return "<" in text and _HTML_SIGN.search(text) is not None


def clean_html(html: str, *, limits: LimitSettings = DEFAULT_LIMITS) -> Cleaned:
    """Clean an item's HTML: blocks become paragraphs, residue is removed and recorded.

    ``html`` is cut to ``limits.max_html_chars`` characters and ``limits.max_html_tags`` tags
    first; a cut is a warning in ``Cleaned.warnings``.
    """
    warnings: list[str] = []
    blocks = _html_blocks(_cap(html, limits, warnings))
    return _clean_blocks(blocks, warnings)


def clean_text(text: str) -> Cleaned:
    """Clean plain text with one paragraph per line (no markup or reference decoding)."""
    return _clean_blocks(_blocks_of_lines(text.splitlines()), [])


def clean_any(text: str, *, limits: LimitSettings = DEFAULT_LIMITS) -> Cleaned:
    """Clean ``text`` as HTML if it has tags, else as plain text with one paragraph a line.

    Plain text with character references (``&amp;``, ``&lt;``) has them decoded first: a
    feed that escapes ``<`` in a description means a literal ``<``. Plain text is not
    capped (it costs linear time); field caps belong to the parser.
    """
    if looks_like_html(text):
        return clean_html(text, limits=limits)
    warnings: list[str] = []
    if "&" in text and _CHAR_REFERENCE.search(text):
        text = htmllib.unescape(_fix_references(text, warnings))
    return _clean_blocks(_blocks_of_lines(text.splitlines()), warnings)


def clean_title(text: str) -> str:
    """A title as one line of text: markup dropped, references decoded, shortcodes removed."""
    if looks_like_html(text) or ("&" in text and _CHAR_REFERENCE.search(text)):
        # A title has no warnings to give: a reference fixed here was counted by the parser
        # when it was in the XML, and an escaped one is rare enough to fix silently.
        lines = [block.text for block in _html_blocks(_cap(text, DEFAULT_LIMITS, []))]
    else:
        lines = [text]
    title = _normalise(" ".join(lines))
    cuts = _shortcode_cuts(title)
    if cuts:
        title = _apply_cuts(title, cuts, _Result(None))
    return title
