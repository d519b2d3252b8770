"""``ingest explain``: why a paragraph or an article was dropped, in words a reader can check.

Two questions, two functions that only read and format (``cmd_explain`` is the command
``ingest/cli.py`` registers: it opens the store or reads the files, and prints):

* ``explain_article(store, id, settings)``: what the store knows about one article. Every
  piece removed from it, with the rule (cleaner residue, ``boilerplate``, or the paragraph
  rule: ``exact_duplicate``, ``near_duplicate``, ``contained``), the paragraph it repeats
  (position and text), the fingerprint distance and the overlap; if it is a link record, the
  canonical article it duplicates, both titles and feeds and the measured distance and
  overlap; if it is canonical, every outlet that carried the same story (its link records).
* ``explain_texts(a, b, settings)``: two texts compared as the pipeline would, with the
  fingerprint distance, the overlap, the verdict and the thresholds in force.

It also holds ``ingest rebuild-fingerprints`` (``rebuild_fingerprints``): stored fingerprints
carry their ``fp_version``, the near-duplicate lookup only ever compares fingerprints of this
ingest's ``fingerprint.FINGERPRINT_VERSION``, and after a version change this command
recomputes the old ones from the stored paragraphs so they take part again.

Positions are shown 1-based, as "paragraph N of the item as fetched" (``Removed.position``
counts every block the cleaner found, kept or not). The store keeps the text of each removed
piece but not the position of each kept paragraph, so the paragraph a removal names is found
again by its recorded figures: the kept paragraph (or the one removed later as contained) that
gives back the stored distance and overlap.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from ingest import boilerplate, dedupe, fingerprint
from ingest.models import Removed
from ingest.settings import DedupSettings, Settings
from ingest.store.base import Store, StoredArticle

_CLEANER_REASONS = {
    "ad_marker": "an ad shortcode left by WordPress",
    "shortcode": "a WordPress shortcode",
    "source_trailer": "a source line without its link",
    "truncation_marker": "the feed's truncation marker",
    "read_also": 'a "read also" link',
}


class ArticleNotFound(LookupError):
    """No stored article has that id."""


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def _feed(article: StoredArticle) -> str:
    return f"{article.feed_name} ({article.feed_url})" if article.feed_name else article.feed_url


def _quote(text: str, limit: int = 160) -> str:
    return f"«{text if len(text) <= limit else text[: limit - 1] + '…'}»"


@dataclass(frozen=True, slots=True)
class _Other:
    """The paragraph a duplicate removal names, found again."""

    text: str
    distance: int
    overlap: float


def _referenced(removed: Removed, article: StoredArticle) -> _Other | None:
    """The paragraph ``removed`` repeats (or, for ``contained``, the one containing it):
    the candidate whose figures equal the recorded ones, else the closest candidate."""
    candidates = list(article.paragraphs)
    candidates += [
        r.text
        for r in article.removed
        if r.reason == dedupe.CONTAINED and r.position == removed.duplicate_of
    ]
    best: tuple[tuple[int, float, int], _Other] | None = None
    for text in candidates:
        if text == removed.text:
            continue
        dist, overlap, contained = dedupe.paragraph_figures(removed.text, text)
        measure = contained if removed.reason == dedupe.CONTAINED else overlap
        if removed.reason == dedupe.EXACT_DUPLICATE:
            measure = 1.0 if dedupe.text_hash([text]) == dedupe.text_hash([removed.text]) else 0
        exact_figures = dist == removed.distance and round(measure, 4) == removed.overlap
        rank = (0 if exact_figures else 1, -measure, dist)
        if best is None or rank < best[0]:
            best = (rank, _Other(text, dist, measure))
    return best[1] if best else None


def _removal_lines(removed: Removed, article: StoredArticle, settings: DedupSettings) -> list[str]:
    where = f"paragraph {removed.position + 1}"
    reason = removed.reason
    if reason in _CLEANER_REASONS:
        return [f"  [{reason}] {where}: {_CLEANER_REASONS[reason]}: {_quote(removed.text)}"]
    if reason == boilerplate.BOILERPLATE:
        return [
            f"  [boilerplate] {where}: found in at least {settings.boilerplate_min_articles} of"
            f" the feed's last {settings.boilerplate_window} articles: {_quote(removed.text)}"
        ]
    if reason not in dedupe.DUPLICATE_REASONS or removed.duplicate_of is None:
        return [f"  [{reason}] {where}: {_quote(removed.text)}"]
    other_where = f"paragraph {removed.duplicate_of + 1}"
    figures = f"distance {removed.distance} bits"
    if reason == dedupe.CONTAINED:
        head = (
            f"  [contained] {where} is contained in {other_where} ({figures}, containment"
            f" {removed.overlap:.2f} >= {settings.paragraph_min_containment:.2f}: the"
            " smaller paragraph goes)"
        )
    elif reason == dedupe.EXACT_DUPLICATE:
        head = f"  [exact_duplicate] {where} repeats {other_where} word for word"
    else:
        head = (
            f"  [near_duplicate] {where} repeats {other_where} ({figures} <="
            f" {settings.paragraph_max_distance}, overlap {removed.overlap:.2f} >="
            f" {settings.paragraph_min_overlap:.2f})"
        )
    lines = [head, f"      removed: {_quote(removed.text)}"]
    other = _referenced(removed, article)
    if other is not None:
        lines.append(f"      {'kept' if other.text in article.paragraphs else 'other'}:"
                     f"    {_quote(other.text)}")  # fmt: skip
    return lines


def explain_article(store: Store, article_id: int, settings: DedupSettings) -> list[str]:
    """The lines ``ingest explain ID`` prints; ``ArticleNotFound`` when there is no such id."""
    article = store.article(article_id)
    if article is None:
        raise ArticleNotFound(article_id)
    lines = [
        f"article {article.id}: {_quote(article.title, 200)}",
        f"  feed: {_feed(article)}",
        f"  link: {article.url or '-'}",
        f"  published: {_when(article.published)}  fetched: {_when(article.fetched)}",
        f"  fingerprint: {fingerprint.to_hex(article.simhash)} (version {article.fp_version}"
        + (
            ")"
            if article.fp_version == fingerprint.FINGERPRINT_VERSION
            else f", this ingest uses {fingerprint.FINGERPRINT_VERSION}:"
            " run `ingest rebuild-fingerprints`)"
        ),
    ]
    if article.duplicate_of is not None:
        lines += _duplicate_lines(store, article, settings)
        canonical = store.article(article.duplicate_of)
        if canonical is not None:
            lines += _cluster_lines(store, canonical, article.id)
        return lines
    lines.append(f"  canonical: {len(article.paragraphs)} paragraph(s) kept")
    lines.append(f"  removed {len(article.removed)} piece(s):")
    for removed in article.removed:
        lines += _removal_lines(removed, article, settings)
    lines += _cluster_lines(store, article, article.id)
    return lines


def _duplicate_lines(store: Store, article: StoredArticle, settings: DedupSettings) -> list[str]:
    canonical = store.article(article.duplicate_of) if article.duplicate_of else None
    rule = article.dup_rule
    if rule == "simhash":
        why = (
            f"near-duplicate (rule simhash): distance {article.dup_distance} bits <="
            f" {settings.article_max_distance}, overlap {article.dup_overlap or 0:.2f} >="
            f" {settings.article_min_overlap:.2f}"
        )
    elif rule == "url":
        why = "exact duplicate (rule url): the same link once tracking parameters are removed"
    elif rule == "text":
        why = "exact duplicate (rule text): the same text once normalised"
    else:
        why = f"duplicate (rule {rule})"
    lines = [
        f"  link record: {why}",
        "  it keeps no body of its own; its text is the canonical article's:",
        f"    this:      {_quote(article.title, 200)} in {_feed(article)}",
    ]
    if canonical is None:
        lines.append(f"    canonical: article {article.duplicate_of} (no longer stored)")
    else:
        lines.append(
            f"    canonical: article {canonical.id} {_quote(canonical.title, 200)} in"
            f" {_feed(canonical)}"
        )
    return lines


def _cluster_lines(store: Store, canonical: StoredArticle, current: int) -> list[str]:
    links = store.links_to(canonical.id)
    outlets = {canonical.feed_url, *(link.feed_url for link in links)}
    lines = [
        f"  the story (article {canonical.id} and its {len(links)} link record(s)) was carried"
        f" by {len(outlets)} feed(s):"
    ]
    for row in (canonical, *links):
        mark = " (this one)" if row.id == current else ""
        how = "canonical" if row.duplicate_of is None else _link_figures(row)
        lines.append(
            f"    article {row.id}{mark}: {how}; {_feed(row)}; {_quote(row.title, 120)};"
            f" {row.url or '-'}"
        )
    return lines


def _link_figures(row: StoredArticle) -> str:
    if row.dup_rule == "simhash":
        return f"near (distance {row.dup_distance}, overlap {row.dup_overlap or 0:.2f})"
    return f"exact ({row.dup_rule})"


def explain_texts(text_a: str, text_b: str, settings: DedupSettings) -> list[str]:
    """The lines ``ingest explain --text A B`` prints."""
    paragraphs_a = [line for line in text_a.splitlines() if line.strip()]
    paragraphs_b = [line for line in text_b.splitlines() if line.strip()]
    dist, overlap, verdict = dedupe.explain_pair(text_a, text_b, settings)
    fp_a = dedupe.article_fingerprint(paragraphs_a)
    fp_b = dedupe.article_fingerprint(paragraphs_b)
    single = len(paragraphs_a) <= 1 and len(paragraphs_b) <= 1
    lines = [
        f"A: {len(paragraphs_a)} paragraph(s), fingerprint {fingerprint.to_hex(fp_a)}",
        f"B: {len(paragraphs_b)} paragraph(s), fingerprint {fingerprint.to_hex(fp_b)}",
        f"distance: {dist} of 64 bits (simhash over stemmed words, version"
        f" {fingerprint.FINGERPRINT_VERSION})",
        f"overlap: {overlap:.2f} (Jaccard of the stemmed word sets)",
    ]
    if single and paragraphs_a and paragraphs_b:
        _, _, contained = dedupe.paragraph_figures(paragraphs_a[0], paragraphs_b[0])
        lines.append(
            f"containment: {contained:.2f} (share of the smaller paragraph's stem pairs in the"
            " other)"
        )
    lines.append(f"verdict: {verdict}")
    lines.append(
        "thresholds in force: "
        + (dedupe.paragraph_rule(settings) if single else dedupe.article_rule(settings))
    )
    return lines


# -- fingerprint maintenance ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RebuildReport:
    checked: int
    rebuilt: int


REBUILD_BATCH = 500
"""Articles re-fingerprinted per transaction: a crash loses at most one batch of work, and
the lookup sees consistent rows (version and bands change together)."""


def rebuild_fingerprints(store: Store, *, everything: bool = False) -> RebuildReport:
    """Re-fingerprint the canonical articles whose ``fp_version`` differs from this ingest's
    (all of them with ``everything``): simhash, text hash and bands from the stored paragraphs.

    Articles of another version are never compared with new ones (the lookup filters by
    version), so until this runs they are simply invisible to deduplication; link records keep
    no body and are left alone (they are never candidates).
    """
    checked = rebuilt = 0
    pending: list[tuple[int, int, str]] = []
    for article in store.articles():
        checked += 1
        if article.fp_version == fingerprint.FINGERPRINT_VERSION and not everything:
            continue
        pending.append(
            (
                article.id,
                dedupe.article_fingerprint(article.paragraphs),
                dedupe.text_hash(article.paragraphs),
            )
        )
        if len(pending) >= REBUILD_BATCH:
            rebuilt += _write(store, pending)
    rebuilt += _write(store, pending)
    return RebuildReport(checked, rebuilt)


def _write(store: Store, pending: list[tuple[int, int, str]]) -> int:
    with store.transaction() as tx:
        for article_id, simhash, text_hash in pending:
            tx.update_fingerprint(
                article_id,
                simhash,
                fingerprint.FINGERPRINT_VERSION,
                text_hash,
                fingerprint.bands(simhash),
            )
    done = len(pending)
    pending.clear()
    return done


# -- the commands -----------------------------------------------------------------------


def _open(settings: Settings, args: argparse.Namespace, *, write: bool) -> Store:
    """The store: an existing one to read (``explain`` never creates one), or created and
    migrated to write (``rebuild-fingerprints``); ``-v`` says which."""
    from ingest import cli  # noqa: PLC0415 - the CLI imports this module

    return cli.open_for_writing(settings, args) if write else cli.open_for_reading(settings, args)


def _rule_once(lines: list[str]) -> list[str]:
    """The lines with the rule in force said once, on its own line, not in the verdict too."""
    rule = lines[-1].removeprefix("thresholds in force: ")
    return [line.replace(f" ({rule})", "") for line in lines[:-1]] + lines[-1:]


def cmd_explain(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """``ingest explain ID`` or ``ingest explain --text A B``."""
    from ingest.cli import UsageError  # noqa: PLC0415 - the CLI imports this module

    if args.text:
        try:
            texts = [Path(p).read_text(encoding="utf-8", errors="replace") for p in args.text]
        except OSError as exc:
            raise UsageError(f"{exc.filename}: cannot read: {exc.strerror}") from exc
        lines = _rule_once(explain_texts(texts[0], texts[1], settings.dedup))
    elif args.id is None:
        raise UsageError("explain needs an article ID (see `ingest export`) or --text A B")
    else:
        store = _open(settings, args, write=False)
        try:
            lines = explain_article(store, args.id, settings.dedup)
        except ArticleNotFound:
            raise UsageError(f"no stored article has id {args.id}") from None
        finally:
            store.close()
    for line in lines:
        print(line, file=out)
    return 0


def cmd_rebuild(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """``ingest rebuild-fingerprints [--all]``."""
    store = _open(settings, args, write=True)
    try:
        report = rebuild_fingerprints(store, everything=args.all)
    finally:
        store.close()
    print(
        f"{store.url}: {report.rebuilt} of {report.checked} canonical article(s)"
        f" re-fingerprinted (version {fingerprint.FINGERPRINT_VERSION})",
        file=out,
    )
    return 0
