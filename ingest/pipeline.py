"""The orchestrator: one feed in, stored records and a feed outcome out.

The whole pipeline, for one feed::

    row      = store.feed(url)                               # the stored state (a feed that
                                                             # moved is found by its old URL)
    fetched  = await fetcher.fetch(row.url, row.cache)       # fetch.py     network edge
    if fetched is 304, or the same bytes as last time: record it, done
    known    = store.known_entries(url)                      # stored items: hashes, boilerplate
    prepared = await workers.run(prepare, body, job)         # prepare.py   pure, in a worker
                                                             # process: parse, clean, analyse,
                                                             # boilerplate, paragraph rule
    with store.transaction() as tx:                          # store/       storage edge
        tx.lock_dedup(); index catches up with other writers
        for article in prepared (by dedup time):
            facts    = tx: stored GUID, same URL/text, index hits -> models.Stored
            decision = decider.decide(article, facts)        # decide.py    pure
            tx: insert (canonical or link record), merge stories, or an edit re-decided
        tx.update_feed(...)                                  # HTTP state in the same commit

Only this module and the CLI/daemon wiring do I/O. Fetches run concurrently on the event loop;
preparing runs in ``isolate.WorkerPool`` processes (one per core) under a memory and a
wall-clock limit, so a parser bomb ends that feed with ``parse_resource_limit`` instead of
taking the process down (queue wait for a worker is not counted against the limit); deciding
and storing run on one writer thread, one feed at a time, because SQLite wants a single
serialised writer. A failing feed is data: its error is recorded on its row and returned in
its ``FeedOutcome``; it never stops the run.

**Time.** Each article is compared at its *dedup time*: its date clamped into
[fetched - ``max_age_days``, fetched + ``clock_skew_hours``], or its fetch time when it has no
usable date (``jobs.dedup_time``). Two articles are compared when their dedup times lie
within ``window_days``. The fingerprints in memory (``fingerprint.WindowIndex``) cover the days
around the clock (``hot_days``); an article whose dedup time falls outside them (a backfill)
loads the days it needs from the store first. No date a feed claims moves the window, and no
stored row is ever skipped for good.

**Stories** (``decide.py``): an article joins every story it is a copy of, whatever the order
of arrival; an item whose GUID the feed changed but whose text or link it kept is the same
item (``alias_guid``); an edited item is decided again with its new text.

HTTP meaning kept here, not in the fetcher:

* **Permanent redirects.** After ``MOVE_AFTER`` consecutive fetches that ended, through
  301/308 hops only, at the same URL, the feed's stored URL becomes that URL (the old one is
  kept as ``origin_url``, so the configured URL still finds the feed) and later fetches go
  there directly. A failed fetch neither extends nor breaks the streak. A target that is
  already another feed's URL is not taken: a warning says so and the old URL is kept.
* **410 Gone** is recorded as ``gone`` (HTTP status 410) and retried at the slowest rate,
  ``max_interval``; it is never given up silently (``schedule.py``).

And what a feed may do to stored items: a GUID repeated inside one feed is stored once, in its
newest version; items read out of XML that is not well-formed (a truncated feed ends in a cut
item) may be added but never edit stored ones, and are skipped when they have neither a GUID
nor a link (``prepare.prepare_feed``).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from ingest.boilerplate import recurring_keys
from ingest.decide import Decider, link_verdict
from ingest.errors import FeedError, FetchError, ParseError, StoreError
from ingest.fetch import Fetcher
from ingest.fingerprint import BUCKET_S, FINGERPRINT_VERSION, NO_FINGERPRINT, WindowIndex
from ingest.isolate import WorkerPool, parse_limits
from ingest.jobs import FeedJob, PreparedFeed, entry_digest, prepare
from ingest.models import (
    Article,
    Edge,
    FeedOutcome,
    Fetched,
    HttpCache,
    Kind,
    Status,
    Stored,
    Verdict,
)
from ingest.schedule import FetchResult, SchedulePolicy, next_check_at, publish_interval
from ingest.settings import DedupSettings, Settings
from ingest.store.base import FeedRow, FeedUpdate, GuidRow, NewRow, Store, Tx

T = TypeVar("T")

MOVE_AFTER = 3
"""Consecutive fetches permanently redirected to the same URL after which the feed's stored URL
becomes that URL: a consistent move, not one misconfigured answer."""

_PRELOAD = ("ingest.prepare",)
"""Modules a worker imports when it starts."""

KNOWN_ENTRIES = 1000
"""Stored items of a feed read before each fetch: the next fetch skips those it has as they
are (feeds list their last 10 to 100 items; the default cap on items is 500)."""


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


_ITEM = re.compile(rb"<(item|entry)[\s>/]")
"""The start of the first raw RSS ``<item>`` or Atom ``<entry>`` element (unprefixed)."""

_HEAD = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>)?(?:\s*<!--.*?-->|\s*<![^>]*>)*\s*<[^>]*>", re.DOTALL
)
"""The XML declaration (the encoding) and the root element's start tag (namespaces,
``xml:base``): what, besides the items, decides how the items read."""

_TAIL_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)


def body_hash(body: bytes) -> str:
    """What a fetched body holds for the pipeline: every byte but the feed's header (the
    channel's or feed's own elements before its first item: ``lastBuildDate``, ``pubDate``,
    ``updated``, ``ttl`` ...) and comments after the items. A server that writes a new build
    date or a "generated in 0.2 s" comment on every request gives the same hash for the same
    items, so the body costs this hash, not a parse (``_not_modified``). A body without a
    recognisable item (UTF-16, prefixed elements, not a feed) is hashed whole."""
    head = _HEAD.match(body)
    first = _ITEM.search(body, head.end()) if head else None
    if head is None or first is None:
        return hashlib.blake2b(body, digest_size=16).hexdigest()
    rest = body[first.start() :]
    last = max(rest.rfind(b"</item>"), rest.rfind(b"</entry>"))
    if last >= 0:
        rest = rest[:last] + _TAIL_COMMENT.sub(b"", rest[last:])
    digest = hashlib.blake2b(digest_size=16, person=b"ingest-items")
    digest.update(len(head.group()).to_bytes(8, "big"))
    digest.update(head.group())
    digest.update(rest)
    return digest.hexdigest()


def hot_days(now: datetime, dedup: DedupSettings) -> range:
    """The days of dedup time kept in memory: every day an article fetched now is compared
    with, when its date is at most a window old (older ones load their days on demand)."""
    t = int(now.timestamp())
    window = dedup.window_s
    first = (t - 2 * window) // BUCKET_S
    last = (t + int(dedup.clock_skew_s) + window) // BUCKET_S
    return range(first, last + 1)


@dataclass(frozen=True, slots=True)
class StoreCounts:
    new: int = 0
    near: int = 0
    exact: int = 0
    unchanged: int = 0
    updated: int = 0
    removed: tuple[tuple[str, int], ...] = ()
    """Pieces removed from the new articles, by reason."""


def _facts(article: Article, article_id: int, root: int, feed_id: int) -> Stored:
    return Stored(
        id=article_id,
        root=root,
        feed_id=feed_id,
        simhash=article.simhash,
        dedup_ts=article.dedup_ts,
        stems=article.stems,
        canonical_url=article.canonical_url,
        text_hash=article.text_hash,
    )


class StoryWriter:
    """One feed's articles written in one transaction: the facts gathered from ``tx`` in
    bulk, each decision asked of the ``Decider``, the rows written in batches.

    Articles of the batch are decided in dedup-time order and see each other (their facts are
    kept here until the rows are written); stories are merged as soon as an article joins two.
    """

    def __init__(
        self,
        tx: Tx,
        feed_id: int,
        articles: Sequence[Article],
        decider: Decider,
        index: WindowIndex,
        *,
        present: Collection[str] = (),
    ) -> None:
        self.tx, self.feed_id, self.decider, self.index = tx, feed_id, decider, index
        self.present = frozenset(present) | {a.guid for a in articles}
        self._named: set[int] | None = None  # items the document names: read when needed
        self.facts: dict[int, Stored] = {}
        self.pending: list[NewRow] = []
        self.extra: list[tuple[int, int, int]] = []  # this batch's fingerprints
        self.by_key: dict[str, set[int]] = {}  # canonical URL / text hash -> article ids
        self.counts: Counter[str] = Counter()
        self.removed: Counter[str] = Counter()
        self.guids = tx.by_guid(feed_id, [a.guid for a in articles])
        for stored in tx.same_text_or_url(
            None,
            [a.canonical_url for a in articles if a.canonical_url],
            [a.text_hash for a in articles if a.text_hash],
        ):
            self._know(stored)
        fresh = sum(a.guid not in self.guids for a in articles)
        self._ids, self._seqs = tx.allot(fresh)

    # -- facts -----------------------------------------------------------------------------

    def _know(self, stored: Stored) -> None:
        self.facts[stored.id] = stored
        for key in (stored.canonical_url, stored.text_hash):
            if key:
                self.by_key.setdefault(key, set()).add(stored.id)

    def _load_days(self, ts: int) -> None:
        days = self.index.days_needed(ts)
        if not days:
            return
        lo, hi = min(days) * BUCKET_S, (max(days) + 1) * BUCKET_S
        self.index.load(days, self.tx.fingerprints_between(lo, hi, FINGERPRINT_VERSION))

    def candidates(self, article: Article, exclude: Iterable[int] = ()) -> list[Stored]:
        """The stored and batch articles ``article`` could be a copy of."""
        skip = set(exclude)
        ids = {
            i
            for key in (article.canonical_url, article.text_hash)
            if key
            for i in self.by_key.get(key, ())
        }
        if article.simhash != NO_FINGERPRINT:
            self._load_days(article.dedup_ts)
            max_distance = self.decider.settings.article_max_distance
            hits = self.index.query(
                article.simhash, article.dedup_ts, max_distance, extra=self.extra
            )
            ids.update(article_id for article_id, _ in hits)
        ids -= skip
        unknown = [i for i in ids if i not in self.facts]
        if unknown:
            for stored in self.tx.stored(unknown):
                self._know(stored)
        return [self.facts[i] for i in sorted(ids) if i in self.facts]

    def named(self) -> set[int]:
        """The ids of this feed's items that the document names under their own GUID (or a
        GUID they took), and of the items this batch has written: none of them is renamed."""
        if self._named is None:
            rows = self.tx.by_guid(self.feed_id, sorted(self.present))
            self._named = {row.id for row in rows.values()}
            self._named.update(i for i, _, _ in self.extra)
        return self._named

    def _same_item(self, article: Article) -> Stored | None:
        """A stored item of this feed that ``article`` (a GUID the feed has not used before)
        is, under a new GUID: the same text, or the same link and the same story. An item the
        document still names is a different item that happens to say the same (two notices
        with one disclaimer for body), never the same one renamed."""
        for key in (article.text_hash, article.canonical_url):
            for i in sorted(self.by_key.get(key or "", ())):
                other = self.facts[i]
                if other.feed_id != self.feed_id or i in self.named():
                    continue
                if key == article.text_hash or self.decider.edge(article, other) is not None:
                    return other
        return None

    # -- writing ---------------------------------------------------------------------------

    def flush(self) -> None:
        if self.pending:
            self.tx.insert_articles(self.pending)
            self.pending.clear()

    def _reroot(self, old_roots: set[int], new_root: int) -> None:
        """Facts kept here follow a merge: members of ``old_roots`` now belong to ``new_root``."""
        for i, stored in list(self.facts.items()):
            if stored.root in old_roots:
                self.facts[i] = replace(stored, root=new_root)

    def _merge(self, winner: int, joins: Sequence[tuple[int, Edge]], via: int | None) -> None:
        """Fold the stories ``joins`` names into story ``winner`` (see ``decide.Decision``)."""
        if not joins:
            return
        self.flush()
        for root, edge in joins:
            self.tx.move_story(root, winner)
            self.tx.set_story(root, link_verdict(winner, edge, via))
        self._reroot({root for root, _ in joins}, winner)

    def add(self, article: Article, *, edits: bool) -> None:
        known = self.guids.get(article.guid)
        if known is not None:
            self._existing(known, article, edits=edits)
            return
        same = self._same_item(article)
        if same is not None:
            self._alias(same, article, edits=edits)
            return
        decision = self.decider.decide(article, self.candidates(article))
        article_id, seq = self._ids.pop(0), self._seqs.pop(0)
        verdict = decision.verdict
        self.pending.append(NewRow(article_id, seq, self.feed_id, article, verdict))
        root = article_id if verdict.kind == Kind.NEW else verdict.duplicate_of
        assert root is not None
        self._know(_facts(article, article_id, root, self.feed_id))
        self.extra.append((article_id, article.simhash, article.dedup_ts))
        if self._named is not None:
            self._named.add(article_id)
        self.counts[str(verdict.kind)] += 1
        self.removed.update(str(r.reason) for r in article.removed)
        self._merge(root, decision.merge, article_id)

    def _existing(self, known: GuidRow, article: Article, *, edits: bool) -> None:
        if known.content_hash == article.content_hash or not edits:
            self.counts["unchanged"] += 1
            return
        self._edit(known.facts, article)
        self.counts["updated"] += 1

    def _alias(self, same: Stored, article: Article, *, edits: bool) -> None:
        """The feed gave a stored item a new GUID (and maybe tracking parameters): remember the
        GUID on the item; an edit of its text is decided again."""
        self.flush()
        self.tx.set_alias(same.id, article.guid)
        self.named().add(same.id)  # a second new GUID with this text is another item
        if edits and article.text_hash != same.text_hash:
            self._edit(same, article)
            self.counts["updated"] += 1
        else:
            self.counts["unchanged"] += 1

    def _edit(self, old: Stored, article: Article) -> None:
        """Store an item's new text and decide its story again: the story it was in is
        regrouped with the new text (it may fall apart), then joined with any other story the
        new text is a copy of."""
        self.flush()
        (seq,) = self.tx.next_seqs(1)
        self.tx.update_article(old.id, article, seq)
        new = _facts(article, old.id, old.root, old.feed_id)
        members = [new if m.id == old.id else m for m in self.tx.members(old.root)]
        if all(m.id != old.id for m in members):
            members.append(new)
        for m in members:
            self._know(m)
        groups = self.decider.regroup(members)
        own = next(g for g in groups if g.root == old.id or old.id in dict(g.links))
        for group in groups:
            self.tx.set_story(group.root, Verdict(Kind.NEW))
            for member, edge in group.links:
                self.tx.set_story(member, link_verdict(group.root, edge))
            self._reroot_group(group.root, [group.root, *(m for m, _ in group.links)])
        # other stories the new text is a copy of
        outside = self.candidates(article, exclude=[m.id for m in members])
        decision = self.decider.decide(new, outside)
        self.extra.append((old.id, article.simhash, article.dedup_ts))
        if decision.verdict.kind == Kind.NEW:
            return
        target, best = decision.verdict.duplicate_of, decision.edge
        assert target is not None and best is not None
        joins = [(target, best), *decision.merge]
        winner = min(own.root, *(root for root, _ in joins))
        if winner == own.root:
            self._merge(winner, joins, old.id)
        else:
            rest = [(root, edge) for root, edge in joins if root != winner]
            self.tx.move_story(own.root, winner)
            self.tx.set_story(
                own.root, link_verdict(winner, best, None if own.root == old.id else old.id)
            )
            self._reroot({own.root}, winner)
            self._merge(winner, rest, old.id)

    def _reroot_group(self, root: int, members: Sequence[int]) -> None:
        for i in members:
            if i in self.facts:
                self.facts[i] = replace(self.facts[i], root=root)

    def result(self) -> StoreCounts:
        self.flush()
        c = self.counts
        return StoreCounts(
            new=c["new"],
            near=c["near"],
            exact=c["exact"],
            unchanged=c["unchanged"],
            updated=c["updated"],
            removed=tuple(sorted(self.removed.items())),
        )


def sync_index(tx: Tx, index: WindowIndex, now: datetime, dedup: DedupSettings) -> None:
    """Inside the dedup lock: take what other writers (and earlier transactions) wrote, and
    let go of the days a backfill loaded."""
    index.apply_changes(tx.changes_since(index.last_seq, FINGERPRINT_VERSION))
    index.evict(hot_days(now, dedup))


def warm_index(store: Store, index: WindowIndex, now: datetime, dedup: DedupSettings) -> None:
    """Load the days around the clock, outside any transaction and in batches (memory stays
    near the index's own size); changes written meanwhile are caught up by ``sync_index``."""
    seq = store.max_seq()
    days = hot_days(now, dedup)
    lo, hi = days.start * BUCKET_S, days.stop * BUCKET_S
    index.load(days, ())
    for rows in store.fingerprints_between(lo, hi, FINGERPRINT_VERSION):
        index.load(days, rows)
    index.last_seq = max(index.last_seq, seq)


def store_articles(
    tx: Tx,
    feed_id: int,
    articles: Sequence[Article],
    decider: Decider,
    index: WindowIndex,
    *,
    edits: bool = True,
    present: Collection[str] = (),
) -> StoreCounts:
    """Write one feed's articles inside ``tx``: new ones, copies, edits; skip what is stored.

    With ``edits=False`` a stored item whose content differs is left as it is (counted
    unchanged): the feed came from broken XML, and its last item may be cut short. The caller
    has taken the dedup lock and synced the index. ``present`` holds the key of every entry of
    the document (``PreparedFeed.keys``): no item it names is taken for a renamed one.
    """
    writer = StoryWriter(tx, feed_id, articles, decider, index, present=present)
    for article in sorted(articles, key=lambda a: (a.dedup_ts, a.guid)):
        writer.add(article, edits=edits)
    return writer.result()


@dataclass(frozen=True, slots=True)
class Staged:
    """A feed fetched and prepared, not yet stored (:meth:`Pipeline.stage`)."""

    target: Target
    started: float
    store: Callable[[], FeedOutcome] | None = None
    """Runs on the writer thread: stores the articles or records the feed's error."""
    failed: StoreError | None = None
    """The store failed while staging (reading the feed's row)."""


class Pipeline:
    """Fetches targets concurrently, prepares each in a worker process and stores it on one
    writer thread.

    Every outcome, failures included, is written to the feed's row together with when the feed
    is due next (``schedule.next_check_at``), which also releases a daemon's lease on it.
    ``parser`` is the worker pool to prepare in; by default the pipeline makes one with
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
        self.decider = Decider(settings.dedup)
        # Fingerprints of the days around the clock, used on the writer thread only.
        self.index = WindowIndex(settings.dedup.window_s)
        self._warm = False

    def close(self) -> None:
        """Wait for the writer thread; stop the workers this pipeline started."""
        self._writer.shutdown(wait=True)
        if self._owns_parser:
            self.parser.close()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store call on the writer thread (the store wants one writer at a time)."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    async def run(self, target: Target) -> FeedOutcome:
        """Fetch, prepare and store one feed; every failure ends up in the returned outcome."""
        return await self.write(await self.stage(target))

    async def stage(self, target: Target) -> Staged:
        """Fetch and prepare one feed, writing nothing: what :meth:`write` then stores. A caller
        that wants feeds stored in a given order (``ingest fetch``) stages them concurrently
        and writes them in turn."""
        started = time.monotonic()

        def later(fn: Callable[..., FeedOutcome], *args: Any, **kwargs: Any) -> Staged:
            return Staged(target, started, functools.partial(fn, *args, **kwargs))

        try:
            row = await self.call(self.store.feed, target.url)
            url = row.url if row else target.url  # where a feed that moved lives now
            try:
                fetched = await self.fetcher.fetch(url, row.cache if row else HttpCache())
            except FetchError as exc:
                return later(self._record_error, target, row, exc, started)
            if fetched.not_modified:
                return later(self._not_modified, target, row, fetched, started)
            digest = body_hash(fetched.body)
            if row is not None and row.body_hash == digest:
                return later(self._not_modified, target, row, fetched, started)
            job = await self.call(self._job, row, fetched)
            try:
                prepared, _ = await self.parser.run(
                    prepare, fetched.body, dict(fetched.headers), job, label=url
                )
            except ParseError as exc:
                return later(self._record_error, target, row, exc, started)
            return later(
                self._ingest,
                target,
                row,
                fetched,
                prepared,
                now=job.fetched,
                digest=digest,
                started=started,
            )
        except StoreError as exc:
            return Staged(target, started, failed=exc)

    async def write(self, staged: Staged) -> FeedOutcome:
        """Store what :meth:`stage` made, on the writer thread; a store failure is the outcome."""
        try:
            if staged.failed is not None:
                raise staged.failed
            assert staged.store is not None
            return await self.call(staged.store)
        except StoreError as exc:
            return FeedOutcome(
                name=staged.target.name,
                url=staged.target.url,
                status=Status.ERROR,
                error_code=exc.code,
                error=exc.message,
                duration_ms=_ms(staged.started),
            )

    def _job(self, row: FeedRow | None, fetched: Fetched) -> FeedJob:
        """What the worker needs: the feed's stored entries and learnt boilerplate."""
        dedup = self.settings.dedup
        known = self.store.known_entries(row.url, KNOWN_ENTRIES) if row else []
        history = [k.para_keys for k in known[: dedup.boilerplate_window]]
        digests = {entry_digest(k.guid, k.content_hash) for k in known}
        digests.update(entry_digest(k.alias_guid, k.content_hash) for k in known if k.alias_guid)
        return FeedJob(
            url=fetched.url,
            fetched=self.clock(),
            dedup=dedup,
            limits=self.settings.limits,
            recurring=recurring_keys(history, dedup.boilerplate_min_articles),
            known=frozenset(digests),
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
                    status=Status.ERROR,
                    http_status=status,
                    error_code=code,
                    error=exc.message,
                    next_check=next_check,
                ),
            )
        return FeedOutcome(
            name=target.name,
            url=target.url,
            status=Status.ERROR,
            error_code=code,
            error=exc.message,
            http_status=status,
            duration_ms=_ms(started),
            next_check=next_check,
        )

    def _not_modified(
        self, target: Target, row: FeedRow | None, fetched: Fetched, started: float
    ) -> FeedOutcome:
        """A 304, or (``fetched.status`` 200) the bytes stored last time from a server that
        ignores conditional GET: every item is known as it is, nothing to parse; the feed's
        schedule moves on. A 304 is reported ``not_modified``, the same bytes ``ok`` with the
        items they held counted unchanged."""
        now = self.clock()
        modified = not fetched.not_modified
        status = Status.OK if modified else Status.NOT_MODIFIED
        next_check = self._next_check(
            target,
            FetchResult(
                str(status),
                http_status=fetched.status,
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
                    status=status,
                    http_status=fetched.status,
                    cache=fetched.cache,
                    next_check=next_check,
                    **move,
                ),
            )
        return FeedOutcome(
            name=target.name,
            url=target.url,
            status=status,
            unchanged=(row.body_items or 0) if modified and row else 0,
            warnings=warnings,
            http_status=fetched.status,
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
        prepared: PreparedFeed,
        *,
        now: datetime,
        digest: str,
        started: float,
    ) -> FeedOutcome:
        known_interval = row.publish_interval if row else None
        dedup = self.settings.dedup
        interval = publish_interval(list(prepared.dates)) or known_interval
        next_check = self._next_check(
            target,
            FetchResult(
                "ok",
                http_status=fetched.status,
                headers=fetched.headers,
                ttl_seconds=prepared.ttl_seconds,
                publish_interval=interval,
            ),
            now,
        )
        move, moved_warnings = self._moved(row, fetched)
        if not self._warm:
            warm_index(self.store, self.index, now, dedup)
            self._warm = True
        with self.store.transaction() as tx:
            feed_id = tx.feed_id(target.url, target.name)
            tx.lock_dedup()
            sync_index(tx, self.index, now, dedup)
            counts = store_articles(
                tx,
                feed_id,
                prepared.articles,
                self.decider,
                self.index,
                edits=not prepared.recovered,
                present=prepared.keys,
            )
            tx.update_feed(
                feed_id,
                FeedUpdate(
                    fetched_at=now,
                    status=Status.OK,
                    http_status=fetched.status,
                    cache=fetched.cache,
                    ttl_seconds=prepared.ttl_seconds,
                    new_articles=counts.new,
                    new_duplicates=counts.near + counts.exact,
                    next_check=next_check,
                    publish_interval=interval,
                    body_hash=digest,
                    body_items=prepared.unchanged + len(prepared.articles),
                    **move,
                ),
            )
        return FeedOutcome(
            name=target.name,
            url=target.url,
            status=Status.OK,
            new=counts.new,
            duplicates=counts.near,
            exact=counts.exact,
            unchanged=counts.unchanged + prepared.unchanged,
            updated=counts.updated,
            warnings=prepared.warnings + moved_warnings,
            http_status=fetched.status,
            duration_ms=_ms(started),
            next_check=next_check,
            removed=counts.removed,
        )


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
