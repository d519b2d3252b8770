"""Deduplication quality of the real pipeline, measured on real Arabic news.

Builds feeds from ``../shared/corpus/ant-multisource.jsonl.gz`` (never copied into the
repository) the way the real world produces them, writes them as local RSS files, runs the real
``ingest fetch`` (``ingest.cli.main``, in this process) into a fresh SQLite store three times
per simulated day, reads ``ingest export --duplicates`` back and prints one table.

What the feeds hold (every item keeps the corpus article's date; the feeds are polled three
times a simulated day, each file carrying the items of the last 24 hours, as a real feed
would):

* **outlet feeds**, one per outlet and category (``alarabiya-sport`` ...): the corpus article
  as the outlet publishes it (``description`` = RSS summary, ``content:encoded`` = body). The
  corpus's own cross-outlet wire copies and follow-ups are among them.
* **scraper feeds** (``scraper-<outlet>``): a share of the articles is routed through a
  scraper instead (half of Al Arabiya's and CNN's, whose summaries are reworded; a quarter of
  the others', whose summaries are verbatim): ``[ad_1]``, the summary, the body, sometimes a
  "read also" link, a "follow us" line (40%) and a disclaimer (30%), ``[ad_2]`` and a bare
  ``المصدر``, as in the seed article.
* **syndicated copies** (``wire-1`` .. ``wire-3``): 30% of the articles are republished 1 to 6
  hours later under a new title with one edit each, in turn: only the title, a dateline and a
  byline added, the last paragraph cut, a paragraph added (a short one, from another story of
  that day), diacritics and hamza changed, tracking parameters on the original link,
  paragraphs merged and re-split, or all of dateline, cut, hamza and added paragraph at once.
  The three edits that cut or add a paragraph are made only to articles of at least 4
  paragraphs (cutting one of two paragraphs makes another article); shorter ones get one of
  the other edits instead.
* **negatives**: all other articles of the same days and categories, and quotation groups:
  two (every third group: three) different stories of the same day and category that all
  carry the same long quoted paragraph (taken from an article outside the benchmark days).

Labels (documented rules, computed from the inputs, never from the pipeline's decisions):

* *5-gram share* (``bench/lead_labels.py``): ``ingest.arabic.normalize`` the text, remove every
  whitespace character, take the set of its 5-character substrings; the share of A in B is the
  share of A's 5-grams that occur in B. Characters, not stems: the labels do not share the
  features of the rule they score.
* *reworded lead* (scraper items): the summary is a *repeat* when its share in its closest body
  paragraph is >= 0.6, *distinct* when <= 0.16, *grey* in between (reported, not scored).
  Recall: repeats (the whole band, verbatim ones included) where the summary or that paragraph
  was removed as a duplicate; the non-verbatim repeats are also reported alone.
* *distinct body paragraph*: a body paragraph whose share in every other paragraph of its item
  (summary included) is <= 0.16, and that is not a recurring paragraph; a share >= 0.6 in some
  other paragraph makes it a repeat, in between grey. False drops: distinct paragraphs removed
  (as duplicates or boilerplate), out of all distinct paragraphs. Distinct summaries removed are
  reported apart.
* *recurring paragraph*: the same normalised paragraph in at least 3 different items of one
  feed over the whole run (quotations excepted: they are scored apart).
* *same story*: an item and its synthetic copies; two corpus articles (within the dedup
  window) whose sentence alignment is >= 0.8 both ways (the alignment of A in B is the share
  of A's stems found in counterpart sentences of B, a counterpart sharing at least 70% of
  the smaller sentence's stems; recurring paragraphs left out); different when it is < 0.5 both
  ways; ambiguous otherwise, e.g. a short item wholly inside a longer follow-up (links between
  them are neither right nor wrong: a link record keeps no body, so linking the longer one would
  hide its news). Quotation pairs are different stories by construction.
* *seed article*: ``../shared/seed-article.txt`` as one item of its own feed, fetched into a
  fresh store: exact when the 12 expected paragraphs are kept, in order, and the 5 expected
  pieces removed for the expected reasons (``[ad_1]``, ``[ad_2]``, ``المصدر``, and the two
  reworded repeats, paragraphs 12 and 13 of the file, as ``near_duplicate``).

Orders of arrival (``--orders``; issue 10 items 2 and 6). The same items in every order, each
order into a fresh store, ``ingest fetch`` run in this process with ``clock=`` the simulated
time of that fetch:

* ``chronological``: the polling above, three times a simulated day (the default run);
* ``one-process``: every feed in full (its items newest first, as feeds list them) in one
  ``ingest fetch``, at the end of the period;
* ``per-feed``: every feed in full, one ``ingest fetch`` per feed, in name order, at the end;
* ``reversed``: the same in reverse name order (the wire copies and scrapers first);
* ``shuffled``: the same in a seeded random order;
* ``split``: two ``ingest fetch`` runs of every feed, each item in one of them (seeded coin);
* ``backfill``: newest day first, one ``ingest fetch`` per day holding that day's items of
  every feed, all at the end of the period (a deployment backfilling archives);
* ``bad-dates-first``: a feed of unrelated corpus stories dated 0001-01-01, 1970-01-01,
  2099-01-01 and undated (three of each) fetched first, at the first poll, then the polling.
  When ``ingest export`` fails on a stored row, each feed is exported alone and the failure is
  reported (today, year 0001 makes the whole export fail).

Per order: syndication precision and recall, and the worst order of each.

Usage: ``.venv/bin/python bench/dedup_quality.py [--start 2018-04-01] [--days 28]``
(2 to 4 minutes on a 2-core machine; ``--orders`` adds the seven other orders, 6 to 8
minutes in all; ``--quick`` runs 10 days without the bulk-throughput run, about 3 minutes with
``--orders``; ``--keep DIR`` keeps the feeds and the stores; ``--dedup paragraph_min_cover=1.01`` switches
the ``covered`` paragraph rule off, to compare with the rules before it).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import html
import io
import itertools
import json
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import lead_labels  # noqa: E402
import paragraph_rule  # noqa: E402

from ingest import arabic, cli, fingerprint  # noqa: E402
from ingest.boilerplate import BOILERPLATE  # noqa: E402
from ingest.dedupe import jaccard  # noqa: E402
from ingest.models import PARAGRAPH_RULE_REASONS  # noqa: E402
from ingest.settings import DedupSettings  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "ant-multisource.jsonl.gz"
SEED = ROOT.parent / "shared" / "seed-article.txt"
REMOVAL_REASONS = frozenset(str(r) for r in PARAGRAPH_RULE_REASONS) | paragraph_rule.REASONS


def text_hash(paragraphs: Sequence[str]) -> str:
    """The store's exact-duplicate key of a text (``fingerprint.ArticleFeatures.text_hash``)."""
    return fingerprint.article_features(fingerprint.analyse(paragraphs)).text_hash


SCRAPER_SHARE = {"alarabiya.net": 0.5, "arabic.cnn.com": 0.5}
SCRAPER_SHARE_OTHERS = 0.25
COPY_SHARE = 0.3
POLLS_PER_DAY = 3
QUOTE_GROUPS_PER_DAY = 4
EDITS = (
    "new_title",
    "dateline_byline",
    "last_cut",
    "paragraph_added",
    "diacritics_hamza",
    "tracking_params",
    "merge_split",
    "combined",
)
HEAVY_EDITS = frozenset({"last_cut", "paragraph_added", "combined"})
HEAVY_MIN_PARAGRAPHS = 4
LIGHT_EDITS = ("new_title", "dateline_byline", "diacritics_hamza", "tracking_params", "merge_split")
FOLLOW_US = "تابعونا على تويتر وفيسبوك لمتابعة آخر الأخبار العاجلة لحظة بلحظة"
DISCLAIMER = (
    "الآراء الواردة في المقالات المنقولة لا تعبر بالضرورة عن رأي الموقع أو سياسته التحريرية"
)
SHORT = {
    "alarabiya.net": "alarabiya",
    "arabic.cnn.com": "cnn",
    "france24.com/ar": "france24",
    "skynewsarabia.com": "skynews",
}
REPEAT, GREY, DISTINCT = lead_labels.REPEAT, lead_labels.GREY, lead_labels.DISTINCT
MIN_SHARED = 5
BAD_DATES = (datetime(1, 1, 1, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC),
             datetime(2099, 1, 1, tzinfo=UTC), None)  # fmt: skip
BAD_DATE_ITEMS = 3  # of each date
RESIDUE = re.compile(r"\[/?ad[_\w]*\]|^المصدر:?$|^(?:اقرأ|إقرأ) (?:أيضا|ايضا|أيضاً)")


# ---------------------------------------------------------------------------- the corpus


@dataclass
class Story:
    """One corpus article (deduplicated by URL and by text)."""

    id: str
    source: str
    category: str
    date: datetime
    title: str
    summary: str
    body: list[str]
    url: str


@dataclass
class Item:
    """One feed item the benchmark publishes, and what the labels need to know about it."""

    guid: str
    feed: str
    kind: str  # outlet, scraper, copy
    story: str  # the corpus article it carries
    title: str
    link: str
    published: datetime
    description: str
    blocks: list[str]  # the HTML blocks of its content, in order
    body: list[str]  # the article paragraphs among the blocks
    summary: str | None = None  # scraper items: the lead put above the body
    edit: str | None = None  # copies: which edit
    quote: str | None = None  # quotation pairs: the shared paragraph
    extra: list[str] = field(default_factory=list)  # injected boilerplate lines
    undated: bool = False  # bad-date items: no pubDate at all


def load_stories(start: datetime, days: int) -> tuple[list[Story], list[Story]]:
    """The deduplicated corpus articles of the benchmark days, and some outside them."""
    end = start + timedelta(days=days)
    inside: list[Story] = []
    outside: list[Story] = []
    seen_urls: set[str] = set()
    seen_texts: set[str] = set()
    with gzip.open(CORPUS, "rt", encoding="utf-8") as handle:
        for line in handle:
            r = json.loads(line)
            body = [p.strip() for p in (r["body"] or "").split("\n") if p.strip()]
            if not body or not r["date"]:
                continue
            date = datetime.fromisoformat(r["date"]).astimezone(UTC)
            key = text_hash(body)
            if not key or r["url"] in seen_urls or key in seen_texts:
                continue  # the corpus lists some articles twice (two categories)
            seen_urls.add(r["url"])
            seen_texts.add(key)
            story = Story(
                r["id"], r["source"], r["category"], date, r["title"] or "",
                (r["summary"] or "").strip(), body, r["url"],
            )  # fmt: skip
            (inside if start <= date < end else outside).append(story)
    inside.sort(key=lambda s: (s.date, s.id))
    return inside, outside


# ---------------------------------------------------------------------------- the feeds

HAMZA = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ى": "ي", "ة": "ه"})
HARAKAT = "\u064e\u064f\u0650\u0652\u064b"
SENTENCE_END = re.compile(r"(?<=[.!؟?])\s+")


def vocalise(text: str, rng: random.Random) -> str:
    return "".join(
        c + (rng.choice(HARAKAT) if "\u0621" <= c <= "\u064a" and rng.random() < 0.25 else "")
        for c in text
    )


def edited(
    body: list[str], edit: str, extra: str, rng: random.Random
) -> tuple[list[str], list[str]]:
    """``(blocks, body)`` of a syndicated copy: the edit applied to the original's body."""
    dateline = rng.choice(["القاهرة - (رويترز) - ", "بيروت (أ ف ب) - ", "دبي - وكالات: "])
    byline = rng.choice(["بقلم: محمد عبد الله", "كتب: سامي الخطيب", "إعداد: ليلى حسن"])
    if edit == "dateline_byline":
        text = [dateline + body[0], *body[1:]]
        return [byline, *text], text
    if edit == "last_cut":
        text = body[:-1] if len(body) >= 2 else body
    elif edit == "paragraph_added":
        text = [*body, extra]
    elif edit == "diacritics_hamza":
        text = [vocalise(p.translate(HAMZA), rng) for p in body]
    elif edit == "merge_split":
        text = [
            piece
            for k in range(0, len(body), 2)
            for piece in SENTENCE_END.split(" ".join(body[k : k + 2]))
            if piece.strip()
        ]
    elif edit == "combined":
        cut = body[:-1] if len(body) >= 3 else body
        text = [(dateline + cut[0]).translate(HAMZA), *(p.translate(HAMZA) for p in cut[1:])]
        text.append(extra)
    else:  # new_title, tracking_params: the text as it was
        text = list(body)
    return text, text


def build_items(stories: list[Story], outside: list[Story], seed: int) -> list[Item]:
    rng = random.Random(seed)
    by_group: dict[tuple[str, str], list[Story]] = defaultdict(list)
    for s in stories:
        by_group[(s.date.date().isoformat(), s.category)].append(s)
    # Quotation pairs: two different stories of one day and category, one quoted paragraph.
    quotes = [
        p
        for s in outside
        for p in s.body
        if len(arabic.stems(p)) >= 25 and ('"' in p or "«" in p or "“" in p)
    ]
    rng.shuffle(quotes)
    quoted: dict[str, str] = {}
    days = sorted({s.date.date() for s in stories})
    for day in days:
        groups = [g for (d, _), g in by_group.items() if d == day.isoformat() and len(g) >= 4]
        for n in range(QUOTE_GROUPS_PER_DAY):
            if not groups or not quotes:
                break
            group = rng.choice(groups)
            # most quotations are carried by two stories, every third one by three
            chosen = _distinct_stories(group, quoted, 3 if n % 3 == 2 else 2, rng)
            if chosen:
                q = quotes.pop()
                quoted.update((story.id, q) for story in chosen)
    items: list[Item] = []
    counter = itertools.count(1)
    edit_turn = itertools.cycle(EDITS)
    for s in stories:
        body = list(s.body)
        quote = quoted.get(s.id)
        if quote:
            body.insert(max(1, len(body) // 2), quote)
        share = SCRAPER_SHARE.get(s.source, SCRAPER_SHARE_OTHERS)
        if s.summary and rng.random() < share:
            items.append(_scraper_item(s, body, quote, next(counter), rng))
        else:
            items.append(
                Item(
                    guid=f"outlet-{s.id}", feed=f"{SHORT[s.source]}-{s.category}", kind="outlet",
                    story=s.id, title=s.title, link=s.url, published=s.date,
                    description=s.summary or body[0], blocks=list(body), body=list(body),
                    quote=quote,
                )
            )  # fmt: skip
        if quote or rng.random() >= COPY_SHARE:
            continue
        edit = next(edit_turn)
        group = by_group[(s.date.date().isoformat(), s.category)]
        extra = _extra_paragraph(s, group, rng)
        if edit in HEAVY_EDITS and (len(s.body) < HEAVY_MIN_PARAGRAPHS or not extra):
            # Cutting one of two paragraphs, or adding a paragraph as long as the article,
            # makes another article, not an edited copy: light edits for short articles.
            edit = rng.choice(LIGHT_EDITS)
        blocks, text = edited(s.body, edit, extra, rng)
        n = next(counter)
        link = (
            f"{s.url}{'&' if '?' in s.url else '?'}utm_source=twitter&utm_medium=social&fbclid=x{n}"
            if edit == "tracking_params"
            else f"https://wire-{n % 3 + 1}.example/news/{n}"
        )
        items.append(
            Item(
                guid=f"copy-{n}", feed=f"wire-{n % 3 + 1}", kind="copy", story=s.id,
                title=_new_title(s.title, rng), link=link,
                published=s.date + timedelta(minutes=rng.randint(60, 360)),
                description=text[0], blocks=blocks, body=text, edit=edit,
            )
        )  # fmt: skip
    return items


def _extra_paragraph(s: Story, group: list[Story], rng: random.Random) -> str:
    """A paragraph of another story of the same day and category, at most a quarter of the
    article's length (what an outlet adds: a background line, a reaction); ``""`` if none."""
    size = len(_stem_set(s.body))
    fitting = [
        p
        for o in group
        if o.id != s.id
        for p in o.body
        if MIN_SHARED <= len(stem_set(p)) <= size // 4
    ]
    return rng.choice(fitting) if fitting else ""


def _distinct_stories(
    group: list[Story], taken: dict[str, str], size: int, rng: random.Random
) -> list[Story] | None:
    """``size`` different stories of one group, no two sharing much vocabulary."""
    for _ in range(20):
        chosen = rng.sample(group, size)
        if any(s.id in taken for s in chosen):
            continue
        if all(
            jaccard(_stem_set(a.body), _stem_set(b.body)) < 0.2
            for a, b in itertools.combinations(chosen, 2)
        ):
            return chosen
    return None


def _new_title(title: str, rng: random.Random) -> str:
    words = title.split()
    rng.shuffle(words)
    return rng.choice(["عاجل: ", "بالفيديو: ", "تقرير: ", ""]) + " ".join(words)


def _scraper_item(s: Story, body: list[str], quote: str | None, n: int, rng: random.Random) -> Item:
    blocks = ["[ad_1]", s.summary, *body]
    extra: list[str] = []
    if rng.random() < 0.2:
        blocks.insert(
            len(blocks) // 2 + 1,
            '<a href="https://scraper.example/related">اقرأ أيضا: عنوان خبر آخر</a>',
        )
    if rng.random() < 0.4:
        blocks.append(FOLLOW_US)
        extra.append(FOLLOW_US)
    if rng.random() < 0.3:
        blocks.append(DISCLAIMER)
        extra.append(DISCLAIMER)
    blocks += ["[ad_2]", "المصدر"]
    return Item(
        guid=f"scraper-{s.id}", feed=f"scraper-{SHORT[s.source]}", kind="scraper", story=s.id,
        title=s.title, link=f"https://scraper-{SHORT[s.source]}.example/?p={n}&utm_source=rss",
        published=s.date, description=s.summary, blocks=blocks, body=list(body),
        summary=s.summary, quote=quote, extra=extra,
    )  # fmt: skip


def rss(feed: str, items: Iterable[Item]) -> str:
    entries = []
    for item in items:
        content = "".join(
            f"<p>{b}</p>" if b.startswith("<a ") else f"<p>{html.escape(b)}</p>"
            for b in item.blocks
        )
        entries.append(
            f"<item><title>{html.escape(item.title)}</title>"
            f"<link>{html.escape(item.link)}</link>"
            f'<guid isPermaLink="false">{item.guid}</guid>'
            + ("" if item.undated else f"<pubDate>{format_datetime(item.published)}</pubDate>")
            + f"<description>{html.escape(item.description)}</description>"
            f"<content:encoded><![CDATA[{content}]]></content:encoded></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{feed}</title><link>https://{feed}.example/</link><description>{feed}"
        f"</description><language>ar</language>{''.join(entries)}</channel></rss>\n"
    )


# ---------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Fetch:
    """One run of ``ingest fetch``: the simulated time it runs at and the feed files it reads
    (each feed's items, in the order the file lists them)."""

    clock: datetime
    feeds: tuple[tuple[str, tuple[Item, ...]], ...]


@dataclass
class Run:
    """What one order of arrival produced."""

    rows: list[dict[str, Any]]
    seconds: float  # in ingest fetch
    fetches: int  # feed fetches
    runs: int  # runs of ingest fetch
    export_failures: list[str] = field(default_factory=list)


def write_config(workdir: Path, settings: DedupSettings) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "bench.toml"
    # A month of one outlet's items is a big feed: room for the parse worker (isolate.py).
    dedup = "".join(f"{f.name} = {getattr(settings, f.name)!r}\n" for f in fields(settings))
    config.write_text(f"[http]\nmax_body_bytes = 67108864\n[dedup]\n{dedup}", encoding="utf-8")
    return config


def polling_plan(items: list[Item]) -> list[Fetch]:
    """``POLLS_PER_DAY`` polls a simulated day, each feed file holding the items of the last 24
    hours (oldest first), at the poll's time; polls that bring nothing new are skipped."""
    items = sorted(items, key=lambda i: i.published)
    step = timedelta(hours=24 / POLLS_PER_DAY)
    poll = items[0].published.replace(hour=0, minute=0, second=0) + step
    plan = []
    while poll <= items[-1].published + step:
        shown: dict[str, list[Item]] = defaultdict(list)
        for item in items:
            if poll - timedelta(hours=24) < item.published <= poll:
                shown[item.feed].append(item)
        if any(poll - step < item.published for group in shown.values() for item in group):
            plan.append(Fetch(poll, tuple((f, tuple(g)) for f, g in sorted(shown.items()))))
        poll += step
    return plan


def _whole_feeds(items: Iterable[Item]) -> dict[str, tuple[Item, ...]]:
    """Every feed with all its items, newest first (as feeds list them)."""
    by_feed: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_feed[item.feed].append(item)
    return {
        f: tuple(sorted(g, key=lambda i: (i.published, i.guid), reverse=True))
        for f, g in sorted(by_feed.items())
    }


def order_plan(name: str, items: list[Item], bad: list[Item], seed: int) -> list[Fetch]:
    """The fetches of one order of arrival (the module docstring lists them)."""
    rng = random.Random(f"{seed}-{name}")
    end = max(i.published for i in items) + timedelta(hours=1)
    feeds = _whole_feeds(items)
    if name == "chronological":
        return polling_plan(items)
    if name == "bad-dates-first":
        plan = polling_plan(items)
        return [Fetch(plan[0].clock, (("bad-dates", tuple(bad)),)), *plan]
    if name == "one-process":
        return [Fetch(end, tuple(feeds.items()))]
    if name in {"per-feed", "reversed", "shuffled"}:
        names = list(feeds)
        if name == "reversed":
            names.reverse()
        elif name == "shuffled":
            rng.shuffle(names)
        return [Fetch(end, ((f, feeds[f]),)) for f in names]
    if name == "split":
        halves: tuple[list[Item], list[Item]] = ([], [])
        for item in sorted(items, key=lambda i: i.guid):
            halves[rng.random() < 0.5].append(item)
        return [Fetch(end, tuple(_whole_feeds(half).items())) for half in halves]
    if name == "backfill":
        days: dict[object, list[Item]] = defaultdict(list)
        for item in items:
            days[item.published.date()].append(item)
        return [
            Fetch(end, tuple(_whole_feeds(days[d]).items())) for d in sorted(days, reverse=True)
        ]
    raise ValueError(f"no order {name!r}")


ORDERS = (
    "chronological",
    "one-process",
    "per-feed",
    "reversed",
    "shuffled",
    "split",
    "backfill",
    "bad-dates-first",
)


def run_plan(plan: list[Fetch], workdir: Path, config: Path) -> Run:
    """Run the fetches of ``plan`` into a fresh store in ``workdir`` and export it."""
    if workdir.exists():
        shutil.rmtree(workdir)
    feeds_dir = workdir / "feeds"
    feeds_dir.mkdir(parents=True)
    env = {"INGEST_DB": str(workdir / "bench.db"), "INGEST_CONFIG": str(config)}
    elapsed = 0.0
    fetches = runs = 0
    urls: set[str] = set()
    for fetch in plan:
        clock = functools.partial(lambda at: at, fetch.clock)
        paths = []
        for feed, group in fetch.feeds:
            path = feeds_dir / f"{feed}.xml"
            path.write_text(rss(feed, group), encoding="utf-8")
            paths.append(str(path))
        for _attempt in range(3):  # a feed that failed is fetched again, as a daemon would
            out = io.StringIO()
            started = time.perf_counter()
            cli.main(["fetch", "--json", *paths], environ=env, out=out, clock=clock)
            elapsed += time.perf_counter() - started
            runs += 1
            lines = [json.loads(line) for line in out.getvalue().splitlines()]
            outcomes = [o for o in lines if "summary" not in o]  # the last line sums up
            fetches += len(paths)
            urls.update(o["url"] for o in outcomes)
            paths = [str(Path(o["url"][len("file://") :])) for o in outcomes if o["error"]]
            if not paths:
                break
        else:
            sys.exit(f"ingest fetch failed at {fetch.clock}:\n{out.getvalue()}")
    rows, failures = export_rows(env, sorted(urls))
    return Run(rows, elapsed, fetches, runs, failures)


def export_rows(env: dict[str, str], urls: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """``ingest export --duplicates``; when it fails, each feed alone (``--feed URL``), and the
    failures as ``"<feed>: <error>"``."""
    try:
        return _export(env, []), []
    except Exception:  # a crash of ingest is a measured result here
        pass
    rows: list[dict[str, Any]] = []
    failures = []
    for url in urls:
        try:
            rows += _export(env, ["--feed", url])
        except Exception as exc:
            failures.append(f"{Path(url).stem}: {type(exc).__name__}: {str(exc)[:80]}")
    return rows, failures


def _export(env: dict[str, str], extra: list[str]) -> list[dict[str, Any]]:
    out = io.StringIO()
    code = cli.main(["export", "--duplicates", *extra], environ=env, out=out)
    if code:
        raise RuntimeError(f"ingest export exited with {code}")
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def seed_check(workdir: Path, config: Path) -> tuple[bool | None, str]:
    """Fetch the seed article as the one item of its own feed into a fresh store; ``(exact,
    what differs)``, ``(None, why)`` when ``../shared/seed-article.txt`` is absent."""
    if not SEED.exists():
        return None, f"{SEED} not found"
    lines = SEED.read_text(encoding="utf-8").splitlines()
    published = datetime(2023, 12, 7, 9, tzinfo=UTC)
    item = Item(
        guid="seed", feed="seed", kind="seed", story="seed", title="الجزائر وروسيا",
        link="https://scraper.example/seed", published=published, description=lines[1],
        blocks=lines, body=lines,
    )  # fmt: skip
    run = run_plan([Fetch(published + timedelta(hours=1), (("seed", (item,)),))], workdir, config)
    if len(run.rows) != 1:
        return False, f"{len(run.rows)} stored rows"
    row = run.rows[0]
    removed_at = {0: "ad_marker", 11: "near_duplicate", 12: "near_duplicate", 15: "ad_marker",
                  16: "source_trailer"}  # fmt: skip
    kept = [line for n, line in enumerate(lines) if n not in removed_at]
    wanted = sorted((reason, lines[n]) for n, reason in removed_at.items())
    got = sorted((r["reason"], r["text"]) for r in row["removed"])
    problems = []
    if row["paragraphs"] != kept:
        problems.append(f"{len(row['paragraphs'])} paragraphs kept, not the 12 expected")
    if got != wanted:
        problems.append(f"removed {[r for r, _ in got]}, expected {[r for r, _ in wanted]}")
    return not problems, "; ".join(problems) or f"{len(kept)} kept, 5 removed as expected"


def bulk_throughput(items: list[Item], workdir: Path) -> tuple[int, float]:
    """``(items, articles per second)`` of one ``ingest fetch`` of every feed's first week
    into a fresh store: the pipeline's own speed, without the start-up of many short runs."""
    first = min(item.published for item in items)
    week = [item for item in items if item.published < first + timedelta(days=7)]
    by_feed: dict[str, list[Item]] = defaultdict(list)
    for item in week:
        by_feed[item.feed].append(item)
    bulk = workdir / "bulk"
    if bulk.exists():  # a store kept by an earlier --keep run
        shutil.rmtree(bulk)
    bulk.mkdir(parents=True)
    paths = []
    for feed, group in sorted(by_feed.items()):
        path = bulk / f"{feed}.xml"
        path.write_text(rss(feed, group), encoding="utf-8")
        paths.append(str(path))
    env = {"INGEST_DB": str(bulk / "bulk.db"), "INGEST_CONFIG": str(workdir / "bench.toml")}
    now = first + timedelta(days=7)
    started = time.perf_counter()
    cli.main(["fetch", *paths], environ=env, out=io.StringIO(), clock=lambda: now)
    return len(week), len(week) / (time.perf_counter() - started)


# ---------------------------------------------------------------------------- labels


def key(text: str) -> str:
    return " ".join(arabic.tokens(text))


_STEMS: dict[str, frozenset[str]] = {}


def stem_set(text: str) -> frozenset[str]:
    found = _STEMS.get(text)
    if found is None:
        found = _STEMS[text] = frozenset(arabic.stems(text))
    return found


def _stem_set(paragraphs: Iterable[str]) -> frozenset[str]:
    return frozenset().union(*(stem_set(p) for p in paragraphs))


_SENTENCE = re.compile(r"(?<=[.!?؟:])\s+|\n")


def alignment(a: Sequence[str], b: Sequence[str]) -> float:
    """Share of ``a``'s stems found in counterpart sentences of ``b``: a sentence of ``b`` is
    a counterpart of one of ``a`` when at least 70% of the smaller one's stems (and at least
    3) are in the other, so merged or split sentences still align. Independent of
    fingerprints and of paragraph breaks."""
    sa = [stem_set(x) for p in a for x in _SENTENCE.split(p) if x.strip()]
    sb = [s for s in (stem_set(x) for p in b for x in _SENTENCE.split(p) if x.strip()) if s]
    covered = total = 0
    for s in sa:
        total += len(s)
        matched: set[str] = set()
        for o in sb:
            shared = s & o
            if len(shared) >= 3 and len(shared) >= 0.7 * min(len(s), len(o)):
                matched |= shared
        covered += len(matched)
    return covered / total if total else 0.0


class Truth:
    """Which items carry the same story: synthetic copies, and labelled corpus pairs."""

    def __init__(self, stories: list[Story], recurring: set[str], window: timedelta) -> None:
        self.story = {s.id: s for s in stories}
        self.recurring = recurring
        self.window = window
        self.parent: dict[str, str] = {s.id: s.id for s in stories}
        self.labels: dict[tuple[str, str], str] = {}
        self.quotation_pairs: set[tuple[str, str]] = set()
        for a, b in self._candidates(stories):
            if self.label(a, b) == "copy":
                self.parent[self.root(a)] = self.root(b)

    def root(self, story: str) -> str:
        while self.parent[story] != story:
            self.parent[story] = self.parent[self.parent[story]]
            story = self.parent[story]
        return story

    def _text(self, story: str) -> list[str]:
        return [p for p in self.story[story].body if key(p) not in self.recurring]

    def label(self, a: str, b: str) -> str:
        pair = (min(a, b), max(a, b))
        if pair not in self.labels:
            if pair in self.quotation_pairs:
                self.labels[pair] = "distinct"
            else:
                ab = alignment(self._text(a), self._text(b))
                ba = alignment(self._text(b), self._text(a))
                low, high = min(ab, ba), max(ab, ba)
                self.labels[pair] = (
                    "copy" if low >= 0.8 else "distinct" if high < 0.5 else "ambiguous"
                )
        return self.labels[pair]

    def _candidates(self, stories: list[Story]) -> Iterable[tuple[str, str]]:
        """Pairs within the window sharing a long sentence, or of one day and category with
        stem Jaccard >= 0.3: every pair that alignment could call a copy."""
        index: dict[str, list[Story]] = defaultdict(list)
        for s in stories:
            for p in self._text(s.id):
                for sentence in _SENTENCE.split(p):
                    k = key(sentence)
                    if len(k.split()) >= 8:
                        index[k].append(s)
        pairs: set[tuple[str, str]] = set()
        for group in index.values():
            for a, b in itertools.combinations({s.id: s for s in group}.values(), 2):
                if a.id != b.id and abs(a.date - b.date) <= self.window:
                    pairs.add((min(a.id, b.id), max(a.id, b.id)))
        by_group: dict[tuple[object, str], list[Story]] = defaultdict(list)
        for s in stories:
            by_group[(s.date.date(), s.category)].append(s)
        for group in by_group.values():
            for a, b in itertools.combinations(group, 2):
                if jaccard(_stem_set(self._text(a.id)), _stem_set(self._text(b.id))) >= 0.3:
                    pairs.add((min(a.id, b.id), max(a.id, b.id)))
        return sorted(pairs)


# ---------------------------------------------------------------------------- scoring


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)

    def __getitem__(self, name: str) -> int:
        return self.counts[name]

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] += n


def ratio(a: int, b: int) -> str:
    return f"{a / b:.4f}" if b else "n/a"


def score(
    items: list[Item],
    rows: list[dict[str, Any]],
    truth: Truth,
    recurring_by_feed: dict[str, set[str]],
    settings: DedupSettings,
) -> dict[str, Tally]:
    by_guid = {item.guid: item for item in items}
    rows_by_id = {row["id"]: row for row in rows}
    learnable = learnable_occurrences(
        items, rows, recurring_by_feed, settings.boilerplate_min_articles
    )
    leads, paras, synd, boiler, residue = Tally(), Tally(), Tally(), Tally(), Tally()
    for row in rows:
        item = by_guid[row["guid"]]
        if row["duplicate_of"] is not None:
            continue
        removed = Counter((r["reason"], key(r["text"])) for r in row["removed"])
        dup_removed = {k for (reason, k) in removed if reason in REMOVAL_REASONS}
        any_removed = dup_removed | {k for (reason, k) in removed if reason == BOILERPLATE}
        for text in row["paragraphs"]:
            if RESIDUE.search(text.strip()):
                residue.add("left")
        residue.add("articles")
        recurring = recurring_by_feed.get(item.feed, set())
        if item.summary:
            label, matched, _ = lead_labels.lead_label(item.summary, item.body)
            verbatim = key(item.summary) == key(item.body[matched])
            caught = key(item.summary) in dup_removed or key(item.body[matched]) in dup_removed
            leads.add(label)
            leads.add(f"{label}_removed", caught)
            if label == REPEAT:
                leads.add("verbatim", verbatim)
                if not verbatim:
                    leads.add("reworded")
                    leads.add("reworded_removed", caught)
            if label == DISTINCT:
                leads.add("distinct_dropped", key(item.summary) in any_removed)
        texts = [*([item.summary] if item.summary else []), *item.body]
        offset = len(texts) - len(item.body)
        for i, text in enumerate(item.body):
            k = key(text)
            if k in recurring:
                continue
            kind = lead_labels.paragraph_label(offset + i, texts)
            paras.add(kind)
            if k in any_removed:
                paras.add("false_drops" if kind == DISTINCT else f"{kind}_drops")
        boiler.add("injected", len(item.extra))
        kept_keys = {key(p) for p in row["paragraphs"]}
        for k in text_keys(item) & recurring:
            gone = k not in kept_keys
            boiler.add("recurring")
            boiler.add("recurring_removed", gone)
            if (item.guid, k) in learnable:
                boiler.add("learnable")
                boiler.add("learnable_removed", gone)
        if item.quote:
            boiler.add("quotations")
            boiler.add(
                "quotations_removed", key(item.quote) not in {key(p) for p in row["paragraphs"]}
            )
    # syndication
    roots: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["id"]):
        roots[truth.root(by_guid[row["guid"]].story)].append(row)
    for row in rows:
        if row["duplicate_of"] is None:
            continue
        item = by_guid[row["guid"]]
        target = rows_by_id.get(row["duplicate_of"])
        if target is None:  # into a feed whose export failed: the bad-dates feed
            synd.add("links_wrong")
            synd.add("links_unexported")
            continue
        other = by_guid[target["guid"]]
        same = truth.root(item.story) == truth.root(other.story)
        label = "copy" if same else truth.label(item.story, other.story)
        if label == "copy":
            synd.add("links_right")
        elif label == "ambiguous":
            synd.add("links_ambiguous")
        else:
            synd.add("links_wrong")
            if item.quote and other.quote and item.quote == other.quote:
                synd.add("links_wrong_quotation")
    for members in roots.values():
        for row in members[1:]:
            item = by_guid[row["guid"]]
            group = item.edit or ("scraper" if item.kind == "scraper" else "corpus")
            target = rows_by_id.get(row["duplicate_of"]) if row["duplicate_of"] else None
            linked = by_guid[target["guid"]].story if target else None
            ok = linked is not None and truth.root(linked) == truth.root(item.story)
            if linked is not None and not ok and truth.label(item.story, linked) != "distinct":
                synd.add("unscored_related")  # linked into a related story: not scored
                continue
            synd.add(f"expected_{group}")
            synd.add(f"caught_{group}", ok)
            synd.add("expected")
            synd.add("caught", ok)
    return {"leads": leads, "paras": paras, "synd": synd, "boiler": boiler, "residue": residue}


def same_story_pairs(rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """The pairs of GUIDs the store puts in one story (linked, directly or through others):
    which copy is canonical may differ between orders, these pairs should not."""
    guid = {row["id"]: row["guid"] for row in rows}
    parent = {g: g for g in guid.values()}

    def root(g: str) -> str:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    for row in rows:
        target = guid.get(row["duplicate_of"]) if row["duplicate_of"] is not None else None
        if target is not None:
            parent[root(row["guid"])] = root(target)
    clusters: dict[str, list[str]] = defaultdict(list)
    for g in guid.values():
        clusters[root(g)].append(g)
    return {
        (a, b)
        for members in clusters.values()
        for a, b in itertools.combinations(sorted(members), 2)
    }


def text_keys(item: Item) -> set[str]:
    """The keys of the item's text paragraphs (body, summary, injected lines); the residue
    markers the cleaner removes are scored apart."""
    return {key(p) for p in (*item.body, *item.extra, *([item.summary] if item.summary else []))}


def learnable_occurrences(
    items: list[Item],
    rows: list[dict[str, Any]],
    recurring_by_feed: dict[str, set[str]],
    need: int,
) -> set[tuple[str, str]]:
    """``(guid, paragraph key)`` of the recurring paragraphs that the feed's stored history
    could show when the item arrived: at least ``boilerplate_min_articles`` stored items of
    the feed (canonical articles and link records: the history holds both), published a poll
    interval or more before it, carry the paragraph."""
    step = timedelta(hours=24 / POLLS_PER_DAY)
    stored = {row["guid"] for row in rows}
    found: set[tuple[str, str]] = set()
    by_feed: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        if item.guid in stored and item.published.year >= 1990:  # not the bad-dates items
            by_feed[item.feed].append(item)
    for feed, group in by_feed.items():
        group.sort(key=lambda i: i.published)
        recurring = recurring_by_feed.get(feed, set())
        seen: Counter[str] = Counter()
        earlier = 0
        for item in group:
            while earlier < len(group) and group[earlier].published <= item.published - step:
                seen.update(text_keys(group[earlier]) & recurring)
                earlier += 1
            for k in text_keys(item) & recurring:
                if seen[k] >= need:
                    found.add((item.guid, k))
    return found


def recurring_paragraphs(items: list[Item], min_items: int = 3) -> dict[str, set[str]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    quotes = {key(item.quote) for item in items if item.quote}
    for item in items:
        counts[item.feed].update(text_keys(item) - quotes - {""})
    return {feed: {k for k, n in c.items() if n >= min_items} for feed, c in counts.items()}


def story_recurring(stories: list[Story], min_items: int = 3) -> set[str]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for s in stories:
        counts[s.source].update({key(p) for p in s.body} - {""})
    return {k for c in counts.values() for k, n in c.items() if n >= min_items}


@dataclass
class OrderResult:
    """Syndication figures of one order of arrival."""

    name: str
    fetch_runs: int
    seconds: float
    synd: Tally
    export_failures: list[str]
    pairs_differing: int | None = None  # same-story pairs not in the chronological run's

    @property
    def precision(self) -> float:
        den = self.synd["links_right"] + self.synd["links_wrong"]
        return self.synd["links_right"] / den if den else 1.0

    @property
    def recall(self) -> float:
        den = self.synd["expected"]
        return self.synd["caught"] / den if den else 1.0


def report(
    t: dict[str, Tally],
    *,
    n_items: int,
    n_stories: int,
    elapsed: tuple[float, tuple[int, float] | None],
    fetches: tuple[int, int],
    days: int,
    seed: tuple[bool | None, str],
    orders: list[OrderResult],
) -> str:
    leads, paras, synd, boiler, residue = (
        t["leads"], t["paras"], t["synd"], t["boiler"], t["residue"],
    )  # fmt: skip
    precision_den = synd["links_right"] + synd["links_wrong"]
    seed_ok = {True: "exact", False: "NOT exact", None: "not run"}[seed[0]]
    lines = [
        "| measure | value | target |",
        "|---|---|---|",
        f"| items fetched (corpus articles, days, feed fetches) | {n_items} ({n_stories}, {days}, {fetches[0]}) | |",
        f"| **reworded leads**: recall (summary's 5-grams >= 60% in its closest body paragraph; summary or paragraph removed) | {ratio(leads['repeat_removed'], leads['repeat'])} ({leads['repeat_removed']}/{leads['repeat']}, {leads['verbatim']} verbatim) | >= 0.95 |",
        f"| reworded leads, the non-verbatim ones alone | {ratio(leads['reworded_removed'], leads['reworded'])} ({leads['reworded_removed']}/{leads['reworded']}) | |",
        f"| reworded leads: grey zone (16% to 60%), removed (not scored) | {leads['grey_removed']}/{leads['grey']} | |",
        f"| reworded leads: distinct summaries (<= 16%) removed | {leads['distinct_dropped']}/{leads['distinct']} | 0 |",
        f"| **false drops**: distinct body paragraphs (<= 16% of their 5-grams in any other paragraph) removed | {ratio(paras['false_drops'], paras['distinct'])} ({paras['false_drops']}/{paras['distinct']}) | <= 0.0020 |",
        f"| body paragraphs in the grey zone removed (not scored) | {paras['grey_drops']}/{paras['grey']} | |",
        f"| repeats inside the body (>= 60%) removed (not scored) | {paras['repeat_drops']}/{paras['repeat']} | |",
        f"| **seed article** (12 kept, the 5 expected removals) | {seed_ok}: {seed[1]} | exact |",
        f"| **residue** left (ad markers, source lines, read-also) | {residue['left']} in {residue['articles']} canonical articles | 0 |",
        f"| **syndication** precision of `duplicate_of` links | {ratio(synd['links_right'], precision_den)} ({synd['links_right']}/{precision_den}; {synd['links_ambiguous']} ambiguous not scored) | >= 0.99 |",
        f"| syndication recall | {ratio(synd['caught'], synd['expected'])} ({synd['caught']}/{synd['expected']}; {synd['unscored_related']} linked into a related story, not scored) | >= 0.97 |",
    ]
    groups = sorted({k[len("expected_") :] for k in synd.counts if k.startswith("expected_")})
    for g in groups:
        lines.append(
            f"| recall, {g.replace('_', ' ')} | {ratio(synd['caught_' + g], synd['expected_' + g])} ({synd['caught_' + g]}/{synd['expected_' + g]}) | |"
        )
    lines += [
        f"| wrong links between quotation pairs | {synd['links_wrong_quotation']} | 0 |",
        f"| **boilerplate**: recurring paragraphs removed, once the feed's history shows them | {ratio(boiler['learnable_removed'], boiler['learnable'])} ({boiler['learnable_removed']}/{boiler['learnable']}) | |",
        f"| boilerplate: all occurrences of paragraphs in >= 3 items of a feed, removed | {ratio(boiler['recurring_removed'], boiler['recurring'])} ({boiler['recurring_removed']}/{boiler['recurring']}; the first ones cannot be known) | |",
        f"| shared quotations wrongly removed | {boiler['quotations_removed']}/{boiler['quotations']} | 0 |",
        f"| **throughput**, the {fetches[1]} polling runs of `ingest fetch` (start-up included) | {n_items / elapsed[0]:.0f} articles/s ({elapsed[0]:.1f} s) | |",
    ]
    if elapsed[1] is not None:
        lines.append(
            f"| throughput of one bulk `ingest fetch` (every feed's first week, fresh store) | {elapsed[1][1]:.0f} articles/s ({elapsed[1][0]} items) | |"
        )
    for o in orders:
        s = o.synd
        den = s["links_right"] + s["links_wrong"]
        note = f"; export failed: {', '.join(o.export_failures)}" if o.export_failures else ""
        if s["links_unexported"]:
            note += f"; {s['links_unexported']} links into unexported rows counted wrong"
        if o.pairs_differing is not None:
            note += f"; {o.pairs_differing} same-story pairs differ from `{ORDERS[0]}`"
        lines.append(
            f"| order `{o.name}` ({o.fetch_runs} runs of `ingest fetch`, {o.seconds:.0f} s): syndication precision / recall"
            f" | {o.precision:.4f} ({s['links_right']}/{den}) / {o.recall:.4f} ({s['caught']}/{s['expected']});"
            f" quotation links {s['links_wrong_quotation']}{note} | >= 0.99 / >= 0.97 |"
        )
    if len(orders) > 1:
        worst_p = min(orders, key=lambda o: o.precision)
        worst_r = min(orders, key=lambda o: o.recall)
        lines.append(
            f"| **worst order**: syndication precision / recall | {worst_p.precision:.4f} (`{worst_p.name}`)"
            f" / {worst_r.recall:.4f} (`{worst_r.name}`) | >= 0.99 / >= 0.97 |"
        )
    return "\n".join(lines)


def dedup_settings(overrides: Sequence[str]) -> DedupSettings:
    """``DedupSettings`` with ``KEY=VALUE`` overrides (each value typed like the default)."""
    defaults = DedupSettings()
    values: dict[str, Any] = {}
    for item in overrides:
        name, _, value = item.partition("=")
        if not hasattr(defaults, name):
            sys.exit(f"--dedup: no setting {name!r}")
        values[name] = type(getattr(defaults, name))(value)
    return replace(defaults, **values)


def bad_date_items(
    outside: list[Story], items: list[Item], start: datetime, seed: int
) -> tuple[list[Item], list[Story]]:
    """The ``bad-dates`` feed: corpus stories from more than 60 days away from the benchmark
    days (none of them the source of a shared quotation), dated 0001-01-01, 1970-01-01,
    2099-01-01 or not dated, ``BAD_DATE_ITEMS`` of each."""
    rng = random.Random(seed + 1)
    quotes = {item.quote for item in items if item.quote}
    pool = [
        s
        for s in outside
        if abs(s.date - start) > timedelta(days=60) and len(s.body) >= 3
        and not quotes.intersection(s.body)
    ]  # fmt: skip
    chosen = rng.sample(pool, len(BAD_DATES) * BAD_DATE_ITEMS)
    bad = []
    for n, s in enumerate(chosen):
        date = BAD_DATES[n % len(BAD_DATES)]
        bad.append(
            Item(
                guid=f"bad-{s.id}", feed="bad-dates", kind="bad-date", story=s.id, title=s.title,
                link=s.url, published=date or s.date, description=s.summary or s.body[0],
                blocks=list(s.body), body=list(s.body), undated=date is None,
            )
        )  # fmt: skip
    return bad, chosen


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--start", default="2018-04-01", help="first day (ISO date)")
    parser.add_argument("--days", type=int, help="how many days of news (28; --quick: 10)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", metavar="DIR", help="keep the feeds and the stores here")
    parser.add_argument(
        "--orders", action="store_true", help="also run the other orders of arrival"
    )
    parser.add_argument("--quick", action="store_true", help="10 days, no bulk throughput run")
    parser.add_argument(
        "--dedup",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override a [dedup] setting, e.g. --dedup boilerplate_min_articles=2",
    )
    args = parser.parse_args()
    if not CORPUS.exists():
        sys.exit(f"corpus not found: {CORPUS}")
    days = args.days or (10 if args.quick else 28)
    started = time.perf_counter()
    start = datetime.fromisoformat(args.start).replace(tzinfo=UTC)
    stories, outside = load_stories(start, days)
    items = build_items(stories, outside, args.seed)
    bad, bad_stories = bad_date_items(outside, items, start, args.seed)
    settings = dedup_settings(args.dedup)
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="dedup-quality-"))
    names = ORDERS if args.orders else ORDERS[:1]
    runs: dict[str, Run] = {}
    try:
        config = write_config(workdir, settings)
        seed = seed_check(workdir / "seed", config)
        for name in names:
            runs[name] = run_plan(order_plan(name, items, bad, args.seed), workdir / name, config)
        bulk = None if args.quick else bulk_throughput(items, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    truth = Truth(
        stories + bad_stories, story_recurring(stories), timedelta(days=settings.window_days)
    )
    by_story: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        if item.quote:
            by_story[item.quote].append(item)
    for carriers in by_story.values():
        for a, b in itertools.combinations(sorted({i.story for i in carriers}), 2):
            truth.quotation_pairs.add((a, b))
            truth.labels[(a, b)] = "distinct"
    recurring = recurring_paragraphs(items)
    tallies = {
        name: score(items + bad if name == "bad-dates-first" else items, run.rows, truth,
                    recurring, settings)
        for name, run in runs.items()
    }  # fmt: skip
    main_run = runs[ORDERS[0]]
    reference = same_story_pairs(main_run.rows)
    orders = [
        OrderResult(
            name, run.runs, run.seconds, tallies[name]["synd"], run.export_failures,
            None if name == ORDERS[0] else len(same_story_pairs(run.rows) ^ reference),
        )
        for name, run in runs.items()
    ]  # fmt: skip
    print(
        f"dedup quality: {CORPUS.name}, {args.start} + {days} days, seed {args.seed}; "
        f"{len(main_run.rows)} stored rows"
    )
    print(
        report(
            tallies[ORDERS[0]],
            n_items=len(items),
            n_stories=len(stories),
            elapsed=(main_run.seconds, bulk),
            fetches=(main_run.fetches, main_run.runs),
            days=days,
            seed=seed,
            orders=orders,
        )
    )
    print(
        "\nsettings: "
        + ", ".join(f"{f.name}={getattr(settings, f.name)}" for f in fields(settings))
    )
    print(f"total run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
