"""The embedded SQLite store: WAL mode, versioned append-only migrations, one writer.

Durability settings follow measurements (HOSTILE.md): WAL with ``synchronous=NORMAL`` lost
no acknowledged batch over 40 SIGKILLs; ``busy_timeout=5000`` keeps concurrent CLI writes from
failing with "database is locked". One connection is used by one writer at a time (a lock
guards it): sharing a connection between concurrent transactions loses data. Long reads
(``export``, warming the fingerprint index) stream from a second connection, so memory stays
flat and the writer is not held up.

The SQL itself is ``core.py``'s; this module keeps the connection, the migrations and the
translation of SQLite's errors.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.errors import SchemaError, StoreError
from ingest.search import Query, fts5_expression
from ingest.store.base import SCHEMA_VERSION
from ingest.store.core import (
    MAX_RANKED,
    Connection,
    CoreStore,
    CoreTx,
    Dialect,
    iso,
    parse_iso,
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
    # 4: one pass per article and stories that hold whatever the order of arrival (issues 10,
    # 12, 13). Every article keeps its text and its analysed features (stem set, boilerplate
    # keys, search document); ``ts`` becomes the dedup time; a change sequence lets every
    # writer's in-memory index follow the others; link records name the article they matched;
    # the unused band table goes; the search index follows the rows through triggers.
    # ``ingest migrate`` then computes the new columns of older rows (``upgrade.py``).
    """
    ALTER TABLE articles ADD COLUMN published_raw TEXT;
    ALTER TABLE articles ADD COLUMN features TEXT NOT NULL DEFAULT '';
    ALTER TABLE articles ADD COLUMN para_keys TEXT NOT NULL DEFAULT '';
    ALTER TABLE articles ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
    ALTER TABLE articles ADD COLUMN alias_guid TEXT;
    ALTER TABLE articles ADD COLUMN match_id INTEGER;
    ALTER TABLE articles ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
    UPDATE articles SET match_id = duplicate_of WHERE duplicate_of IS NOT NULL;
    DROP TABLE article_bands;
    DROP INDEX articles_canonical_url;
    DROP INDEX articles_text_hash;
    CREATE INDEX articles_canonical_url ON articles(canonical_url);
    CREATE INDEX articles_text_hash ON articles(text_hash);
    CREATE INDEX articles_seq ON articles(seq);
    CREATE INDEX articles_ts ON articles(ts);
    -- stories and the console's lists read these columns of every row: an index-only scan
    CREATE INDEX articles_story ON articles(published, fetched, duplicate_of, id);
    CREATE INDEX articles_feed_alias ON articles(feed_id, alias_guid) WHERE alias_guid IS NOT NULL;
    ALTER TABLE feeds ADD COLUMN body_hash TEXT;
    ALTER TABLE feeds ADD COLUMN body_items INTEGER;
    ALTER TABLE feeds ADD COLUMN removed_at TEXT;
    CREATE TABLE ingest_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO ingest_counters (name, value) VALUES ('seq', 0);
    INSERT INTO ingest_counters (name, value)
        SELECT 'article_id', COALESCE(MAX(id), 0) FROM articles;
    CREATE VIRTUAL TABLE articles_fts USING fts5(
        search_text, content='articles', content_rowid='id', tokenize='unicode61'
    );
    -- Index the rows already there (empty documents until ``ingest migrate`` fills them): the
    -- update trigger first deletes a row's old document, and FTS5 fails with "database disk
    -- image is malformed" when asked to delete a row it never indexed.
    INSERT INTO articles_fts (articles_fts) VALUES ('rebuild');
    CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts (rowid, search_text) VALUES (new.id, new.search_text);
    END;
    CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
        INSERT INTO articles_fts (articles_fts, rowid, search_text)
            VALUES ('delete', old.id, old.search_text);
    END;
    CREATE TRIGGER articles_fts_update AFTER UPDATE OF search_text ON articles BEGIN
        INSERT INTO articles_fts (articles_fts, rowid, search_text)
            VALUES ('delete', old.id, old.search_text);
        INSERT INTO articles_fts (rowid, search_text) VALUES (new.id, new.search_text);
    END;
    """,
)
assert len(MIGRATIONS) == SCHEMA_VERSION

_STREAM_BATCH = 500
"""Rows fetched at a time by a streaming read."""


class SQLiteDialect(Dialect):
    def time(self, value: datetime | None) -> str | None:
        return iso(value)

    def time_us(self, value: datetime | None) -> str | None:
        """Values of one column are always written in one format, so they compare as text."""
        return iso(value, micro=True)

    def read_time(self, value: Any) -> datetime | None:
        return parse_iso(value)

    def executemany(self, conn: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        conn.executemany(sql, rows)

    def search_hits(
        self, query: Query, where: Sequence[str], params: Sequence[Any]
    ) -> tuple[str, list[Any]]:
        # FTS5 walks its matches newest first (by rowid) and scores only those kept; the limit
        # also keeps SQLite from flattening the subquery into the caller's GROUP BY, where
        # bm25() may not be used.
        conditions = "".join(f" AND {w}" for w in where)
        return (
            "SELECT articles_fts.rowid AS id, -bm25(articles_fts) AS score FROM articles_fts "
            "JOIN articles a ON a.id = articles_fts.rowid JOIN feeds f ON f.id = a.feed_id "
            f"WHERE articles_fts MATCH ?{conditions} "
            f"ORDER BY articles_fts.rowid DESC LIMIT {MAX_RANKED}",
            [fts5_expression(query), *params],
        )

    def allot_ids(self, conn: Connection, count: int) -> list[int]:
        # A counter, not max(id) + 1: an id once handed out is never handed out again, even
        # after its article was removed (readers follow new articles by id).
        row = conn.execute(
            "UPDATE ingest_counters SET value = max(value, "
            "(SELECT COALESCE(MAX(id), 0) FROM articles)) + ? "
            "WHERE name = 'article_id' RETURNING value",
            (count,),
        ).fetchone()
        last = int(row[0])
        return list(range(last - count + 1, last + 1))


DIALECT = SQLiteDialect()


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration script (trigger bodies hold semicolons of their own)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""
    if pending.strip(" \n;"):
        yield pending


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


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


class SQLiteStore(CoreStore):
    """The SQLite backend of ``store.base.Store``."""

    dialect = DIALECT

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
            self._conn = _connect(self.path)
            if not self._conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
                # A new file: pages freed by `ingest prune` can be given back later without
                # rewriting the whole file (it must be chosen before the first table).
                self._conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
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
                        for statement in _statements(MIGRATIONS[version - 1]):
                            self._conn.execute(statement)
                        self._conn.execute(
                            "INSERT INTO ingest_schema (version, applied) VALUES (?, ?)",
                            (version, iso(datetime.now(UTC))),
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

    # -- transactions ---------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[CoreTx]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc
            try:
                yield CoreTx(self._conn, DIALECT)
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise _translate(exc, self.path) from exc
            except BaseException:
                self._rollback()
                raise

    _core_tx = transaction

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

    # -- reading --------------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc

    def _stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Any]:
        """Rows as they are consumed, from a connection of their own (one snapshot)."""
        if self.path == ":memory:":
            yield from self._query(sql, params)
            return
        try:
            conn = _connect(self.path)
            conn.execute("PRAGMA query_only = 1")
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc
        try:
            cursor = conn.execute(sql, params)
            while rows := cursor.fetchmany(_STREAM_BATCH):
                yield from rows
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc
        finally:
            conn.close()

    def _vacuum(self) -> None:
        """Give freed pages back to the file system. A store made before incremental vacuum
        was chosen is rewritten once (``VACUUM``, which needs as much free disk as the file)."""
        with self._lock:
            try:
                mode = self._conn.execute("PRAGMA auto_vacuum").fetchone()[0]
                if mode != 2:
                    self._conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
                    self._conn.execute("VACUUM")
                self._conn.execute("PRAGMA incremental_vacuum").fetchall()
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc

    def integrity_check(self) -> str:
        return str(self._query("PRAGMA integrity_check")[0][0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
