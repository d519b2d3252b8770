"""Labels for reworded leads and distinct paragraphs, by character 5-grams (issue 10 item 6).

The labels must not share the features of the rule they score (stems, simhash), so they use
characters:

* ``grams(text)``: ``ingest.arabic.normalize(text)`` (NFKC, casefold, diacritics, tatweel and
  bidi marks removed, alef/yeh/teh marbuta forms unified, Arabic-Indic digits folded, Arabic
  punctuation turned into spaces), then every whitespace character removed (``"".join(
  text.split())``), then the *set* of its substrings of ``GRAM`` (5) characters. A text of 1 to
  4 characters has one gram, itself; an empty one has none. Latin punctuation and digits stay.
* ``share(a, b)``: the share of ``a``'s distinct 5-grams that occur in ``b`` (``0.0`` when
  ``a`` has none). It is directional: a short paragraph wholly inside a long one has share 1.0,
  the long one a small share in the short one.
* a **lead** (the RSS summary a scraper puts above the body) is a *repeat* when its share in its
  closest body paragraph (the one holding the largest share of it) is >= ``REPEAT_MIN`` (0.6),
  *distinct* when that share is <= ``DISTINCT_MAX`` (0.16), *grey* in between.
* a **paragraph** of an item is *distinct* when its share in every other paragraph of the item
  (the lead included) is <= 0.16: at most a sixth of its text is found anywhere else in the item,
  so removing it loses text; a *repeat* when its share in some other paragraph is >= 0.6; grey
  in between.
"""

from __future__ import annotations

from collections.abc import Sequence

from ingest import arabic

GRAM = 5
REPEAT_MIN = 0.6
DISTINCT_MAX = 0.16
REPEAT, GREY, DISTINCT = "repeat", "grey", "distinct"

_GRAMS: dict[str, frozenset[str]] = {}


def grams(text: str) -> frozenset[str]:
    """The distinct character 5-grams of the normalised text without whitespace (cached)."""
    found = _GRAMS.get(text)
    if found is None:
        s = "".join(arabic.normalize(text).split())
        if len(s) < GRAM:
            found = frozenset([s]) if s else frozenset()
        else:
            found = frozenset(s[i : i + GRAM] for i in range(len(s) - GRAM + 1))
        _GRAMS[text] = found
    return found


def share(a: str, b: str) -> float:
    """The share of ``a``'s 5-grams found in ``b``."""
    ga = grams(a)
    return len(ga & grams(b)) / len(ga) if ga else 0.0


def label(value: float) -> str:
    return REPEAT if value >= REPEAT_MIN else DISTINCT if value <= DISTINCT_MAX else GREY


def lead_label(summary: str, body: Sequence[str]) -> tuple[str, int, float]:
    """``(label, index of the closest body paragraph, its share)``."""
    shares = [share(summary, p) for p in body]
    best = max(range(len(body)), key=shares.__getitem__)
    return label(shares[best]), best, shares[best]


def paragraph_label(index: int, paragraphs: Sequence[str]) -> str:
    """The label of ``paragraphs[index]`` against every other paragraph of the item."""
    text = paragraphs[index]
    best = max((share(text, p) for i, p in enumerate(paragraphs) if i != index), default=0.0)
    return label(best)
