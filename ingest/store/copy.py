"""Copy a whole store into another backend (SQLite to PostgreSQL, or back).

::

    copy_store(src, dst)
      -> both schemas current; dst empty
      -> dst.transaction():                       all or nothing
           load_feeds(src.feeds())                HTTP validators, failures, schedule, leases
           load_articles(batch) for each batch    canonical rows, link records, features,
             of src.dump_articles()                search documents, change numbers

Ids are kept: a link record's ``duplicate_of`` and every id a user has seen (``ingest
export``, ``/status``) mean the same row afterwards, so the export of both stores is equal
line for line. Only backend code talks to a database; this module orchestrates.

Copy a store nobody writes to (stop the daemons first): rows written during the copy may be
missed, and an article whose feed appeared after the feeds were read stops the copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from ingest.errors import StoreError
from ingest.store.base import ArticleRecord, Store

BATCH = 500
"""Articles written per ``load_articles`` call."""


@dataclass(frozen=True, slots=True)
class CopyReport:
    """What ``copy_store`` moved."""

    feeds: int
    articles: int
    """Canonical articles."""
    links: int
    """Link records (copies pointing at a story's canonical article)."""


def copy_store(src: Store, dst: Store, *, batch: int = BATCH) -> CopyReport:
    """Copy everything in ``src`` into the empty, migrated ``dst``, keeping every id."""
    if src.url == dst.url:
        raise StoreError(f"{dst.url}: cannot copy a store onto itself")
    src.check_schema()
    dst.check_schema()
    if dst.feeds():
        raise StoreError(
            f"{dst.url}: the destination already holds feeds; copy into a new, migrated store",
            code="db_not_empty",
        )
    feeds = src.feeds()
    feed_ids = {feed.id for feed in feeds}
    articles = links = 0
    with dst.transaction() as tx:
        tx.load_feeds(feeds)
        for chunk in _batches(src.dump_articles(), batch):
            for record in chunk:
                _check(record, feed_ids, src.url)
            tx.load_articles(chunk)
            links += sum(1 for r in chunk if r.article.duplicate_of is not None)
            articles += sum(1 for r in chunk if r.article.duplicate_of is None)
    return CopyReport(feeds=len(feeds), articles=articles, links=links)


def _batches(records: Iterable[ArticleRecord], size: int) -> Iterator[list[ArticleRecord]]:
    # itertools.batched arrives with Python 3.12.
    it = iter(records)
    while chunk := list(islice(it, size)):
        yield chunk


def _check(record: ArticleRecord, feed_ids: set[int], src_url: str) -> None:
    """Refuse what the destination's foreign keys would refuse, with a message that says why."""
    if record.feed_id not in feed_ids:
        raise StoreError(
            f"{src_url}: article {record.article.id} belongs to feed {record.feed_id}, added "
            "after the copy began; stop the daemons writing to the store and copy again"
        )
    target = record.article.duplicate_of
    if target is not None and target >= record.article.id:
        # Rows are copied in id order; a link record always follows its canonical article.
        raise StoreError(
            f"{src_url}: article {record.article.id} links to a later article {target}"
        )
