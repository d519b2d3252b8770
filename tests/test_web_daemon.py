"""The web console served by its own processes: ``ingest serve`` and ``ingest run`` (issue 13,
item 3), and the daemon's retention (issue 14, item 1), on SQLite and PostgreSQL.

Processes are started as a user would start them; a test reads their stderr (the log) and
talks to them over HTTP on loopback.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from webclient import get

from ingest import cli, config, logs
from ingest.daemon import Daemon
from ingest.errors import StoreError
from ingest.fetch import Fetcher
from ingest.pipeline import Pipeline
from ingest.store import open_store
from ingest.store.base import Removal
from ingest.store.sqlite import SQLiteStore

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
SEED_A, SEED_B = FEEDS / "seed-a.xml", FEEDS / "seed-b.xml"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ingest.db'}"
    return str(request.getfixturevalue("pg_url"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(*argv: str) -> str:
    out = io.StringIO()
    assert cli.main(list(argv), environ={}, out=out) == 0, out.getvalue()
    return out.getvalue()


def exports(db: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in run("--db", db, "export", "--duplicates").splitlines()]


class Process:
    """An ``ingest`` process with its stderr in a file."""

    def __init__(self, tmp_path: Path, *argv: str) -> None:
        self.log_path = tmp_path / f"stderr-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("w")
        env = {k: v for k, v in os.environ.items() if k not in ("INGEST_DB", "INGEST_CONFIG")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ingest", *argv],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            env=env,
            text=True,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8")

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.log)
            if found:
                return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} in the log:\n{self.log}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=30)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self._log.close()


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.kill()


def url_of(process: Process) -> int:
    found = process.wait_for(
        r"event=\"web console listening\" address=\S+ url=http://127\.0\.0\.1:(\d+)/"
    )
    return int(found.group(1))


# -- ingest serve ---------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_shows_a_store_and_stops_cleanly(
    db: str, tmp_path: Path, processes: list[Process], sig: int
) -> None:
    run("--db", db, "-q", "fetch", str(SEED_B))
    run("--db", db, "-q", "fetch", str(SEED_A))
    serve = Process(tmp_path, "--db", db, "serve", "--address", "127.0.0.1:0")
    processes.append(serve)
    port = url_of(serve)
    status, headers, body = get(port, "/")
    assert status == 200 and headers["content-security-policy"].startswith("default-src 'self'")
    assert "2 مقالات من 2 مصادر" in re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body.decode()))
    stories = json.loads(get(port, "/api/stories")[2])["stories"]
    assert [s["articles"] for s in stories] == [2]
    feeds = json.loads(get(port, "/api/feeds")[2])["feeds"]
    assert len(feeds) == 2 and all(f["outcome"] == "ok" for f in feeds)  # from the store
    before = exports(db)
    assert serve.stop(sig) == 0
    assert "event=stopping" in serve.log and "event=stopped" in serve.log
    assert "Traceback" not in serve.log
    assert exports(db) == before  # read-only


def test_serve_refusals_are_one_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ingest.db'}"

    def serve(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ingest", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={k: v for k, v in os.environ.items() if not k.startswith("INGEST_")},
        )

    missing = serve("--db", db, "serve", "--address", "127.0.0.1:0")
    assert missing.returncode == 3 and "no store at" in missing.stderr
    assert not (tmp_path / "ingest.db").exists()  # never created
    run("--db", db, "-q", "migrate")
    bad = serve("--db", db, "serve", "--address", "localhost")
    assert bad.returncode == 2
    assert bad.stderr == "ingest: --address: expected host:port, got 'localhost'\n"
    off = tmp_path / "off.toml"
    off.write_text('[web]\naddress = ""\n', encoding="utf-8")
    result = serve("--config", str(off), "--db", db, "serve")
    assert result.returncode == 2 and "give serve --address HOST:PORT" in result.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = serve("--db", db, "serve", "--address", f"127.0.0.1:{port}")
    assert busy.returncode == 2
    (line,) = busy.stderr.splitlines()
    assert f"--address: cannot listen on 127.0.0.1:{port}" in line
    assert "address already in use" in line


# -- the daemon -----------------------------------------------------------------------------


def daemon_config(
    path: Path, db: str, health: int, web: int | str, feeds: dict[str, Path], **store: object
) -> Path:
    address = web if isinstance(web, str) else f"127.0.0.1:{web}"
    lines = [f"[store]\ndb = {json.dumps(db)}"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in store.items()]
    # min_interval: feeds due at start are spread over it (30 s by default).
    lines.append(
        f'[daemon]\nhealth_address = "127.0.0.1:{health}"\nstop_timeout = 5.0\nmin_interval = 1.0'
    )
    lines.append(f"[web]\naddress = {json.dumps(address)}")
    lines += [f'[[feeds]]\nname = "{n}"\nurl = "{u}"' for n, u in feeds.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_daemon_serves_the_console_from_its_memory(
    db: str, tmp_path: Path, processes: list[Process]
) -> None:
    health, web = free_port(), free_port()
    cfg = daemon_config(
        tmp_path / "ingest.toml", db, health, web, {"agency": SEED_B, "scraper": SEED_A}
    )
    daemon = Process(tmp_path, "--config", str(cfg), "run")
    processes.append(daemon)
    assert url_of(daemon) == web
    daemon.wait_for(r"event=ready")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stories = json.loads(get(web, "/api/stories")[2])["stories"]
        if stories:
            break
        time.sleep(0.2)
    assert [sorted(s["outlets"]) for s in stories] == [["agency", "scraper"]]
    feeds = {f["name"]: f for f in json.loads(get(web, "/api/feeds")[2])["feeds"]}
    status = {f["name"]: f for f in json.loads(get(health, "/status")[2])["feeds"]}
    assert set(feeds) == {"agency", "scraper"}
    for name, feed in feeds.items():  # the daemon's own view, as /status shows it
        assert feed["next_run"] and feed["next_run"] == status[name]["next_run"]
    assert "الجزائر" in get(web, "/search?q=الجزائر")[2].decode()
    assert get(health, "/readyz")[0] == 200
    assert daemon.stop() == 0
    assert "Traceback" not in daemon.log


def test_a_busy_web_address_is_one_line_and_exit_2(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ingest.db'}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = daemon_config(tmp_path / "ingest.toml", db, free_port(), port, {})
        result = subprocess.run(
            [sys.executable, "-m", "ingest", "--config", str(cfg), "run"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert f"[web] address: cannot listen on 127.0.0.1:{port}" in line
    assert "address already in use" in line


# -- retention ------------------------------------------------------------------------------


def recent_feed(path: Path, now: datetime) -> Path:
    """A feed with one item published a day before ``now``."""
    date = format_datetime(now - timedelta(days=1))
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>حديث</title>'
        "<link>https://recent.example/</link><item><title>خبر اليوم عن الطاقة الشمسية</title>"
        "<link>https://recent.example/1</link><guid>recent-1</guid>"
        f"<pubDate>{date}</pubDate><description>أعلنت الشركة الوطنية للكهرباء عن خطة لتوسيع"
        " شبكة الطاقة الشمسية في المناطق الجنوبية خلال العامين المقبلين.</description>"
        "</item></channel></rss>",
        encoding="utf-8",
    )
    return path


def test_the_daemon_applies_retention_once_started(
    db: str, tmp_path: Path, processes: list[Process]
) -> None:
    run("--db", db, "-q", "fetch", str(SEED_B), str(SEED_A))  # from 2024
    recent = recent_feed(tmp_path / "recent.xml", datetime.now(UTC))
    run("--db", db, "-q", "fetch", str(recent))
    assert len(exports(db)) == 3
    health = free_port()
    cfg = daemon_config(tmp_path / "ingest.toml", db, health, "", {}, retention_days=30)
    daemon = Process(tmp_path, "--config", str(cfg), "run")
    processes.append(daemon)
    line = daemon.wait_for(r".*event=retention .*").group(0)
    assert "retention_days=30.0" in line
    assert "articles=1 links=1 kept=0" in line
    assert [a["guid"] for a in exports(db)] == ["recent-1"]
    assert get(health, "/readyz")[0] == 200
    assert daemon.stop() == 0
    assert "retention failed" not in daemon.log


class FailingStore(SQLiteStore):
    """A real SQLite store whose prune fails the way a full disk or a bug would."""

    failure: Callable[[], BaseException] = RuntimeError

    def prune(self, before: datetime, *, dry_run: bool = False) -> Removal:
        raise self.failure()


@pytest.mark.parametrize(
    ("failure", "logged"),
    [
        (
            lambda: StoreError("ingest.db: database or disk is full", code="db_full"),
            'error_code=db_full error="ingest.db: database or disk is full"',
        ),
        (lambda: RuntimeError("a bug"), "RuntimeError: a bug"),  # with its traceback
    ],
)
def test_a_failed_retention_is_logged_and_the_daemon_goes_on(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    failure: Callable[[], BaseException],
    logged: str,
) -> None:
    run("--db", str(tmp_path / "ingest.db"), "-q", "migrate")
    settings = config.settings_from_mapping(
        {"store": {"db": str(tmp_path / "ingest.db"), "retention_days": 30}}
    )
    store = FailingStore(tmp_path / "ingest.db", create=False)
    store.failure = failure
    logs.setup("text", logging.INFO)

    async def apply() -> None:
        fetcher = Fetcher(settings.http)
        daemon = Daemon(settings, store)
        daemon.pipeline = Pipeline(store, settings, fetcher)
        try:
            await daemon._retention()  # the scheduled job, run once
            await daemon._retention()  # and again: nothing was left broken
        finally:
            daemon.pipeline.close()
            await fetcher.aclose()

    try:
        asyncio.run(apply())
    finally:
        store.close()
    lines = [
        line for line in capsys.readouterr().err.splitlines() if 'event="retention failed"' in line
    ]
    assert len(lines) == 2
    assert all(" error " in line and logged in line for line in lines)


def test_no_retention_no_pruning(tmp_path: Path) -> None:
    db = str(tmp_path / "ingest.db")
    run("--db", db, "-q", "fetch", str(SEED_B))
    settings = config.settings_from_mapping({"store": {"db": db}})
    store = open_store(db, create=False)

    async def apply() -> None:
        fetcher = Fetcher(settings.http)
        daemon = Daemon(settings, store)
        daemon.pipeline = Pipeline(store, settings, fetcher)
        try:
            await daemon._retention()
        finally:
            daemon.pipeline.close()
            await fetcher.aclose()

    try:
        asyncio.run(apply())
    finally:
        store.close()
    assert len(exports(db)) == 1
