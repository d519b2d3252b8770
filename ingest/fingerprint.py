"""64-bit simhash fingerprints over Arabic stems, versioned; helpers to store and compare them.

A fingerprint is ``simhash.Simhash`` (md5 per feature, 64 bits) over *precomputed* features:
the stems from ``ingest.arabic.stems``, each counted as often as it occurs (term frequency).
The package's own text tokenizer (character 4-grams of ``\\w``) is never used: on Arabic it
cannot separate reworded paragraphs from unrelated ones (``DEDUP.md``).

``0`` means "no fingerprint": a text without a single content word (empty, punctuation only,
stopwords only) gets ``0`` and callers must skip it, because every featureless text would
otherwise share one fingerprint and cluster together. (A real simhash of ``0`` has
probability 2**-64 and is treated the same way.)

Near-duplicate articles lie up to 14 bits apart (``settings.DedupSettings``), beyond what a
4x16-bit band index can find (exact only up to 3 bits), so ``WindowIndex`` keeps the canonical
fingerprints of the dedup window in numpy arrays and scans them with XOR and popcount:
``DEDUP.md`` measured 0.67 ms for a million, whatever the distance.

This is the only module that imports ``simhash`` and ``numpy``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import simhash

from ingest import arabic

FINGERPRINT_VERSION = 1
"""Bump whenever anything that feeds a fingerprint changes: the normalisation table, the
stopword list or the stemmer in ``ingest.arabic`` (``arabic.STEMMER_ID``), the feature
weighting below, or the ``simhash`` package (pinned in pyproject). ``dedupe.text_hash``
depends on the normalisation too. Version 1: snowball-arabic/PyStemmer-3.1.0, term-frequency
stem features, no IDF table, simhash 2.1.2 (md5)."""

NO_FINGERPRINT = 0
BITS = 64
BAND_BITS = 16
_MASK = (1 << BITS) - 1
_BAND_MASK = (1 << BAND_BITS) - 1
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


def text_fingerprint(text: str) -> int:
    """Fingerprint of one text (a paragraph or a whole body): its stems, term-weighted."""
    return fingerprint(arabic.stems(text))


def distance(a: int, b: int) -> int:
    """Hamming distance between two fingerprints: the number of differing bits."""
    return ((a ^ b) & _MASK).bit_count()


def bands(fp: int) -> tuple[int, int, int, int]:
    """Four 16-bit bands, lowest bits first, for the indexed lookup.

    Pigeonhole: two fingerprints at distance <= 3 share at least one band. Larger distances
    are not guaranteed to share one (see ``bench/measure_thresholds.py`` for what it misses).
    """
    fp &= _MASK
    return (
        fp & _BAND_MASK,
        (fp >> 16) & _BAND_MASK,
        (fp >> 32) & _BAND_MASK,
        (fp >> 48) & _BAND_MASK,
    )


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


class WindowIndex:
    """The canonical fingerprints of the dedup window, in memory, scanned with XOR and popcount.

    Rows are ``(article id, fingerprint, time)`` with the time in epoch seconds (published, else
    fetched). ``last_id`` is the highest id added, so a caller can fetch only newer rows from
    the store. Rows older than the newest time minus twice the window are evicted, so memory
    follows the window, not the store.
    """

    def __init__(self, window_s: int) -> None:
        self.window_s = window_s
        self.last_id = 0
        self._ids = np.empty(0, dtype=np.int64)
        self._fps = np.empty(0, dtype=np.uint64)
        self._ts = np.empty(0, dtype=np.int64)
        self._pending: list[tuple[int, int, int]] = []
        self._newest = -(1 << 62)

    def __len__(self) -> int:
        return len(self._ids) + len(self._pending)

    def add(self, rows: Iterable[tuple[int, int, int]]) -> None:
        for article_id, fp, ts in rows:
            if fp == NO_FINGERPRINT:
                continue
            self._pending.append((article_id, fp & _MASK, ts))
            self.last_id = max(self.last_id, article_id)
            self._newest = max(self._newest, ts)

    def _flush(self) -> None:
        if self._pending:
            ids, fps, ts = zip(*self._pending, strict=True)
            self._ids = np.concatenate([self._ids, np.array(ids, dtype=np.int64)])
            self._fps = np.concatenate([self._fps, np.array(fps, dtype=np.uint64)])
            self._ts = np.concatenate([self._ts, np.array(ts, dtype=np.int64)])
            self._pending.clear()
            keep = self._ts >= self._newest - 2 * self.window_s
            if not keep.all():
                self._ids, self._fps, self._ts = self._ids[keep], self._fps[keep], self._ts[keep]

    def query(
        self, fp: int, ts: int, max_distance: int, *, extra: Sequence[tuple[int, int, int]] = ()
    ) -> list[tuple[int, int]]:
        """``(id, distance)`` of the fingerprints within ``max_distance`` bits whose time is
        within the window of ``ts``, nearest first; ``extra`` rows are searched too (a batch
        not yet committed)."""
        self._flush()
        found: list[tuple[int, int]] = []
        if len(self._ids):
            dist = np.bitwise_count(self._fps ^ np.uint64(fp & _MASK))
            hit = np.flatnonzero(dist <= max_distance)
            # Only the few hits need the time test: fewer passes over the whole window.
            hit = hit[np.abs(self._ts[hit] - ts) <= self.window_s]
            found = list(zip(self._ids[hit].tolist(), dist[hit].tolist(), strict=True))
        for article_id, other, other_ts in extra:
            d = distance(fp, other)
            if (
                other != NO_FINGERPRINT
                and d <= max_distance
                and abs(other_ts - ts) <= self.window_s
            ):
                found.append((article_id, d))
        return sorted(found, key=lambda hit: (hit[1], hit[0]))
