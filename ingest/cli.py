"""The command line: ``ingest [--config PATH] [--db URL] COMMAND ...``.

Exit codes: 0 success; 1 a feed (or a check) failed; 2 bad usage or configuration.
Every command's ``--help`` is written for a person, with an example.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from ingest import __version__, config
from ingest.clean import clean_any
from ingest.dedupe import dedupe_paragraphs
from ingest.errors import ConfigError, IngestError, StoreError
from ingest.fetch import Fetcher
from ingest.fingerprint import to_hex
from ingest.models import Cleaned, FeedOutcome
from ingest.pipeline import Pipeline, Target
from ingest.settings import Settings
from ingest.store import open_store
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
    parser.add_argument("--db", metavar="URL", help="store: sqlite:///PATH or a path (env INGEST_DB)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name: str, help_: str, example: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=help_, description=help_, epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    p = command(
        "fetch", "Fetch feeds once and store their new articles.",
        "ingest fetch 'Al Jazeera' https://example.org/rss.xml ./saved-feed.xml",
    )
    p.add_argument(
        "targets", nargs="*", metavar="TARGET",
        help="a configured feed's name, an http(s) URL or a local feed file; none: every "
        "configured feed",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object per feed")

    p = command(
        "clean", "Clean one article (HTML, or plain text with one paragraph per line).",
        "ingest clean ../shared/seed-article.txt --explain",
    )
    p.add_argument("file", nargs="?", default="-", help="the article file; - or none: stdin")
    p.add_argument("--explain", action="store_true", help="also print what was removed, and why")

    p = command(
        "export", "Print stored articles as JSON Lines.",
        "ingest export --duplicates --since 2026-11-01 --feed 'BBC Arabic'",
    )
    p.add_argument("--duplicates", action="store_true", help="include near-duplicate link records")
    p.add_argument("--since", metavar="ISO-DATE", help="only articles published since this date")
    p.add_argument("--feed", metavar="NAME", help="only this feed (a configured name or a URL)")

    command("feeds", "List the configured feeds and their stored state.", "ingest feeds")
    command("migrate", "Create the store or bring its schema up to date.", "ingest migrate")
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
        elif name.startswith(("http://", "https://")):
            targets.append(Target(name, name))
        elif name.startswith("file://"):
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
    parts = [f"new={o.new}", f"near-duplicates={o.duplicates}", f"exact-duplicates={o.exact}",
             f"unchanged={o.unchanged}"]
    if o.updated:
        parts.append(f"updated={o.updated}")
    line = f"ok         {o.name}: " + " ".join(parts)
    for warning in o.warnings:
        line += f"\n           warning: {warning}"
    return line


def _outcome_json(o: FeedOutcome) -> dict[str, Any]:
    return {
        "feed": o.name, "url": o.url, "status": o.status, "new": o.new,
        "near_duplicates": o.duplicates, "exact_duplicates": o.exact, "unchanged": o.unchanged,
        "updated": o.updated, "http_status": o.http_status, "error_code": o.error_code,
        "error": o.error, "warnings": list(o.warnings), "duration_ms": o.duration_ms,
    }


async def _fetch_all(
    targets: Sequence[Target], settings: Settings, store: Store, out: TextIO, as_json: bool
) -> list[FeedOutcome]:
    progress = sys.stderr.isatty() and len(targets) > 3 and not as_json
    outcomes: list[FeedOutcome] = []
    limit = asyncio.Semaphore(max(1, settings.http.max_connections))

    async with Fetcher(settings.http) as fetcher:
        pipeline = Pipeline(store, settings, fetcher)

        async def one(target: Target) -> FeedOutcome:
            async with limit:
                return await pipeline.run(target)

        try:
            for done in asyncio.as_completed([one(t) for t in targets]):
                outcome = await done
                outcomes.append(outcome)
                if progress:
                    sys.stderr.write("\r\x1b[K")
                text = json.dumps(_outcome_json(outcome), ensure_ascii=False) if as_json else (
                    _outcome_line(outcome)
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
    except ValueError as exc:
        raise UsageError(f"--since: not an ISO 8601 date: {text!r} (example: 2026-11-01)") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
        outcomes = asyncio.run(_fetch_all(targets, settings, store, out, args.json))
    finally:
        store.close()
    return 1 if any(o.status == "error" for o in outcomes) else 0


def cmd_clean(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if args.file == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(args.file).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise UsageError(f"{args.file}: cannot read: {exc.strerror}") from exc
    _print_cleaned(dedupe_paragraphs(clean_any(text), settings.dedup), args.explain, out)
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    since = _parse_since(args.since) if args.since else None
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
    rows: list[tuple[str, str, Any]] = [(f.name, f.url, stored.pop(f.url, None))
                                        for f in settings.feeds]
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
            print(f"  etag: {row.cache.etag or '-'}  last-modified: "
                  f"{row.cache.last_modified or '-'}", file=out)
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    store = open_store(settings.db)
    try:
        version = store.migrate()
    finally:
        store.close()
    print(f"{store.url}: schema version {version}", file=out)
    return 0


COMMANDS = {
    "fetch": cmd_fetch,
    "clean": cmd_clean,
    "export": cmd_export,
    "feeds": cmd_feeds,
    "migrate": cmd_migrate,
}


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the CLI; return the exit code (``python -m ingest`` and the ``ingest`` script)."""
    out = out or sys.stdout
    env = os.environ if environ is None else environ
    parser = _parser()
    args = parser.parse_args(argv)
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


def _lines(items: Iterable[str]) -> str:
    return "\n".join(items)
