"""The CLI contract, end to end on real files: the issue-2 scenario and the seed article."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
SEED = FIXTURES / "seed-article.txt"
FEED_A = FIXTURES / "feeds" / "seed-a.xml"
FEED_B = FIXTURES / "feeds" / "seed-b.xml"
SHARED = Path(__file__).parents[2] / "shared"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), environ={}, out=out)
    return code, out.getvalue()


def export(db: Path, *extra: str) -> list[dict[str, object]]:
    code, text = run("--db", str(db), "export", *extra)
    assert code == 0
    return [json.loads(line) for line in text.splitlines()]


def test_clean_seed_article_prints_twelve_paragraphs() -> None:
    code, text = run("clean", str(SEED))
    assert code == 0
    paragraphs = text.splitlines()
    assert len(paragraphs) == 12
    joined = "\n".join(paragraphs)
    assert "[ad_" not in joined
    assert "المصدر" not in paragraphs
    assert sum("تجنبت الجزائر التصويت" in p for p in paragraphs) == 1
    assert sum("علاقات عسكرية جيدة" in p for p in paragraphs) == 1
    seed = [line for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip()]
    others = [
        line
        for line in seed
        if not line.startswith("[ad_")
        and line != "المصدر"
        and "تجنبت الجزائر التصويت" not in line
        and "علاقات عسكرية جيدة" not in line
    ]
    assert len(others) == 10
    for line in others:  # the other ten, unchanged
        assert line in paragraphs
    # the first occurrences are the ones kept
    assert paragraphs[0] == seed[1] and paragraphs[1] == seed[2]


def test_clean_explain_names_the_five_removed_pieces() -> None:
    code, text = run("clean", "--explain", str(SEED))
    assert code == 0
    report = text.split("-- removed", 1)[1]
    lines = [line for line in report.splitlines()[1:] if line.strip()]
    assert len(lines) == 5
    reasons = [line.split("]")[0].lstrip("[") for line in lines]
    assert reasons.count("ad_marker") == 2
    assert reasons.count("source_trailer") == 1
    assert reasons.count("near_duplicate") == 2
    assert "repeats paragraph 2" in text and "repeats paragraph 3" in text


def test_clean_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("<p>نص أول</p><p>[ad_1]</p><p>نص ثان</p>"))
    code, text = run("clean")
    assert code == 0 and text.splitlines() == ["نص أول", "نص ثان"]


def test_seed_story_and_its_syndicated_copy(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    code, text = run("--db", str(db), "fetch", str(FEED_A), str(FEED_B))
    assert code == 0, text
    articles = export(db, "--duplicates")
    assert len(articles) == 2
    canonical = [a for a in articles if a["duplicate_of"] is None]
    links = [a for a in articles if a["duplicate_of"] is not None]
    assert len(canonical) == 1 and len(links) == 1
    assert links[0]["duplicate_of"] == canonical[0]["id"]
    assert links[0]["paragraphs"]  # a link record keeps its own text
    # The feeds are fetched concurrently: which copy is canonical depends on arrival; the
    # story (one canonical article, one link record) does not.
    by_feed = {a["feed"]: a for a in articles}
    assert set(by_feed) == {FEED_A.resolve().as_uri(), FEED_B.resolve().as_uri()}
    scraper = by_feed[FEED_A.resolve().as_uri()]
    assert scraper["published"] == "2024-12-07T09:15:00Z"
    assert scraper["url"] == (
        "https://scraper.example/2024/12/07/algeria-us-dialogue/?utm_source=rss&utm_medium=feed"
    )
    if scraper["duplicate_of"] is None:
        assert len(scraper["paragraphs"]) == 12  # type: ignore[arg-type]
        assert {r["reason"] for r in scraper["removed"]} == {  # type: ignore[union-attr]
            "ad_marker",
            "source_trailer",
            "near_duplicate",
        }
    else:
        assert len(canonical[0]["paragraphs"]) == 13  # type: ignore[arg-type]
    assert len(str(canonical[0]["simhash"])) == 16
    assert links[0]["duplicate_rule"] == "simhash" and links[0]["distance"] is not None
    for field in (
        "id",
        "feed",
        "url",
        "guid",
        "title",
        "published",
        "fetched",
        "paragraphs",
        "simhash",
        "duplicate_of",
        "removed",
    ):
        assert field in canonical[0]
    # Without --duplicates only the canonical article is exported.
    assert [a["id"] for a in export(db)] == [canonical[0]["id"]]
    # Fetching again adds nothing.
    code, text = run("--db", str(db), "fetch", str(FEED_A), str(FEED_B))
    assert code == 0
    assert "new=0" in text and "unchanged=1" in text
    assert export(db, "--duplicates") == articles


def test_fetch_json_and_failure_exit_code(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    broken = tmp_path / "broken.xml"
    broken.write_text("<html><body>not a feed</body></html>", encoding="utf-8")
    code, text = run("--db", str(db), "fetch", "--json", str(FEED_A), str(broken))
    assert code == 1
    *outcomes, summary = map(json.loads, text.splitlines())
    assert summary["summary"]["failed"] == 1 and summary["summary"]["ok"] == 1
    by_url = {o["url"]: o for o in outcomes}
    assert by_url[FEED_A.resolve().as_uri()]["status"] == "ok"
    assert by_url[FEED_A.resolve().as_uri()]["new"] == 1
    failed = by_url[broken.resolve().as_uri()]
    assert failed["status"] == "error" and failed["error_code"] == "not_a_feed"
    code, text = run("--db", str(db), "feeds")
    assert code == 0 and "not_a_feed" in text and "consecutive failures: 1" in text


def test_unknown_target_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--db", str(tmp_path / "x.db"), "fetch", "no-such-feed") == (2, "")
    assert "neither a configured feed" in capsys.readouterr().err


def test_python_dash_m_works(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ingest", "--db", str(tmp_path / "x.db"), "clean", str(SEED)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 12


@pytest.mark.skipif(not (SHARED / "feeds").is_dir(), reason="../shared/feeds is absent")
def test_real_feeds_ingest_with_residue_removed(tmp_path: Path) -> None:
    db = tmp_path / "real.db"
    code, text = run(
        "--db",
        str(db),
        "fetch",
        str(SHARED / "feeds" / "hespress.xml"),
        str(SHARED / "feeds" / "al-jazeera.xml"),
    )
    assert code == 0, text
    articles = export(db, "--duplicates")
    assert len(articles) == 20
    for a in articles:
        body = "\n".join(a["paragraphs"])  # type: ignore[arg-type]
        assert "appeared first on" not in body
        assert "[…]" not in body
        assert a["published"] and str(a["published"]).endswith("Z")
