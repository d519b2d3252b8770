"""Dates a feed gets wrong cost nothing (issue 10, acceptance 1 and 2), on both backends.

* One unrelated item dated 2099, fetched first, used to switch near-duplicate detection off for
  the whole store: the seed story's copy must still be linked.
* An item dated year 1 (or 999, or 1970) used to crash ``export``, ``explain``, ``copy`` and
  ``rebuild-fingerprints`` on SQLite: every command must run, the date kept as text only.
* Publishers' zones mean what they mean: ``GMT+3`` is three hours ahead of UTC.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ingest import cli

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
SEED_A, SEED_B = FEEDS / "seed-a.xml", FEEDS / "seed-b.xml"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

TEXT = (
    "<p>أعلنت الشركة الوطنية للكهرباء عن خطة لتوسيع شبكة الطاقة الشمسية في المناطق الجنوبية"
    " خلال العامين المقبلين بتمويل من صندوق التنمية.</p><p>وقال المدير العام إن الخطة تشمل"
    " بناء ثلاث محطات جديدة وتدريب مئات المهندسين المحليين.</p>"
)


def feed(items: list[tuple[str, str]]) -> str:
    """RSS with one item per (guid, pubDate text); an empty date text leaves pubDate out."""
    entries = "".join(
        f"<item><title>خبر {guid}</title><guid>{guid}</guid>"
        + (f"<pubDate>{date}</pubDate>" if date else "")
        + f"<description><![CDATA[{TEXT.replace('الجنوبية', 'الجنوبية ' + guid)}]]>"
        "</description></item>"
        for guid, date in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>'
        f"<link>https://dates.example/</link>{entries}</channel></rss>"
    )


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ingest.db'}"
    return str(request.getfixturevalue("pg_url"))


def run(db: str, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(["--db", db, *argv], environ={}, out=out), out.getvalue()


def rows(db: str, *extra: str) -> list[dict[str, object]]:
    code, text = run(db, "export", "--duplicates", *extra)
    assert code == 0, text
    return [json.loads(line) for line in text.splitlines()]


def test_an_item_dated_2099_does_not_switch_deduplication_off(db: str, tmp_path: Path) -> None:
    future = tmp_path / "future.xml"
    future.write_text(feed([("far-future", "Thu, 01 Jan 2099 00:00:00 GMT")]), encoding="utf-8")
    code, text = run(db, "fetch", str(future))
    assert code == 0 and "new=1" in text
    assert "is after the fetch time + 24 h" in text  # the date is not used, and said so
    assert "seed-a.xml: new=1" in run(db, "fetch", str(SEED_A))[1]
    code, text = run(db, "fetch", str(SEED_B))
    assert code == 0 and "near-duplicates=1" in text, text
    # And it stays so for later processes on the store.
    other = tmp_path / "seed-b-again.xml"
    other.write_text(SEED_B.read_text(encoding="utf-8").replace("0042", "0043"), encoding="utf-8")
    code, text = run(db, "fetch", str(other))
    assert code == 0 and "new=0" in text, text
    (far,) = [row for row in rows(db) if row["guid"] == "far-future"]
    assert far["published"] is None


def test_no_date_crashes_any_command(db: str, tmp_path: Path) -> None:
    path = tmp_path / "dates.xml"
    path.write_text(
        feed(
            [
                ("year-1", "Mon, 01 Jan 0001 00:00:00 GMT"),
                ("year-999", "Tue, 01 Jan 0999 00:00:00 GMT"),
                ("epoch", "Thu, 01 Jan 1970 00:00:00 GMT"),
                ("no-date", ""),
                ("feb-30", "2024-02-30T10:00:00Z"),
                ("riyadh", "Sat, 07 Dec 2024 12:00:00 GMT+3"),
            ]
        ),
        encoding="utf-8",
    )
    code, text = run(db, "fetch", str(path))
    assert code == 0, text
    stored = {row["guid"]: row for row in rows(db)}
    assert len(stored) == 6
    for guid in ("year-1", "year-999", "epoch", "no-date", "feb-30"):
        assert stored[guid]["published"] is None, guid
    assert stored["riyadh"]["published"] == "2024-12-07T09:00:00Z"  # GMT+3 means +03:00
    for row in stored.values():  # every stored time: four-digit years, UTC
        assert str(row["fetched"])[4] == "-" and str(row["fetched"]).endswith("Z")
    # --since compares times, not text
    assert [row["guid"] for row in rows(db, "--since", "2024-12-01")] != []
    since = {row["guid"] for row in rows(db, "--since", "2024-12-07T08:00:00Z")}
    assert "riyadh" in since
    for guid, row in stored.items():
        code, text = run(db, "explain", str(row["id"]))
        assert code == 0, (guid, text)
    code, text = run(db, "explain", str(stored["year-1"]["id"]))
    assert "0001" in text  # the feed's date, kept as text, is shown
    assert run(db, "rebuild-fingerprints", "--all")[0] == 0
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    code, text = run(db, "copy", "--from", db, "--to", target)
    assert code == 0, text
    assert rows(target) == rows(db)
