"""A feed server for the benchmarks: many feeds on many 127.0.x.y host addresses, one process.

Run as ``python bench/bench_server.py SPEC.json``; it prints ``ready <port>`` on stdout once
every listener is bound and serves until SIGTERM, when it writes its request log (feed index,
wall-clock time, status) to ``spec["log"]``. asyncio, HTTP/1.1 with keep-alive, so that one
process on the second core keeps up with the clients under test.

A spec holds the corpus-derived feeds::

    {"port": 0, "log": "/tmp/requests.json", "items": 20,
     "feeds": [{"host": "127.0.1.7", "records": [corpus indices ...], "full": true,
                "gap": 600.0 | null, "seed": 3}, ...]}

A feed with ``gap`` publishes a new item at random (a Poisson process with that mean gap in
seconds, counted from the server's start) and carries its newest ``items`` items, dated when
they were published; earlier items are dated in the past at the same rate. A feed without
``gap`` changes only when ``GET /_control/bump`` (on any host) publishes one more item in
every such feed. Every version has its own ETag and Last-Modified; a conditional GET for the
current version gets a 304. Feed ``i`` is served at ``/feed/<i>`` on its host.
"""

from __future__ import annotations

import asyncio
import bisect
import email.utils
import json
import random
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import item_xml, load_corpus, rss


class Feed:
    def __init__(  # noqa: PLR0917
        self, index: int, spec: dict[str, Any], records: list[dict[str, Any]],
        items: int, start: float, horizon: float,
    ) -> None:  # fmt: skip
        self.index = index
        self.host = spec["host"]
        self.full = bool(spec.get("full", True))
        self.records = [records[i] for i in spec["records"]]
        self.items = items
        self.gap = spec.get("gap")
        self.prefix = f"f{index}-"
        self.bumps = 0
        rng = random.Random(spec.get("seed", index))
        self.past: list[float] = []  # publication times of the items already out at start
        self.future: list[float] = []
        if self.gap:
            t = start
            for _ in range(items):
                t -= rng.expovariate(1 / self.gap)
                self.past.append(t)
            self.past.reverse()
            t = start
            while t < start + horizon:
                t += rng.expovariate(1 / self.gap)
                self.future.append(t)
        else:
            self.past = [start - 3600.0 * (items - k) for k in range(items)]
        self._cache: tuple[int, bytes, str, str] | None = None

    def published(self, now: float) -> int:
        """How many items are out at ``now`` (the version number)."""
        if self.gap:
            return self.items + bisect.bisect_right(self.future, now)
        return self.items + self.bumps

    def _time(self, k: int) -> float:
        if k < self.items:
            return self.past[k]
        if self.gap:
            return self.future[k - self.items]
        return self.past[-1] + 60.0 * (k - self.items + 1)

    def render(self, now: float) -> tuple[int, bytes, str, str]:
        version = self.published(now)
        if self._cache is not None and self._cache[0] == version:
            return self._cache
        newest = range(version - 1, version - 1 - self.items, -1)
        body = rss(
            f"bench feed {self.index}",
            (
                item_xml(
                    self.records[k % len(self.records)],
                    f"{self.prefix}{k}-",
                    date=datetime.fromtimestamp(self._time(k), UTC),
                    full=self.full,
                )
                for k in newest
            ),
            link=f"http://{self.host}/",
        )
        etag = f'"{self.index}-{version}"'
        modified = email.utils.formatdate(self._time(version - 1), usegmt=True)
        self._cache = (version, body, etag, modified)
        return self._cache


class Server:
    def __init__(self, spec: dict[str, Any]) -> None:
        records = load_corpus()
        self.start = time.time()
        horizon = float(spec.get("horizon", 7200))
        items = int(spec.get("items", 50))
        self.feeds = [
            Feed(i, f, records, items, self.start, horizon) for i, f in enumerate(spec["feeds"])
        ]
        self.log: list[tuple[int, float, int]] = []
        self.log_path = spec.get("log")
        self.port = int(spec.get("port", 0))
        self.hosts = sorted({f.host for f in self.feeds} | {"127.0.0.1"})

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                status, extra, body = self.respond(target, headers)
                close = headers.get("connection", "").lower() == "close"
                head_lines = [
                    f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Modified' if status == 304 else 'Not Found'}"
                ]
                head_lines += [f"{k}: {v}" for k, v in extra]
                head_lines.append(f"Content-Length: {len(body)}")
                if close:
                    head_lines.append("Connection: close")
                writer.write(("\r\n".join(head_lines) + "\r\n\r\n").encode("latin-1"))
                if method != "HEAD":
                    writer.write(body)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    def respond(
        self, target: str, headers: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        path = target.split("?", 1)[0]
        if path == "/_control/bump":
            for feed in self.feeds:
                feed.bumps += 1
            return 200, [], b"bumped\n"
        if not path.startswith("/feed/"):
            return 404, [], b"not found\n"
        try:
            feed = self.feeds[int(path[len("/feed/") :])]
        except (ValueError, IndexError):
            return 404, [], b"not found\n"
        now = time.time()
        _, body, etag, modified = feed.render(now)
        validators = [("ETag", etag), ("Last-Modified", modified)]
        match = headers.get("if-none-match")
        fresh = (
            etag in [t.strip() for t in match.split(",")]
            if match
            else (headers.get("if-modified-since") == modified)
        )
        status = 304 if fresh else 200
        self.log.append((feed.index, now, status))
        if fresh:
            return 304, validators, b""
        return 200, [("Content-Type", "application/rss+xml; charset=utf-8"), *validators], body

    async def serve(self) -> None:
        first = await asyncio.start_server(self.handle, "127.0.0.1", self.port, backlog=1024)
        port = first.sockets[0].getsockname()[1]
        servers = [first]
        others = [h for h in self.hosts if h != "127.0.0.1"]
        for start in range(0, len(others), 200):
            servers.append(
                await asyncio.start_server(
                    self.handle, others[start : start + 200], port, backlog=256
                )
            )
        for feed in self.feeds:
            feed.render(time.time())  # render once up front, as a real server caches its feed
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        print(f"ready {port}", flush=True)
        await stop.wait()
        for server in servers:
            server.close()
        if self.log_path:
            Path(self.log_path).write_text(json.dumps({"start": self.start, "log": self.log}))


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    asyncio.run(Server(spec).serve())


if __name__ == "__main__":
    main()
