"""Which store a command opens, and what it refuses to open (issue 11, findings 5 and 11;
issue 14, item 7): through ``ingest.cli.main`` on real SQLite files.

* Another application's database is never taken over: refused with exit 2, left byte for byte.
* A store is created only by a command that writes, in an existing directory (the default
  location's directory excepted); a command that only reads never creates one.
* ``-v`` names the store in use; store errors exit 3.
"""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.cli import EXIT_STORE, EXIT_USAGE, main

FEED_A = Path(__file__).parent / "fixtures" / "feeds" / "seed-a.xml"


def run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), environ=env or {}, out=out), out.getvalue()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def other_application(path: Path, *, clash: bool, wal: bool = False) -> None:
    """A database another program made: its own tables (one named like ingest's if
    ``clash``), a row in each; rollback journal, or WAL left checkpointed."""
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE app_users (id INTEGER PRIMARY KEY, login TEXT)")
    conn.execute("INSERT INTO app_users (login) VALUES ('amina')")
    if clash:
        conn.execute("CREATE TABLE feeds (title TEXT, unread INTEGER)")
        conn.execute("INSERT INTO feeds VALUES ('mine', 3)")
    conn.commit()
    conn.close()


COMMANDS = [
    ("fetch", str(FEED_A)),
    ("migrate",),
    ("export",),
    ("feeds",),
    ("explain", "1"),
    ("rebuild-fingerprints",),
]


@pytest.mark.parametrize("clash", [False, True], ids=["unrelated-tables", "clashing-name"])
@pytest.mark.parametrize("wal", [False, True], ids=["rollback-journal", "wal"])
@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_another_applications_database_is_refused_and_left_unchanged(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    clash: bool,
    wal: bool,
    command: tuple[str, ...],
) -> None:
    other = tmp_path / "other.db"
    other_application(other, clash=clash, wal=wal)
    before, files = digest(other), listing(tmp_path)
    code, out = run("--db", str(other), *command)
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert f"{other}: not an ingest store (it holds app_users" in err
    assert "Traceback" not in err and out == ""
    assert digest(other) == before  # byte for byte
    assert listing(tmp_path) == files  # no -wal, -shm or -journal left beside it
    with sqlite3.connect(other) as conn:  # and still the other application's
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == ("wal" if wal else "delete")


def test_a_file_that_is_not_sqlite_is_refused_and_left_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping: bread, olives\n" * 20, encoding="utf-8")
    before = digest(notes)
    assert run("--db", str(notes), "fetch", str(FEED_A))[0] == EXIT_USAGE
    assert f"{notes}: not a SQLite database" in capsys.readouterr().err
    assert digest(notes) == before and listing(tmp_path) == ["notes.txt"]


def test_an_empty_file_becomes_a_store(tmp_path: Path) -> None:
    empty = tmp_path / "made-by-touch.db"
    empty.touch()
    assert run("--db", str(empty), "fetch", str(FEED_A))[0] == 0
    assert len(run("--db", str(empty), "export")[1].splitlines()) == 1


def test_an_ingest_store_is_still_opened(tmp_path: Path) -> None:
    db = tmp_path / "ingest.db"
    assert run("--db", str(db), "fetch", str(FEED_A))[0] == 0
    assert run("--db", str(db), "fetch", str(FEED_A))[0] == 0  # WAL, checkpointed
    with sqlite3.connect(db) as conn:  # plus a table of the operator's own: still ours
        conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()
    assert run("--db", str(db), "export")[0] == 0


def test_a_missing_directory_is_an_error_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "no" / "such" / "dir" / "ingest.db"
    assert run("--db", str(db), "fetch", str(FEED_A))[0] == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"the directory {db.parent} does not exist" in err
    assert not (tmp_path / "no").exists()
    assert run("--db", f"sqlite:///{db}", "migrate")[0] == EXIT_USAGE
    assert not (tmp_path / "no").exists()


def test_the_default_location_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # where the store looks
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}  # where the CLI looks
    code, _ = run("-q", "fetch", str(FEED_A), env=env)
    assert code == 0
    default = tmp_path / "data" / "ingest" / "ingest.db"
    assert default.is_file()
    code, _ = run("feeds", "-v", env=env)
    assert code == 0 and f"store: sqlite:///{default}" in capsys.readouterr().err


READERS = [("export",), ("feeds",), ("explain", "1")]


@pytest.mark.parametrize("command", READERS, ids=[c[0] for c in READERS])
def test_a_read_only_command_never_creates_a_store(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: tuple[str, ...],
) -> None:
    # The default location: neither the file nor its directory appears.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    code, out = run(*command, env={"XDG_DATA_HOME": str(tmp_path / "data")})
    err = capsys.readouterr().err
    assert code == EXIT_STORE and out == ""
    default = tmp_path / "data" / "ingest" / "ingest.db"
    assert f"no store at {default}" in err
    for how in ("--db", "INGEST_DB", "[store] db"):
        assert how in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists()
    # A named one, in an existing directory: not created either.
    db = tmp_path / "named.db"
    assert run("--db", str(db), *command)[0] == EXIT_STORE
    assert f"no store at {db}" in capsys.readouterr().err
    assert not db.exists()


def test_a_read_only_command_does_not_migrate_an_outdated_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "ingest.db"
    assert run("--db", str(db), "fetch", str(FEED_A))[0] == 0
    with sqlite3.connect(db) as conn:
        conn.execute(
            "DELETE FROM ingest_schema WHERE version = (SELECT max(version) FROM ingest_schema)"
        )
    conn.close()
    before = digest(db)
    assert run("--db", str(db), "export")[0] == EXIT_STORE
    err = capsys.readouterr().err
    assert "store error (schema)" in err and "migrate" in err
    assert digest(db) == before


@pytest.mark.parametrize(
    "command",
    [
        ("fetch", str(FEED_A)),
        ("export",),
        ("feeds",),
        ("explain", "1"),
        ("migrate",),
        ("rebuild-fingerprints",),
    ],
    ids=lambda c: c[0],
)
def test_verbose_names_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    db = tmp_path / "ingest.db"
    assert run("--db", str(db), "fetch", str(FEED_A))[0] == 0
    capsys.readouterr()
    run("--db", f"sqlite:///{db}", *command, "-v")
    assert capsys.readouterr().err.splitlines()[0] == f"store: sqlite:///{db}"
    run("--db", f"sqlite:///{db}", *command)  # only when asked
    assert "store:" not in capsys.readouterr().err


def test_verbose_masks_a_password_and_store_errors_exit_3(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("psycopg")
    # Nothing listens on port 1: the connection is refused at once.
    url = "postgresql://ingest:s3cret@127.0.0.1:1/ingest?connect_timeout=2"
    code, _ = run("--db", url, "export", "-v")
    err = capsys.readouterr().err
    assert code == EXIT_STORE
    assert err.splitlines()[0] == "store: postgresql://***@127.0.0.1:1/ingest?connect_timeout=2"
    assert "store error (db_open)" in err and "s3cret" not in err


def test_unsupported_store_urls_name_postgresql(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--db", "mysql://x/y", "export")[0] == EXIT_USAGE
    assert "postgresql://user@host/db" in capsys.readouterr().err


def test_help_names_postgresql_and_the_exit_codes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ingest", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "COLUMNS": "100"},
    )
    options = result.stdout.split("options:", 1)[1]
    db_help = options.split("--db URL", 1)[1].split("--log-level", 1)[0]
    assert "postgresql://user@host/db" in " ".join(db_help.split())
    codes = result.stdout.split("exit codes:", 1)[1]
    for code, meaning in (
        ("0", "success"),
        ("1", "a feed failed"),
        ("2", "bad usage"),
        ("3", "the store\ncannot be used"),
    ):
        assert f"{code} {meaning}" in codes


def test_verbose_names_a_relative_store_by_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("--db", "here.db", "fetch", str(FEED_A), "-v")[0] == 0
    assert capsys.readouterr().err.splitlines()[0] == f"store: sqlite:///{tmp_path / 'here.db'}"
    code, _ = run("copy", "--from", "here.db", "--to", "sqlite:///there.db", "-v")
    assert code == 0
    assert capsys.readouterr().err.splitlines() == [
        f"store (from): sqlite:///{tmp_path / 'here.db'}",
        f"store (to): sqlite:///{tmp_path / 'there.db'}",
    ]
