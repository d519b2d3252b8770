"""Measure the dedup thresholds on the development corpus and print what they were chosen from.

Reads ../shared/corpus/ant-multisource.jsonl.gz (relative to the repository; see its README)
and prints, with the features ``ingest`` really uses (``arabic.stems``, ``fingerprint``):

0. speed of normalise + stem + fingerprint per article (cold and warm stem cache);
1. paragraph level: Hamming distance and stem Jaccard for RSS summaries vs their closest
   body paragraph (reworded leads), distinct body paragraphs of one article, and paragraphs
   of different articles; catch rate and drop rate over a grid of (distance, overlap); the
   real ``dedupe_paragraphs`` run over every article body at the chosen setting;
2. article level: edited copies (new title, dateline/byline, last paragraph cut, paragraph
   added, diacritics/hamza, merge/split, all combined) vs different articles of the same day
   and category; recall/precision over a grid; what the 4x16-bit band lookup finds, with
   candidate counts, against 8x8 bands and a full scan;
3. the proposed paragraph rule (issue 10 item 6, ``bench/paragraph_rule.py``): each article
   as a scraper puts it (the RSS summary above the body), labelled by character 5-grams
   (``bench/lead_labels.py``); today's rule and the rule with ``covered`` (stem cover >= t
   and >= k distinct stems shared) over a grid of t and k, with a length-ratio guard and with
   the later paragraph dropped instead of the smaller one: reworded-lead recall (all repeats,
   the non-verbatim ones, and the "hard" ones that today's simhash+Jaccard rule misses), false
   drops of distinct body paragraphs, pairs of distinct paragraphs the rule matches, the seed
   article, and quotation traps (a long quotation from another article inserted into an
   article). Checks first that ``paragraph_rule.dedupe_order`` reproduces the real
   ``dedupe_paragraphs`` on every article.

Usage: .venv/bin/python bench/measure_thresholds.py [--articles N] [--seed S] [--only PART]
(about 3 to 5 minutes for parts 0-2 on the whole corpus, 4 more for part 3; --articles 3000
for a quick look; --only rule for part 3 alone). Prints corpus text only in short excerpts of
flagged pairs, for inspection; nothing is written.
"""

from __future__ import annotations

import argparse
import collections
import functools
import gzip
import itertools
import json
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from collections.abc import Sequence

import lead_labels
import paragraph_rule as pr

from ingest import arabic, dedupe, fingerprint
from ingest.models import Cleaned
from ingest.settings import DedupSettings


# The pipeline analyses each paragraph once (fingerprint.analyse); these read the same analysis.
def article_features(paragraphs: Sequence[str]) -> list[str]:
    return [stem for para in fingerprint.analyse(paragraphs) for stem in para.stems]


def article_fingerprint(paragraphs: Sequence[str]) -> int:
    return fingerprint.article_features(fingerprint.analyse(paragraphs)).simhash


def text_hash(paragraphs: Sequence[str]) -> str:
    return fingerprint.article_features(fingerprint.analyse(paragraphs)).text_hash


def dedupe_text(cleaned: Cleaned, settings: DedupSettings) -> Cleaned:
    return dedupe.dedupe_paragraphs(cleaned, fingerprint.analyse(cleaned.paragraphs), settings)[0]


CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "ant-multisource.jsonl.gz"
SEED = Path(__file__).resolve().parents[2] / "shared" / "seed-article.txt"

# The defaults this measurement recommends (compare with ingest/settings.py).
CHOSEN = DedupSettings(
    paragraph_max_distance=16,
    paragraph_min_overlap=0.55,
    paragraph_min_tokens=5,
    article_max_distance=14,
    article_min_overlap=0.6,
)
PARA_GRID_D = (10, 12, 14, 16, 18, 20, 64)
PARA_GRID_J = (0.4, 0.5, 0.55, 0.6)
ART_GRID_D = (3, 6, 8, 10, 12, 14, 16, 18)
ART_GRID_J = (0.5, 0.55, 0.6, 0.7, 0.8)
# The edits the brief names; "combined" (dateline + last cut + added paragraph + hamza at once)
# is a harder stress case, reported separately.
BRIEF_EDITS = (
    "new_title",
    "dateline_byline",
    "last_cut",
    "paragraph_added",
    "diacritics_hamza",
    "merge_split",
)


@dataclass
class Para:
    text: str
    key: str
    stems: frozenset[str]
    fp: int


@dataclass
class Art:
    id: str
    source: str
    category: str
    day: str
    title: str
    summary: str | None
    paras: list[Para]
    stems: frozenset[str] = field(default_factory=frozenset)
    n_stems: int = 0
    fp: int = 0


def para(text: str) -> Para:
    stems = arabic.stems(text)
    return Para(
        text, " ".join(arabic.tokens(text)), frozenset(stems), fingerprint.fingerprint(stems)
    )


def load(limit: int | None, rng: random.Random) -> list[dict[str, str]]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    if limit and limit < len(records):
        records = rng.sample(records, limit)
    return records


def pct(values: list[float] | list[int], qs: tuple[float, ...] = (1, 5, 10, 50, 90, 95, 99)) -> str:
    if not values:
        return "(none)"
    ordered = sorted(values)
    out = []
    for q in qs:
        index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
        value = ordered[index]
        out.append(f"p{q:g}={value:.2f}" if isinstance(value, float) else f"p{q:g}={value}")
    return f"n={len(values)} min={ordered[0]:.4g} " + " ".join(out) + f" max={ordered[-1]:.4g}"


def hist(
    values: list[int], edges: tuple[int, ...] = (0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 64)
) -> str:
    counts = collections.Counter()
    for value in values:
        for low, high in itertools.pairwise(edges):
            if low <= value < high or (high == 64 and value == 64):
                counts[(low, high)] += 1
                break
    total = max(1, len(values))
    return " ".join(
        f"[{lo},{hi}):{counts[(lo, hi)] / total:.1%}" for lo, hi in itertools.pairwise(edges)
    )


def para_rule(
    j: float, d: int, n_small: int, shared: int, exact: bool, *, s: DedupSettings
) -> bool:
    """The rule of ``dedupe._paragraph_match``, on precomputed figures."""
    if exact:
        return True
    if n_small < s.paragraph_min_tokens:
        return (
            j >= dedupe.SHORT_PARAGRAPH_MIN_OVERLAP and shared >= dedupe.SHORT_PARAGRAPH_MIN_SHARED
        )
    return d <= s.paragraph_max_distance and j >= s.paragraph_min_overlap


def pair_figures(a: Para, b: Para) -> tuple[float, int, int, int, bool]:
    return (
        dedupe.jaccard(a.stems, b.stems),
        fingerprint.distance(a.fp, b.fp),
        min(len(a.stems), len(b.stems)),
        len(a.stems & b.stems),
        bool(a.key) and a.key == b.key,
    )


# ---------------------------------------------------------------- 0. speed


def measure_speed(records: list[dict[str, str]]) -> None:
    bodies = [[p for p in (r["body"] or "").split("\n") if p.strip()] for r in records]
    arabic._feature.cache_clear()
    start = time.perf_counter()
    for paragraphs in bodies:
        article_fingerprint(paragraphs)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    for paragraphs in bodies:
        article_fingerprint(paragraphs)
    warm = time.perf_counter() - start
    stems_only = time.perf_counter()
    for paragraphs in bodies:
        article_features(paragraphs)
    stems_only = time.perf_counter() - stems_only
    n = len(bodies)
    words = sum(len(arabic.tokens(" ".join(p))) for p in bodies[:2000]) / min(n, 2000)
    print("\n== 0. speed: normalize + stem + fingerprint of whole articles (one core)")
    print(f"articles {n}, mean {words:.0f} tokens each; stemmer {arabic.STEMMER_ID}")
    print(f"cold stem cache: {n / cold:,.0f} articles/s; warm: {n / warm:,.0f} articles/s")
    print(f"normalize + stem only (warm): {n / stems_only:,.0f} articles/s")
    print(f"stem cache: {arabic._feature.cache_info()}")


# ---------------------------------------------------------------- 1. paragraphs


def measure_paragraphs(arts: list[Art], rng: random.Random) -> None:
    print(
        "\n== 1. paragraph level (features: stems, term-weighted simhash; overlap: Jaccard of stem sets)"
    )
    leads: list[tuple[float, int, int, int, bool, str]] = []
    for art in arts:
        if not art.summary:
            continue
        summary = para(art.summary)
        if not summary.stems:
            continue
        figures = [pair_figures(summary, p) for p in art.paras if p.stems]
        if figures:
            best = max(figures, key=lambda f: (f[0], -f[1]))
            leads.append((*best, art.source))
    verbatim = [f for f in leads if f[0] >= 0.5 and f[4]]
    reworded = [f for f in leads if f[0] >= 0.5 and not f[4]]
    print(f"RSS summary vs closest body paragraph: {len(leads)} articles with a summary")
    by_source = collections.defaultdict(list)
    for f in leads:
        by_source[f[5]].append(f[0])
    for source, js in sorted(by_source.items()):
        print(
            f"  {source:20} J>=0.8: {sum(j >= 0.8 for j in js) / len(js):.0%}  0.5-0.8: "
            f"{sum(0.5 <= j < 0.8 for j in js) / len(js):.0%}  <0.5: {sum(j < 0.5 for j in js) / len(js):.0%}"
        )
    print(f"  verbatim after normalisation: {len(verbatim)}; reworded with J>=0.5: {len(reworded)}")
    print(f"  reworded, distance: {pct([f[1] for f in reworded])}")
    print(f"  reworded, distance histogram: {hist([f[1] for f in reworded])}")
    print(f"  reworded, Jaccard : {pct([f[0] for f in reworded])}")
    for low, high in ((0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 1.01)):
        ds = [f[1] for f in reworded if low <= f[0] < high]
        print(f"    J in [{low},{min(high, 1.0)}): distance {pct(ds, (50, 90, 95, 99))}")

    within: list[tuple[float, int, int, int, bool]] = []
    for art in arts:
        ps = [p for p in art.paras if p.stems]
        for i, j in itertools.combinations(range(len(ps)), 2):
            within.append(pair_figures(ps[i], ps[j]))
    long_within = [f for f in within if f[2] >= CHOSEN.paragraph_min_tokens and not f[4]]
    print(
        f"\nbody paragraph pairs inside one article (both >= {CHOSEN.paragraph_min_tokens} stems, not identical): {len(long_within)}"
    )
    print(f"  distance: {pct([f[1] for f in long_within])}")
    print(f"  distance histogram: {hist([f[1] for f in long_within])}")
    print(f"  Jaccard : {pct([f[0] for f in long_within], (50, 90, 99, 99.9))}")

    everything = [
        p for art in arts for p in art.paras if len(p.stems) >= CHOSEN.paragraph_min_tokens
    ]
    owner = [
        k
        for k, art in enumerate(arts)
        for p in art.paras
        if len(p.stems) >= CHOSEN.paragraph_min_tokens
    ]
    across = []
    for _ in range(min(50_000, len(everything))):
        x, y = rng.randrange(len(everything)), rng.randrange(len(everything))
        if owner[x] != owner[y]:
            across.append(pair_figures(everything[x], everything[y]))
    print(f"\nparagraph pairs from different articles (random): {len(across)}")
    print(f"  distance: {pct([f[1] for f in across])}")
    print(f"  Jaccard : {pct([f[0] for f in across], (50, 90, 99, 99.9))}")

    n_paras = sum(1 for art in arts for p in art.paras if p.stems)
    print("\ngrid, rule: distance <= D and overlap >= J (short paragraphs: see dedupe.py)")
    print("  catch = share of reworded leads (J>=0.5, not verbatim) the rule drops;")
    print("  pairs = flagged distinct pairs inside an article, per body paragraph")
    for j in PARA_GRID_J:
        cells = []
        for d in PARA_GRID_D:
            s = DedupSettings(paragraph_max_distance=d, paragraph_min_overlap=j)
            catch = sum(para_rule(*f[:5], s=s) for f in reworded) / max(1, len(reworded))
            flagged = sum(para_rule(*f, s=s) for f in within if not f[4])
            cells.append(f"D<={d}: catch {catch:.1%} pairs {flagged / n_paras:.3%}")
        print(f"  J>={j}: " + " | ".join(cells))

    print(
        f"\nparagraph_min_tokens at D<={CHOSEN.paragraph_max_distance}, J>={CHOSEN.paragraph_min_overlap}"
        f" (below it: exact match, or overlap >= {dedupe.SHORT_PARAGRAPH_MIN_OVERLAP}"
        f" with >= {dedupe.SHORT_PARAGRAPH_MIN_SHARED} shared stems)"
    )
    short_within = [f for f in within if not f[4]]
    for tokens in (3, 5, 8, 12):
        s = DedupSettings(
            paragraph_max_distance=CHOSEN.paragraph_max_distance,
            paragraph_min_overlap=CHOSEN.paragraph_min_overlap,
            paragraph_min_tokens=tokens,
        )
        catch = sum(para_rule(*f[:5], s=s) for f in reworded) / max(1, len(reworded))
        flagged = sum(para_rule(*f, s=s) for f in short_within)
        small = sum(1 for art in arts for p in art.paras if 0 < len(p.stems) < tokens)
        print(
            f"  min_tokens {tokens:2}: catch {catch:.1%} pairs {flagged / n_paras:.3%}"
            f" (paragraphs below it: {small / n_paras:.1%})"
        )

    print(f"\nreal dedupe_paragraphs over every body at the chosen setting {CHOSEN}:")
    dropped: list[tuple[str, float, int, str, str]] = []
    exact = 0
    for art in arts:
        texts = tuple(p.text for p in art.paras)
        result = dedupe_text(Cleaned(paragraphs=texts), CHOSEN)
        for removed in result.removed:
            if removed.reason == "exact_duplicate":
                exact += 1
            else:
                kept = texts[removed.duplicate_of or 0]
                dropped.append(
                    (art.id, removed.overlap or 0.0, removed.distance or 0, kept, removed.text)
                )
    body_paras = sum(len(art.paras) for art in arts)
    print(
        f"  body paragraphs {body_paras}; exact repeats dropped {exact} ({exact / body_paras:.3%});"
    )
    print(f"  near duplicates dropped {len(dropped)} ({len(dropped) / body_paras:.3%}) by overlap:")
    for low, high in ((0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 1.01)):
        print(f"    [{low},{min(high, 1.0)}): {sum(low <= x[1] < high for x in dropped)}")
    print("  a random sample of near-duplicate drops, to read (kept / dropped):")
    for art_id, overlap, dist, kept, text in rng.sample(dropped, min(12, len(dropped))):
        print(f"   {art_id} J={overlap:.2f} d={dist}\n     K: {kept[:110]}\n     D: {text[:110]}")


# ---------------------------------------------------------------- 2. articles

HAMZA = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ى": "ي", "ة": "ه"})
HARAKAT = "\u064e\u064f\u0650\u0652"


def vocalise(text: str, rng: random.Random) -> str:
    return "".join(
        c + (rng.choice(HARAKAT) if "\u0621" <= c <= "\u064a" and rng.random() < 0.3 else "")
        for c in text
    )


def edits(art: Art, other: Art, rng: random.Random) -> dict[str, list[str]]:
    texts = [p.text for p in art.paras]
    extra = rng.choice([p.text for p in other.paras])
    dateline = "القاهرة - (رويترز) - "
    out = {
        "new_title": texts,  # the title is not a feature
        "dateline_byline": ["بقلم: محمد عبد الله", dateline + texts[0], *texts[1:]],
        "paragraph_added": [*texts, extra],
        "diacritics_hamza": [vocalise(t.translate(HAMZA), rng) for t in texts],
        "merge_split": [
            piece
            for k in range(0, len(texts), 2)
            for piece in re.split(r"(?<=[.!؟])\s+", " ".join(texts[k : k + 2]))
        ],
    }
    if len(texts) >= 2:
        out["last_cut"] = texts[:-1]
    combined = [dateline + texts[0], *texts[1:]]
    if len(combined) >= 3:
        combined = combined[:-1]
    out["combined"] = [t.translate(HAMZA) for t in combined] + [extra]
    return out


_SENTENCE = re.compile(r"(?<=[.!?؟:])\s+|\n")


def sentences(art: Art) -> list[frozenset[str]]:
    return [
        frozenset(arabic.stems(piece))
        for p in art.paras
        for piece in _SENTENCE.split(p.text)
        if piece.strip()
    ]


def alignment(a: Art, b: Art) -> float:
    """Share of the shorter article's stems in sentences that have a counterpart (J >= 0.5)
    among the other article's sentences: a label independent of the fingerprint and of
    paragraph breaks (agencies' copies are re-paragraphed)."""
    short, long_ = (a, b) if a.n_stems <= b.n_stems else (b, a)
    others = [s for s in sentences(long_) if s]
    covered = total = 0
    for s in sentences(short):
        total += len(s)
        if s and any(dedupe.jaccard(s, o) >= 0.5 for o in others):
            covered += len(s)
    return covered / total if total else 0.0


def measure_articles(arts: list[Art], rng: random.Random) -> None:
    print("\n== 2. article level (features: all body stems, term-weighted; title excluded)")
    usable = [a for a in arts if a.fp]
    positives: list[tuple[str, int, float, int]] = []  # (edit, distance, jaccard, original index)
    queries: list[tuple[int, int]] = []  # (edited fp, original index)
    for index, art in enumerate(usable):
        other = usable[rng.randrange(len(usable))]
        for name, texts in edits(art, other, rng).items():
            stems = article_features(texts)
            fp = fingerprint.fingerprint(stems)
            positives.append(
                (
                    name,
                    fingerprint.distance(fp, art.fp),
                    dedupe.jaccard(frozenset(stems), art.stems),
                    index,
                )
            )
            queries.append((fp, index))
    names = sorted({p[0] for p in positives})
    print(f"edited copies: {len(positives)} ({len(usable)} articles x {len(names)} edits)")
    for name in names:
        ds = [p[1] for p in positives if p[0] == name]
        js = [p[2] for p in positives if p[0] == name]
        print(f"  {name:17} distance {pct(ds, (50, 90, 95, 97, 99))}")
        print(f"  {'':17} Jaccard  {pct(js, (1, 3, 5, 10, 50))}")

    groups = collections.defaultdict(list)
    for index, art in enumerate(usable):
        groups[(art.day, art.category)].append(index)
    negatives: list[tuple[int, float, str, int, int]] = []  # (distance, jaccard, label, i, j)
    for members in groups.values():
        for i, j in itertools.combinations(members, 2):
            a, b = usable[i], usable[j]
            jac = dedupe.jaccard(a.stems, b.stems)
            label = "distinct"
            if jac >= 0.3:
                cover = alignment(a, b)
                label = "copy" if cover >= 0.8 else "distinct" if cover < 0.5 else "ambiguous"
            negatives.append((fingerprint.distance(a.fp, b.fp), jac, label, i, j))
    labels = collections.Counter(n[2] for n in negatives)
    print(f"\nsame day + same category pairs: {len(negatives)}; labelled by sentence alignment")
    print("  (share of the shorter article's stems in sentences with a J>=0.5 counterpart:")
    print(f"   >=0.8 copy, <0.5 distinct, else ambiguous): {dict(labels)}")
    for label in ("distinct", "ambiguous", "copy"):
        ds = [n[0] for n in negatives if n[2] == label]
        js = [n[1] for n in negatives if n[2] == label]
        print(f"  {label:9} distance {pct(ds, (0.01, 0.1, 1, 5, 50))}")
        print(f"  {'':9} Jaccard  {pct(js, (50, 99, 99.9, 99.99))}")

    print("\ngrid, rule: distance <= D and overlap >= J")
    print("  recall = edited copies caught, pooled over the brief's edits (with 'combined' too);")
    print(
        "  per edit: dl=dateline_byline cut=last_cut add=paragraph_added comb=combined (the others are 1.000)"
    )
    print("  FP = pairs labelled distinct that are flagged; precision = caught / (caught + FP);")
    print(
        "  copy/amb = flagged pairs labelled copy / ambiguous (most ambiguous ones read as real copies)"
    )
    brief = [p for p in positives if p[0] in BRIEF_EDITS]
    short = {
        "dateline_byline": "dl",
        "last_cut": "cut",
        "paragraph_added": "add",
        "combined": "comb",
    }
    for j in ART_GRID_J:
        for d in ART_GRID_D:
            ok = [p[1] <= d and p[2] >= j for p in positives]
            caught = sum(ok)
            brief_caught = sum(p[1] <= d and p[2] >= j for p in brief)
            per = " ".join(
                f"{short[n]} {sum(o for o, p in zip(ok, positives, strict=True) if p[0] == n) / sum(p[0] == n for p in positives):.3f}"
                for n in short
            )
            flagged = collections.Counter(n[2] for n in negatives if n[0] <= d and n[1] >= j)
            fp_ = flagged["distinct"]
            precision = caught / max(1, caught + fp_)
            print(
                f"  J>={j} D<={d:2}: recall {brief_caught / len(brief):.4f} ({caught / len(positives):.4f}) [{per}]"
                f" FP {fp_} ({fp_ / max(1, labels['distinct']):.1e}) precision {precision:.4f}"
                f" copy {flagged['copy']}/{labels['copy']} amb {flagged['ambiguous']}/{labels['ambiguous']}"
            )

    s = CHOSEN
    caught = [
        p for p in positives if p[1] <= s.article_max_distance and p[2] >= s.article_min_overlap
    ]
    print(
        f"\nat the chosen D<={s.article_max_distance}, J>={s.article_min_overlap}: per edit recall"
    )
    for name in names:
        total = sum(p[0] == name for p in positives)
        print(f"  {name:17} {sum(p[0] == name for p in caught) / total:.4f}")
    brief_caught = [p for p in caught if p[0] in BRIEF_EDITS]
    print(f"  pooled over the brief's edits: {len(brief_caught) / len(brief):.4f}")
    big = [p for p in brief if usable[p[3]].n_stems >= 80]
    big_caught = [
        p for p in big if p[1] <= s.article_max_distance and p[2] >= s.article_min_overlap
    ]
    print(
        f"  articles with >= 80 stems, the brief's edits: recall {len(big_caught) / max(1, len(big)):.4f} of {len(big)}"
    )
    flagged = [
        n for n in negatives if n[0] <= s.article_max_distance and n[1] >= s.article_min_overlap
    ]
    print("  flagged pairs labelled distinct or ambiguous, to read:")
    odd = [n for n in flagged if n[2] != "copy"]
    for d, jac, label, i, j in rng.sample(odd, min(10, len(odd))):
        print(
            f"   {label} d={d} J={jac:.2f} {usable[i].id} | {usable[j].id}\n     A: {usable[i].title[:90]}\n     B: {usable[j].title[:90]}"
        )

    measure_lookup(usable, positives, queries, s)


def measure_lookup(
    usable: list[Art],
    positives: list[tuple[str, int, float, int]],
    queries: list[tuple[int, int]],
    s: DedupSettings,
) -> None:
    print("\n== lookup: does the stored original come back as a candidate?")
    fps = [a.fp for a in usable]

    def index_for(width: int) -> list[dict[int, list[int]]]:
        count = 64 // width
        mask = (1 << width) - 1
        tables: list[dict[int, list[int]]] = [collections.defaultdict(list) for _ in range(count)]
        for k, fp in enumerate(fps):
            for b in range(count):
                tables[b][(fp >> (b * width)) & mask].append(k)
        return tables

    wanted = [
        (q, p)
        for q, p in zip(queries, positives, strict=True)
        if p[1] <= s.article_max_distance and p[2] >= s.article_min_overlap
    ]
    print(
        f"stored: {len(fps)} article fingerprints; queries: {len(wanted)} edited copies the rule accepts"
    )
    total = collections.Counter(p[0] for _, p in wanted)
    for width in (16, 8):
        tables = index_for(width)
        count, mask = 64 // width, (1 << width) - 1
        found = collections.Counter()
        sizes = []
        for (fp, original), p in wanted:
            candidates: set[int] = set()
            for b in range(count):
                candidates.update(tables[b].get((fp >> (b * width)) & mask, ()))
            sizes.append(len(candidates))
            found[p[0]] += original in candidates
        moved = [p for _, p in wanted if p[1] > 0]
        moved_found = sum(
            1
            for (fp, original), p in wanted
            if p[1] > 0
            and any(
                (fp >> (b * width)) & mask == (fps[original] >> (b * width)) & mask
                for b in range(count)
            )
        )
        per = " ".join(f"{n} {found[n] / max(1, total[n]):.3f}" for n in sorted(total))
        print(
            f"  {count}x{width}-bit bands (guaranteed up to distance {count - 1}): finds {sum(found.values()) / len(wanted):.1%}"
            f" of all, {moved_found / max(1, len(moved)):.1%} of those at distance > 0; per edit: {per}"
        )
        print(
            f"      candidates per query {pct(sizes, (50, 90, 99))} (mean {statistics.mean(sizes):.1f})"
        )
    sample = wanted[:2000]
    start = time.perf_counter()
    for (fp, _), _ in sample:
        [k for k, other in enumerate(fps) if (fp ^ other).bit_count() <= s.article_max_distance]
    python_scan = (time.perf_counter() - start) / len(sample)
    array = np.array(fps, dtype=np.uint64)
    start = time.perf_counter()
    for (fp, _), _ in sample:
        np.flatnonzero(np.bitwise_count(array ^ np.uint64(fp)) <= s.article_max_distance)
    numpy_scan = (time.perf_counter() - start) / len(sample)
    within = [
        sum((fp ^ other).bit_count() <= s.article_max_distance for other in fps)
        for (fp, _), _ in sample
    ]
    print(
        f"  full scan over {len(fps)} stored (finds 100%): pure Python {python_scan * 1e3:.2f} ms,"
        f" numpy XOR+bitwise_count {numpy_scan * 1e3:.3f} ms per query;"
        f" stored within distance {s.article_max_distance}: {pct(within, (50, 90, 99))}"
    )


# ---------------------------------------------------------------- 3. the proposed rule

RULE_GRID_T = (0.5, 0.6, 0.65, 0.7, 0.75, 0.8)
RULE_GRID_K = (3, 4, 5, 6, 8)
QUOTE_TRAPS = 3000


@dataclass
class RuleArticle:
    """One article as a scraper puts it (summary above the body), with its labels and the
    figures of every pair of paragraphs that shares at least two stems (or the same text:
    the others cannot match any rule)."""

    id: str
    keys: list[str]
    pairs: dict[tuple[int, int], pr.Pair]
    offset: int  # 1 when paragraph 0 is the summary
    lead: tuple[str, int, bool, bool] | None  # label, closest paragraph, verbatim, hard
    labels: dict[int, str]  # body paragraph -> label
    fps: list[int]  # fingerprints, for the tie-break between equal matches

    def pair_at(self, i: int, j: int) -> pr.Pair:
        return self.pairs.get((i, j), pr.NO_PAIR)

    def distance(self, i: int, j: int) -> int:
        return fingerprint.distance(self.fps[i], self.fps[j])


def rule_articles(records: list[dict[str, str]], s: DedupSettings) -> list[RuleArticle]:
    arts: list[RuleArticle] = []
    seen: set[str] = set()
    for r in records:
        body = [p.strip() for p in (r["body"] or "").split("\n") if p.strip()]
        digest = text_hash(body)
        if not digest or digest in seen:
            continue  # the corpus lists some articles twice (two categories)
        seen.add(digest)
        summary = (r["summary"] or "").strip()
        texts = [summary, *body] if summary else body
        feats = [pr.features(t) for t in texts]
        pairs = {}
        for i, j in itertools.combinations(range(len(texts)), 2):
            a, b = feats[i], feats[j]
            if (a.key and a.key == b.key) or len(a.stems & b.stems) >= 2:
                pairs[(i, j)] = pr.pair(a, b, s)
        offset = 1 if summary else 0
        lead = None
        if summary:
            label, closest, _ = lead_labels.lead_label(summary, body)
            p = pairs.get((0, closest + 1), pr.NO_PAIR)
            # hard: neither the same text nor a near duplicate (simhash + Jaccard, or the
            # short-paragraph overlap) -- today only containment can catch it
            hard = not (
                p.exact
                or (min(p.stems_a, p.stems_b) < s.paragraph_min_tokens and p.jaccard >= 0.8)
                or (p.jaccard >= s.paragraph_min_overlap and p.distance is not None
                    and p.distance <= s.paragraph_max_distance)
            )  # fmt: skip
            lead = (label, closest + 1, feats[0].key == feats[closest + 1].key, hard)
        labels = {i: lead_labels.paragraph_label(i, texts) for i in range(offset, len(texts))}
        arts.append(
            RuleArticle(
                r["id"], [f.key for f in feats], pairs, offset, lead, labels, [f.fp for f in feats]
            )
        )
    return arts


def evaluate_rule(arts: list[RuleArticle], rule: pr.Decide) -> collections.Counter[str]:
    c: collections.Counter[str] = collections.Counter()
    for art in arts:
        removed = pr.dedupe_order(art.keys, art.pair_at, rule, art.distance)
        gone = {index for index, *_ in removed}
        if art.lead:
            label, closest, verbatim, hard = art.lead
            caught = 0 in gone or closest in gone
            c[f"lead_{label}"] += 1
            c[f"lead_{label}_caught"] += caught
            if label == lead_labels.REPEAT and not verbatim:
                c["reworded"] += 1
                c["reworded_caught"] += caught
                c["hard"] += hard
                c["hard_caught"] += hard and caught
            if label == lead_labels.DISTINCT:
                c["lead_distinct_dropped"] += 0 in gone
        for i, label in art.labels.items():
            c[f"para_{label}"] += 1
            c[f"para_{label}_dropped"] += i in gone
        for (i, j), p in art.pairs.items():
            if art.labels.get(i) == art.labels.get(j) == lead_labels.DISTINCT:
                c["distinct_pairs_matched"] += rule(p) is not None
    c["distinct_pairs"] = sum(
        len(ds) * (len(ds) - 1) // 2
        for ds in ([i for i, lab in a.labels.items() if lab == lead_labels.DISTINCT] for a in arts)
    )
    return c


def _rate(c: collections.Counter[str], part: str, whole: str, fmt: str = ".4f") -> str:
    return f"{c[part] / c[whole]:{fmt}} ({c[part]}/{c[whole]})" if c[whole] else "n/a"


def seed_removals(rule: pr.Decide, s: DedupSettings) -> list[tuple[int, str, int]] | None:
    """The seed article's paragraphs (its file's lines 2 to 15, what the cleaner keeps)
    through ``dedupe_order``: ``(index, reason, other)``; ``None`` without the file."""
    if not SEED.exists():
        return None
    texts = SEED.read_text(encoding="utf-8").splitlines()[1:15]
    feats = [pr.features(t) for t in texts]
    return [
        (i, reason, other)
        for i, reason, other, _ in pr.dedupe_order(
            [f.key for f in feats],
            lambda i, j: pr.pair(feats[i], feats[j], s),
            rule,
            lambda i, j: fingerprint.distance(feats[i].fp, feats[j].fp),
        )
    ]


SEED_EXPECTED = [(10, pr.NEAR, 1), (11, pr.NEAR, 0)]  # file lines 12 and 13 repeat 3 and 2


def measure_rule(records: list[dict[str, str]], rng: random.Random) -> None:
    s = DedupSettings()
    print("\n== 3. the proposed paragraph rule (issue 10 item 6): covered = stem cover >= t and")
    print("   >= k distinct stems shared, the smaller paragraph goes (bench/paragraph_rule.py)")
    started = time.perf_counter()
    mismatches = checked = 0
    for r in records:
        summary = (r["summary"] or "").strip()
        texts = [summary] if summary else []
        texts += [p.strip() for p in (r["body"] or "").split("\n") if p.strip()]
        real = dedupe_text(Cleaned(paragraphs=tuple(texts)), s)
        ours = pr.proposed_dedupe(texts, s, cover_min=None)
        checked += 1
        mismatches += [
            (x.position, x.reason, x.duplicate_of, x.overlap, x.distance) for x in real.removed
        ] != [(i, reason, o, round(ov, 4), d) for i, reason, o, ov, d in ours]
    print(
        f"reference check: paragraph_rule.dedupe_order with the rule off vs the real"
        f" dedupe_paragraphs, summary + body of {checked} articles: {mismatches} differ"
        f" ({time.perf_counter() - started:.0f} s)"
    )
    arts = rule_articles(records, s)
    with_lead = [a for a in arts if a.lead]
    labels = collections.Counter(a.lead[0] for a in with_lead if a.lead)
    paragraphs = collections.Counter(lab for a in arts for lab in a.labels.values())
    print(
        f"articles {len(arts)} (distinct bodies), {len(with_lead)} with a summary; leads by 5-gram"
        f" share: {dict(labels)}; body paragraphs: {dict(paragraphs)}"
        f" ({time.perf_counter() - started:.0f} s)"
    )
    today = evaluate_rule(arts, functools.partial(pr.decide, settings=s, cover_min=None))
    print(
        "columns: recall = repeated leads (summary's 5-grams >= 60% in its closest paragraph)"
        " where the summary or that paragraph goes; reworded = the non-verbatim ones; hard ="
        " the reworded ones today's exact/simhash+Jaccard rules miss; false drops = distinct"
        " body paragraphs removed; grey = body paragraphs with 16% to 60% of their 5-grams in"
        " another paragraph, removed (not a target: some are rewordings, some lose a fact);"
        " pairs = pairs of distinct paragraphs any rule matches; seed = the seed article's"
        " removals unchanged"
    )
    print(
        "| rule | recall | reworded | hard | false drops | grey removed | distinct leads dropped"
        " | pairs | seed |"
    )
    print("|---|---|---|---|---|---|---|---|---|")

    def row(name: str, c: collections.Counter[str], rule: pr.Decide) -> None:
        seed = seed_removals(rule, s)
        seed_ok = "n/a" if seed is None else "exact" if seed == SEED_EXPECTED else f"{seed}"
        print(
            f"| {name} | {_rate(c, 'lead_repeat_caught', 'lead_repeat')}"
            f" | {_rate(c, 'reworded_caught', 'reworded')} | {_rate(c, 'hard_caught', 'hard')}"
            f" | {_rate(c, 'para_distinct_dropped', 'para_distinct', '.5f')}"
            f" | {_rate(c, 'para_grey_dropped', 'para_grey')}"
            f" | {c['lead_distinct_dropped']}/{c['lead_distinct']}"
            f" | {_rate(c, 'distinct_pairs_matched', 'distinct_pairs', '.6f')} | {seed_ok} |",
            flush=True,
        )

    row("today", today, functools.partial(pr.decide, settings=s, cover_min=None))
    variants: list[tuple[str, dict[str, object]]] = [
        (f"t={t} k={k}", {"cover_min": t, "cover_min_shared": k})
        for t in RULE_GRID_T
        for k in RULE_GRID_K
    ]
    variants += [
        (f"t={t} k=5, larger <= 3x smaller", {"cover_min": t, "max_ratio": 3.0})
        for t in RULE_GRID_T
    ]
    variants += [
        (f"t={t} k=5, the LATER one goes", {"cover_min": t, "covered_goes": "later"})
        for t in RULE_GRID_T
    ]
    for name, options in variants:
        rule = functools.partial(pr.decide, settings=s, **options)  # type: ignore[arg-type]
        row(name, evaluate_rule(arts, rule), rule)
    print(f"({time.perf_counter() - started:.0f} s)")

    chosen = functools.partial(pr.decide, settings=s)
    print(f"\nchosen: t={pr.COVER_MIN} k={pr.COVER_MIN_SHARED}, the smaller paragraph goes")
    found = evaluate_rule(arts, chosen)
    dropped = []
    for art in arts:
        removed = pr.dedupe_order(art.keys, art.pair_at, chosen, art.distance)
        for index, reason, other, overlap in removed:
            if art.labels.get(index) == lead_labels.DISTINCT:
                dropped.append((art.id, index, reason, other, overlap))
    print(f"  false drops at the chosen point ({found['para_distinct_dropped']}), by reason:"
          f" {dict(collections.Counter(d[2] for d in dropped))}")  # fmt: skip
    by_id = {r["id"]: r for r in records}
    for art_id, index, reason, other, overlap in dropped[:8]:
        r = by_id[art_id]
        summary = (r["summary"] or "").strip()
        texts = ([summary] if summary else []) + [
            p.strip() for p in (r["body"] or "").split("\n") if p.strip()
        ]
        print(
            f"   {art_id} {reason} {overlap:.2f}\n     D: {texts[index][:110]}\n     K: {texts[other][:110]}"
        )
    # margins: the closest calls on either side of t among the seed's pairs
    if SEED.exists():
        texts = SEED.read_text(encoding="utf-8").splitlines()[1:15]
        figures = sorted(
            (
                pr.proposed_rule(texts[i], texts[j])[1]["cover"],
                i + 2,
                j + 2,
                pr.proposed_rule(texts[i], texts[j])[1],
            )
            for i, j in itertools.combinations(range(len(texts)), 2)
        )[-3:]
        for value, i, j, f in reversed(figures):
            print(
                f"  seed, file lines {i} and {j}: cover {value:.3f}, shared {f['shared']}, rule {f['rule']}, drop {f['drop']}"
            )

    measure_quote_traps(records, rng, s)


def measure_quote_traps(
    records: list[dict[str, str]], rng: random.Random, s: DedupSettings
) -> None:
    """A long quoted paragraph (>= 25 stems, with quotation marks) of another article inserted
    in the middle of an article, distinct from each of its paragraphs (5-gram share <= 0.16
    both ways): a trap when the rule removes the quotation, or removes anything else than it
    removed without it."""
    quotes = [
        (r["id"], p.strip())
        for r in records
        for p in (r["body"] or "").split("\n")
        if ('"' in p or "«" in p or "“" in p) and len(arabic.stems(p)) >= 25
    ]
    hosts = [
        r for r in records if len([p for p in (r["body"] or "").split("\n") if p.strip()]) >= 4
    ]
    sample = rng.sample(hosts, min(QUOTE_TRAPS, len(hosts)))
    traps = collections.Counter()
    for r in sample:
        body = [p.strip() for p in (r["body"] or "").split("\n") if p.strip()]
        source, quote = rng.choice(quotes)
        if source == r["id"] or any(
            max(lead_labels.share(quote, p), lead_labels.share(p, quote)) > lead_labels.DISTINCT_MAX
            for p in body
        ):
            continue  # the same story, or a quotation the article already carries
        where = len(body) // 2
        with_quote = [*body[:where], quote, *body[where:]]
        for name, cover_min in (("today", None), ("proposed", pr.COVER_MIN)):
            before = {body[i] for i, *_ in pr.proposed_dedupe(body, s, cover_min=cover_min)}
            after = {
                with_quote[i] for i, *_ in pr.proposed_dedupe(with_quote, s, cover_min=cover_min)
            }
            traps[name] += quote in after or (after - {quote}) != before
        traps["n"] += 1
    print(
        f"\nquotation traps ({traps['n']} articles with a long quotation of another article"
        f" inserted): the quotation or another paragraph removed because of it:"
        f" today {traps['today']}, proposed {traps['proposed']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=None, help="sample this many articles")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--only", choices=("all", "thresholds", "rule"), default="all",
        help="thresholds: parts 0-2; rule: part 3 (the proposed paragraph rule)",
    )  # fmt: skip
    args = parser.parse_args()
    if not CORPUS.exists():
        sys.exit(f"corpus not found: {CORPUS}")
    rng = random.Random(args.seed)
    records = load(args.articles, rng)
    print(
        f"corpus: {CORPUS.name}, {len(records)} articles; fingerprint v{fingerprint.FINGERPRINT_VERSION}, {arabic.STEMMER_ID}"
    )
    if args.only == "rule":
        measure_rule(records, rng)
        return
    measure_speed(records)
    arts = []
    for r in records:
        paras = [para(p) for p in (r["body"] or "").split("\n") if p.strip()]
        stems = [s for p in (r["body"] or "").split("\n") for s in arabic.stems(p)]
        arts.append(
            Art(
                id=r["id"],
                source=r["source"],
                category=r["category"],
                day=(r["date"] or "")[:10],
                title=r["title"] or "",
                summary=r["summary"],
                paras=paras,
                stems=frozenset(stems),
                n_stems=len(stems),
                fp=fingerprint.fingerprint(stems),
            )
        )
    measure_paragraphs(arts, rng)
    measure_articles(arts, rng)
    if args.only == "all":
        measure_rule(records, rng)


if __name__ == "__main__":
    main()
