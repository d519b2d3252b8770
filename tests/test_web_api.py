"""The read API (issue 13, item 3) over real HTTP, on SQLite and PostgreSQL, against its
OpenAPI description: the document is valid OpenAPI 3.1, and every answer of every endpoint
(200s, 400s, 404s) validates against the schema the document gives for that path and status.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from webclient import Served

from ingest import __version__, cli, config, read
from ingest.openapi import document
from ingest.settings import Settings
from ingest.store import open_store

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
SEED_A, SEED_B = FEEDS / "seed-a.xml", FEEDS / "seed-b.xml"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
DOC_URI = "urn:ingest:openapi"
SPELLINGS = ["الجزائر", "الجَزائرُ", "بالجزائر", "والجزائر", "للجزائر", "الأمريكية", "الامريكيه"]

# Every request the test makes, with the status it must get: each documented (path, status)
# is answered at least once (a test checks the list covers the document).
REQUESTS: list[tuple[str, str, int]] = [
    ("/api/articles", "/api/articles", 200),
    ("/api/articles", "/api/articles?after=1&limit=1", 200),
    ("/api/articles", "/api/articles?after=999", 200),
    ("/api/articles", "/api/articles?after=-1", 400),
    ("/api/articles", "/api/articles?limit=0", 400),
    ("/api/articles", "/api/articles?limit=201", 400),
    ("/api/articles/{id}", "/api/articles/1", 200),
    ("/api/articles/{id}", "/api/articles/2", 200),
    ("/api/articles/{id}", "/api/articles/999", 404),
    ("/api/articles/{id}", "/api/articles/x1", 400),
    ("/api/articles/{id}", "/api/articles/99999999999999999999", 400),
    ("/api/stories", "/api/stories", 200),
    ("/api/stories", "/api/stories?min_copies=1&since=2024-12-07T10:00:00Z&limit=5", 200),
    ("/api/stories", "/api/stories?offset=1", 200),
    ("/api/stories", "/api/stories?since=tomorrow", 400),
    ("/api/stories", "/api/stories?min_copies=0", 400),
    ("/api/search", "/api/search?q=الجزائر", 200),
    ("/api/search", '/api/search?q="الولايات المتحدة"&since=2024-12-01&feed=agency', 200),
    ("/api/search", "/api/search?q=زرافة", 200),
    ("/api/search", "/api/search?q=", 400),
    ("/api/search", "/api/search?q=الجزائر&feed=nowhere", 400),
    ("/api/search", "/api/search?q=الجزائر&offset=10001", 400),
    ("/api/feeds", "/api/feeds", 200),
    ("/api/openapi.json", "/api/openapi.json", 200),
]


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ingest.db'}"
    return str(request.getfixturevalue("pg_url"))


def settings_for(tmp_path: Path, db: str) -> Settings:
    path = tmp_path / "ingest.toml"
    path.write_text(
        f"[store]\ndb = {json.dumps(db)}\n"
        f'[[feeds]]\nname = "agency"\nurl = "{SEED_B}"\n'
        f'[[feeds]]\nname = "scraper"\nurl = "{SEED_A}"\n',
        encoding="utf-8",
    )
    return config.load(path)


def fetch(settings: Settings, *names: str) -> None:
    out = io.StringIO()
    assert cli.main(["--config", str(settings.source), "fetch", *names], environ={}, out=out) == 0


@pytest.fixture
def web(db: str, tmp_path: Path) -> Iterator[Served]:
    settings = settings_for(tmp_path, db)
    fetch(settings, "agency")
    fetch(settings, "scraper")
    store = open_store(db, create=False)
    try:
        with Served(store, settings) as served:
            yield served
    finally:
        store.close()


def validator(path: str, status: int) -> Draft202012Validator:
    """Validates an answer against the document's schema for ``path`` and ``status``."""
    doc = document(__version__)
    registry: Registry[Any] = Registry().with_resource(
        DOC_URI, Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    pointer = path.replace("~", "~0").replace("/", "~1")
    ref = f"{DOC_URI}#/paths/{pointer}/get/responses/{status}/content/application~1json/schema"
    return Draft202012Validator({"$ref": ref}, registry=registry)


def test_the_document_is_valid_openapi() -> None:
    doc = document(__version__)
    validate_spec(doc)  # raises on any problem
    assert doc["openapi"].startswith("3.1")
    json.dumps(doc)  # plain data


def test_the_requests_cover_every_documented_answer() -> None:
    doc = document(__version__)
    documented = {(p, int(s)) for p, item in doc["paths"].items() for s in item["get"]["responses"]}
    assert {(p, s) for p, _, s in REQUESTS} == documented


def test_every_answer_matches_the_document(web: Served) -> None:
    for path, target, status in REQUESTS:
        got, headers, body = web.get(target)
        assert got == status, (target, got, body[:300])
        assert headers["content-type"] == "application/json"
        assert headers["content-security-policy"].startswith("default-src 'self'")
        value = json.loads(body)
        errors = sorted(validator(path, status).iter_errors(value), key=str)
        assert not errors, (target, [e.message for e in errors][:5])
        if status == 400:  # the message names the parameter that was wrong
            assert value["error"].split(":")[0] in parameters(path), value["error"]


def parameters(path: str) -> set[str]:
    """The names of the parameters the document gives ``path``."""
    doc = document(__version__)
    names = set()
    for given in doc["paths"][path]["get"]["parameters"]:
        ref = given.get("$ref")
        names.add(
            (doc["components"]["parameters"][ref.rsplit("/", 1)[1]] if ref else given)["name"]
        )
    return names


def test_every_api_route_is_documented(web: Served) -> None:
    doc = document(__version__)
    routes = {"/" + "/".join(p) for p, _ in web.app.router._routes}
    assert {r for r in routes if r.startswith("/api/")} == set(doc["paths"])
    served = web.json("/api/openapi.json")
    assert served == json.loads(json.dumps(doc))
    assert served["info"]["version"] == __version__


def test_limits_agree_with_the_read_side() -> None:
    doc = document(__version__)
    assert doc["components"]["parameters"]["limit"]["schema"]["maximum"] == read.MAX_LIMIT


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_search_finds_the_seed_story_for_every_spelling(web: Served, spelling: str) -> None:
    found = web.json(f"/api/search?q={spelling}")
    (hit,) = found["hits"]
    assert hit["copies"] == 2 and sorted(hit["outlets"]) == ["agency", "scraper"]
    assert any(piece["match"] for piece in hit["highlights"])
    passage = "".join(p["text"] for p in hit["highlights"]).strip("…")
    story = web.json(f"/api/articles/{hit['id']}")["story"]
    texts = [
        web.json(f"/api/articles/{a}")["article"]["paragraphs"]
        for a in [story["id"], *(c["id"] for c in story["copies"])]
    ]
    assert any(passage in paragraph for paragraphs in texts for paragraph in paragraphs)
    assert hit["snippet"].count("**") == 2 * sum(p["match"] for p in hit["highlights"])
    assert web.json("/api/search?q=زرافة")["hits"] == []


def test_an_article_comes_with_its_explanation_and_story(web: Served) -> None:
    articles = web.json("/api/articles")["articles"]
    copy = next(a for a in articles if a["feed"] == "scraper")
    view = web.json(f"/api/articles/{copy['id']}")
    assert view["article"] == copy
    assert view["article"]["removed"][0]["text"] == "[ad_1]"
    assert view["explanation"][0].startswith(f"article {copy['id']}: ")
    assert any("[ad_marker] paragraph 1" in line for line in view["explanation"])
    story = view["story"]
    assert story["id"] == copy["duplicate_of"] and story["articles"] == 2
    assert [c["id"] for c in story["copies"]] == [copy["id"]]
    assert story["copies"][0]["rule"] == "simhash"


def test_stories_listing_and_its_parameters(web: Served) -> None:
    (story,) = web.json("/api/stories")["stories"]
    assert story["articles"] == 2 and sorted(story["outlets"]) == ["agency", "scraper"]
    assert story["first"] <= story["last"]
    assert web.json("/api/stories?min_copies=3")["stories"] == []
    assert web.json("/api/stories?offset=1")["stories"] == []
    # Since a time between the two copies: one copy counts (the story shows both).
    between = "/api/stories?since=2024-12-07T10:00:00Z"
    assert web.json(between)["stories"] == []
    assert [s["id"] for s in web.json(between + "&min_copies=1")["stories"]] == [story["id"]]
    assert web.json("/api/stories?since=2024-12-08&min_copies=1")["stories"] == []


def test_the_cursor_follows_new_articles_across_restarts(db: str, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, db)
    fetch(settings, "agency")

    def page(after: int) -> dict[str, Any]:
        store = open_store(db, create=False)  # a new store object and server: a restart
        try:
            with Served(store, settings) as served:
                return served.json(f"/api/articles?after={after}&limit=1")  # type: ignore[no-any-return]
        finally:
            store.close()

    first = page(0)
    assert [a["feed"] for a in first["articles"]] == ["agency"]
    cursor = first["next_after"]
    assert first["next"] == f"/api/articles?after={cursor}&limit=1"
    idle = page(cursor)
    assert idle["articles"] == [] and idle["next_after"] == cursor  # nothing new: same cursor
    fetch(settings, "scraper")
    fetch(settings, "agency", "scraper")  # unchanged: nothing new is stored
    following = page(cursor)
    assert [a["feed"] for a in following["articles"]] == ["scraper"]
    assert following["articles"][0]["id"] > cursor
    assert page(following["next_after"])["articles"] == []
    everything = page(0)
    assert everything["articles"][0]["id"] == cursor  # ids are stable


def test_the_api_is_read_only(web: Served) -> None:
    import http.client

    for method in ("POST", "PUT", "DELETE", "PATCH"):
        conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
        conn.request(method, "/api/articles/1")
        response = conn.getresponse()
        assert response.status == 405 and response.getheader("Allow") == "GET, HEAD"
        conn.close()
    assert web.json("/api/articles/1")["article"]["id"] == 1
