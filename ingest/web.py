"""The read API and the web console: what is stored, over HTTP, read-only (the only module
importing Jinja2).

::

    GET /                             console: the latest stories with their outlets
    GET /search?q=&since=&feed=       console: search, the matches <mark>ed
    GET /articles/{id}                console: kept paragraphs, every removed piece with its
                                      reason, ``explain``'s lines, the story's copies
    GET /feeds                        console: the feeds with their health
    GET /static/{name}                the stylesheet (nothing is loaded from another host)
    GET /api/articles?after=&limit=   articles in id order from a cursor, and the next cursor
    GET /api/articles/{id}            one article, its explanation and its story
    GET /api/stories                  since, min_copies, limit, offset
    GET /api/search?q=                since, feed, limit, offset
    GET /api/feeds                    the feeds with their health, credentials masked
    GET /api/openapi.json             the OpenAPI description of the API (``openapi.py``)

``WebApp`` is the handler ``httpserver.HttpServer`` serves, in the daemon (``[web] address``)
and in ``ingest serve``. It reads through a store object of its own, so the daemon's writer
is never waited for; each request's store reads and its rendering run on the app's threads,
never on the event loop that answers the health probes.

A bad parameter is a 400 naming it, an unknown id a 404, a store that does not answer a 503
with its error (JSON under ``/api``, a page elsewhere). Every answer carries
``Content-Security-Policy: default-src 'self'``: the pages load our stylesheet and nothing
else, and hold no script and no inline style. Everything that came from a feed is text to the
templates (autoescape), and a link is only made of an ``http(s)`` URL.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import signal
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2

from ingest import __version__, feedstate, read
from ingest.errors import StoreError
from ingest.explain import ArticleNotFound
from ingest.feedstate import iso
from ingest.fingerprint import to_hex
from ingest.httpserver import (
    HttpServer,
    Request,
    Response,
    Router,
    connection_cap,
    raise_open_files_limit,
)
from ingest.logs import event
from ingest.models import PARAGRAPH_RULE_REASONS, Reason, Removed
from ingest.netguard import redact_url
from ingest.openapi import MAX_ID, MAX_OFFSET
from ingest.openapi import document as openapi_document
from ingest.search import Query
from ingest.settings import Address, Settings
from ingest.store.base import FeedRow, Store, StoredArticle

log = logging.getLogger("ingest.web")

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
"""Only our own stylesheet, no script, no inline style; forms post back here only."""
_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)
HTML = "text/html; charset=utf-8"

THREADS = 4
"""Requests read and rendered at once (the store object serialises its own queries)."""
LATEST_DAYS = 2.0
"""The console's home page shows the stories of the last this many days (all, when none)."""
PAGE_STORIES = 30
"""Stories per console page."""
PAGE_HITS = 20
"""Search results per console page, and the API's default."""
ARTICLES_LIMIT = 100
"""``/api/articles``: articles per page by default (at most ``read.MAX_LIMIT``)."""

# What each removal reason means, as the console says it (``ingest explain`` says it in English).
REASONS_AR: dict[str, str] = {
    Reason.AD_MARKER: "رمز إعلان تركه ووردبريس",
    Reason.SHORTCODE: "رمز مختصر من ووردبريس",
    Reason.SOURCE_TRAILER: "سطر «المصدر» بلا رابطه",
    Reason.TRUNCATION_MARKER: "علامة اقتطاع النص في الخلاصة",
    Reason.READ_ALSO: "رابط «اقرأ أيضا»",
    Reason.PLACEHOLDER: "نص مؤقت في مكان المتن",
    Reason.BOILERPLATE: "نص ثابت يتكرر في مقالات المصدر الأخيرة",
    Reason.EXACT_DUPLICATE: "يكرر فقرة أخرى حرفيا",
    Reason.NEAR_DUPLICATE: "يكرر فقرة أخرى بصياغة قريبة",
    Reason.CONTAINED: "محتوى في فقرة أخرى أطول",
    Reason.COVERED: "يعيد بكلمات أخرى ما تقوله فقرة أخرى",
}
RULES_AR: dict[str, str] = {
    "simhash": "نص قريب",
    "url": "الرابط نفسه",
    "text": "النص نفسه",
}


class BadParameter(Exception):
    """A request parameter that cannot be used: a 400 naming it."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = f"{name}: {message}"


class NotFound(Exception):
    """A 404: no such article."""


# -- parameters -------------------------------------------------------------------------


def _arg(request: Request, name: str) -> str | None:
    """The parameter's first value, stripped; ``None`` when absent or empty (a GET form sends
    its empty fields)."""
    value = request.arg(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def whole(text: str | None, name: str, default: int, lo: int, hi: int) -> int:
    """``text`` as a whole number between ``lo`` and ``hi``; ``default`` when absent."""
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        raise BadParameter(name, f"expected a whole number from {lo} to {hi}, got {text!r}")
    value = int(text)
    if not lo <= value <= hi:
        raise BadParameter(name, f"expected a whole number from {lo} to {hi}, got {value}")
    return value


def since(text: str | None) -> datetime | None:
    """An ISO 8601 date or time (``2026-11-01``, ``2026-11-01T08:00:00Z``); UTC when no zone."""
    if text is None:
        return None
    try:
        return read.parse_since(text)
    except ValueError:
        raise BadParameter(
            "since", f"expected an ISO 8601 date like 2026-11-01, got {text[:40]!r}"
        ) from None


def feed_url(text: str | None, settings: Settings, rows: Sequence[FeedRow]) -> str | None:
    """The stored URL of the feed ``text`` names: a configured or stored name, or its URL as
    configured, stored, moved from or shown (credentials masked)."""
    if text is None:
        return None
    configured = {f.name: f.url for f in settings.feeds}
    wanted = {text, configured.get(text, text)}
    for row in rows:
        urls = {u for u in (row.url, row.origin_url) if u}
        names = {row.name, *urls, *(redact_url(u) for u in urls)}
        if wanted & names:
            return row.url
    raise BadParameter(
        "feed", f"no stored feed is named {text[:200]!r} or has that URL (see /api/feeds)"
    )


# -- JSON -------------------------------------------------------------------------------


def removal_json(r: Removed) -> dict[str, Any]:
    """A removed piece: its reason, its text, where it was (1-based, as ``explain`` counts)
    and, for a repeat, the paragraph it repeats with the figures that decided it."""
    return {
        "reason": str(r.reason),
        "text": r.text,
        "paragraph": r.position + 1,
        "repeats": r.duplicate_of + 1 if r.duplicate_of is not None else None,
        "distance": r.distance,
        "overlap": r.overlap,
    }


def article_json(a: StoredArticle) -> dict[str, Any]:
    return {
        "id": a.id,
        "feed": read.feed_label(a),
        "feed_url": redact_url(a.feed_url),
        "feed_removed": a.feed_removed,
        "guid": a.guid,
        "url": a.url,
        "title": a.title,
        "author": a.author,
        "published": iso(a.published),
        "fetched": iso(a.fetched),
        "paragraphs": list(a.paragraphs),
        "removed": [removal_json(r) for r in a.removed],
        "duplicate_of": a.duplicate_of,
        "rule": a.dup_rule,
        "distance": a.dup_distance,
        "overlap": a.dup_overlap,
        "matched": a.match_id,
        "simhash": to_hex(a.simhash),
        "fp_version": a.fp_version,
    }


# -- the console's helpers ----------------------------------------------------------------


def link(url: str | None) -> str | None:
    """``url`` when a browser may follow it from our pages (http or https), else ``None``."""
    if not url:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def when(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)  # a feed state's time, ISO 8601
        except ValueError:
            return value
    else:
        moment = value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def removal_view(r: Removed) -> dict[str, Any]:
    """A removed piece as the article page shows it: the reason in words, with its figures."""
    why = REASONS_AR.get(str(r.reason), str(r.reason))
    detail = ""
    if r.reason in PARAGRAPH_RULE_REASONS and r.duplicate_of is not None:
        detail = f"الفقرة {r.duplicate_of + 1}"
        if r.distance is not None:
            detail += f"، المسافة {r.distance} بت"
        if r.overlap is not None:
            detail += f"، التداخل {r.overlap:.2f}"
    return {
        "reason": str(r.reason),
        "why": why,
        "detail": detail,
        "paragraph": r.position + 1,
        "text": r.text,
    }


@dataclass(frozen=True, slots=True)
class Page:
    """A rendered console page, before it becomes a ``Response``."""

    status: int
    html: str


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["link"] = link
    env.filters["feed"] = read.feed_label
    env.globals["rules"] = RULES_AR
    return env


@dataclass(frozen=True, slots=True)
class _Static:
    body: bytes
    content_type: str
    etag: str


def _load_static() -> dict[str, _Static]:
    types = {".css": "text/css; charset=utf-8", ".ico": "image/x-icon"}
    files = {}
    for path in sorted(STATIC.iterdir()):
        if path.suffix in types:
            body = path.read_bytes()
            tag = '"' + hashlib.blake2b(body, digest_size=8).hexdigest() + '"'
            files[path.name] = _Static(body, types[path.suffix], tag)
    return files


# -- the app ------------------------------------------------------------------------------


FeedsSource = Callable[[], Sequence[Mapping[str, Any]]]
"""The daemon's live feed states (``feedstate.FeedState.as_json`` objects), on the loop."""


class WebApp:
    """The read API and the console over ``store`` (read only; this app's own connection).

    ``feeds``: the daemon's feed states (its memory is fresher than the store: next run,
    running); ``None`` reads them from the store (``ingest serve``). ``clock`` is the time
    the pages are made at.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        feeds: FeedsSource | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        threads: int = THREADS,
    ) -> None:
        self.store = store
        self.settings = settings
        self.feeds_source = feeds
        self.clock = clock
        self.env = _environment()
        self.static = _load_static()
        css = self.static.get("console.css")
        self.env.globals["css_version"] = css.etag.strip('"') if css else ""
        self.env.globals["version"] = __version__
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ingest-web")
        self._openapi = Response.json(openapi_document(__version__))
        self.router = Router(not_found=self._not_found)
        for path, handler in (
            ("/", self.home),
            ("/search", self.search_page),
            ("/articles/{id}", self.article_page),
            ("/feeds", self.feeds_page),
            ("/static/{name}", self.static_file),
            ("/api/articles", self.api_articles),
            ("/api/articles/{id}", self.api_article),
            ("/api/stories", self.api_stories),
            ("/api/search", self.api_search),
            ("/api/feeds", self.api_feeds),
            ("/api/openapi.json", self.api_openapi),
        ):
            self.router.add(path, handler)

    async def __call__(self, request: Request) -> Response:
        answer = self.router(request)
        response = answer if isinstance(answer, Response) else await answer
        names = {name.lower() for name, _ in response.headers}
        extra = tuple(h for h in _HEADERS if h[0].lower() not in names)
        return Response(
            response.status, response.body, response.content_type, response.headers + extra
        )

    def close(self) -> None:
        """Wait for the requests being answered; the store is the caller's to close."""
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _not_found(self, request: Request) -> Response:
        if request.path.startswith("/api/"):
            return _error(404, f"no such path: {request.path[:200]} (see /api/openapi.json)")
        page = await self._run(self._error_page, 404, "لا توجد صفحة بهذا العنوان.")
        return _html(page)

    # -- API ------------------------------------------------------------------------------

    async def _api(self, make: Callable[[], Any]) -> Response:
        try:
            value = await self._run(make)
        except BadParameter as bad:
            return _error(400, bad.message)
        except NotFound as missing:
            return _error(404, str(missing))
        except StoreError as exc:
            return _error(503, _unavailable(exc))
        return Response.json(value)

    async def api_articles(self, request: Request) -> Response:
        def make() -> dict[str, Any]:
            after = whole(_arg(request, "after"), "after", 0, 0, MAX_ID)
            limit = whole(_arg(request, "limit"), "limit", ARTICLES_LIMIT, 1, read.MAX_LIMIT)
            found = self.store.articles_after(after, limit)
            following = found[-1].id if found else after
            return {
                "articles": [article_json(a) for a in found],
                "after": after,
                "limit": limit,
                "next_after": following,
                "next": "/api/articles?" + urlencode({"after": following, "limit": limit}),
            }

        return await self._api(make)

    def _view(self, text: str) -> read.ArticleView:
        article_id = whole(text, "id", 0, 1, MAX_ID)
        try:
            return read.article(self.store, article_id, self.settings.dedup)
        except ArticleNotFound:
            raise NotFound(f"no stored article has id {article_id}") from None

    async def api_article(self, request: Request) -> Response:
        def make() -> dict[str, Any]:
            view = self._view(request.params["id"])
            return {
                "article": article_json(view.article),
                "story": read.story_json(view.story),
                "explanation": list(view.explanation),
            }

        return await self._api(make)

    async def api_stories(self, request: Request) -> Response:
        def make() -> dict[str, Any]:
            start = since(_arg(request, "since"))
            copies = whole(_arg(request, "min_copies"), "min_copies", 2, 1, 1_000_000)
            limit = whole(_arg(request, "limit"), "limit", 50, 1, read.MAX_LIMIT)
            offset = whole(_arg(request, "offset"), "offset", 0, 0, MAX_OFFSET)
            found = read.stories(
                self.store, since=start, min_copies=copies, limit=limit, offset=offset
            )
            return {
                "stories": [read.story_json(s) for s in found],
                "limit": limit,
                "offset": offset,
            }

        return await self._api(make)

    async def api_search(self, request: Request) -> Response:
        def make() -> dict[str, Any]:
            text = _arg(request, "q")
            if text is None:
                raise BadParameter("q", "required: the words to search for")
            start = since(_arg(request, "since"))
            limit = whole(_arg(request, "limit"), "limit", PAGE_HITS, 1, read.MAX_LIMIT)
            offset = whole(_arg(request, "offset"), "offset", 0, 0, MAX_OFFSET)
            url = self._feed(_arg(request, "feed"))
            query, hits = read.search(
                self.store, text, since=start, feed_url=url, limit=limit, offset=offset
            )
            return {
                "query": query.text,
                "terms": [list(term) for term in query.terms],
                "hits": [read.hit_json(h, highlights=True) for h in hits],
                "limit": limit,
                "offset": offset,
            }

        return await self._api(make)

    def _feed(self, text: str | None) -> str | None:
        if text is None:
            return None
        return feed_url(text, self.settings, self.store.feeds())

    async def _feed_states(self) -> list[dict[str, Any]]:
        """The feeds with their health: from the daemon's memory, else from the store."""
        if self.feeds_source is not None:
            return [dict(f) for f in self.feeds_source()]

        def stored() -> list[dict[str, Any]]:
            states = feedstate.from_store(self.settings.feeds, self.store.feeds())
            now = self.clock()
            return [s.as_json(now) for s in sorted(states, key=lambda s: s.name)]

        states: list[dict[str, Any]] = await self._run(stored)
        return states

    async def api_feeds(self, request: Request) -> Response:
        try:
            return Response.json({"feeds": await self._feed_states()})
        except StoreError as exc:
            return _error(503, _unavailable(exc))

    async def api_openapi(self, request: Request) -> Response:
        return self._openapi

    # -- console ---------------------------------------------------------------------------

    def _render(self, template: str, status: int = 200, **context: Any) -> Page:
        context.setdefault("q", "")
        context.setdefault("nav", "")
        return Page(status, self.env.get_template(template).render(**context))

    def _error_page(self, status: int, message: str) -> Page:
        return self._render("error.html", status, title=str(status), message=message)

    async def _page(self, make: Callable[[], Page]) -> Response:
        def guarded() -> Page:
            try:
                return make()
            except BadParameter as bad:
                return self._error_page(400, bad.message)
            except NotFound as missing:
                return self._error_page(404, str(missing))
            except StoreError as exc:
                return self._error_page(503, _unavailable(exc))

        return _html(await self._run(guarded))

    async def home(self, request: Request) -> Response:
        def make() -> Page:
            start = since(_arg(request, "since"))
            copies = whole(_arg(request, "min_copies"), "min_copies", 1, 1, 1_000_000)
            offset = whole(_arg(request, "offset"), "offset", 0, 0, MAX_OFFSET)
            recent = start is None
            if recent:
                start = self.clock() - timedelta(days=LATEST_DAYS)
            found = read.stories(
                self.store, since=start, min_copies=copies, limit=PAGE_STORIES, offset=offset
            )
            if recent and not found and offset == 0:
                start, recent = None, False  # nothing lately: the latest there are
                found = read.stories(self.store, min_copies=copies, limit=PAGE_STORIES)
            more = None
            if len(found) == PAGE_STORIES and offset + PAGE_STORIES <= MAX_OFFSET:
                params = {"min_copies": str(copies), "offset": str(offset + PAGE_STORIES)}
                if not recent and start is not None:
                    params["since"] = start.date().isoformat()
                more = "/?" + urlencode(params)
            return self._render(
                "home.html",
                title="آخر القصص",
                nav="home",
                stories=found,
                recent=recent,
                days=LATEST_DAYS,
                since=start,
                more=more,
            )

        return await self._page(make)

    async def search_page(self, request: Request) -> Response:
        def make() -> Page:
            text = _arg(request, "q") or ""
            since_text = _arg(request, "since")
            start = since(since_text)
            offset = whole(_arg(request, "offset"), "offset", 0, 0, MAX_OFFSET)
            rows = self.store.feeds()
            feed_text = _arg(request, "feed")
            url = feed_url(feed_text, self.settings, rows) if feed_text else None
            query: Query | None = None
            hits: list[read.Hit] = []
            if text:
                query, hits = read.search(
                    self.store, text, since=start, feed_url=url, limit=PAGE_HITS, offset=offset
                )
            more = None
            if len(hits) == PAGE_HITS and offset + PAGE_HITS <= MAX_OFFSET:
                params = {"q": text, "offset": str(offset + PAGE_HITS)}
                params |= {"since": since_text or "", "feed": feed_text or ""}
                more = "/search?" + urlencode({k: v for k, v in params.items() if v})
            choices = sorted({row.name or redact_url(row.url) for row in rows})
            return self._render(
                "search.html",
                title=f"بحث: {text}" if text else "بحث",
                nav="search",
                q=text,
                query=query,
                hits=hits,
                since_value=since_text or "",
                feed_value=feed_text or "",
                feeds=choices,
                offset=offset,
                more=more,
            )

        return await self._page(make)

    async def article_page(self, request: Request) -> Response:
        def make() -> Page:
            view = self._view(request.params["id"])
            return self._render(
                "article.html",
                title=view.article.title or f"article {view.article.id}",
                view=view,
                a=view.article,
                removed=[removal_view(r) for r in view.article.removed],
            )

        return await self._page(make)

    async def feeds_page(self, request: Request) -> Response:
        try:
            states = await self._feed_states()
        except StoreError as exc:
            return _html(await self._run(self._error_page, 503, _unavailable(exc)))

        def make() -> Page:
            failing = sum(bool(f["failing"]) for f in states)
            return self._render(
                "feeds.html", title="المصادر", nav="feeds", feeds=states, failing=failing
            )

        return await self._page(make)

    async def static_file(self, request: Request) -> Response:
        found = self.static.get(request.params["name"])
        if found is None:
            return await self._not_found(request)
        cache = (("Cache-Control", "public, max-age=3600"), ("ETag", found.etag))
        if found.etag in (request.headers.get("if-none-match") or ""):
            return Response(304, b"", found.content_type, cache)
        return Response(200, found.body, found.content_type, cache)


def _unavailable(exc: StoreError) -> str:
    event(
        log, "store not answering a read", logging.WARNING, error_code=exc.code, error=exc.message
    )
    return f"the store is not answering ({exc.code}): {exc.message}"


def _error(status: int, message: str) -> Response:
    return Response.json({"error": message}, status)


def _html(page: Page) -> Response:
    return Response(page.status, page.html.encode("utf-8"), HTML)


async def serve(store: Store, settings: Settings, address: Address, setting: str) -> int:
    """``ingest serve``: the API and the console on ``address`` until SIGTERM or SIGINT; 0.
    ``ConfigError`` naming ``setting`` when the address cannot be listened on."""
    before, limit = raise_open_files_limit(1)
    app = WebApp(store, settings)
    server = HttpServer(address, app, setting=setting, max_connections=connection_cap(limit))
    loop = asyncio.get_running_loop()
    try:
        await server.start()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            event(
                log,
                "web console listening",
                address=str(server.address),
                url=f"http://{server.address}/",
                store=feedstate.store_identity(settings.db),
                max_connections=server.max_connections,
            )
            if limit > before:
                event(log, "raised the open files limit", soft_before=before, soft=limit)
            await stop.wait()
            event(log, "stopping")
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
    finally:
        await server.close()
        await loop.run_in_executor(None, app.close)
    event(log, "stopped")
    return 0
