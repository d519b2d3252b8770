"""Arabic text -> normalised tokens and stems, the features that fingerprints are built from.

Everything here is for *fingerprinting only*: the stored and displayed text is never
normalised. The steps, in order:

1. ``normalize``: NFKC (folds presentation forms and ligatures), casefold (Latin), then one
   ``str.translate`` table that strips diacritics and Quranic marks, tatweel and bidi or
   zero-width marks; unifies alef forms to ``ا``, ``ى`` to ``ي``, ``ة`` to ``ه`` (and the Persian
   ``ی``/``ک`` to ``ي``/``ك``); folds Arabic-Indic and Persian digits to ASCII; turns Arabic
   punctuation into spaces.
2. ``tokens``: runs of letters and digits (``_`` splits, so ``#عاصي_الحلاني`` gives two words).
3. ``stems``: tokens minus ``STOPWORDS`` and single letters, each stemmed with the Snowball
   Arabic stemmer (PyStemmer, the C implementation) through a bounded cache.

This is the only module that imports ``Stemmer``. Everything that changes the output of
``stems`` (the table, the stopword list, the stemmer's version) changes every fingerprint:
``STEMMER_ID`` names the stemmer, and ``ingest.fingerprint.FINGERPRINT_VERSION`` must be
bumped with any change here.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import Stemmer

STEMMER_ID = f"snowball-arabic/PyStemmer-{Stemmer.version()}"
"""The stemmer that produced stored fingerprints; a different one changes every stem."""


def _char_range(first: int, last: int) -> list[str]:
    return [chr(code) for code in range(first, last + 1)]


# Combining marks: harakat and tanwin (U+064B-U+0652), plus the rest of the Arabic
# combining marks (maddah/hamza above and below, superscript alef U+0670, Quranic annotation
# signs) which fully vocalised text also carries. Python's \w would split words on them.
_DELETE = [
    *_char_range(0x0610, 0x061A),
    *_char_range(0x064B, 0x065F),
    "\u0670",
    *_char_range(0x06D6, 0x06DC),
    *_char_range(0x06DF, 0x06E4),
    "\u06e7",
    "\u06e8",
    *_char_range(0x06EA, 0x06ED),
    "\u0640",  # tatweel (kashida): stretches a word, \w keeps it
    # bidi controls, zero-width marks, byte-order mark and soft hyphen: invisible, but they
    # would split or change a word
    *_char_range(0x200B, 0x200F),
    *_char_range(0x202A, 0x202E),
    *_char_range(0x2066, 0x2069),
    "\u061c",
    "\ufeff",
    "\u00ad",
]

_REPLACE = {
    # alef with hamza above/below, madda, wasla, wavy hamza -> bare alef
    "\u0623": "\u0627",
    "\u0625": "\u0627",
    "\u0622": "\u0627",
    "\u0671": "\u0627",
    "\u0672": "\u0627",
    "\u0673": "\u0627",
    "\u0649": "\u064a",  # alef maqsura -> yeh
    "\u0629": "\u0647",  # teh marbuta -> heh
    "\u06cc": "\u064a",  # Persian yeh (Persian keyboards) -> Arabic yeh
    "\u06a9": "\u0643",  # keheh -> kaf
    # Arabic punctuation separates words: a space, never glue
    "\u060c": " ",  # comma
    "\u061b": " ",  # semicolon
    "\u061f": " ",  # question mark
    "\u066a": " ",  # percent sign
    "\u066b": " ",  # decimal separator
    "\u066c": " ",  # thousands separator
    "\u066d": " ",  # five-pointed star
    "\u06d4": " ",  # full stop
    "\u060d": " ",  # date separator
    "\u00ab": " ",  # «
    "\u00bb": " ",  # »
    "\ufd3e": " ",  # ornate parentheses
    "\ufd3f": " ",
}

_TABLE: dict[int, str | None] = {ord(char): None for char in _DELETE}
_TABLE.update({ord(char): repl for char, repl in _REPLACE.items()})
for _zero in (0x0660, 0x06F0):  # Arabic-Indic and extended (Persian) digits -> ASCII
    for _digit in range(10):
        _TABLE[_zero + _digit] = str(_digit)

_WORD = re.compile(r"[^\W_]+")

# ``_TABLE`` and then "every character that is not a letter or a digit becomes a space", as one
# list indexed by code point over the Basic Multilingual Plane: ``str.translate`` looks a list
# up without the KeyError a dict raises for every character it does not map, and the words
# are then what ``str.split`` separates. ``[^\W_]`` is ``str.isalnum`` for each character (both
# are CPython's ``Py_UNICODE_ISALNUM``), so the words are exactly those ``_WORD`` finds; text
# with characters beyond the BMP takes the ``_WORD`` path. About 2 MB, built once.
_SPACED: list[int | str | None] = [
    _TABLE[code] if code in _TABLE else code if chr(code).isalnum() else " "
    for code in range(0x10000)
]
_BEYOND_BMP = re.compile("[\U00010000-\U0010ffff]")


def normalize(text: str) -> str:
    """Fold ``text`` for fingerprinting (see the module docstring); never for display."""
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return text.casefold().translate(_TABLE)


def tokens(text: str) -> list[str]:
    """The normalised words of ``text``: maximal runs of letters and digits."""
    return list(_tokens(text))


@lru_cache(maxsize=4096)
def _tokens(text: str) -> tuple[str, ...]:
    # The same story comes from several feeds: remember the last few thousand paragraphs.
    # ``_WORD.findall(normalize(text))``, faster (see ``_SPACED``).
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    text = text.casefold()
    if _BEYOND_BMP.search(text) is None:
        return tuple(text.translate(_SPACED).split())
    return tuple(_WORD.findall(text.translate(_TABLE)))


# Function words that every news text shares; they would pull unrelated texts together.
# Written in ordinary spelling and normalised below, so the set holds exactly the forms
# ``tokens`` produces. Matched against tokens before stemming: the stem of a content word can
# equal a function word (الإمام, the imam, stems to امام like أمام, "in front of"), so stems
# are never filtered.
_STOPWORDS_TEXT = """
في من على إلى عن مع منذ حتى خلال بين عند لدى نحو تحت فوق أمام خلف بعد قبل حول دون ضد عبر
ضمن لدي وفي ومن وعلى وإلى وعن ومع وبين وبعد وقبل وخلال وحول ودون فى الى علي
و أو ثم بل لكن لكنه ولكن غير سوى إلا أم أما إما إذ إذا إذن لو لولا كي لكي لأن حيث حين بينما
كما كذلك أيضا أيضًا وكذلك فيما عندما مما ممن بما بعدما قبلما ريثما طالما كلما
أن إن أنه إنه أنها إنها أنهم إنهم وأن وإن بأن لأنه فإن كأن ليت لعل
قد لقد وقد فقد لم لن لا ما ماذا لماذا ولم ولا وما ليس ليست سوف هل كيف متى أين كم
هو هي هم هن هما نحن أنا أنت أنتم وهو وهي وهم
هذا هذه ذلك تلك هذان هاتان هؤلاء أولئك هنا هناك وهذا وهذه وذلك بهذا بهذه لهذا لذلك
الذي التي الذين اللذين اللتين اللاتي اللواتي والذي والتي والذين
كان كانت كانوا يكون تكون يكونوا وكان وكانت أصبح أصبحت ظل ظلت بات مازال ما زال لازال
له لها لهم لهن به بها بهم فيه فيها فيهم منه منها منهم عنه عنها عليه عليها عليهم إليه إليها
معه معها لديه لديها عنده
كل بعض أي جميع كافة أكثر أقل نفس ذات عدة عدد
يوم اليوم أمس غدا الآن
قال وقال قالت وقالت يقول تقول وأضاف أضاف وأضافت أضافت وأكد أكد وأكدت أكدت وأوضح أوضح
وأشار أشار وأشارت أشارت مشيرا مضيفا موضحا مؤكدا وتابع تابع حسب وفق وفقا بحسب
"""

STOPWORDS: frozenset[str] = frozenset(normalize(_STOPWORDS_TEXT).split())
"""Normalised token forms dropped before stemming (prepositions, conjunctions, particles,
pronouns, demonstratives, relative pronouns, kana and its sisters, time adverbs, reporting
verbs)."""

_STEMMER = Stemmer.Stemmer("arabic", 0)  # our own cache below replaces PyStemmer's
# PyStemmer keeps state in the instance: it "must not be called concurrently".
_STEMMER_LOCK = threading.Lock()


def _is_stopword(token: str) -> bool:
    if len(token) < 2:
        return not token.isdigit()
    # The conjunctions و and ف are written attached: ومنذ, فقد, وفيما ...
    return token in STOPWORDS or (token[0] in "وف" and token[1:] in STOPWORDS)


_STEM_CACHE = 1 << 16
"""Tokens whose stems are remembered. News vocabulary repeats: on the development corpus
65,536 entries (about 13 MB) answer 95% of lookups, and only misses take the lock."""


class _Stems(dict[str, str]):
    """Normalised token -> its stem, or ``""`` when the token is dropped (a stopword).

    A dict looked up from C (``map(_STEMS.__getitem__, words)``): a hit costs no Python call.
    Bounded: cleared when full.
    """

    def __missing__(self, token: str) -> str:
        if _is_stopword(token):
            stem = ""
        else:
            with _STEMMER_LOCK:
                stem = _STEMMER.stemWord(token)
        if len(self) >= _STEM_CACHE:
            self.clear()
        self[token] = stem
        return stem

    def cache_clear(self) -> None:
        self.clear()

    def cache_info(self) -> str:
        return f"{len(self):,} of at most {_STEM_CACHE:,} tokens cached"


_STEMS = _Stems()
_feature = _STEMS
"""The stem of a normalised token, or ``""`` when it is dropped (one cached call does both)."""


def stem_tokens(words: Iterable[str]) -> list[str]:
    """``stems`` for tokens already produced by ``tokens``."""
    return list(filter(None, map(_STEMS.__getitem__, words)))


def stems(text: str) -> list[str]:
    """The stems of ``text``'s content words, in order, repeats kept.

    Drops stopwords, stopwords with an attached ``و``/``ف`` conjunction, and one-letter tokens
    (a split-off ``و`` or a stray letter); a single digit is kept, numbers carry meaning in news.
    Each remaining token is stemmed with the Snowball Arabic stemmer.
    """
    return stem_tokens(tokens(text))
