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
   candidate counts, against 8x8 bands and a full scan.

Usage: .venv/bin/python bench/measure_thresholds.py [--articles N] [--seed S]
(about 3 to 5 minutes on the whole corpus; --articles 3000 for a quick look). Prints corpus
text only in short excerpts of flagged pairs, for inspection; nothing is written.
"""

from __future__ import annotations

import argparse
import collections
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

from ingest import arabic, dedupe, fingerprint
from ingest.models import Cleaned
from ingest.settings import DedupSettings

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "ant-multisource.jsonl.gz"

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
        dedupe.article_fingerprint(paragraphs)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    for paragraphs in bodies:
        dedupe.article_fingerprint(paragraphs)
    warm = time.perf_counter() - start
    stems_only = time.perf_counter()
    for paragraphs in bodies:
        dedupe.article_features(paragraphs)
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
        result = dedupe.dedupe_paragraphs(Cleaned(paragraphs=texts), CHOSEN)
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
            stems = dedupe.article_features(texts)
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=None, help="sample this many articles")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not CORPUS.exists():
        sys.exit(f"corpus not found: {CORPUS}")
    rng = random.Random(args.seed)
    records = load(args.articles, rng)
    print(
        f"corpus: {CORPUS.name}, {len(records)} articles; fingerprint v{fingerprint.FINGERPRINT_VERSION}, {arabic.STEMMER_ID}"
    )
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


if __name__ == "__main__":
    main()
