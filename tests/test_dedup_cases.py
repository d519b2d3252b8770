"""Real-world deduplication cases, pinned: the seed article and patterns found in the corpus.

Every text here was written for these tests, modelled on what the development corpus shows
(``bench/dedup_quality.py`` measures the same patterns on the real articles):

* Al Arabiya's RSS summary is the first ~200 characters of the body, cut mid-sentence and
  often running into the second paragraph: a scraper that puts it above the body repeats it;
* CNN Arabic's summary is often one sentence of a longer first paragraph;
* France24 crossheads repeat a line of a later paragraph;
* two different stories of one day quote the same long statement (the false-positive trap);
* agency copy republished with a dateline, hamza spelling and the last paragraph cut.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest import dedupe, fingerprint
from ingest.boilerplate import recurring_keys, remove_boilerplate
from ingest.clean import clean_any
from ingest.fingerprint import boilerplate_key
from ingest.jobs import FeedJob
from ingest.models import Article, Cleaned, Entry
from ingest.prepare import prepare
from ingest.settings import DedupSettings
from tests.articles import decide as decide_with
from tests.articles import dedupe_text, stored

DEFAULTS = DedupSettings()
SEED = Path(__file__).parent / "fixtures" / "seed-article.txt"
CORPUS = Path(__file__).parents[2] / "shared" / "corpus" / "ant-multisource.jsonl.gz"
T0 = datetime(2024, 12, 7, 9, 0, tzinfo=UTC)

# A sports story: its first paragraph is long; the feed's summary is its first 200 characters.
MATCH = (
    "اقترب فريق الوداد من حسم لقب الدوري المغربي لكرة القدم للمرة الثالثة على التوالي بعد"
    " فوزه الصعب بهدفين مقابل هدف على مضيفه حسنية أكادير مساء السبت في افتتاح الجولة"
    " الخامسة والعشرين من البطولة. ورفع الوداد رصيده إلى ستين نقطة في الصدارة بفارق تسع نقاط"
    " عن أقرب ملاحقيه الرجاء الذي يملك مباراة مؤجلة.",
    "وسجل المهاجم الشاب أيوب العمراني هدفي فريقه في الدقيقتين العشرين والسبعين، بينما قلص"
    " أصحاب الأرض الفارق من ضربة جزاء في الوقت بدل الضائع.",
    "وقال مدرب الوداد بعد المباراة إن فريقه عانى من ضغط كبير في الشوط الثاني، مشيرا إلى أن"
    " اللاعبين أظهروا شخصية البطل في لحظات صعبة.",
    "ويستضيف الوداد في الجولة المقبلة فريق المغرب التطواني على ملعب محمد الخامس بالدار"
    " البيضاء، في حين يحل الرجاء ضيفا على نهضة بركان.",
)
MATCH_EXCERPT = MATCH[0][:200]  # cut mid-word, as the outlet's RSS does

# A technology story whose first paragraph is long; the summary is one sentence of it.
PHONE = (
    "دبي، الإمارات العربية المتحدة -- أعلنت شركة ناشئة في دبي عن هاتف ذكي جديد يعمل بالطاقة"
    " الشمسية ويمكن شحنه بالكامل خلال ست ساعات من التعرض المباشر لأشعة الشمس. وقالت الشركة إن"
    " الهاتف سيطرح في أسواق الخليج مطلع العام المقبل بسعر يقل عن مئتي دولار.",
    "وأوضح المدير التنفيذي للشركة أن الفكرة ولدت من حاجة سكان المناطق النائية إلى أجهزة لا"
    " تعتمد على شبكة الكهرباء.",
    "ويرى محللون أن نجاح المشروع يتوقف على قدرة الشركة على خفض تكلفة الألواح الشمسية الصغيرة"
    " وعلى ثقة المستهلكين في علامة تجارية جديدة.",
)
PHONE_SUMMARY = (
    "أعلنت شركة ناشئة في دبي عن هاتف ذكي جديد يعمل بالطاقة الشمسية ويمكن شحنه بالكامل خلال ست"
    " ساعات من التعرض المباشر لأشعة الشمس."
)

# Two different stories of one day that quote the same long statement.
STATEMENT = (
    '"إن الحكومة ملتزمة بإجراء الانتخابات في موعدها المحدد، ولن تسمح لأي جهة بتعطيل المسار'
    " الديمقراطي أو التشكيك في نزاهة العملية الانتخابية التي ستجري تحت إشراف قضائي كامل"
    ' وبحضور مراقبين دوليين من عدة منظمات"'
)
ELECTION = (
    "أعلنت اللجنة العليا للانتخابات في تونس الانتهاء من تسجيل أكثر من سبعة ملايين ناخب في"
    " القوائم الانتخابية استعدادا للاقتراع المقرر في الخريف.",
    "وقال رئيس الحكومة في كلمة أمام البرلمان: " + STATEMENT,
    "وتتنافس في الانتخابات أكثر من عشرين قائمة حزبية ومستقلة، بحسب ما أعلنته اللجنة.",
)
PROTEST = (
    "تظاهر مئات الشبان في شارع الحبيب بورقيبة وسط العاصمة التونسية احتجاجا على ارتفاع نسبة"
    " البطالة وغلاء الأسعار، ورددوا شعارات تطالب بالتشغيل.",
    "وقال رئيس الحكومة في كلمة أمام البرلمان: " + STATEMENT,
    "وانتشرت قوات الأمن بكثافة حول مقر وزارة الداخلية، فيما لم تسجل أي مواجهات بين المحتجين"
    " والشرطة حتى مساء اليوم.",
)

# An agency story and the copy a second outlet ran.
AGENCY = (
    "أعلنت وزارة الصحة الأردنية تسجيل انخفاض ملحوظ في عدد الإصابات بالإنفلونزا الموسمية خلال"
    " الأسبوعين الماضيين مقارنة بالفترة نفسها من العام الماضي.",
    "وأرجعت الوزارة هذا التراجع إلى حملة التطعيم الواسعة التي أطلقتها في المدارس والمراكز"
    " الصحية مطلع الشتاء.",
    "ودعت الوزارة المواطنين، وخاصة كبار السن وأصحاب الأمراض المزمنة، إلى الإسراع في أخذ"
    " اللقاح قبل نهاية الموسم.",
    "وأكدت أن مخزون اللقاحات يكفي لتغطية الطلب المتوقع حتى نهاية شهر مارس المقبل.",
    "وكانت الوزارة قد سجلت في العام الماضي أعلى معدل إصابات منذ عشر سنوات.",
)
AGENCY_COPY = (
    "عمان (رويترز) - أعلنت وزارة الصحة الاردنية تسجيل انخفاض ملحوظ في عدد الاصابات بالانفلونزا"
    " الموسمية خلال الاسبوعين الماضيين مقارنة بالفترة نفسها من العام الماضي.",
    "وأرجعت الوزارة هذا التراجع الى حملة التطعيم الواسعة التي أطلقتها في المدارس والمراكز"
    " الصحية مطلع الشتاء.",
    "ودعت الوزارة المواطنين، وخاصة كبار السن وأصحاب الامراض المزمنة، الى الاسراع في أخذ"
    " اللقاح قبل نهاية الموسم.",
    "وأكدت أن مخزون اللقاحات يكفي لتغطية الطلب المتوقع حتى نهاية شهر مارس المقبل.",
)


def seed_lines() -> list[str]:
    return SEED.read_text(encoding="utf-8").splitlines()


def entry(paragraphs: tuple[str, ...] | list[str], guid: str = "g") -> Entry:
    html = "".join(f"<p>{p}</p>" for p in paragraphs)
    return Entry(guid=guid, link=None, title="عنوان", content=html, summary="", published=T0)


candidate = stored


def decide(paragraphs: tuple[str, ...], *candidates: object) -> str:
    return str(decide_with(paragraphs, *candidates, settings=DEFAULTS).kind)  # type: ignore[arg-type]


def prepared(entry: Entry, learnt: frozenset[str] = frozenset()) -> Article:
    return prepare(entry, FeedJob("https://scraper.example/feed", T0, DEFAULTS, recurring=learnt))[
        0
    ]


# ---------------------------------------------------------------- the seed article


def test_seed_article_through_prepare_keeps_each_idea_once() -> None:
    article = prepared(entry(seed_lines()))
    lines = seed_lines()
    assert len(article.paragraphs) == 12
    assert article.paragraphs[0] == lines[1]  # the excerpt stays: the first occurrence
    reasons = {(r.reason, r.position): r.duplicate_of for r in article.removed}
    assert reasons == {
        ("ad_marker", 0): None,
        ("near_duplicate", 11): 2,  # relations, reworded: repeats the caption
        ("near_duplicate", 12): 1,  # neutrality, reworded: repeats the excerpt
        ("ad_marker", 15): None,
        ("source_trailer", 16): None,
    }


def test_seed_verdicts_do_not_change_with_the_feeds_boilerplate() -> None:
    # Learnt boilerplate of a feed that never carried these lines removes nothing.
    learnt = recurring_keys([(boilerplate_key("تابعونا على تويتر"),)] * 3, 3)
    article = prepared(entry(seed_lines()), learnt)
    assert len(article.paragraphs) == 12


# ---------------------------------------------------------------- reworded and truncated leads


def test_truncated_excerpt_goes_and_the_full_paragraph_stays() -> None:
    result = dedupe_text(Cleaned(paragraphs=(MATCH_EXCERPT, *MATCH)), DEFAULTS)
    assert result.paragraphs == MATCH
    (removed,) = result.removed
    assert (removed.reason, removed.position, removed.duplicate_of) == ("contained", 0, 1)
    assert removed.overlap is not None and removed.overlap >= 0.95


def test_summary_sentence_inside_the_first_paragraph_goes() -> None:
    result = dedupe_text(Cleaned(paragraphs=(PHONE_SUMMARY, *PHONE)), DEFAULTS)
    assert result.paragraphs == PHONE
    assert [(r.reason, r.position) for r in result.removed] == [("contained", 0)]


def test_crosshead_repeating_a_later_line_goes() -> None:
    crosshead = "الهاتف سيطرح في أسواق الخليج مطلع العام المقبل بسعر يقل عن مئتي دولار"
    paragraphs = (PHONE[0], crosshead, *PHONE[1:])
    result = dedupe_text(Cleaned(paragraphs=paragraphs), DEFAULTS)
    assert result.paragraphs == PHONE
    assert [(r.reason, r.position, r.duplicate_of) for r in result.removed] == [("contained", 1, 0)]


def test_paragraphs_sharing_some_vocabulary_are_kept() -> None:
    # Other facts in some of the same words: neither contained (word order) nor covered.
    paragraphs = (
        MATCH[1],
        "وأضاع المهاجم الشاب فرصة ثمينة لإضافة هدف ثالث قبل نهاية المباراة بدقائق، بعدما تصدى"
        " حارس المرمى لتسديدته القوية من مسافة قريبة.",
    )
    result = dedupe_text(Cleaned(paragraphs=paragraphs), DEFAULTS)
    assert result.removed == ()


def test_a_paragraph_made_of_anothers_words_is_covered() -> None:
    # Three quarters of the smaller paragraph's words (12 stems) are in the other one, in
    # another order: word pairs do not see it, the cover does, and the smaller one goes. This
    # is the rule's price: on the corpus it removed 3 of 112,881 distinct body paragraphs
    # (bench/measure_thresholds.py --only rule), and it catches the reworded leads that reorder
    # clauses and change verb forms.
    paragraphs = (
        MATCH[1],
        "وسجل أصحاب الأرض هدفا من ضربة جزاء في الدقيقة العشرين، بينما أضاع المهاجم الشاب فرصة"
        " التعادل في الوقت بدل الضائع.",
    )
    result = dedupe_text(Cleaned(paragraphs=paragraphs), DEFAULTS)
    assert [(r.reason, r.position, r.duplicate_of, r.overlap) for r in result.removed] == [
        ("covered", 1, 0, 0.75)
    ]
    off = replace(DEFAULTS, paragraph_min_cover=1.01)
    assert dedupe_text(Cleaned(paragraphs=paragraphs), off).removed == ()


def test_a_reworded_lead_that_reorders_its_clauses_is_covered() -> None:
    # Written for the test: the lead reorders the body's clauses and changes verb forms
    # (ندد / منددا, طالب / وطالب): distance 15, Jaccard 0.38, word pairs 0.38.
    lead = (
        "ندد وزير الخارجية المصري بالتدخل الأجنبي في الشؤون الليبية، وطالب بانسحاب القوات"
        " الأجنبية والمرتزقة من ليبيا"
    )
    body = (
        "وطالب وزير الخارجية المصري سامح شكري خلال مؤتمر صحفي في القاهرة بانسحاب كل القوات"
        " الأجنبية والمرتزقة من الأراضي الليبية، منددا بالتدخلات الأجنبية في الشأن الليبي التي"
        " قال إنها تعرقل الحل السياسي",
        "تستضيف العاصمة المصرية القاهرة الأسبوع المقبل اجتماعا لوزراء الخارجية العرب لبحث"
        " الأزمة الليبية",
    )
    result = dedupe_text(Cleaned(paragraphs=(lead, *body)), DEFAULTS)
    assert result.paragraphs == body  # the lead goes, the fuller paragraph and the other stay
    (removed,) = result.removed
    assert (removed.reason, removed.position, removed.duplicate_of) == ("covered", 0, 1)


def test_explain_pair_names_containment() -> None:
    _, _, verdict = dedupe.explain_pair(
        fingerprint.analyse([MATCH_EXCERPT]), fingerprint.analyse([MATCH[0]]), DEFAULTS
    )
    assert verdict.startswith("contained: containment 0.96")  # the last word was cut


# ---------------------------------------------------------------- the false-positive trap


def test_two_stories_sharing_a_long_quotation_stay_two_articles() -> None:
    assert decide(PROTEST, candidate(ELECTION)) == "new"
    assert decide(ELECTION, candidate(PROTEST)) == "new"


def test_a_quotation_shared_by_two_stories_is_not_boilerplate() -> None:
    history = [[boilerplate_key(p) for p in story] for story in (ELECTION, PROTEST)]
    learnt = recurring_keys(history, DEFAULTS.boilerplate_min_articles)
    third = ("خبر ثالث عن موضوع آخر تماما في اليوم نفسه.", ELECTION[1])
    cleaned = Cleaned(paragraphs=third)
    assert remove_boilerplate(cleaned, fingerprint.analyse(third), learnt)[0].removed == ()


# ---------------------------------------------------------------- syndication


def test_agency_copy_with_dateline_hamza_and_cut_is_a_near_duplicate() -> None:
    assert decide(AGENCY_COPY, candidate(AGENCY)) == "near"


def test_agency_copy_is_not_mistaken_for_another_health_story() -> None:
    other = (
        "أطلقت وزارة الصحة المصرية حملة وطنية للكشف المبكر عن أمراض القلب في المدارس الثانوية"
        " تشمل أكثر من مليون طالب.",
        "وقالت الوزارة إن الحملة ستستمر ثلاثة أشهر وتغطي جميع المحافظات.",
    )
    assert decide(AGENCY_COPY, candidate(other)) == "new"


def test_clean_then_dedupe_of_a_scraper_item() -> None:
    """The whole scraper pattern: ad markers, a truncated excerpt, the body, a trailer."""
    html = "".join(f"<p>{p}</p>" for p in ("[ad_1]", MATCH_EXCERPT, *MATCH, "[ad_2]", "المصدر"))
    result = dedupe_text(clean_any(html), DEFAULTS)
    assert result.paragraphs == MATCH
    assert sorted(r.reason for r in result.removed) == [
        "ad_marker",
        "ad_marker",
        "contained",
        "source_trailer",
    ]


# ---------------------------------------------------------------- the development corpus


@pytest.mark.corpus
@pytest.mark.skipif(not CORPUS.exists(), reason="../shared/corpus is absent")
def test_corpus_truncated_summaries_are_caught() -> None:
    """Al Arabiya: the summary is a prefix of the body; every one must go, never the body."""
    checked = caught = 0
    with gzip.open(CORPUS, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number % 10:
                continue
            record = json.loads(line)
            body = tuple(p for p in (record["body"] or "").split("\n") if p.strip())
            summary = (record["summary"] or "").strip()
            if record["source"] != "alarabiya.net" or not body or not summary:
                continue
            if not " ".join(body).startswith(summary) or len(summary) >= len(body[0]):
                continue
            checked += 1
            result = dedupe_text(Cleaned(paragraphs=(summary, *body)), DEFAULTS)
            caught += result.paragraphs == body
    assert checked >= 50
    assert caught / checked >= 0.9
