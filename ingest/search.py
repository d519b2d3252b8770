"""Arabic-aware full-text search: documents, queries and snippets (pure; the SQL is the store's).

A text is searched by its *search stems*: the fingerprint normalisation of ``ingest.arabic``
(diacritics, tatweel, alef and hamza forms, ta marbuta, alef maqsura and digits folded), its
stopwords dropped, each word stemmed with the Snowball Arabic stemmer, so that الجزائر,
الجَزائرُ, بالجزائر and للجزائر are one term and الأمريكية finds الامريكيه. One step more than
the fingerprints take: the stemmer strips a lone و or ف but not و or ف before the article
(والجزائر, فالحكومة), so a word starting with وال or فال is stemmed without its و/ف. It is
applied to the stored text and to the query alike, so they always meet::

    document = document_text(title, paragraphs)        # prepare.py: Article.search_text
    query    = parse_query('الجزائر "الولايات المتحدة"')  # terms, quoted phrases in order
    rows     = store.search(query, ...)                # FTS5 bm25 / tsvector ts_rank
    marked   = snippet(article.paragraphs, query)      # the best passage, matches marked

The store indexes every article's document (canonical articles and link records); a hit is
reported as its story's canonical article, so a word found only in one outlet's copy still
finds the story.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ingest import arabic

MAX_QUERY_CHARS = 500
"""A query is a few words; anything longer is cut (the bound keeps parsing cheap)."""
MAX_TERMS = 16
"""Terms kept of a query: a search for a whole paragraph means its first few words."""
SNIPPET_CHARS = 220
"""About how many characters a snippet shows around its first match."""

_CONJUNCTION_ARTICLE = ("وال", "فال")
# A word in the display text, diacritics and tatweel included (they sit inside Arabic words).
_WORD = re.compile(r"[^\W_][\w\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]*")
_PHRASE = re.compile(r'"([^"]*)"|(\S+)')


def terms(text: str) -> list[str]:
    """The search stems of ``text``, in order."""
    return stems_of(arabic.tokens(text))


def stems_of(tokens: Iterable[str]) -> list[str]:
    """The search stems of normalised tokens (``arabic.tokens``), in order."""
    return arabic.stem_tokens(
        t[1:] if len(t) >= 5 and t.startswith(_CONJUNCTION_ARTICLE) else t for t in tokens
    )


def document_text(title: str, keys: Iterable[str]) -> str:
    """What the search index holds for an article: the search stems of its title and of its
    kept paragraphs (given by their normalised words, ``fingerprint.Para.key``), in order,
    space-separated."""
    return " ".join((*terms(title), *(s for key in keys for s in stems_of(key.split()))))


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: every term must match; a term of several stems is a phrase (in order)."""

    text: str
    terms: tuple[tuple[str, ...], ...]

    @property
    def stems(self) -> frozenset[str]:
        return frozenset(s for term in self.terms for s in term)

    def __bool__(self) -> bool:
        return bool(self.terms)


def parse_query(text: str) -> Query:
    """Words and "quoted phrases"; words without a content stem (stopwords, punctuation) drop
    out. A query left with no term matches nothing."""
    text = text[:MAX_QUERY_CHARS]
    found: list[tuple[str, ...]] = []
    for phrase, word in _PHRASE.findall(text):
        if phrase:
            stems = tuple(terms(phrase))
            if stems:
                found.append(stems)
        else:
            found += [(s,) for s in terms(word)]
    unique = tuple(dict.fromkeys(found))[:MAX_TERMS]
    return Query(text=text, terms=unique)


def fts5_expression(query: Query) -> str:
    """The FTS5 MATCH expression: every term, phrases quoted (stems hold letters and digits
    only, so nothing needs escaping)."""
    return " AND ".join('"' + " ".join(term) + '"' for term in query.terms)


def tsquery_text(query: Query) -> str:
    """The ``to_tsquery('simple', ...)`` text: terms joined by ``&``, a phrase by ``<->``."""
    return " & ".join("(" + " <-> ".join(term) + ")" for term in query.terms)


def snippet(
    paragraphs: Sequence[str], query: Query, width: int = SNIPPET_CHARS
) -> list[tuple[str, bool]]:
    """The passage of ``paragraphs`` that matches ``query`` best, as (text, matched) pieces:
    the paragraph with the most query stems, cut to about ``width`` characters around its
    first match. Without a match, the start of the first paragraph."""
    wanted = query.stems
    # The paragraph holding the most query stems (one analysis each); then its words are
    # marked one by one.
    scores: list[int] = [len(wanted.intersection(terms(p))) for p in paragraphs]
    top = max(scores, default=0)
    index = scores.index(top) if top else 0
    text = paragraphs[index] if paragraphs else ""
    spans = [m.span() for m in _WORD.finditer(text) if _matches(m.group(), wanted)] if top else []
    if not spans:
        return [(_cut(text, 0, width)[0], False)] if text else []
    start, end = _window(text, spans[0][0], width)
    pieces: list[tuple[str, bool]] = []
    at = start
    for a, b in spans:
        if a < start or b > end:
            continue
        if a > at:
            pieces.append((text[at:a], False))
        pieces.append((text[a:b], True))
        at = b
    if at < end:
        pieces.append((text[at:end], False))
    if start > 0:
        pieces.insert(0, ("…", False))
    if end < len(text):
        pieces.append(("…", False))
    return pieces


def marked(pieces: Sequence[tuple[str, bool]], before: str = "**", after: str = "**") -> str:
    """A snippet as one string, matches between ``before`` and ``after``."""
    return "".join(f"{before}{text}{after}" if hit else text for text, hit in pieces)


def _matches(word: str, wanted: frozenset[str]) -> bool:
    return any(s in wanted for s in terms(word))


def _window(text: str, first: int, width: int) -> tuple[int, int]:
    """About ``width`` characters of ``text`` with ``first`` near the start, on word bounds."""
    if len(text) <= width:
        return 0, len(text)
    start = max(0, first - width // 4)
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < first else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > first else end
    return start, end


def _cut(text: str, start: int, width: int) -> tuple[str, int]:
    a, b = _window(text, start, width)
    return text[a:b] + ("…" if b < len(text) else ""), b
