"""The command line: ``ingest [--config PATH] [--db URL] COMMAND ...``.

Exit codes: 0 success; 1 a feed (or a check) failed; 2 bad usage or configuration.
Every command's ``--help`` is written for a person, with an example.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import logging
import os
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from ingest import __version__, config, explain, feedstate
from ingest.clean import clean_any
from ingest.dedupe import dedupe_paragraphs
from ingest.errors import ConfigError, IngestError, StoreError
from ingest.fetch import Fetcher
from ingest.fingerprint import to_hex
from ingest.limits import FetchLimits
from ingest.models import Cleaned, FeedOutcome
from ingest.pipeline import Pipeline, Target, utcnow
from ingest.settings import Settings
from ingest.store import open_store, sqlite_path
from ingest.store.base import Store, StoredArticle

EPILOG = """\
examples:
  ingest --config config/ingest.toml fetch            fetch every configured feed once
  ingest fetch https://example.org/rss.xml feed.xml    fetch a URL and a local file
  ingest clean article.html --explain                  show what cleaning removes, and why
  ingest export --since 2026-01-01 > articles.jsonl    dump stored articles as JSON Lines

configuration: --config PATH or $INGEST_CONFIG (TOML, see config/ingest.toml);
store: --db URL or $INGEST_DB (sqlite:///PATH or a path), else the file's [store] db,
else ~/.local/share/ingest/ingest.db.
"""


class UsageError(IngestError):
    """A command-line mistake (exit code 2)."""

    code = "usage"


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
        "--db", metavar="URL", help="store: sqlite:///PATH or a path (env INGEST_DB)"
    )
    # Not required here: main() says so itself, after naming any unknown option first.
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_: str, example: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    p = command(
        "fetch",
        "Fetch feeds once and store their new articles.",
        "ingest fetch 'Al Jazeera' https://example.org/rss.xml ./saved-feed.xml",
    )
    p.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="a configured feed's name, an http(s) URL or a local feed file; none: every "
        "configured feed",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object per feed")

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
    )
    p.add_argument("--duplicates", action="store_true", help="include near-duplicate link records")
    p.add_argument("--since", metavar="ISO-DATE", help="only articles published since this date")
    p.add_argument("--feed", metavar="NAME", help="only this feed (a configured name or a URL)")

    command("feeds", "List the configured feeds and their stored state.", "ingest feeds")
    command("migrate", "Create the store or bring its schema up to date.", "ingest migrate")

    p = command(
        "run",
        "Run the daemon: fetch every configured feed on its own schedule until stopped.",
        "ingest --config /etc/ingest/ingest.toml run --log-json",
    )
    p.add_argument("--log-json", action="store_true", help="log JSON lines instead of key=value")
    p.add_argument("-v", "--verbose", action="store_true", help="also log skipped checks")

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
        "Import feeds from OPML into the configuration, or export them as OPML.",
        "ingest --config config/ingest.toml opml import subscriptions.opml",
    )
    p.add_argument("action", choices=["import", "export"])
    p.add_argument("file", nargs="?", help="import: the OPML file (- for stdin)")
    p.add_argument(
        "--dry-run", action="store_true", help="import: show what would be added, change nothing"
    )

    p = command(
        "explain",
        "Explain a stored article (what was removed and why, which story it duplicates or who "
        "else carried it), or compare two texts as the deduplication would.",
        "ingest explain 12\n  ingest explain --text first.txt second.txt",
    )
    p.add_argument("id", nargs="?", type=int, help="a stored article's id (see ingest export)")
    p.add_argument("--text", nargs=2, metavar=("A", "B"), help="compare two text files instead")

    p = command(
        "rebuild-fingerprints",
        "Re-fingerprint stored articles made by another fingerprint version (after an upgrade).",
        "ingest rebuild-fingerprints",
    )
    p.add_argument("--all", action="store_true", help="recompute every canonical article")
    return parser


# -- helpers ------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _open(settings: Settings) -> Store:
    store = open_store(settings.db)
    store.migrate()
    return store


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
                f"{name!r} is neither a configured feed, an http(s) URL nor an existing file"
            )
    return targets


def _outcome_line(o: FeedOutcome) -> str:
    if o.status == "error":
        return f"error      {o.name}: {o.error_code}: {o.error}"
    if o.status == "not_modified":
        return f"unchanged  {o.name}: not modified (304)"
    parts = [
        f"new={o.new}",
        f"near-duplicates={o.duplicates}",
        f"exact-duplicates={o.exact}",
        f"unchanged={o.unchanged}",
    ]
    if o.updated:
        parts.append(f"updated={o.updated}")
    line = f"ok         {o.name}: " + " ".join(parts)
    for warning in o.warnings:
        line += f"\n           warning: {warning}"
    return line


def _outcome_json(o: FeedOutcome) -> dict[str, Any]:
    return {
        "feed": o.name,
        "url": o.url,
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


async def _fetch_all(
    targets: Sequence[Target],
    settings: Settings,
    store: Store,
    out: TextIO,
    as_json: bool,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> list[FeedOutcome]:
    progress = sys.stderr.isatty() and len(targets) > 3 and not as_json
    outcomes: list[FeedOutcome] = []
    limits = FetchLimits(settings.http.max_connections, settings.http.per_host)

    async with Fetcher(settings.http) as fetcher:
        pipeline = Pipeline(store, settings, fetcher, clock=clock)

        async def one(target: Target) -> FeedOutcome:
            async with limits.slot(target.url):
                return await pipeline.run(target)

        try:
            for done in asyncio.as_completed([one(t) for t in targets]):
                outcome = await done
                outcomes.append(outcome)
                if progress:
                    sys.stderr.write("\r\x1b[K")
                text = (
                    json.dumps(_outcome_json(outcome), ensure_ascii=False)
                    if as_json
                    else (_outcome_line(outcome))
                )
                print(text, file=out, flush=True)
                if progress:
                    sys.stderr.write(f"[{len(outcomes)}/{len(targets)}] feeds done")
                    sys.stderr.flush()
        finally:
            pipeline.close()
            if progress:
                sys.stderr.write("\r\x1b[K")
    return outcomes


def _article_json(a: StoredArticle) -> dict[str, Any]:
    return {
        "id": a.id,
        "feed": a.feed_url,
        "feed_name": a.feed_name,
        "url": a.url,
        "guid": a.guid,
        "title": a.title,
        "author": a.author,
        "published": _iso(a.published),
        "fetched": _iso(a.fetched),
        "paragraphs": list(a.paragraphs),
        "simhash": to_hex(a.simhash),
        "fp_version": a.fp_version,
        "duplicate_of": a.duplicate_of,
        "duplicate_rule": a.dup_rule,
        "distance": a.dup_distance,
        "overlap": a.dup_overlap,
        "removed": [{"reason": r.reason, "text": r.text} for r in a.removed],
    }


def _parse_since(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # 0001-01-01T00:00+14:00 is before year 1 in UTC
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
    store = _open(settings)
    try:
        outcomes = asyncio.run(
            _fetch_all(targets, settings, store, out, args.json, clock=args.clock)
        )
    finally:
        store.close()
    return 1 if any(o.status == "error" for o in outcomes) else 0


def cmd_clean(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if args.file == "-":
        text = sys.stdin.read(MAX_INPUT_BYTES + 1)
        _check_stdin(len(text), "article")
    else:
        text = _read_input(args.file, "article").decode("utf-8", errors="replace")
    _print_cleaned(dedupe_paragraphs(clean_any(text), settings.dedup), args.explain, out)
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    since = _parse_since(args.since) if args.since is not None else None
    feed_url = None
    if args.feed:
        configured = {f.name: f.url for f in settings.feeds}
        feed_url = configured.get(args.feed, args.feed)
    store = _open(settings)
    try:
        for article in store.articles(since=since, feed_url=feed_url, duplicates=args.duplicates):
            out.write(json.dumps(_article_json(article), ensure_ascii=False) + "\n")
    finally:
        store.close()
    return 0


def cmd_feeds(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    store = _open(settings)
    try:
        stored = {row.url: row for row in store.feeds()}
    finally:
        store.close()
    rows: list[tuple[str, str, Any]] = [
        (f.name, f.url, stored.pop(f.url, None)) for f in settings.feeds
    ]
    rows += [(row.name or row.url, row.url, row) for row in stored.values()]
    if not rows:
        print("no feeds configured or stored", file=out)
    for name, url, row in rows:
        print(f"{name}\n  url: {url}", file=out)
        if row is None:
            print("  never fetched", file=out)
            continue
        state = row.last_status or "never fetched"
        if row.error_code:
            state += f" ({row.error_code}: {row.error})"
        print(f"  last fetch: {_iso(row.last_fetch) or '-'}  outcome: {state}", file=out)
        print(
            f"  last success: {_iso(row.last_success) or '-'}  consecutive failures: "
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
    store = open_store(settings.db)
    try:
        version = store.migrate()
    finally:
        store.close()
    print(f"{store.url}: schema version {version}", file=out)
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from ingest import logs  # noqa: PLC0415 - only the daemon needs these
    from ingest.daemon import Daemon  # noqa: PLC0415

    logs.setup(
        "json" if args.log_json else settings.daemon.log_format,
        logging.DEBUG if args.verbose else logging.INFO,
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

    source = open_store(args.source, create=False)
    try:
        source.check_schema()
        target = open_store(args.target)
        try:
            target.migrate()
            report = copy_store(source, target)
        finally:
            target.close()
    finally:
        source.close()
    print(
        f"copied {report.feeds} feeds, {report.articles} articles, {report.links} link records "
        f"and {report.bands} fingerprint bands from {source.url} to {target.url}",
        file=out,
    )
    return 0


def cmd_opml(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from ingest import opml  # noqa: PLC0415

    if args.action == "export":
        print(opml.write_opml(settings.feeds, "ingest feeds", datetime.now(UTC)), file=out, end="")
        return 0
    if not args.file:
        raise UsageError("opml import needs a FILE (or - for stdin)")
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
        print(f"skip  {feed.name} ({feed.url}): already configured", file=out)
    for feed in add:
        print(f"add   {feed.name} ({feed.url})", file=out)
    if add and not args.dry_run:
        path = Path(settings.source)
        text = path.read_text(encoding="utf-8")
        updated = text + ("" if text.endswith("\n") else "\n") + opml.toml_feeds(add)
        config.settings_from_mapping(tomllib.loads(updated), settings.source)  # still valid?
        path.write_text(updated, encoding="utf-8")
    verb = "would add" if args.dry_run else "added"
    print(f"{verb} {len(add)} feed(s), skipped {len(skip)}", file=out)
    return 0


COMMANDS = {
    "fetch": cmd_fetch,
    "clean": cmd_clean,
    "export": cmd_export,
    "feeds": cmd_feeds,
    "migrate": cmd_migrate,
    "run": cmd_run,
    "status": cmd_status,
    "healthcheck": cmd_healthcheck,
    "copy": cmd_copy,
    "opml": cmd_opml,
    "explain": explain.cmd_explain,
    "rebuild-fingerprints": explain.cmd_rebuild,
}


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """Run the CLI; return the exit code (``python -m ingest`` and the ``ingest`` script).

    ``clock`` is the time the one-shot commands see (benchmarks replay simulated days)."""
    out = out or sys.stdout
    env = os.environ if environ is None else environ
    parser = _parser()
    args = parser.parse_args(argv)
    args.clock = clock
    if args.command is None:
        parser.error(f"a COMMAND is required: {', '.join(COMMANDS)}")
    try:
        settings = config.resolve(args.config, args.db, env)
        return COMMANDS[args.command](args, settings, out)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"ingest: configuration error: {problem}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"ingest: {exc.message}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"ingest: store error ({exc.code}): {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``ingest export | head``): not an error of ours.
        sys.stderr.close()
        return 0
