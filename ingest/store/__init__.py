"""Storage backends behind one interface (``store.base.Store``); ``open_store`` picks one by URL.

Before the SQLite backend touches a file (it switches the file to WAL and creates tables),
``open_store`` looks at it read-only: a file that is not a SQLite database, or a database
that holds tables but not ingest's, is refused and left byte for byte as it was. A store is
created only where asked (``create``) and only in an existing directory, except the default
location (``config.default_db_path``), whose directory is made.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from ingest.errors import ConfigError, StoreError
from ingest.store.base import Store

SUPPORTED = "sqlite:///PATH, a plain path, or postgresql://user@host/db"
"""The store URLs ``ingest`` understands, as error messages and ``--help`` name them."""

_SQLITE_MAGIC = b"SQLite format 3\x00"
_SCHEMA_TABLE = "ingest_schema"


def sqlite_path(url: str) -> str | None:
    """The file path of a SQLite URL or plain path, ``None`` for another scheme.

    ``sqlite:///relative.db`` and ``sqlite:////abs/path.db`` follow SQLAlchemy's convention;
    a plain path is taken as it is.
    """
    if url.startswith("sqlite:"):
        rest = url[len("sqlite:") :]
        if rest.startswith("///"):
            return unquote(rest[3:]) or ":memory:"
        if rest.startswith("//"):
            raise ConfigError(f"db: {url!r}: write sqlite:///relative/path or sqlite:////abs/path")
        return unquote(rest) or ":memory:"
    scheme = urlsplit(url).scheme
    if scheme in ("postgresql", "postgres"):
        return None
    if scheme and len(scheme) > 1:
        raise ConfigError(f"db: unsupported database URL {url!r} (use {SUPPORTED})")
    return str(Path(url).expanduser())


def _postgres(url: str) -> Store:
    try:
        from ingest.store.postgres import PostgresStore  # noqa: PLC0415 - psycopg is optional
    except ImportError as exc:
        if not (exc.name or "").startswith("psycopg"):
            raise
        raise ConfigError(
            "db: a PostgreSQL URL needs psycopg: pip install 'ingest[postgres]'"
        ) from exc
    return PostgresStore(url)


def _tables(path: str, header: bytes) -> list[str]:
    """The names in a SQLite file's schema, read without writing to it or beside it."""
    # A WAL database with no -wal file is complete in its main file: ``immutable`` reads it
    # without creating -wal/-shm files. Otherwise ``mode=ro`` (which never writes the file).
    wal_mode = len(header) > 18 and header[18] == 2
    mode = "immutable=1" if wal_mode and not Path(f"{path}-wal").exists() else "mode=ro"
    uri = f"file:{quote(str(Path(path).absolute()))}?{mode}"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=5.0)
        try:
            rows = conn.execute("SELECT name FROM sqlite_master ORDER BY rowid").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot read the database ({exc})", code="db_open") from exc
    return [str(row[0]) for row in rows]


def check_sqlite_file(path: str, *, create: bool) -> None:
    """Refuse, before anything is written, a file ``ingest`` must not take as its store.

    A missing file is fine when ``create`` (in an existing directory, or the default
    location's, which is made); ``StoreError`` with code ``db_missing`` otherwise. An
    existing file must be empty, or a SQLite database that is empty or holds
    ``ingest_schema``: ``ConfigError`` (exit code 2) naming the file otherwise.
    """
    file = Path(path)
    if not file.exists():
        if not create:
            raise StoreError(f"{path}: no such database", code="db_missing")
        parent = file.parent
        if not parent.is_dir():
            from ingest.config import default_db_path  # noqa: PLC0415 - config imports us

            if file.absolute() != default_db_path(os.environ).absolute():
                raise ConfigError(
                    f"{path}: the directory {parent} does not exist (create it first; only"
                    " the default store location is created for you)"
                )
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"{parent}: cannot create the store's directory ({exc.strerror or exc})",
                    code="db_open",
                ) from exc
        return
    if not file.is_file():
        raise ConfigError(f"{path}: not a regular file, so not a database")
    try:
        with file.open("rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror or exc})", code="db_open") from exc
    if not header:
        return  # an empty file is an empty SQLite database
    if not header.startswith(_SQLITE_MAGIC):
        raise ConfigError(f"{path}: not a SQLite database; refusing to use it as the store")
    names = _tables(path, header)
    if names and _SCHEMA_TABLE not in names:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        raise ConfigError(
            f"{path}: not an ingest store (it holds {shown}, but no {_SCHEMA_TABLE}); "
            "refusing to add ingest's tables to another application's database: give a new "
            "file or an ingest store"
        )


def open_store(url: str, *, create: bool = True) -> Store:
    """Open the store named by ``url``; migrations are the caller's.

    SQLite: the file is checked first (``check_sqlite_file``) and created only with
    ``create``. ``postgresql://`` (or ``postgres://``) URLs open the PostgreSQL backend, whose
    database must exist (``create`` does not apply; an empty schema reads as version 0).
    """
    path = sqlite_path(url)
    if path is None:
        return _postgres(url)
    if path != ":memory:":
        check_sqlite_file(path, create=create)
    from ingest.store.sqlite import SQLiteStore  # noqa: PLC0415 - only the backend in use

    return SQLiteStore(path, create=create)
