"""Durability of the real ``ingest run`` process (issue 6; HOSTILE.md 26, 27, 31 and 33).

The daemon runs against growing feeds on a local server (``bench/durability.py``'s farm and
audit): SIGKILLed at random moments of heavy ingestion and restarted, killed exactly between
writing a feed's items and its ETag, and faced with a full disk and a read-only database.
After each blow the store must pass its integrity check, keep every row the log acknowledged,
hold no duplicate, keep each feed's HTTP validators and counters in step with its rows, and a
clean cycle must then store every item the server published, exactly once.

``bench/durability.py --kills 20`` is the long version of the first two tests.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from feedserver import FeedServer

from ingest.daemon import PROBE_EVERY
from ingest.store import sqlite_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from durability import (
    Audit,
    Daemon,
    Farm,
    FarmSpec,
    acknowledged,
    audit,
    fetch_once,
    free_port,
    in_flight,
    run,
    snapshot,
    stored_all,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.slow

# Small and fast: each life of the daemon stores a few hundred rows before it is killed.
KILL_FARM = FarmSpec(feeds=10, first=4, step=2, versions=20, period=0.25)
KILLS = 3
# A killed daemon's leases outlive it (test_restarted_daemon_takes_back_...): short leases,
# and a per-host limit its stale leases cannot exhaust, let the restarted one carry on.
KILL_HTTP: dict[str, Any] = {"per_host": 64, "deadline": 2.0}
KILL_DAEMON: dict[str, Any] = {"lease_seconds": 2.5}


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def assert_clean(result: Audit) -> None:
    assert result.problems == []
    assert result.integrity == "ok"
    assert result.lost == result.duplicated == result.inconsistent == result.unstored == 0


# --- kill -9 and restart ------------------------------------------------------------------


def check_kills(db: str, workdir: Path, seed: int) -> None:
    rng = random.Random(seed)
    result = run(
        db,
        workdir,
        kills=KILLS,
        spec=KILL_FARM,
        rng=rng,
        max_delay=1.0,
        catch_up=15,
        http=KILL_HTTP,
        daemon=KILL_DAEMON,
    )
    assert result.problems == []
    assert len(result.kills) == KILLS
    for kill in result.kills:
        assert_clean(kill.audit)
    # The kills landed in the middle of ingestion: a fetched version was not yet committed.
    assert sum(kill.in_flight for kill in result.kills) > 0
    assert result.kills[-1].audit.stored > 0
    # The restarted daemon's next cycles stored the rest, then stopped cleanly on SIGTERM.
    assert result.caught_up is True
    assert result.exit_code == 0
    assert_clean(result.final)
    # Every item published is stored, once, and the log acknowledged no more than that.
    published = KILL_FARM.feeds * (KILL_FARM.first + KILL_FARM.step * KILL_FARM.versions)
    assert result.final.stored == published
    # Rows committed by a life killed before it logged them are acknowledged by nobody.
    assert 0 < result.final.acknowledged <= published


def test_kill_and_restart_sqlite(tmp_path: Path) -> None:
    check_kills(sqlite_url(tmp_path / "ingest.db"), tmp_path, seed=26)


@pytest.mark.postgres
def test_kill_and_restart_postgres(tmp_path: Path, pg_url: str) -> None:
    check_kills(pg_url, tmp_path, seed=33)


# Killed between the feed's items and its HTTP state: installed around sqlite3.connect, it
# SIGKILLs the process at the first statement that writes a feed's ETag in a transaction that
# already inserted articles, once (a marker file remembers it fired).
KILL_HOOK = """
import os, signal, sqlite3, sys
from pathlib import Path

_connect = sqlite3.connect
MARKER = Path(os.environ["KILL_MARKER"])


def connect(*args, **kwargs):
    conn = _connect(*args, **kwargs)
    inserted = False

    def trace(sql):
        nonlocal inserted
        words = " ".join(sql.split()).upper()
        if words.startswith("BEGIN"):
            inserted = False
        elif words.startswith("INSERT INTO ARTICLES"):
            inserted = True
        elif inserted and words.startswith("UPDATE FEEDS") and "ETAG" in words:
            if not MARKER.exists():
                MARKER.write_text(words)
                os.kill(os.getpid(), signal.SIGKILL)

    conn.set_trace_callback(trace)
    return conn


sqlite3.connect = connect
sys.path.insert(0, os.getcwd())  # the repository, as for ``python -m ingest``
from ingest.cli import main

sys.exit(main(sys.argv[1:]))
"""


def test_kill_between_items_and_http_state(tmp_path: Path) -> None:
    """HOSTILE 27: the ETag is written in the items' transaction, so a kill between the two
    leaves neither, and the next fetch is a 200 that stores the items, not a 304 that loses
    them."""
    db = sqlite_url(tmp_path / "ingest.db")
    launcher, marker = tmp_path / "kill_hook.py", tmp_path / "fired"
    launcher.write_text(KILL_HOOK, encoding="utf-8")
    config = tmp_path / "ingest.toml"
    with FeedServer() as server:
        farm = Farm(FarmSpec(feeds=4, first=8, versions=0), server)
        write_config(config, db, free_port(), farm.urls)
        farm.resume()
        with Daemon(
            config,
            tmp_path / "life.log",
            free_port(),
            env={"KILL_MARKER": str(marker)},
            launcher=launcher,
        ) as daemon:
            assert daemon.proc.wait(timeout=20) == -9, daemon.log_path.read_text()
        assert "ETAG" in marker.read_text()
        snap = snapshot(db)
        assert_clean(audit(snap, farm, acknowledged([daemon]), final=False))
        # The feed killed mid-transaction kept neither its rows nor its validators.
        assert in_flight(snap, farm) >= 1
        written = fetch_once(config, tmp_path / "fetch.log")
        assert sum(written.values()) > 0
        acked = {f: n + written.get(f, 0) for f, n in acknowledged([daemon]).items()}
        final = audit(snapshot(db), farm, {**written, **acked}, final=True)
        assert_clean(final)
        assert final.stored == 4 * 8


def test_restarted_daemon_takes_back_the_feeds_of_the_killed_one(tmp_path: Path) -> None:
    db = sqlite_url(tmp_path / "ingest.db")
    config = tmp_path / "ingest.toml"
    with FeedServer() as server:
        farm = Farm(FarmSpec(feeds=8, first=6, step=3, versions=12, period=0.2), server)
        # per_host = 2 is the default: two feeds of one host in flight at the kill
        write_config(config, db, free_port(), farm.urls, http={"per_host": 2})
        farm.resume()
        with Daemon(config, tmp_path / "life-0.log", free_port()) as daemon:
            assert wait_for(lambda: len(daemon.events("fetch")) >= 3, 20)
            assert wait_for(lambda: leased(db) >= 2, 10)  # two fetches in flight
            daemon.kill()
        assert leased(db) >= 1
        farm.finish()
        expected = {f: farm.guids(f, farm.version()) for f in farm.names}
        port = free_port()
        write_config(config, db, port, farm.urls, http={"per_host": 2})
        with Daemon(config, tmp_path / "life-1.log", port) as daemon:
            # min_interval 0.2 s, max_interval 1 s: a few seconds are many cycles.
            assert wait_for(lambda: stored_all(db, expected), 5, every=0.2)
            assert daemon.stop() == 0


def leased(db: str) -> int:
    with contextlib.closing(sqlite3.connect(sqlite_path(db) or "", timeout=10)) as conn:
        return int(
            conn.execute("SELECT count(*) FROM feeds WHERE lease_owner IS NOT NULL").fetchone()[0]
        )


# --- a full disk and a read-only database -------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs mounted for the test (needs root: CAP_SYS_ADMIN)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a full disk is simulated with a small tmpfs, and mounting one needs root")
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(filler: Path) -> None:
    """Write zeros to ``filler`` until its file system says ENOSPC."""
    with filler.open("wb", buffering=0) as handle:
        for size in (1 << 20, 1 << 12):
            try:
                while True:
                    handle.write(bytes(size))
            except OSError as exc:
                assert exc.errno == errno.ENOSPC


def immutable(*paths: Path, on: bool) -> None:
    flag = "+i" if on else "-i"
    subprocess.run(["chattr", flag, *map(str, paths)], check=True, capture_output=True)


def store_failures(daemon: Daemon) -> list[dict[str, Any]]:
    """Logged events about a failed store operation, clear or with a traceback."""
    return [
        e
        for e in daemon.events()
        if str(e.get("error_code") or "").startswith("db_")
        or "StoreError" in str(e.get("exception", ""))
    ]


def check_outage(
    tmp_path: Path, db: str, code: str, start: Callable[[], Any], end: Callable[[], Any]
) -> None:
    """The store fails with ``code`` while the daemon ingests, then comes back.

    Expect a clear error naming ``code`` in the log (no traceback), /readyz 503 with that
    reason while /livez stays 200, the process alive, no partial rows, integrity ok; then
    /readyz 200 again and every published item stored exactly once.
    """
    config = tmp_path / "ingest.toml"
    port = free_port()
    with FeedServer() as server:
        farm = Farm(FarmSpec(feeds=8, first=6, step=3, versions=400, period=0.25), server)
        write_config(config, db, port, farm.urls)
        farm.resume()
        with Daemon(config, tmp_path / "daemon.log", port) as daemon:
            assert wait_for(lambda: daemon.get("/readyz")[0] == 200, 15), daemon.get("/readyz")
            assert wait_for(lambda: len(daemon.events("fetch")) >= 4, 15)
            start()
            try:
                assert wait_for(lambda: bool(store_failures(daemon)), 15)
                time.sleep(0.5)
                failures = store_failures(daemon)
                assert [e for e in failures if e.get("error_code") == code], failures[0]
                status, body = daemon.get("/readyz")
                if status == 200:
                    wait_for(lambda: daemon.get("/readyz")[0] != 200, PROBE_EVERY + 2)
                    status, body = daemon.get("/readyz")
                assert (status, code in body) == (503, True), body
                assert daemon.get("/livez")[0] == 200
                assert daemon.alive()
                assert_clean(audit(snapshot(db), farm, acknowledged([daemon]), final=False))
            finally:
                end()
            assert wait_for(lambda: daemon.get("/readyz")[0] == 200, PROBE_EVERY + 5)
            at = farm.finish(farm.version())
            expected = {f: farm.guids(f, at) for f in farm.names}
            assert wait_for(lambda: stored_all(db, expected), 30, every=0.25)
            assert daemon.stop() == 0
        failures = [e for e in daemon.events() if "exception" in e]
        assert failures == [], failures[0]["exception"]
        assert_clean(audit(snapshot(db), farm, acknowledged([daemon]), final=True))


def test_disk_full(tmp_path: Path, small_disk: Path) -> None:
    filler = small_disk / "filler"
    check_outage(
        tmp_path,
        sqlite_url(small_disk / "ingest.db"),
        "db_full",
        start=lambda: fill(filler),
        end=lambda: filler.unlink(missing_ok=True),
    )


def test_read_only_database(tmp_path: Path) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("chattr (e2fsprogs) is needed to make a file read-only for root")
    db_path = tmp_path / "ingest.db"
    probe = tmp_path / "probe"
    probe.touch()
    try:
        immutable(probe, on=True)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"chattr +i does not work on {tmp_path}: {exc.stderr.decode().strip()}")
    immutable(probe, on=False)
    # Root ignores file modes: the immutable flag is what stops root. Only the database and
    # its WAL are frozen; SQLite maps the -shm file, and freezing that kills with SIGBUS.
    files = (db_path, Path(f"{db_path}-wal"))
    try:
        check_outage(
            tmp_path,
            sqlite_url(db_path),
            "db_readonly",
            start=lambda: immutable(*files, on=True),
            end=lambda: immutable(*files, on=False),
        )
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            immutable(*files, on=False)  # or pytest cannot remove tmp_path
