"""The orchestrator: one feed in, stored records and a feed outcome out.

The whole pipeline, for one feed::

    fetched  = await fetcher.fetch(url, stored_cache)           # fetch.py     network edge
    parsed   = parse_feed(fetched.body, fetched.headers, url)   # parse.py     pure
    articles = [prepare(entry, ...) for entry in parsed]        # clean.py, dedupe.py,
                                                                # fingerprint.py: pure
    with store.transaction() as tx:                             # store/       storage edge
        for article in articles:                                # oldest first
            verdict = decide(article, facts from tx)            # dedupe.py    pure
            tx.insert_article(...)                              # canonical body or link record
        tx.update_feed(...)                                     # HTTP state in the same commit

Only this module and the CLI/daemon wiring do I/O. Fetches run concurrently on the event loop;
parsing, cleaning and storing run on one writer thread, one feed at a time, because SQLite wants
a single serialised writer and the stages are CPU-bound anyway. A failing feed is data: its
error is recorded on its row and returned in its ``FeedOutcome``; it never stops the run.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from ingest.clean import clean_any, clean_title
from ingest.dedupe import article_fingerprint, decide_article, dedupe_paragraphs, text_hash
from ingest.errors import FeedError, FetchError, StoreError
from ingest.fetch import Fetcher
from ingest.fingerprint import FINGERPRINT_VERSION, NO_FINGERPRINT, WindowIndex, bands
from ingest.models import Article, Entry, FeedOutcome, Fetched, HttpCache, ParsedFeed, Verdict
from ingest.parse import parse_feed
from ingest.schedule import FetchResult, SchedulePolicy, next_check_at, publish_interval
from ingest.settings import DedupSettings, Settings
from ingest.store.base import FeedRow, FeedUpdate, Store, Tx
from ingest.urls import canonical_url, safe_link

T = TypeVar("T")


def utcnow() -> datetime:
    """The pipeline's one clock seam."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Target:
    """A feed to fetch: a configured feed, or a URL or file named on the command line."""

    name: str
    url: str
    policy: SchedulePolicy | None = None
    """Per-feed scheduling bounds; ``None`` uses the daemon's."""


def _digest(*parts: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def prepare(entry: Entry, feed_url: str, fetched_at: datetime, dedup: DedupSettings) -> Article:
    """Clean, dedupe paragraphs and fingerprint one entry (pure)."""
    cleaned = dedupe_paragraphs(clean_any(entry.content), dedup)
    title = clean_title(entry.title)
    url = safe_link(entry.link)
    canonical = canonical_url(url)
    paragraphs = cleaned.paragraphs
    # No GUID: a stable key from what identifies the item (its link, else its title and text).
    fallback = f"url:{canonical}" if canonical else f"hash:{_digest(title, *paragraphs)}"
    guid = entry.guid or fallback
    return Article(
        feed_url=feed_url,
        guid=guid[:2000],
        url=url,
        canonical_url=canonical,
        title=title,
        published=entry.published,
        fetched=fetched_at,
        author=entry.author,
        paragraphs=paragraphs,
        removed=cleaned.removed,
        simhash=article_fingerprint(paragraphs),
        fp_version=FINGERPRINT_VERSION,
        text_hash=text_hash(paragraphs),
        content_hash=_digest(entry.title, entry.content, entry.link or "", entry.author or ""),
    )


@dataclass(frozen=True, slots=True)
class StoreCounts:
    new: int = 0
    near: int = 0
    exact: int = 0
    unchanged: int = 0
    updated: int = 0
    removed: tuple[tuple[str, int], ...] = ()
    """Pieces removed from the new canonical articles, by reason."""


DEDUP_LOCK = 0x696E67657374  # "ingest": the advisory lock that serialises dedup decisions


def window_seconds(dedup: DedupSettings) -> int:
    return int(dedup.window_days * 86400)


def _ts(article: Article) -> int:
    return int((article.published or article.fetched).timestamp())


def decide(
    tx: Tx,
    article: Article,
    index: WindowIndex,
    batch: Sequence[tuple[int, int, int]],
    dedup: DedupSettings,
) -> Verdict:
    """Gather the facts the article-level decision needs from the store, then decide (pure).

    ``batch`` holds the canonical articles this transaction stored so far (not yet in the
    index: the index only ever learns committed rows)."""
    exact = tx.find_exact(article.canonical_url, article.text_hash)
    if exact is not None:
        return Verdict(kind="exact", duplicate_of=exact[0], rule=exact[1], distance=0)
    if article.simhash == NO_FINGERPRINT:  # no usable features: never judged by fingerprint
        return Verdict(kind="new")
    hits = index.query(article.simhash, _ts(article), dedup.article_max_distance, extra=batch)
    candidates = tx.candidates([article_id for article_id, _ in hits])
    return decide_article(article.paragraphs, article.simhash, candidates, dedup)


def store_articles(
    tx: Tx,
    feed_id: int,
    articles: Sequence[Article],
    dedup: DedupSettings,
    index: WindowIndex,
) -> StoreCounts:
    """Write one feed's articles inside ``tx``: new, link records, edits; skip what is stored.

    First the transaction takes the dedup lock (a no-op on SQLite, whose single writer already
    serialises decisions; an advisory lock on PostgreSQL, so daemons sharing a store decide one
    after the other) and brings ``index`` up to date with what other writers committed.
    """
    new = near = exact = unchanged = updated = 0
    removed: Counter[str] = Counter()
    tx.lock_keys([DEDUP_LOCK])
    if articles:
        oldest = min(_ts(a) for a in articles) - window_seconds(dedup)
        index.add(tx.fingerprints_since(index.last_id, FINGERPRINT_VERSION, oldest))
    batch: list[tuple[int, int, int]] = []
    epoch = datetime.min.replace(tzinfo=UTC)
    for article in sorted(articles, key=lambda a: a.published or a.fetched or epoch):
        existing = tx.find_guid(feed_id, article.guid)
        if existing is not None:
            if existing[1] == article.content_hash:
                unchanged += 1
            else:
                tx.update_article(existing[0], article, bands(article.simhash))
                updated += 1
            continue
        verdict = decide(tx, article, index, batch, dedup)
        article_id = tx.insert_article(feed_id, article, bands(article.simhash), verdict)
        if verdict.kind == "new":
            new += 1
            removed.update(r.reason for r in article.removed)
            batch.append((article_id, article.simhash, _ts(article)))
        elif verdict.kind == "exact":
            exact += 1
        else:
            near += 1
    return StoreCounts(new, near, exact, unchanged, updated, tuple(sorted(removed.items())))


class Pipeline:
    """Fetches targets concurrently and ingests each into the store on one writer thread.

    Every outcome, failures included, is written to the feed's row together with when the feed
    is due next (``schedule.next_check_at``), which also releases a daemon's lease on it.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        fetcher: Fetcher,
        *,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.fetcher = fetcher
        self.clock = clock
        self.rng = rng or random.Random()
        daemon = settings.daemon
        self.policy = SchedulePolicy(
            min_interval=daemon.min_interval,
            max_interval=daemon.max_interval,
            backoff_base=daemon.backoff_base,
            jitter=daemon.jitter,
        )
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer")
        # Canonical fingerprints of the dedup window, used on the writer thread only.
        self.index = WindowIndex(window_seconds(settings.dedup))

    def close(self) -> None:
        self._writer.shutdown(wait=True)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store call on the writer thread (the store wants one writer at a time)."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    async def run(self, target: Target) -> FeedOutcome:
        """Fetch and ingest one feed; every failure ends up in the returned outcome."""
        started = time.monotonic()
        try:
            row = await self.call(self.store.feed, target.url)
            try:
                fetched = await self.fetcher.fetch(target.url, row.cache if row else HttpCache())
            except FetchError as exc:
                return await self.call(self._record_error, target, row, exc, started)
            return await self.call(self._ingest, target, row, fetched, started)
        except StoreError as exc:
            return FeedOutcome(
                name=target.name,
                url=target.url,
                status="error",
                error_code=exc.code,
                error=exc.message,
                duration_ms=_ms(started),
            )

    def _next_check(self, target: Target, result: FetchResult, now: datetime) -> datetime:
        return next_check_at(result, now, self.rng.random(), target.policy or self.policy)

    def _record_error(
        self, target: Target, row: FeedRow | None, exc: FeedError, started: float
    ) -> FeedOutcome:
        now = self.clock()
        status = getattr(exc, "status", None)
        retry = getattr(exc, "retry_after", None)
        failures = (row.consecutive_failures if row else 0) + 1
        next_check = self._next_check(
            target,
            FetchResult(
                "error",
                consecutive_failures=failures,
                http_status=status,
                headers={"retry-after": retry} if retry else None,
            ),
            now,
        )
        with self.store.transaction() as tx:
            feed_id = tx.feed_id(target.url, target.name)
            tx.update_feed(
                feed_id,
                FeedUpdate(
                    fetched_at=now,
                    status="error",
                    http_status=status,
                    error_code=exc.code,
                    error=exc.message,
                    next_check=next_check,
                ),
            )
        return FeedOutcome(
            name=target.name,
            url=target.url,
            status="error",
            error_code=exc.code,
            error=exc.message,
            http_status=status,
            duration_ms=_ms(started),
            next_check=next_check,
        )

    def _ingest(
        self, target: Target, row: FeedRow | None, fetched: Fetched, started: float
    ) -> FeedOutcome:
        now = self.clock()
        known_interval = row.publish_interval if row else None
        if fetched.not_modified:
            next_check = self._next_check(
                target,
                FetchResult(
                    "not_modified",
                    http_status=304,
                    headers=fetched.headers,
                    ttl_seconds=row.ttl_seconds if row else None,
                    publish_interval=known_interval,
                ),
                now,
            )
            with self.store.transaction() as tx:
                feed_id = tx.feed_id(target.url, target.name)
                tx.update_feed(
                    feed_id,
                    FeedUpdate(
                        fetched_at=now,
                        status="not_modified",
                        http_status=304,
                        cache=fetched.cache,
                        next_check=next_check,
                    ),
                )
            return FeedOutcome(
                name=target.name,
                url=target.url,
                status="not_modified",
                http_status=304,
                duration_ms=_ms(started),
                next_check=next_check,
            )
        try:
            parsed: ParsedFeed = parse_feed(fetched.body, fetched.headers, url=target.url)
        except FeedError as exc:
            return self._record_error(target, row, exc, started)
        articles = [prepare(e, target.url, now, self.settings.dedup) for e in parsed.entries]
        interval = publish_interval([e.published for e in parsed.entries if e.published])
        interval = interval or known_interval
        next_check = self._next_check(
            target,
            FetchResult(
                "ok",
                http_status=fetched.status,
                headers=fetched.headers,
                ttl_seconds=parsed.ttl_seconds,
                publish_interval=interval,
            ),
            now,
        )
        with self.store.transaction() as tx:
            feed_id = tx.feed_id(target.url, target.name)
            counts = store_articles(tx, feed_id, articles, self.settings.dedup, self.index)
            tx.update_feed(
                feed_id,
                FeedUpdate(
                    fetched_at=now,
                    status="ok",
                    http_status=fetched.status,
                    cache=fetched.cache,
                    ttl_seconds=parsed.ttl_seconds,
                    new_articles=counts.new,
                    new_duplicates=counts.near + counts.exact,
                    next_check=next_check,
                    publish_interval=interval,
                ),
            )
        return FeedOutcome(
            name=target.name,
            url=target.url,
            status="ok",
            new=counts.new,
            duplicates=counts.near,
            exact=counts.exact,
            unchanged=counts.unchanged,
            updated=counts.updated,
            warnings=parsed.warnings,
            http_status=fetched.status,
            duration_ms=_ms(started),
            next_check=next_check,
            removed=counts.removed,
        )


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
