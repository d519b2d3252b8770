"""OPML in and out: move feed lists between ``ingest`` and other feed readers.

``read_opml`` takes bytes (never a path or URL), parses them with defusedxml, which refuses
a document type declaration (DTD) wherever it stands, so no entity is ever expanded and
nothing is fetched, and returns every ``outline`` that has an ``xmlUrl``, nested categories
included. ``write_opml`` renders feeds as OPML 2.0. ``toml_feeds`` renders feeds as
``[[feeds]]`` tables for appending to a configuration file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from datetime import datetime
from email.utils import format_datetime
from xml.sax.saxutils import quoteattr

import defusedxml
import defusedxml.ElementTree

from ingest.config import check_feed_url
from ingest.errors import ConfigError
from ingest.settings import FeedSettings

MAX_OPML_BYTES = 10 * 1024 * 1024


def read_opml(data: bytes, source: str = "<opml>") -> list[FeedSettings]:
    """The feeds of an OPML document; ``ConfigError`` listing every problem."""
    if len(data) > MAX_OPML_BYTES:
        raise ConfigError(f"{source}: larger than {MAX_OPML_BYTES} bytes")
    try:
        # forbid_dtd: any DTD, anywhere in the document, ends the parse before it is used.
        root = defusedxml.ElementTree.fromstring(data, forbid_dtd=True)
    except defusedxml.DTDForbidden as exc:
        raise ConfigError(
            f"{source}: a document type declaration (DTD) is not allowed in OPML"
        ) from exc
    except defusedxml.DefusedXmlException as exc:  # entities or external references
        raise ConfigError(f"{source}: refused XML construct in OPML: {exc}") from exc
    except ET.ParseError as exc:
        raise ConfigError(f"{source}: not well-formed XML: {exc}") from exc
    if root.tag != "opml":
        raise ConfigError(f"{source}: the root element is <{root.tag}>, not <opml>")
    feeds: list[FeedSettings] = []
    problems: list[str] = []
    names: set[str] = set()
    for i, outline in enumerate(root.iter("outline")):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if not url:
            continue  # a category
        why = check_feed_url(url)
        if why or not url.startswith(("http://", "https://")):
            problems.append(
                f"{source}: outline {i}: invalid xmlUrl {url!r}: {why or 'not an http(s) URL'}"
            )
            continue
        name = (outline.get("title") or outline.get("text") or url).strip()
        base, n = name, 2
        while name in names:  # two outlines with one title: keep both, distinctly named
            name, n = f"{base} ({n})", n + 1
        names.add(name)
        feeds.append(FeedSettings(name=name, url=url))
    if problems:
        raise ConfigError(problems)
    return feeds


def write_opml(feeds: Iterable[FeedSettings], title: str, now: datetime) -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{_text(title)}</title>",
        f"    <dateCreated>{format_datetime(now, usegmt=True)}</dateCreated>",
        "  </head>",
        "  <body>",
    ]
    for feed in feeds:
        lines.append(
            f'    <outline type="rss" text={quoteattr(feed.name)} title={quoteattr(feed.name)}'
            f" xmlUrl={quoteattr(feed.url)}/>"
        )
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


def toml_feeds(feeds: Sequence[FeedSettings]) -> str:
    """``[[feeds]]`` tables for appending to a configuration file."""
    blocks = [
        f"\n[[feeds]]\nname = {_toml_string(f.name)}\nurl = {_toml_string(f.url)}\n" for f in feeds
    ]
    return "".join(blocks)


def new_feeds(
    existing: Sequence[FeedSettings], incoming: Sequence[FeedSettings]
) -> tuple[list[FeedSettings], list[FeedSettings]]:
    """Split ``incoming`` into feeds to add and feeds already configured (same URL or name)."""
    urls = {f.url for f in existing}
    names = {f.name for f in existing}
    add, skip = [], []
    for feed in incoming:
        if feed.url in urls or feed.name in names:
            skip.append(feed)
        else:
            add.append(feed)
            urls.add(feed.url)
            names.add(feed.name)
    return add, skip
