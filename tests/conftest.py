"""Shared fixtures: a throw-away PostgreSQL database for the store contract suite.

The server is the one on 127.0.0.1:5432 (trust authentication); ``INGEST_TEST_PG`` may name
another maintenance URL. A session creates ``ingest_test_<random>`` and drops it at the end;
each test gets a fresh schema in it, named by the URL's ``search_path``. Without a server the
PostgreSQL tests are skipped, except under CI (``CI`` set), where they fail: CI must run them.
"""

from __future__ import annotations

import getpass
import os
import secrets
from collections.abc import Iterator
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest

PG_ADDRESS = "127.0.0.1:5432"


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required under CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available ({reason}); set CI=1 to make this an error")


def _admin_urls() -> list[str]:
    if os.environ.get("INGEST_TEST_PG"):
        return [os.environ["INGEST_TEST_PG"]]
    users = dict.fromkeys(["postgres", getpass.getuser()])
    return [f"postgresql://{user}@{PG_ADDRESS}/postgres" for user in users]


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The URL of a database made for this session, dropped (connections and all) at the end."""
    try:
        import psycopg
    except ImportError:
        _unavailable("psycopg is not installed: pip install 'ingest[test]'")
    admin: Any = None
    errors = []
    for url in _admin_urls():
        try:
            admin = psycopg.connect(url, autocommit=True, connect_timeout=5)
            break
        except psycopg.Error as exc:
            errors.append(f"{url}: {str(exc).strip()}")
    if admin is None:
        _unavailable("; ".join(errors))
    name = f"ingest_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlsplit(url)._replace(path=f"/{name}").geturl()
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    """A fresh, empty schema of the session database: the URL selects it by ``search_path``."""
    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{pg_database}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
