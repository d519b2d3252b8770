"""Boilerplate learnt per feed (ingest.boilerplate), its store history, and the pipeline wiring.

Texts written for these tests, modelled on the corpus: CNN Arabic's "cannot verify"
disclaimer, a "follow us" line, and a quotation that two different stories carry.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

import pytest

from ingest import cli, fingerprint
from ingest.boilerplate import BOILERPLATE, recurring_keys, remove_boilerplate
from ingest.fingerprint import boilerplate_key as paragraph_key
from ingest.models import Cleaned, Kind, Removed, Verdict
from ingest.store import open_store
from ingest.store.base import NewRow
from tests.articles import make_article

DISCLAIMER = (
    "ويشار إلى أن الموقع لا يمكنه التأكد بشكل مستقل من صحة المعلومات والصور المتداولة عبر"
    " مواقع التواصل الاجتماعي."
)
FOLLOW = "تابعونا على تويتر وفيسبوك لمتابعة آخر الأخبار"
QUOTE = (
    '"نحن لن نتراجع عن الإصلاحات الاقتصادية مهما كانت الضغوط، لأن مستقبل الأجيال القادمة'
    ' أهم من أي حسابات سياسية ضيقة أو مكاسب انتخابية عابرة"'
)
STORIES = (
    (
        "افتتح وزير النقل المصري خطا جديدا لمترو الأنفاق يربط وسط القاهرة بالعاصمة الإدارية.",
        "ومن المتوقع أن ينقل الخط الجديد أكثر من مليون راكب يوميا عند تشغيله بالكامل.",
    ),
    (
        "أعلن نادي الهلال السعودي تعاقده مع لاعب وسط برازيلي لمدة ثلاثة مواسم.",
        "وقال رئيس النادي إن الصفقة تأتي ضمن خطة لتعزيز الفريق قبل البطولة الآسيوية.",
    ),
    (
        "ارتفعت أسعار الذهب في الأسواق العالمية إلى أعلى مستوى لها منذ ستة أشهر.",
        "وعزا محللون الارتفاع إلى تراجع الدولار وتزايد المخاوف من تباطؤ الاقتصاد.",
    ),
    (
        "بدأت في بيروت فعاليات معرض الكتاب العربي بمشاركة أكثر من مئتي دار نشر.",
        "ويستمر المعرض عشرة أيام ويتضمن ندوات وأمسيات شعرية وتوقيع كتب جديدة.",
    ),
    (
        "ضربت عاصفة رملية قوية عدة مدن في جنوب العراق وأدت إلى إغلاق المطارات.",
        "ونقل عشرات الأشخاص إلى المستشفيات بسبب حالات اختناق وضيق في التنفس.",
    ),
)
T0 = datetime(2024, 12, 7, 9, 0, tzinfo=UTC)


# ---------------------------------------------------------------- the pure functions


def test_key_ignores_spelling_punctuation_and_spacing() -> None:
    assert paragraph_key(DISCLAIMER) == paragraph_key(
        "  ويُشار الى ان الموقع لا يمكنه التأكد، بشكل مستقل، من صحة المعلومات والصور"
        " المتداولة عبر مواقع التواصل الاجتماعي"
    )
    assert paragraph_key(DISCLAIMER) != paragraph_key(FOLLOW)
    assert paragraph_key("... ،") == ""


def keys(*articles: tuple[str, ...]) -> list[list[str]]:
    return [[paragraph_key(text) for text in article] for article in articles]


def test_recurring_needs_that_many_distinct_articles() -> None:
    history = keys(
        (STORIES[0][0], FOLLOW), (STORIES[1][0], FOLLOW), (STORIES[2][0], FOLLOW, FOLLOW)
    )
    assert recurring_keys(history, 3) == {paragraph_key(FOLLOW)}
    assert recurring_keys([*history[:2], *keys((FOLLOW, FOLLOW, FOLLOW))], 4) == frozenset()
    assert recurring_keys(history, 1) == frozenset()  # would make everything boilerplate


def test_a_quotation_in_two_stories_is_not_boilerplate() -> None:
    history = keys((STORIES[0][0], QUOTE), (STORIES[1][0], QUOTE), (STORIES[2][0],))
    assert recurring_keys(history, 3) == frozenset()


def test_remove_records_the_reason_and_the_position() -> None:
    learnt = frozenset({paragraph_key(DISCLAIMER)})
    cleaned = Cleaned(
        paragraphs=(STORIES[3][0], DISCLAIMER, STORIES[3][1]),
        removed=(Removed(reason="ad_marker", text="[ad_1]", position=0),),
        positions=(1, 2, 3),
    )
    paras = fingerprint.analyse(cleaned.paragraphs)
    result, kept, dropped = remove_boilerplate(cleaned, paras, learnt)
    assert result.paragraphs == STORIES[3]
    assert result.positions == (1, 3)
    assert result.removed == (
        Removed(reason="ad_marker", text="[ad_1]", position=0),
        Removed(reason=BOILERPLATE, text=DISCLAIMER, position=2),
    )
    assert [p.text for p in kept] == list(STORIES[3])
    assert dropped == (paragraph_key(DISCLAIMER),)


def test_an_item_made_only_of_boilerplate_is_left_whole() -> None:
    cleaned = Cleaned(paragraphs=(FOLLOW,))
    paras = fingerprint.analyse(cleaned.paragraphs)
    result, kept, dropped = remove_boilerplate(cleaned, paras, frozenset({paragraph_key(FOLLOW)}))
    assert (result, kept, dropped) == (cleaned, paras, ())


# ---------------------------------------------------------------- the store's history


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ingest.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_known_entries_newest_first_with_their_boilerplate_keys(db_url: str) -> None:
    store = open_store(db_url)
    store.migrate()
    try:
        with store.transaction() as tx:
            feed = tx.feed_id("https://a.example/rss", "A")
            other = tx.feed_id("https://b.example/rss", "B")
            ids, seqs = tx.allot(4)
            new = Verdict(kind=Kind.NEW)
            second = make_article("g2", STORIES[1])
            second = replace(second, para_keys=(*second.para_keys, paragraph_key(FOLLOW)))
            link = Verdict(kind=Kind.NEAR, duplicate_of=ids[0], rule="simhash", distance=3)
            tx.insert_articles(
                [
                    NewRow(ids[0], seqs[0], feed, make_article("g1", STORIES[0]), new),
                    NewRow(ids[1], seqs[1], feed, second, new),
                    NewRow(ids[2], seqs[2], feed, make_article("g3", STORIES[2]), link),
                    NewRow(ids[3], seqs[3], other, make_article("g4", STORIES[3]), new),
                ]
            )
        known = store.known_entries("https://a.example/rss", 10)
        # link records count too: what a feed repeats does not depend on which copy came first
        assert [k.guid for k in known] == ["g3", "g2", "g1"]
        assert known[1].para_keys == (*keys(STORIES[1])[0], paragraph_key(FOLLOW))
        assert [k.guid for k in store.known_entries("https://a.example/rss", 1)] == ["g3"]
        assert store.known_entries("https://nowhere.example/rss", 10) == []
    finally:
        store.close()


# ---------------------------------------------------------------- through the pipeline


def _feed(items: Sequence[tuple[str, Sequence[str]]], start: datetime) -> str:
    entries = "".join(
        f"<item><title>{guid}</title><guid>{guid}</guid>"
        f"<pubDate>{(start + timedelta(minutes=k)).strftime('%a, %d %b %Y %H:%M:%S +0000')}"
        f"</pubDate><description>{escape(''.join(f'<p>{p}</p>' for p in paragraphs))}"
        "</description></item>"
        for k, (guid, paragraphs) in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>'
        f"<link>https://site.example/</link><description>d</description>{entries}"
        "</channel></rss>"
    )


def _fetch(path: Path, db: Path) -> None:
    out = io.StringIO()
    assert cli.main(["fetch", str(path)], environ={"INGEST_DB": str(db)}, out=out) == 0, (
        out.getvalue()
    )


def _stored(db: Path) -> dict[str, dict[str, Any]]:
    out = io.StringIO()
    cli.main(["export"], environ={"INGEST_DB": str(db)}, out=out)
    return {row["guid"]: row for row in map(json.loads, out.getvalue().splitlines())}


def test_the_pipeline_learns_a_feeds_disclaimer_and_keeps_a_shared_quotation(
    tmp_path: Path,
) -> None:
    db, path = tmp_path / "ingest.db", tmp_path / "feed.xml"
    first = [
        ("s0", (*STORIES[0], DISCLAIMER)),
        ("s1", (STORIES[1][0], QUOTE, STORIES[1][1], DISCLAIMER)),
        ("s2", (*STORIES[2], DISCLAIMER)),
    ]
    path.write_text(_feed(first, T0), encoding="utf-8")
    _fetch(path, db)
    stored = _stored(db)
    assert all(DISCLAIMER in row["paragraphs"] for row in stored.values())  # nothing learnt yet

    later = [("s3", (STORIES[3][0], DISCLAIMER, STORIES[3][1], QUOTE))]
    path.write_text(_feed(later, T0 + timedelta(hours=1)), encoding="utf-8")
    _fetch(path, db)
    row = _stored(db)["s3"]
    assert row["paragraphs"] == [STORIES[3][0], STORIES[3][1], QUOTE]
    assert row["removed"] == [{"reason": BOILERPLATE, "text": DISCLAIMER}]

    # The learnt line stays learnt although stored articles no longer keep it.
    again = [("s4", (*STORIES[4], DISCLAIMER))]
    path.write_text(_feed(again, T0 + timedelta(hours=2)), encoding="utf-8")
    _fetch(path, db)
    assert _stored(db)["s4"]["paragraphs"] == list(STORIES[4])
