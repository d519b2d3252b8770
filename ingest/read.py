"""The read side: what ``ingest search``, ``ingest stories``, the read API and the web console
show, built from the store (reads only; no module here writes).

::

    search(store, "الجزائر", ...)  -> [Hit]        story canonical, score, snippet, copies
    stories(store, ...)             -> [Story]      canonical + every copy, first and last
    article(store, id, settings)    -> ArticleView  kept paragraphs, removals, its story,
                                                    ``explain``'s lines

Everything that came from a feed is returned as text; escaping is the job of whoever prints
it (the console's templates escape everything).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ingest.explain import ArticleNotFound, explain_article
from ingest.feedstate import iso
from ingest.netguard import redact_url
from ingest.search import Query, marked, parse_query, snippet
from ingest.settings import DedupSettings
from ingest.store.base import Store, StoredArticle

MAX_LIMIT = 200
"""The most results one request or command returns."""


def parse_since(text: str) -> datetime:
    """An ISO 8601 date or time (``2026-11-01``, ``2026-11-01T08:00:00Z``); UTC when it has
    no zone. ``ValueError`` when it is not one (or, moved to UTC, falls before year 1)."""
    try:
        value = datetime.fromisoformat(text)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00+14:00 is before year 1 in UTC
        raise ValueError(str(exc)) from exc


def feed_label(article: StoredArticle) -> str:
    """An article's feed as people read it: its name, else its URL with secrets masked."""
    return article.feed_name or redact_url(article.feed_url)


def outlets(articles: Sequence[StoredArticle]) -> list[str]:
    """The feeds that carried a story, each once, in the order they carried it."""
    return list(dict.fromkeys(feed_label(a) for a in articles))


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: a story, shown by its canonical article."""

    article: StoredArticle
    score: float
    snippet: tuple[tuple[str, bool], ...]
    """The best passage as (text, matched) pieces."""
    copies: int
    """Articles carrying the story, the canonical one included."""
    outlets: tuple[str, ...]


def search(
    store: Store,
    text: str,
    *,
    since: datetime | None = None,
    feed_url: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[Query, list[Hit]]:
    """The stories matching ``text``, best first (a query without a content word: none)."""
    query = parse_query(text)
    found = store.search(
        query, since=since, feed_url=feed_url, limit=min(limit, MAX_LIMIT), offset=offset
    )
    members = store.members_of([root for root, _ in found])
    hits = []
    for root, score in found:
        story = members.get(root) or []
        canonical = next((a for a in story if a.id == root), None)
        if canonical is None:  # removed between the two reads
            continue
        # the passage from the copy that matches best when the canonical text does not
        pieces = snippet(canonical.paragraphs, query)
        if not any(hit for _, hit in pieces):
            for copy in story:
                if copy.id == root:
                    continue
                other = snippet(copy.paragraphs, query)
                if any(hit for _, hit in other):
                    pieces = other
                    break
        hits.append(
            Hit(
                article=canonical,
                score=float(f"{score:.4g}"),
                snippet=tuple(pieces),
                copies=len(story),
                outlets=tuple(outlets(story)),
            )
        )
    return query, hits


@dataclass(frozen=True, slots=True)
class Story:
    """A story: its canonical article and every copy, with when the first and last appeared."""

    canonical: StoredArticle
    copies: tuple[StoredArticle, ...]
    first: datetime | None
    last: datetime | None

    @property
    def articles(self) -> tuple[StoredArticle, ...]:
        return (self.canonical, *self.copies)

    @property
    def outlets(self) -> list[str]:
        return outlets(self.articles)


def stories(
    store: Store,
    *,
    since: datetime | None = None,
    min_copies: int = 2,
    limit: int = 50,
    offset: int = 0,
) -> list[Story]:
    """Stories with at least ``min_copies`` articles, largest first, then the most recent."""
    rows = store.stories(
        since=since, min_copies=max(1, min_copies), limit=min(limit, MAX_LIMIT), offset=offset
    )
    members = store.members_of([row.root for row in rows])
    out = []
    for row in rows:
        story = members.get(row.root) or []
        canonical = next((a for a in story if a.id == row.root), None)
        if canonical is None:
            continue
        copies = tuple(a for a in story if a.id != row.root)
        out.append(Story(canonical, copies, row.first, row.last))
    return out


@dataclass(frozen=True, slots=True)
class ArticleView:
    """One article with everything the console's article page and ``/api/articles/ID`` show."""

    article: StoredArticle
    story: Story
    explanation: tuple[str, ...] = field(default=())
    """``ingest explain``'s lines for it."""


def article(store: Store, article_id: int, dedup: DedupSettings) -> ArticleView:
    """``ArticleNotFound`` when there is no such article."""
    found = store.article(article_id)
    if found is None:
        raise ArticleNotFound(article_id)
    root = found.duplicate_of or found.id
    members = store.members_of([root]).get(root) or [found]
    canonical = next((a for a in members if a.id == root), found)
    times = [a.published or a.fetched for a in members]
    story = Story(
        canonical=canonical,
        copies=tuple(a for a in members if a.id != canonical.id),
        first=min(times),
        last=max(times),
    )
    return ArticleView(found, story, tuple(explain_article(store, article_id, dedup)))


# -- JSON: what ``ingest search/stories --json`` print and the read API answers ----------------


def copy_json(a: StoredArticle) -> dict[str, Any]:
    """One article of a story, as story listings show it."""
    return {
        "id": a.id,
        "feed": feed_label(a),
        "title": a.title,
        "url": a.url,
        "published": iso(a.published),
        "rule": a.dup_rule,
        "distance": a.dup_distance,
        "overlap": a.dup_overlap,
    }


def story_json(story: Story) -> dict[str, Any]:
    return {
        **copy_json(story.canonical),
        "articles": len(story.articles),
        "outlets": story.outlets,
        "first": iso(story.first),
        "last": iso(story.last),
        "copies": [copy_json(a) for a in story.copies],
    }


def hit_json(hit: Hit, *, highlights: bool = False) -> dict[str, Any]:
    """A search hit; ``highlights`` adds the snippet as ``{"text", "match"}`` pieces (the API)."""
    a = hit.article
    data: dict[str, Any] = {
        "id": a.id,
        "title": a.title,
        "url": a.url,
        "feed": feed_label(a),
        "published": iso(a.published),
        "score": hit.score,
        "snippet": marked(hit.snippet),
    }
    if highlights:
        data["highlights"] = [{"text": text, "match": match} for text, match in hit.snippet]
    return {**data, "copies": hit.copies, "outlets": list(hit.outlets)}
