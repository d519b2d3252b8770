"""Numeric character references that encode no character, made safe before any parser sees them.

``&#xD800;`` (a lone UTF-16 surrogate), ``&#x110000;`` (beyond Unicode) or ``&#99999999999;``
made feedparser's lenient parser raise ``UnicodeEncodeError``, ``ValueError`` or
``OverflowError`` and lost the whole feed. :func:`fix_references` rewrites them, in one linear
pass over the text (pure, stdlib only):

* a UTF-16 surrogate pair written as two references (``&#55357;&#56832;``, as JavaScript
  escapes an emoji) becomes one reference to the character it encodes (``&#x1F600;``);
* a lone surrogate, a code point beyond U+10FFFF and ``&#0;`` become ``&#xFFFD;`` (U+FFFD
  REPLACEMENT CHARACTER, as HTML5 decodes them) and are counted;
* for XML (``xml=True``) also the code points XML 1.0 forbids (C0 controls other than tab, line
  feed and carriage return, U+FFFE, U+FFFF), so that expat reads the feed instead of handing it
  to the lenient parser.

Used by ``parse.py`` (references in the XML) and ``clean.py`` (references in HTML fields, where
they arrive as text inside CDATA or escaped markup).
"""

from __future__ import annotations

import re

__all__ = ["REPLACEMENT", "fix_references"]

REPLACEMENT = "&#xFFFD;"

# Leading zeros are allowed and skipped; the digits after them are bounded only by the text, so a
# reference with a million digits is matched in linear time and never converted with int().
_REFERENCE = re.compile(r"&#(?:[xX]0*([0-9a-fA-F]+)|0*([0-9]+));")
_MAX_DIGITS = 8  # "10FFFF" is 6 hex digits and "1114111" 7 decimal ones
_HIGH = range(0xD800, 0xDC00)
_LOW = range(0xDC00, 0xE000)


def _code_point(found: re.Match[str]) -> int:
    """The number a reference names; 0x110000 (out of range) when it has too many digits."""
    hex_digits, decimal = found.group(1), found.group(2)
    if hex_digits is not None:
        return int(hex_digits, 16) if len(hex_digits) <= _MAX_DIGITS else 0x110000
    if decimal:
        return int(decimal) if len(decimal) <= _MAX_DIGITS else 0x110000
    return 0  # "&#0;" and "&#x0;": every digit was a leading zero


def _xml_forbidden(code: int) -> bool:
    return (code < 0x20 and code not in (0x9, 0xA, 0xD)) or code in (0xFFFE, 0xFFFF)


def fix_references(text: str, *, xml: bool = False) -> tuple[str, int]:
    """``text`` with surrogate pairs joined and references to no character replaced by
    ``&#xFFFD;``; and how many were replaced."""
    if "&#" not in text:
        return text, 0
    pieces: list[str] = []
    kept_from = 0
    replaced = 0
    skip_until = -1  # the end of a low surrogate already joined to the reference before it
    for found in _REFERENCE.finditer(text):
        if found.start() < skip_until:
            continue
        code = _code_point(found)
        if code in _HIGH:
            low = _REFERENCE.match(text, found.end())
            if low is not None and _code_point(low) in _LOW:
                joined = 0x10000 + ((code - 0xD800) << 10) + (_code_point(low) - 0xDC00)
                pieces += [text[kept_from : found.start()], f"&#x{joined:X};"]
                kept_from = skip_until = low.end()
                continue
        if (
            code == 0
            or code > 0x10FFFF
            or code in _HIGH
            or code in _LOW
            or (xml and _xml_forbidden(code))
        ):
            pieces += [text[kept_from : found.start()], REPLACEMENT]
            kept_from = found.end()
            replaced += 1
    if not pieces:
        return text, 0
    pieces.append(text[kept_from:])
    return "".join(pieces), replaced
