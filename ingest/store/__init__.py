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
        rest = url[len("sqlite:"):]
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


def open_store(url: str, *, create: bool = True) -> Store:
    """Open (and, for SQLite, create) the store named by ``url``; migrations are the caller's."""
    path = sqlite_path(url)
    if path is None:
        raise ConfigError(f"db: {url!r}: the PostgreSQL backend is not available yet")
    from ingest.store.sqlite import SQLiteStore  # noqa: PLC0415 - only the backend in use

    return SQLiteStore(path, create=create)
