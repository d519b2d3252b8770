"""The daemon as a user runs it: the real ``ingest run`` process against a local feed server."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import resource
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
from feedserver import Custom, FeedHandler, FeedServer, Static
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


def write_config(
    path: Path,
    db: Path,
    port: int,
    feeds: dict[str, str],
    *,
    stop_timeout: float = 5.0,
    read_timeout: float = 2.0,
    deadline: float = 5.0,
    max_connections: int = 4,
    per_host: int = 4,
) -> None:
    lines = [
        f'[store]\ndb = "sqlite:///{db}"',
        '[http]\nallow_networks = ["127.0.0.0/8"]\nconnect_timeout = 2.0'
        f"\nread_timeout = {read_timeout}\ndeadline = {deadline}"
        f"\nmax_connections = {max_connections}\nper_host = {per_host}",
        "[daemon]\nmin_interval = 0.5\nmax_interval = 1.5\nbackoff_base = 0.5\njitter = 0.2"
        f'\nstop_timeout = {stop_timeout}\nhealth_address = "127.0.0.1:{port}"',
        '[web]\naddress = ""',
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


def events(logged: str) -> list[str]:
    """The event names of a text log, in order."""
    names = []
    for line in logged.splitlines():
        match = re.search(r' event=("(?:[^"\\]|\\.)*"|\S+)', line)
        if match:
            value = match.group(1)
            names.append(json.loads(value) if value.startswith('"') else value)
    return names


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
            hits = server.hits["/news"]
            server.routes["/news"] = Static(rss("news", published["news"]), etag='"news-2"')
            assert wait_for(lambda: len(stored(db)) == 9), log.read_text()
            assert server.hits["/news"] > hits  # found by a scheduled check, not at start
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
            # SIGTERM: a clean stop, exit 0 (how fast: bench/bench_timing.py).
            daemon.proc.send_signal(signal.SIGTERM)
            assert daemon.proc.wait(timeout=30) == 0
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
    assert events(logged)[-2:] == ["stopping", "stopped"]
    assert "Traceback" not in logged and "cancelled" not in logged


def test_sigterm_at_startup_and_outdated_schema(
    tmp_path: Path, notify_socket: Notifications
) -> None:
    db, config, log = tmp_path / "x.db", tmp_path / "c.toml", tmp_path / "log"
    port = free_port()
    write_config(config, db, port, {})
    daemon = start(config, port, notify_socket, log)
    try:
        assert wait_for(lambda: daemon.get("/readyz")[0] == 200), log.read_text()
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=30) == 0  # how fast: bench/bench_timing.py
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
        daemon.log.close()
    # Issue 14: a daemon with nothing to fetch says so, as a warning, and still runs.
    logged = log.read_text()
    assert 'warning event="no enabled feeds' in logged
    assert events(logged)[-4:] == [
        "no enabled feeds: nothing will be fetched until a reload (SIGHUP) adds some",
        "ready",
        "stopping",
        "stopped",
    ]
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


def held(request_arrived: threading.Event, release: threading.Event, body: bytes) -> Custom:
    """A feed whose server says it got the request, then answers only once released."""

    def serve(handler: FeedHandler) -> None:
        request_arrived.set()
        while not release.is_set():
            if not handler.wait_while_connected(0.05):
                return  # the client hung up
        Static(body).serve(handler)

    return Custom(serve)


def test_sigterm_lets_fetches_in_flight_finish_and_cancels_only_the_late_ones(
    tmp_path: Path, notify_socket: Notifications
) -> None:
    """Issue 11 finding 3: SIGTERM cancelled a fetch in flight at once (a CancelledError
    traceback, the item never stored). Now a fetch that ends within stop_timeout is stored;
    one still running at the deadline is cancelled and named; no traceback."""
    db, config, log = tmp_path / "ingest.db", tmp_path / "ingest.toml", tmp_path / "daemon.log"
    port = free_port()
    slow_arrived, slow_release = threading.Event(), threading.Event()
    stuck_arrived, never = threading.Event(), threading.Event()
    with FeedServer() as server:
        feeds = {
            "slow": server.route("/slow", held(slow_arrived, slow_release, rss("slow", range(1)))),
            "stuck": server.route("/stuck", held(stuck_arrived, never, rss("stuck", range(1)))),
        }
        write_config(config, db, port, feeds, stop_timeout=4.0, read_timeout=60.0, deadline=60.0)
        daemon = start(config, port, notify_socket, log)
        try:
            assert slow_arrived.wait(15) and stuck_arrived.wait(15), log.read_text()
            assert wait_for(lambda: daemon.get("/status")[1].count('"running": true') == 2)
            daemon.proc.send_signal(signal.SIGTERM)
            assert wait_for(lambda: "event=stopping" in log.read_text()), log.read_text()
            slow_release.set()  # the slow fetch ends after the signal: it must be stored
            assert daemon.proc.wait(timeout=30) == 0
        finally:
            slow_release.set()
            if daemon.proc.poll() is None:
                daemon.proc.kill()
                daemon.proc.wait()
            daemon.log.close()
    logged = log.read_text()
    assert "Traceback" not in logged and "CancelledError" not in logged, logged
    assert "event=stopping signal=SIGTERM in_flight=2" in logged
    order = [e for e in events(logged) if e in ("stopping", "fetch", "stopped") or "cancel" in e]
    assert order == ["stopping", "fetch", "cancelled fetches at the stop deadline", "stopped"]
    assert re.search(r"event=fetch feed=slow .*status=ok .*new=1", logged)
    assert re.search(r'event="cancelled fetches at the stop deadline" count=1 feeds=stuck', logged)
    assert stored(db) == [("slow", "slow-0")]
    conn = sqlite3.connect(db)
    try:
        # The cancelled feed's lease was given back; the stopped one's released by its commit.
        assert (
            conn.execute("SELECT count(*) FROM feeds WHERE lease_owner IS NOT NULL").fetchone()[0]
            == 0
        )
    finally:
        conn.close()


def write_feeds_atomically(path: Path, db: Path, port: int, feeds: dict[str, str]) -> None:
    temporary = path.with_suffix(".tmp")
    write_config(temporary, db, port, feeds, max_connections=8, per_host=8)
    os.replace(temporary, path)


def test_reloads_while_jobs_run_never_fail_a_job(
    tmp_path: Path, notify_socket: Notifications
) -> None:
    """Issue 11 finding 4: 50 SIGHUPs while the configuration alternates between 20 and 10
    feeds failed jobs with KeyError. A feed removed while its job waits, claims or runs is
    now safe, and the daemon ends up running exactly the feeds of the last configuration."""
    db, config, log = tmp_path / "ingest.db", tmp_path / "ingest.toml", tmp_path / "daemon.log"
    port = free_port()

    def answer_slowly(body: bytes) -> Custom:
        def serve(handler: FeedHandler) -> None:
            if handler.wait_while_connected(0.05):  # keeps jobs in flight across reloads
                Static(body).serve(handler)

        return Custom(serve)

    with FeedServer() as server:
        every = {
            # 30 items without validators: every fetch keeps the store's one writer busy, so
            # claims queue behind it and reloads land while they wait.
            f"d{i}": server.route(f"/d{i}", answer_slowly(rss(f"d{i}", range(30))))
            for i in range(20)
        }
        few = {name: url for name, url in every.items() if int(name[1:]) < 10}
        write_feeds_atomically(config, db, port, every)
        daemon = start(config, port, notify_socket, log)
        try:
            assert wait_for(lambda: daemon.get("/readyz")[0] == 200), log.read_text()
            assert wait_for(lambda: len(stored(db)) >= 300), log.read_text()
            for round_ in range(50):
                write_feeds_atomically(config, db, port, few if round_ % 2 == 0 else every)
                daemon.proc.send_signal(signal.SIGHUP)
                time.sleep(0.05)
            write_feeds_atomically(config, db, port, few)
            daemon.proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: set(daemon.status()) == set(few), timeout=30)
            # The remaining feeds keep being fetched after all that.
            hits = {name: server.hits[f"/{name}"] for name in few}
            assert wait_for(lambda: all(server.hits[f"/{n}"] > hits[n] for n in few), timeout=30)
            assert daemon.get("/readyz")[0] == 200
            daemon.proc.send_signal(signal.SIGTERM)
            assert daemon.proc.wait(timeout=30) == 0
        finally:
            if daemon.proc.poll() is None:
                daemon.proc.kill()
                daemon.proc.wait()
            daemon.log.close()
    logged = log.read_text()
    assert "job failed" not in logged and "Traceback" not in logged, logged
    assert events(logged).count("reloaded") >= 2
    rows = stored(db)
    assert len(rows) == len(set(rows))  # nothing stored twice


def test_a_busy_health_address_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Issue 11 finding 10: a second daemon on the same health port printed a 25-line
    traceback and exited 1."""
    db, config = tmp_path / "ingest.db", tmp_path / "ingest.toml"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        write_config(config, db, port, {})
        result = subprocess.run(
            [sys.executable, "-m", "ingest", "--config", str(config), "run"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "[daemon] health_address" in lines[0]
    assert "address already in use" in lines[0]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingest", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )


def open_files_for(connections: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = connections + 256
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip(f"needs {want} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def test_a_thousand_idle_connections_leave_probes_answered(
    tmp_path: Path, notify_socket: Notifications
) -> None:
    """Issue 11 finding 1, on the real daemon: 70 connections holding half a request head made
    /healthz answer 503 and `ingest healthcheck` fail. With 1,000 held, every probe gets 200
    (probe latency under load: bench/bench_health.py). A feed with credentials in its URL
    shows them nowhere (issue 11 finding 7, HOSTILE 44)."""
    open_files_for(1100)
    db, config, log = tmp_path / "ingest.db", tmp_path / "ingest.toml", tmp_path / "daemon.log"
    port = free_port()
    server = FeedServer().start()
    url = server.route("/private", Static(rss("private", range(1))))
    private = (
        url.replace("http://", "http://reader:s3cret@") + "?token=abcdefghijklmnopqrstuvwxyz0123"
    )
    write_config(config, db, port, {"private": private})
    daemon = start(config, port, notify_socket, log)
    idle: list[socket.socket] = []
    shown: list[str] = []
    try:
        assert wait_for(lambda: daemon.get("/readyz")[0] == 200), log.read_text()
        assert wait_for(lambda: len(stored(db)) == 1), log.read_text()
        for _ in range(1000):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the rest
            idle.append(sock)
        codes = [daemon.get(path)[0] for _ in range(10) for path in ("/healthz", "/readyz")]
        assert codes == [200] * 20
        env = {k: v for k, v in os.environ.items() if k not in ("INGEST_DB",)}
        check = cli(env, "--config", str(config), "healthcheck")
        assert (check.returncode, check.stdout) == (0, "ready\n")
        # Issue 11 finding 11: `ingest status` says which daemon and store it shows, and
        # refuses a daemon that runs on another store than the one the command would read.
        status = cli(env, "--config", str(config), "status")
        assert status.returncode == 0, status.stderr
        shown += [status.stdout, daemon.get("/status")[1], daemon.get("/metrics")[1]]
        assert "private <http://***@127.0.0.1:" in status.stdout
        assert status.stdout.startswith("daemon ")
        assert f" at 127.0.0.1:{port} on store sqlite:///{db.resolve()} " in status.stdout
        other = tmp_path / "other.db"
        refused = cli(env, "--config", str(config), "--db", str(other), "status")
        assert refused.returncode == 2 and refused.stdout == ""
        assert f"sqlite:///{db.resolve()}" in refused.stderr
        assert f"sqlite:///{other.resolve()}" in refused.stderr
        assert len(refused.stderr.splitlines()) == 1 and not other.exists()
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=30) == 0
    finally:
        for sock in idle:
            sock.close()
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()
        daemon.log.close()
        server.stop()
    logged = log.read_text()
    assert "Traceback" not in logged
    for text in [logged, *shown]:
        assert "s3cret" not in text and "abcdefghijklmnopqrstuvwxyz0123" not in text
