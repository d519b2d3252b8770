"""Paragraph and article duplicate decisions (ingest.dedupe)."""

from __future__ import annotations

import gzip
import itertools
import json
import random
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest import dedupe, fingerprint
from ingest.decide import Decider
from ingest.models import Cleaned, Removed, Verdict
from ingest.settings import DedupSettings
from tests.articles import article_fp, dedupe_text, make_article, stored
from tests.articles import decide as decide_with

SEED = Path(__file__).parent / "fixtures" / "seed-article.txt"
CORPUS = Path(__file__).parents[2] / "shared" / "corpus" / "ant-multisource.jsonl.gz"

# The defaults measured by bench/measure_thresholds.py.
MEASURED = DedupSettings(
    paragraph_max_distance=16,
    paragraph_min_overlap=0.55,
    paragraph_min_tokens=5,
    article_max_distance=14,
    article_min_overlap=0.6,
)

# An unrelated article, written for these tests (weather and exams in Morocco).
UNRELATED = (
    "أعلنت هيئة الأرصاد الجوية في المغرب أن موجة حر شديدة ستضرب المناطق الداخلية خلال نهاية"
    " الأسبوع، مع درجات حرارة قد تتجاوز 45 درجة مئوية في بعض المدن.",
    "ودعت الهيئة السكان إلى تجنب التعرض لأشعة الشمس في ساعات الظهيرة والإكثار من شرب المياه،"
    " خاصة كبار السن والأطفال والمرضى.",
    "وأشارت التوقعات إلى أن الأجواء ستعرف تحسنا تدريجيا ابتداء من يوم الاثنين، مع هبوب رياح خفيفة"
    " على السواحل الأطلسية وانخفاض ملموس في الرطوبة.",
    "من جهة أخرى، قررت وزارة التربية الوطنية تأجيل امتحانات الدورة الاستدراكية في ثلاث جهات بسبب"
    " ارتفاع درجات الحرارة داخل القاعات.",
)


def seed_paragraphs() -> tuple[str, ...]:
    """Lines 2..15 of the seed article: without [ad_1], [ad_2] and the bare المصدر."""
    return tuple(SEED.read_text(encoding="utf-8").splitlines()[1:15])


candidate = stored


def decide(paragraphs: tuple[str, ...], *candidates: object) -> Verdict:
    return decide_with(paragraphs, *candidates, settings=MEASURED)  # type: ignore[arg-type]


# ---------------------------------------------------------------- paragraphs: the seed article


@pytest.mark.parametrize("settings", [MEASURED, DedupSettings()], ids=["measured", "defaults"])
def test_seed_article_keeps_twelve_paragraphs(settings: DedupSettings) -> None:
    paragraphs = seed_paragraphs()
    result = dedupe_text(Cleaned(paragraphs=paragraphs), settings)
    assert result.positions == (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13)
    assert result.paragraphs == tuple(paragraphs[i] for i in result.positions)
    assert [(r.reason, r.position, r.duplicate_of) for r in result.removed] == [
        ("near_duplicate", 10, 1),  # relations, reworded: the caption "(غيتي)" stays
        ("near_duplicate", 11, 0),  # neutrality, reworded: the excerpt stays
    ]
    assert [r.text for r in result.removed] == [paragraphs[10], paragraphs[11]]


def test_seed_pairs_pinned_distance_and_overlap() -> None:
    result = dedupe_text(Cleaned(paragraphs=seed_paragraphs()), MEASURED)
    relations, neutrality = result.removed
    assert (relations.distance, relations.overlap) == (11, 0.6)
    assert (neutrality.distance, neutrality.overlap) == (12, 0.68)


def test_seed_other_pairs_stay_far_apart() -> None:
    paragraphs = seed_paragraphs()
    kept = [i for i in range(14) if i not in (10, 11)]
    for i, j in itertools.combinations(kept, 2):
        a, b = paragraphs[i], paragraphs[j]
        _, overlap, verdict = dedupe.explain_pair(analyse([a]), analyse([b]), MEASURED)
        assert overlap < 0.3, (i, j)
        assert verdict.startswith("different"), (i, j)


def test_removed_uses_cleaner_positions_and_merges_sorted() -> None:
    # The cleaner saw [ad_1] as block 0 and the trailer as block 15.
    cleaned = Cleaned(
        paragraphs=seed_paragraphs(),
        positions=tuple(range(1, 15)),
        removed=(
            Removed(reason="source_trailer", text="المصدر", position=16),
            Removed(reason="ad_marker", text="[ad_1]", position=0),
        ),
        links=("https://example.org/a",),
    )
    result = dedupe_text(cleaned, MEASURED)
    assert [(r.position, r.reason, r.duplicate_of) for r in result.removed] == [
        (0, "ad_marker", None),
        (11, "near_duplicate", 2),
        (12, "near_duplicate", 1),
        (16, "source_trailer", None),
    ]
    assert result.positions == (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14)
    assert result.links == ("https://example.org/a",)


def test_dedupe_is_idempotent() -> None:
    once = dedupe_text(Cleaned(paragraphs=seed_paragraphs()), MEASURED)
    twice = dedupe_text(once, MEASURED)
    assert twice == once


# ---------------------------------------------------------------- paragraphs: rules


def test_exact_repeat_after_normalisation() -> None:
    first = seed_paragraphs()[2]
    again = "«" + first.replace("أ", "ا").replace("،", " ،") + "»"
    result = dedupe_text(Cleaned(paragraphs=(first, UNRELATED[0], again)), MEASURED)
    assert result.paragraphs == (first, UNRELATED[0])
    (removed,) = result.removed
    assert (removed.reason, removed.position, removed.duplicate_of) == ("exact_duplicate", 2, 0)
    assert (removed.distance, removed.overlap) == (0, 1.0)


def test_first_occurrence_wins_and_the_closest_kept_one_is_named() -> None:
    lead, _, *_ = seed_paragraphs()
    reworded = seed_paragraphs()[11]
    result = dedupe_text(Cleaned(paragraphs=(reworded, UNRELATED[1], lead, lead)), MEASURED)
    assert result.paragraphs == (reworded, UNRELATED[1])
    assert [(r.position, r.duplicate_of, r.reason) for r in result.removed] == [
        (2, 0, "near_duplicate"),
        (3, 0, "near_duplicate"),  # the dropped copy at 2 is never a reference
    ]


@pytest.mark.parametrize(
    "paragraphs",
    [
        ("", ""),
        ("...", "..."),
        ("***", "—", "***"),
        ("في من على", "في من على"),  # stopwords only: no stems
    ],
)
def test_featureless_paragraphs_are_never_clustered(paragraphs: tuple[str, ...]) -> None:
    result = dedupe_text(Cleaned(paragraphs=paragraphs), MEASURED)
    # A repeated stopword-only line is still an exact repeat of real words; the rest stay.
    if paragraphs[0] == "في من على":
        assert [r.reason for r in result.removed] == ["exact_duplicate"]
    else:
        assert result.paragraphs == paragraphs
        assert result.removed == ()


def test_short_paragraphs_are_not_judged_by_fingerprint_alone() -> None:
    settings = DedupSettings(paragraph_max_distance=64, paragraph_min_overlap=0.0)
    # 3 stems each, 2 shared: overlap 0.5, below the short-paragraph bar of 0.8
    a, b = "ارتفاع أسعار النفط", "ارتفاع أسعار الذهب"
    result = dedupe_text(Cleaned(paragraphs=(a, b)), settings)
    assert result.paragraphs == (a, b)
    # the same stems in another order and spelling: dropped
    c = "النفط: أسعار ارتفاع"
    result = dedupe_text(Cleaned(paragraphs=(a, c)), settings)
    assert [(r.reason, r.overlap) for r in result.removed] == [("near_duplicate", 1.0)]
    # one shared word is never enough, however short
    result = dedupe_text(Cleaned(paragraphs=("غيتي", "(غيتي) رويترز")), settings)
    assert len(result.paragraphs) == 2


def test_overlap_is_required_besides_distance() -> None:
    settings = DedupSettings(paragraph_max_distance=64, paragraph_min_overlap=0.5)
    result = dedupe_text(Cleaned(paragraphs=seed_paragraphs()[2:6]), settings)
    assert result.removed == ()


def test_many_paragraphs_are_bounded_in_time() -> None:
    rng = random.Random(3)
    words = " ".join(seed_paragraphs() + UNRELATED).split()
    paragraphs = tuple(" ".join(rng.choices(words, k=8)) for _ in range(10_000))
    start = time.perf_counter()
    result = dedupe_text(Cleaned(paragraphs=paragraphs + paragraphs[:50]), MEASURED)
    assert time.perf_counter() - start < 15
    assert len(result.paragraphs) + len(result.removed) == 10_050
    assert [r.duplicate_of for r in result.removed[-50:]] == [
        result.positions[result.paragraphs.index(p)] for p in paragraphs[:50]
    ]


# ---------------------------------------------------------------- helpers


def test_jaccard() -> None:
    assert dedupe.jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)
    assert dedupe.jaccard({"a"}, {"a"}) == 1.0
    assert dedupe.jaccard(set(), set()) == 0.0  # nothing shared: never a duplicate
    assert dedupe.jaccard({"a"}, set()) == 0.0


def text_hash(paragraphs: list[str] | tuple[str, ...]) -> str:
    return fingerprint.article_features(analyse(paragraphs)).text_hash


def analyse(texts: list[str] | tuple[str, ...]) -> tuple[fingerprint.Para, ...]:
    return fingerprint.analyse(t for t in texts if t.strip())


def test_text_hash_ignores_spelling_punctuation_and_breaks() -> None:
    paragraphs = seed_paragraphs()
    h = text_hash(paragraphs)
    assert len(h) == 64
    assert text_hash([" ".join(paragraphs)]) == h
    assert text_hash([p.replace("أ", "ا").replace("،", "") for p in paragraphs]) == h
    assert text_hash(paragraphs[:-1]) != h
    assert text_hash([]) == ""
    assert text_hash(["...", " ", "،"]) == ""


def test_article_features_exclude_nothing_but_stopwords() -> None:
    paras = fingerprint.analyse(seed_paragraphs()[:2])
    assert list(paras[0].stems[:3]) == ["بدا", "حرب", "روسيه"]
    every = [s for p in fingerprint.analyse(seed_paragraphs()) for s in p.stems]
    assert article_fp(seed_paragraphs()) == fingerprint.fingerprint(every)


def test_explain_pair() -> None:
    a, b = seed_paragraphs()[0], seed_paragraphs()[11]
    assert dedupe.explain_pair(analyse([a]), analyse([b]), MEASURED) == (12, 0.68, "near_duplicate")
    distance, overlap, verdict = dedupe.explain_pair(
        analyse(seed_paragraphs()), analyse(UNRELATED), MEASURED
    )
    assert distance > 14
    assert overlap < 0.05
    assert verdict == "new"
    assert dedupe.explain_pair(analyse([""]), analyse(["..."]), MEASURED)[2].startswith("new: ")


# ---------------------------------------------------------------- articles (HOSTILE 24)


def test_identical_item_under_another_guid_is_exact() -> None:
    paragraphs = seed_paragraphs()
    assert decide(paragraphs, candidate(paragraphs)) == Verdict(
        kind="exact", duplicate_of=7, rule="text", distance=0, overlap=1.0, match_id=7
    )


def test_respelt_and_reparagraphed_copy_is_exact() -> None:
    paragraphs = seed_paragraphs()
    copy = (" ".join(p.replace("أ", "ا") for p in paragraphs),)
    verdict = decide(copy, candidate(paragraphs))
    assert (verdict.kind, verdict.rule, verdict.duplicate_of) == ("exact", "text", 7)


def test_one_word_edit_is_near() -> None:
    paragraphs = seed_paragraphs()
    edited = (paragraphs[0].replace("كبار", "بارزين"), *paragraphs[1:])
    verdict = decide(edited, candidate(paragraphs))
    assert (verdict.kind, verdict.rule, verdict.duplicate_of) == ("near", "simhash", 7)
    assert verdict.distance is not None
    assert verdict.distance <= 3
    assert verdict.overlap is not None
    assert verdict.overlap > 0.95


def test_edited_copy_with_dateline_and_cut_is_near() -> None:
    paragraphs = seed_paragraphs()
    edited = ("الجزائر - (وكالات) - " + paragraphs[0], *paragraphs[1:-1])
    verdict = decide(edited, candidate(paragraphs))
    assert verdict.kind == "near"


def test_unrelated_item_is_new() -> None:
    assert decide(UNRELATED, candidate(seed_paragraphs())) == Verdict(kind="new")


def test_close_fingerprint_without_overlap_is_new() -> None:
    fp = article_fp(UNRELATED)
    lookalike = candidate(seed_paragraphs(), simhash=fp ^ 1)
    assert decide(UNRELATED, lookalike) == Verdict(kind="new")


def test_nearest_candidate_is_the_match_and_the_oldest_story_keeps_both() -> None:
    paragraphs = seed_paragraphs()
    far = candidate((*paragraphs[:-3], UNRELATED[0]), id_=3)
    exact = candidate(paragraphs, id_=9)
    other = candidate(UNRELATED, id_=1)
    verdict = decide(paragraphs, far, other, exact)
    # the item is a copy of two stored stories: they become one, under the oldest (3)
    assert (verdict.match_id, verdict.rule, verdict.duplicate_of) == (9, "text", 3)
    decision = Decider(MEASURED).decide(make_article("x", paragraphs), [far, other, exact])
    assert [root for root, _ in decision.merge] == [9]


def test_empty_texts_are_not_clustered() -> None:
    for empty in ((), ("",), ("...", "؟")):
        assert article_fp(empty) == fingerprint.NO_FINGERPRINT
        verdict = decide(empty, candidate((), simhash=0), candidate(("…",), id_=8, simhash=0))
        assert verdict == Verdict(kind="new")


def test_candidates_without_fingerprint_are_skipped() -> None:
    paragraphs = seed_paragraphs()
    lookalike = replace(candidate(paragraphs, simhash=0), text_hash="")
    assert decide(paragraphs, lookalike) == Verdict(kind="new")


def test_ten_megabyte_text_is_bounded_in_time() -> None:
    words = " ".join(seed_paragraphs()).split()
    big = " ".join(words[i % len(words)] for i in range(900_000))
    assert len(big.encode()) > 10_000_000
    start = time.perf_counter()
    result = dedupe_text(Cleaned(paragraphs=(*UNRELATED[:2], big)), MEASURED)
    verdict = decide((big,), candidate(UNRELATED))
    assert time.perf_counter() - start < 20
    assert len(result.paragraphs) == 3
    assert verdict.kind == "new"


# ---------------------------------------------------------------- the development corpus

corpus = pytest.mark.skipif(not CORPUS.exists(), reason="../shared/corpus is absent")


def corpus_sample(every: int = 40) -> Iterator[dict[str, str]]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number % every == 0:
                yield json.loads(line)


@pytest.fixture(scope="module")
def sample() -> list[tuple[str, str, str, str, tuple[str, ...]]]:
    """(source, day, category, summary, body paragraphs) of every 40th corpus article."""
    return [
        (
            r["source"],
            (r["date"] or "")[:10],
            r["category"],
            r["summary"] or "",
            tuple(p for p in (r["body"] or "").split("\n") if p.strip()),
        )
        for r in corpus_sample()
    ]


@corpus
@pytest.mark.corpus
def test_corpus_reworded_leads_are_dropped(
    sample: list[tuple[str, str, str, str, tuple[str, ...]]],
) -> None:
    """The RSS summary put above a body that repeats it in other words (the seed pattern)."""
    reworded = caught = 0
    for source, _, _, summary, body in sample:
        if source not in ("arabic.cnn.com", "alarabiya.net") or not summary or not body:
            continue
        stems = fingerprint.analyse_paragraph(summary).stem_set
        overlaps = [dedupe.jaccard(stems, fingerprint.analyse_paragraph(p).stem_set) for p in body]
        best = max(range(len(body)), key=lambda i: overlaps[i])
        if overlaps[best] < 0.5 or text_hash([summary]) == text_hash([body[best]]):
            continue
        reworded += 1
        result = dedupe_text(Cleaned(paragraphs=(summary, *body)), MEASURED)
        # either the body paragraph repeats the summary, or the summary is contained in it
        caught += any({r.position, r.duplicate_of} == {0, best + 1} for r in result.removed)
    assert reworded >= 50
    assert caught / reworded >= 0.85  # measured on the whole corpus: 92.1%


@corpus
@pytest.mark.corpus
def test_corpus_body_paragraphs_are_rarely_dropped(
    sample: list[tuple[str, str, str, str, tuple[str, ...]]],
) -> None:
    total = dropped = 0
    for _, _, _, _, body in sample:
        result = dedupe_text(Cleaned(paragraphs=body), MEASURED)
        total += len(body)
        dropped += sum(r.reason == "near_duplicate" for r in result.removed)
    assert total > 3000
    # measured on the whole corpus: 0.18%, most of them real rewordings (bench/)
    assert dropped / total < 0.005


@corpus
@pytest.mark.corpus
def test_corpus_edited_copies_are_near_and_others_new(
    sample: list[tuple[str, str, str, str, tuple[str, ...]]],
) -> None:
    rng = random.Random(5)
    bodies = [body for *_, body in sample if body and article_fp(body)]
    originals = [candidate(body, id_=i) for i, body in enumerate(bodies)]
    near = 0
    for i, body in enumerate(bodies):
        edited = ("دبي - العربية.نت", "بيروت - (رويترز) - " + body[0], *body[1:])
        verdict = decide(edited, originals[i])
        near += verdict.kind == "near" and verdict.duplicate_of == i
    assert near / len(bodies) >= 0.97  # measured on the whole corpus: 99.5%
    flagged = 0
    pairs = [rng.sample(range(len(bodies)), 2) for _ in range(1000)]
    for i, j in pairs:
        flagged += decide(bodies[i], originals[j]).kind != "new"
    assert flagged <= 1


# ---------------------------------------------------------------- the rule, pair by pair


def pairwise_dedupe(
    cleaned: Cleaned, paras: tuple[fingerprint.Para, ...], settings: DedupSettings
) -> tuple[Cleaned, tuple[fingerprint.Para, ...]]:
    """The paragraph rule of the module docstring, written the slow, obvious way: every new
    paragraph against every kept one with the per-pair rules ``explain`` uses
    (``_subsumes``, ``_paragraph_match``), counting shared stem pairs by set intersection."""
    kept: list[tuple[int, fingerprint.Para] | None] = []
    first: dict[str, int] = {}
    removed = list(cleaned.removed)
    for position, para in enumerate(paras):
        exact = first.get(para.key) if para.key else None
        if exact is not None and (hit := kept[exact]) is not None:
            removed.append(Removed("exact_duplicate", para.text, position, hit[0], 0, 1.0))
            continue
        compared = [(i, k) for i, k in enumerate(kept[: dedupe.MAX_NEAR_COMPARED]) if k]
        dropped = False
        for i, (other_position, other) in compared:
            shared = len(para.pairs & other.pairs)
            subsumed = dedupe._subsumes(para, other, shared, settings)
            if subsumed:
                kept[i] = None
                dropped = True
                dist = fingerprint.distance(para.fp, other.fp)
                reason, figure = subsumed
                removed.append(
                    Removed(reason, other.text, other_position, position, dist, round(figure, 4))
                )
        if not dropped:
            matches = [
                (i, *match)
                for i, (_, other) in compared
                if (match := dedupe._paragraph_match(para, other, settings)) is not None
            ]
            if matches:
                rank = {"exact_duplicate": 0, "near_duplicate": 1, "contained": 2, "covered": 3}
                i, reason, dist, overlap = min(
                    matches, key=lambda m: (rank[m[1]], -m[3], m[2], m[0])
                )
                hit = kept[i]
                assert hit is not None
                removed.append(
                    Removed(reason, para.text, position, hit[0], dist, round(overlap, 4))
                )
                continue
        if para.key:
            first.setdefault(para.key, len(kept))
        kept.append((position, para))
    removed.sort(key=lambda r: r.position)
    alive = [k for k in kept if k is not None]
    result = replace(
        cleaned,
        paragraphs=tuple(p.text for _, p in alive),
        removed=tuple(removed),
        positions=tuple(position for position, _ in alive),
    )
    return result, tuple(p for _, p in alive)


# A small vocabulary (one stopword among it), so that generated paragraphs share stems, repeat,
# contain and overlap one another often.
VOCABULARY = [
    "حكومة",
    "برلمان",
    "انتخابات",
    "اقتصاد",
    "سوريا",
    "لبنان",
    "حرب",
    "سلام",
    "وزير",
    "رئيس",
    "مدينة",
    "في",
]


@st.composite
def paragraph_lists(draw: st.DrawFn) -> list[str]:
    texts: list[str] = []
    for _ in range(draw(st.integers(0, 12))):
        if texts and draw(st.booleans()):  # a copy, a cut or an extension of an earlier one
            words = draw(st.sampled_from(texts)).split()
            start = draw(st.integers(0, len(words)))
            end = draw(st.integers(start, len(words)))
            extra = draw(st.lists(st.sampled_from(VOCABULARY), max_size=4))
            texts.append(" ".join(words[start:end] + extra) or "و")
        else:
            texts.append(" ".join(draw(st.lists(st.sampled_from(VOCABULARY), max_size=14))) or "و")
    return texts


@hypothesis.settings(max_examples=300, deadline=None)
@given(
    paragraph_lists(),
    st.integers(0, 7),
    st.sampled_from([0.0, 0.3, 0.55, 1.0]),
    st.sampled_from([0.0, 0.5, 0.8, 1.0]),
    st.sampled_from([0, 16, 64]),
)
def test_dedupe_equals_the_pair_by_pair_rule(
    texts: list[str], min_tokens: int, min_overlap: float, min_containment: float, distance: int
) -> None:
    rules = replace(
        MEASURED,
        paragraph_min_tokens=min_tokens,
        paragraph_min_overlap=min_overlap,
        paragraph_min_containment=min_containment,
        paragraph_max_distance=distance,
    )
    cleaned = Cleaned(paragraphs=tuple(texts), positions=tuple(range(len(texts))))
    paras = fingerprint.analyse(texts)
    got, got_paras = dedupe.dedupe_paragraphs(cleaned, paras, rules)
    want, want_paras = pairwise_dedupe(cleaned, paras, rules)
    assert got == want
    assert got_paras == want_paras


@corpus
@pytest.mark.corpus
def test_dedupe_equals_the_pair_by_pair_rule_on_corpus_articles() -> None:
    # Each of 1 in 40 corpus articles with its summary above it and, every third, its last
    # paragraphs again cut short (the scraper residue the rule exists for).
    compared = 0
    for n, record in enumerate(corpus_sample()):
        body = [p for p in record["body"].split("\n") if p.strip()]
        texts = [record.get("summary") or "", *body]
        if n % 3 == 0 and body:
            texts += [p[: len(p) // 2] for p in body[-3:]]
        texts = [t for t in texts if t.strip()]
        cleaned = Cleaned(paragraphs=tuple(texts), positions=tuple(range(len(texts))))
        paras = fingerprint.analyse(texts)
        assert dedupe.dedupe_paragraphs(cleaned, paras, MEASURED) == pairwise_dedupe(
            cleaned, paras, MEASURED
        )
        compared += 1
    assert compared > 500
