"""Open stores and bring them up to this version: ``ingest migrate``, ``rebuild-fingerprints``.

Every command opens its store here: ``open_for_writing`` creates a missing store and migrates
it (``fetch``, ``migrate``, ``copy``'s destination ...); ``open_for_reading`` never creates nor
migrates one (``export``, ``feeds``, ``explain``, ``status`` ...): a missing store is an error
naming it and how to choose one.

The schema migrations (``store/*``) change tables; some changes also need values only Python
can compute from the stored text, and so does a new fingerprint version::

    migrate(store, dedup)
      -> store.migrate()                     the tables, version by version
      -> refresh every row never analysed    (stores made before schema 4) and every row of
                                             another fingerprint version

    refresh(article)                         pure: from the stored paragraphs and removals
      -> fingerprint, stem set, text hash    (fingerprint.py)
      -> boilerplate keys, search document
      -> the date checked again              a date before 1990 or after the fetch time + skew
                                             is moved to ``published_raw`` (older versions
                                             stored year 0001 or 2099 as they came)
      -> the dedup time                      (jobs.dedup_time)

Rows are refreshed in batches of ``BATCH``, one transaction each, in id order, so an
interrupted run loses at most one batch and the next run goes on where it stopped. Link records
made before schema 4 kept no text: they stay out of the near-duplicate lookup (their stories
are unchanged).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ingest import fingerprint
from ingest.dates import range_problem
from ingest.errors import StoreError
from ingest.fingerprint import FINGERPRINT_VERSION
from ingest.jobs import dedup_time
from ingest.models import Article, Reason
from ingest.netguard import redact_url
from ingest.search import document_text
from ingest.settings import DedupSettings, Settings
from ingest.store import open_store, sqlite_path
from ingest.store.base import Store, StoredArticle

BATCH = 500
"""Articles refreshed per transaction."""


@dataclass(frozen=True, slots=True)
class RefreshReport:
    checked: int
    refreshed: int


def refreshed(stored: StoredArticle, dedup: DedupSettings) -> Article:
    """The stored article with every derived column computed again (pure)."""
    paras = fingerprint.analyse(stored.paragraphs)
    # The story is judged with the feed's boilerplate in (prepare.CleanArticle.story).
    boilerplate_paras = fingerprint.analyse(
        r.text for r in stored.removed if r.reason == Reason.BOILERPLATE
    )
    features = fingerprint.article_features((*paras, *boilerplate_paras))
    published, raw = stored.published, stored.published_raw
    skew = dedup.clock_skew_s
    if published is not None and range_problem(published, fetched=stored.fetched, clock_skew=skew):
        raw = raw or published.isoformat()
        published = None
    boilerplate = [p.bkey for p in boilerplate_paras]
    return Article(
        feed_url=stored.feed_url,
        guid=stored.guid,
        url=stored.url,
        canonical_url=None,
        title=stored.title,
        published=published,
        published_raw=raw,
        fetched=stored.fetched,
        dedup_ts=dedup_time(published, stored.fetched, dedup),
        author=stored.author,
        paragraphs=stored.paragraphs,
        removed=stored.removed,
        simhash=features.simhash,
        fp_version=FINGERPRINT_VERSION,
        text_hash=features.text_hash,
        content_hash="",
        stems=features.stems,
        para_keys=(*(p.bkey for p in paras), *boilerplate),
        search_text=document_text(stored.title, (p.key for p in paras)),
    )


def refresh(
    store: Store, dedup: DedupSettings, *, everything: bool = False, unanalysed: bool = False
) -> RefreshReport:
    """Recompute the derived columns of the rows that need it: never analysed, or analysed by
    another fingerprint version; only the first with ``unanalysed``; all with ``everything``."""
    checked = done = 0
    after = 0
    version: int | None = None if everything else (0 if unanalysed else FINGERPRINT_VERSION)
    while True:
        batch = store.articles_to_upgrade(version, after, BATCH)
        if not batch:
            return RefreshReport(checked, done)
        checked += len(batch)
        with store.transaction() as tx:
            seqs = tx.next_seqs(len(batch))
            for stored, seq in zip(batch, seqs, strict=True):
                tx.update_fingerprint(stored.id, refreshed(stored, dedup), seq)
        done += len(batch)
        after = batch[-1].id


def migrate(store: Store, dedup: DedupSettings) -> int:
    """Apply the schema migrations, then compute what they left to compute (rows stored before
    schema 4). Rows of another fingerprint version are ``ingest rebuild-fingerprints``' job."""
    version = store.migrate()
    refresh(store, dedup, unanalysed=True)
    return version


def store_label(url: str) -> str:
    """Which store ``url`` names, fit to print: a SQLite file by its absolute path, any other
    URL with its password masked."""
    path = sqlite_path(url)
    if path is None or path == ":memory:":
        return redact_url(url)
    return f"sqlite:///{Path(path).absolute()}"


def _say_store(settings: Settings, verbose: bool) -> None:
    if verbose:
        print(f"store: {store_label(settings.db)}", file=sys.stderr)


def open_for_writing(settings: Settings, *, verbose: bool = False) -> Store:
    """The store of ``settings``, created if missing and migrated (``fetch``, ``migrate`` ...)."""
    _say_store(settings, verbose)
    store = open_store(settings.db)
    try:
        migrate(store, settings.dedup)
    except BaseException:
        store.close()
        raise
    return store


def open_for_reading(settings: Settings, *, verbose: bool = False) -> Store:
    """The existing store of ``settings``, for a command that only reads: never created or
    migrated. A missing store is a ``StoreError`` naming it and how to choose one."""
    _say_store(settings, verbose)
    try:
        store = open_store(settings.db, create=False)
    except StoreError as exc:
        if exc.code != "db_missing":
            raise
        where = sqlite_path(settings.db) or redact_url(settings.db)
        raise StoreError(
            f"no store at {where}: name one with --db URL, INGEST_DB or [store] db in the "
            "configuration (`ingest fetch` or `ingest migrate` creates it)",
            code="db_missing",
        ) from exc
    try:
        store.check_schema()
    except BaseException:
        store.close()
        raise
    return store


def cmd_rebuild(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """``ingest rebuild-fingerprints [--all]``."""
    store = open_for_writing(settings, verbose=bool(getattr(args, "verbose", False)))
    try:
        report = refresh(store, settings.dedup, everything=args.all)
    finally:
        store.close()
    print(
        f"{redact_url(store.url)}: {report.refreshed} of {report.checked} article(s)"
        f" re-fingerprinted (version {FINGERPRINT_VERSION})",
        file=out,
    )
    return 0
