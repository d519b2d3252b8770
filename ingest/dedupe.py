"""Duplicate decisions, with reasons: paragraphs inside one article, and articles across feeds.

Pure functions over analysed paragraphs (``fingerprint.Para``: tokens, stems, stem pairs,
fingerprint, each computed once per paragraph), fingerprints and settings; no library, no I/O.

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
* ``covered`` when none of the above holds but at least ``paragraph_min_cover`` of the
  smaller paragraph's distinct stems are in the other, with at least
  ``paragraph_cover_min_shared`` stems shared: a reworded lead that reorders clauses and
  changes verb forms (يقول / قال, تندد / نددت), which neither the fingerprint nor the word
  pairs see. Many paragraphs of one article share a few names, hence the minimum;
* a short paragraph (fewer distinct stems) is never judged by its fingerprint: besides an
  exact match it is dropped only when its stem set overlaps K's by at least
  ``SHORT_PARAGRAPH_MIN_OVERLAP`` with ``SHORT_PARAGRAPH_MIN_SHARED`` stems in common.

The first occurrence stays, except for containment and cover, where the smaller paragraph goes
whichever comes first (on a tie, the later one): a scraper's truncated or reworded excerpt
above the full paragraph is dropped, not the full paragraph. An exact repeat names the first
kept paragraph with the same text; otherwise the matching kept paragraph with the highest
overlap (then the smallest distance, then the earliest) is named in ``duplicate_of``; a kept
paragraph dropped later as ``contained`` or ``covered`` names the later paragraph that holds
it. For ``contained``, ``Removed.overlap`` is the containment (share of the smaller
paragraph's stem bigrams found in the other), for ``covered`` the cover (share of the smaller
one's distinct stems found in the other).

Article rule (``article_match``): two articles tell the same story when their fingerprints
are within ``article_max_distance`` bits and their stem sets overlap (Jaccard) by at least
``article_min_overlap``; which story an item joins is ``decide.py``'s. Thresholds and how they
were measured: ``settings.DedupSettings`` and ``bench/measure_thresholds.py``.

Texts without a content word have no fingerprint and an empty stem set: they are never
duplicates of anything, so empty or punctuation-only texts do not cluster.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import replace

from ingest import fingerprint
from ingest.fingerprint import Para
from ingest.models import Cleaned, Reason, Removed
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

NEAR_DUPLICATE = Reason.NEAR_DUPLICATE
EXACT_DUPLICATE = Reason.EXACT_DUPLICATE
CONTAINED = Reason.CONTAINED
COVERED = Reason.COVERED


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
    new: Para, kept: Para, settings: DedupSettings
) -> tuple[str, int, float] | None:
    """``(reason, distance, overlap)`` when ``new`` repeats ``kept``, else ``None``."""
    if new.key and new.key == kept.key:
        return EXACT_DUPLICATE, 0, 1.0
    a, b = new.stem_set, kept.stem_set
    if not a or not b:
        return None
    # jaccard(a, b), with the shared count kept for the short rule
    shared = len(a & b)
    overlap = shared / (len(a) + len(b) - shared)
    if min(len(a), len(b)) < settings.paragraph_min_tokens:  # short
        matched = overlap >= SHORT_PARAGRAPH_MIN_OVERLAP and shared >= SHORT_PARAGRAPH_MIN_SHARED
        return (NEAR_DUPLICATE, fingerprint.distance(new.fp, kept.fp), overlap) if matched else None
    # Both conditions must hold; the set overlap is the cheap one, the fingerprint is computed
    # only for the pairs that pass it.
    if overlap >= settings.paragraph_min_overlap:
        dist = fingerprint.distance(new.fp, kept.fp)
        if dist <= settings.paragraph_max_distance:
            return NEAR_DUPLICATE, dist, overlap
    if len(a) <= len(b) and new.pairs:
        contained = len(new.pairs & kept.pairs) / len(new.pairs)
        if contained >= settings.paragraph_min_containment:
            return CONTAINED, fingerprint.distance(new.fp, kept.fp), contained
    if len(a) <= len(b) and _covers(shared, len(a), settings):
        return COVERED, fingerprint.distance(new.fp, kept.fp), shared / len(a)
    return None


def _covers(shared: int, smaller: int, settings: DedupSettings) -> bool:
    """Whether ``shared`` distinct stems cover a paragraph of ``smaller`` distinct stems."""
    return (
        shared >= settings.paragraph_cover_min_shared
        and shared >= settings.paragraph_min_cover * smaller
    )


def _subsumes(
    new: Para, kept: Para, shared_pairs: int, settings: DedupSettings
) -> tuple[str, float] | None:
    """``(reason, figure)`` when the earlier ``kept`` paragraph is the smaller one (fewer
    distinct stems) and is contained in ``new``, or covered by it without being its near
    duplicate: it is then dropped in favour of ``new``. ``shared_pairs`` is
    ``len(new.pairs & kept.pairs)``."""
    size, kept_size = len(new.stem_set), len(kept.stem_set)
    if kept_size < settings.paragraph_min_tokens or kept_size >= size:
        return None  # equal sizes: the first occurrence stays
    if kept.pairs:
        contained = shared_pairs / len(kept.pairs)
        if contained >= settings.paragraph_min_containment and contained:
            return CONTAINED, contained
    shared = len(new.stem_set & kept.stem_set)
    if not _covers(shared, kept_size, settings):
        return None
    overlap = shared / (size + kept_size - shared)
    if (
        overlap >= settings.paragraph_min_overlap
        and fingerprint.distance(new.fp, kept.fp) <= settings.paragraph_max_distance
    ):
        return None  # a near duplicate: the later one goes, as for any near duplicate
    return COVERED, shared / kept_size


_RANK: dict[str, int] = {EXACT_DUPLICATE: 0, NEAR_DUPLICATE: 1, CONTAINED: 2, COVERED: 3}


def _strongest(matches: list[tuple[int, str, int, float]]) -> tuple[int, str, int, float] | None:
    if not matches:
        return None
    # the strongest rule, then the highest overlap, the smallest distance, the earliest
    return min(matches, key=lambda m: (_RANK[m[1]], -m[3], m[2], m[0]))


def _judge(
    new: Para, compared: Sequence[tuple[int, int, Para]], settings: DedupSettings
) -> tuple[list[tuple[int, int, Para, str, float]], tuple[int, str, int, float] | None]:
    """The kept paragraphs (of ``compared``) that ``new`` subsumes (``_subsumes``), with the
    reason and figure; when there are none, the kept paragraph ``new`` repeats most closely:
    ``(index, reason, distance, overlap)``, or ``None``.

    The two rules in one pass over the kept paragraphs, inlined: the same conditions, in the
    same order, on the same counts as ``_subsumes`` and ``_paragraph_match`` (which ``explain``
    uses), so the figures are identical; this is the loop that runs for every pair.
    """
    min_tokens = settings.paragraph_min_tokens
    min_overlap = settings.paragraph_min_overlap
    max_distance = settings.paragraph_max_distance
    min_containment = settings.paragraph_min_containment
    min_cover, cover_shared = settings.paragraph_min_cover, settings.paragraph_cover_min_shared
    distance = fingerprint.distance
    key, stems, pairs = new.key, new.stem_set, new.pairs
    size = len(stems)
    subsumed: list[tuple[int, int, Para, str, float]] = []
    matches: list[tuple[int, str, int, float]] = []
    for index, position, other in compared:
        other_stems = other.stem_set
        other_size = len(other_stems)
        if other_size < size and other_size >= min_tokens:  # _subsumes
            if other.pairs:
                contained = len(pairs & other.pairs) / len(other.pairs)
                if contained >= min_containment and contained:
                    subsumed.append((index, position, other, CONTAINED, contained))
                    continue
            shared = len(stems & other_stems)
            if shared >= cover_shared and shared >= min_cover * other_size:
                overlap = shared / (size + other_size - shared)
                if overlap < min_overlap or distance(new.fp, other.fp) > max_distance:
                    subsumed.append((index, position, other, COVERED, shared / other_size))
                    continue
        if subsumed:
            continue  # no match is needed any more: the new paragraph stays
        # _paragraph_match(new, other)
        if key and key == other.key:
            matches.append((index, EXACT_DUPLICATE, 0, 1.0))
            continue
        if not size or not other_size:
            continue
        shared = len(stems & other_stems)
        overlap = shared / (size + other_size - shared)
        if size < min_tokens or other_size < min_tokens:  # short
            if overlap >= SHORT_PARAGRAPH_MIN_OVERLAP and shared >= SHORT_PARAGRAPH_MIN_SHARED:
                matches.append((index, NEAR_DUPLICATE, distance(new.fp, other.fp), overlap))
            continue
        if overlap >= min_overlap:
            dist = distance(new.fp, other.fp)
            if dist <= max_distance:
                matches.append((index, NEAR_DUPLICATE, dist, overlap))
                continue
        if size <= other_size and pairs:
            contained = len(pairs & other.pairs) / len(pairs)
            if contained >= min_containment:
                matches.append((index, CONTAINED, distance(new.fp, other.fp), contained))
                continue
        if size <= other_size and shared >= cover_shared and shared >= min_cover * size:
            matches.append((index, COVERED, distance(new.fp, other.fp), shared / size))
    return subsumed, (None if subsumed else _strongest(matches))


def dedupe_paragraphs(
    cleaned: Cleaned, paras: Sequence[Para], settings: DedupSettings
) -> tuple[Cleaned, tuple[Para, ...]]:
    """Drop paragraphs that repeat another paragraph of the same item (see the module rules).

    ``paras`` are ``cleaned.paragraphs`` analysed (``fingerprint.analyse``). Each drop is
    recorded as a ``Removed`` (``exact_duplicate``, ``near_duplicate`` or ``contained``) naming
    the other paragraph's position, the fingerprint distance and the overlap; the result's
    ``removed`` merges these with ``cleaned.removed``, sorted by position. Returns the cleaned
    item and the analyses of the paragraphs it keeps.

    Each pair of paragraphs is compared with set intersections (stems, and stem pairs only
    when a containment can decide), never stem by stem in Python.
    """
    positions = cleaned.positions
    if len(positions) != len(cleaned.paragraphs):
        positions = tuple(range(len(cleaned.paragraphs)))
    # kept[i] is None once the paragraph was dropped as contained in a later one
    kept: list[tuple[int, Para] | None] = []
    first_with_key: dict[str, int] = {}  # normalised text -> index in kept
    removed = list(cleaned.removed)
    for position, para in zip(positions, paras, strict=True):
        exact = first_with_key.get(para.key) if para.key else None
        match: tuple[int, str, int, float] | None = None
        if exact is not None and kept[exact] is not None:
            match = (exact, EXACT_DUPLICATE, 0, 1.0)
        else:
            compared = [
                (index, *k) for index, k in enumerate(kept[:MAX_NEAR_COMPARED]) if k is not None
            ]
            # Subsumed earlier paragraphs go first (a truncated excerpt above the full
            # paragraph), and the new one, the fuller text, then stays.
            subsumed, match = _judge(para, compared, settings)
            for index, other_position, other, reason, figure in subsumed:
                kept[index] = None
                dist = fingerprint.distance(para.fp, other.fp)
                removed.append(
                    _removed(
                        reason,
                        other.text,
                        other_position,
                        other=position,
                        dist=dist,
                        overlap=figure,
                    )
                )
        if match is not None:
            index, reason, dist, overlap = match
            other_kept = kept[index]
            assert other_kept is not None
            removed.append(
                _removed(
                    reason, para.text, position, other=other_kept[0], dist=dist, overlap=overlap
                )
            )
            continue
        if para.key:
            first_with_key.setdefault(para.key, len(kept))
        kept.append((position, para))
    removed.sort(key=lambda item: item.position)
    alive = [k for k in kept if k is not None]
    result = replace(
        cleaned,
        paragraphs=tuple(para.text for _, para in alive),
        removed=tuple(removed),
        positions=tuple(position for position, _ in alive),
    )
    return result, tuple(para for _, para in alive)


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


def article_match(
    fp_a: int,
    stems_a: Set[str],
    fp_b: int,
    stems_b: Set[str],
    settings: DedupSettings,
) -> tuple[int, float] | None:
    """``(distance, overlap)`` when two articles tell the same story by the article rule
    (fingerprints within ``article_max_distance`` bits, stem sets overlapping by at least
    ``article_min_overlap``), else ``None``. Articles without a fingerprint never match."""
    if fingerprint.NO_FINGERPRINT in (fp_a, fp_b):
        return None
    dist = fingerprint.distance(fp_a, fp_b)
    if dist > settings.article_max_distance:
        return None
    overlap = jaccard(stems_a, stems_b)
    if overlap < settings.article_min_overlap:
        return None
    return dist, round(overlap, _OVERLAP_DIGITS)


def paragraph_figures(a: Para, b: Para) -> tuple[int, float, float]:
    """``(distance, overlap, containment)`` of two paragraphs: fingerprint distance, stem-set
    Jaccard, and the share of the smaller one's stem bigrams found in the other."""
    small, big = (a, b) if len(a.stem_set) <= len(b.stem_set) else (b, a)
    return (
        fingerprint.distance(a.fp, b.fp),
        jaccard(a.stem_set, b.stem_set),
        containment(small.pairs, big.pairs),
    )


def explain_pair(
    paras_a: Sequence[Para], paras_b: Sequence[Para], settings: DedupSettings
) -> tuple[int, float, str]:
    """``(distance, overlap, verdict)`` for two texts, for ``ingest explain --text``.

    Texts with one paragraph each are judged by the paragraph rule, anything longer by the
    article rule; the verdict says which rule and which threshold decided.
    """
    a = fingerprint.article_features(paras_a)
    b = fingerprint.article_features(paras_b)
    overlap = jaccard(a.stems, b.stems)
    dist = fingerprint.distance(a.simhash, b.simhash)
    if fingerprint.NO_FINGERPRINT in (a.simhash, b.simhash):
        return dist, overlap, "new: a text without content words has no fingerprint"
    if len(paras_a) <= 1 and len(paras_b) <= 1:
        verdict = _explain_paragraphs(paras_a[0], paras_b[0], settings)
    elif a.text_hash == b.text_hash:
        verdict = "exact (the same text once normalised: rule text)"
    else:
        near = article_match(a.simhash, a.stems, b.simhash, b.stems, settings) is not None
        verdict = "near" if near else "new"
    return dist, round(overlap, _OVERLAP_DIGITS), verdict


def paragraph_rule(settings: DedupSettings) -> str:
    """The paragraph rule with the thresholds in force, in words."""
    return (
        f"paragraph rule: distance <= {settings.paragraph_max_distance}"
        f" and overlap >= {settings.paragraph_min_overlap:.2f},"
        f" or containment >= {settings.paragraph_min_containment:.2f},"
        f" or cover >= {settings.paragraph_min_cover:.2f}"
        f" with {settings.paragraph_cover_min_shared} stems shared"
    )


def short_paragraph_rule(settings: DedupSettings) -> str:
    """The rule for paragraphs with few stems, in words."""
    return (
        f"paragraph rule, short (< {settings.paragraph_min_tokens} stems): exact match or"
        f" overlap >= {SHORT_PARAGRAPH_MIN_OVERLAP:.2f}"
    )


def article_rule(settings: DedupSettings) -> str:
    """The article rule with the thresholds in force, in words."""
    return (
        f"article rule: distance <= {settings.article_max_distance}"
        f" and overlap >= {settings.article_min_overlap:.2f}"
    )


def _explain_paragraphs(a: Para, b: Para, settings: DedupSettings) -> str:
    # Either may be the smaller one: containment is judged from the smaller side.
    small, big = (a, b) if len(a.stem_set) < len(b.stem_set) else (b, a)
    subsumed = _subsumes(big, small, len(small.pairs & big.pairs), settings)
    if subsumed:
        match: tuple[str, int, float] | None = (subsumed[0], 0, subsumed[1])
    else:
        match = _paragraph_match(b, a, settings) or _paragraph_match(a, b, settings)
    if match is None:
        return "different"
    if match[0] == CONTAINED:
        return f"contained: containment {match[2]:.2f}"
    if match[0] == COVERED:
        return f"covered: cover {match[2]:.2f}"
    return str(match[0])
