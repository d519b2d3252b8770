"""Duplicate decisions, with reasons: paragraphs inside one article, and articles across feeds.

Pure functions over text, fingerprints and settings; no library, no I/O. Features come from
``ingest.arabic`` (stems) and ``ingest.fingerprint`` (simhash over them).

Paragraph rule (``dedupe_paragraphs``), for a paragraph P and an earlier *kept* paragraph K:

* ``exact_duplicate`` when their normalised token sequences are equal and not empty;
* ``near_duplicate`` when both have at least ``paragraph_min_tokens`` distinct stems and
  ``distance(P, K) <= paragraph_max_distance`` and ``jaccard(stems P, stems K) >=
  paragraph_min_overlap``;
* ``contained`` when the smaller of the two (fewer distinct stems, at least
  ``paragraph_min_tokens`` of them) has at least ``paragraph_min_containment`` of its stem
  bigrams (pairs of consecutive stems) in the other: a truncated excerpt ("the first 200
  characters"), a sentence lifted out of a longer paragraph, a crosshead repeating a line of
  the text. Unlike a stem set, bigrams keep word order, so a short paragraph that merely uses
  the same vocabulary is not contained;
* a short paragraph (fewer distinct stems) is never judged by its fingerprint: besides an
  exact match it is dropped only when its stem set overlaps K's by at least
  ``SHORT_PARAGRAPH_MIN_OVERLAP`` with ``SHORT_PARAGRAPH_MIN_SHARED`` stems in common.

The first occurrence stays, except for containment, where the smaller paragraph goes whichever
comes first: a scraper's truncated excerpt above the full paragraph is dropped, not the full
paragraph. An exact repeat names the first kept paragraph with the same text; otherwise the
matching kept paragraph with the highest overlap (then the smallest distance, then the
earliest) is named in ``duplicate_of``; a kept paragraph dropped later as ``contained`` names
the later paragraph that contains it. For ``contained``, ``Removed.overlap`` is the
containment (share of the smaller paragraph's stem bigrams found in the other), not a Jaccard.

Article rule (``decide_article``): among the stored candidates, the nearest one with
``distance <= article_max_distance`` and ``jaccard(stems) >= article_min_overlap`` makes the
item a near duplicate (``exact`` when the normalised texts are equal too). Thresholds and how
they were measured: ``settings.DedupSettings`` and ``bench/measure_thresholds.py``.

Texts without a content word have no fingerprint and an empty stem set: they are never
duplicates of anything, so empty or punctuation-only texts do not cluster.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence, Set
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

NEAR_DUPLICATE = "near_duplicate"
EXACT_DUPLICATE = "exact_duplicate"
CONTAINED = "contained"
DUPLICATE_REASONS = frozenset({NEAR_DUPLICATE, EXACT_DUPLICATE, CONTAINED})
"""The ``Removed.reason`` values of the paragraph rule (the cleaner and the boilerplate rule
have their own)."""


@dataclass(frozen=True)
class _Features:
    """What the paragraph rule compares, computed once per paragraph."""

    key: str
    """The normalised token sequence: equal keys are exact duplicates."""
    stems: frozenset[str]
    stem_list: tuple[str, ...]
    pairs: frozenset[tuple[str, str]]
    """Stem bigrams (consecutive content words): what containment compares."""

    @functools.cached_property
    def fp(self) -> int:
        """The paragraph's fingerprint, computed only when a rule needs a distance: most pairs
        of paragraphs fail on word overlap first, and simhash was the largest cost of
        ``prepare`` when every paragraph got one (bench/README.md)."""
        return fingerprint.fingerprint(self.stem_list)


def _features(text: str) -> _Features:
    words = arabic.tokens(text)
    stems = arabic.stem_tokens(words)
    return _Features(
        key=" ".join(words),
        stems=frozenset(stems),
        stem_list=tuple(stems),
        pairs=frozenset(itertools.pairwise(stems)),
    )


def containment(small: Set[tuple[str, str]], big: Set[tuple[str, str]]) -> float:
    """|small & big| / |small|: how much of ``small`` is found in ``big`` (0.0 when empty)."""
    return len(small & big) / len(small) if small else 0.0


def jaccard(a: Set[str], b: Set[str]) -> float:
    """|a & b| / |a | b|; ``0.0`` when either set is empty (nothing shared, never a match)."""
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


def _paragraph_match(
    new: _Features, kept: _Features, settings: DedupSettings, shared_pairs: int | None = None
) -> tuple[str, int, float] | None:
    """``(reason, distance, overlap)`` when ``new`` repeats ``kept``, else ``None``.

    ``shared_pairs`` is ``len(new.pairs & kept.pairs)`` when the caller counted it already.
    """
    if new.key and new.key == kept.key:
        return EXACT_DUPLICATE, 0, 1.0
    if not new.stems or not kept.stems:
        return None
    short = min(len(new.stems), len(kept.stems)) < settings.paragraph_min_tokens
    overlap = jaccard(new.stems, kept.stems)
    if short:
        matched = (
            overlap >= SHORT_PARAGRAPH_MIN_OVERLAP
            and len(new.stems & kept.stems) >= SHORT_PARAGRAPH_MIN_SHARED
        )
        return (NEAR_DUPLICATE, fingerprint.distance(new.fp, kept.fp), overlap) if matched else None
    # Both conditions must hold; the set overlap is the cheap one, the fingerprint is computed
    # only for the pairs that pass it.
    if overlap >= settings.paragraph_min_overlap:
        dist = fingerprint.distance(new.fp, kept.fp)
        if dist <= settings.paragraph_max_distance:
            return NEAR_DUPLICATE, dist, overlap
    if len(new.stems) <= len(kept.stems) and new.pairs:
        shared = len(new.pairs & kept.pairs) if shared_pairs is None else shared_pairs
        contained = shared / len(new.pairs)
        if contained >= settings.paragraph_min_containment:
            return CONTAINED, fingerprint.distance(new.fp, kept.fp), contained
    return None


def _subsumes(new: _Features, kept: _Features, shared_pairs: int, settings: DedupSettings) -> float:
    """The containment of the earlier ``kept`` paragraph in ``new`` when ``kept`` is the smaller
    one (fewer distinct stems) and is contained (it is then dropped in favour of ``new``),
    else ``0.0``."""
    if not kept.pairs or len(kept.stems) < settings.paragraph_min_tokens:
        return 0.0
    if len(kept.stems) >= len(new.stems):
        return 0.0  # equal sizes: the first occurrence stays
    contained = shared_pairs / len(kept.pairs)
    return contained if contained >= settings.paragraph_min_containment else 0.0


_RANK = {EXACT_DUPLICATE: 0, NEAR_DUPLICATE: 1, CONTAINED: 2}


def _best_match(
    new: _Features,
    kept: Sequence[_Features | None],
    settings: DedupSettings,
    shared_pairs: Mapping[int, int],
) -> tuple[int, str, int, float] | None:
    """``(index, reason, distance, overlap)`` of the kept paragraph ``new`` repeats most closely
    (``None`` entries of ``kept`` were dropped since and are skipped)."""
    matches = []
    for index, other in enumerate(kept):
        if other is None:
            continue
        match = _paragraph_match(new, other, settings, shared_pairs.get(index, 0))
        if match is not None:
            matches.append((index, *match))
    if not matches:
        return None
    # the strongest rule, then the highest overlap, the smallest distance, the earliest
    return min(matches, key=lambda m: (_RANK[m[1]], -m[3], m[2], m[0]))


def dedupe_paragraphs(cleaned: Cleaned, settings: DedupSettings) -> Cleaned:
    """Drop paragraphs that repeat another paragraph of the same item (see the module rules).

    Each drop is recorded as a ``Removed`` (``exact_duplicate``, ``near_duplicate`` or
    ``contained``) naming the other paragraph's position, the fingerprint distance and the
    overlap; the result's ``removed`` merges these with ``cleaned.removed``, sorted by position.
    """
    positions = cleaned.positions
    if len(positions) != len(cleaned.paragraphs):
        positions = tuple(range(len(cleaned.paragraphs)))
    # kept[i] is None once the paragraph was dropped as contained in a later one
    kept: list[tuple[int, str, _Features] | None] = []
    first_with_key: dict[str, int] = {}  # normalised text -> index in kept
    postings: dict[tuple[str, str], list[int]] = {}  # stem bigram -> indices in kept
    removed = list(cleaned.removed)
    for position, text in zip(positions, cleaned.paragraphs, strict=True):
        features = _features(text)
        exact = first_with_key.get(features.key) if features.key else None
        shared = _shared_pairs(features, postings)
        match: tuple[int, str, int, float] | None = None
        if exact is not None and kept[exact] is not None:
            match = (exact, EXACT_DUPLICATE, 0, 1.0)
        elif not _drop_subsumed(features, position, kept, shared, removed, settings=settings):
            compared = [None if k is None else k[2] for k in kept[:MAX_NEAR_COMPARED]]
            match = _best_match(features, compared, settings, shared)
        if match is not None:
            index, reason, dist, overlap = match
            other = kept[index]
            assert other is not None
            removed.append(
                _removed(reason, text, position, other=other[0], dist=dist, overlap=overlap)
            )
            continue
        if features.key:
            first_with_key.setdefault(features.key, len(kept))
        if len(kept) < MAX_NEAR_COMPARED:
            for pair in features.pairs:
                postings.setdefault(pair, []).append(len(kept))
        kept.append((position, text, features))
    removed.sort(key=lambda item: item.position)
    alive = [k for k in kept if k is not None]
    return Cleaned(
        paragraphs=tuple(text for _, text, _ in alive),
        removed=tuple(removed),
        positions=tuple(position for position, _, _ in alive),
        links=cleaned.links,
    )


def _drop_subsumed(
    features: _Features,
    position: int,
    kept: list[tuple[int, str, _Features] | None],
    shared: Mapping[int, int],
    removed: list[Removed],
    *,
    settings: DedupSettings,
) -> bool:
    """Drop the earlier kept paragraphs that the new one contains (a truncated excerpt above
    the full paragraph); whether there was any. Checked before the new paragraph is judged a
    repeat, so the fuller text is the one that stays."""
    dropped = False
    for index, count in shared.items():
        other = kept[index]
        if other is None:
            continue
        contained = _subsumes(features, other[2], count, settings)
        if contained:
            kept[index] = None
            dropped = True
            dist = fingerprint.distance(features.fp, other[2].fp)
            removed.append(
                _removed(
                    CONTAINED, other[1], other[0], other=position, dist=dist, overlap=contained
                )
            )
    return dropped


def _shared_pairs(
    features: _Features, postings: Mapping[tuple[str, str], list[int]]
) -> dict[int, int]:
    """How many stem bigrams ``features`` shares with each indexed kept paragraph."""
    shared: Counter[int] = Counter()
    for pair in features.pairs:
        indices = postings.get(pair)
        if indices:
            shared.update(indices)
    return dict(shared)


def _removed(
    reason: str, text: str, position: int, *, other: int, dist: int, overlap: float
) -> Removed:
    return Removed(
        reason=reason,
        text=text,
        position=position,
        duplicate_of=other,
        distance=dist,
        overlap=round(overlap, _OVERLAP_DIGITS),
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


def paragraph_figures(text_a: str, text_b: str) -> tuple[int, float, float]:
    """``(distance, overlap, containment)`` of two paragraphs: fingerprint distance, stem-set
    Jaccard, and the share of the smaller one's stem bigrams found in the other."""
    a, b = _features(text_a), _features(text_b)
    small, big = (a, b) if len(a.stems) <= len(b.stems) else (b, a)
    return (
        fingerprint.distance(a.fp, b.fp),
        jaccard(a.stems, b.stems),
        containment(small.pairs, big.pairs),
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
    elif text_hash(paragraphs_a) == text_hash(paragraphs_b):
        verdict = "exact (the same text once normalised: rule text)"
    else:
        verdict = _explain_articles(dist, overlap, settings)
    return dist, round(overlap, _OVERLAP_DIGITS), verdict


def paragraph_rule(settings: DedupSettings) -> str:
    """The paragraph rule with the thresholds in force, in words."""
    return (
        f"paragraph rule: distance <= {settings.paragraph_max_distance}"
        f" and overlap >= {settings.paragraph_min_overlap:.2f},"
        f" or containment >= {settings.paragraph_min_containment:.2f}"
    )


def article_rule(settings: DedupSettings) -> str:
    """The article rule with the thresholds in force, in words."""
    return (
        f"article rule: distance <= {settings.article_max_distance}"
        f" and overlap >= {settings.article_min_overlap:.2f}"
    )


def _explain_paragraphs(text_a: str, text_b: str, settings: DedupSettings) -> str:
    a, b = _features(text_a), _features(text_b)
    # Either may be the smaller one: containment is judged from the smaller side.
    small, big = (a, b) if len(a.stems) < len(b.stems) else (b, a)
    subsumed = _subsumes(big, small, len(small.pairs & big.pairs), settings)
    if subsumed:
        match: tuple[str, int, float] | None = (CONTAINED, 0, subsumed)
    else:
        match = _paragraph_match(b, a, settings) or _paragraph_match(a, b, settings)
    short = min(len(a.stems), len(b.stems)) < settings.paragraph_min_tokens
    if short:
        rule = (
            f"paragraph rule, short (< {settings.paragraph_min_tokens} stems): exact match or"
            f" overlap >= {SHORT_PARAGRAPH_MIN_OVERLAP:.2f}"
        )
    else:
        rule = paragraph_rule(settings)
    if match is None:
        return f"different ({rule})"
    if match[0] == CONTAINED:
        return f"contained: containment {match[2]:.2f} ({rule})"
    return f"{match[0]} ({rule})"


def _explain_articles(dist: int, overlap: float, settings: DedupSettings) -> str:
    near = dist <= settings.article_max_distance and overlap >= settings.article_min_overlap
    return f"near ({article_rule(settings)})" if near else f"new ({article_rule(settings)})"
