"""The OpenAPI 3.1 description of the read API (``ingest/web.py``), written by hand as data
and served at ``/api/openapi.json``.

tests/test_web_api.py checks the document against the OpenAPI 3.1 schema and every real
response of every endpoint against it: objects allow no property the document does not name,
so the API and its description cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from ingest.models import Reason
from ingest.read import MAX_LIMIT

MAX_OFFSET = 10_000
"""The furthest a listing may be paged with ``offset`` (deeper pages cost a scan each)."""
MAX_ID = 2**63 - 1
"""Ids are 64-bit: a larger one is a 400, not a database error."""

_TIME = {"type": ["string", "null"], "format": "date-time", "description": "UTC, ISO 8601"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_NUMBER = {"type": ["number", "null"]}


def _object(properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    """A closed object: every property required, no other allowed."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _array(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


_COPY = {
    "id": {"type": "integer", "minimum": 1},
    "feed": {"type": "string", "description": "the feed's name, else its URL (masked)"},
    "title": {"type": "string"},
    "url": _NULLABLE_STRING,
    "published": _TIME,
    "rule": {
        "type": ["string", "null"],
        "description": "how a copy was tied to the story (simhash, url, text); null for the "
        "canonical article",
    },
    "distance": {**_NULLABLE_INT, "description": "fingerprint distance in bits (simhash)"},
    "overlap": {**_NULLABLE_NUMBER, "description": "stemmed word-set overlap (Jaccard)"},
}

SCHEMAS: dict[str, Any] = {
    "Error": _object(
        {"error": {"type": "string", "description": "what was wrong, naming the parameter"}}
    ),
    "Removal": _object(
        {
            "reason": {"type": "string", "enum": [r.value for r in Reason]},
            "text": {"type": "string"},
            "paragraph": {
                "type": "integer",
                "minimum": 1,
                "description": "where it stood in the item as fetched (1-based)",
            },
            "repeats": {
                **_NULLABLE_INT,
                "description": "the paragraph it repeats (a paragraph rule's removal)",
            },
            "distance": _NULLABLE_INT,
            "overlap": _NULLABLE_NUMBER,
        },
        "a piece of the item's text that was removed, and why",
    ),
    "Article": _object(
        {
            "id": {"type": "integer", "minimum": 1},
            "feed": {"type": "string"},
            "feed_url": {"type": "string", "description": "credentials masked"},
            "feed_removed": {"type": "boolean"},
            "guid": {"type": "string"},
            "url": _NULLABLE_STRING,
            "title": {"type": "string"},
            "author": _NULLABLE_STRING,
            "published": _TIME,
            "fetched": {"type": "string", "format": "date-time"},
            "paragraphs": _array({"type": "string"}),
            "removed": _array(_ref("Removal")),
            "duplicate_of": {
                **_NULLABLE_INT,
                "description": "the story's canonical article, for a link record",
            },
            "rule": _NULLABLE_STRING,
            "distance": _NULLABLE_INT,
            "overlap": _NULLABLE_NUMBER,
            "matched": {**_NULLABLE_INT, "description": "the article the decision matched"},
            "simhash": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
            "fp_version": {"type": "integer"},
        },
        "a stored article: a story's canonical article or a link record (a copy)",
    ),
    "Copy": _object(_COPY, "an article of a story"),
    "Story": _object(
        {
            **_COPY,
            "articles": {"type": "integer", "minimum": 1},
            "outlets": _array({"type": "string"}),
            "first": _TIME,
            "last": _TIME,
            "copies": _array(_ref("Copy")),
        },
        "a story: its canonical article (these fields) and every copy",
    ),
    "Highlight": _object({"text": {"type": "string"}, "match": {"type": "boolean"}}),
    "Hit": _object(
        {
            "id": {"type": "integer", "minimum": 1},
            "title": {"type": "string"},
            "url": _NULLABLE_STRING,
            "feed": {"type": "string"},
            "published": _TIME,
            "score": {"type": "number"},
            "snippet": {"type": "string", "description": "the matches between ** and **"},
            "highlights": _array(_ref("Highlight")),
            "copies": {"type": "integer", "minimum": 1},
            "outlets": _array({"type": "string"}),
        },
        "a story found, shown by its canonical article",
    ),
    "Feed": _object(
        {
            "name": {"type": "string"},
            "url": {"type": "string", "description": "credentials masked"},
            "last_fetch": _TIME,
            "last_success": _TIME,
            "last_success_age_seconds": _NULLABLE_NUMBER,
            "outcome": {**_NULLABLE_STRING, "description": "ok, not_modified or error"},
            "error_code": _NULLABLE_STRING,
            "error": _NULLABLE_STRING,
            "consecutive_failures": {"type": "integer", "minimum": 0},
            "failing": {"type": "boolean"},
            "next_run": _TIME,
            "articles": {"type": "integer"},
            "duplicates": {"type": "integer"},
            "lease_owner": _NULLABLE_STRING,
            "running": {"type": "boolean"},
        },
        "a feed and its health",
    ),
    "ArticlesPage": _object(
        {
            "articles": _array(_ref("Article")),
            "after": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            "next_after": {
                "type": "integer",
                "minimum": 0,
                "description": "the cursor of the next page: the last id returned (the same "
                "cursor when nothing is new)",
            },
            "next": {"type": "string", "description": "the next page's path and query"},
        }
    ),
    "ArticlePage": _object(
        {
            "article": _ref("Article"),
            "story": _ref("Story"),
            "explanation": {
                **_array({"type": "string"}),
                "description": "the lines `ingest explain ID` prints",
            },
        }
    ),
    "StoriesPage": _object(
        {
            "stories": _array(_ref("Story")),
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        }
    ),
    "SearchPage": _object(
        {
            "query": {"type": "string"},
            "terms": {
                **_array(_array({"type": "string"})),
                "description": "the search stems of each term (a phrase has several)",
            },
            "hits": _array(_ref("Hit")),
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        }
    ),
    "FeedsPage": _object({"feeds": _array(_ref("Feed"))}),
}


def _param(name: str, description: str, schema: dict[str, Any], *, path: bool = False) -> Any:
    return {
        "name": name,
        "in": "path" if path else "query",
        "required": path,
        "description": description,
        "schema": schema,
    }


PARAMETERS: dict[str, Any] = {
    "since": _param(
        "since",
        "only articles published (fetched, when undated) since this ISO 8601 date or time",
        {"type": "string", "examples": ["2026-11-01", "2026-11-01T08:00:00Z"]},
    ),
    "limit": _param(
        "limit", "at most this many", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
    ),
    "offset": _param(
        "offset", "skip this many", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}
    ),
}


def _json(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


_BAD = _json("a parameter cannot be used: the message names it", "Error")
_MISSING = _json("no article has that id", "Error")


def _get(
    summary: str,
    description: str,
    parameters: list[Any],
    ok: dict[str, Any],
    **more: dict[str, Any],
) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "description": description,
            "parameters": parameters,
            "responses": {"200": ok, **more},
        }
    }


def _use(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


PATHS: dict[str, Any] = {
    "/api/articles": _get(
        "Follow new articles",
        "Stored articles (canonical ones and link records) with an id above `after`, in id "
        "order. Ids are never handed out twice, so a reader that keeps `next_after` and asks "
        "again later gets each new article once, across restarts of either side.",
        [
            _param(
                "after",
                "the cursor: the last id seen (0: from the start)",
                {"type": "integer", "minimum": 0, "maximum": MAX_ID},
            ),
            _param(
                "limit",
                "articles per page (100)",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            ),
        ],
        _json("a page of articles and the next cursor", "ArticlesPage"),
        **{"400": _BAD},
    ),
    "/api/articles/{id}": _get(
        "One article, explained",
        "The article with every removed piece and its reason, the lines `ingest explain` "
        "prints for it, and its story (the canonical article and every copy).",
        [_param("id", "the article's id", {"type": "integer", "minimum": 1}, path=True)],
        _json("the article", "ArticlePage"),
        **{"400": _BAD, "404": _MISSING},
    ),
    "/api/stories": _get(
        "Stories and who carried them",
        "Stories with at least `min_copies` articles, largest first, then the most recent.",
        [
            _use("since"),
            _param(
                "min_copies",
                "stories carried at least this many times (2)",
                {"type": "integer", "minimum": 1},
            ),
            _use("limit"),
            _use("offset"),
        ],
        _json("the stories", "StoriesPage"),
        **{"400": _BAD},
    ),
    "/api/search": _get(
        "Arabic-aware full-text search",
        'Stories whose articles hold every word of `q` ("quoted phrases" in order): '
        "diacritics, hamza forms, ta marbuta and attached particles do not matter. Best "
        "first, each shown by its story's canonical article with a snippet.",
        [
            _param("q", 'words and "quoted phrases"', {"type": "string", "minLength": 1}),
            _use("since"),
            _param(
                "feed",
                "only articles of this feed: its name or URL (as /api/feeds shows)",
                {"type": "string"},
            ),
            _use("limit"),
            _use("offset"),
        ],
        _json("the stories found (none: an empty list)", "SearchPage"),
        **{"400": _BAD},
    ),
    "/api/feeds": _get(
        "The feeds and their health",
        "Every feed with its last fetch, outcome, error and next run; URLs with their "
        "credentials masked.",
        [],
        _json("the feeds", "FeedsPage"),
    ),
    "/api/openapi.json": _get(
        "This document",
        "The OpenAPI description of this API.",
        [],
        {
            "description": "OpenAPI 3.1",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    ),
}


def document(version: str) -> dict[str, Any]:
    """The OpenAPI document of this version of ``ingest``."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ingest read API",
            "version": version,
            "description": "Read-only JSON over the stored Arabic news articles, stories and "
            "feeds. Served by `ingest run` on [web] address and by `ingest serve`.",
        },
        "paths": PATHS,
        "components": {"schemas": SCHEMAS, "parameters": PARAMETERS},
    }
