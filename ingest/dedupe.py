"""Duplicate decisions, with reasons: paragraphs inside one article, and articles across feeds.

Pure functions over text, fingerprints and settings; no library, no I/O. Features come from
``ingest.arabic`` (stems) and ``ingest.fingerprint`` (simhash over them).

Paragraph rule (``dedupe_paragraphs``), for a paragraph P and an earlier *kept* paragraph K:

* ``exact_duplicate`` when their normalised token sequences are equal and not empty;
* ``near_duplicate`` when both have at least ``paragraph_min_tokens`` distinct stems and
  ``distance(P, K) <= paragraph_max_distance`` and ``jaccard(stems P, stems K) >=
  paragraph_min_overlap``;
* a short paragraph (fewer distinct stems) is never judged by its fingerprint: besides an
  exact match it is dropped only when its stem set overlaps K's by at least
  ``SHORT_PARAGRAPH_MIN_OVERLAP`` with ``SHORT_PARAGRAPH_MIN_SHARED`` stems in common.

The first occurrence stays; an exact repeat names the first kept paragraph with the same text,
otherwise the matching kept paragraph with the highest overlap (then the smallest distance,
then the earliest) is named in ``duplicate_of``.

Article rule (``decide_article``): among the stored candidates, the nearest one with
``distance <= article_max_distance`` and ``jaccard(stems) >= article_min_overlap`` makes the
item a near duplicate (``exact`` when the normalised texts are equal too). Thresholds and how
they were measured: ``settings.DedupSettings`` and ``bench/measure_thresholds.py``.

Texts without a content word have no fingerprint and an empty stem set: they are never
duplicates of anything, so empty or punctuation-only texts do not cluster.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass

from ingest import arabic, fingerprint
from ingest.models import Candidate, Cleaned, Removed, Verdict
from ingest.settings import DedupSettings

SHORT_PARAGRAPH_MIN_OVERLAP = 0.8
"""A paragraph below ``paragraph_min_tokens`` distinct stems is dropped only at this overlap:
with 2 to 4 stems that means the same stems, give or take one extra word on one side."""
SHORT_PARAGRAPH_MIN_SHARED = 2
"""...and only when at least this many stems are shared: one common word proves nothing."""

MAX_NEAR_COMPARED = 200
"""Near duplicates are looked for among the first this many kept paragraphs of an item (real
articles have a few dozen); later ones are still checked for exact repeats. It keeps hostile
input with tens of thousands of paragraphs linear in time."""

_OVERLAP_DIGITS = 4  # overlaps are recorded rounded, so stored explanations are stable


@dataclass(frozen=True, slots=True)
class _Features:
    """What the paragraph rule compares, computed once per paragraph."""

    key: str
    """The normalised token sequence: equal keys are exact duplicates."""
    stems: frozenset[str]
    fp: int


def _features(text: str) -> _Features:
    words = arabic.tokens(text)
    stems = arabic.stem_tokens(words)
    return _Features(
        key=" ".join(words),
        stems=frozenset(stems),
        fp=fingerprint.fingerprint(stems),
    )


def jaccard(a: Set[str], b: Set[str]) -> float:
    """|a & b| / |a | b|; ``0.0`` when either set is empty (nothing shared, never a match)."""
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


def _paragraph_match(
    new: _Features, kept: _Features, settings: DedupSettings
) -> tuple[str, int, float] | None:
    """``(reason, distance, overlap)`` when ``new`` repeats ``kept``, else ``None``."""
    if new.key and new.key == kept.key:
        return "exact_duplicate", 0, 1.0
    if not new.stems or not kept.stems:
        return None
    dist = fingerprint.distance(new.fp, kept.fp)
    short = min(len(new.stems), len(kept.stems)) < settings.paragraph_min_tokens
    if not short and dist > settings.paragraph_max_distance:
        return None  # the cheap test first: most pairs end here
    overlap = jaccard(new.stems, kept.stems)
    if short:
        matched = (
            overlap >= SHORT_PARAGRAPH_MIN_OVERLAP
            and len(new.stems & kept.stems) >= SHORT_PARAGRAPH_MIN_SHARED
        )
    else:
        matched = overlap >= settings.paragraph_min_overlap
    return ("near_duplicate", dist, overlap) if matched else None


def _best_match(
    new: _Features, kept: Sequence[_Features], settings: DedupSettings
) -> tuple[int, str, int, float] | None:
    """``(index, reason, distance, overlap)`` of the kept paragraph ``new`` repeats most closely."""
    matches = []
    for index, other in enumerate(kept):
        match = _paragraph_match(new, other, settings)
        if match is not None:
            matches.append((index, *match))
    if not matches:
        return None
    # highest overlap, then smallest distance, then earliest
    return min(matches, key=lambda m: (-m[3], m[2], m[0]))


def dedupe_paragraphs(cleaned: Cleaned, settings: DedupSettings) -> Cleaned:
    """Drop paragraphs that repeat an earlier kept paragraph of the same item.

    Each drop is recorded as a ``Removed`` (``exact_duplicate`` or ``near_duplicate``) naming
    the kept paragraph's position, the fingerprint distance and the stem overlap; the result's
    ``removed`` merges these with ``cleaned.removed``, sorted by position.
    """
    positions = cleaned.positions
    if len(positions) != len(cleaned.paragraphs):
        positions = tuple(range(len(cleaned.paragraphs)))
    kept: list[tuple[int, str, _Features]] = []
    first_with_key: dict[str, int] = {}  # normalised text -> index in kept
    removed = list(cleaned.removed)
    for position, text in zip(positions, cleaned.paragraphs, strict=True):
        features = _features(text)
        exact = first_with_key.get(features.key) if features.key else None
        if exact is not None:
            match: tuple[int, str, int, float] | None = (exact, "exact_duplicate", 0, 1.0)
        else:
            compared = [other for _, _, other in kept[:MAX_NEAR_COMPARED]]
            match = _best_match(features, compared, settings)
        if match is None:
            if features.key:
                first_with_key.setdefault(features.key, len(kept))
            kept.append((position, text, features))
            continue
        index, reason, dist, overlap = match
        removed.append(
            Removed(
                reason=reason,
                text=text,
                position=position,
                duplicate_of=kept[index][0],
                distance=dist,
                overlap=round(overlap, _OVERLAP_DIGITS),
            )
        )
    removed.sort(key=lambda item: item.position)
    return Cleaned(
        paragraphs=tuple(text for _, text, _ in kept),
        removed=tuple(removed),
        positions=tuple(position for position, _, _ in kept),
        links=cleaned.links,
    )


def text_hash(paragraphs: Sequence[str]) -> str:
    """SHA-256 (hex) of the normalised token sequence of the whole text, for exact duplicates.

    Insensitive to diacritics, hamza and alef forms, punctuation, spacing and paragraph
    breaks. A text without any token returns ``""``: no hash, never equal to anything.
    """
    normalised = " ".join(token for text in paragraphs for token in arabic.tokens(text))
    if not normalised:
        return ""
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def article_features(paragraphs: Iterable[str]) -> list[str]:
    """The article's stems in order, repeats kept: the features of its fingerprint.

    The title is deliberately not part of it: aggregators rewrite titles of copied items.
    """
    return [stem for text in paragraphs for stem in arabic.stems(text)]


def article_fingerprint(paragraphs: Iterable[str]) -> int:
    """The article's fingerprint (``fingerprint.NO_FINGERPRINT`` when it has no content word)."""
    return fingerprint.fingerprint(article_features(paragraphs))


def decide_article(
    paragraphs: Sequence[str],
    fp: int,
    candidates: Sequence[Candidate],
    settings: DedupSettings,
) -> Verdict:
    """Is this item a near duplicate of one of ``candidates`` (stored articles)?

    ``fp`` is ``article_fingerprint(paragraphs)``. The nearest candidate within
    ``article_max_distance`` whose stem set overlaps by ``article_min_overlap`` wins (ties:
    higher overlap, then the lower id); its verdict is ``exact`` (rule ``text``) when the
    normalised texts are equal, else ``near`` (rule ``simhash``). Otherwise ``new``.
    """
    if fp == fingerprint.NO_FINGERPRINT:
        return Verdict(kind="new")
    stems = frozenset(article_features(paragraphs))
    matches: list[tuple[int, float, Candidate]] = []
    for candidate in candidates:
        if candidate.simhash == fingerprint.NO_FINGERPRINT:
            continue
        dist = fingerprint.distance(fp, candidate.simhash)
        if dist > settings.article_max_distance:
            continue
        overlap = jaccard(stems, frozenset(article_features(candidate.paragraphs)))
        if overlap >= settings.article_min_overlap:
            matches.append((dist, overlap, candidate))
    if not matches:
        return Verdict(kind="new")
    dist, overlap, chosen = min(matches, key=lambda m: (m[0], -m[1], m[2].id))
    if dist == 0 and text_hash(paragraphs) == text_hash(chosen.paragraphs):
        return Verdict(kind="exact", duplicate_of=chosen.id, rule="text", distance=0, overlap=1.0)
    return Verdict(
        kind="near",
        duplicate_of=chosen.id,
        rule="simhash",
        distance=dist,
        overlap=round(overlap, _OVERLAP_DIGITS),
    )


def explain_pair(text_a: str, text_b: str, settings: DedupSettings) -> tuple[int, float, str]:
    """``(distance, overlap, verdict)`` for two texts, for ``ingest explain --text``.

    Texts with one paragraph each are judged by the paragraph rule, anything longer by the
    article rule; the verdict says which rule and which threshold decided.
    """
    paragraphs_a = [line for line in text_a.splitlines() if line.strip()]
    paragraphs_b = [line for line in text_b.splitlines() if line.strip()]
    stems_a = frozenset(article_features(paragraphs_a))
    stems_b = frozenset(article_features(paragraphs_b))
    fp_a = article_fingerprint(paragraphs_a)
    fp_b = article_fingerprint(paragraphs_b)
    overlap = jaccard(stems_a, stems_b)
    dist = fingerprint.distance(fp_a, fp_b)
    if fingerprint.NO_FINGERPRINT in (fp_a, fp_b):
        return dist, overlap, "new: a text without content words has no fingerprint"
    if len(paragraphs_a) <= 1 and len(paragraphs_b) <= 1:
        verdict = _explain_paragraphs(text_a, text_b, settings)
    else:
        verdict = _explain_articles(dist, overlap, settings)
    return dist, round(overlap, _OVERLAP_DIGITS), verdict


def _explain_paragraphs(text_a: str, text_b: str, settings: DedupSettings) -> str:
    a, b = _features(text_a), _features(text_b)
    match = _paragraph_match(b, a, settings)
    short = min(len(a.stems), len(b.stems)) < settings.paragraph_min_tokens
    if short:
        rule = (
            f"paragraph rule, short (< {settings.paragraph_min_tokens} stems): exact match or"
            f" overlap >= {SHORT_PARAGRAPH_MIN_OVERLAP:.2f}"
        )
    else:
        rule = (
            f"paragraph rule: distance <= {settings.paragraph_max_distance}"
            f" and overlap >= {settings.paragraph_min_overlap:.2f}"
        )
    return f"{match[0]} ({rule})" if match else f"different ({rule})"


def _explain_articles(dist: int, overlap: float, settings: DedupSettings) -> str:
    rule = (
        f"article rule: distance <= {settings.article_max_distance}"
        f" and overlap >= {settings.article_min_overlap:.2f}"
    )
    near = dist <= settings.article_max_distance and overlap >= settings.article_min_overlap
    return f"near ({rule})" if near else f"new ({rule})"
