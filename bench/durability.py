"""Kill -9 the real ``ingest run`` daemon again and again during heavy ingestion, restart it,
and check what the store kept (issue 6; HOSTILE.md 26, 27 and 33).

::

    farm:   F feeds on a local feed server, each growing by ``step`` items every ``period``
            seconds of daemon uptime; every 5th item is a wire story that every feed carries
            (same text, its own GUID and link): one canonical row, the others link records
    a life: start ``ingest run`` -> wait for its first logged fetch -> SIGKILL at a random
            moment, taken while a fetched feed version is not committed yet (when one comes
            within 3 s) -> audit the store
    audit:  integrity check ok; every item the log acknowledged (``event=fetch`` ``new`` +
            ``duplicates``) is stored; no (feed, GUID) twice and no story with two canonical
            rows; each feed's article counters equal its rows (same transaction); every
            row has its change number (the other writers' indexes follow it); the items of the version named by a feed's
            stored ETag are all stored (an ETag without its items would turn into a 304 and
            lose them for good)
    end:    publish everything, start the daemon once more: its next cycles must store every
            published item within --catch-up seconds; SIGTERM -> exit 0. If it does not, one
            ``ingest fetch`` cycle (no leases) follows, telling a stalled daemon from lost data;
            a final audit checks every published item is stored exactly once

A killed daemon's leases outlive it and block its feeds, and count against ``per_host``,
until they expire (``[daemon] lease_seconds``, default ``http.deadline`` + 120 s; see
tests/test_durability.py). Lives here last a few seconds, so the run configures
``lease_seconds = 4`` (``--lease-seconds``; 0 keeps the daemon's default), a 3 s fetch
deadline and ``per_host = 64`` (``--per-host``).

Usage (from the repository root)::

    .venv/bin/python bench/durability.py --kills 20 --backend both
    .venv/bin/python bench/durability.py --kills 20 --backend postgresql --pg postgresql://...

``--pg`` names an existing database (default postgresql://postgres@127.0.0.1:5432/test); a
fresh schema is created in it for the run and dropped afterwards. Exit status 1 when any
audit found a problem. tests/test_durability.py runs this harness with a few kills per backend.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import random
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feedserver import Evolving, FeedServer

from ingest.fingerprint import from_signed64
from ingest.store import open_store, sqlite_path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
BASE = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"

# --- what the server publishes ------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def story(key: str, paragraphs: int = 2, words: int = 24) -> tuple[str, ...]:
    """Distinct paragraphs of pseudo-Arabic words for ``key``: no two keys are near-duplicates."""
    rng = random.Random(zlib.crc32(key.encode()))

    def word() -> str:
        return "".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 7)))

    return tuple(" ".join(word() for _ in range(words)) for _ in range(paragraphs))


@functools.lru_cache(maxsize=65536)
def item_xml(feed: str, n: int, story_key: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in story(story_key))
    date = format_datetime(BASE + timedelta(minutes=n), usegmt=True)
    return (
        f"<item><title>{feed} {n}</title><link>https://{feed}.example/{n}</link>"
        f"<guid>{feed}-{n}</guid><pubDate>{date}</pubDate>"
        f"<description><![CDATA[{body}]]></description></item>"
    )


def rss(feed: str, items: Sequence[tuple[int, str]]) -> bytes:
    """An RSS 2.0 document with ``items`` given as (number, story key), newest first."""
    entries = "".join(item_xml(feed, n, key) for n, key in reversed(items))
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{feed}</title><link>https://{feed}.example/</link>{entries}</channel></rss>"
    ).encode()


@dataclass(frozen=True)
class FarmSpec:
    feeds: int = 24
    first: int = 6
    """Items each feed has at version 0."""
    step: int = 3
    """Items added per version."""
    versions: int = 20
    """The last version: a feed ends with ``first + step * versions`` items."""
    period: float = 0.3
    """Seconds of daemon uptime per version."""
    wire_every: int = 5
    """Every ``wire_every``-th item of each feed is the same wire story in every feed."""


class Farm:
    """Growing feeds on a ``FeedServer``: the version advances only between ``resume()`` and
    ``pause()`` (while a daemon is up), so every life of the daemon sees new items whatever
    its restarts cost."""

    def __init__(self, spec: FarmSpec, server: FeedServer) -> None:
        self.spec = spec
        self.server = server
        self.names = [f"f{i:03d}" for i in range(spec.feeds)]
        self.routes: dict[str, Evolving] = {}
        self._uptime = 0.0
        self._since: float | None = None
        self._final: int | None = None
        for name in self.names:
            route = Evolving(functools.partial(self.render, name), self.version)
            self.routes[name] = route
            server.route(f"/{name}", route)

    @property
    def urls(self) -> dict[str, str]:
        return {name: self.server.url(f"/{name}") for name in self.names}

    def resume(self) -> None:
        if self._since is None:
            self._since = time.monotonic()

    def pause(self) -> None:
        if self._since is not None:
            self._uptime += time.monotonic() - self._since
            self._since = None

    def finish(self, at: int | None = None) -> int:
        """Publish version ``at`` (default: the last) from now on; return it."""
        self._final = self.spec.versions if at is None else at
        return self._final

    def version(self) -> int:
        if self._final is not None:
            return self._final
        uptime = self._uptime + (time.monotonic() - self._since if self._since else 0.0)
        return min(self.spec.versions, int(uptime / self.spec.period))

    def story_key(self, feed: str, n: int) -> str:
        wire = self.spec.wire_every
        return f"wire/{n // wire}" if n % wire == wire - 1 else f"{feed}/{n}"

    def items(self, feed: str, version: int) -> list[tuple[int, str]]:
        count = self.spec.first + self.spec.step * version
        return [(n, self.story_key(feed, n)) for n in range(count)]

    def guids(self, feed: str, version: int) -> set[str]:
        return {f"{feed}-{n}" for n, _ in self.items(feed, version)}

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one farm per run, freed with it
    def render(self, feed: str, version: int) -> bytes:
        return rss(feed, self.items(feed, version))

    def served(self, feed: str) -> int:
        """The newest version of ``feed`` sent with a 200, -1 before any."""
        return max(self.routes[feed].served, default=-1)

    def published(self) -> dict[str, set[str]]:
        """Every item sent to the daemon so far, by feed (the feeds only grow)."""
        return {name: self.guids(name, v) for name in self.names if (v := self.served(name)) >= 0}


# --- the store as the audit sees it ------------------------------------------------------


class Catalogue(Protocol):
    """What a farm published, as the audit needs it."""

    def story_key(self, feed: str, n: int) -> str:
        """The story item ``n`` of ``feed`` tells (shared by the copies of a wire story)."""
        ...

    def guids(self, feed: str, version: int) -> set[str]:
        """The GUIDs in ``version`` of ``feed``."""
        ...

    def published(self) -> dict[str, set[str]]:
        """Every GUID sent to the daemon, by feed."""
        ...


@dataclass(frozen=True)
class Row:
    id: int
    feed: str
    guid: str
    duplicate_of: int | None
    simhash: int


@dataclass(frozen=True)
class FeedState:
    etag: str | None
    articles: int
    duplicates: int
    lease_owner: str | None


@dataclass
class Snapshot:
    rows: list[Row]
    feeds: dict[str, FeedState]
    seqs: dict[int, int]
    integrity: str


def connect(db: str) -> Any:
    """A DB-API connection to the store (sqlite3 or psycopg), for reading."""
    path = sqlite_path(db)
    if path is not None:
        return contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10))
    import psycopg

    return psycopg.connect(db, autocommit=True)


def integrity(db: str) -> str:
    """``ok`` or what is wrong: SQLite's page-level check and foreign keys, or the PostgreSQL
    store's invariants."""
    path = sqlite_path(db)
    if path is None:
        store = open_store(db)
        try:
            return str(store.integrity_check())
        finally:
            store.close()
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as c:
        result = "; ".join(str(r[0]) for r in c.execute("PRAGMA integrity_check"))
        broken = c.execute("PRAGMA foreign_key_check").fetchall()
    return result if not broken else f"{result}; {len(broken)} broken foreign keys"


def snapshot(db: str) -> Snapshot:
    with connect(db) as c:
        tables = _tables(c, sqlite_path(db) is not None)
        if "articles" not in tables:  # killed before the first migration committed
            return Snapshot([], {}, {}, integrity(db))
        rows = [
            Row(r[0], r[1], r[2], r[3], from_signed64(r[4]))
            for r in c.execute(
                "SELECT a.id, f.name, a.guid, a.duplicate_of, a.simhash "
                "FROM articles a JOIN feeds f ON f.id = a.feed_id"
            ).fetchall()
        ]
        feeds = {
            r[0]: FeedState(r[1], r[2], r[3], r[4])
            for r in c.execute(
                "SELECT name, etag, articles, duplicates, lease_owner FROM feeds"
            ).fetchall()
        }
        seqs = dict(c.execute("SELECT id, seq FROM articles").fetchall())
    return Snapshot(rows, feeds, seqs, integrity(db))


def _tables(c: Any, is_sqlite: bool) -> set[str]:
    sql = (
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        if is_sqlite
        else "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    )
    return {r[0] for r in c.execute(sql).fetchall()}


@dataclass
class Audit:
    stored: int = 0
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    inconsistent: int = 0
    """Rows or feed state that do not agree: counters, change numbers, an ETag without its
    items."""
    unstored: int = 0
    """Published items not stored (only counted by the final audit)."""
    integrity: str = "ok"
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def audit(snap: Snapshot, farm: Catalogue, acknowledged: dict[str, int], *, final: bool) -> Audit:
    """Check ``snap`` against what the farm published and the log acknowledged."""
    result = Audit(stored=len(snap.rows), acknowledged=sum(acknowledged.values()))
    result.integrity = snap.integrity
    if snap.integrity != "ok":
        result.problems.append(f"integrity: {snap.integrity}")
    by_feed: dict[str, set[str]] = defaultdict(set)
    by_id = {row.id: row for row in snap.rows}
    for (feed, guid), count in Counter((r.feed, r.guid) for r in snap.rows).items():
        by_feed[feed].add(guid)
        if count > 1:
            result.duplicated += count - 1
            result.problems.append(f"{feed} {guid} stored {count} times")
    story = {row.id: farm.story_key(row.feed, int(row.guid.rsplit("-", 1)[1])) for row in snap.rows}
    canonical = Counter(story[r.id] for r in snap.rows if r.duplicate_of is None)
    for key, count in canonical.items():
        if count > 1:
            result.duplicated += count - 1
            result.problems.append(f"story {key} has {count} canonical rows")
    for row in snap.rows:
        if snap.seqs.get(row.id, 0) <= 0:
            result.inconsistent += 1
            result.problems.append(f"{row.feed} {row.guid}: no change number")
        target = by_id.get(row.duplicate_of) if row.duplicate_of is not None else None
        if row.duplicate_of is not None and (target is None or story[target.id] != story[row.id]):
            result.problems.append(f"{row.feed} {row.guid}: linked to {row.duplicate_of}")
            result.inconsistent += 1
    for feed, state in snap.feeds.items():
        rows = len(by_feed.get(feed, ()))
        if state.articles + state.duplicates != rows:
            result.inconsistent += 1
            result.problems.append(
                f"{feed}: counters say {state.articles}+{state.duplicates}, {rows} rows"
            )
        if state.etag:
            missing = farm.guids(feed, int(state.etag.strip('"v'))) - by_feed.get(feed, set())
            if missing:
                result.inconsistent += len(missing)
                result.problems.append(f"{feed}: ETag {state.etag} stored without {len(missing)}")
    for feed, count in acknowledged.items():
        short = count - len(by_feed.get(feed, ()))
        if short > 0:
            result.lost += short
            result.problems.append(f"{feed}: {count} acknowledged, {count - short} stored")
    if final:
        for feed, guids in farm.published().items():
            missing = guids - by_feed.get(feed, set())
            if missing:
                result.unstored += len(missing)
                result.problems.append(f"{feed}: {len(missing)} published items not stored")
    return result


# --- the daemon ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(
    path: Path,
    db: str,
    port: int,
    feeds: dict[str, str],
    *,
    http: dict[str, Any] | None = None,
    daemon: dict[str, Any] | None = None,
) -> None:
    """A TOML configuration for ``ingest run`` against the local servers, fast intervals."""
    http_keys: dict[str, Any] = {
        "allow_networks": ["127.0.0.0/8"],
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
        "deadline": 5.0,
        "max_connections": 8,
        "per_host": 8,
        **(http or {}),
    }
    daemon_keys: dict[str, Any] = {
        "min_interval": 0.2,
        "max_interval": 1.0,
        "backoff_base": 0.2,
        "jitter": 0.2,
        "stop_timeout": 5.0,
        "health_address": f"127.0.0.1:{port}",
        "per_feed_metrics": False,
        **(daemon or {}),
    }
    lines = [f"[store]\ndb = {json.dumps(db)}", "[http]", *_toml(http_keys), "[daemon]"]
    lines += _toml(daemon_keys)
    lines.append('[web]\naddress = ""')
    for name, url in feeds.items():
        lines.append(f"[[feeds]]\nname = {json.dumps(name)}\nurl = {json.dumps(url)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _toml(keys: dict[str, Any]) -> list[str]:
    # JSON spells strings, numbers, booleans and lists of strings the way TOML does.
    return [f"{key} = {json.dumps(value)}" for key, value in keys.items()]


class Daemon:
    """One ``ingest run`` process, logging JSON lines to ``log``; ``launcher`` replaces
    ``-m ingest`` (a script taking the same arguments, e.g. one that installs a fault hook)."""

    def __init__(
        self,
        config: Path,
        log: Path,
        port: int,
        *,
        env: dict[str, str] | None = None,
        launcher: Path | None = None,
    ) -> None:
        self.log_path = log
        self.port = port
        environ = {k: v for k, v in os.environ.items() if k not in ("INGEST_DB", "INGEST_CONFIG")}
        environ.pop("NOTIFY_SOCKET", None)
        program = [str(launcher)] if launcher else ["-m", "ingest"]
        with log.open("w") as handle:
            self.proc = subprocess.Popen(
                [sys.executable, *program, "--config", str(config), "run", "--log-json"],
                stdout=subprocess.DEVNULL,
                stderr=handle,
                env={**environ, **(env or {})},
                cwd=ROOT,
            )

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.alive():
            self.kill()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, str]:
        """Status and body of a health endpoint; (0, error) when nothing answers."""
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except (OSError, urllib.error.URLError) as exc:
            return 0, str(exc)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and (name is None or record.get("event") == name):
                    found.append(record)
        return found

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM; the exit code (killed and -9 after ``timeout``)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9


def wait_for(predicate: Callable[[], bool], timeout: float, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def acknowledged(daemons: Sequence[Daemon]) -> dict[str, int]:
    """Rows each feed's logged fetches reported written (new canonical + link records)."""
    counts: Counter[str] = Counter()
    for daemon in daemons:
        for record in daemon.events("fetch"):
            if record.get("status") == "ok":
                counts[record["feed"]] += int(record.get("new", 0)) + int(
                    record.get("duplicates", 0)
                )
    return dict(counts)


# --- a run --------------------------------------------------------------------------------


@dataclass
class Kill:
    life: int
    after_s: float
    """Seconds after the daemon started."""
    in_flight: int
    """Feeds whose newest served version was not committed: ingestion cut short."""
    stale_leases: int
    """Feeds still leased by a killed daemon."""
    audit: Audit


@dataclass
class Result:
    backend: str
    kills: list[Kill]
    final: Audit
    caught_up: bool | None
    """Whether the restarted daemon stored every published item on its own (None: not tried)."""
    catch_up_s: float
    exit_code: int | None
    """The final daemon's exit code on SIGTERM."""
    seconds: float
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def stale_leases(snap: Snapshot, daemons: Sequence[Daemon]) -> int:
    dead = {f":{d.pid}:" for d in daemons if not d.alive()}
    return sum(any(pid in (s.lease_owner or "") for pid in dead) for s in snap.feeds.values())


def fetch_once(config: Path, log: Path) -> dict[str, int]:
    """One clean cycle with ``ingest fetch`` (no leases): rows written per feed."""
    environ = {k: v for k, v in os.environ.items() if k not in ("INGEST_DB", "INGEST_CONFIG")}
    with log.open("w") as err:
        done = subprocess.run(
            [sys.executable, "-m", "ingest", "--config", str(config), "fetch", "--json"],
            stdout=subprocess.PIPE,
            stderr=err,
            env=environ,
            cwd=ROOT,
            check=False,
            timeout=600,
        )
    written: Counter[str] = Counter()
    if done.returncode not in (0, 1):  # 1: a feed failed, reported per feed below
        tail = log.read_text(errors="replace").strip().splitlines()[-1:]
        written[f"error: ingest fetch exited {done.returncode}: {' '.join(tail)}"] += 1
    for line in done.stdout.decode().splitlines():
        record = json.loads(line)
        if record.get("status") == "ok":
            written[record["feed"]] += sum(
                int(record.get(key) or 0) for key in ("new", "near_duplicates", "exact_duplicates")
            )
        elif record.get("status") == "error":
            written[f"error: {record['feed']}: {record.get('error_code')}"] += 1
    return dict(written)


def run(
    db: str,
    workdir: Path,
    *,
    kills: int,
    spec: FarmSpec,
    rng: random.Random,
    max_delay: float = 1.5,
    catch_up: float | None = 30.0,
    http: dict[str, Any] | None = None,
    daemon: dict[str, Any] | None = None,
    backend: str = "",
    progress: TextIO | None = None,
) -> Result:
    """Start, kill and restart the daemon ``kills`` times, auditing the store after each kill;
    then publish the rest and give a restarted daemon ``catch_up`` seconds to store it all.
    When it does not (or ``catch_up`` is None), one ``ingest fetch`` cycle (no leases) follows,
    so that a stalled daemon is told apart from lost data. ``http`` and ``daemon`` override
    the configuration's sections; a final audit ends the run."""
    started = time.monotonic()
    problems: list[str] = []
    done: list[Kill] = []
    daemons: list[Daemon] = []
    config = workdir / "ingest.toml"
    with FeedServer() as server, contextlib.ExitStack() as cleanup:
        farm = Farm(spec, server)

        def life(number: int) -> Daemon:
            port = free_port()
            write_config(config, db, port, farm.urls, http=http, daemon=daemon)
            process = Daemon(config, workdir / f"life-{number:03d}.log", port)
            daemons.append(cleanup.enter_context(process))
            farm.resume()
            return process

        for number in range(kills):
            current = life(number)
            t0 = time.monotonic()
            # Mid-ingestion: after the first feed of this life was stored, at a random moment.
            served = {f: farm.served(f) for f in farm.names}
            if not wait_for(functools.partial(working, current), 60):
                problems.append(f"life {number}: no fetch within 60 s")
            if not current.alive():
                problems.append(f"life {number}: exited early: {current.log_path.read_text()}")
            time.sleep(rng.uniform(0, max_delay))
            # ... and while a feed's fetched version is not committed yet, if that comes soon.
            wait_for(functools.partial(fetched_not_stored, db, farm, served), 3.0, every=0.01)
            current.kill()
            after = time.monotonic() - t0
            farm.pause()
            snap = snapshot(db)
            result = audit(snap, farm, acknowledged(daemons), final=False)
            cut = in_flight(snap, farm, served)
            done.append(Kill(number, after, cut, stale_leases(snap, daemons), result))
            problems += [f"kill {number}: {p}" for p in result.problems]
            if progress:
                print(
                    f"  kill {number + 1:>2}/{kills} at {after:4.1f} s: {result.stored:>5} stored, "
                    f"{result.acknowledged:>5} acknowledged, {done[-1].in_flight:>2} feeds in "
                    f"flight, {done[-1].stale_leases:>2} stale leases, integrity "
                    f"{result.integrity}, {len(result.problems)} problems",
                    file=progress,
                    flush=True,
                )
        farm.finish()
        expected = {f: farm.guids(f, spec.versions) for f in farm.names}
        caught_up, catch_up_s, exit_code = None, 0.0, None
        if catch_up is not None:
            current = life(kills)
            t0 = time.monotonic()
            caught_up = wait_for(lambda: stored_all(db, expected), catch_up, every=0.25)
            catch_up_s = time.monotonic() - t0
            if not caught_up:
                problems.append(
                    f"restart: the daemon did not store every published item within "
                    f"{catch_up:.0f} s; {stale_leases(snapshot(db), daemons)} feeds leased by "
                    "killed daemons"
                )
            # Stop it once it is up (a stop during its start is another test: HOSTILE 35).
            wait_for(lambda: bool(current.events("ready")) or not current.alive(), 30)
            exit_code = current.stop()
            if exit_code != 0:
                problems.append(f"restart: SIGTERM gave exit code {exit_code}")
        written: dict[str, int] = {}
        if not caught_up:
            written = fetch_once(config, workdir / "fetch.log")
            problems += [f"clean cycle: {key}" for key in written if key.startswith("error: ")]
            if progress:
                print(f"  clean cycle: {sum(written.values())} rows written", file=progress)
        ack = Counter(acknowledged(daemons))
        ack.update({k: v for k, v in written.items() if not k.startswith("error: ")})
        final = audit(snapshot(db), farm, dict(ack), final=True)
        problems += [f"final: {p}" for p in final.problems]
    seconds = time.monotonic() - started
    return Result(backend, done, final, caught_up, catch_up_s, exit_code, seconds, problems)


def fetched_not_stored(db: str, farm: Farm, before: dict[str, int]) -> bool:
    """Whether a feed was sent a version newer than ``before`` and than its stored ETag."""
    try:
        with connect(db) as c:
            etags = dict(c.execute("SELECT name, etag FROM feeds").fetchall())
    except Exception:  # no feeds table yet, or a busy moment: not now
        return False
    return any(
        before.get(f, -1) < farm.served(f) > int((etags.get(f) or '"v-1"').strip('"v'))
        for f in farm.names
    )


def working(daemon: Daemon) -> bool:
    """The daemon logged a fetch, or is gone."""
    return bool(daemon.events("fetch")) or not daemon.alive()


def in_flight(snap: Snapshot, farm: Farm, before: dict[str, int] | None = None) -> int:
    """Feeds sent a newer version than their stored ETag names (since ``before``, the newest
    versions served when the life started): fetched, not committed."""
    stored = {f: int(s.etag.strip('"v')) if s.etag else -1 for f, s in snap.feeds.items()}
    start = before or {}
    return sum(start.get(f, -1) < farm.served(f) > stored.get(f, -1) for f in farm.names)


def stored_all(db: str, expected: dict[str, set[str]]) -> bool:
    """Whether every expected (feed, GUID) is stored."""
    with connect(db) as c:
        if "articles" not in _tables(c, sqlite_path(db) is not None):
            return False
        rows = c.execute(
            "SELECT f.name, a.guid FROM articles a JOIN feeds f ON f.id = a.feed_id"
        ).fetchall()
    have: dict[str, set[str]] = defaultdict(set)
    for feed, guid in rows:
        have[feed].add(guid)
    return all(guids <= have[feed] for feed, guids in expected.items())


# --- PostgreSQL scratch schema ------------------------------------------------------------


@contextlib.contextmanager
def pg_schema(url: str) -> Iterator[str]:
    """A fresh schema in the database ``url`` names, dropped afterwards; yields its URL."""
    import psycopg

    schema = f"durability_{secrets.token_hex(5)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


# --- the command --------------------------------------------------------------------------


def table(results: Sequence[Result]) -> str:
    head = (
        "| backend | kills | kills with a feed in flight | acknowledged items | stored "
        "| lost | duplicated | inconsistent | integrity | restarted daemon caught up "
        "| published, not stored after a clean cycle | time |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        audits = [k.audit for k in r.kills] + [r.final]
        ok = sum(a.integrity == "ok" for a in audits)
        caught = (
            "not tried"
            if r.caught_up is None
            else f"yes, {r.catch_up_s:.1f} s"
            if r.caught_up
            else f"no ({max(k.stale_leases for k in r.kills)} stale leases)"
        )
        lines.append(
            f"| {r.backend} | {len(r.kills)} | {sum(k.in_flight > 0 for k in r.kills)} "
            f"| {r.final.acknowledged} | {r.final.stored} | {max(a.lost for a in audits)} "
            f"| {max(a.duplicated for a in audits)} | {max(a.inconsistent for a in audits)} "
            f"| ok {ok}/{len(audits)} | {caught} | {r.final.unstored} | {r.seconds:.0f} s |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg", default=DEFAULT_PG, help="an existing PostgreSQL database")
    parser.add_argument("--feeds", type=int, default=24)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-delay", type=float, default=1.5, help="kill within N s of work")
    parser.add_argument(
        "--lease-seconds",
        type=float,
        default=4.0,
        help="[daemon] lease_seconds (0: the daemon's default, http.deadline + 120)",
    )
    parser.add_argument("--per-host", type=int, default=64, help="[http] per_host")
    parser.add_argument("--catch-up", type=float, default=90.0, help="seconds for the last life")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else secrets.randbelow(1 << 30)
    # Enough versions that every life of about 1 to 2 s of work sees new items.
    spec = FarmSpec(feeds=args.feeds, versions=max(20, int(args.kills * 1.5 / 0.3) + 10))
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(f"seed {seed}; {spec}", flush=True)
    results = []
    for backend in backends:
        workdir = Path(tempfile.mkdtemp(prefix=f"durability-{backend}-"))
        print(f"{backend}: {args.kills} kills, work in {workdir}", flush=True)
        rng = random.Random(seed)
        options: dict[str, Any] = {
            "kills": args.kills,
            "spec": spec,
            "rng": rng,
            "max_delay": args.max_delay,
            "catch_up": args.catch_up,
            "http": {"per_host": args.per_host, "deadline": 3.0},
            "daemon": {"lease_seconds": args.lease_seconds} if args.lease_seconds else None,
            "backend": backend,
            "progress": sys.stdout,
        }
        if backend == "sqlite":
            results.append(run(f"sqlite:///{workdir / 'ingest.db'}", workdir, **options))
        else:
            with pg_schema(args.pg) as url:
                results.append(run(url, workdir, **options))
        for problem in results[-1].problems[:50]:
            print(f"  PROBLEM {problem}")
        if not args.keep and results[-1].ok:
            for path in sorted(workdir.iterdir()):
                path.unlink()
            workdir.rmdir()
    print()
    print(table(results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
