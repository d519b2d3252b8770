"""Edits are decided again and GUID churn is bounded (issue 10, items 4 and 5), on both backends.

The seed story (tests/fixtures/feeds/seed-a.xml, a scraper's copy; seed-b.xml, an agency's) is
fetched first; then the feeds change the way real feeds do: the same GUID comes back with
another story, a canonical article is rewritten, an edit only fixes a typo, and a feed gives
its items new GUIDs (and tracking parameters) on every fetch.
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

OTHER_STORY = (
    "أعلنت الشركة الوطنية للكهرباء عن خطة لتوسيع شبكة الطاقة الشمسية في المناطق الجنوبية خلال"
    " العامين المقبلين بتمويل من صندوق التنمية العربي.",
    "وقال المدير العام للشركة إن الخطة تشمل بناء ثلاث محطات جديدة وتدريب مئات المهندسين"
    " المحليين على صيانتها.",
    "وأضاف أن المشروع سيخفض فاتورة استيراد الوقود بنحو الخمس ويوفر آلاف فرص العمل في"
    " المحافظات الأقل نموا.",
)


@pytest.fixture
def seeds(tmp_path: Path) -> tuple[Path, Path]:
    """The two seed feeds, copied where the tests may rewrite them (a feed is its path)."""
    a, b = tmp_path / "seed-a.xml", tmp_path / "seed-b.xml"
    a.write_bytes(SEED_A.read_bytes())
    b.write_bytes(SEED_B.read_bytes())
    return a, b


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ingest.db'}"
    return str(request.getfixturevalue("pg_url"))


def run(db: str, *argv: str) -> str:
    out = io.StringIO()
    code = cli.main(["--db", db, *argv], environ={}, out=out)
    assert code == 0, out.getvalue()
    return out.getvalue()


def rows(db: str) -> dict[str, dict[str, object]]:
    return {
        row["guid"]: row for row in map(json.loads, run(db, "export", "--duplicates").splitlines())
    }


def rewrite(feed: Path, paragraphs: tuple[str, ...]) -> None:
    """The feed's one item gets ``paragraphs`` as its text (same GUID, same link)."""
    text = feed.read_text(encoding="utf-8")
    start = text.index("<![CDATA[") + len("<![CDATA[")
    end = text.index("]]>", start)
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    feed.write_text(text[:start] + body + text[end:], encoding="utf-8")


def test_a_link_record_republished_with_another_story_becomes_its_own_story(
    db: str, seeds: tuple[Path, Path]
) -> None:
    seed_a, seed_b = seeds
    run(db, "fetch", str(seed_a))
    run(db, "fetch", str(seed_b))
    before = rows(db)
    link = before["agency-2024-12-07-0042"]
    assert link["duplicate_of"] is not None
    # The agency reuses the GUID for another story.
    rewrite(seed_b, OTHER_STORY)
    assert "updated=1" in run(db, "fetch", str(seed_b))
    after = rows(db)
    now = after["agency-2024-12-07-0042"]
    assert now["id"] == link["id"]  # the same row, decided again
    assert now["duplicate_of"] is None
    assert now["paragraphs"] == list(OTHER_STORY)
    text = run(db, "explain", str(now["id"]))
    assert "canonical:" in text and "the same text once normalised" not in text
    assert "was carried by 1 feed(s)" in text
    # the scraper's copy is a story of its own again
    assert after["https://scraper.example/?p=48213"]["duplicate_of"] is None


def test_a_canonical_article_rewritten_into_another_story_frees_its_copies(
    db: str, seeds: tuple[Path, Path]
) -> None:
    seed_a, seed_b = seeds
    run(db, "fetch", str(seed_b))
    run(db, "fetch", str(seed_a))
    before = rows(db)
    canonical = before["agency-2024-12-07-0042"]
    copy = before["https://scraper.example/?p=48213"]
    assert canonical["duplicate_of"] is None and copy["duplicate_of"] == canonical["id"]
    rewrite(seed_b, OTHER_STORY)
    run(db, "fetch", str(seed_b))
    after = rows(db)
    assert after["agency-2024-12-07-0042"]["duplicate_of"] is None
    assert after["https://scraper.example/?p=48213"]["duplicate_of"] is None
    text = run(db, "explain", str(copy["id"]))
    assert "canonical:" in text and "link record:" not in text


def test_an_edit_that_keeps_the_story_keeps_the_links(db: str, seeds: tuple[Path, Path]) -> None:
    seed_a, seed_b = seeds
    run(db, "fetch", str(seed_b))
    run(db, "fetch", str(seed_a))
    before = rows(db)
    canonical = before["agency-2024-12-07-0042"]
    paragraphs = [str(p) for p in canonical["paragraphs"]]  # type: ignore[union-attr]
    # A typo fixed and a paragraph added.
    fixed = (
        paragraphs[0].replace("الجزائر", "الجزائر الشقيقة", 1),
        *paragraphs[1:],
        OTHER_STORY[2],
    )
    rewrite(seed_b, fixed)
    assert "updated=1" in run(db, "fetch", str(seed_b))
    after = rows(db)
    assert after["agency-2024-12-07-0042"]["duplicate_of"] is None
    assert after["https://scraper.example/?p=48213"]["duplicate_of"] == canonical["id"]
    assert len(after["agency-2024-12-07-0042"]["paragraphs"]) == len(paragraphs) + 1  # type: ignore[arg-type]


CHURNING = (
    "افتتح وزير النقل خطا جديدا لمترو الأنفاق يربط وسط العاصمة بالمطار الدولي.",
    "أعلن نادي الهلال تعاقده مع لاعب وسط برازيلي لمدة ثلاثة مواسم مقبلة.",
    "ارتفعت أسعار الذهب في الأسواق العالمية إلى أعلى مستوى لها منذ ستة أشهر.",
    "بدأت فعاليات معرض الكتاب العربي بمشاركة أكثر من مئتي دار نشر من عشرين بلدا.",
    "ضربت عاصفة رملية قوية عدة مدن في الجنوب وأدت إلى إغلاق المطارات والطرق.",
)


def churning_feed(fetch: int) -> str:
    """Five items whose GUIDs (and link tracking parameters) change on every fetch."""
    items = "".join(
        f"<item><title>خبر {n}</title><guid>churn-{fetch}-{n}</guid>"
        f"<link>https://churn.example/news/{n}?utm_source=rss&amp;session={fetch}</link>"
        "<pubDate>Sat, 07 Dec 2024 10:00:00 GMT</pubDate><description><![CDATA["
        f"<p>{text}</p>]]></description></item>"
        for n, text in enumerate(CHURNING)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>churn</title>'
        f"<link>https://churn.example/</link>{items}</channel></rss>"
    )


def test_guid_churn_adds_nothing_after_the_first_fetch(db: str, tmp_path: Path) -> None:
    path = tmp_path / "churn.xml"
    counts = []
    for fetch in range(10):
        path.write_text(churning_feed(fetch), encoding="utf-8")
        run(db, "fetch", str(path))
        counts.append(len(rows(db)))
    assert counts == [5] * 10
    stored = rows(db)
    assert all(row["duplicate_of"] is None for row in stored.values())  # no link records
    assert sorted(stored) == [f"churn-0-{n}" for n in range(5)]


NOTICE = "تنبيه: هذا المحتوى متاح لمشتركي الخدمة فقط، يرجى تسجيل الدخول لقراءة الخبر كاملا."


def notices_feed(count: int) -> str:
    """``count`` distinct items (own GUID, own link) whose body is one and the same notice."""
    items = "".join(
        f"<item><title>إشعار {n}</title><guid>notice-{n}</guid>"
        f"<link>https://notices.example/{n}</link>"
        "<pubDate>Sat, 07 Dec 2024 10:00:00 GMT</pubDate>"
        f"<description><![CDATA[<p>{NOTICE}</p>]]></description></item>"
        for n in range(count)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>notices</title>'
        f"<link>https://notices.example/</link>{items}</channel></rss>"
    )


def test_items_sharing_one_text_are_never_taken_for_a_renamed_item(db: str, tmp_path: Path) -> None:
    """A new GUID with a stored item's text is a rename only when the document no longer names
    that item: two notices in one document, then a third beside them, are three rows."""
    path = tmp_path / "notices.xml"
    path.write_text(notices_feed(2), encoding="utf-8")
    run(db, "fetch", str(path))
    assert sorted(rows(db)) == ["notice-0", "notice-1"]
    path.write_text(notices_feed(3), encoding="utf-8")
    run(db, "fetch", str(path))
    stored = rows(db)
    assert sorted(stored) == ["notice-0", "notice-1", "notice-2"]
    # One story: the first is canonical, the others its exact copies.
    assert sum(row["duplicate_of"] is None for row in stored.values()) == 1
    # A real rename still is one: the third notice's GUID changes, the others stay.
    path.write_text(notices_feed(3).replace("notice-2<", "notice-2-renamed<"), encoding="utf-8")
    run(db, "fetch", str(path))
    assert sorted(rows(db)) == ["notice-0", "notice-1", "notice-2"]
