"""Shared pieces of the speed benchmarks: corpus feeds, timing, memory, load and result rows.

Every benchmark module (``bench_*.py``) can run alone (``.venv/bin/python bench/bench_x.py``)
and prints its own rows; ``run_all.py`` runs each one in a fresh process (so memory and CPU
figures belong to that benchmark only) and prints one table: first the rows that carry an
issue-12 goal (``Row.goal``), then the context rows.

Feeds are built from ``../shared/corpus/ant-multisource.jsonl.gz`` (never copied into the
repository): the corpus articles of one outlet and category, in date order, 50 to a feed, as
RSS 2.0 the way WordPress-like sites publish it: ``description`` holds the RSS summary
(escaped text), ``content:encoded`` the full body with each paragraph wrapped in ``<p>``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import math
import os
import resource
import statistics
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "ant-multisource.jsonl.gz"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
PG_URL = os.environ.get("INGEST_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# --- result rows -----------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table: our figure, the baseline's, their ratio and the target.

    ``goal`` names the issue-12 goal the row measures (``G1`` ... ``G6``; empty for context
    rows); ``load`` is the machine's load average while it was measured (``run_all`` fills it
    in from its own samples; a benchmark run alone fills it from start and end)."""

    section: str
    metric: str
    ours: float | None
    baseline: float | None = None
    unit: str = ""
    baseline_name: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""
    goal: str = ""
    load: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


_STARTED_LOAD = os.getloadavg()[0]


def write_rows(rows: Sequence[Row], extra: dict[str, Any], path: str | None) -> None:
    """Print the rows; with ``path``, also write them (and ``extra``) as JSON for run_all."""
    load = f"{_STARTED_LOAD:.1f} -> {os.getloadavg()[0]:.1f}"
    for row in rows:
        row.load = row.load or load
    extra = {**extra, "load_start_end": load}
    print(format_table([r.as_dict() for r in rows]))
    if path:
        Path(path).write_text(
            json.dumps({"rows": [r.as_dict() for r in rows], "extra": extra}, indent=1),
            encoding="utf-8",
        )


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def format_table(rows: Iterable[dict[str, Any]]) -> str:
    head = ("#", "measure", "ours", "baseline", "ratio", "target", "met", "load", "note")
    lines = []
    for r in rows:
        unit = f" {r['unit']}" if r.get("unit") else ""
        base = "-"
        if r.get("baseline") is not None:
            base = f"{_fmt(r['baseline'])}{unit}"
            if r.get("baseline_name"):
                base += f" ({r['baseline_name']})"
        met = {True: "yes", False: "NO", None: "-"}[r.get("met")]
        ratio_text = "-" if r.get("ratio") is None else f"{r['ratio']:.2f}x"
        ours = "-" if r.get("ours") is None else f"{_fmt(r['ours'])}{unit}"
        section = f"{r['goal']} {r['section']}" if r.get("goal") else r["section"]
        lines.append(
            (section, r["metric"], ours, base, ratio_text, r.get("target", ""), met,
             r.get("load", ""), r.get("note", ""))
        )  # fmt: skip
    widths = [max(len(str(x[i])) for x in [head, *lines]) for i in range(len(head) - 1)]
    out = []
    for line in [head, *lines]:
        cells = [str(c).ljust(w) for c, w in zip(line[:-1], widths, strict=True)]
        out.append(" | ".join(cells) + (f" | {line[-1]}" if line[-1] else ""))
        if line is head:
            out.append("-+-".join("-" * w for w in widths))
    return "\n".join(out)


# --- measuring -------------------------------------------------------------------------


class LoadWatch(threading.Thread):
    """The machine's 1-minute load average every ``every`` seconds while a benchmark runs
    (other sessions share the 2 cores): ``with LoadWatch() as w: ...; w.summary()``."""

    def __init__(self, every: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.samples: list[float] = [os.getloadavg()[0]]
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadWatch:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> str:
        return f"{median(self.samples):.1f} (max {max(self.samples):.1f})"


def cpu_s() -> float:
    """CPU seconds (user + system) of this process, all threads, plus its children that have
    ended (the pipeline's parse workers count once the pipeline has closed them)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def proc_cpu_s(pid: int) -> float:
    """CPU seconds of another live process (utime + stime from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def child_pids(pid: int) -> list[int]:
    """The live child processes of ``pid`` (the daemon's parse workers)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of ``pid``, its ended children (cutime, cstime) and its live children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    total = sum(int(x) for x in fields[11:15]) / ticks
    for child in child_pids(pid):
        try:
            total += proc_cpu_s(child)
        except OSError:
            continue
    return total


def tree_rss_mb(pid: int) -> float:
    """RSS of ``pid`` plus its live children, MB."""
    total = rss_mb(pid)[0]
    for child in child_pids(pid):
        try:
            total += rss_mb(child)[0]
        except OSError:
            continue
    return total


def rss_mb(pid: int | str = "self") -> tuple[float, float]:
    """(current RSS, peak RSS) in MB of a process, from /proc/<pid>/status."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in values:
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def run_process(cmd: list[str], timeout: float = 900, *, keep_err: bool = False) -> dict[str, Any]:
    """Run ``cmd`` to completion from the repository root (without ``INGEST_DB`` and
    ``INGEST_CONFIG``): its wall time, its CPU (user + system, with the children it waited
    for, such as ``ingest``'s parse workers), exit status and output (the last 2,000
    characters of stderr unless ``keep_err``)."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("INGEST_DB", "INGEST_CONFIG")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False, timeout=timeout
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "rc": done.returncode, "out": done.stdout,
            "err": done.stderr if keep_err else done.stderr[-2000:]}  # fmt: skip


class Stopwatch:
    """Wall and CPU time of a block: ``with Stopwatch() as sw: ...; sw.wall, sw.cpu``."""

    def __enter__(self) -> Stopwatch:
        self._wall, self._cpu = time.perf_counter(), cpu_s()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = cpu_s() - self._cpu


# --- corpus feeds ----------------------------------------------------------------------


def have_corpus() -> bool:
    return CORPUS.exists()


def load_corpus() -> list[dict[str, Any]]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def corpus_feeds(records: list[dict[str, Any]], per_feed: int = 50) -> list[list[dict[str, Any]]]:
    """Groups of ``per_feed`` articles of one outlet and category in date order (whole only),
    interleaved so that the first N feeds mix outlets and categories."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        if record.get("body"):
            groups.setdefault((record["source"], record["category"]), []).append(record)
    per_group = []
    for key in sorted(groups):
        items = sorted(groups[key], key=lambda r: r["date"])
        chunks = [items[i : i + per_feed] for i in range(0, len(items), per_feed)]
        per_group.append([c for c in chunks if len(c) == per_feed])
    feeds: list[list[dict[str, Any]]] = []
    for round_ in range(max(len(g) for g in per_group)):
        feeds += [g[round_] for g in per_group if round_ < len(g)]
    return feeds


def item_xml(
    record: dict[str, Any],
    guid_prefix: str = "",
    *,
    date: datetime | None = None,
    full: bool = True,
) -> str:
    """One ``<item>``: the corpus summary as ``description``; with ``full``, the body as
    ``content:encoded`` (each paragraph in ``<p>``, as CDATA). ``date`` replaces the corpus date."""
    content = ""
    if full:
        body = "".join(
            f"<p>{escape(p.strip())}</p>" for p in record["body"].split("\n") if p.strip()
        )
        content = f"<content:encoded><![CDATA[{body.replace(']]>', ']]&gt;')}]]></content:encoded>"
    when = format_datetime(date or datetime.fromisoformat(record["date"]))
    author = f"<dc:creator>{escape(record['author'])}</dc:creator>" if record.get("author") else ""
    link = record["url"] if not guid_prefix else f"{record['url']}?src={guid_prefix}"
    return (
        f"<item><title>{escape(record['title'] or '')}</title>"
        f"<link>{escape(link)}</link>"
        f'<guid isPermaLink="false">{escape(guid_prefix + record["id"])}</guid>'
        f"<pubDate>{when}</pubDate>{author}"
        f"<category>{escape(record['category'])}</category>"
        f"<description>{escape(record['summary'] or '')}</description>{content}</item>"
    )


def rss(
    title: str,
    items: Iterable[str],
    link: str = "https://example.org/",
    *,
    built: datetime | None = None,
) -> bytes:
    """An RSS 2.0 document around already rendered ``<item>`` elements; ``built`` adds a
    ``lastBuildDate`` (what changes in a feed whose items did not)."""
    build = f"<lastBuildDate>{format_datetime(built)}</lastBuildDate>" if built else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>{escape(title)}</title><link>{escape(link)}</link>"
        f"<description>bench feed</description><language>ar</language>{build}"
        + "".join(items)
        + "</channel></rss>\n"
    ).encode("utf-8")


def feed_bytes(
    records: Sequence[dict[str, Any]],
    name: str,
    guid_prefix: str = "",
    *,
    built: datetime | None = None,
) -> bytes:
    """A feed of ``records``, newest first, as a site publishes it."""
    newest_first = sorted(records, key=lambda r: r["date"], reverse=True)
    return rss(name, (item_xml(r, guid_prefix) for r in newest_first), built=built)


def write_corpus_feeds(
    directory: Path, count: int, per_feed: int = 50, *, built: datetime | None = None
) -> list[Path]:
    """Write ``count`` corpus feeds to ``directory`` (``built``: their ``lastBuildDate``);
    returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    feeds = corpus_feeds(load_corpus(), per_feed)[:count]
    paths = []
    for index, records in enumerate(feeds):
        path = directory / f"feed-{index:04d}.xml"
        name = f"{records[0]['source']} {records[0]['category']}"
        path.write_bytes(feed_bytes(records, name, built=built))
        paths.append(path)
    return paths


# --- running the pipeline in this process ----------------------------------------------


async def run_targets(
    store: Any, settings: Any, urls: Sequence[str], *, parser: Any = None
) -> list[Any]:
    """``Pipeline.run`` over ``urls`` as ``ingest fetch`` runs them: concurrently, within
    ``FetchLimits`` (local files share one pseudo-host, so ``per_host`` of them at a time), one
    ``Pipeline`` (``parser``: a started ``WorkerPool`` to reuse; by default its own)."""
    from ingest.fetch import Fetcher
    from ingest.limits import FetchLimits
    from ingest.pipeline import Pipeline, Target

    limits = FetchLimits(settings.http.max_connections, settings.http.per_host)
    async with Fetcher(settings.http) as fetcher:
        pipe = Pipeline(store, settings, fetcher, parser=parser)
        try:

            async def one(url: str) -> Any:
                async with limits.slot(url):
                    return await pipe.run(Target(url.rsplit("/", 1)[-1], url))

            return list(await asyncio.gather(*(one(u) for u in urls)))
        finally:
            pipe.close()


def outcome_counts(outcomes: Iterable[Any]) -> dict[str, int]:
    """Sums of the fields of ``FeedOutcome`` values, and how many ended in an error."""
    totals = {"new": 0, "duplicates": 0, "exact": 0, "unchanged": 0, "updated": 0, "errors": 0}
    for o in outcomes:
        for key in ("new", "duplicates", "exact", "unchanged", "updated"):
            totals[key] += getattr(o, key)
        totals["errors"] += o.status == "error"
    return totals


# --- PostgreSQL: a throw-away schema per store -------------------------------------------


def pg_available(url: str = PG_URL) -> bool:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3):
            return True
    except Exception:
        return False


def pg_schema_url(base: str, schema: str) -> str:
    """``base`` with its ``search_path`` set to ``schema``."""
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options={quote(f'-csearch_path={schema}')}"


def pg_with_port(url: str, port: int) -> str:
    """``url`` aimed at 127.0.0.1:``port`` (a proxy in front of the server)."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    netloc = f"{user}@127.0.0.1:{port}" if user else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def pg_create_schema(base: str, schema: str) -> str:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return pg_schema_url(base, schema)


def pg_drop_schema(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# --- the feed server process -----------------------------------------------------------


def host_address(index: int) -> str:
    """Distinct loopback host addresses: 127.0.1.1, 127.0.1.2 ... (254 per /24)."""
    return f"127.0.{1 + index // 254}.{1 + index % 254}"


class FeedServerProcess:
    """``bench_server.py`` in its own process: ``with FeedServerProcess(spec, workdir) as srv``."""

    def __init__(self, spec: dict[str, Any], workdir: Path) -> None:
        self.spec = dict(spec)
        self.workdir = workdir
        self.spec.setdefault("log", str(workdir / "requests.json"))
        self.port = 0
        self.proc: Any = None

    def __enter__(self) -> FeedServerProcess:
        import subprocess

        path = self.workdir / "server-spec.json"
        path.write_text(json.dumps(self.spec), encoding="utf-8")
        self.proc = subprocess.Popen(
            [PYTHON, str(Path(__file__).with_name("bench_server.py")), str(path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("ready "):
            self.proc.kill()
            raise RuntimeError(f"feed server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def url(self, feed: int) -> str:
        return f"http://{self.spec['feeds'][feed]['host']}:{self.port}/feed/{feed}"

    def bump(self) -> None:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_control/bump", timeout=10):
            pass

    def cpu(self) -> float:
        return proc_cpu_s(self.proc.pid)

    def requests(self) -> dict[str, Any]:
        """The request log, available after the server stopped."""
        return json.loads(Path(self.spec["log"]).read_text())

    def __exit__(self, *exc: object) -> None:
        import signal as _signal

        if self.proc.poll() is None:
            self.proc.send_signal(_signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except Exception:
                self.proc.kill()
                self.proc.wait()
