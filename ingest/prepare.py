"""Prepare one feed: its bytes become analysed articles (pure; runs in a parse worker).

The stages every article passes through, each once, in this order::

    parsed = parse_feed(body, headers, ...)              parse.py        feedparser, dates
    for entry in parsed.entries:                         newest first, one per GUID
        skip it when its (GUID, content hash) is stored  a hash: known entries cost no more
        cleaned = clean_any(entry.content)               clean.py        bs4: HTML -> paragraphs
        paras   = fingerprint.analyse(cleaned)           fingerprint.py  normalise, tokenise,
                                                                         stem: once per paragraph
        dedupe_paragraphs(cleaned, paras, dedup)         dedupe.py       the paragraph rule
        remove_boilerplate(cleaned, kept, recurring)     boilerplate.py  the feed's learnt lines
        article_features(paragraph rule's kept paras)    fingerprint.py  simhash, stems, hash
        document_text(title, kept paras)                 search.py       the search document
        -> models.Article

The main process only decides and writes (``pipeline.py``): it sends a ``FeedJob`` with what
the store knows of the feed (its stored entries' hashes, its learnt boilerplate) and gets a
``PreparedFeed`` back. Everything here is a function of its arguments: no clock, no store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Set
from dataclasses import dataclass

from ingest import fingerprint
from ingest.boilerplate import remove_boilerplate
from ingest.clean import clean_any, clean_title
from ingest.dedupe import dedupe_paragraphs
from ingest.fingerprint import FINGERPRINT_VERSION, Para
from ingest.jobs import FeedJob, PreparedFeed, dedup_time, entry_digest
from ingest.models import Article, Cleaned, Entry
from ingest.parse import parse_feed
from ingest.search import document_text
from ingest.settings import DedupSettings, LimitSettings
from ingest.urls import canonical_url, safe_link

MAX_GUID_CHARS = 2000


def digest(*parts: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def content_hash(entry: Entry) -> str:
    """What the feed sent for this item: a change means the item was edited."""
    return digest(entry.title, entry.content, entry.link or "", entry.author or "")


def raw_guid(entry: Entry) -> str | None:
    """The item's key in its feed before cleaning: its GUID, else its canonical link; ``None``
    when it has neither (its key is then a hash of its cleaned text)."""
    if entry.guid:
        return entry.guid[:MAX_GUID_CHARS]
    canonical = canonical_url(safe_link(entry.link))
    return f"url:{canonical}"[:MAX_GUID_CHARS] if canonical else None


@dataclass(frozen=True, slots=True)
class CleanArticle:
    """One item's text, cleaned and analysed: what is shown, and what its story is judged on."""

    cleaned: Cleaned
    """The paragraphs kept for display, and every removal with its reason."""
    kept: tuple[Para, ...]
    """The analyses of ``cleaned.paragraphs``."""
    story: tuple[Para, ...]
    """The paragraphs the article's features come from: those the paragraph rule keeps, the
    feed's boilerplate included. Which lines a feed's history shows to be boilerplate depends
    on the order items arrive in; the story an item tells must not."""
    boilerplate_keys: tuple[str, ...] = ()
    """The keys of the paragraphs removed as boilerplate (they stay in the feed's history)."""


def clean_article(
    html: str,
    dedup: DedupSettings,
    recurring: Set[str] = frozenset(),
    limits: LimitSettings | None = None,
) -> CleanArticle:
    """Clean one item's HTML or text, analyse its paragraphs once, drop the paragraphs that
    repeat others, then the feed's boilerplate."""
    cleaned = clean_any(html, limits=limits or LimitSettings())
    paras = fingerprint.analyse(cleaned.paragraphs)
    cleaned, story = dedupe_paragraphs(cleaned, paras, dedup)
    cleaned, kept, boilerplate_keys = remove_boilerplate(cleaned, story, recurring)
    return CleanArticle(cleaned, kept, story, boilerplate_keys)


def prepare(
    entry: Entry, job: FeedJob, *, raw_hash: str | None = None
) -> tuple[Article, tuple[str, ...]]:
    """One entry, cleaned and analysed (see the module docstring), and the cleaner's warnings
    about it (what a cap cut). ``raw_hash`` is ``content_hash(entry)`` when the caller has it."""
    text = clean_article(entry.content, job.dedup, job.recurring, job.limits)
    cleaned, paras = text.cleaned, text.kept
    features = fingerprint.article_features(text.story)
    title = clean_title(entry.title)
    url = safe_link(entry.link)
    canonical = canonical_url(url)
    guid = raw_guid(entry) or f"hash:{digest(title, *cleaned.paragraphs)}"
    published = entry.published
    warnings = tuple(f"{job.url}: item {_label(entry)}: {w}" for w in cleaned.warnings)
    article = Article(
        feed_url=job.url,
        guid=guid,  # raw_guid is bounded; the hash is short
        url=url,
        canonical_url=canonical,
        title=title,
        published=published,
        published_raw=entry.published_raw,
        fetched=job.fetched,
        dedup_ts=dedup_time(published, job.fetched, job.dedup),
        author=entry.author,
        paragraphs=cleaned.paragraphs,
        removed=cleaned.removed,
        simhash=features.simhash,
        fp_version=FINGERPRINT_VERSION,
        text_hash=features.text_hash,
        content_hash=raw_hash or content_hash(entry),
        stems=features.stems,
        para_keys=(*(para.bkey for para in paras), *text.boilerplate_keys),
        search_text=document_text(title, (para.key for para in paras)),
    )
    return article, warnings


def _label(entry: Entry) -> str:
    return entry.guid or entry.link or repr(entry.title[:80])


def prepare_feed(body: bytes, headers: dict[str, str], job: FeedJob) -> PreparedFeed:
    """Parse a feed and prepare its entries that the store does not have as they are."""
    parsed = parse_feed(
        body,
        headers,
        url=job.url,
        limits=job.limits,
        fetched=job.fetched,
        clock_skew=job.dedup.clock_skew_s,
    )
    recovered = parsed.recovered
    entries = list(parsed.entries)
    warnings: list[str] = []
    if recovered:
        # From broken XML, an entry with neither a GUID nor a link is skipped: its only
        # identity would be a hash of its text, which may be cut short, so it would come back
        # as a second article once the feed is whole.
        kept = [e for e in entries if e.guid or e.link]
        if len(kept) < len(entries):
            warnings.append(
                f"{len(entries) - len(kept)} item(s) without a GUID or link skipped: "
                "the XML is broken"
            )
        entries = kept
    articles: list[Article] = []
    seen: set[str] = set()
    unchanged = 0
    for entry in entries:  # newest first: a GUID repeated in the feed keeps its newest version
        key = raw_guid(entry)
        raw_hash = content_hash(entry)
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
            if entry_digest(key, raw_hash) in job.known:
                unchanged += 1
                continue
        article, notes = prepare(entry, job, raw_hash=raw_hash)
        warnings += notes
        if article.guid in seen and key is None:
            continue
        seen.add(article.guid)
        articles.append(article)
    return PreparedFeed(
        ttl_seconds=parsed.ttl_seconds,
        recovered=recovered,
        articles=tuple(articles),
        unchanged=unchanged,
        dates=tuple(e.published for e in entries if e.published is not None),
        keys=frozenset(seen),
        warnings=(*parsed.warnings, *warnings),
    )
