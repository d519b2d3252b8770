"""Three ``ingest run`` daemons sharing one PostgreSQL store (issue 5, acceptance item 2).

200 feeds on 20 local hosts (127.0.0.2 to 127.0.0.21, ten feeds each, every answer taking
``DELAY`` seconds): 150 feeds publish their own stories, 50 carry copies of three of them each,
published at the same moment (same date, same paragraphs, another title and link; half with a
dateline added). Each group of a copier and its sources publishes a new round of stories every
``ROUND`` seconds, the groups one after the other. The test reads what happened from the
servers' request logs and from the store:

- every feed is fetched, and on schedule;
- no feed is fetched twice in one interval: every interval the daemons schedule here is at
  least ``INTERVAL`` (``min_interval == max_interval``; jitter only lengthens it), counted from
  a moment after the request arrived, and another daemon may claim the feed only once it is due
  (the store keeps the due time to the microsecond) or once the lease ran out (``LEASE``, a
  second more than ``INTERVAL``), so two arrivals of one feed are never closer than
  ``INTERVAL``: that is the exact bound, asserted on the servers' clocks;
- per-host politeness holds across the daemons (``per_host = 1``): the requests to one host never
  overlap, from arrival to the start of the answer;
- every story is stored once as a canonical article and its copy is a link record to it;
- a daemon killed with SIGKILL while it holds leases (its fetches held at a closed gate) has
  its feeds taken over once the leases expire, not before, and ``/status`` shows who holds
  which feed.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, TextIO

import pytest
from feedserver import Behaviour, Evolving, Exchange, FeedHandler, FeedServer

from ingest.store import open_store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

HOSTS = 20
ORIGINS = 150
COPIERS = 50
SOURCES_PER_COPIER = ORIGINS // COPIERS
INTERVAL = 4.0
"""min_interval = max_interval: every interval scheduled here is INTERVAL * (1 + JITTER * r)."""
JITTER = 0.25
LEASE = 5.0
"""Seconds of a lease: it starts at the claim, a moment before the request arrives."""
DEADLINE = 2.5
DELAY = 0.02
"""Seconds every answer waits, so two fetches of one host at once would overlap visibly."""
ROUND = 5.0
"""Seconds between two rounds of stories."""
ROUNDS = 1
"""Rounds published before the kill (one more follows it)."""
GATED_HOSTS = 4
"""Hosts whose answers are held while the victim is chosen and killed."""
LONGEST = INTERVAL * (1 + JITTER)
"""The longest interval the daemons schedule here."""
RETRY = 1.5 * INTERVAL
"""The longest a daemon waits before asking again for a feed leased elsewhere
(``daemon.py``: ``min_interval * (0.5 + random())``; a busy host is asked again sooner)."""

BASE = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
DATELINE = "القاهرة (وكالات) -"


# -- the feeds ------------------------------------------------------------------------------


def _words(rng: random.Random, count: int) -> str:
    return " ".join(
        "".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 7))) for _ in range(count)
    )


@functools.cache
def story(origin: int, round_: int) -> tuple[str, tuple[str, ...]]:
    """Title and paragraphs of story ``round_`` of origin feed ``origin``: random pseudo-words,
    so no two stories are near-duplicates of each other."""
    rng = random.Random(zlib.crc32(f"o{origin}/{round_}".encode()))
    return _words(rng, 6), tuple(_words(rng, 30) for _ in range(5))


def copy_of(origin: int, round_: int) -> tuple[str, tuple[str, ...]]:
    """A syndicated copy: another title; the same text, with a dateline for odd origins."""
    _, paragraphs = story(origin, round_)
    title = _words(random.Random(zlib.crc32(f"copy/{origin}/{round_}".encode())), 6)
    if origin % 2:
        paragraphs = (f"{DATELINE} {paragraphs[0]}", *paragraphs[1:])
    return title, paragraphs


def sources(copier: int) -> range:
    return range(copier * SOURCES_PER_COPIER, (copier + 1) * SOURCES_PER_COPIER)


def _item(guid: str, title: str, link: str, round_: int, paragraphs: tuple[str, ...]) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    date = format_datetime(BASE + timedelta(hours=round_), usegmt=True)
    return (
        f"<item><title>{title}</title><link>{link}</link><guid>{guid}</guid>"
        f"<pubDate>{date}</pubDate><description><![CDATA[{body}]]></description></item>"
    )


def _rss(name: str, items: list[str]) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{name}</title><link>https://{name}.example/</link>{''.join(items)}</channel></rss>"
    ).encode()


def _window(version: int) -> range:
    """The rounds a feed lists at ``version``: the three newest."""
    return range(version, max(0, version - 2) - 1, -1)


@functools.cache
def origin_feed(origin: int, version: int) -> bytes:
    items = []
    for r in _window(version):
        title, paragraphs = story(origin, r)
        items.append(
            _item(f"o{origin}-{r}", title, f"https://o{origin}.example/{r}", r, paragraphs)
        )
    return _rss(f"o{origin}", items)


@functools.cache
def copier_feed(copier: int, version: int) -> bytes:
    items = []
    for r in _window(version):
        for origin in sources(copier):
            title, paragraphs = copy_of(origin, r)
            link = f"https://c{copier}.example/{origin}/{r}"
            items.append(_item(f"c{copier}-{origin}-{r}", title, link, r, paragraphs))
    return _rss(f"c{copier}", items)


@dataclass(frozen=True)
class Paced:
    """Answers after ``DELAY``, and not at all while ``gate`` is clear (until the client
    leaves); ``waiting`` names the paths whose requests are held at the gate."""

    inner: Behaviour
    gate: threading.Event
    waiting: set[str]

    def serve(self, handler: FeedHandler) -> None:
        path = handler.path
        try:
            while not self.gate.is_set():
                self.waiting.add(path)
                if not handler.wait_while_connected(0.01):
                    return
        finally:
            self.waiting.discard(path)
        if handler.wait_while_connected(DELAY):
            self.inner.serve(handler)


class Web:
    """The 20 hosts and their 200 feeds, and the round each group of feeds publishes now."""

    def __init__(self) -> None:
        self.started: float | None = None
        """When the rounds began (``time.time()``); before that every feed is at round 0."""
        self.final = False
        """Every feed at round ``ROUNDS + 1``."""
        self.servers = [FeedServer(f"127.0.0.{h + 2}") for h in range(HOSTS)]
        self.gates = [threading.Event() for _ in range(HOSTS)]
        self.waiting: set[str] = set()
        self.feeds: dict[str, str] = {}  # name -> URL
        self.host_of: dict[str, int] = {}
        for gate in self.gates:
            gate.set()

    def start(self) -> None:
        for server in self.servers:
            server.start()
        names = [f"o{i:03d}" for i in range(ORIGINS)] + [f"c{j:02d}" for j in range(COPIERS)]
        for k, name in enumerate(names):
            host = k % HOSTS
            index = int(name[1:])
            render: Callable[[int], bytes] = functools.partial(
                origin_feed if name[0] == "o" else copier_feed, index
            )
            group = index // SOURCES_PER_COPIER if name[0] == "o" else index
            version = functools.partial(self.version, group)
            behaviour = Paced(Evolving(render, version), self.gates[host], self.waiting)
            self.feeds[name] = self.servers[host].route(f"/{name}", behaviour)
            self.host_of[name] = host

    def version(self, group: int) -> int:
        """The round published now by the feeds of ``group`` (a copier and its sources, which
        switch at the same moment). A round follows the previous one after ``ROUND`` seconds,
        each group's ``ROUND / COPIERS`` after the group before: new stories appear all the time,
        as on the web, not in 200 feeds at once."""
        if self.final:
            return ROUNDS + 1
        if self.started is None:
            return 0
        elapsed = time.time() - self.started - group * ROUND / COPIERS
        return max(0, min(ROUNDS, int(elapsed // ROUND)))

    def stop(self) -> None:
        for gate in self.gates:
            gate.set()
        for server in self.servers:
            server.stop()

    def arrivals(self) -> dict[str, list[float]]:
        """Every feed's request arrival times, in order."""
        found: dict[str, list[float]] = {name: [] for name in self.feeds}
        for server in self.servers:
            for exchange in list(server.exchanges):
                found[exchange.path[1:]].append(exchange.arrived)
        return {name: sorted(times) for name, times in found.items()}

    def exchanges(self, host: int) -> list[Exchange]:
        return sorted(self.servers[host].exchanges, key=lambda e: e.arrived)


# -- the daemons ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Daemon:
    proc: subprocess.Popen[str]
    port: int
    log: TextIO
    log_path: Path

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def status(self) -> dict[str, Any]:
        code, body = self.get("/status")
        assert code == 200, body
        return dict(json.loads(body))

    def owner(self) -> str:
        return str(self.status()["daemon"]["owner"])


def write_config(path: Path, db: str, port: int, feeds: dict[str, str]) -> None:
    lines = [
        f'[store]\ndb = "{db}"',
        f'[http]\nallow_networks = ["127.0.0.0/8"]\nconnect_timeout = 1.0\nread_timeout = {DEADLINE}'
        f"\ndeadline = {DEADLINE}\nmax_connections = 10\nper_host = 1",
        f"[daemon]\nmin_interval = {INTERVAL}\nmax_interval = {INTERVAL}"
        f"\nbackoff_base = {INTERVAL}\njitter = {JITTER}\nlease_seconds = {LEASE}"
        f'\nstop_timeout = 3.0\nper_feed_metrics = false\nhealth_address = "127.0.0.1:{port}"',
        '[web]\naddress = ""',
    ]
    lines += [f'[[feeds]]\nname = "{name}"\nurl = "{url}"' for name, url in feeds.items()]
    path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")


def start_daemon(tmp_path: Path, index: int, db: str, feeds: dict[str, str]) -> Daemon:
    port = free_port()
    config, log = tmp_path / f"ingest{index}.toml", tmp_path / f"daemon{index}.log"
    write_config(config, db, port, feeds)
    env = {k: v for k, v in os.environ.items() if k not in ("INGEST_DB", "NOTIFY_SOCKET")}
    handle = log.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest", "--config", str(config), "run"],
        stdout=subprocess.DEVNULL,
        stderr=handle,
        env=env,
        text=True,
    )
    return Daemon(proc, port, handle, log)


def wait_for(predicate: Callable[[], object], timeout: float, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, AssertionError, urllib.error.URLError):
            if predicate():
                return True
        time.sleep(every)
    return False


@pytest.fixture
def web() -> Iterator[Web]:
    web = Web()
    web.start()
    try:
        yield web
    finally:
        web.stop()


@pytest.fixture
def daemons(tmp_path: Path, pg_url: str, web: Web) -> Iterator[list[Daemon]]:
    started = [start_daemon(tmp_path, i, pg_url, web.feeds) for i in range(3)]
    try:
        yield started
    finally:
        for daemon in started:
            if daemon.proc.poll() is None:
                daemon.proc.kill()
                daemon.proc.wait()
            daemon.log.close()


def logs(daemons: list[Daemon]) -> str:
    return "\n".join(d.log_path.read_text()[-3000:] for d in daemons)


# -- the store ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lease:
    feed: str
    host: int
    owner: str
    until: float


def live_leases(conn: Any, web: Web) -> list[Lease]:
    by_url = {url: name for name, url in web.feeds.items()}
    rows = conn.execute(
        "SELECT url, lease_owner, lease_until FROM feeds WHERE lease_until > now()"
    ).fetchall()
    return [
        Lease(by_url[url], web.host_of[by_url[url]], owner, until.timestamp())
        for url, owner, until in rows
    ]


# -- the test -------------------------------------------------------------------------------


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def test_three_daemons_share_feeds_dedupe_and_survive_a_sigkill(
    web: Web, daemons: list[Daemon], pg_url: str
) -> None:
    import psycopg

    t_begin = time.time()

    def ready() -> bool:
        return all(d.proc.poll() is None and d.get("/readyz")[0] == 200 for d in daemons)

    assert wait_for(ready, 20), logs(daemons)
    t_ready = time.time()
    owners = [d.owner() for d in daemons]
    assert len(set(owners)) == 3

    # Phase 1: rounds of stories, the three daemons sharing the work.
    web.started = t_ready
    time.sleep((ROUNDS + 1) * ROUND)
    t_phase1 = time.time()
    phase1 = {n: [t for t in ts if t < t_phase1] for n, ts in web.arrivals().items()}

    # Phase 2: hold the answers of a few hosts, so that daemons hold leases on their feeds
    # (whose requests have arrived); kill a daemon holding two of them, then let the answers go.
    conn = psycopg.connect(pg_url, autocommit=True)
    gated = range(GATED_HOSTS)
    for host in gated:
        web.gates[host].clear()
    by_owner: dict[str, list[str]] = {}

    def a_daemon_holds_two() -> bool:
        by_owner.clear()
        for lease in live_leases(conn, web):
            # Claimed a second before the deadline at least: its fetch cannot give up before
            # the kill.
            fresh = lease.until - LEASE > time.time() - (DEADLINE - 1.0)
            if lease.host in gated and f"/{lease.feed}" in web.waiting and fresh:
                by_owner.setdefault(lease.owner, []).append(lease.feed)
        return max(map(len, by_owner.values()), default=0) >= 2

    assert wait_for(a_daemon_holds_two, 10), logs(daemons)
    victim_owner = max(by_owner, key=lambda o: len(by_owner[o]))
    victim = daemons[owners.index(victim_owner)]
    survivors = [d for d in daemons if d is not victim]
    # The victim's /status shows the feeds it holds and fetches.
    mine = {f["name"]: f for f in victim.status()["feeds"] if f["lease_owner"] == victim_owner}
    assert set(by_owner[victim_owner]) <= set(mine)
    assert all(mine[name]["running"] for name in by_owner[victim_owner])
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(5)
    t_kill = time.time()
    leases = {lease.feed: lease for lease in live_leases(conn, web)}
    held = {name: leases[name] for name in by_owner[victim_owner]}
    assert all(lease.owner == victim_owner for lease in held.values())
    web.final = True
    for host in gated:
        web.gates[host].set()

    # The survivors see who holds the dead daemon's feeds, then take them over once the
    # leases expire.
    seen_holding: set[str] = set()

    def taken_over() -> bool:
        for daemon in survivors:
            for feed in daemon.status()["feeds"]:
                if feed["name"] in held and feed["lease_owner"] == victim_owner:
                    seen_holding.add(feed["name"])
        arrivals = web.arrivals()
        return all(any(t > t_kill for t in arrivals[name]) for name in held)

    assert wait_for(taken_over, LEASE + RETRY + 5, every=0.2), logs(survivors)
    t_taken = time.time()
    assert seen_holding, "no survivor's /status showed the dead daemon's leases"
    # Every feed keeps being fetched (and the last round is stored).
    store = open_store(pg_url)

    def all_fetched_again() -> bool:
        arrivals = web.arrivals()
        return all(any(t > t_taken for t in arrivals[name]) for name in web.feeds)

    try:
        assert wait_for(all_fetched_again, LONGEST + RETRY, every=0.2), logs(survivors)
        for daemon in survivors:
            daemon.proc.send_signal(signal.SIGTERM)
        for daemon in survivors:
            assert daemon.proc.wait(10) == 0
        t_end = time.time()
        rows = list(store.articles(duplicates=True))
        integrity = store.integrity_check()
    finally:
        store.close()
        conn.close()

    arrivals = web.arrivals()
    report = {
        "feeds": len(arrivals),
        "fetches": sum(map(len, arrivals.values())),
        "min_gap": min(g for ts in arrivals.values() for g in gaps(ts)),
        "phase1_gaps": quantiles([g for ts in phase1.values() for g in gaps(ts)]),
        "takeover": {n: round(arrivals_after(arrivals[n], t_kill) - t_kill, 2) for n in held},
        "lease_left": {n: round(held[n].until - t_kill, 2) for n in held},
        "run_s": round(t_end - t_begin, 1),
    }
    print(json.dumps(report))

    # Every feed was fetched, and on schedule, from the start (the daemons spread their first
    # round over min_interval) to the end of the first phase. A fetch may be late (a busy host,
    # a busy machine), but never by a whole min_interval.
    for name, times in phase1.items():
        assert max(gaps([t_ready, *times, t_phase1])) < LONGEST + INTERVAL, (name, t_ready, times)
    # No feed fetched twice in one interval, over the whole run (the kill included).
    for name, times in arrivals.items():
        assert min(gaps(times)) >= INTERVAL, (name, gaps(times))
    # Per-host politeness across the daemons: one request at a time per host.
    for host in range(HOSTS):
        busy_until = 0.0
        for exchange in web.exchanges(host):
            assert exchange.arrived >= busy_until, (host, exchange)
            busy_until = max(busy_until, exchange.answered)
    # The dead daemon's feeds: not fetched before its lease expired, soon after.
    for name, lease in held.items():
        first = arrivals_after(arrivals[name], t_kill)
        assert lease.until <= first < lease.until + RETRY + 1.0, (name, lease, first)

    # Every story stored once as canonical, its copy a link record to it.
    assert integrity == "ok"
    by_guid = {row.guid: row for row in rows}
    assert len(by_guid) == len(rows)
    stories = ROUNDS + 2  # rounds 0 .. ROUNDS + 1
    assert len(rows) == 2 * ORIGINS * stories
    copies_won = 0
    for copier in range(COPIERS):
        for origin in sources(copier):
            for r in range(stories):
                original, copy = by_guid[f"o{origin}-{r}"], by_guid[f"c{copier}-{origin}-{r}"]
                canonical, link = (original, copy) if copy.duplicate_of else (copy, original)
                copies_won += canonical is copy
                assert canonical.duplicate_of is None, (original, copy)
                assert link.duplicate_of == canonical.id, (original, copy)
                assert link.dup_rule == ("simhash" if origin % 2 else "text")
                assert canonical.paragraphs and link.paragraphs  # both keep their text
    print(json.dumps({"canonical copies": copies_won, "stories": ORIGINS * stories}))


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        f"p{q}": round(ordered[min(len(ordered) - 1, len(ordered) * q // 100)], 2)
        for q in (0, 50, 90, 99, 100)
    }


def arrivals_after(times: list[float], moment: float) -> float:
    return min(t for t in times if t > moment)
