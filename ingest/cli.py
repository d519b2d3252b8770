"""The command line: ``ingest [--config PATH] [--db URL] [--log-level LEVEL | -q] COMMAND ...``.

Exit codes (``EXIT_*``): 0 success; 1 a feed (or a check) failed; 2 bad usage or
configuration (a store file that is not ingest's included); 3 the store cannot be used.
Every command's ``--help`` is written for a person, with an example.

Commands that only read a store (``export``, ``feeds``, ``explain``) never create one; every
command that opens a store says which with ``-v``. Output never ends in an encoding error: on
a stdout that cannot show Arabic, JSON is written with ``\\u`` escapes and text with ``?``.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import http.client
import io
import json
import logging
import os
import signal
import sys
import textwrap
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from ingest import __version__, config, explain, feedstate, logs, read, upgrade
from ingest.errors import ConfigError, StoreError, UsageError
from ingest.feedstate import iso
from ingest.fetch import Fetcher
from ingest.fingerprint import to_hex
from ingest.limits import FetchLimits
from ingest.models import Cleaned, FeedOutcome
from ingest.netguard import redact_url
from ingest.pipeline import Pipeline, Target, utcnow
from ingest.search import marked
from ingest.settings import FeedSettings, Settings
from ingest.store import open_store, sqlite_path
from ingest.store.base import FeedRow, Removal, Store, StoredArticle

EXIT_OK = 0
EXIT_FAILED = 1
"""A feed failed (``fetch``), or a check did (``healthcheck``)."""
EXIT_USAGE = 2
"""Bad usage or configuration; also a store file that is not ingest's, or whose directory is
missing."""
EXIT_STORE = 3
"""The store cannot be used: missing (for a command that only reads), unreachable, locked,
full, read-only, or its schema is not this version's."""

EPILOG = """\
examples:
  ingest --config config/ingest.toml fetch            fetch every configured feed once
  ingest fetch https://example.org/rss.xml feed.xml    fetch a URL and a local file
  ingest clean article.html --explain                  show what cleaning removes, and why
  ingest export --since 2026-01-01 > articles.jsonl    dump stored articles as JSON Lines

configuration: --config PATH or $INGEST_CONFIG (TOML, see config/ingest.toml);
store: --db URL or $INGEST_DB (sqlite:///PATH, a path, or postgresql://user@host/db),
else the file's [store] db, else ~/.local/share/ingest/ingest.db.

exit codes: 0 success; 1 a feed failed (fetch) or the daemon is not ready (healthcheck);
2 bad usage or configuration (a store file of another application included); 3 the store
cannot be used (missing, unreachable, locked, full, read-only, outdated schema).
"""

LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def _logging_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    """``--log-level`` and ``-q``, on the main parser and (unset unless given) on each command,
    so they work before or after the command's name."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--log-level",
        choices=list(LOG_LEVELS),
        default=default,
        help="log events of this level and above to stderr (default: warning; info for run)",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="errors only: no progress, no warnings (--log-level error)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ingest",
        description="Ingest Arabic news feeds into a clean, deduplicated store.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ingest {__version__}")
    parser.add_argument("--config", metavar="PATH", help="configuration file (env INGEST_CONFIG)")
    parser.add_argument(
        "--db",
        metavar="URL",
        help="store: sqlite:///PATH, a path, or postgresql://user@host/db (env INGEST_DB)",
    )
    _logging_options(parser, default=None)
    # Not required here: main() says so itself, after naming any unknown option first.
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(
        name: str, help_: str, example: str, *, store: bool = False, into: Any = sub
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = into.add_parser(
            name,
            help=help_,
            description=textwrap.fill(help_, 79),
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _logging_options(p, default=argparse.SUPPRESS)
        if store:
            p.add_argument(
                "-v",
                "--verbose",
                action="store_true",
                help="say which store is used (on stderr, password masked)",
            )
        return p

    p = command(
        "fetch",
        "Fetch feeds once and store their new articles.",
        "ingest fetch 'Al Jazeera' https://example.org/rss.xml ./saved-feed.xml",
        store=True,
    )
    p.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="a configured feed's name, an http(s) URL or a local feed file; none: every "
        "configured feed",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object per feed, then {"summary": {...}}',
    )

    p = command(
        "clean",
        "Clean one article (HTML, or plain text with one paragraph per line).",
        "ingest clean ../shared/seed-article.txt --explain",
    )
    p.add_argument("file", nargs="?", default="-", help="the article file; - or none: stdin")
    p.add_argument("--explain", action="store_true", help="also print what was removed, and why")

    p = command(
        "export",
        "Print stored articles as JSON Lines.",
        "ingest export --duplicates --since 2026-11-01 --feed 'BBC Arabic'",
        store=True,
    )
    p.add_argument("--duplicates", action="store_true", help="include near-duplicate link records")
    p.add_argument("--since", metavar="ISO-DATE", help="only articles published since this date")
    p.add_argument(
        "--feed",
        metavar="FEED",
        help="only this feed: its configured or stored name, its URL (as `ingest feeds` or "
        "`export` print it, or the one it moved from) or a local file fetched by path",
    )

    p = command(
        "feeds",
        "List the configured feeds and their stored state; `feeds remove NAME` forgets one.",
        "ingest feeds\n  ingest feeds remove 'Old Outlet' --keep-articles",
        store=True,
    )
    feed_actions = p.add_subparsers(dest="feeds_action", metavar="ACTION")
    p = command(
        "remove",
        "Remove a feed from the store: its state (validators, schedule, errors) goes, and its "
        "articles too unless --keep-articles (then they stay readable and searchable, marked "
        "as from a removed feed). A story's canonical article that other feeds' copies link "
        "to is kept while they exist. Remove the feed from the configuration too, or the next "
        "fetch brings it back.",
        "ingest feeds remove 'Old Outlet' --dry-run",
        into=feed_actions,
        store=True,
    )
    p.add_argument("feed", metavar="FEED", help="its name or URL, as `ingest feeds` prints it")
    p.add_argument("--keep-articles", action="store_true", help="keep the feed's articles")
    p.add_argument("--dry-run", action="store_true", help="say what would go, change nothing")

    p = command(
        "search",
        "Search the stored stories for Arabic words: diacritics, hamza forms, ta marbuta and "
        'attached particles do not matter (الجزائر finds بالجزائر and والجزائر); "quoted '
        'words" must appear in that order. Best first, each with a snippet (matches between '
        "** **), how many articles carry the story and which outlets.",
        "ingest search 'الجزائر \"الولايات المتحدة\"' --since 2026-11-01 --limit 5",
        store=True,
    )
    p.add_argument("query", metavar="QUERY", help='words and "quoted phrases"; all must match')
    p.add_argument("--since", metavar="ISO-DATE", help="only articles published since this date")
    p.add_argument("--feed", metavar="FEED", help="only articles of this feed (as for export)")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="at most N stories (20)")
    p.add_argument("--json", action="store_true", help="one JSON object per story")

    p = command(
        "stories",
        "List stories that several feeds carried: each canonical article with every copy "
        "(outlet, title, link, date, distance, overlap), largest first, with when the first "
        "and the last copy appeared.",
        "ingest stories --since 2026-11-01 --min-copies 3",
        store=True,
    )
    p.add_argument("--since", metavar="ISO-DATE", help="only copies published since this date")
    p.add_argument(
        "--min-copies",
        type=int,
        default=2,
        metavar="N",
        help="stories carried at least N times (2)",
    )
    p.add_argument("--limit", type=int, default=50, metavar="N", help="at most N stories (50)")
    p.add_argument("--json", action="store_true", help="one JSON object per story")

    p = command(
        "prune",
        "Remove articles published more than DAYS ago (fetched, for undated ones), with their "
        "link records and search rows. A story's canonical article that a newer copy links to "
        "is kept. DAYS may not be shorter than [dedup] window_days. The daemon does this once "
        "a day when [store] retention_days is set.",
        "ingest prune --older-than 90 --dry-run",
        store=True,
    )
    p.add_argument("--older-than", type=float, required=True, metavar="DAYS", help="days")
    p.add_argument("--dry-run", action="store_true", help="say what would go, change nothing")
    command(
        "migrate", "Create the store or bring its schema up to date.", "ingest migrate", store=True
    )

    p = command(
        "run",
        "Run the daemon: fetch every configured feed on its own schedule until stopped.",
        "ingest --config /etc/ingest/ingest.toml run --log-json",
    )
    p.add_argument("--log-json", action="store_true", help="log JSON lines instead of key=value")
    p.add_argument("-v", "--verbose", action="store_true", help="also log skipped checks")

    p = command(
        "serve",
        "Serve the read API (/api/...) and the web console (/) over the store without "
        "fetching: the latest stories, Arabic search, each article with what was removed and "
        "why, the feeds' health. Read-only. Listens on [web] address (127.0.0.1:8426) unless "
        "--address says otherwise; stops on SIGTERM or Ctrl-C.",
        "ingest --db ./ingest.db serve --address 127.0.0.1:8426",
        store=True,
    )
    p.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="where to listen (default: [web] address, 127.0.0.1:8426; port 0: any free one)",
    )

    p = command(
        "status",
        "Show every feed's state: from the running daemon, else from the store.",
        "ingest --config /etc/ingest/ingest.toml status --json",
    )
    p.add_argument("--json", action="store_true", help="print the JSON of the /status endpoint")

    command(
        "healthcheck",
        "Exit 0 when the running daemon is ready, 1 otherwise (for probes).",
        "ingest --config /etc/ingest/ingest.toml healthcheck || systemctl restart ingest",
    )

    p = command(
        "copy",
        "Copy a whole store into a new one, e.g. from SQLite into PostgreSQL.",
        "ingest copy --from sqlite:///ingest.db --to postgresql://ingest@db.internal/ingest",
        store=True,
    )
    p.add_argument("--from", dest="source", required=True, metavar="URL", help="the store to read")
    p.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="URL",
        help="the new store (created and migrated; must hold no feeds)",
    )

    p = command(
        "opml",
        "Move feed lists between ingest and other feed readers: opml import, opml export.",
        "ingest --config config/ingest.toml opml import subscriptions.opml --dry-run",
    )
    dry_run_help = "show what would be added, change nothing"
    p.add_argument("--dry-run", action="store_true", default=argparse.SUPPRESS, help=dry_run_help)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = command(
        "import",
        "Add the feeds of an OPML file to the configuration file named by --config (appended "
        "as [[feeds]] tables, comments kept; feeds already configured by URL or name skipped).",
        "ingest --config config/ingest.toml opml import subscriptions.opml --dry-run",
        into=actions,
    )
    p.add_argument("file", metavar="FILE", help="the OPML file; - for stdin")
    p.add_argument("--dry-run", action="store_true", default=argparse.SUPPRESS, help=dry_run_help)
    command(
        "export",
        "Print the configured feeds as OPML 2.0 (local paths as file:// URLs).",
        "ingest --config config/ingest.toml opml export > feeds.opml",
        into=actions,
    )

    p = command(
        "explain",
        "Explain a stored article (what was removed and why, which story it duplicates or who "
        "else carried it), or compare two texts as the deduplication would.",
        "ingest explain 12\n  ingest explain --text first.txt second.txt",
        store=True,
    )
    p.add_argument("id", nargs="?", type=int, help="a stored article's id (see ingest export)")
    p.add_argument("--text", nargs=2, metavar=("A", "B"), help="compare two text files instead")

    p = command(
        "rebuild-fingerprints",
        "Re-fingerprint stored articles made by another fingerprint version (after an upgrade).",
        "ingest rebuild-fingerprints",
        store=True,
    )
    p.add_argument("--all", action="store_true", help="recompute every canonical article")
    return parser


# -- helpers ------------------------------------------------------------------------------


def _shown(name_or_url: str | None) -> str | None:
    """A feed's name or URL fit to print or export: a URL's credentials and secret-looking
    query values masked (a feed named on the command line is named by its URL)."""
    if name_or_url is None or "://" not in name_or_url:
        return name_or_url
    return redact_url(name_or_url)


def _log_level(args: argparse.Namespace, default: int) -> int:
    """The level ``--log-level`` or ``-q`` chose, else ``default``."""
    if args.log_level:
        return LOG_LEVELS[args.log_level]
    return logging.ERROR if args.quiet else default


def _verbose(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "verbose", False))


def open_for_writing(settings: Settings, args: argparse.Namespace) -> Store:
    return upgrade.open_for_writing(settings, verbose=_verbose(args))


def open_for_reading(settings: Settings, args: argparse.Namespace) -> Store:
    return upgrade.open_for_reading(settings, verbose=_verbose(args))


def resolve_targets(names: Sequence[str], settings: Settings) -> list[Target]:
    """Turn command-line targets into feeds: a configured name, a URL, or a local file."""
    configured = {f.name: f for f in settings.feeds}
    if not names:
        if not settings.feeds:
            raise UsageError(
                "no feeds to fetch: name one (a URL or a file), or give a configuration with "
                "[[feeds]] via --config or INGEST_CONFIG"
            )
        return [Target(f.name, f.url) for f in settings.feeds if f.enabled]
    targets = []
    for name in names:
        if name in configured:
            targets.append(Target(name, configured[name].url))
        elif name.startswith(("http://", "https://")) or name.startswith("file://"):
            targets.append(Target(name, name))
        elif Path(name).is_file():
            targets.append(Target(name, Path(name).resolve().as_uri()))
        else:
            raise UsageError(
                f"{_shown(name)!r} is neither a configured feed, an http(s) URL nor an "
                "existing file"
            )
    return targets


def _outcome_line(o: FeedOutcome) -> str:
    name = _shown(o.name)
    if o.status == "error":
        return f"error      {name}: {o.error_code}: {o.error}"
    if o.status == "not_modified":
        return f"unchanged  {name}: not modified (304)"
    parts = [
        f"new={o.new}",
        f"near-duplicates={o.duplicates}",
        f"exact-duplicates={o.exact}",
        f"unchanged={o.unchanged}",
    ]
    if o.updated:
        parts.append(f"updated={o.updated}")
    line = f"ok         {name}: " + " ".join(parts)
    for warning in o.warnings:
        line += f"\n           warning: {warning}"
    return line


def _outcome_json(o: FeedOutcome) -> dict[str, Any]:
    return {
        "feed": _shown(o.name),
        "url": redact_url(o.url),
        "status": o.status,
        "new": o.new,
        "near_duplicates": o.duplicates,
        "exact_duplicates": o.exact,
        "unchanged": o.unchanged,
        "updated": o.updated,
        "http_status": o.http_status,
        "error_code": o.error_code,
        "error": o.error,
        "warnings": list(o.warnings),
        "duration_ms": o.duration_ms,
    }


@dataclass(frozen=True, slots=True)
class FetchSummary:
    """The last line of ``ingest fetch``: feeds by outcome, items by verdict, time taken."""

    feeds: int
    ok: int
    not_modified: int
    failed: int
    new: int
    near_duplicates: int
    exact_duplicates: int
    unchanged: int
    duration_ms: int

    @classmethod
    def of(cls, outcomes: Iterable[FeedOutcome], duration_s: float) -> FetchSummary:
        done = list(outcomes)
        return cls(
            feeds=len(done),
            ok=sum(o.status == "ok" for o in done),
            not_modified=sum(o.status == "not_modified" for o in done),
            failed=sum(o.status == "error" for o in done),
            new=sum(o.new for o in done),
            near_duplicates=sum(o.duplicates for o in done),
            exact_duplicates=sum(o.exact for o in done),
            unchanged=sum(o.unchanged for o in done),
            duration_ms=round(duration_s * 1000),
        )

    def line(self) -> str:
        return (
            f"summary    {self.feeds} feed(s): ok={self.ok} not-modified={self.not_modified} "
            f"failed={self.failed}; items: new={self.new} "
            f"near-duplicates={self.near_duplicates} exact-duplicates={self.exact_duplicates} "
            f"unchanged={self.unchanged}; {self.duration_ms / 1000:.1f} s"
        )

    def json(self) -> dict[str, Any]:
        return {
            "summary": {
                "feeds": self.feeds,
                "ok": self.ok,
                "not_modified": self.not_modified,
                "failed": self.failed,
                "new": self.new,
                "near_duplicates": self.near_duplicates,
                "exact_duplicates": self.exact_duplicates,
                "unchanged": self.unchanged,
                "duration_ms": self.duration_ms,
            }
        }


PROGRESS_MIN_FEEDS = 4
"""``fetch`` shows progress on stderr (a terminal) from this many feeds on."""


async def _fetch_all(
    targets: Sequence[Target],
    settings: Settings,
    store: Store,
    out: TextIO,
    as_json: bool,
    *,
    clock: Callable[[], datetime] = utcnow,
    progress: TextIO | None = None,
    ensure_ascii: bool = False,
) -> list[FeedOutcome]:
    """Fetch and prepare ``targets`` concurrently (within ``FetchLimits``), store them in the
    order of ``targets`` (so that the same command makes the same store: of two copies of a
    story, the one named first is canonical) and print each outcome as it is stored;
    ``progress`` (a terminal) gets a ``[done/total]`` line that the outcomes are printed over."""
    limits = FetchLimits(settings.http.max_connections, settings.http.per_host)
    outcomes: list[FeedOutcome] = []
    finished = 0

    def show_progress(_: object = None) -> None:
        if progress is not None:
            progress.write(f"\r\x1b[K[{finished}/{len(targets)}] feeds fetched")
            progress.flush()

    def count(_: object) -> None:
        nonlocal finished
        finished += 1
        show_progress()

    async with Fetcher(settings.http) as fetcher:
        pipeline = Pipeline(store, settings, fetcher, clock=clock)

        async def one(target: Target, turn: asyncio.Future[FeedOutcome] | None) -> FeedOutcome:
            # The slot covers the fetch and the parse; waiting for the turn to write holds none
            # (a slow feed named first must not keep the feeds after it from being fetched).
            async with limits.slot(target.url):
                staged = await pipeline.stage(target)
            if turn is not None:
                await asyncio.wait({turn})  # stored, or failed: either way it is this one's turn
            return await pipeline.write(staged)

        tasks: list[asyncio.Future[FeedOutcome]] = []
        for target in targets:
            tasks.append(asyncio.ensure_future(one(target, tasks[-1] if tasks else None)))
        for task in tasks:
            task.add_done_callback(count)
        show_progress()
        try:
            for task in tasks:
                outcome = await task
                outcomes.append(outcome)
                text = (
                    json.dumps(_outcome_json(outcome), ensure_ascii=ensure_ascii)
                    if as_json
                    else _outcome_line(outcome)
                )
                if progress is not None:
                    progress.write("\r\x1b[K")
                    progress.flush()
                print(text, file=out, flush=True)
                show_progress()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            pipeline.close()
            if progress is not None:
                progress.write("\r\x1b[K")
                progress.flush()
    return outcomes


def _article_json(a: StoredArticle) -> dict[str, Any]:
    return {
        "id": a.id,
        "feed": redact_url(a.feed_url),
        "feed_name": _shown(a.feed_name),
        "url": a.url,
        "guid": a.guid,
        "title": a.title,
        "author": a.author,
        "published": iso(a.published),
        "fetched": iso(a.fetched),
        "paragraphs": list(a.paragraphs),
        "simhash": to_hex(a.simhash),
        "fp_version": a.fp_version,
        "duplicate_of": a.duplicate_of,
        "duplicate_rule": a.dup_rule,
        "distance": a.dup_distance,
        "overlap": a.dup_overlap,
        "removed": [{"reason": r.reason, "text": r.text} for r in a.removed],
        "feed_removed": a.feed_removed,
    }


def _feed_url_for(
    text: str, settings: Settings, rows: Sequence[FeedRow], *, what: str = "export --feed"
) -> str | None:
    """The stored URL ``export --feed TEXT`` means, ``None`` for a configured feed not stored
    yet. TEXT is a configured or stored name, a URL as configured, stored, moved from or as
    printed (masked), or a local file as given to ``fetch``; anything else is a
    ``UsageError``."""
    configured = {f.name: f.url for f in settings.feeds}
    wanted = {text}
    if text in configured:
        wanted.add(configured[text])
    if "://" not in text and Path(text).exists():
        wanted.add(Path(text).resolve().as_uri())

    def names(row: FeedRow) -> set[str | None]:
        urls = {row.url, row.origin_url}
        return {row.name, _shown(row.name), *urls, *(_shown(u) for u in urls)}

    matches = {row.url: row for row in rows if wanted & names(row)}
    if len(matches) > 1:
        found = ", ".join(sorted(str(_shown(r.name or r.url)) for r in matches.values()))
        raise UsageError(f"{what} {text!r} matches {len(matches)} feeds ({found}): name one")
    if matches:
        return next(iter(matches))
    if text in configured or text in configured.values():
        return None  # configured, never fetched: nothing stored
    raise UsageError(
        f"{what}: no configured or stored feed is named {text!r} or has that URL "
        "(`ingest feeds` lists them)"
    )


def _parse_since(text: str) -> datetime:
    try:
        return read.parse_since(text)
    except ValueError as exc:
        raise UsageError(f"--since: not an ISO 8601 date: {text!r} (example: 2026-11-01)") from exc


MAX_INPUT_BYTES = 16 * 1024 * 1024
"""The largest file ``clean`` or ``opml import`` reads (``/dev/zero`` never ends)."""


def _read_input(name: str, what: str) -> bytes:
    """A command's input file, which must be a regular file of at most MAX_INPUT_BYTES."""
    try:
        return config.read_regular_file(name, what, MAX_INPUT_BYTES)
    except ConfigError as exc:
        raise UsageError(exc.message) from exc


def _check_stdin(size: int, what: str) -> None:
    """Refuse input read from stdin with a ``MAX_INPUT_BYTES + 1`` cap that hit the cap."""
    if size > MAX_INPUT_BYTES:
        raise UsageError(f"stdin: the {what} is larger than {MAX_INPUT_BYTES} bytes")


def _print_cleaned(cleaned: Cleaned, explain: bool, out: TextIO) -> None:
    for paragraph in cleaned.paragraphs:
        print(paragraph, file=out)
    if not explain:
        return
    print(f"\n-- removed {len(cleaned.removed)} piece(s):", file=out)
    for r in cleaned.removed:
        detail = ""
        if r.duplicate_of is not None:
            detail = f" (repeats paragraph {r.duplicate_of + 1}"
            if r.distance is not None:
                detail += f", distance {r.distance}"
            if r.overlap is not None:
                detail += f", overlap {r.overlap:.2f}"
            detail += ")"
        print(f"[{r.reason}] paragraph {r.position + 1}{detail}: {r.text}", file=out)


# -- commands -----------------------------------------------------------------------------


def cmd_fetch(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    targets = resolve_targets(args.targets, settings)
    store = open_for_writing(settings, args)
    show = len(targets) >= PROGRESS_MIN_FEEDS and not args.quiet and sys.stderr.isatty()
    started = time.monotonic()
    try:
        outcomes = asyncio.run(
            _fetch_all(
                targets,
                settings,
                store,
                out,
                args.json,
                clock=args.clock,
                progress=sys.stderr if show else None,
                ensure_ascii=args.ascii_json,
            )
        )
    finally:
        store.close()
    summary = FetchSummary.of(outcomes, time.monotonic() - started)
    if args.json:
        print(json.dumps(summary.json()), file=out)
    else:
        print(summary.line(), file=out)
    return EXIT_FAILED if summary.failed else EXIT_OK


def cmd_clean(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if args.file == "-":
        text = sys.stdin.read(MAX_INPUT_BYTES + 1)
        _check_stdin(len(text), "article")
    else:
        text = _read_input(args.file, "article").decode("utf-8", errors="replace")
    from ingest.prepare import clean_article  # noqa: PLC0415 - the parser, for this command

    cleaned = clean_article(text, settings.dedup, limits=settings.limits).cleaned
    _print_cleaned(cleaned, args.explain, out)
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    since = _parse_since(args.since) if args.since is not None else None
    store = open_for_reading(settings, args)
    try:
        feed_url = None
        if args.feed is not None:
            feed_url = _feed_url_for(args.feed, settings, store.feeds())
            if feed_url is None:
                return 0  # a configured feed with nothing stored yet
        for article in store.articles(since=since, feed_url=feed_url, duplicates=args.duplicates):
            data = _article_json(article)
            out.write(json.dumps(data, ensure_ascii=args.ascii_json) + "\n")
    finally:
        store.close()
    return 0


def _removal_line(what: Removal, dry_run: bool) -> str:
    verb = "would remove" if dry_run else "removed"
    line = f"{verb} {what.articles} article(s) and {what.links} link record(s)"
    if what.kept:
        line += f"; kept {what.kept} article(s) that copies still link to"
    return line


def _positive_limit(value: int, what: str) -> int:
    if value < 1:
        raise UsageError(f"{what}: must be at least 1, got {value}")
    return value


def cmd_search(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    since = _parse_since(args.since) if args.since is not None else None
    limit = _positive_limit(args.limit, "--limit")
    store = open_for_reading(settings, args)
    try:
        feed_url = None
        if args.feed is not None:
            feed_url = _feed_url_for(args.feed, settings, store.feeds(), what="search --feed")
            if feed_url is None:
                return 0
        _, hits = read.search(store, args.query, since=since, feed_url=feed_url, limit=limit)
    finally:
        store.close()
    for rank, hit in enumerate(hits, 1):
        a = hit.article
        if args.json:
            data = read.hit_json(hit)
            out.write(json.dumps(data, ensure_ascii=args.ascii_json) + "\n")
            continue
        print(f"{rank}. {a.title}  [{hit.score:g}]", file=out)
        print(
            f"   article {a.id}; {read.feed_label(a)}; {iso(a.published) or 'undated'};"
            f" {hit.copies} article(s) from {len(hit.outlets)} outlet(s): "
            + ", ".join(hit.outlets),
            file=out,
        )
        print(f"   {marked(hit.snippet)}", file=out)
        if a.url:
            print(f"   {a.url}", file=out)
    return 0


def cmd_stories(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    since = _parse_since(args.since) if args.since is not None else None
    limit = _positive_limit(args.limit, "--limit")
    min_copies = _positive_limit(args.min_copies, "--min-copies")
    store = open_for_reading(settings, args)
    try:
        found = read.stories(store, since=since, min_copies=min_copies, limit=limit)
    finally:
        store.close()
    for story in found:
        c = story.canonical
        if args.json:
            data = read.story_json(story)
            out.write(json.dumps(data, ensure_ascii=args.ascii_json) + "\n")
            continue
        print(
            f"{c.title}  ({len(story.articles)} articles, {len(story.outlets)} outlet(s);"
            f" first {iso(story.first) or '-'}, last {iso(story.last) or '-'})",
            file=out,
        )
        for a in story.articles:
            how = (
                "canonical"
                if a.id == c.id
                else (f"{a.dup_rule}, distance {a.dup_distance}, overlap {a.dup_overlap or 0:.2f}")
            )
            print(
                f"  article {a.id}: {read.feed_label(a)}; {iso(a.published) or 'undated'};"
                f" {how}; {a.title}; {a.url or '-'}",
                file=out,
            )
    return 0


def cmd_prune(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if why := config.check_retention(args.older_than, settings.dedup.window_days):
        raise UsageError(f"prune --older-than {args.older_than:g}: {why}")
    cutoff = args.clock() - timedelta(days=args.older_than)
    store = open_for_writing(settings, args)
    try:
        what = store.prune(cutoff, dry_run=args.dry_run)
    finally:
        store.close()
    print(f"{_removal_line(what, args.dry_run)} published before {iso(cutoff)}", file=out)
    return 0


def cmd_feeds_remove(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    store = open_for_reading(settings, args)
    try:
        rows = store.feeds()
        url = _feed_url_for(args.feed, settings, rows, what="feeds remove")
        row = next((r for r in rows if r.url == url), None)
        if row is None:
            raise UsageError(f"feeds remove: {args.feed!r} was never fetched: nothing stored")
        what = store.remove_feed(row.id, keep_articles=args.keep_articles, dry_run=args.dry_run)
    finally:
        store.close()
    name = _shown(row.name or row.url)
    print(f"{name}: {_removal_line(what, args.dry_run)}", file=out)
    if any(f.url in (row.url, row.origin_url) for f in settings.feeds):
        print(
            f"{name} is still in {settings.source}: remove it there too, or the next fetch "
            "brings it back",
            file=out,
        )
    return 0


def cmd_feeds(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if getattr(args, "feeds_action", None) == "remove":
        return cmd_feeds_remove(args, settings, out)
    store = open_for_reading(settings, args)
    try:
        stored = store.feeds()
    finally:
        store.close()
    index = feedstate.by_url(stored)  # a feed that moved also under the URL configured
    shown: set[str] = set()
    rows: list[tuple[str, str, Any]] = []
    for f in settings.feeds:
        row = index.get(f.url)
        if row is not None and row.url not in shown:
            shown.add(row.url)
        else:
            row = None
        rows.append((f.name, f.url, row))
    rows += [(row.name or row.url, row.url, row) for row in stored if row.url not in shown]
    if not rows:
        print("no feeds configured or stored", file=out)
    for name, url, row in rows:
        print(f"{_shown(name)}\n  url: {redact_url(url)}", file=out)
        if row is None:
            print("  never fetched", file=out)
            continue
        if row.url != url:
            print(f"  moved to: {redact_url(row.url)}", file=out)
        if row.removed_at is not None:
            print(
                f"  removed: {iso(row.removed_at)} (`ingest feeds remove`; its kept articles"
                " stay readable)",
                file=out,
            )
        state = row.last_status or "never fetched"
        if row.error_code:
            state += f" ({row.error_code}: {row.error})"
        print(f"  last fetch: {iso(row.last_fetch) or '-'}  outcome: {state}", file=out)
        print(
            f"  last success: {iso(row.last_success) or '-'}  consecutive failures: "
            f"{row.consecutive_failures}  articles: {row.articles}  duplicates: {row.duplicates}",
            file=out,
        )
        if row.cache.etag or row.cache.last_modified:
            print(
                f"  etag: {row.cache.etag or '-'}  last-modified: {row.cache.last_modified or '-'}",
                file=out,
            )
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    store = open_for_writing(settings, args)
    try:
        version = store.schema_version()
    finally:
        store.close()
    print(f"{redact_url(store.url)}: schema version {version}", file=out)
    return 0


class _StoppedBeforeStart(Exception):
    """SIGTERM or SIGINT came while ``ingest run`` was still opening its store."""


def _stop_before_start(signum: int, frame: object) -> None:
    raise _StoppedBeforeStart(signal.Signals(signum).name)


def cmd_run(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    # Until the daemon's loop takes them over, a stop signal ends the start cleanly (systemd
    # may stop a unit that is still starting): opening and migrating are transactional.
    previous = {sig: signal.signal(sig, _stop_before_start) for sig in _STOP_SIGNALS}
    try:
        return _run(args, settings)
    except _StoppedBeforeStart as stopped:
        print(f"ingest: stopped by {stopped} while starting", file=sys.stderr)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.daemon import Daemon  # noqa: PLC0415 - only the daemon needs it

    logs.setup(
        "json" if args.log_json else settings.daemon.log_format,
        _log_level(args, logging.DEBUG if args.verbose else logging.INFO),
    )
    store = open_store(settings.db)
    try:
        if store.schema_version() == 0:
            store.migrate()  # a new store: create it
        store.check_schema()
        daemon = Daemon(
            settings,
            store,
            reload_settings=lambda: config.resolve(args.config, args.db, os.environ),
        )
        return asyncio.run(daemon.run())
    finally:
        store.close()


def cmd_serve(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from ingest import web  # noqa: PLC0415 - only this command and the daemon serve

    address, setting = settings.web.address, "[web] address"
    if args.address is not None:
        try:
            address, setting = config.parse_address(args.address), "--address"
        except ValueError as exc:
            raise UsageError(f"--address: {exc}") from exc
    if address is None:
        raise UsageError('[web] address is "" (off): give serve --address HOST:PORT')
    logs.setup(settings.daemon.log_format, _log_level(args, logging.INFO))
    store = open_for_reading(settings, args)
    try:
        return asyncio.run(web.serve(store, settings, address, setting))
    finally:
        store.close()


def _daemon_get(settings: Settings, path: str) -> tuple[int, bytes] | None:
    """GET a path of the running daemon's health endpoint; ``None`` when none answers."""
    address = settings.daemon.health_address
    if address is None:
        return None
    conn = http.client.HTTPConnection(address.host, address.port, timeout=3)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def _daemon_status(answer: tuple[int, bytes]) -> dict[str, Any] | None:
    """The status document of a ``/status`` answer, ``None`` when it is not an ingest
    daemon's."""
    status, body = answer
    if status != 200:
        return None
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    fits = (
        isinstance(doc, dict)
        and isinstance(doc.get("daemon"), dict)
        and isinstance(doc.get("store"), str)
        and isinstance(doc.get("feeds"), list)
    )
    return doc if fits else None


def _stored_status(settings: Settings, now: datetime) -> dict[str, Any]:
    """The status document from the store alone, which must exist (nothing is created)."""
    path = sqlite_path(settings.db)
    if path is not None and path != ":memory:" and not Path(path).exists():
        raise UsageError(
            f"no store at {path}: nothing was fetched into it yet. Name the store to read with "
            "--db URL, INGEST_DB or [store] db in the configuration"
        )
    store = open_store(settings.db, create=False)
    try:
        store.check_schema()
        rows = store.feeds()
    finally:
        store.close()
    states = feedstate.from_store(settings.feeds, rows)
    return feedstate.document(None, feedstate.store_identity(settings.db), states, now)


def cmd_status(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    address = settings.daemon.health_address
    mine = feedstate.store_identity(settings.db)
    answer = _daemon_get(settings, "/status")
    doc = _daemon_status(answer) if answer is not None else None
    if doc is not None:
        if doc["store"] != mine:
            raise UsageError(
                f"the daemon at {address} runs on store {doc['store']}, not on {mine}, the "
                "store this command reads: give the daemon's --config, or --db"
            )
        source = str(address)
    else:
        if address is None:
            source = "the health endpoint is off: [daemon] health_address"
        elif answer is None:
            source = f"no daemon answers at {address}"
        else:
            source = f"what answers at {address} is not an ingest daemon"
        doc = _stored_status(settings, args.clock())
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=1), file=out)
    else:
        for line in feedstate.text_lines(doc, source):
            print(line, file=out)
    return 0


def cmd_healthcheck(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    answer = _daemon_get(settings, "/readyz")
    if answer is None:
        address = settings.daemon.health_address
        where = (
            f"at {address}" if address else "(the health endpoint is off: [daemon] health_address)"
        )
        print(f"not ready: no daemon answers {where}", file=out)
        return 1
    print(answer[1].decode("utf-8", "replace").strip(), file=out)
    return 0 if answer[0] == 200 else 1


def cmd_copy(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from ingest.store.copy import copy_store  # noqa: PLC0415

    if args.verbose:
        print(f"store (from): {upgrade.store_label(args.source)}", file=sys.stderr)
        print(f"store (to): {upgrade.store_label(args.target)}", file=sys.stderr)
    source = open_store(args.source, create=False)
    try:
        source.check_schema()
        target = open_store(args.target)
        try:
            upgrade.migrate(target, settings.dedup)
            report = copy_store(source, target)
        finally:
            target.close()
    finally:
        source.close()
    print(
        f"copied {report.feeds} feeds, {report.articles} articles and {report.links} link "
        f"records from {redact_url(source.url)} to {redact_url(target.url)}",
        file=out,
    )
    return 0


def _opml_feeds(settings: Settings) -> list[FeedSettings]:
    """The configured feeds as another reader can use them: a local path as a ``file://``
    URL, credentials masked (a warning names each feed that had some)."""
    feeds = []
    for feed in settings.feeds:
        url = feed.url
        if "://" not in url:
            url = Path(url).expanduser().resolve().as_uri()
        shown = redact_url(url)
        if shown != url:
            print(
                f"ingest: warning: {feed.name}: credentials masked in the OPML "
                "(copy them from the configuration)",
                file=sys.stderr,
            )
        feeds.append(FeedSettings(name=feed.name, url=shown))
    return feeds


def cmd_opml(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from ingest import opml  # noqa: PLC0415

    if args.action == "export":
        text = opml.write_opml(_opml_feeds(settings), "ingest feeds", datetime.now(UTC))
        print(text, file=out, end="")
        return 0
    dry_run = getattr(args, "dry_run", False)
    if not settings.source or settings.source.startswith("<"):
        raise UsageError("opml import writes into the configuration: give --config PATH")
    if args.file == "-":
        data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        _check_stdin(len(data), "OPML")
    else:
        data = _read_input(args.file, "OPML file")
    incoming = opml.read_opml(data, args.file)
    add, skip = opml.new_feeds(settings.feeds, incoming)
    for feed in skip:
        print(f"skip  {feed.name} ({redact_url(feed.url)}): already configured", file=out)
    for feed in add:
        print(f"add   {feed.name} ({redact_url(feed.url)})", file=out)
    if add and not dry_run:
        path = Path(settings.source)
        text = path.read_text(encoding="utf-8")
        updated = text + ("" if text.endswith("\n") else "\n") + opml.toml_feeds(add)
        config.settings_from_mapping(tomllib.loads(updated), settings.source)  # still valid?
        path.write_text(updated, encoding="utf-8")
    verb = "would add" if dry_run else "added"
    print(f"{verb} {len(add)} feed(s), skipped {len(skip)}", file=out)
    return 0


COMMANDS = {
    "fetch": cmd_fetch,
    "clean": cmd_clean,
    "export": cmd_export,
    "feeds": cmd_feeds,
    "prune": cmd_prune,
    "search": cmd_search,
    "stories": cmd_stories,
    "migrate": cmd_migrate,
    "run": cmd_run,
    "serve": cmd_serve,
    "status": cmd_status,
    "healthcheck": cmd_healthcheck,
    "copy": cmd_copy,
    "opml": cmd_opml,
    "explain": explain.cmd_explain,
    "rebuild-fingerprints": upgrade.cmd_rebuild,
}


def _utf(encoding: str | None) -> bool:
    try:
        return codecs.lookup(encoding or "ascii").name.startswith("utf")
    except LookupError:
        return False


def _guard_stdout(stream: TextIO, quiet: bool) -> bool:
    """Make ``stream`` (the real stdout) unable to fail on a character it cannot encode:
    ``?`` instead. True when it is not a UTF encoding (JSON is then written with ``\\u``
    escapes, which lose nothing); a warning when it cannot even show Arabic."""
    encoding = getattr(stream, "encoding", None)
    if _utf(encoding):
        return False
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(errors="replace")
    try:
        "\u0627".encode(encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        if not quiet:
            print(
                f"ingest: warning: stdout's encoding ({encoding}) cannot show Arabic: text is "
                "written with ? in its place, JSON with \\u escapes (set PYTHONIOENCODING=utf-8 "
                "or a UTF-8 locale)",
                file=sys.stderr,
            )
    return True


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """Run the CLI; return the exit code (``python -m ingest`` and the ``ingest`` script).

    ``clock`` is the time the one-shot commands see (benchmarks replay simulated days)."""
    env = os.environ if environ is None else environ
    parser = _parser()
    args = parser.parse_args(argv)
    args.clock = clock
    if args.command is None:
        parser.error(f"a COMMAND is required: {', '.join(COMMANDS)}")
    # One-shot commands log warnings and above unless told otherwise; `run` sets its own.
    logs.setup("text", _log_level(args, logging.WARNING))
    args.ascii_json = _guard_stdout(sys.stdout, args.quiet) if out is None else False
    out = out or sys.stdout
    try:
        settings = config.resolve(args.config, args.db, env)
        return COMMANDS[args.command](args, settings, out)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"ingest: configuration error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"ingest: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as exc:
        print(f"ingest: store error ({exc.code}): {exc.message}", file=sys.stderr)
        return EXIT_STORE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``ingest export | head``): not an error of ours.
        sys.stderr.close()
        return 0
