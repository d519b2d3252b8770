"""The fingerprint features: each paragraph analysed once, 64-bit simhash over Arabic stems.

Analysis, once per paragraph (``analyse``)::

    text -> arabic.tokens (normalised words) -> key (the words joined: exact repeats)
                                              -> bkey (a short hash of the key: boilerplate)
         -> arabic.stem_tokens (content words' stems, in order)
         -> stem set, stem pairs (consecutive stems: word order, for containment)
         -> fingerprint, computed when a rule first needs a distance

and once per article (``article_features``) over the paragraphs it keeps: the stem counts,
their fingerprint, the distinct stems (the article rule's overlap) and the text hash (exact
duplicates). Every later stage (boilerplate, the paragraph rule, the article decision, the
search index, the store) reads these records; nothing normalises or stems a text twice.

A fingerprint is ``simhash.Simhash`` (md5 per feature, 64 bits) over *precomputed* features:
the stems, each counted as often as it occurs (term frequency). The package's own text
tokenizer (character 4-grams of ``\\w``) is never used: on Arabic it cannot separate reworded
paragraphs from unrelated ones (``DEDUP.md``). ``fingerprint()`` calls the package and is the
reference; paragraphs and articles get the same value from per-stem bit counters that add up
(``_Lanes``: a paragraph's counters are summed once, an article's are the sum of its kept
paragraphs'), about ten times cheaper than the package's md5 and numpy per call.

``0`` means "no fingerprint": a text without a single content word (empty, punctuation only,
stopwords only) gets ``0`` and callers must skip it, because every featureless text would
otherwise share one fingerprint and cluster together. (A real simhash of ``0`` has
probability 2**-64 and is treated the same way.)

Near-duplicate articles lie up to 14 bits apart (``settings.DedupSettings``), beyond what a
4x16-bit band index can find (exact only up to 3 bits), so ``WindowIndex`` keeps fingerprints
in numpy arrays and scans them with XOR and popcount: ``DEDUP.md`` measured 0.67 ms for a
million, whatever the distance.

This is the only module that imports ``simhash`` and ``numpy``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ingest import arabic


class _OnFirstUse:
    """A library imported when first used, then bound to its name in this module.

    The parse workers import this module for the analysis and never touch numpy (only
    ``WindowIndex`` does, in the main process) nor the simhash package (``fingerprint()``, the
    reference, runs only for totals too large for the counters): importing the two cost a
    worker 100 to 150 ms of its start (``bench/bench_prepare.py``).
    """

    def __init__(self, module: str, binding: str) -> None:
        self._module = module
        self._binding = binding

    def __getattr__(self, name: str) -> Any:
        module = importlib.import_module(self._module)  # thread-safe: the import lock
        globals()[self._binding] = module
        return getattr(module, name)


if TYPE_CHECKING:
    import numpy as np
    import simhash
else:
    np = _OnFirstUse("numpy", "np")
    simhash = _OnFirstUse("simhash", "simhash")

FINGERPRINT_VERSION = 1
"""Bump whenever anything that feeds a fingerprint changes: the normalisation table, the
stopword list or the stemmer in ``ingest.arabic`` (``arabic.STEMMER_ID``), the feature
weighting below, or the ``simhash`` package (pinned in pyproject). The text hash, the stored
stem sets and the boilerplate keys depend on the normalisation too. Version 1:
snowball-arabic/PyStemmer-3.1.0, term-frequency stem features, no IDF table, simhash 2.1.2
(md5)."""

NO_FINGERPRINT = 0
BITS = 64
_MASK = (1 << BITS) - 1
_SIGN = 1 << (BITS - 1)
_HEX = re.compile(r"[0-9a-fA-F]{16}")
_MAX_CHUNK = 50  # simhash.Simhash.large_weight_cutoff


def fingerprint(features: Iterable[str] | Mapping[str, int]) -> int:
    """The 64-bit simhash of ``features``; ``NO_FINGERPRINT`` (0) when there are none.

    ``features`` is a sequence of feature strings (repeats count as weight) or a mapping of
    feature to positive integer weight. Repeats are counted first, so md5 runs once per
    distinct feature; the value equals ``simhash.Simhash(list_of_features)``.
    """
    if isinstance(features, str):
        # Simhash would silently run its own tokenizer on a string.
        raise TypeError("fingerprint() takes features, not text: use text_fingerprint()")
    counts = features if isinstance(features, Mapping) else Counter(features)
    weights: dict[str, int] | list[tuple[str, int]]
    if all(0 < weight <= _MAX_CHUNK for weight in counts.values()):
        weights = dict(counts)
    else:
        weights = [
            (feature, chunk)
            for feature, weight in counts.items()
            if weight > 0
            for chunk in _chunks(weight)
        ]
    if not weights:
        return NO_FINGERPRINT
    value: int = simhash.Simhash(weights, f=BITS).value
    return value & _MASK


def _chunks(weight: int) -> list[int]:
    # simhash 2.1.2 multiplies a uint8 bit array by any weight above 50: numpy 2 raises
    # OverflowError above 255 and numpy 1 silently wraps. Weights of at most 50 take its
    # exact integer path, and splitting a weight into such chunks leaves the sums unchanged.
    full, rest = divmod(weight, _MAX_CHUNK)
    return [_MAX_CHUNK] * full + ([rest] if rest else [])


# -- the same value, faster: bit counts in lanes of one integer ---------------------------------
#
# ``simhash.Simhash`` sets bit j of a fingerprint when the weighted count of features whose md5
# (its last 8 bytes, big-endian) has bit j set is more than half the total weight. ``_Lanes``
# keeps, per feature, those 64 bits spread into 64 counters of ``_LANE`` bits in one Python
# integer, so that adding two such integers adds 64 counters at once: a paragraph's counters
# are the sum of its stems' integers, an article's the sum of its paragraphs'. ``_from_lanes``
# then compares every counter with half the total in one addition. The value is exactly the
# package's (``tests/test_fingerprint.py`` compares them on every corpus paragraph and article
# and on generated feature lists); totals too large for a lane take ``fingerprint()``.

_LANE = 16
_LANE_LIMIT = 1 << (_LANE - 1)
"""A total weight below this fits in every lane, the bias of ``_from_lanes`` included."""
_LANES_CACHE = 1 << 16
"""Features whose counters are kept (about 10 MB): news vocabulary repeats."""
_ONES = sum(1 << (_LANE * bit) for bit in range(BITS))
_TOPS = _ONES << (_LANE - 1)
# _BYTE_LANES[k][v]: the counters of byte value v at byte k (0 = least significant) of the hash
_BYTE_LANES = tuple(
    tuple(
        sum(1 << (_LANE * (8 * k + j)) for j in range(8) if value >> j & 1) for value in range(256)
    )
    for k in range(8)
)
_TOP_BIT_DIGIT = bytes(0x31 if byte & 0x80 else 0x30 for byte in range(256))  # "1" / "0"


class _Lanes(dict[str, int]):
    """Feature -> its hash bits as counters (a bounded cache: cleared when full)."""

    def __missing__(self, feature: str) -> int:
        if len(self) >= _LANES_CACHE:
            self.clear()
        # simhash's hash function: md5 of the UTF-8 bytes, its last 8 bytes read big-endian
        d = hashlib.md5(feature.encode("utf-8"), usedforsecurity=False).digest()
        b = _BYTE_LANES
        lanes = (
            b[0][d[15]] | b[1][d[14]] | b[2][d[13]] | b[3][d[12]]
            | b[4][d[11]] | b[5][d[10]] | b[6][d[9]] | b[7][d[8]]
        )  # fmt: skip
        self[feature] = lanes
        return lanes


_LANES = _Lanes()


def _from_lanes(lanes: int, total: int) -> int:
    """The fingerprint whose bit j is set when counter j is more than ``total / 2``
    (``0 < total < _LANE_LIMIT``): adding ``_LANE_LIMIT - total // 2 - 1`` to every counter
    sets a counter's top bit exactly then, and the top bits are read off the bytes."""
    lanes += (_LANE_LIMIT - total // 2 - 1) * _ONES
    top = (lanes & _TOPS).to_bytes(BITS * _LANE // 8, "big")
    return int(top[:: _LANE // 8].translate(_TOP_BIT_DIGIT), 2)


def text_fingerprint(text: str) -> int:
    """Fingerprint of one text (a paragraph or a whole body): its stems, term-weighted."""
    return fingerprint(arabic.stems(text))


def distance(a: int, b: int) -> int:
    """Hamming distance between two fingerprints: the number of differing bits."""
    return ((a ^ b) & _MASK).bit_count()


# -- analysis -------------------------------------------------------------------------------


def _bkey(key: str) -> str:
    if not key:
        return ""
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Para:
    """One paragraph, analysed once: what every rule compares.

    Not slotted, so that the fingerprint can be computed the first time a rule asks for a
    distance (most pairs of paragraphs fail on word overlap first).
    """

    text: str
    """The display text, untouched."""
    key: str
    """The normalised words joined by spaces: equal keys are exact repeats (``""``: no word)."""
    bkey: str
    """A short hash of ``key``: the paragraph's boilerplate key (``""``: no word)."""
    stems: tuple[str, ...]
    """The stems of the content words, in order, repeats kept."""
    stem_set: frozenset[str]
    pairs: frozenset[tuple[str, str]]
    """Stem bigrams (consecutive content words): what containment compares."""

    @functools.cached_property
    def lanes(self) -> int:
        """The stems' hash bits, counted (see ``_Lanes``): what the fingerprints add up."""
        return sum(map(_LANES.__getitem__, self.stems))

    @functools.cached_property
    def fp(self) -> int:
        """The paragraph's fingerprint (``NO_FINGERPRINT`` without a content word)."""
        total = len(self.stems)
        if not total:
            return NO_FINGERPRINT
        if total < _LANE_LIMIT:
            return _from_lanes(self.lanes, total)
        return fingerprint(self.stems)


def analyse_paragraph(text: str) -> Para:
    """Normalise, tokenise and stem one paragraph (``arabic``), once."""
    words = arabic.tokens(text)
    stems = arabic.stem_tokens(words)
    key = " ".join(words)
    return Para(
        text=text,
        key=key,
        bkey=_bkey(key),
        stems=tuple(stems),
        stem_set=frozenset(stems),
        pairs=frozenset(itertools.pairwise(stems)),
    )


def stems_of(text: str) -> tuple[str, ...]:
    """``analyse_paragraph(text).stems`` without the rest of the analysis (a title's)."""
    return tuple(arabic.stem_tokens(arabic.tokens(text)))


def analyse(texts: Iterable[str]) -> tuple[Para, ...]:
    """``analyse_paragraph`` for each text."""
    return tuple(analyse_paragraph(text) for text in texts)


def boilerplate_key(text: str) -> str:
    """The boilerplate key of a text (``Para.bkey``), for texts not analysed otherwise."""
    return _bkey(" ".join(arabic.tokens(text)))


@dataclass(frozen=True, slots=True)
class ArticleFeatures:
    """An article's features, from the paragraphs it keeps."""

    simhash: int
    """The fingerprint of all the stems, repeats counted: ``NO_FINGERPRINT`` without one."""
    stems: frozenset[str]
    """The distinct stems: the article rule's overlap."""
    text_hash: str
    """SHA-256 (hex) of the normalised words of the whole text: insensitive to diacritics,
    hamza and alef forms, punctuation, spacing and paragraph breaks; ``""`` without a word."""


def article_features(paras: Sequence[Para]) -> ArticleFeatures:
    """The article fingerprint, stem set and text hash of ``paras`` (the kept paragraphs).

    The title is deliberately not part of it: aggregators rewrite titles of copied items.
    """
    total = sum(len(para.stems) for para in paras)
    if not total:
        simhash_ = NO_FINGERPRINT
    elif total < _LANE_LIMIT:
        simhash_ = _from_lanes(sum(para.lanes for para in paras), total)
    else:
        simhash_ = fingerprint(Counter(itertools.chain.from_iterable(p.stems for p in paras)))
    return ArticleFeatures(
        simhash=simhash_,
        stems=frozenset().union(*(para.stem_set for para in paras)),
        text_hash=text_hash_of(para.key for para in paras),
    )


def text_hash_of(keys: Iterable[str]) -> str:
    """The text hash of paragraphs given by their keys (``Para.key``)."""
    normalised = " ".join(key for key in keys if key)
    if not normalised:
        return ""
    return hashlib.sha256(normalised.encode("utf-8", "surrogatepass")).hexdigest()


def features_text(stems: Iterable[str]) -> str:
    """A stem set as stored (sorted, space-separated): ``features_set`` reads it back."""
    return " ".join(sorted(stems))


def features_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# -- storage forms --------------------------------------------------------------------------


def to_hex(fp: int) -> str:
    """16 lowercase hex digits, zero-padded (stable for logs, tests and exports)."""
    return f"{fp & _MASK:016x}"


def from_hex(text: str) -> int:
    """Inverse of ``to_hex``; ``ValueError`` unless exactly 16 hex digits."""
    if not _HEX.fullmatch(text):
        raise ValueError(f"a fingerprint is 16 hex digits, got {text!r}")
    return int(text, 16)


def to_signed64(fp: int) -> int:
    """The fingerprint as a signed 64-bit integer, for SQL ``BIGINT``/SQLite ``INTEGER``."""
    if not 0 <= fp <= _MASK:
        raise ValueError(f"not a 64-bit fingerprint: {fp}")
    return fp - (1 << BITS) if fp & _SIGN else fp


def from_signed64(value: int) -> int:
    """Inverse of ``to_signed64``."""
    if not -_SIGN <= value < _SIGN:
        raise ValueError(f"not a signed 64-bit integer: {value}")
    return value & _MASK


# -- the in-memory lookup -------------------------------------------------------------------

BUCKET_S = 86400
"""The index loads and evicts whole days of dedup time."""


class WindowIndex:
    """Fingerprints of stored articles, in memory, scanned with XOR and popcount.

    Rows are ``(article id, fingerprint, dedup time)`` with the time in epoch seconds. The
    index holds every article whose dedup time lies in a *loaded day*; which days are loaded is
    the caller's business (``pipeline.py``): the days around the clock, kept loaded, plus the
    days a backfilled article needs, loaded on demand and dropped at the next ``evict``. So
    memory follows the clock, never the newest date a feed claims, and no row is ever skipped
    for good: a day is either wholly loaded or not at all.

    ``last_seq`` is the store's change sequence (``articles.seq``) the index has caught up
    with: ``apply_changes`` takes every row written since (inserted, edited, re-fingerprinted)
    and keeps those of loaded days, so several writers' indexes stay in step.
    """

    def __init__(self, window_s: int) -> None:
        self.window_s = window_s
        self.last_seq = 0
        self._days: set[int] = set()
        self._ids = np.empty(0, dtype=np.int64)
        self._fps = np.empty(0, dtype=np.uint64)
        self._ts = np.empty(0, dtype=np.int64)
        self._pending: dict[int, tuple[int, int]] = {}
        self._dropped: set[int] = set()

    def __len__(self) -> int:
        self._flush()
        return len(self._ids)

    @staticmethod
    def day(ts: int) -> int:
        return ts // BUCKET_S

    def days_needed(self, ts: int) -> list[int]:
        """The days an article at ``ts`` is compared with that are not loaded yet."""
        first, last = self.day(ts - self.window_s), self.day(ts + self.window_s)
        return [d for d in range(first, last + 1) if d not in self._days]

    def load(self, days: Iterable[int], rows: Iterable[tuple[int, int, int]]) -> None:
        """Mark ``days`` loaded, with ``rows`` (stored articles of those days; a long load may
        come in several calls)."""
        wanted = set(days)
        self._days |= wanted
        for article_id, fp, ts in rows:
            if self.day(ts) in wanted:
                self._put(article_id, fp, ts)
        # Into arrays now: a dict of Python ints costs ~10x the memory of the arrays.
        self._flush()

    def apply_changes(self, rows: Iterable[tuple[int, int, int, int]]) -> None:
        """Rows ``(id, fingerprint, dedup time, seq)`` written since ``last_seq``: kept when
        their day is loaded, dropped otherwise (an edit may move an article out)."""
        for article_id, fp, ts, seq in rows:
            self.last_seq = max(self.last_seq, seq)
            if self.day(ts) in self._days:
                self._put(article_id, fp, ts)
            else:
                self._drop(article_id)

    def _put(self, article_id: int, fp: int, ts: int) -> None:
        self._dropped.discard(article_id)
        if fp == NO_FINGERPRINT:
            self._drop(article_id)
            return
        self._pending[article_id] = (fp & _MASK, ts)

    def _drop(self, article_id: int) -> None:
        self._pending.pop(article_id, None)
        self._dropped.add(article_id)

    def evict(self, keep: Iterable[int]) -> None:
        """Forget every day not in ``keep`` (and its rows)."""
        keep_days = set(keep)
        if self._days <= keep_days:
            return
        self._flush()
        self._days &= keep_days
        mask = np.isin(self._ts // BUCKET_S, np.fromiter(self._days, dtype=np.int64))
        self._ids, self._fps, self._ts = self._ids[mask], self._fps[mask], self._ts[mask]

    def _flush(self) -> None:
        if not self._pending and not self._dropped:
            return
        stale = self._dropped | self._pending.keys()
        if stale and len(self._ids):
            keep = ~np.isin(self._ids, np.fromiter(stale, dtype=np.int64, count=len(stale)))
            self._ids, self._fps, self._ts = self._ids[keep], self._fps[keep], self._ts[keep]
        if self._pending:
            count = len(self._pending)
            ids = np.fromiter(self._pending.keys(), dtype=np.int64, count=count)
            fps = np.fromiter((v[0] for v in self._pending.values()), dtype=np.uint64, count=count)
            ts = np.fromiter((v[1] for v in self._pending.values()), dtype=np.int64, count=count)
            self._ids = np.concatenate([self._ids, ids])
            self._fps = np.concatenate([self._fps, fps])
            self._ts = np.concatenate([self._ts, ts])
        self._pending.clear()
        self._dropped.clear()

    def query(
        self, fp: int, ts: int, max_distance: int, *, extra: Sequence[tuple[int, int, int]] = ()
    ) -> list[tuple[int, int]]:
        """``(id, distance)`` of the fingerprints within ``max_distance`` bits whose time is
        within the window of ``ts``, nearest first (then by id); ``extra`` rows are searched
        too (a batch not yet committed). Days not loaded are not searched: load them first
        (``days_needed``)."""
        self._flush()
        found: dict[int, int] = {}
        if len(self._ids):
            dist = np.bitwise_count(self._fps ^ np.uint64(fp & _MASK))
            hit = np.flatnonzero(dist <= max_distance)
            # Only the few hits need the time test: fewer passes over the whole index.
            hit = hit[np.abs(self._ts[hit] - ts) <= self.window_s]
            found = dict(zip(self._ids[hit].tolist(), dist[hit].tolist(), strict=True))
        for article_id, other, other_ts in extra:
            d = distance(fp, other)
            if (
                other != NO_FINGERPRINT
                and d <= max_distance
                and abs(other_ts - ts) <= self.window_s
            ):
                found[article_id] = d
        return sorted(found.items(), key=lambda hit: (hit[1], hit[0]))
