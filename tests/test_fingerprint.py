"""Simhash fingerprints over Arabic stems (ingest.fingerprint)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import simhash
from hypothesis import given
from hypothesis import strategies as st

from ingest import arabic, fingerprint

SEED = Path(__file__).parent / "fixtures" / "seed-article.txt"


def seed_paragraphs() -> list[str]:
    return SEED.read_text(encoding="utf-8").splitlines()[1:15]


def vocalise(text: str) -> str:
    marks = "\u064e\u064f\u0650\u0651\u0652\u064b"
    return "".join(
        c + marks[i % len(marks)] if "\u0621" <= c <= "\u064a" else c for i, c in enumerate(text)
    )


def test_version_is_pinned_with_the_stemmer() -> None:
    # Changing either changes every stored fingerprint: bump FINGERPRINT_VERSION and re-pin.
    assert fingerprint.FINGERPRINT_VERSION == 1
    assert arabic.STEMMER_ID == "snowball-arabic/PyStemmer-3.1.0"


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (0, "06d0494078a207c8"),  # neutrality (the excerpt)
        (1, "3f5ce13c95160969"),  # relations caption "(غيتي)"
        (2, "212eec2c3c034248"),
        (10, "0f5eab3cbd860b69"),  # relations, reworded
        (11, "02d0280475820fcc"),  # neutrality, reworded
    ],
)
def test_pinned_paragraph_fingerprints(index: int, expected: str) -> None:
    assert fingerprint.to_hex(fingerprint.text_fingerprint(seed_paragraphs()[index])) == expected


def test_pinned_whole_article_fingerprint() -> None:
    text = "\n".join(seed_paragraphs())
    assert fingerprint.to_hex(fingerprint.text_fingerprint(text)) == "25dea81cfd82a8e9"


def test_equals_the_simhash_package_on_the_feature_list() -> None:
    for paragraph in seed_paragraphs():
        stems = arabic.stems(paragraph)
        assert fingerprint.fingerprint(stems) == simhash.Simhash(stems).value


def test_large_weights_match_the_unweighted_list() -> None:
    # simhash 2.1.2 overflows a uint8 for a dict weight above 255; we split weights instead.
    features = ["سلام"] * 300 + ["حرب"] * 280 + ["خبر"] * 100 + ["يوم"] * 7
    expected = simhash.Simhash(features).value
    assert fingerprint.fingerprint(features) == expected
    assert fingerprint.fingerprint(Counter(features)) == expected


def test_mapping_weights_equal_repeats() -> None:
    assert fingerprint.fingerprint({"a": 3, "b": 1}) == fingerprint.fingerprint(
        ["a", "b", "a", "a"]
    )
    assert fingerprint.fingerprint({"a": 3, "b": 0}) == fingerprint.fingerprint(["a"] * 3)


@pytest.mark.parametrize("text", ["", "   ", "...،؛؟!!", "في من على إلى", "\u064e\u0651\u0640"])
def test_featureless_text_has_no_fingerprint(text: str) -> None:
    assert fingerprint.text_fingerprint(text) == fingerprint.NO_FINGERPRINT == 0


def test_empty_features_have_no_fingerprint() -> None:
    assert fingerprint.fingerprint([]) == 0
    assert fingerprint.fingerprint({}) == 0


def test_text_instead_of_features_is_refused() -> None:
    with pytest.raises(TypeError, match="text_fingerprint"):
        fingerprint.fingerprint("نص عربي")


def test_fully_vocalised_text_is_not_a_constant_fingerprint() -> None:
    paragraphs = seed_paragraphs()
    vocalised = [fingerprint.text_fingerprint(vocalise(p)) for p in paragraphs]
    assert vocalised == [fingerprint.text_fingerprint(p) for p in paragraphs]
    assert len(set(vocalised)) == len(paragraphs)
    assert fingerprint.distance(vocalised[3], vocalised[7]) >= 16  # unrelated stay far apart


def test_distance() -> None:
    assert fingerprint.distance(0, 0) == 0
    assert fingerprint.distance(0, (1 << 64) - 1) == 64
    assert fingerprint.distance(0b1011, 0b0110) == 3


@given(st.integers(0, (1 << 64) - 1))
def test_hex_and_signed_round_trips(fp: int) -> None:
    text = fingerprint.to_hex(fp)
    assert len(text) == 16
    assert text == text.lower()
    assert fingerprint.from_hex(text) == fp
    signed = fingerprint.to_signed64(fp)
    assert -(1 << 63) <= signed < 1 << 63
    assert fingerprint.from_signed64(signed) == fp


def test_signed_edges() -> None:
    assert fingerprint.to_signed64(0) == 0
    assert fingerprint.to_signed64((1 << 63) - 1) == (1 << 63) - 1
    assert fingerprint.to_signed64(1 << 63) == -(1 << 63)
    assert fingerprint.to_signed64((1 << 64) - 1) == -1
    assert fingerprint.to_hex(1) == "0000000000000001"


@pytest.mark.parametrize(
    "bad",
    ["", "abc", "0123456789abcdef0", "zzzzzzzzzzzzzzzz", "0123_4567_89ab_c", "+123456789abcdef"],
)
def test_from_hex_refuses_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        fingerprint.from_hex(bad)


@pytest.mark.parametrize("bad", [-1, 1 << 64])
def test_to_signed64_refuses_out_of_range(bad: int) -> None:
    with pytest.raises(ValueError):
        fingerprint.to_signed64(bad)


def test_from_signed64_refuses_out_of_range() -> None:
    with pytest.raises(ValueError):
        fingerprint.from_signed64(1 << 63)


def test_ten_megabytes_of_text_is_bounded_in_time() -> None:
    words = " ".join(seed_paragraphs()).split()
    text = " ".join(words[i % len(words)] for i in range(900_000))
    assert len(text.encode()) > 10_000_000
    start = time.perf_counter()
    fp = fingerprint.text_fingerprint(text)
    assert time.perf_counter() - start < 10
    assert fp != 0


# -- the fast path equals the package ---------------------------------------------------------

CORPUS = Path(__file__).parents[2] / "shared" / "corpus" / "ant-multisource.jsonl.gz"


def corpus_bodies(every: int) -> list[list[str]]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for i, line in enumerate(lines) if i % every == 0]
    return [[p for p in (r.get("body") or "").split("\n") if p.strip()] for r in records]


def package_value(features: list[str]) -> int:
    """``simhash.Simhash`` itself (features repeated rather than weighted above 50)."""
    return int(simhash.Simhash(features).value) if features else 0


@pytest.mark.corpus
@pytest.mark.skipif(not CORPUS.exists(), reason="../shared/corpus is absent")
def test_paragraph_and_article_fingerprints_equal_the_package_on_the_corpus() -> None:
    # Every paragraph and every article of 1 in 12 corpus articles (about 2,300 articles and
    # 20,000 paragraphs): the fast path (bit counters summed per paragraph, then per article)
    # gives exactly the value of simhash.Simhash over the same stems.
    articles = 0
    for body in corpus_bodies(every=12):
        paras = fingerprint.analyse(body)
        for para in paras:
            assert para.fp == package_value(list(para.stems)), para.text
        stems = [stem for para in paras for stem in para.stems]
        assert fingerprint.article_features(paras).simhash == package_value(stems)
        articles += 1
    assert articles > 2000


WORDS = st.text(alphabet="ابتثجحخدرزسشصضطظعغفقكلمنهويةىأإآ0123456789", min_size=2, max_size=7)


@given(st.lists(st.lists(WORDS, max_size=60), max_size=8))
def test_fast_fingerprints_equal_the_package(paragraphs: list[list[str]]) -> None:
    paras = fingerprint.analyse(" ".join(words) for words in paragraphs)
    for para in paras:
        assert para.fp == package_value(list(para.stems))
    stems = [stem for para in paras for stem in para.stems]
    assert fingerprint.article_features(paras).simhash == package_value(stems)


@pytest.mark.parametrize("repeats", [1, 2, 3, 32_766, 32_767, 32_768, 40_001])
def test_fast_fingerprints_at_the_counter_limits(repeats: int) -> None:
    # One stem repeated fills one counter to the total; past the counters' width the value
    # comes from fingerprint() (weights split for the package), and is the same.
    text = " ".join(["الحكومة"] * repeats + ["الحرب", "الاقتصاد", "سوريا"])
    paras = fingerprint.analyse([text, "الحكومة السورية"])
    counts = Counter(stem for para in paras for stem in para.stems)
    assert paras[0].fp == fingerprint.fingerprint(paras[0].stems)
    assert fingerprint.article_features(paras).simhash == fingerprint.fingerprint(counts)
    if repeats < 1000:
        assert paras[0].fp == package_value(list(paras[0].stems))


def test_a_parse_worker_does_not_import_numpy_or_simhash() -> None:
    # The worker's modules (ingest.prepare) analyse and fingerprint without either library;
    # they are imported on first use (WindowIndex, the reference fingerprint()) and then bound.
    code = (
        "import sys, ingest.prepare\n"
        "assert 'numpy' not in sys.modules and 'simhash' not in sys.modules, 'imported'\n"
        "from ingest import fingerprint as f\n"
        "assert f.fingerprint(['a', 'b']) == __import__('simhash').Simhash(['a', 'b']).value\n"
        "index = f.WindowIndex(60)\n"
        "index.load([0], [(1, 5, 10)])\n"
        "assert index.query(5, 10, 3) == [(1, 0)]\n"
        "assert f.np is sys.modules['numpy'] and f.simhash is sys.modules['simhash']\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1], timeout=60
    )


@given(st.lists(WORDS | st.sampled_from(["في", "من", "و", "#وسم_عربي", "٢٠١٩"]), max_size=20))
def test_stems_of_a_title_are_those_of_its_analysis(words: list[str]) -> None:
    text = " ".join(words)
    para = fingerprint.analyse_paragraph(text)
    assert fingerprint.stems_of(text) == para.stems
    assert para.pairs == frozenset(zip(para.stems, para.stems[1:], strict=False))
