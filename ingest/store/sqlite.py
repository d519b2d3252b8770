"""The embedded SQLite store: WAL mode, versioned append-only migrations, one writer.

Durability settings follow measurements (HOSTILE.md): WAL with ``synchronous=NORMAL`` lost
no acknowledged batch over 40 SIGKILLs; ``busy_timeout=5000`` keeps concurrent CLI writes from
failing with "database is locked". One connection is used by one writer at a time (a lock
guards it): sharing a connection between concurrent transactions loses data.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ingest.errors import SchemaError, StoreError
from ingest.models import Article, Candidate, HttpCache, Removed, Verdict
from ingest.store.base import (
    SCHEMA_VERSION,
    ArticleRecord,
    Claim,
    FeedRow,
    FeedUpdate,
    StoredArticle,
    feed_host,
    from_signed64,
    to_signed64,
)

# Append-only: never edit a released migration, add a new one. Each runs in one transaction.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE feeds (
        id                   INTEGER PRIMARY KEY,
        url                  TEXT NOT NULL UNIQUE,
        name                 TEXT,
        etag                 TEXT,
        last_modified        TEXT,
        last_fetch           TEXT,
        last_success         TEXT,
        last_status          TEXT,
        http_status          INTEGER,
        error_code           TEXT,
        error                TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        articles             INTEGER NOT NULL DEFAULT 0,
        duplicates           INTEGER NOT NULL DEFAULT 0,
        ttl_seconds          INTEGER,
        next_check           TEXT
    );
    CREATE TABLE articles (
        id            INTEGER PRIMARY KEY,
        feed_id       INTEGER NOT NULL REFERENCES feeds(id),
        guid          TEXT NOT NULL,
        url           TEXT,
        canonical_url TEXT,
        title         TEXT NOT NULL,
        author        TEXT,
        published     TEXT,
        fetched       TEXT NOT NULL,
        ts            INTEGER NOT NULL,
        paragraphs    TEXT NOT NULL,
        removed       TEXT NOT NULL,
        simhash       INTEGER NOT NULL,
        fp_version    INTEGER NOT NULL,
        text_hash     TEXT NOT NULL,
        content_hash  TEXT NOT NULL,
        duplicate_of  INTEGER REFERENCES articles(id),
        dup_rule      TEXT,
        dup_distance  INTEGER,
        dup_overlap   REAL,
        UNIQUE (feed_id, guid)
    );
    CREATE INDEX articles_canonical_url ON articles(canonical_url) WHERE duplicate_of IS NULL;
    CREATE INDEX articles_text_hash ON articles(text_hash) WHERE duplicate_of IS NULL;
    CREATE INDEX articles_duplicate_of ON articles(duplicate_of) WHERE duplicate_of IS NOT NULL;
    CREATE INDEX articles_fetched ON articles(fetched);
    -- The near-duplicate lookup: one row per band of each canonical article's fingerprint.
    CREATE TABLE article_bands (
        band       INTEGER NOT NULL,
        value      INTEGER NOT NULL,
        article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
        PRIMARY KEY (band, value, article_id)
    ) WITHOUT ROWID;
    """,
    # 2: scheduling state shared by daemons: the learnt publishing gap and a lease per feed.
    """
    ALTER TABLE feeds ADD COLUMN host TEXT;
    ALTER TABLE feeds ADD COLUMN publish_interval REAL;
    ALTER TABLE feeds ADD COLUMN lease_owner TEXT;
    ALTER TABLE feeds ADD COLUMN lease_until TEXT;
    CREATE INDEX feeds_host_lease ON feeds(host, lease_until);
    -- update_article and ON DELETE CASCADE find an article's bands through this
    CREATE INDEX article_bands_article ON article_bands(article_id);
    """,
    # 3: feeds that moved (consistent permanent redirects): the URL they were configured with,
    # and the current redirect streak.
    """
    ALTER TABLE feeds ADD COLUMN origin_url TEXT;
    ALTER TABLE feeds ADD COLUMN redirect_url TEXT;
    ALTER TABLE feeds ADD COLUMN redirect_count INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX feeds_origin_url ON feeds(origin_url) WHERE origin_url IS NOT NULL;
    """,
)
assert len(MIGRATIONS) == SCHEMA_VERSION


# A feed by URL: the one that has it now, else the one that moved away from it.
_FEED_BY_URL = (
    "SELECT {columns} FROM feeds WHERE url = ? OR origin_url = ? ORDER BY url = ? DESC LIMIT 1"
)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_us(value: datetime | None) -> str | None:
    """Microsecond precision for the scheduling columns (``next_check``, ``lease_until``): a
    whole-second due time would let another daemon claim a feed up to a second early. Values
    of one column are always written in one format, so they compare correctly as text."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dt(value: str | None) -> datetime | None:
    if not value:
        return None
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if "." in value else "%Y-%m-%dT%H:%M:%SZ"
    return datetime.strptime(value, fmt).replace(tzinfo=UTC)


def _writable(path: str) -> bool:
    """Whether the database file and its WAL may be written (root included: ``access``
    honours the immutable flag and read-only mounts)."""
    return all(os.access(p, os.W_OK) for p in (path, f"{path}-wal") if Path(p).exists())


def _translate(exc: sqlite3.Error, path: str) -> StoreError:
    text = str(exc).lower()
    if "full" in text:
        return StoreError(f"{path}: the disk is full ({exc})", code="db_full")
    if "readonly" in text or "read-only" in text:
        return StoreError(f"{path}: the database is read-only ({exc})", code="db_readonly")
    if getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_IOERR and not _writable(path):
        # A file made read-only (chattr +i, a read-only remount) under an open connection
        # fails writes with "disk I/O error", not SQLITE_READONLY.
        return StoreError(f"{path}: the database is read-only ({exc})", code="db_readonly")
    if "locked" in text or "busy" in text:
        return StoreError(f"{path}: the database stayed locked ({exc})", code="db_locked")
    if "unable to open" in text:
        return StoreError(f"{path}: cannot open the database ({exc})", code="db_open")
    return StoreError(f"{path}: {exc}", code="db_error")


def _removed_json(removed: Sequence[Removed]) -> str:
    return json.dumps(
        [
            {
                k: v
                for k, v in (
                    ("reason", r.reason),
                    ("text", r.text),
                    ("position", r.position),
                    ("duplicate_of", r.duplicate_of),
                    ("distance", r.distance),
                    ("overlap", r.overlap),
                )
                if v is not None
            }
            for r in removed
        ],
        ensure_ascii=False,
    )


def _history(paragraphs: str, removed: str) -> tuple[str, ...]:
    """Kept paragraphs plus the texts removed as boilerplate (``Store.recent_paragraphs``)."""
    texts = json.loads(paragraphs)
    if '"boilerplate"' in removed:  # most articles have none: skip parsing their removals
        texts += [r["text"] for r in json.loads(removed) if r.get("reason") == "boilerplate"]
    return tuple(texts)


def _removed_from(text: str) -> tuple[Removed, ...]:
    return tuple(
        Removed(
            reason=d["reason"],
            text=d["text"],
            position=d.get("position", 0),
            duplicate_of=d.get("duplicate_of"),
            distance=d.get("distance"),
            overlap=d.get("overlap"),
        )
        for d in json.loads(text)
    )


def _ts(article: Article) -> int:
    return int((article.published or article.fetched).timestamp())


def _candidate(r: Sequence[Any]) -> Candidate:
    """A ``Candidate`` from a row of (id, simhash, feed url, title, paragraphs, published)."""
    return Candidate(
        id=int(r[0]),
        simhash=from_signed64(r[1]),
        feed_url=r[2],
        title=r[3],
        paragraphs=tuple(json.loads(r[4])),
        published=_dt(r[5]),
    )


class SQLiteTx:
    """The unit of work of one feed on one SQLite connection (see ``store.base.Tx``)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    def feed_id(self, url: str, name: str | None) -> int:
        row = self._c.execute(_FEED_BY_URL.format(columns="id, name"), (url, url, url)).fetchone()
        if row:
            if name and row[1] != name:
                self._c.execute("UPDATE feeds SET name = ? WHERE id = ?", (name, row[0]))
            return int(row[0])
        cur = self._c.execute(
            "INSERT INTO feeds (url, name, host) VALUES (?, ?, ?)", (url, name, feed_host(url))
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def lock_keys(self, keys: Sequence[int]) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already makes every writer wait its turn."""

    def find_guid(self, feed_id: int, guid: str) -> tuple[int, str] | None:
        row = self._c.execute(
            "SELECT id, content_hash FROM articles WHERE feed_id = ? AND guid = ?", (feed_id, guid)
        ).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def find_exact(self, canonical_url: str | None, text_hash: str) -> tuple[int, str] | None:
        if canonical_url:
            row = self._c.execute(
                "SELECT id FROM articles WHERE canonical_url = ? AND duplicate_of IS NULL "
                "ORDER BY id LIMIT 1",
                (canonical_url,),
            ).fetchone()
            if row:
                return int(row[0]), "url"
        row = self._c.execute(
            "SELECT id FROM articles WHERE text_hash = ? AND duplicate_of IS NULL "
            "ORDER BY id LIMIT 1",
            (text_hash,),
        ).fetchone()
        return (int(row[0]), "text") if row else None

    def near_candidates(
        self, bands: Sequence[int], fp_version: int, ts: int, window_s: int
    ) -> list[Candidate]:
        if not bands:
            return []
        pairs = " OR ".join("(b.band = ? AND b.value = ?)" for _ in bands)
        params: list[Any] = []
        for i, value in enumerate(bands):
            params += [i, value]
        rows = self._c.execute(
            f"""SELECT DISTINCT a.id, a.simhash, f.url, a.title, a.paragraphs, a.published
                FROM article_bands b JOIN articles a ON a.id = b.article_id
                JOIN feeds f ON f.id = a.feed_id
                WHERE ({pairs}) AND a.fp_version = ? AND a.ts BETWEEN ? AND ?""",
            [*params, fp_version, ts - window_s, ts + window_s],
        ).fetchall()
        return [_candidate(r) for r in rows]

    def fingerprints_since(
        self, after_id: int, fp_version: int, min_ts: int
    ) -> list[tuple[int, int, int]]:
        rows = self._c.execute(
            "SELECT id, simhash, ts FROM articles WHERE id > ? AND duplicate_of IS NULL "
            "AND fp_version = ? AND ts >= ? ORDER BY id",
            (after_id, fp_version, min_ts),
        ).fetchall()
        return [(int(r[0]), from_signed64(r[1]), int(r[2])) for r in rows]

    def candidates(self, ids: Sequence[int]) -> list[Candidate]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._c.execute(
            f"""SELECT a.id, a.simhash, f.url, a.title, a.paragraphs, a.published
                FROM articles a JOIN feeds f ON f.id = a.feed_id
                WHERE a.id IN ({marks}) ORDER BY a.id""",
            list(ids),
        ).fetchall()
        return [_candidate(r) for r in rows]

    def insert_article(
        self, feed_id: int, article: Article, bands: Sequence[int], verdict: Verdict
    ) -> int:
        canonical = verdict.kind == "new"
        cur = self._c.execute(
            """INSERT INTO articles (feed_id, guid, url, canonical_url, title, author, published,
                   fetched, ts, paragraphs, removed, simhash, fp_version, text_hash, content_hash,
                   duplicate_of, dup_rule, dup_distance, dup_overlap)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            (
                feed_id,
                article.guid,
                article.url,
                article.canonical_url,
                article.title,
                article.author,
                _iso(article.published),
                _iso(article.fetched),
                _ts(article),
                # A link record keeps no second body: only the canonical article does.
                json.dumps(list(article.paragraphs) if canonical else [], ensure_ascii=False),
                _removed_json(article.removed if canonical else ()),
                to_signed64(article.simhash),
                article.fp_version,
                article.text_hash,
                article.content_hash,
                verdict.duplicate_of,
                verdict.rule,
                verdict.distance,
                verdict.overlap,
            ),
        )
        article_id = cur.lastrowid
        assert article_id is not None
        if canonical:
            self._insert_bands(article_id, bands)
        return article_id

    def _insert_bands(self, article_id: int, bands: Sequence[int]) -> None:
        self._c.executemany(
            "INSERT OR IGNORE INTO article_bands (band, value, article_id) VALUES (?, ?, ?)",
            [(i, value, article_id) for i, value in enumerate(bands)],
        )

    def update_article(self, article_id: int, article: Article, bands: Sequence[int]) -> None:
        row = self._c.execute(
            "SELECT duplicate_of FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        canonical = row is not None and row[0] is None
        self._c.execute(
            """UPDATE articles SET url = ?, canonical_url = ?, title = ?, author = ?,
                   published = ?, ts = ?, paragraphs = ?, removed = ?, simhash = ?,
                   fp_version = ?, text_hash = ?, content_hash = ?
               WHERE id = ?""",
            (
                article.url,
                article.canonical_url,
                article.title,
                article.author,
                _iso(article.published),
                _ts(article),
                json.dumps(list(article.paragraphs) if canonical else [], ensure_ascii=False),
                _removed_json(article.removed if canonical else ()),
                to_signed64(article.simhash),
                article.fp_version,
                article.text_hash,
                article.content_hash,
                article_id,
            ),
        )
        if canonical:
            self._c.execute("DELETE FROM article_bands WHERE article_id = ?", (article_id,))
            self._insert_bands(article_id, bands)

    def update_fingerprint(
        self, article_id: int, simhash: int, fp_version: int, text_hash: str, bands: Sequence[int]
    ) -> None:
        self._c.execute(
            "UPDATE articles SET simhash = ?, fp_version = ?, text_hash = ? WHERE id = ?",
            (to_signed64(simhash), fp_version, text_hash, article_id),
        )
        self._c.execute("DELETE FROM article_bands WHERE article_id = ?", (article_id,))
        self._insert_bands(article_id, bands)

    def update_feed(self, feed_id: int, update: FeedUpdate) -> None:
        failed = update.status == "error"
        sets = [
            "last_fetch = ?",
            "last_status = ?",
            "http_status = ?",
            "error_code = ?",
            "error = ?",
            "articles = articles + ?",
            "duplicates = duplicates + ?",
            "consecutive_failures = " + ("consecutive_failures + 1" if failed else "0"),
        ]
        params: list[Any] = [
            _iso(update.fetched_at),
            update.status,
            update.http_status,
            update.error_code,
            update.error,
            update.new_articles,
            update.new_duplicates,
        ]
        if not failed:
            sets.append("last_success = ?")
            params.append(_iso(update.fetched_at))
        if update.cache is not None:
            sets += ["etag = ?", "last_modified = ?"]
            params += [update.cache.etag, update.cache.last_modified]
        if update.ttl_seconds is not None:
            sets.append("ttl_seconds = ?")
            params.append(update.ttl_seconds)
        if update.url is not None:
            sets += ["origin_url = COALESCE(origin_url, url)", "url = ?", "host = ?"]
            sets += ["redirect_url = NULL", "redirect_count = 0"]
            params += [update.url, feed_host(update.url)]
        elif update.redirect_count is not None:
            sets += ["redirect_url = ?", "redirect_count = ?"]
            params += [update.redirect_url, update.redirect_count]
        if update.next_check is not None:
            sets += ["next_check = ?", "lease_owner = NULL", "lease_until = NULL"]
            params.append(_iso_us(update.next_check))
        if update.publish_interval is not None:
            sets.append("publish_interval = ?")
            params.append(update.publish_interval)
        self._c.execute(f"UPDATE feeds SET {', '.join(sets)} WHERE id = ?", [*params, feed_id])

    def load_feeds(self, rows: Sequence[FeedRow]) -> None:
        self._c.executemany(
            """INSERT INTO feeds (id, url, name, etag, last_modified, last_fetch, last_success,
                   last_status, http_status, error_code, error, consecutive_failures, articles,
                   duplicates, ttl_seconds, next_check, host, publish_interval, lease_owner,
                   lease_until, origin_url, redirect_url, redirect_count)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            [
                (
                    r.id,
                    r.url,
                    r.name,
                    r.cache.etag,
                    r.cache.last_modified,
                    _iso(r.last_fetch),
                    _iso(r.last_success),
                    r.last_status,
                    r.http_status,
                    r.error_code,
                    r.error,
                    r.consecutive_failures,
                    r.articles,
                    r.duplicates,
                    r.ttl_seconds,
                    _iso_us(r.next_check),
                    feed_host(r.url),
                    r.publish_interval,
                    r.lease_owner,
                    _iso_us(r.lease_until),
                    r.origin_url,
                    r.redirect_url,
                    r.redirect_count,
                )
                for r in rows
            ],
        )

    def load_articles(self, records: Sequence[ArticleRecord]) -> None:
        self._c.executemany(
            """INSERT INTO articles (id, feed_id, guid, url, canonical_url, title, author,
                   published, fetched, ts, paragraphs, removed, simhash, fp_version, text_hash,
                   content_hash, duplicate_of, dup_rule, dup_distance, dup_overlap)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            [
                (
                    r.article.id,
                    r.feed_id,
                    r.article.guid,
                    r.article.url,
                    r.canonical_url,
                    r.article.title,
                    r.article.author,
                    _iso(r.article.published),
                    _iso(r.article.fetched),
                    r.ts,
                    json.dumps(list(r.article.paragraphs), ensure_ascii=False),
                    _removed_json(r.article.removed),
                    to_signed64(r.article.simhash),
                    r.article.fp_version,
                    r.text_hash,
                    r.content_hash,
                    r.article.duplicate_of,
                    r.article.dup_rule,
                    r.article.dup_distance,
                    r.article.dup_overlap,
                )
                for r in records
            ],
        )
        self._c.executemany(
            "INSERT INTO article_bands (band, value, article_id) VALUES (?, ?, ?)",
            [(band, value, r.article.id) for r in records for band, value in r.bands],
        )


class SQLiteStore:
    """The SQLite backend of ``store.base.Store``."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        # No directory is made here: open_store decides where a store may be created.
        if self.path != ":memory:" and not Path(self.path).exists():
            if not create:
                raise StoreError(f"{self.path}: no such database", code="db_missing")
            if not Path(self.path).parent.is_dir():
                raise StoreError(f"{Path(self.path).parent}: no such directory", code="db_open")
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=5.0
            )
            self._conn.execute("PRAGMA busy_timeout = 5000")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc

    # -- schema ---------------------------------------------------------------------------

    def _version(self) -> int:
        exists = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ingest_schema'"
        ).fetchone()
        if not exists:
            return 0
        row = self._conn.execute("SELECT max(version) FROM ingest_schema").fetchone()
        return int(row[0] or 0)

    def migrate(self) -> int:
        """Apply every pending migration, each in its own transaction; return the version."""
        with self._lock:
            try:
                self._conn.execute(
                    "CREATE TABLE IF NOT EXISTS ingest_schema "
                    "(version INTEGER PRIMARY KEY, applied TEXT NOT NULL)"
                )
                current = self._version()
                if current > SCHEMA_VERSION:
                    raise SchemaError(
                        f"{self.path}: schema version {current} is newer than this ingest "
                        f"understands ({SCHEMA_VERSION}); upgrade ingest"
                    )
                for version in range(current + 1, SCHEMA_VERSION + 1):
                    self._conn.execute("BEGIN IMMEDIATE")
                    if self._version() >= version:  # another process applied it meanwhile
                        self._conn.execute("ROLLBACK")
                        continue
                    try:
                        for statement in MIGRATIONS[version - 1].split(";"):
                            if statement.strip():
                                self._conn.execute(statement)
                        self._conn.execute(
                            "INSERT INTO ingest_schema (version, applied) VALUES (?, ?)",
                            (version, _iso(datetime.now(UTC))),
                        )
                        self._conn.execute("COMMIT")
                    except BaseException:
                        self._conn.execute("ROLLBACK")
                        raise
                return SCHEMA_VERSION
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc

    def schema_version(self) -> int:
        with self._lock:
            try:
                return self._version()
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc

    def check_schema(self) -> None:
        with self._lock:
            try:
                current = self._version()
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc
        if current != SCHEMA_VERSION:
            raise SchemaError(
                f"{self.path}: schema version {current}, this ingest needs {SCHEMA_VERSION}: "
                f"run `ingest --db {self.url} migrate`"
            )

    # -- writing --------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[SQLiteTx]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc
            try:
                yield SQLiteTx(self._conn)
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise _translate(exc, self.path) from exc
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        # The failed statement may already have ended the transaction.
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")

    def ping(self) -> None:
        """Raise ``StoreError`` unless the store answers and can take a write lock."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc

    def claim(
        self,
        url: str,
        name: str | None,
        owner: str,
        now: datetime,
        lease_seconds: float,
        *,
        per_host: int = 0,
    ) -> Claim:
        with self.transaction() as tx:
            feed_id = tx.feed_id(url, name)
            c = self._conn
            row = c.execute(
                "SELECT next_check, lease_owner, lease_until, host FROM feeds WHERE id = ?",
                (feed_id,),
            ).fetchone()
            next_check, holder, until, host = _dt(row[0]), row[1], _dt(row[2]), row[3]
            if holder and holder != owner and until is not None and until > now:
                return Claim(False, "leased", next_check, holder)
            if next_check is not None and next_check > now:
                return Claim(False, "not_due", next_check, holder)
            if per_host > 0:
                busy = c.execute(
                    "SELECT count(*) FROM feeds WHERE host = ? AND id != ? AND lease_until > ?",
                    (host, feed_id, _iso_us(now)),
                ).fetchone()[0]
                if busy >= per_host:
                    return Claim(False, "host_busy", next_check, holder)
            c.execute(
                "UPDATE feeds SET lease_owner = ?, lease_until = ? WHERE id = ?",
                (owner, _iso_us(now + timedelta(seconds=lease_seconds)), feed_id),
            )
            return Claim(True, "", next_check, owner)

    def release(self, url: str, owner: str) -> None:
        with self.transaction():
            self._conn.execute(
                "UPDATE feeds SET lease_owner = NULL, lease_until = NULL WHERE id = "
                f"({_FEED_BY_URL.format(columns='id')}) AND lease_owner = ?",
                (url, url, url, owner),
            )

    # -- reading --------------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc

    _FEED_COLUMNS = (
        "id, url, name, etag, last_modified, last_fetch, last_success, last_status, http_status, "
        "error_code, error, consecutive_failures, articles, duplicates, ttl_seconds, next_check, "
        "publish_interval, lease_owner, lease_until, origin_url, redirect_url, redirect_count"
    )

    @staticmethod
    def _feed_row(r: Sequence[Any]) -> FeedRow:
        return FeedRow(
            id=r[0],
            url=r[1],
            name=r[2],
            cache=HttpCache(etag=r[3], last_modified=r[4]),
            last_fetch=_dt(r[5]),
            last_success=_dt(r[6]),
            last_status=r[7],
            http_status=r[8],
            error_code=r[9],
            error=r[10],
            consecutive_failures=r[11],
            articles=r[12],
            duplicates=r[13],
            ttl_seconds=r[14],
            next_check=_dt(r[15]),
            publish_interval=r[16],
            lease_owner=r[17],
            lease_until=_dt(r[18]),
            origin_url=r[19],
            redirect_url=r[20],
            redirect_count=r[21],
        )

    def feeds(self) -> list[FeedRow]:
        rows = self._query(f"SELECT {self._FEED_COLUMNS} FROM feeds ORDER BY id")
        return [self._feed_row(r) for r in rows]

    def feed(self, url: str) -> FeedRow | None:
        rows = self._query(_FEED_BY_URL.format(columns=self._FEED_COLUMNS), (url, url, url))
        return self._feed_row(rows[0]) if rows else None

    _ARTICLE_COLUMNS = (
        "a.id, f.url, f.name, a.guid, a.url, a.title, a.author, a.published, a.fetched, "
        "a.paragraphs, a.removed, a.simhash, a.fp_version, a.duplicate_of, a.dup_rule, "
        "a.dup_distance, a.dup_overlap"
    )

    @staticmethod
    def _article_row(r: Sequence[Any]) -> StoredArticle:
        fetched = _dt(r[8])
        assert fetched is not None
        return StoredArticle(
            id=r[0],
            feed_url=r[1],
            feed_name=r[2],
            guid=r[3],
            url=r[4],
            title=r[5],
            author=r[6],
            published=_dt(r[7]),
            fetched=fetched,
            paragraphs=tuple(json.loads(r[9])),
            removed=_removed_from(r[10]),
            simhash=from_signed64(r[11]),
            fp_version=r[12],
            duplicate_of=r[13],
            dup_rule=r[14],
            dup_distance=r[15],
            dup_overlap=r[16],
        )

    def articles(
        self,
        *,
        since: datetime | None = None,
        feed_url: str | None = None,
        duplicates: bool = False,
    ) -> Iterator[StoredArticle]:
        where, params = [], []
        if not duplicates:
            where.append("a.duplicate_of IS NULL")
        if since is not None:
            where.append("COALESCE(a.published, a.fetched) >= ?")
            params.append(_iso(since))
        if feed_url is not None:
            where.append("(f.url = ? OR f.origin_url = ?)")
            params += [feed_url, feed_url]
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._query(
            f"SELECT {self._ARTICLE_COLUMNS} FROM articles a JOIN feeds f ON f.id = a.feed_id "
            f"{clause} ORDER BY a.id",
            params,
        )
        for r in rows:
            yield self._article_row(r)

    def article(self, article_id: int) -> StoredArticle | None:
        rows = self._query(
            f"SELECT {self._ARTICLE_COLUMNS} FROM articles a JOIN feeds f ON f.id = a.feed_id "
            "WHERE a.id = ?",
            (article_id,),
        )
        return self._article_row(rows[0]) if rows else None

    def links_to(self, article_id: int) -> list[StoredArticle]:
        rows = self._query(
            f"SELECT {self._ARTICLE_COLUMNS} FROM articles a JOIN feeds f ON f.id = a.feed_id "
            "WHERE a.duplicate_of = ? ORDER BY a.id",
            (article_id,),
        )
        return [self._article_row(r) for r in rows]

    def recent_paragraphs(self, feed_url: str, limit: int) -> list[tuple[str, ...]]:
        rows = self._query(
            "SELECT a.paragraphs, a.removed FROM articles a JOIN feeds f ON f.id = a.feed_id "
            "WHERE f.url = ? AND a.duplicate_of IS NULL ORDER BY a.id DESC LIMIT ?",
            (feed_url, limit),
        )
        return [_history(paragraphs, removed) for paragraphs, removed in rows]

    def dump_articles(self) -> Iterator[ArticleRecord]:
        """Every article row in id order with its bands: two ordered cursors merged, so memory
        stays flat (``article_bands`` has no index on ``article_id``: one sorted scan beats a
        scan per article)."""
        with self._lock:
            try:
                rows = self._conn.execute(
                    f"SELECT {self._ARTICLE_COLUMNS}, a.feed_id, a.canonical_url, a.ts, "
                    "a.text_hash, a.content_hash FROM articles a JOIN feeds f ON f.id = a.feed_id "
                    "ORDER BY a.id"
                )
                bands = self._conn.execute(
                    "SELECT article_id, band, value FROM article_bands ORDER BY article_id, band"
                )
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc
        try:
            band = bands.fetchone()
            for r in rows:
                own: list[tuple[int, int]] = []
                while band is not None and band[0] <= r[0]:
                    if band[0] == r[0]:
                        own.append((band[1], band[2]))
                    band = bands.fetchone()
                yield ArticleRecord(
                    article=self._article_row(r),
                    feed_id=r[17],
                    canonical_url=r[18],
                    ts=r[19],
                    text_hash=r[20],
                    content_hash=r[21],
                    bands=tuple(own),
                )
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc

    def integrity_check(self) -> str:
        return str(self._query("PRAGMA integrity_check")[0][0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
