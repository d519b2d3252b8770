"""The orchestrator: one feed in, stored records and a feed outcome out.

The whole pipeline, for one feed::

    row      = store.feed(url)                                  # the stored state (its URL may
                                                                # have moved: see below)
    fetched  = await fetcher.fetch(row.url, stored_cache)       # fetch.py     network edge
    parsed   = await parser.run(parse_feed, body, headers)      # parse.py     pure, in a worker
                                                                # process (isolate.py)
    articles = [prepare(entry, ...) for entry in parsed]        # clean.py, dedupe.py,
                                                                # fingerprint.py: pure
    with store.transaction() as tx:                             # store/       storage edge
        for article in articles:                                # oldest first
            verdict = decide(article, facts from tx)            # dedupe.py    pure
            tx.insert_article(...)                              # canonical body or link record
        tx.update_feed(...)                                     # HTTP state in the same commit

Only this module and the CLI/daemon wiring do I/O. Fetches run concurrently on the event loop.
Parsing runs in ``isolate.WorkerPool`` processes under a memory and a wall-clock limit, so a
parser bomb ends that feed with ``parse_resource_limit`` instead of taking the process down
(queue wait for a worker is not counted against the limit). Cleaning and storing run on one
writer thread, one feed at a time, because SQLite wants a single serialised writer. A failing
feed is data: its error is recorded on its row and returned in its ``FeedOutcome``; it never
stops the run.

HTTP meaning kept here, not in the fetcher:

* **Permanent redirects.** After ``MOVE_AFTER`` consecutive fetches that ended, through
  301/308 hops only, at the same URL, the feed's stored URL becomes that URL (the old one is
  kept as ``origin_url``, so the configured URL still finds the feed) and later fetches go
  there directly. A failed fetch neither extends nor breaks the streak. A target that is
  already another feed's URL is not taken: a warning says so and the old URL is kept.
* **410 Gone** is recorded as ``gone`` (HTTP status 410) and retried at the slowest rate,
  ``max_interval``; it is never given up silently (``schedule.py``).

And what a feed may do to stored items: a GUID repeated inside one feed is stored once, in its
newest version (``one_per_guid``); items read out of XML that is not well-formed (a truncated
feed ends in a cut item) may be added but never edit stored ones (``store_articles(edits=)``),
and are skipped when they have neither a GUID nor a link (``kept_entries``).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from ingest.boilerplate import recurring_keys, remove_boilerplate
from ingest.clean import clean_any, clean_title
from ingest.dedupe import article_fingerprint, decide_article, dedupe_paragraphs, text_hash
from ingest.errors import FeedError, FetchError, ParseError, StoreError
from ingest.fetch import Fetcher
from ingest.fingerprint import FINGERPRINT_VERSION, NO_FINGERPRINT, WindowIndex, bands
from ingest.isolate import WorkerPool, parse_limits
from ingest.models import Article, Entry, FeedOutcome, Fetched, HttpCache, ParsedFeed, Verdict
from ingest.parse import parse_feed
from ingest.schedule import FetchResult, SchedulePolicy, next_check_at, publish_interval
from ingest.settings import DedupSettings, Settings
from ingest.store.base import FeedRow, FeedUpdate, Store, Tx
from ingest.urls import canonical_url, safe_link

T = TypeVar("T")

MOVE_AFTER = 3
"""Consecutive fetches permanently redirected to the same URL after which the feed's stored URL
becomes that URL: a consistent move, not one misconfigured answer."""

_PRELOAD = ("ingest.parse",)
"""Modules a parse worker imports when it starts."""


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


def prepare(
    entry: Entry,
    feed_url: str,
    fetched_at: datetime,
    dedup: DedupSettings,
    boilerplate: Set[str] = frozenset(),
) -> Article:
    """Clean, drop the feed's ``boilerplate`` (``boilerplate.recurring_keys``), dedupe
    paragraphs and fingerprint one entry (pure)."""
    cleaned = dedupe_paragraphs(remove_boilerplate(clean_any(entry.content), boilerplate), dedup)
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


NEAREST_CHUNK = 32
"""Candidates read per round of the near-duplicate decision (bench/README.md: at a million
fingerprints a lookup finds a median of 15 hits, p99 387)."""


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
    # Read the nearest hits first, a chunk at a time (ties kept in one chunk): the first chunk
    # with a match holds the nearest match, so the verdict is the one over all hits, and a
    # crowded window does not mean reading hundreds of bodies.
    start = 0
    while start < len(hits):
        end = min(start + NEAREST_CHUNK, len(hits))
        while end < len(hits) and hits[end][1] == hits[end - 1][1]:
            end += 1
        chunk = tx.candidates([article_id for article_id, _ in hits[start:end]])
        verdict = decide_article(article.paragraphs, article.simhash, chunk, dedup)
        if verdict.kind != "new":
            return verdict
        start = end
    return Verdict(kind="new")


def store_articles(
    tx: Tx,
    feed_id: int,
    articles: Sequence[Article],
    dedup: DedupSettings,
    index: WindowIndex,
    *,
    edits: bool = True,
) -> StoreCounts:
    """Write one feed's articles inside ``tx``: new, link records, edits; skip what is stored.

    With ``edits=False`` a stored item whose content differs is left as it is (counted
    unchanged): the feed came from broken XML, and its last item may be cut short.

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
            if existing[1] == article.content_hash or not edits:
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


def one_per_guid(articles: Sequence[Article]) -> list[Article]:
    """The first article of each GUID: the newest, as entries come newest first. A feed that
    repeats a GUID would otherwise store one version and overwrite it with the other on every
    fetch."""
    seen: set[str] = set()
    unique = []
    for article in articles:
        if article.guid not in seen:
            seen.add(article.guid)
            unique.append(article)
    return unique


def kept_entries(parsed: ParsedFeed, broken: bool) -> tuple[Sequence[Entry], tuple[str, ...]]:
    """The entries to store, and a warning for those skipped: from broken XML, an entry with
    neither a GUID nor a link is skipped. Its only identity would be a hash of its text, which
    may be cut short, so it would come back as a second article once the feed is whole."""
    if not broken:
        return parsed.entries, ()
    kept = [entry for entry in parsed.entries if entry.guid or entry.link]
    if len(kept) == len(parsed.entries):
        return kept, ()
    skipped = len(parsed.entries) - len(kept)
    return kept, (f"{skipped} item(s) without a GUID or link skipped: the XML is broken",)


def recovered_from_broken_xml(parsed: ParsedFeed) -> bool:
    """Whether feedparser's lenient parser read the items out of XML that is not well-formed
    (``parse.py`` says so in a warning). A truncated feed ends in a cut item, so such a feed may
    add items but never edits stored ones."""
    return any("recovered by the lenient parser" in w for w in parsed.warnings)


class Pipeline:
    """Fetches targets concurrently, parses each in a worker process and ingests it into the
    store on one writer thread.

    Every outcome, failures included, is written to the feed's row together with when the feed
    is due next (``schedule.next_check_at``), which also releases a daemon's lease on it.
    ``parser`` is the worker pool to parse in; by default the pipeline makes one with
    :func:`isolate.parse_limits` for ``settings.http.max_body_bytes``, and closes it in
    :meth:`close`.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        fetcher: Fetcher,
        *,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        parser: WorkerPool | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.fetcher = fetcher
        self.clock = clock
        self.rng = rng or random.Random()
        self.policy = settings.daemon.schedule
        self._owns_parser = parser is None
        if parser is None:
            memory, seconds = parse_limits(settings.http.max_body_bytes)
            parser = WorkerPool(memory_limit=memory, time_limit=seconds, preload=_PRELOAD)
        self.parser = parser
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer")
        # Canonical fingerprints of the dedup window, used on the writer thread only.
        self.index = WindowIndex(window_seconds(settings.dedup))

    def close(self) -> None:
        """Wait for the writer thread; stop the parse workers this pipeline started."""
        self._writer.shutdown(wait=True)
        if self._owns_parser:
            self.parser.close()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store call on the writer thread (the store wants one writer at a time)."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    async def run(self, target: Target) -> FeedOutcome:
        """Fetch, parse and ingest one feed; every failure ends up in the returned outcome."""
        started = time.monotonic()
        try:
            row = await self.call(self.store.feed, target.url)
            url = row.url if row else target.url  # where a feed that moved lives now
            try:
                fetched = await self.fetcher.fetch(url, row.cache if row else HttpCache())
            except FetchError as exc:
                return await self.call(self._record_error, target, row, exc, started)
            if fetched.not_modified:
                return await self.call(self._not_modified, target, row, fetched, started)
            try:
                parsed, _ = await self.parser.run(
                    parse_feed, fetched.body, dict(fetched.headers), label=url, url=url
                )
            except ParseError as exc:
                return await self.call(self._record_error, target, row, exc, started)
            return await self.call(self._ingest, target, row, fetched, parsed, started)
        except StoreError as exc:
            return FeedOutcome(
                name=target.name,
                url=target.url,
                status="error",
                error_code=exc.code,
                error=exc.message,
                duration_ms=_ms(started),
            )

    def _next_check(
        self,
        target: Target,
        result: FetchResult,
        now: datetime,
        policy: SchedulePolicy | None = None,
    ) -> datetime:
        return next_check_at(result, now, self.rng.random(), policy or target.policy or self.policy)

    def _record_error(
        self, target: Target, row: FeedRow | None, exc: FeedError, started: float
    ) -> FeedOutcome:
        now = self.clock()
        status = getattr(exc, "status", None)
        retry = getattr(exc, "retry_after", None)
        failures = (row.consecutive_failures if row else 0) + 1
        code, policy = exc.code, None
        if status == 410:  # gone: still checked, at the slowest rate
            base = target.policy or self.policy
            code, policy = "gone", replace(base, backoff_base=base.max_interval)
        next_check = self._next_check(
            target,
            FetchResult(
                "error",
                consecutive_failures=failures,
                http_status=status,
                headers={"retry-after": retry} if retry else None,
            ),
            now,
            policy,
        )
        with self.store.transaction() as tx:
            feed_id = tx.feed_id(target.url, target.name)
            tx.update_feed(
                feed_id,
                FeedUpdate(
                    fetched_at=now,
                    status="error",
                    http_status=status,
                    error_code=code,
                    error=exc.message,
                    next_check=next_check,
                ),
            )
        return FeedOutcome(
            name=target.name,
            url=target.url,
            status="error",
            error_code=code,
            error=exc.message,
            http_status=status,
            duration_ms=_ms(started),
            next_check=next_check,
        )

    def _not_modified(
        self, target: Target, row: FeedRow | None, fetched: Fetched, started: float
    ) -> FeedOutcome:
        now = self.clock()
        next_check = self._next_check(
            target,
            FetchResult(
                "not_modified",
                http_status=304,
                headers=fetched.headers,
                ttl_seconds=row.ttl_seconds if row else None,
                publish_interval=row.publish_interval if row else None,
            ),
            now,
        )
        move, warnings = self._moved(row, fetched)
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
                    **move,
                ),
            )
        return FeedOutcome(
            name=target.name,
            url=target.url,
            status="not_modified",
            warnings=warnings,
            http_status=304,
            duration_ms=_ms(started),
            next_check=next_check,
        )

    def _moved(
        self, row: FeedRow | None, fetched: Fetched
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The ``FeedUpdate`` fields of the permanent-redirect streak after this fetch, and a
        warning when the feed moves (or cannot)."""
        target = fetched.permanent_redirect
        if target is None:
            return {"redirect_url": None, "redirect_count": 0}, ()
        count = row.redirect_count + 1 if row and row.redirect_url == target else 1
        streak: dict[str, Any] = {"redirect_url": target, "redirect_count": count}
        if count < MOVE_AFTER:
            return streak, ()
        other = self.store.feed(target)
        if other is not None and (row is None or other.id != row.id):
            return streak, (
                f"{fetched.url}: permanently redirected {count} times to {target}, which is "
                f"already the feed {other.name or other.url!r}; still fetching {fetched.url}",
            )
        return {"url": target}, (
            f"{fetched.url}: moved permanently ({count} consecutive 301/308 redirects); "
            f"now fetching {target}",
        )

    def _ingest(
        self,
        target: Target,
        row: FeedRow | None,
        fetched: Fetched,
        parsed: ParsedFeed,
        started: float,
    ) -> FeedOutcome:
        now = self.clock()
        known_interval = row.publish_interval if row else None
        dedup = self.settings.dedup
        # The feed's boilerplate, learnt from its recent articles (boilerplate.py).
        history = self.store.recent_paragraphs(row.url, dedup.boilerplate_window) if row else []
        recurring = recurring_keys(history, dedup.boilerplate_min_articles)
        broken = recovered_from_broken_xml(parsed)
        entries, skipped = kept_entries(parsed, broken)
        articles = one_per_guid([prepare(e, fetched.url, now, dedup, recurring) for e in entries])
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
        move, moved_warnings = self._moved(row, fetched)
        with self.store.transaction() as tx:
            feed_id = tx.feed_id(target.url, target.name)
            counts = store_articles(
                tx,
                feed_id,
                articles,
                self.settings.dedup,
                self.index,
                edits=not broken,
            )
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
                    **move,
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
            warnings=parsed.warnings + skipped + moved_warnings,
            http_status=fetched.status,
            duration_ms=_ms(started),
            next_check=next_check,
            removed=counts.removed,
        )


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
