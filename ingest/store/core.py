"""The SQL and row codecs both backends share, over a small ``Dialect``.

A backend (``sqlite.py``, ``postgres.py``) owns its connection, its locking, its error
translation and its migrations; everything that reads or writes rows is here, written once::

    CoreTx(conn, dialect)        the unit of work of ``store.base.Tx``
    CoreStore                    the reads of ``store.base.Store`` (a backend subclasses it and
                                 provides ``_query``, ``_stream`` and ``transaction``)

SQL is written with ``?`` placeholders; the dialect turns them into the driver's style. What
differs between the two databases is asked of the dialect: how a time is stored (SQLite: ISO
8601 text in UTC with a four-digit year; PostgreSQL: ``TIMESTAMPTZ``), how a list of values is
matched (``IN (?, ...)`` or ``= ANY(?)``), how long text keys are indexed (PostgreSQL through
``md5()``, whose B-tree entries stay small), how ids are allotted, and which locks a claim or a
dedup decision takes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ingest.errors import SchemaError
from ingest.fingerprint import features_set, features_text, from_signed64, to_signed64
from ingest.models import Article, HttpCache, Kind, Removed, Stored, Verdict
from ingest.search import Query
from ingest.store.base import (
    SCHEMA_VERSION,
    ArticleRecord,
    Claim,
    FeedRow,
    FeedUpdate,
    GuidRow,
    KnownEntry,
    NewRow,
    Removal,
    StoredArticle,
    StoryRow,
    Tx,
    feed_host,
)

_MAX_BIND = 500
"""Values bound in one ``IN`` list or one batch of rows."""

MAX_RANKED = 5_000
"""A search ranks the newest this many matching articles: a word most articles hold (الرئيس in
40% of them) would otherwise cost a score for every one of them, 0.5 s at 100,000 articles on
PostgreSQL, for results nobody pages through. Rarer words rank all their matches."""


class Connection(Protocol):
    """What the core needs of a DB-API connection (sqlite3's and psycopg's both have it)."""

    def execute(self, sql: Any, params: Any = ...) -> Any: ...


class Dialect:
    """How one database spells what the core asks. Subclassed by each backend."""

    placeholder = "?"
    for_update = ""
    """Appended to the claim's row read to lock the row (PostgreSQL: ``FOR UPDATE``)."""

    def sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    # -- times -------------------------------------------------------------------------

    def time(self, value: datetime | None) -> Any:
        """A time as stored, to whole seconds."""
        raise NotImplementedError

    def time_us(self, value: datetime | None) -> Any:
        """A scheduling time as stored (``next_check``, ``lease_until``): microseconds kept, so
        a due time is not rounded a second early for another daemon."""
        raise NotImplementedError

    def read_time(self, value: Any) -> datetime | None:
        raise NotImplementedError

    # -- writing helpers ---------------------------------------------------------------

    def executemany(self, conn: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def allot_ids(self, conn: Connection, count: int) -> list[int]:
        raise NotImplementedError

    def lock_dedup(self, conn: Connection) -> None:
        """Serialise dedup decisions across writers (nothing to do for a single writer)."""

    def lock_host(self, conn: Connection, host: str) -> None:
        """Serialise claims of one host across writers (nothing to do for a single writer)."""

    def no_flush(self, conn: Connection) -> None:
        """Let a transaction that only moves a lease commit without waiting for the disk."""

    def after_load(self, conn: Connection, table: str) -> None:
        """Rows were inserted with their ids (``copy``): let new ids follow them."""

    # -- matching lists ------------------------------------------------------------------

    def search_hits(
        self, query: Query, where: Sequence[str], params: Sequence[Any]
    ) -> tuple[str, list[Any]]:
        """A subquery of ``(id, score)``: the newest ``MAX_RANKED`` articles (``a``, their feed
        ``f``) whose search document matches and that meet the ``where`` conditions, each with
        its score (higher is better)."""
        raise NotImplementedError

    def in_list(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """``column`` equals one of ``values``; SQL and its parameters."""
        return f"{column} IN ({','.join('?' * len(values))})", list(values)

    def key_in(self, column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
        """Like ``in_list`` for a long text key (a URL, a GUID); callers check equality of what
        comes back, since an ``md5()`` index may also find a collision."""
        return self.in_list(column, values)

    def key_eq(self, column: str) -> tuple[str, int]:
        """``column = ?`` through the key's index; SQL and how many times to bind the value."""
        return f"{column} = ?", 1


def md5_hex(value: str) -> str:
    """What PostgreSQL's ``md5(text)`` gives for ``value`` (UTF-8)."""
    return hashlib.md5(value.encode("utf-8", "surrogatepass")).hexdigest()  # noqa: S324


# -- codecs ------------------------------------------------------------------------------

_ISO = re.compile(r"(-?\d{1,4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z?")


def iso(value: datetime | None, *, micro: bool = False) -> str | None:
    """A UTC time as ISO 8601 text, the year always four digits (text compares as time)."""
    if value is None:
        return None
    v = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    text = f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
    return f"{text}.{v.microsecond:06d}Z" if micro else f"{text}Z"


def parse_iso(value: str | None) -> datetime | None:
    """Inverse of ``iso``; also reads what older versions wrote (years without zero padding).
    Text that is no time gives ``None``, never an exception."""
    if not value:
        return None
    found = _ISO.fullmatch(value.strip())
    if found is None:
        return None
    year, month, day, hour, minute, second, fraction = found.groups()
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def removed_json(removed: Sequence[Removed]) -> str:
    return json.dumps(
        [
            {
                k: v
                for k, v in (
                    ("reason", str(r.reason)),
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


def removed_from(text: str) -> tuple[Removed, ...]:
    return tuple(
        Removed(
            reason=d["reason"],
            text=d["text"],
            position=d.get("position", 0),
            duplicate_of=d.get("duplicate_of"),
            distance=d.get("distance"),
            overlap=d.get("overlap"),
        )
        for d in json.loads(text or "[]")
    )


def paragraphs_json(paragraphs: Sequence[str]) -> str:
    return json.dumps(list(paragraphs), ensure_ascii=False)


def keys_text(keys: Iterable[str]) -> str:
    return " ".join(k for k in keys if k)


# Columns read into the records below, in order.
FEED_COLUMNS = (
    "id, url, name, etag, last_modified, last_fetch, last_success, last_status, http_status, "
    "error_code, error, consecutive_failures, articles, duplicates, ttl_seconds, next_check, "
    "publish_interval, lease_owner, lease_until, origin_url, redirect_url, redirect_count, "
    "body_hash, body_items, removed_at"
)
ARTICLE_COLUMNS = (
    "a.id, f.url, f.name, a.guid, a.url, a.title, a.author, a.published, a.fetched, "
    "a.paragraphs, a.removed, a.simhash, a.fp_version, a.duplicate_of, a.dup_rule, "
    "a.dup_distance, a.dup_overlap, a.match_id, a.published_raw, a.ts, "
    "f.removed_at IS NOT NULL"
)
STORED_COLUMNS = (
    "id, COALESCE(duplicate_of, id), feed_id, simhash, ts, features, canonical_url, text_hash"
)
_RECORD_EXTRA = (
    "a.feed_id, a.canonical_url, a.text_hash, a.content_hash, a.features, a.para_keys, "
    "a.search_text, a.alias_guid, a.seq"
)
_ARTICLE_FROM = "FROM articles a JOIN feeds f ON f.id = a.feed_id"


def _stored(r: Sequence[Any]) -> Stored:
    return Stored(
        id=int(r[0]),
        root=int(r[1]),
        feed_id=int(r[2]),
        simhash=from_signed64(int(r[3])),
        dedup_ts=int(r[4]),
        stems=features_set(r[5] or ""),
        canonical_url=r[6],
        text_hash=r[7] or "",
    )


class CoreTx(Tx):
    """The unit of work of one feed on one connection (see ``store.base.Tx``)."""

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self._c = conn
        self._d = dialect

    def _run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._c.execute(self._d.sql(sql), params)

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._d.executemany(self._c, self._d.sql(sql), rows)

    # -- feeds -------------------------------------------------------------------------

    def feed_id(self, url: str, name: str | None) -> int:
        sql, params = feed_by_url(self._d, "id, name, removed_at", url)
        row = self._run(sql, params).fetchone()
        if row:
            if name and row[1] != name:
                self._run("UPDATE feeds SET name = ? WHERE id = ?", (name, row[0]))
            if row[2] is not None:  # a removed feed fetched again is back
                self._run("UPDATE feeds SET removed_at = NULL WHERE id = ?", (row[0],))
            return int(row[0])
        row = self._run(
            "INSERT INTO feeds (url, name, host) VALUES (?, ?, ?) RETURNING id",
            (url, name, feed_host(url)),
        ).fetchone()
        return int(row[0])

    def update_feed(self, feed_id: int, update: FeedUpdate) -> None:
        failed = update.status == "error"
        d = self._d
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
            d.time(update.fetched_at),
            str(update.status),
            update.http_status,
            update.error_code,
            update.error,
            update.new_articles,
            update.new_duplicates,
        ]
        if not failed:
            sets.append("last_success = ?")
            params.append(d.time(update.fetched_at))
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
            params.append(d.time_us(update.next_check))
        if update.publish_interval is not None:
            sets.append("publish_interval = ?")
            params.append(update.publish_interval)
        if update.body_hash is not None:
            sets += ["body_hash = ?", "body_items = ?"]
            params += [update.body_hash, update.body_items]
        self._run(f"UPDATE feeds SET {', '.join(sets)} WHERE id = ?", [*params, feed_id])

    # -- facts for the decisions ---------------------------------------------------------

    def lock_dedup(self) -> None:
        self._d.lock_dedup(self._c)

    def changes_since(self, seq: int, fp_version: int) -> list[tuple[int, int, int, int]]:
        rows = self._run(
            "SELECT id, CASE WHEN fp_version = ? THEN simhash ELSE 0 END, ts, seq "
            "FROM articles WHERE seq > ? ORDER BY seq",
            (fp_version, seq),
        ).fetchall()
        return [(int(r[0]), from_signed64(int(r[1])), int(r[2]), int(r[3])) for r in rows]

    def fingerprints_between(self, lo: int, hi: int, fp_version: int) -> list[tuple[int, int, int]]:
        rows = self._run(FINGERPRINTS_BETWEEN, (lo, hi, fp_version)).fetchall()
        return [(int(r[0]), from_signed64(int(r[1])), int(r[2])) for r in rows]

    def by_guid(self, feed_id: int, guids: Sequence[str]) -> dict[str, GuidRow]:
        found: dict[str, GuidRow] = {}
        wanted = set(guids)
        for chunk in _chunks(sorted(wanted)):
            for column in ("guid", "alias_guid"):
                where, params = self._d.key_in(column, chunk)
                rows = self._run(
                    f"SELECT {STORED_COLUMNS}, guid, content_hash, alias_guid FROM articles "
                    f"WHERE feed_id = ? AND {where}",
                    [feed_id, *params],
                ).fetchall()
                for r in rows:
                    row = GuidRow(
                        id=int(r[0]),
                        guid=r[8],
                        content_hash=r[9],
                        alias_guid=r[10],
                        facts=_stored(r),
                    )
                    key = r[8] if column == "guid" else r[10]
                    if key in wanted and (column == "guid" or key not in found):
                        found[key] = row
        return found

    def same_text_or_url(
        self, feed_id: int | None, urls: Sequence[str], text_hashes: Sequence[str]
    ) -> list[Stored]:
        found: dict[int, Stored] = {}
        scope = "" if feed_id is None else "feed_id = ? AND "
        head = [] if feed_id is None else [feed_id]
        url_set = {u for u in urls if u}
        for chunk in _chunks(sorted(url_set)):
            where, params = self._d.key_in("canonical_url", chunk)
            for r in self._run(
                f"SELECT {STORED_COLUMNS} FROM articles WHERE {scope}{where}", [*head, *params]
            ).fetchall():
                if r[6] in url_set:
                    found[int(r[0])] = _stored(r)
        for chunk in _chunks(sorted({h for h in text_hashes if h})):
            where, params = self._d.in_list("text_hash", chunk)
            for r in self._run(
                f"SELECT {STORED_COLUMNS} FROM articles WHERE {scope}{where}", [*head, *params]
            ).fetchall():
                found[int(r[0])] = _stored(r)
        return [found[k] for k in sorted(found)]

    def stored(self, ids: Sequence[int]) -> list[Stored]:
        out: list[Stored] = []
        for chunk in _chunks(sorted(set(ids))):
            where, params = self._d.in_list("id", chunk)
            rows = self._run(f"SELECT {STORED_COLUMNS} FROM articles WHERE {where}", params)
            out += [_stored(r) for r in rows.fetchall()]
        return sorted(out, key=lambda s: s.id)

    def members(self, root: int) -> list[Stored]:
        rows = self._run(
            f"SELECT {STORED_COLUMNS} FROM articles WHERE id = ? OR duplicate_of = ? ORDER BY id",
            (root, root),
        ).fetchall()
        return [_stored(r) for r in rows]

    # -- writing articles ------------------------------------------------------------------

    def allot(self, count: int) -> tuple[list[int], list[int]]:
        if count <= 0:
            return [], []
        ids = self._d.allot_ids(self._c, count)
        return ids, self.next_seqs(count)

    def next_seqs(self, count: int) -> list[int]:
        row = self._run(
            "UPDATE ingest_counters SET value = value + ? WHERE name = 'seq' RETURNING value",
            (count,),
        ).fetchone()
        last = int(row[0])
        return list(range(last - count + 1, last + 1))

    def insert_articles(self, rows: Sequence[NewRow]) -> None:
        self._many(INSERT_ARTICLE, [self._new_row(r) for r in rows])

    def _new_row(self, row: NewRow) -> tuple[Any, ...]:
        a, v, d = row.article, row.verdict, self._d
        return (
            row.id,
            row.feed_id,
            a.guid,
            a.url,
            a.canonical_url,
            a.title,
            a.author,
            d.time(a.published),
            a.published_raw,
            d.time(a.fetched),
            a.dedup_ts,
            paragraphs_json(a.paragraphs),
            removed_json(a.removed),
            to_signed64(a.simhash),
            a.fp_version,
            a.text_hash,
            a.content_hash,
            features_text(a.stems),
            keys_text(a.para_keys),
            a.search_text,
            None if v.kind == Kind.NEW else v.duplicate_of,
            None if v.rule is None else str(v.rule),
            v.distance,
            v.overlap,
            v.match_id,
            row.seq,
        )

    def update_article(self, article_id: int, article: Article, seq: int) -> None:
        d = self._d
        self._run(
            """UPDATE articles SET url = ?, canonical_url = ?, title = ?, author = ?,
                   published = ?, published_raw = ?, ts = ?, paragraphs = ?, removed = ?,
                   simhash = ?, fp_version = ?, text_hash = ?, content_hash = ?, features = ?,
                   para_keys = ?, search_text = ?, seq = ?
               WHERE id = ?""",
            (
                article.url,
                article.canonical_url,
                article.title,
                article.author,
                d.time(article.published),
                article.published_raw,
                article.dedup_ts,
                paragraphs_json(article.paragraphs),
                removed_json(article.removed),
                to_signed64(article.simhash),
                article.fp_version,
                article.text_hash,
                article.content_hash,
                features_text(article.stems),
                keys_text(article.para_keys),
                article.search_text,
                seq,
                article_id,
            ),
        )

    def update_fingerprint(self, article_id: int, article: Article, seq: int) -> None:
        d = self._d
        self._run(
            """UPDATE articles SET simhash = ?, fp_version = ?, text_hash = ?, features = ?,
                   para_keys = ?, search_text = ?, ts = ?, published = ?, published_raw = ?,
                   seq = ?
               WHERE id = ?""",
            (
                to_signed64(article.simhash),
                article.fp_version,
                article.text_hash,
                features_text(article.stems),
                keys_text(article.para_keys),
                article.search_text,
                article.dedup_ts,
                d.time(article.published),
                article.published_raw,
                seq,
                article_id,
            ),
        )

    def set_story(self, article_id: int, verdict: Verdict, seq: int | None = None) -> None:
        canonical = verdict.kind == Kind.NEW
        sets = "duplicate_of = ?, dup_rule = ?, dup_distance = ?, dup_overlap = ?, match_id = ?"
        params: list[Any] = [
            None if canonical else verdict.duplicate_of,
            None if canonical or verdict.rule is None else str(verdict.rule),
            None if canonical else verdict.distance,
            None if canonical else verdict.overlap,
            None if canonical else verdict.match_id,
        ]
        if seq is not None:
            sets += ", seq = ?"
            params.append(seq)
        self._run(f"UPDATE articles SET {sets} WHERE id = ?", [*params, article_id])

    def move_story(self, old_root: int, new_root: int) -> None:
        self._run(
            "UPDATE articles SET duplicate_of = ? WHERE duplicate_of = ?", (new_root, old_root)
        )

    def set_alias(self, article_id: int, guid: str) -> None:
        self._run("UPDATE articles SET alias_guid = ? WHERE id = ?", (guid, article_id))

    # -- copying -------------------------------------------------------------------------

    def load_feeds(self, rows: Sequence[FeedRow]) -> None:
        d = self._d
        self._many(
            """INSERT INTO feeds (id, url, name, etag, last_modified, last_fetch, last_success,
                   last_status, http_status, error_code, error, consecutive_failures, articles,
                   duplicates, ttl_seconds, next_check, host, publish_interval, lease_owner,
                   lease_until, origin_url, redirect_url, redirect_count, body_hash, body_items,
                   removed_at)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            [
                (
                    r.id,
                    r.url,
                    r.name,
                    r.cache.etag,
                    r.cache.last_modified,
                    d.time(r.last_fetch),
                    d.time(r.last_success),
                    r.last_status,
                    r.http_status,
                    r.error_code,
                    r.error,
                    r.consecutive_failures,
                    r.articles,
                    r.duplicates,
                    r.ttl_seconds,
                    d.time_us(r.next_check),
                    feed_host(r.url),
                    r.publish_interval,
                    r.lease_owner,
                    d.time_us(r.lease_until),
                    r.origin_url,
                    r.redirect_url,
                    r.redirect_count,
                    r.body_hash,
                    r.body_items,
                    d.time(r.removed_at),
                )
                for r in rows
            ],
        )
        self._d.after_load(self._c, "feeds")

    def load_articles(self, records: Sequence[ArticleRecord]) -> None:
        d = self._d
        self._many(
            _insert_sql((*ARTICLE_INSERT_COLUMNS, "alias_guid")),
            [
                (
                    r.article.id,
                    r.feed_id,
                    r.article.guid,
                    r.article.url,
                    r.canonical_url,
                    r.article.title,
                    r.article.author,
                    d.time(r.article.published),
                    r.article.published_raw,
                    d.time(r.article.fetched),
                    r.article.dedup_ts,
                    paragraphs_json(r.article.paragraphs),
                    removed_json(r.article.removed),
                    to_signed64(r.article.simhash),
                    r.article.fp_version,
                    r.text_hash,
                    r.content_hash,
                    r.features,
                    r.para_keys,
                    r.search_text,
                    r.article.duplicate_of,
                    r.article.dup_rule,
                    r.article.dup_distance,
                    r.article.dup_overlap,
                    r.article.match_id,
                    r.seq,
                    r.alias_guid,
                )
                for r in records
            ],
        )
        self._d.after_load(self._c, "articles")
        self._run(
            "UPDATE ingest_counters SET value = (SELECT COALESCE(MAX(seq), 0) FROM articles) "
            "WHERE name = 'seq'"
        )


ARTICLE_INSERT_COLUMNS = (
    "id", "feed_id", "guid", "url", "canonical_url", "title", "author", "published",
    "published_raw", "fetched", "ts", "paragraphs", "removed", "simhash", "fp_version",
    "text_hash", "content_hash", "features", "para_keys", "search_text", "duplicate_of",
    "dup_rule", "dup_distance", "dup_overlap", "match_id", "seq",
)  # fmt: skip
"""The columns of a new article row, in the order ``CoreTx._new_row`` gives them."""


def _insert_sql(columns: Sequence[str]) -> str:
    marks = ",".join("?" * len(columns))
    return f"INSERT INTO articles ({', '.join(columns)}) VALUES ({marks})"


INSERT_ARTICLE = _insert_sql(ARTICLE_INSERT_COLUMNS)

FINGERPRINTS_BETWEEN = (
    "SELECT id, simhash, ts FROM articles WHERE ts >= ? AND ts < ? AND fp_version = ? "
    "AND simhash <> 0"
)


def feed_by_url(d: Dialect, columns: str, url: str) -> tuple[str, list[Any]]:
    """A feed by URL: the one that has it now, else the one that moved away from it."""
    url_eq, n = d.key_eq("url")
    origin_eq, m = d.key_eq("origin_url")
    sql = (
        f"SELECT {columns} FROM feeds WHERE ({url_eq}) OR ({origin_eq}) "
        "ORDER BY CASE WHEN url = ? THEN 0 ELSE 1 END LIMIT 1"
    )
    return sql, [*[url] * n, *[url] * m, url]


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _MAX_BIND):
        yield values[start : start + _MAX_BIND]


class CoreStore:
    """The reads of ``store.base.Store`` and the lease logic, over a backend's primitives.

    A backend sets ``dialect`` and ``url`` and provides ``_query`` (rows of one statement),
    ``_stream`` (rows read as they are consumed) and ``transaction``.
    """

    dialect: Dialect
    url: str

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Any]:
        raise NotImplementedError

    def _core_tx(self) -> Any:  # a context manager giving the backend's CoreTx
        raise NotImplementedError

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._query(self.dialect.sql(sql), params)

    def schema_version(self) -> int:
        raise NotImplementedError

    def check_schema(self) -> None:
        """``SchemaError`` saying what to run unless the schema is this version's."""
        current = self.schema_version()
        if current != SCHEMA_VERSION:
            raise SchemaError(
                f"{self.url}: schema version {current}, this ingest needs {SCHEMA_VERSION}: "
                f"run `ingest --db {self.url} migrate`"
            )

    # -- feeds -------------------------------------------------------------------------

    def _feed_row(self, r: Sequence[Any]) -> FeedRow:
        t = self.dialect.read_time
        return FeedRow(
            id=int(r[0]),
            url=r[1],
            name=r[2],
            cache=HttpCache(etag=r[3], last_modified=r[4]),
            last_fetch=t(r[5]),
            last_success=t(r[6]),
            last_status=r[7],
            http_status=r[8],
            error_code=r[9],
            error=r[10],
            consecutive_failures=int(r[11]),
            articles=int(r[12]),
            duplicates=int(r[13]),
            ttl_seconds=r[14],
            next_check=t(r[15]),
            publish_interval=r[16],
            lease_owner=r[17],
            lease_until=t(r[18]),
            origin_url=r[19],
            redirect_url=r[20],
            redirect_count=int(r[21]),
            body_hash=r[22],
            body_items=r[23],
            removed_at=t(r[24]),
        )

    def feeds(self) -> list[FeedRow]:
        return [self._feed_row(r) for r in self._q(f"SELECT {FEED_COLUMNS} FROM feeds ORDER BY id")]

    def feed(self, url: str) -> FeedRow | None:
        sql, params = feed_by_url(self.dialect, FEED_COLUMNS, url)
        rows = self._q(sql, params)
        return self._feed_row(rows[0]) if rows else None

    # -- articles ------------------------------------------------------------------------

    def _article_row(self, r: Sequence[Any]) -> StoredArticle:
        t = self.dialect.read_time
        fetched = t(r[8]) or datetime.fromtimestamp(0, UTC)
        return StoredArticle(
            id=int(r[0]),
            feed_url=r[1],
            feed_name=r[2],
            guid=r[3],
            url=r[4],
            title=r[5],
            author=r[6],
            published=t(r[7]),
            fetched=fetched,
            paragraphs=tuple(json.loads(r[9] or "[]")),
            removed=removed_from(r[10]),
            simhash=from_signed64(int(r[11])),
            fp_version=int(r[12]),
            duplicate_of=r[13],
            dup_rule=r[14],
            dup_distance=r[15],
            dup_overlap=r[16],
            match_id=r[17],
            published_raw=r[18],
            dedup_ts=int(r[19]),
            feed_removed=bool(r[20]),
        )

    def articles(
        self,
        *,
        since: datetime | None = None,
        feed_url: str | None = None,
        duplicates: bool = False,
    ) -> Iterator[StoredArticle]:
        where: list[str] = []
        params: list[Any] = []
        if not duplicates:
            where.append("a.duplicate_of IS NULL")
        if since is not None:
            where.append("COALESCE(a.published, a.fetched) >= ?")
            params.append(self.dialect.time(since))
        if feed_url is not None:
            where.append("(f.url = ? OR f.origin_url = ?)")
            params += [feed_url, feed_url]
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT {ARTICLE_COLUMNS} {_ARTICLE_FROM} {clause} ORDER BY a.id"
        for r in self._stream(self.dialect.sql(sql), params):
            yield self._article_row(r)

    def article(self, article_id: int) -> StoredArticle | None:
        rows = self._q(f"SELECT {ARTICLE_COLUMNS} {_ARTICLE_FROM} WHERE a.id = ?", (article_id,))
        return self._article_row(rows[0]) if rows else None

    def links_to(self, article_id: int) -> list[StoredArticle]:
        rows = self._q(
            f"SELECT {ARTICLE_COLUMNS} {_ARTICLE_FROM} WHERE a.duplicate_of = ? ORDER BY a.id",
            (article_id,),
        )
        return [self._article_row(r) for r in rows]

    def known_entries(self, feed_url: str, limit: int) -> list[KnownEntry]:
        feed = self.feed(feed_url)
        if feed is None:
            return []
        rows = self._q(
            "SELECT id, guid, content_hash, para_keys, alias_guid FROM articles "
            "WHERE feed_id = ? ORDER BY id DESC LIMIT ?",
            (feed.id, limit),
        )
        return [
            KnownEntry(
                id=int(r[0]),
                guid=r[1],
                content_hash=r[2],
                para_keys=tuple((r[3] or "").split()),
                alias_guid=r[4],
            )
            for r in rows
        ]

    def fingerprints_between(
        self, lo: int, hi: int, fp_version: int, *, batch: int = 50_000
    ) -> Iterator[list[tuple[int, int, int]]]:
        rows: list[tuple[int, int, int]] = []
        for r in self._stream(self.dialect.sql(FINGERPRINTS_BETWEEN), (lo, hi, fp_version)):
            rows.append((int(r[0]), from_signed64(int(r[1])), int(r[2])))
            if len(rows) >= batch:
                yield rows
                rows = []
        if rows:
            yield rows

    def max_seq(self) -> int:
        rows = self._q("SELECT value FROM ingest_counters WHERE name = 'seq'")
        return int(rows[0][0]) if rows else 0

    def articles_to_upgrade(
        self, fp_version: int | None, after_id: int, limit: int
    ) -> list[StoredArticle]:
        if fp_version == 0:
            sql = (
                f"SELECT {ARTICLE_COLUMNS} {_ARTICLE_FROM} WHERE a.id > ? AND a.seq = 0 "
                "ORDER BY a.id LIMIT ?"
            )
            params: tuple[int, ...] = (after_id, limit)
        elif fp_version is None:
            sql = f"SELECT {ARTICLE_COLUMNS} {_ARTICLE_FROM} WHERE a.id > ? ORDER BY a.id LIMIT ?"
            params = (after_id, limit)
        else:
            sql = (
                f"SELECT {ARTICLE_COLUMNS} {_ARTICLE_FROM} WHERE a.id > ? "
                "AND (a.fp_version <> ? OR a.seq = 0) ORDER BY a.id LIMIT ?"
            )
            params = (after_id, fp_version, limit)
        rows = self._q(sql, params)
        return [self._article_row(r) for r in rows]

    def dump_articles(self) -> Iterator[ArticleRecord]:
        sql = f"SELECT {ARTICLE_COLUMNS}, {_RECORD_EXTRA} {_ARTICLE_FROM} ORDER BY a.id"
        for r in self._stream(self.dialect.sql(sql)):
            yield ArticleRecord(
                article=self._article_row(r),
                feed_id=int(r[21]),
                canonical_url=r[22],
                text_hash=r[23],
                content_hash=r[24],
                features=r[25],
                para_keys=r[26],
                search_text=r[27],
                alias_guid=r[28],
                seq=int(r[29]),
            )

    # -- the read side ---------------------------------------------------------------------

    def _time_of(self) -> str:
        return "COALESCE(a.published, a.fetched)"

    def search(
        self,
        query: Query,
        *,
        since: datetime | None = None,
        feed_url: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> list[tuple[int, float]]:
        if not query:
            return []
        where, params = [], []
        if since is not None:
            where.append(f"{self._time_of()} >= ?")
            params.append(self.dialect.time(since))
        if feed_url is not None:
            where.append("(f.url = ? OR f.origin_url = ?)")
            params += [feed_url, feed_url]
        hits, params = self.dialect.search_hits(query, where, params)
        rows = self._q(
            f"SELECT COALESCE(a.duplicate_of, a.id) AS root, max(h.score) AS score "
            f"FROM ({hits}) h JOIN articles a ON a.id = h.id "
            "GROUP BY COALESCE(a.duplicate_of, a.id) "
            "ORDER BY score DESC, root DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [(int(r[0]), float(r[1])) for r in rows]

    def stories(
        self,
        *,
        since: datetime | None = None,
        min_copies: int = 2,
        limit: int = 50,
        offset: int = 0,
    ) -> list[StoryRow]:
        d = self.dialect
        where, params = "", []
        if since is not None:
            where = f"WHERE {self._time_of()} >= ?"
            params.append(d.time(since))
        rows = self._q(
            "SELECT COALESCE(a.duplicate_of, a.id) AS root, count(*) AS n, "
            f"min({self._time_of()}), max({self._time_of()}) "
            f"FROM articles a {where} GROUP BY COALESCE(a.duplicate_of, a.id) "
            "HAVING count(*) >= ? ORDER BY n DESC, max(" + self._time_of() + ") DESC, root DESC "
            "LIMIT ? OFFSET ?",
            [*params, min_copies, limit, offset],
        )
        return [
            StoryRow(
                root=int(r[0]),
                articles=int(r[1]),
                first=d.read_time(r[2]),
                last=d.read_time(r[3]),
            )
            for r in rows
        ]

    def members_of(self, roots: Sequence[int]) -> dict[int, list[StoredArticle]]:
        found: dict[int, list[StoredArticle]] = {root: [] for root in roots}
        for chunk in _chunks(sorted(set(roots))):
            # COALESCE(a.duplicate_of, a.id) IN (...), written so that the primary key and
            # the duplicate_of index answer it (the COALESCE form scans every article).
            canonical, params = self.dialect.in_list("a.id", chunk)
            copies, more = self.dialect.in_list("a.duplicate_of", chunk)
            where = f"(({canonical}) AND a.duplicate_of IS NULL) OR ({copies})"
            params += more
            for r in self._q(
                f"SELECT {ARTICLE_COLUMNS} {_ARTICLE_FROM} WHERE {where} ORDER BY a.id", params
            ):
                article = self._article_row(r)
                found[article.duplicate_of or article.id].append(article)
        return found

    def articles_after(self, after_id: int, limit: int) -> list[StoredArticle]:
        rows = self._q(
            f"SELECT {ARTICLE_COLUMNS} {_ARTICLE_FROM} WHERE a.id > ? ORDER BY a.id LIMIT ?",
            (after_id, limit),
        )
        return [self._article_row(r) for r in rows]

    # -- retention -----------------------------------------------------------------------

    def _vacuum(self) -> None:
        """Give the space of removed rows back (SQLite; PostgreSQL's autovacuum does it)."""

    def prune(self, before: datetime, *, dry_run: bool = False) -> Removal:
        d = self.dialect
        with self._core_tx() as tx:
            old = tx._run(
                "SELECT id, duplicate_of FROM articles WHERE COALESCE(published, fetched) < ?",
                (d.time(before),),
            ).fetchall()
            canonical = [int(r[0]) for r in old if r[1] is None]
            links = [int(r[0]) for r in old if r[1] is not None]
            kept: set[int] = set()
            for chunk in _chunks(canonical):
                where, params = d.in_list("duplicate_of", chunk)
                kept.update(
                    int(r[0])
                    for r in tx._run(
                        f"SELECT DISTINCT duplicate_of FROM articles WHERE {where} "
                        "AND COALESCE(published, fetched) >= ?",
                        [*params, d.time(before)],
                    ).fetchall()
                )
            gone = [i for i in canonical if i not in kept]
            if not dry_run:
                self._delete(tx, links)
                self._delete(tx, gone)
        if not dry_run and (gone or links):
            self._vacuum()
        return Removal(articles=len(gone), links=len(links), kept=len(kept))

    def remove_feed(self, feed_id: int, *, keep_articles: bool, dry_run: bool = False) -> Removal:
        d = self.dialect
        with self._core_tx() as tx:
            rows = tx._run(
                "SELECT a.id, a.duplicate_of, (SELECT count(*) FROM articles c "
                "WHERE c.duplicate_of = a.id AND c.feed_id <> a.feed_id) "
                "FROM articles a WHERE a.feed_id = ?",
                (feed_id,),
            ).fetchall()
            if keep_articles:
                kept, links, gone = [int(r[0]) for r in rows], [], []
            else:
                links = [int(r[0]) for r in rows if r[1] is not None]
                kept = [int(r[0]) for r in rows if r[1] is None and r[2]]
                gone = [int(r[0]) for r in rows if r[1] is None and not r[2]]
            if not dry_run:
                self._delete(tx, links)
                # a removed canonical's copies in this feed went above; its own story is gone
                self._delete(tx, gone)
                if kept:
                    tx._run(
                        "UPDATE feeds SET removed_at = ?, etag = NULL, last_modified = NULL, "
                        "next_check = NULL, lease_owner = NULL, lease_until = NULL, "
                        "error_code = NULL, error = NULL, consecutive_failures = 0, "
                        "body_hash = NULL, body_items = NULL, redirect_url = NULL, "
                        "redirect_count = 0 WHERE id = ?",
                        (d.time(datetime.now(UTC)), feed_id),
                    )
                else:
                    tx._run("DELETE FROM feeds WHERE id = ?", (feed_id,))
        if not dry_run and (gone or links):
            self._vacuum()
        return Removal(articles=len(gone), links=len(links), kept=len(kept))

    @staticmethod
    def _delete(tx: CoreTx, ids: Sequence[int]) -> None:
        """Delete articles (and, through the database, their search rows); nothing may still
        link to them. Articles that named one of them as their match keep no dangling id."""
        d = tx._d
        for chunk in _chunks(sorted(ids, reverse=True)):
            where, params = d.in_list("match_id", chunk)
            tx._run(f"UPDATE articles SET match_id = NULL WHERE {where}", params)
            where, params = d.in_list("id", chunk)
            tx._run(f"DELETE FROM articles WHERE {where}", params)

    # -- leases --------------------------------------------------------------------------

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
        d = self.dialect
        with self._core_tx() as tx:
            conn = tx._c
            d.no_flush(conn)
            # The host first, then the row: claims of one host take turns, so the count of
            # live leases below cannot change under us (the same order everywhere: no deadlock).
            d.lock_host(conn, feed_host(url))
            feed_id = tx.feed_id(url, name)
            row = tx._run(
                "SELECT next_check, lease_owner, lease_until, host FROM feeds WHERE id = ?"
                + d.for_update,
                (feed_id,),
            ).fetchone()
            next_check, holder, until, host = (
                d.read_time(row[0]),
                row[1],
                d.read_time(row[2]),
                row[3],
            )
            if holder and holder != owner and until is not None and until > now:
                return Claim(False, "leased", next_check, holder)
            if next_check is not None and next_check > now:
                return Claim(False, "not_due", next_check, holder)
            if per_host > 0:
                busy = tx._run(
                    "SELECT count(*) FROM feeds WHERE host = ? AND id <> ? AND lease_until > ?",
                    (host, feed_id, d.time_us(now)),
                ).fetchone()[0]
                if busy >= per_host:
                    return Claim(False, "host_busy", next_check, holder)
            tx._run(
                "UPDATE feeds SET lease_owner = ?, lease_until = ? WHERE id = ?",
                (owner, d.time_us(now + timedelta(seconds=lease_seconds)), feed_id),
            )
            return Claim(True, "", next_check, owner)

    def release(self, url: str, owner: str) -> None:
        d = self.dialect
        with self._core_tx() as tx:
            d.no_flush(tx._c)
            sql, params = feed_by_url(d, "id", url)
            row = tx._run(sql, params).fetchone()
            if row is not None:
                tx._run(
                    "UPDATE feeds SET lease_owner = NULL, lease_until = NULL "
                    "WHERE id = ? AND lease_owner = ?",
                    (row[0], owner),
                )
