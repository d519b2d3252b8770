"""``ingest explain`` and ``ingest rebuild-fingerprints`` on the issue-2 scenario.

seed-a.xml is a scraper's copy of the seed article (ad markers, a bare source line, two
reworded repeats); seed-b.xml an agency's copy of the same story. Which one is canonical
depends on which arrives first, so the tests fetch them in a fixed order, and also together.
"""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest

from ingest import cli, fingerprint
from ingest.settings import DedupSettings
from ingest.store import open_store
from ingest.upgrade import refresh

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
SEED_A, SEED_B = FEEDS / "seed-a.xml", FEEDS / "seed-b.xml"
SEED = Path(__file__).parent / "fixtures" / "seed-article.txt"


def run(db: Path, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), environ={"INGEST_DB": str(db)}, out=out)
    return code, out.getvalue()


@pytest.fixture
def scraper_first(tmp_path: Path) -> Path:
    db = tmp_path / "ingest.db"
    assert run(db, "fetch", str(SEED_A))[0] == 0
    assert run(db, "fetch", str(SEED_B))[0] == 0
    return db


def test_canonical_article_shows_each_removal_and_every_outlet(scraper_first: Path) -> None:
    code, text = run(scraper_first, "explain", "1")
    assert code == 0
    lines = text.splitlines()
    lines_of = "\n".join
    assert lines[0] == "article 1: «حوار عسكري جزائري أمريكي رغم العلاقات الوثيقة مع موسكو»"
    assert "  canonical: 12 paragraph(s) kept" in lines
    assert "  removed 5 piece(s):" in lines
    assert any(line.startswith("  [ad_marker] paragraph 1: ") for line in lines)
    assert any(line.startswith("  [source_trailer] paragraph 17: ") for line in lines)
    # the relations sentence, reworded, repeats the caption (paragraph 3)
    (relations,) = [line for line in lines if "[near_duplicate] paragraph 12 " in line]
    assert relations.startswith("  [near_duplicate] paragraph 12 repeats paragraph 3 (distance ")
    assert "<= 16, overlap 0." in relations
    at = lines.index(relations)
    assert lines[at + 1].startswith("      removed: «حافظت الجزائر على علاقات عسكرية")
    assert lines[at + 2].startswith("      kept:    «تمكنت الجزائر من الحفاظ على علاقات")
    # the neutrality sentence repeats the excerpt (paragraph 2)
    assert any("[near_duplicate] paragraph 13 repeats paragraph 2 (" in line for line in lines)
    assert "was carried by 2 feed(s)" in lines_of(lines)
    assert any(line.startswith("    article 2: near (distance ") for line in lines)
    assert any("seed-b.xml" in line and "article 2" in line for line in lines)


def test_link_record_names_the_canonical_article_both_titles_and_the_distance(
    scraper_first: Path,
) -> None:
    code, text = run(scraper_first, "explain", "2")
    assert code == 0
    assert "  link record: near-duplicate (rule simhash): distance " in text
    assert "    this:      «الجزائر وواشنطن تختتمان حوارا عسكريا لتعزيز التعاون الدفاعي» in" in text
    assert "    canonical: article 1 «حوار عسكري جزائري أمريكي رغم العلاقات الوثيقة مع موسكو»" in (
        text
    )
    exported = [
        json.loads(line) for line in run(scraper_first, "export", "--duplicates")[1].splitlines()
    ]
    link = next(row for row in exported if row["id"] == 2)
    assert f"distance {link['distance']} bits <= 14, overlap {link['overlap']:.2f}" in text


def test_fetched_together_either_one_is_canonical_and_both_explain(tmp_path: Path) -> None:
    db = tmp_path / "ingest.db"
    assert run(db, "fetch", str(SEED_A), str(SEED_B))[0] == 0
    rows = [json.loads(line) for line in run(db, "export", "--duplicates")[1].splitlines()]
    (canonical,) = [row for row in rows if row["duplicate_of"] is None]
    (link,) = [row for row in rows if row["duplicate_of"] is not None]
    _, text = run(db, "explain", str(canonical["id"]))
    assert "was carried by 2 feed(s)" in text
    _, text = run(db, "explain", str(link["id"]))
    assert f"canonical: article {canonical['id']} «{canonical['title']}»" in text


def test_explain_text_compares_two_paragraphs(tmp_path: Path) -> None:
    lines = SEED.read_text(encoding="utf-8").splitlines()
    a, b, c = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    a.write_text(lines[1], encoding="utf-8")
    b.write_text(lines[12], encoding="utf-8")
    c.write_text(lines[4], encoding="utf-8")
    code, text = run(tmp_path / "unused.db", "explain", "--text", str(a), str(b))
    assert code == 0
    assert "distance: 12 of 64 bits" in text
    assert "overlap: 0.68 (Jaccard of the stemmed word sets)" in text
    assert "verdict: near_duplicate\n" in text
    # The rule is said once (issue 14, item 7), on its own line.
    assert text.count("distance <= 16 and overlap >= 0.55") == 1
    assert "rule in force: paragraph rule: distance <= 16" in text
    _, text = run(tmp_path / "unused.db", "explain", "--text", str(a), str(c))
    assert "verdict: different\n" in text
    assert not (tmp_path / "unused.db").exists()  # comparing texts needs no store


def test_explain_text_compares_two_articles(tmp_path: Path) -> None:
    lines = SEED.read_text(encoding="utf-8").splitlines()
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("\n".join(lines[3:15]), encoding="utf-8")
    b.write_text("\n".join(["بيروت (أ ف ب) - " + lines[3], *lines[4:14]]), encoding="utf-8")
    _, text = run(tmp_path / "x.db", "explain", "--text", str(a), str(b))
    assert "verdict: near\n" in text
    assert text.count("article rule: distance <= 14 and overlap >= 0.60") == 1
    assert "rule in force: article rule" in text


def test_explain_mistakes_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "ingest.db"
    assert run(db, "migrate")[0] == 0
    assert run(db, "explain", "99")[0] == 2
    assert "no stored article has id 99" in capsys.readouterr().err
    assert run(db, "explain")[0] == 2
    assert run(db, "explain", "--text", str(tmp_path / "missing.txt"), str(SEED))[0] == 2


# ---------------------------------------------------------------- stable fingerprints


def test_rebuild_fingerprints_brings_old_versions_back_into_the_lookup(
    scraper_first: Path,
) -> None:
    with sqlite3.connect(scraper_first) as conn:  # as an older ingest would have stored it
        conn.execute(
            "UPDATE articles SET fp_version = 0, simhash = 42, text_hash = 'old', features = ''"
        )
    _, text = run(scraper_first, "explain", "2")
    assert "(version 0, this ingest uses 1: run `ingest rebuild-fingerprints`)" in text

    code, text = run(scraper_first, "rebuild-fingerprints")
    assert code == 0
    assert ": 2 of 2 article(s) re-fingerprinted (version 1)" in text
    rows = [
        json.loads(line) for line in run(scraper_first, "export", "--duplicates")[1].splitlines()
    ]
    for row in rows:
        paras = fingerprint.analyse(row["paragraphs"])
        features = fingerprint.article_features(paras)
        assert row["fp_version"] == fingerprint.FINGERPRINT_VERSION
        assert row["simhash"] == fingerprint.to_hex(features.simhash)
        with sqlite3.connect(scraper_first) as conn:
            text_hash, stems = conn.execute(
                "SELECT text_hash, features FROM articles WHERE id = ?", (row["id"],)
            ).fetchone()
        assert text_hash == features.text_hash
        assert stems == fingerprint.features_text(features.stems)
    assert run(scraper_first, "rebuild-fingerprints")[1].endswith(
        ": 0 of 0 article(s) re-fingerprinted (version 1)\n"
    )


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_update_fingerprint_on_every_backend(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'copy.db'}"
        if backend == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    store = open_store(url)
    store.migrate()
    try:
        # store one article through the real pipeline, then age its fingerprint
        code = cli.main(["--db", url, "fetch", str(SEED_B)], environ={}, out=io.StringIO())
        assert code == 0
        (article,) = store.articles()
        with store.transaction() as tx:
            (seq,) = tx.next_seqs(1)
            aged = refresh_article(article)
            tx.update_fingerprint(article.id, aged, seq)
        assert next(iter(store.articles())).fp_version == 0
        report = refresh(store, DedupSettings())
        assert (report.checked, report.refreshed) == (1, 1)
        (rebuilt,) = store.articles()
        assert rebuilt.simhash == article.simhash
        assert rebuilt.fp_version == fingerprint.FINGERPRINT_VERSION
        assert refresh(store, DedupSettings()).refreshed == 0
    finally:
        store.close()


def refresh_article(article: object) -> object:
    from dataclasses import replace

    from ingest.upgrade import refreshed

    return replace(refreshed(article, DedupSettings()), simhash=7, fp_version=0)  # type: ignore[arg-type]
