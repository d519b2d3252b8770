"""Arabic normalisation, tokens and stems for fingerprints (ingest.arabic)."""

from __future__ import annotations

import gzip
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest import arabic

SEED = Path(__file__).parent / "fixtures" / "seed-article.txt"


def seed_paragraphs() -> list[str]:
    return SEED.read_text(encoding="utf-8").splitlines()[1:15]


def vocalise(text: str) -> str:
    """Put a haraka after every Arabic letter: fully vocalised text."""
    marks = "\u064e\u064f\u0650\u0651\u0652\u064b"
    return "".join(
        c + marks[i % len(marks)] if "\u0621" <= c <= "\u064a" else c for i, c in enumerate(text)
    )


def test_stemmer_id_names_the_pinned_stemmer() -> None:
    assert arabic.STEMMER_ID == "snowball-arabic/PyStemmer-3.1.0"


def test_normalize_strips_diacritics_tatweel_and_unifies_letters() -> None:
    assert arabic.normalize("مُحَمَّدٌ") == "محمد"
    assert arabic.normalize("الجــزائـــر") == "الجزائر"  # hamza on yeh is a letter, kept
    assert arabic.normalize("أحمد إلى آخر ٱلكتاب") == "احمد الي اخر الكتاب"
    assert arabic.normalize("مدرسة على مستشفى") == "مدرسه علي مستشفي"
    assert arabic.normalize("\u0627\u0670لرحمن") == "الرحمن"  # superscript alef


def test_normalize_folds_digits_punctuation_and_invisible_marks() -> None:
    assert arabic.normalize("عام ٢٠٢٤ و۱۴۰۳") == "عام 2024 و1403"
    assert arabic.normalize("قال،ثم؛سأل؟«نعم»") == "قال ثم سال  نعم "
    assert arabic.normalize("سو\u200cريا\u200f \u2067كلمة\u2069\u061c") == "سوريا كلمه"
    assert arabic.normalize("\ufeffنص\u00ad") == "نص"


def test_normalize_applies_nfkc_and_casefolds_latin() -> None:
    # presentation forms: lam-alef ligature and isolated alef
    assert arabic.normalize("\ufefb\ufe8d") == "لاا"
    assert arabic.normalize("CNN و BBC Straße") == "cnn و bbc strasse"


def test_normalize_does_not_touch_the_original_text() -> None:
    text = "أَحْمَد"
    arabic.normalize(text)
    assert text == "أَحْمَد"


@given(st.text())
def test_normalize_is_idempotent(text: str) -> None:
    once = arabic.normalize(text)
    assert arabic.normalize(once) == once


def test_tokens_split_hashtags_and_drop_punctuation() -> None:
    assert arabic.tokens("#عاصي_الحلاني، يغني!") == ["عاصي", "الحلاني", "يغني"]
    assert arabic.tokens("...،؛ - !!") == []
    assert arabic.tokens("") == []


def test_stems_drop_stopwords_and_attached_conjunctions() -> None:
    assert arabic.stems("في من على إلى عن أن إن التي الذي قال وقال ومنذ وفي") == []
    assert arabic.stems("و ب") == []  # single letters
    assert arabic.stems("5 أيام") == ["5", "ايام"]  # a single digit is content


def test_stems_pinned_values() -> None:
    # A stemmer or table change shows up here before it silently changes fingerprints.
    # (ة is folded to ه before stemming, so feminine forms keep a longer stem: امريكيه)
    assert arabic.stems("الجزائر وموسكو الأمريكية أمريكي علاقات الدفاعية") == [
        "جزاير",
        "موسك",
        "امريكيه",
        "امريك",
        "علاقا",
        "دفاعيه",
    ]
    assert arabic.stems(seed_paragraphs()[1]) == [
        "تمكن",
        "جزاير",
        "حفاظ",
        "علاقا",
        "عسكر",
        "جيد",
        "ولا",
        "متحده",
        "رغم",
        "علاق",
        "وثيقه",
        "روسي",
        "غيت",
    ]


def test_fully_vocalised_text_gives_the_same_stems() -> None:
    for paragraph in seed_paragraphs():
        assert arabic.stems(vocalise(paragraph)) == arabic.stems(paragraph)


def test_hamza_and_alef_variants_give_the_same_stems() -> None:
    assert arabic.stems("أكد الرئيس الأمريكي إطلاق") == arabic.stems("اكد الرئيس الامريكي اطلاق")


def test_stopwords_are_stored_normalised() -> None:
    assert all(arabic.normalize(word) == word for word in arabic.STOPWORDS)
    assert {"الي", "علي", "ان", "قال", "التي"} <= arabic.STOPWORDS


def test_stems_are_thread_safe() -> None:
    paragraphs = seed_paragraphs() * 20
    expected = [arabic.stems(p) for p in paragraphs]
    arabic._feature.cache_clear()  # force concurrent stemmer calls, not cache hits
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(arabic.stems, paragraphs)) == expected


# -- the fast tokeniser finds the words the expression finds ---------------------------------

CORPUS = Path(__file__).parents[2] / "shared" / "corpus" / "ant-multisource.jsonl.gz"


def regex_tokens(text: str) -> list[str]:
    """The definition: runs of letters and digits (``[^\\W_]+``) in the normalised text."""
    return re.findall(r"[^\W_]+", arabic.normalize(text))


@given(st.text())
def test_tokens_are_the_runs_of_letters_and_digits(text: str) -> None:
    # Any code point: astral characters (emoji, mathematical letters) take the expression's
    # path, everything else the translate-and-split one.
    assert arabic.tokens(text) == regex_tokens(text)


@given(st.text(alphabet=st.characters(max_codepoint=0xFFFF)))
def test_tokens_of_text_in_the_basic_plane(text: str) -> None:
    assert arabic.tokens(text) == regex_tokens(text)


def test_tokens_of_every_basic_plane_character() -> None:
    # Each character between two words: it joins them, splits them or disappears exactly as
    # the expression says.
    for code in range(0x10000):
        text = f"كتب{chr(code)}ab_1 {chr(code)}"
        assert arabic.tokens(text) == regex_tokens(text), hex(code)


@pytest.mark.corpus
@pytest.mark.skipif(not CORPUS.exists(), reason="../shared/corpus is absent")
def test_tokens_and_stems_of_corpus_paragraphs() -> None:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for i, line in enumerate(lines) if i % 10 == 0]
    texts = [p for r in records for p in (r.get("body") or "").split("\n") if p.strip()]
    assert len(texts) > 15_000
    for text in texts:
        words = regex_tokens(text)
        assert arabic.tokens(text) == words
        assert arabic.stems(text) == [
            arabic._STEMMER.stemWord(w) for w in words if not arabic._is_stopword(w)
        ]


def test_the_stem_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arabic, "_STEM_CACHE", 10)
    arabic._STEMS.clear()
    words = [f"كلمه{n}" for n in range(25)]
    assert arabic.stem_tokens(words) == [arabic._STEMMER.stemWord(w) for w in words]
    assert len(arabic._STEMS) <= 10
    arabic._STEMS.clear()
