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

from ingest import dedupe, fingerprint
from ingest.errors import UsageError
from ingest.fingerprint import Para
from ingest.models import PARAGRAPH_RULE_REASONS, Reason, Removed, Rule
from ingest.settings import DedupSettings, Settings
from ingest.store.base import Store, StoredArticle

_CLEANER_REASONS: dict[str, str] = {
    Reason.AD_MARKER: "an ad shortcode left by WordPress",
    Reason.SHORTCODE: "a WordPress shortcode",
    Reason.SOURCE_TRAILER: "a source line without its link",
    Reason.TRUNCATION_MARKER: "the feed's truncation marker",
    Reason.READ_ALSO: 'a "read also" link',
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
        if r.reason == Reason.CONTAINED and r.position == removed.duplicate_of
    ]
    this = fingerprint.analyse_paragraph(removed.text)
    best: tuple[tuple[int, float, int], _Other] | None = None
    for text in candidates:
        if text == removed.text:
            continue
        other = fingerprint.analyse_paragraph(text)
        dist, overlap, contained = dedupe.paragraph_figures(this, other)
        measure = contained if removed.reason == Reason.CONTAINED else overlap
        if removed.reason == Reason.COVERED:
            small = min((this, other), key=lambda p: len(p.stem_set))
            measure = len(this.stem_set & other.stem_set) / max(1, len(small.stem_set))
        if removed.reason == Reason.EXACT_DUPLICATE:
            measure = 1.0 if other.key == this.key else 0
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
    if reason == Reason.BOILERPLATE:
        return [
            f"  [boilerplate] {where}: found in at least {settings.boilerplate_min_articles} of"
            f" the feed's last {settings.boilerplate_window} articles: {_quote(removed.text)}"
        ]
    if reason not in PARAGRAPH_RULE_REASONS or removed.duplicate_of is None:
        return [f"  [{reason}] {where}: {_quote(removed.text)}"]
    other_where = f"paragraph {removed.duplicate_of + 1}"
    figures = f"distance {removed.distance} bits"
    if reason == Reason.CONTAINED:
        head = (
            f"  [contained] {where} is contained in {other_where} ({figures}, containment"
            f" {removed.overlap:.2f} >= {settings.paragraph_min_containment:.2f}: the"
            " smaller paragraph goes)"
        )
    elif reason == Reason.COVERED:
        head = (
            f"  [covered] {where} is covered by {other_where} ({figures}, cover"
            f" {removed.overlap:.2f} >= {settings.paragraph_min_cover:.2f} of the smaller"
            " paragraph's stems: the smaller paragraph goes)"
        )
    elif reason == Reason.EXACT_DUPLICATE:
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
        f"  published: {_when(article.published)}  fetched: {_when(article.fetched)}"
        + (
            f"  (the feed's date {article.published_raw!r} was not used)"
            if article.published_raw
            else ""
        ),
        f"  fingerprint: {fingerprint.to_hex(article.simhash)} (version {article.fp_version}"
        + (
            ")"
            if article.fp_version == fingerprint.FINGERPRINT_VERSION
            else f", this ingest uses {fingerprint.FINGERPRINT_VERSION}:"
            " run `ingest rebuild-fingerprints`)"
        ),
    ]
    if article.duplicate_of is not None:
        canonical = store.article(article.duplicate_of)
        lines += _duplicate_lines(store, article, canonical, settings)
        if canonical is not None:
            lines += _cluster_lines(store, canonical, article.id)
        return lines
    lines.append(f"  canonical: {len(article.paragraphs)} paragraph(s) kept")
    lines += _removals(article, settings)
    lines += _cluster_lines(store, article, article.id)
    return lines


def _removals(article: StoredArticle, settings: DedupSettings) -> list[str]:
    lines = [f"  removed {len(article.removed)} piece(s):"]
    for removed in article.removed:
        lines += _removal_lines(removed, article, settings)
    return lines


def _duplicate_lines(
    store: Store,
    article: StoredArticle,
    canonical: StoredArticle | None,
    settings: DedupSettings,
) -> list[str]:
    """``canonical`` is the article ``article.duplicate_of`` names, read by the caller."""
    if canonical is not None and article.match_id == canonical.id:
        matched: StoredArticle | None = canonical
    else:
        matched = store.article(article.match_id) if article.match_id else None
    rule = article.dup_rule
    if rule == Rule.SIMHASH:
        why = (
            f"near-duplicate (rule simhash): distance {article.dup_distance} bits <="
            f" {settings.article_max_distance}, overlap {article.dup_overlap or 0:.2f} >="
            f" {settings.article_min_overlap:.2f}"
        )
    elif rule == Rule.URL:
        why = "exact duplicate (rule url): the same link once tracking parameters are removed"
    elif rule == Rule.TEXT:
        why = "exact duplicate (rule text): the same text once normalised"
    else:
        why = f"duplicate (rule {rule})"
    lines = [f"  link record: {why}"]
    if matched is not None and matched.id != article.duplicate_of:
        lines.append(
            f"    matched:   article {matched.id} {_quote(matched.title, 200)} in"
            f" {_feed(matched)}, a copy of the same story"
        )
    elif article.match_id is not None and matched is None:
        lines.append(f"    matched:   article {article.match_id} (no longer stored)")
    lines.append(f"    this:      {_quote(article.title, 200)} in {_feed(article)}")
    if canonical is None:
        lines.append(f"    canonical: article {article.duplicate_of} (no longer stored)")
    else:
        lines.append(
            f"    canonical: article {canonical.id} {_quote(canonical.title, 200)} in"
            f" {_feed(canonical)}"
        )
    lines.append(f"  its own text: {len(article.paragraphs)} paragraph(s) kept")
    return lines + _removals(article, settings)


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
    via = f" to article {row.match_id}" if row.match_id not in (None, row.duplicate_of) else ""
    if row.dup_rule == Rule.SIMHASH:
        return f"near (distance {row.dup_distance}, overlap {row.dup_overlap or 0:.2f}{via})"
    return f"exact ({row.dup_rule}{via})"


def explain_texts(text_a: str, text_b: str, settings: DedupSettings) -> list[str]:
    """The lines ``ingest explain --text A B`` prints."""
    paras_a = fingerprint.analyse(line for line in text_a.splitlines() if line.strip())
    paras_b = fingerprint.analyse(line for line in text_b.splitlines() if line.strip())
    dist, overlap, verdict = dedupe.explain_pair(paras_a, paras_b, settings)
    fp_a = fingerprint.article_features(paras_a).simhash
    fp_b = fingerprint.article_features(paras_b).simhash
    single = len(paras_a) <= 1 and len(paras_b) <= 1
    lines = [
        f"A: {len(paras_a)} paragraph(s), fingerprint {fingerprint.to_hex(fp_a)}",
        f"B: {len(paras_b)} paragraph(s), fingerprint {fingerprint.to_hex(fp_b)}",
        f"distance: {dist} of 64 bits (simhash over stemmed words, version"
        f" {fingerprint.FINGERPRINT_VERSION})",
        f"overlap: {overlap:.2f} (Jaccard of the stemmed word sets)",
    ]
    if single and paras_a and paras_b:
        _, _, contained = dedupe.paragraph_figures(paras_a[0], paras_b[0])
        lines.append(
            f"containment: {contained:.2f} (share of the smaller paragraph's stem pairs in the"
            " other)"
        )
    lines.append(f"verdict: {verdict}")
    lines.append(f"rule in force: {_rule(paras_a, paras_b, settings)}")
    return lines


def _rule(paras_a: tuple[Para, ...], paras_b: tuple[Para, ...], settings: DedupSettings) -> str:
    if len(paras_a) > 1 or len(paras_b) > 1:
        return dedupe.article_rule(settings)
    smallest = min((len(p.stem_set) for p in (*paras_a, *paras_b)), default=0)
    if smallest < settings.paragraph_min_tokens:
        return dedupe.short_paragraph_rule(settings)
    return dedupe.paragraph_rule(settings)


# -- the commands -----------------------------------------------------------------------


def _open(settings: Settings, args: argparse.Namespace) -> Store:
    """The existing store (``explain`` never creates one); ``-v`` says which."""
    from ingest import upgrade  # noqa: PLC0415 - opening a store, for one command

    return upgrade.open_for_reading(settings, verbose=bool(getattr(args, "verbose", False)))


def cmd_explain(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """``ingest explain ID`` or ``ingest explain --text A B``."""
    if args.text:
        try:
            texts = [Path(p).read_text(encoding="utf-8", errors="replace") for p in args.text]
        except OSError as exc:
            raise UsageError(f"{exc.filename}: cannot read: {exc.strerror}") from exc
        lines = explain_texts(texts[0], texts[1], settings.dedup)
    elif args.id is None:
        raise UsageError("explain needs an article ID (see `ingest export`) or --text A B")
    else:
        store = _open(settings, args)
        try:
            lines = explain_article(store, args.id, settings.dedup)
        except ArticleNotFound:
            raise UsageError(f"no stored article has id {args.id}") from None
        finally:
            store.close()
    for line in lines:
        print(line, file=out)
    return 0
