"""``ingest search`` and ``ingest stories`` (issue 13, items 1 and 2), on SQLite and PostgreSQL.

The seed story (tests/fixtures/feeds/seed-a.xml, seed-b.xml: one story from two outlets) must
be found for every spelling of الجزائر, and nothing for a word the store does not hold.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ingest import cli
from ingest.search import fts5_expression, parse_query, snippet, terms, tsquery_text

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
SEED_A, SEED_B = FEEDS / "seed-a.xml", FEEDS / "seed-b.xml"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SPELLINGS = ["الجزائر", "الجَزائرُ", "بالجزائر", "والجزائر", "للجزائر", "الأمريكية", "الامريكيه"]


def test_spellings_meet_on_one_term() -> None:
    assert {terms(w)[0] for w in SPELLINGS[:5]} == {"جزاير"}
    assert terms("الأمريكية") == terms("الامريكيه")
    assert terms("في على من") == []  # stopwords are no terms


def test_queries_phrases_and_their_sql() -> None:
    query = parse_query('الجزائر "الولايات المتحدة" في')
    state, united = terms("الولايات"), terms("المتحدة")
    assert query.terms == (("جزاير",), (*state, *united))
    assert fts5_expression(query) == f'"جزاير" AND "{state[0]} {united[0]}"'
    assert tsquery_text(query) == f"(جزاير) & ({state[0]} <-> {united[0]})"
    assert not parse_query("في ... ،")  # nothing to look for


def test_snippets_mark_the_words_as_written() -> None:
    paragraphs = ("خبر عن المغرب.", "زار وفدٌ الجَزائرَ أمس، وبحث في الجزائر التعاون.")
    pieces = snippet(paragraphs, parse_query("الجزائر"))
    assert [text for text, hit in pieces if hit] == ["الجَزائرَ", "الجزائر"]
    assert "".join(text for text, _ in pieces) == paragraphs[1]


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = (
        f"sqlite:///{tmp_path / 'ingest.db'}"
        if request.param == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    assert cli.main(["--db", url, "-q", "fetch", str(SEED_A), str(SEED_B)], environ={}) == 0
    return url


def run(db: str, *argv: str) -> str:
    out = io.StringIO()
    assert cli.main(["--db", db, *argv], environ={}, out=out) == 0, out.getvalue()
    return out.getvalue()


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_finds_the_seed_story(db: str, spelling: str) -> None:
    hits = [json.loads(line) for line in run(db, "search", spelling, "--json").splitlines()]
    assert 1 <= len(hits) <= 5
    (hit,) = hits  # one story, however many outlets carried it
    assert hit["copies"] == 2
    assert set(hit) >= {"id", "title", "url", "feed", "published", "score", "snippet", "copies"}
    assert "**" in hit["snippet"]


def test_a_word_not_in_the_store_finds_nothing(db: str) -> None:
    assert run(db, "search", "زرافة") == ""
    assert run(db, "search", "في") == ""  # only a stopword


def test_phrases_match_in_order_and_filters_apply(db: str) -> None:
    assert run(db, "search", '"الولايات المتحدة"', "--json").count("\n") == 1
    assert run(db, "search", '"المتحدة الولايات"') == ""
    assert run(db, "search", "الجزائر", "--since", "2025-01-01") == ""
    assert run(db, "search", "الجزائر", "--feed", str(SEED_B), "--json").count("\n") == 1
    text = run(db, "search", "الجزائر")
    assert text.startswith("1. ") and "2 article(s) from 2 outlet(s)" in text


def test_stories_list_every_copy_with_first_and_last(db: str) -> None:
    (story,) = [json.loads(line) for line in run(db, "stories", "--json").splitlines()]
    assert story["articles"] == 2 and len(story["copies"]) == 1
    assert story["first"] == "2024-12-07T09:15:00Z" and story["last"] == "2024-12-07T11:40:00Z"
    copy = story["copies"][0]
    assert copy["rule"] == "simhash" and copy["distance"] is not None
    assert run(db, "stories", "--min-copies", "3") == ""
    assert run(db, "stories", "--min-copies", "1", "--json").count("\n") == 1
    text = run(db, "stories")
    assert "(2 articles, 2 outlet(s);" in text and "canonical" in text
