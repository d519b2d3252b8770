"""Boilerplate learnt per feed: paragraphs that recur across many of the feed's articles.

Outlets repeat lines that are not news: disclaimers ("CNN cannot independently verify ..."),
credits ("نقلاً عن ..."), "follow us" lines, opinion-page notices, and blocks of teasers for
other stories. None of them is a repeat *inside* one article, so the paragraph rule of
``dedupe.py`` cannot see them; they are found across articles instead (CCNet's exact hashes of
normalised paragraphs, Wenzek et al. 2019)::

    history   = store.recent_paragraphs(feed_url, settings.boilerplate_window)   # pipeline
    recurring = recurring_keys(history, settings.boilerplate_min_articles)        # pure
    cleaned   = remove_boilerplate(cleaned, recurring)                            # in prepare()

A paragraph is boilerplate when its *normalised* text (``paragraph_key``: the fingerprint
normalisation of ``ingest.arabic``, so diacritics, hamza forms, punctuation and spacing do not
matter) occurs in at least ``boilerplate_min_articles`` distinct articles among the feed's last
``boilerplate_window`` canonical articles. The history holds each article's kept paragraphs
*and* the paragraphs already removed from it as boilerplate, so a learnt line stays learnt.

Why a count of distinct articles and not less: a long quotation carried by two different
stories of the same day is content, not boilerplate. With the measured minimum of 3 a quotation
shared by two stories is never removed (``bench/dedup_quality.py`` measures both sides).

Pure functions: no store, no clock; the orchestrator passes the history in.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence, Set

from ingest import arabic
from ingest.models import Cleaned, Removed

BOILERPLATE = "boilerplate"
"""``Removed.reason`` of a paragraph removed as the feed's boilerplate."""


def paragraph_key(text: str) -> str:
    """A short hash of the paragraph's normalised words; ``""`` for a text without a word."""
    words = " ".join(arabic.tokens(text))
    if not words:
        return ""
    return hashlib.blake2b(words.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def recurring_keys(history: Iterable[Sequence[str]], min_articles: int) -> frozenset[str]:
    """The keys of the paragraphs found in at least ``min_articles`` of the ``history``
    articles (each article given as its paragraphs; a repeat inside one counts once).

    ``min_articles`` below 2 would make every paragraph boilerplate: it disables learning.
    """
    if min_articles < 2:
        return frozenset()
    counts: Counter[str] = Counter()
    for paragraphs in history:
        counts.update({paragraph_key(text) for text in paragraphs})
    counts.pop("", None)
    return frozenset(key for key, count in counts.items() if count >= min_articles)


def remove_boilerplate(cleaned: Cleaned, recurring: Set[str]) -> Cleaned:
    """``cleaned`` without the paragraphs whose key is in ``recurring``, each recorded as a
    ``Removed`` with reason ``boilerplate`` (merged into ``removed`` by position).

    An article made of nothing but boilerplate keeps its paragraphs: an item that only says
    "follow us" is odd, but emptying it would hide that from the reader.
    """
    if not recurring or not cleaned.paragraphs:
        return cleaned
    positions = cleaned.positions
    if len(positions) != len(cleaned.paragraphs):
        positions = tuple(range(len(cleaned.paragraphs)))
    kept: list[tuple[int, str]] = []
    dropped: list[Removed] = []
    for position, text in zip(positions, cleaned.paragraphs, strict=True):
        if paragraph_key(text) in recurring:
            dropped.append(Removed(reason=BOILERPLATE, text=text, position=position))
        else:
            kept.append((position, text))
    if not dropped or not kept:
        return cleaned
    removed = sorted((*cleaned.removed, *dropped), key=lambda r: r.position)
    return Cleaned(
        paragraphs=tuple(text for _, text in kept),
        removed=tuple(removed),
        positions=tuple(position for position, _ in kept),
        links=cleaned.links,
    )
