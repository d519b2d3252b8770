"""The daemon as a user runs it: the real ``ingest run`` process against a local feed server."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import TextIO

import pytest
from feedserver import FeedServer, Static
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow

BASE = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


def story(feed: str, n: int) -> list[str]:
    """Distinct paragraphs for item ``n`` of ``feed``: random pseudo-words, so no two items
    are near-duplicates of each other."""
    rng = random.Random(zlib.crc32(f"{feed}/{n}".encode()))

    def word() -> str:
        return "".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 7)))

    return [" ".join(word() for _ in range(30)) for _ in range(5)]


def rss(feed: str, items: range) -> bytes:
    entries = []
    for n in items:
        body = "".join(f"<p>{p}</p>" for p in story(feed, n))
        date = format_datetime(BASE + timedelta(minutes=n), usegmt=True)
        entries.append(
            f"<item><title>{feed} {n}</title><link>https://{feed}.example/{n}</link>"
            f"<guid>{feed}-{n}</guid><pubDate>{date}</pubDate>"
            f"<description><![CDATA[{body}]]></description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{feed}</title><link>https://{feed}.example/</link>{''.join(entries)}"
        "</channel></rss>"
    ).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, db: Path, port: int, feeds: dict[str, str]) -> None:
    lines = [
        f'[store]\ndb = "sqlite:///{db}"',
        '[http]\nallow_networks = ["127.0.0.0/8"]\nconnect_timeout = 2.0\nread_timeout = 2.0'
        "\ndeadline = 5.0\nmax_connections = 4\nper_host = 4",
        "[daemon]\nmin_interval = 0.5\nmax_interval = 1.5\nbackoff_base = 0.5\njitter = 0.2"
        f'\nstop_timeout = 5.0\nhealth_address = "127.0.0.1:{port}"',
    ]
    lines += [f'[[feeds]]\nname = "{name}"\nurl = "{url}"' for name, url in feeds.items()]
    path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")


@dataclass
class Daemon:
    proc: subprocess.Popen[str]
    port: int
    notify: Notifications
    log: TextIO

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def status(self) -> dict[str, dict[str, object]]:
        code, body = self.get("/status")
        assert code == 200
        return {f["name"]: f for f in json.loads(body)["feeds"]}


def wait_for(predicate, timeout: float = 15.0, every: float = 0.1) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, AssertionError, urllib.error.URLError):
            if predicate():
                return True
        time.sleep(every)
    return False


class Notifications:
    """A fake systemd: collects the daemon's sd_notify datagrams on a thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.messages: list[str] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                self.messages.append(self.sock.recv(4096).decode())

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[Notifications]:
    notifications = Notifications(str(tmp_path / "notify.sock"))
    yield notifications
    notifications.close()


def start(config: Path, port: int, notify: Notifications, log: Path) -> Daemon:
    env = {**os.environ, "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000"}
    env.pop("INGEST_DB", None)
    handle = log.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest", "--config", str(config), "run"],
        stdout=subprocess.DEVNULL,
        stderr=handle,
        env=env,
        text=True,
    )
    return Daemon(proc, port, notify, handle)


def stored(db: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT f.name, a.guid FROM articles a JOIN feeds f ON f.id = a.feed_id"
        ).fetchall()
    finally:
        conn.close()


def counter(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def test_daemon_lifecycle(tmp_path: Path, notify_socket: Notifications) -> None:
    db, config, log = tmp_path / "ingest.db", tmp_path / "ingest.toml", tmp_path / "daemon.log"
    port = free_port()
    with FeedServer() as server:
        published = {
            "news": range(0, 3),
            "sport": range(0, 2),
            "flaky": range(0, 2),
            "later": range(0, 2),
        }
        for name in ("news", "sport", "flaky", "later"):
            server.route(f"/{name}", Static(rss(name, published[name]), etag=f'"{name}-1"'))
        feeds = {n: server.url(f"/{n}") for n in ("news", "sport", "flaky")}
        write_config(config, db, port, feeds)
        daemon = start(config, port, notify_socket, log)
        try:
            assert wait_for(lambda: daemon.get("/readyz")[0] == 200), log.read_text()
            assert daemon.get("/healthz") == (200, "ok\n")
            # The first round stores every item.
            assert wait_for(lambda: len(stored(db)) == 7), log.read_text()
            # New items appear: stored within two scheduled intervals (max_interval 1.5 s).
            published["news"] = range(0, 5)
            server.routes["/news"] = Static(rss("news", published["news"]), etag='"news-2"')
            t0 = time.monotonic()
            assert wait_for(lambda: len(stored(db)) == 9, timeout=2 * 1.5 * 1.2 + 2)
            assert time.monotonic() - t0 < 2 * 1.5 * 1.2 + 2
            # Metrics move.
            metrics = daemon.get("/metrics")[1]
            assert counter(metrics, "ingest_articles_stored_total") == 9
            assert counter(metrics, "ingest_fetches_total", outcome="ok") >= 4
            # A feed that starts failing shows in /status and keeps being retried.
            server.routes["/flaky"] = Static(b"boom", status=500)
            assert wait_for(lambda: daemon.status()["flaky"]["consecutive_failures"] >= 2)
            failing = daemon.status()["flaky"]
            assert failing["error_code"] == "http_status" and failing["failing"] is True
            hits = server.hits["/flaky"]
            assert wait_for(lambda: server.hits["/flaky"] > hits + 1)
            assert daemon.get("/readyz")[0] == 200  # one failing feed does not make it unready
            assert counter(daemon.get("/metrics")[1], "ingest_failing_feeds") == 1
            # SIGHUP adds a feed.
            write_config(config, db, port, {**feeds, "later": server.url("/later")})
            daemon.proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: len(stored(db)) == 11), log.read_text()
            assert "later" in daemon.status()
            # An invalid configuration is rejected and the old one keeps running.
            config.write_text("[[feeds]]\nname = 1\n", encoding="utf-8")
            daemon.proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: "reload rejected" in log.read_text())
            assert daemon.get("/readyz")[0] == 200 and len(daemon.status()) == 4
            # SIGTERM: exit 0 inside the stop deadline.
            t0 = time.monotonic()
            daemon.proc.send_signal(signal.SIGTERM)
            assert daemon.proc.wait(timeout=10) == 0
            assert time.monotonic() - t0 < 5.0 + 1.0
        finally:
            if daemon.proc.poll() is None:
                daemon.proc.kill()
                daemon.proc.wait()
            daemon.log.close()
    # Every published item is stored exactly once.
    rows = stored(db)
    assert len(rows) == len(set(rows)) == 11
    assert {(f, g) for f, g in rows} == {
        (name, f"{name}-{n}") for name, items in published.items() for n in items
    }
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    messages = daemon.notify.messages
    assert wait_for(lambda: any(m.startswith("STOPPING=1") for m in messages), timeout=2)
    text = "\n".join(messages)
    assert messages[0].startswith("READY=1")
    assert "RELOADING=1" in text and "MONOTONIC_USEC=" in text
    assert "WATCHDOG=1" in text
    logged = log.read_text()
    assert "event=fetch" in logged and "feed=news" in logged and "duration_ms=" in logged


def test_sigterm_at_startup_and_outdated_schema(
    tmp_path: Path, notify_socket: Notifications
) -> None:
    db, config, log = tmp_path / "x.db", tmp_path / "c.toml", tmp_path / "log"
    port = free_port()
    write_config(config, db, port, {})
    daemon = start(config, port, notify_socket, log)
    try:
        assert wait_for(lambda: daemon.get("/readyz")[0] == 200), log.read_text()
        t0 = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=5) == 0
        assert time.monotonic() - t0 < 1.5
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
        daemon.log.close()
    # A store whose schema is older than this version is refused with what to run.
    conn = sqlite3.connect(db)
    conn.execute(
        "DELETE FROM ingest_schema WHERE version = (SELECT max(version) FROM ingest_schema)"
    )
    conn.commit()
    conn.close()
    result = subprocess.run(
        [sys.executable, "-m", "ingest", "--config", str(config), "run"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 3  # a store error
    assert "migrate" in result.stderr
