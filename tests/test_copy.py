"""``ingest copy``: a SQLite store moved into PostgreSQL keeps everything (issue 5)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ingest.cli import main

FEEDS = Path(__file__).parent / "fixtures" / "feeds"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), environ={}, out=out), out.getvalue()


@pytest.mark.postgres
def test_copy_round_trips_sqlite_into_postgres(tmp_path: Path, pg_url: str) -> None:
    sqlite = f"sqlite:///{tmp_path / 'embedded.db'}"
    broken = tmp_path / "broken.xml"
    broken.write_text("<html>no feed</html>", encoding="utf-8")
    code, _ = run(
        "--db", sqlite, "fetch", str(FEEDS / "seed-a.xml"), str(FEEDS / "seed-b.xml"), str(broken)
    )
    assert code == 1  # the broken feed's error is state worth copying too
    code, text = run("copy", "--from", sqlite, "--to", pg_url)
    assert code == 0, text
    assert "copied 3 feeds, 1 articles and 1 link records" in text
    exports = []
    for db in (sqlite, pg_url):
        code, text = run("--db", db, "export", "--duplicates")
        assert code == 0
        exports.append([json.loads(line) for line in text.splitlines()])
    assert exports[0] == exports[1] and len(exports[0]) == 2
    feeds = [run("--db", db, "feeds")[1] for db in (sqlite, pg_url)]
    assert feeds[0] == feeds[1] and "not_a_feed" in feeds[0]
    # The copy carries the feeds' HTTP state: fetching again adds nothing in PostgreSQL.
    code, text = run("--db", pg_url, "fetch", str(FEEDS / "seed-a.xml"), str(FEEDS / "seed-b.xml"))
    assert code == 0 and text.count("unchanged=1") == 2
    # A second copy into the now non-empty store is refused.
    code, _ = run("copy", "--from", sqlite, "--to", pg_url)
    assert code == 3  # a store error


def test_copy_from_a_missing_store_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run("copy", "--from", str(tmp_path / "nope.db"), "--to", str(tmp_path / "new.db"))
    assert code == 3  # a store error
    assert "no such database" in capsys.readouterr().err
