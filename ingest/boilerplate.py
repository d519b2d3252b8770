"""Boilerplate learnt per feed: paragraphs that recur across many of the feed's articles.

Outlets repeat lines that are not news: disclaimers ("CNN cannot independently verify ..."),
credits ("نقلاً عن ..."), "follow us" lines, opinion-page notices, and blocks of teasers for
other stories. None of them is a repeat *inside* one article, so the paragraph rule of
``dedupe.py`` cannot see them; they are found across articles instead (CCNet's exact hashes of
normalised paragraphs, Wenzek et al. 2019)::

    history   = store.known_entries(feed_url, settings.boilerplate_window)   # pipeline
    recurring = recurring_keys(keys of history, boilerplate_min_articles)     # pure
    cleaned   = remove_boilerplate(cleaned, paras, recurring)                 # in prepare()

A paragraph is boilerplate when its *normalised* text (``Para.bkey``: a hash of the words the
fingerprint normalisation of ``ingest.arabic`` gives, so diacritics, hamza forms, punctuation
and spacing do not matter) occurs in at least ``boilerplate_min_articles`` distinct articles
among the feed's last ``boilerplate_window`` articles (canonical articles and link records
alike: which copy of a story is canonical depends on the order feeds arrive in, and what a
feed repeats does not). The history holds each article's keys of its kept paragraphs *and* of
the paragraphs already removed from it as boilerplate (``Article.para_keys``), so a learnt line
stays learnt.

Why a count of distinct articles and not less: a long quotation carried by two different
stories of the same day is content, not boilerplate. With the measured minimum of 3 a quotation
shared by two stories is never removed (``bench/dedup_quality.py`` measures both sides).

Pure functions: no store, no clock; the orchestrator passes the history in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence, Set
from dataclasses import replace

from ingest.fingerprint import Para
from ingest.models import Cleaned, Reason, Removed

BOILERPLATE = Reason.BOILERPLATE
"""``Removed.reason`` of a paragraph removed as the feed's boilerplate."""


def recurring_keys(history: Iterable[Iterable[str]], min_articles: int) -> frozenset[str]:
    """The keys found in at least ``min_articles`` of the ``history`` articles (each article
    given as its paragraphs' keys; a repeat inside one counts once).

    ``min_articles`` below 2 would make every paragraph boilerplate: it disables learning.
    """
    if min_articles < 2:
        return frozenset()
    counts: Counter[str] = Counter()
    for keys in history:
        counts.update(set(keys))
    counts.pop("", None)
    return frozenset(key for key, count in counts.items() if count >= min_articles)


def remove_boilerplate(
    cleaned: Cleaned, paras: Sequence[Para], recurring: Set[str]
) -> tuple[Cleaned, tuple[Para, ...], tuple[str, ...]]:
    """``cleaned`` without the paragraphs whose key is in ``recurring``, each recorded as a
    ``Removed`` with reason ``boilerplate`` (merged into ``removed`` by position); the kept
    paragraphs' analyses; and the keys removed (they stay in the article's history).

    An article made of nothing but boilerplate keeps its paragraphs: an item that only says
    "follow us" is odd, but emptying it would hide that from the reader.
    """
    if not recurring or not cleaned.paragraphs:
        return cleaned, tuple(paras), ()
    positions = cleaned.positions
    if len(positions) != len(cleaned.paragraphs):
        positions = tuple(range(len(cleaned.paragraphs)))
    kept: list[tuple[int, Para]] = []
    dropped: list[Removed] = []
    keys: list[str] = []
    for position, para in zip(positions, paras, strict=True):
        if para.bkey in recurring:
            dropped.append(Removed(reason=BOILERPLATE, text=para.text, position=position))
            keys.append(para.bkey)
        else:
            kept.append((position, para))
    if not dropped or not kept:
        return cleaned, tuple(paras), ()
    removed = sorted((*cleaned.removed, *dropped), key=lambda r: r.position)
    result = replace(
        cleaned,
        paragraphs=tuple(para.text for _, para in kept),
        removed=tuple(removed),
        positions=tuple(position for position, _ in kept),
    )
    return result, tuple(para for _, para in kept), tuple(keys)
