"""Storage backends behind one interface (``store.base.Store``); ``open_store`` picks one by URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from ingest.errors import ConfigError
from ingest.store.base import Store


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
        raise ConfigError(f"db: unsupported database URL {url!r} (sqlite:///PATH, a path)")
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


def open_store(url: str, *, create: bool = True) -> Store:
    """Open (and, for SQLite, create) the store named by ``url``; migrations are the caller's.

    ``postgresql://`` (or ``postgres://``) URLs open the PostgreSQL backend, whose database
    must exist; ``create`` is SQLite's.
    """
    path = sqlite_path(url)
    if path is None:
        return _postgres(url)
    from ingest.store.sqlite import SQLiteStore  # noqa: PLC0415 - only the backend in use

    return SQLiteStore(path, create=create)
