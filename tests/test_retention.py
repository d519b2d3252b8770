"""Retention and removing feeds (issue 14, items 1 and 2), on SQLite and PostgreSQL.

``ingest prune --older-than DAYS`` removes articles published more than DAYS ago with their
link records and search rows, keeps a story's canonical article while a newer copy links to
it, refuses a DAYS shorter than the dedup window, and gives SQLite's space back.
``ingest feeds remove NAME [--keep-articles]`` forgets a feed's state and, unless kept, its
articles (a canonical article other feeds' copies link to stays).
"""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest import cli

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
SEED_A, SEED_B = FEEDS / "seed-a.xml", FEEDS / "seed-b.xml"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
NOW = datetime(2025, 3, 1, tzinfo=UTC)  # the seed feeds' items are from December 2024


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ingest.db'}"
    return str(request.getfixturevalue("pg_url"))


def run(db: str, *argv: str, code: int = 0) -> str:
    out = io.StringIO()
    got = cli.main(["--db", db, *argv], environ={}, out=out, clock=lambda: NOW)
    assert got == code, out.getvalue()
    return out.getvalue()


def rows(db: str) -> dict[str, dict[str, object]]:
    text = run(db, "export", "--duplicates")
    return {row["guid"]: row for row in map(json.loads, text.splitlines())}


def later_copy(tmp_path: Path) -> Path:
    """Another outlet's copy of the seed story, published in February 2025."""
    text = SEED_B.read_text(encoding="utf-8")
    text = text.replace("agency-2024-12-07-0042", "late-copy-1").replace(
        "agency.example", "late.example"
    )
    text = text.replace("2024 09:", "2025 09:").replace("Dec 2024", "Feb 2025")
    path = tmp_path / "late.xml"
    path.write_text(text, encoding="utf-8")
    return path


def test_prune_refuses_a_retention_shorter_than_the_window(db: str) -> None:
    err = io.StringIO()
    assert cli.main(["--db", db, "prune", "--older-than", "3"], environ={}, out=err) == 2


def test_prune_removes_the_quick_starts_records_and_says_so(db: str) -> None:
    run(db, "fetch", str(SEED_A), str(SEED_B))
    assert len(rows(db)) == 2
    text = run(db, "prune", "--older-than", "30", "--dry-run")
    assert text.startswith("would remove 1 article(s) and 1 link record(s) published before")
    assert len(rows(db)) == 2  # a dry run changes nothing
    text = run(db, "prune", "--older-than", "30")
    assert text.startswith("removed 1 article(s) and 1 link record(s) published before 2025-01-30")
    assert rows(db) == {}
    assert "removed 0 article(s)" in run(db, "prune", "--older-than", "30")


def test_a_canonical_article_a_newer_copy_links_to_is_kept(db: str, tmp_path: Path) -> None:
    run(db, "fetch", str(SEED_B))
    run(db, "fetch", str(SEED_A))
    run(db, "fetch", str(later_copy(tmp_path)))
    before = rows(db)
    canonical = before["agency-2024-12-07-0042"]
    assert before["late-copy-1"]["duplicate_of"] == canonical["id"]
    text = run(db, "prune", "--older-than", "30")
    assert "removed 0 article(s) and 1 link record(s)" in text
    assert "kept 1 article(s) that copies still link to" in text
    after = rows(db)
    assert sorted(after) == ["agency-2024-12-07-0042", "late-copy-1"]
    assert after["late-copy-1"]["duplicate_of"] == canonical["id"]


def test_prune_takes_the_search_rows_and_gives_sqlite_space_back(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = f"sqlite:///{path}"
    run(db, "fetch", str(SEED_A), str(SEED_B))
    with sqlite3.connect(path) as conn:  # as a store made before incremental vacuum
        conn.execute("PRAGMA auto_vacuum = NONE")
        conn.execute("VACUUM")
        assert (
            conn.execute(
                "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'جزاير'"
            ).fetchone()[0]
            == 2
        )
    run(db, "prune", "--older-than", "30")
    with sqlite3.connect(path) as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'جزاير'"
            ).fetchone()[0]
            == 0
        )
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental from now on
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0


def test_removing_a_feed_keeps_the_story_other_feeds_still_carry(db: str) -> None:
    run(db, "fetch", str(SEED_B))
    run(db, "fetch", str(SEED_A))
    text = run(db, "feeds", "remove", str(SEED_B), "--dry-run")
    assert "would remove 0 article(s) and 0 link record(s); kept 1" in text
    text = run(db, "feeds", "remove", str(SEED_B))
    assert "removed 0 article(s) and 0 link record(s); kept 1" in text
    stored = rows(db)
    assert stored["agency-2024-12-07-0042"]["feed_removed"] is True
    assert stored["https://scraper.example/?p=48213"]["feed_removed"] is False
    listing = run(db, "feeds")
    assert "removed: " in listing
    # Removing the other feed takes its link record; the kept canonical stays (a later prune
    # takes it once nothing links to it).
    run(db, "feeds", "remove", str(SEED_A))
    assert sorted(rows(db)) == ["agency-2024-12-07-0042"]
    # Fetching the removed feed again brings it back.
    run(db, "fetch", str(SEED_B))
    assert rows(db)["agency-2024-12-07-0042"]["feed_removed"] is False


def test_removing_a_feed_with_its_articles_or_keeping_them(db: str, tmp_path: Path) -> None:
    run(db, "fetch", str(SEED_A))
    text = run(db, "feeds", "remove", str(SEED_A), "--keep-articles")
    assert "removed 0 article(s) and 0 link record(s); kept 1" in text
    (row,) = rows(db).values()
    assert row["feed_removed"] is True
    run(db, "fetch", str(SEED_A))  # back, and the item is not stored twice
    assert len(rows(db)) == 1
    text = run(db, "feeds", "remove", str(SEED_A))
    assert "removed 1 article(s) and 0 link record(s)" in text
    assert rows(db) == {}
    assert str(SEED_A) not in run(db, "feeds")  # nothing left: the feed row is gone too
    assert cli.main(["--db", db, "feeds", "remove", "nope"], environ={}, out=io.StringIO()) == 2
