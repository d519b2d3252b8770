"""Stories do not depend on the order feeds arrive in, nor on the dates they claim (issue 10).

Six feeds are built from the development corpus (``../shared/corpus``, never copied here):
Al Arabiya and Sky News Arabia (which carry agency copy of each other), CNN Arabic and France 24
(same days, other stories: hard negatives), and two republishing feeds whose items are copies of
Al Arabiya and Sky News items with a new title, a dateline and the last paragraph cut, one to six
hours later. About 380 items over twenty days, more than the seven-day window.

They are fetched through the real ``ingest fetch`` in several orders and groupings, each into a
fresh store, with the fetch clock the day after the last item:

* all feeds in one process; one feed per process; the same, reversed; shuffled feeds with
  shuffled items;
* every feed's items split across two fetches, the older half first; and the newer half first
  (a backfill);
* items dated 0001, 1970, 2099 and undated items, fetched before everything else.

The set of same-story pairs (two items whose rows belong to one story) must be the same every
time; which copy is canonical may differ. Run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import gzip
import io
import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

import pytest

from ingest import cli

CORPUS = Path(__file__).parents[2] / "shared" / "corpus" / "ant-multisource.jsonl.gz"
FIRST_DAY, LAST_DAY = "2018-04-01", "2018-04-20"
FETCHED = datetime(2018, 4, 21, 12, tzinfo=UTC)
DATELINE = "القاهرة - (وكالات): "

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS.exists(), reason="../shared/corpus is absent"),
]


@dataclass(frozen=True)
class Item:
    guid: str
    title: str
    link: str
    published: datetime | None
    summary: str
    paragraphs: tuple[str, ...]


def _corpus(wanted: dict[tuple[str, str], int]) -> dict[tuple[str, str], list[dict[str, str]]]:
    """Corpus records of the benchmark days, every third one, up to ``wanted`` per (source,
    category), in corpus order."""
    found: dict[tuple[str, str], list[dict[str, str]]] = {key: [] for key in wanted}
    seen = dict.fromkeys(wanted, 0)
    with gzip.open(CORPUS, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            key = (record["source"], record["category"])
            day = (record.get("date") or "")[:10]
            if key not in wanted or not FIRST_DAY <= day <= LAST_DAY or not record.get("body"):
                continue
            seen[key] += 1
            if seen[key] % 3 == 0 and len(found[key]) < wanted[key]:
                found[key].append(record)
    return found


def _item(prefix: str, number: int, record: dict[str, str]) -> Item:
    paragraphs = tuple(p for p in record["body"].split("\n") if p.strip())
    return Item(
        guid=f"{prefix}-{number}",
        title=record["title"],
        link=record["url"],
        published=datetime.fromisoformat(record["date"]).astimezone(UTC),
        summary=record.get("summary") or "",
        paragraphs=paragraphs,
    )


def _copy(prefix: str, number: int, original: Item, rng: random.Random) -> Item:
    assert original.published is not None
    body = original.paragraphs if len(original.paragraphs) < 3 else original.paragraphs[:-1]
    return Item(
        guid=f"{prefix}-{number}",
        title="عاجل: " + original.title,
        link=f"https://{prefix}.example/news/{number}",
        published=original.published + timedelta(hours=rng.randint(1, 6)),
        summary="",
        paragraphs=(DATELINE + body[0], *body[1:]),
    )


def build_feeds() -> dict[str, list[Item]]:
    records = _corpus(
        {
            ("alarabiya.net", "economy"): 35,
            ("alarabiya.net", "internationalNews"): 35,
            ("skynewsarabia.com", "economy"): 35,
            ("skynewsarabia.com", "internationalNews"): 35,
            ("arabic.cnn.com", "middleEast"): 60,
            ("france24.com/ar", "internationalNews"): 60,
        }
    )
    feeds: dict[str, list[Item]] = {}
    for name, source in (
        ("alarabiya", "alarabiya.net"),
        ("skynews", "skynewsarabia.com"),
        ("cnn", "arabic.cnn.com"),
        ("france24", "france24.com/ar"),
    ):
        chosen = [r for (s, _), rs in records.items() if s == source for r in rs]
        feeds[name] = [_item(name, n, r) for n, r in enumerate(chosen)]
    rng = random.Random(10)
    originals = feeds["alarabiya"] + feeds["skynews"]
    picked = rng.sample(originals, 100)
    feeds["wire-1"] = [_copy("wire-1", n, item, rng) for n, item in enumerate(picked[:50])]
    feeds["wire-2"] = [_copy("wire-2", n, item, rng) for n, item in enumerate(picked[50:])]
    return feeds


def junk_feed() -> list[Item]:
    """Unrelated items with dates that must change nothing: 0001, 1970, 2099 and none."""
    paragraphs = (
        "أعلنت بلدية المدينة عن افتتاح حديقة عامة جديدة تضم ملاعب للأطفال ومسارات للدراجات"
        " الهوائية ومساحات خضراء واسعة.",
        "وقال رئيس البلدية إن المشروع استغرق عامين وبلغت كلفته ثلاثة ملايين دينار.",
    )
    dates = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2099, 1, 1, tzinfo=UTC),
        None,
    ]
    places = ("في حي الزيتون", "قرب الميناء القديم", "على ضفاف النهر", "وسط السوق المركزي")
    return [
        Item(
            f"junk-{n}",
            f"خبر محلي {n}",
            f"https://junk.example/{n}",
            date,
            "",
            (paragraphs[0].replace("جديدة", f"جديدة {places[n]}"), paragraphs[1]),
        )
        for n, date in enumerate(dates)
    ]


def _date(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.year < 1900:  # format_datetime cannot write year 1: write what publishers do
        return f"<pubDate>Mon, 01 Jan {value.year:04d} 00:00:00 GMT</pubDate>"
    return f"<pubDate>{format_datetime(value, usegmt=True)}</pubDate>"


def rss(name: str, items: Sequence[Item]) -> bytes:
    entries = "".join(
        f"<item><title>{escape(i.title)}</title><link>{escape(i.link)}</link>"
        f"<guid isPermaLink='false'>{i.guid}</guid>{_date(i.published)}"
        f"<description>{escape(i.summary)}</description>"
        "<content:encoded><![CDATA["
        + "".join(f"<p>{escape(p)}</p>" for p in i.paragraphs)
        + "]]></content:encoded></item>"
        for i in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{name}</title><link>https://{name}.example/</link>{entries}</channel></rss>"
    ).encode()


class Fetcher:
    """Writes feed versions to files and fetches them with the real CLI into one store."""

    def __init__(self, db: str, root: Path) -> None:
        self.db, self.root = db, root
        self.calls = 0

    def fetch(self, feeds: dict[str, Sequence[Item]]) -> None:
        """One ``ingest fetch`` (one process's worth) of these feed versions."""
        self.calls += 1
        paths = []
        for name, items in feeds.items():
            path = self.root / f"{name}.xml"
            path.write_bytes(rss(name, items))
            paths.append(str(path))
        out = io.StringIO()
        code = cli.main(
            ["--db", self.db, "-q", "fetch", *paths], environ={}, out=out, clock=lambda: FETCHED
        )
        assert code == 0, out.getvalue()

    def stories(self) -> frozenset[frozenset[str]]:
        out = io.StringIO()
        assert cli.main(["--db", self.db, "export", "--duplicates"], environ={}, out=out) == 0
        groups: dict[int, set[str]] = {}
        for row in map(json.loads, out.getvalue().splitlines()):
            root = row["duplicate_of"] or row["id"]
            groups.setdefault(root, set()).add(row["guid"])
        return frozenset(frozenset(g) for g in groups.values())


def pairs(stories: frozenset[frozenset[str]]) -> frozenset[tuple[str, str]]:
    return frozenset((a, b) for story in stories for a in story for b in story if a < b)


Order = Callable[[Fetcher, dict[str, list[Item]]], None]


def all_at_once(f: Fetcher, feeds: dict[str, list[Item]]) -> None:
    f.fetch(feeds)


def one_per_process(f: Fetcher, feeds: dict[str, list[Item]]) -> None:
    for name, items in feeds.items():
        f.fetch({name: items})


def reversed_feeds(f: Fetcher, feeds: dict[str, list[Item]]) -> None:
    for name in reversed(list(feeds)):
        f.fetch({name: feeds[name]})


def shuffled(f: Fetcher, feeds: dict[str, list[Item]]) -> None:
    rng = random.Random(4)
    names = list(feeds)
    rng.shuffle(names)
    for name in names:
        items = list(feeds[name])
        rng.shuffle(items)
        f.fetch({name: items})


def _by_date(items: list[Item]) -> list[Item]:
    return sorted(items, key=lambda i: i.published or FETCHED)


def split_older_first(f: Fetcher, feeds: dict[str, list[Item]]) -> None:
    for name, items in feeds.items():
        ordered = _by_date(items)
        f.fetch({name: ordered[: len(ordered) // 2]})
    f.fetch(feeds)


def backfill_newer_first(f: Fetcher, feeds: dict[str, list[Item]]) -> None:
    for name, items in feeds.items():
        ordered = _by_date(items)
        f.fetch({name: ordered[len(ordered) // 2 :]})
    for name in reversed(list(feeds)):
        f.fetch({name: feeds[name]})


def bad_dates_first(f: Fetcher, feeds: dict[str, list[Item]]) -> None:
    f.fetch({"junk": junk_feed()})
    f.fetch(feeds)


ORDERS: dict[str, Order] = {
    "all at once": all_at_once,
    "one feed per process": one_per_process,
    "reversed": reversed_feeds,
    "shuffled": shuffled,
    "split, older half first": split_older_first,
    "backfill, newer half first": backfill_newer_first,
    "bad dates first": bad_dates_first,
}

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module")
def feeds() -> dict[str, list[Item]]:
    return build_feeds()


def _databases(backend: str, request: pytest.FixtureRequest, tmp: Path) -> Iterator[str]:
    for n in range(len(ORDERS)):
        if backend == "sqlite":
            yield f"sqlite:///{tmp / f'order-{n}.db'}"
        else:
            yield str(request.getfixturevalue("pg_database")) + f"?options=-csearch_path%3Dorder{n}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_same_stories_in_every_order(
    backend: str,
    feeds: dict[str, list[Item]],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    total = sum(len(items) for items in feeds.values())
    assert total >= 350 and len(feeds) >= 6
    if backend == "postgres":
        import psycopg

        base = str(request.getfixturevalue("pg_database"))
        with psycopg.connect(base, autocommit=True) as conn:
            for n in range(len(ORDERS)):
                conn.execute(f"DROP SCHEMA IF EXISTS order{n} CASCADE")
                conn.execute(f"CREATE SCHEMA order{n}")
    results: dict[str, frozenset[tuple[str, str]]] = {}
    databases = _databases(backend, request, tmp_path)
    for name, order in ORDERS.items():
        folder = tmp_path / name.replace(" ", "-").replace(",", "")
        folder.mkdir()
        fetcher = Fetcher(next(databases), folder)
        order(fetcher, feeds)
        stories = fetcher.stories()
        guids = {guid for story in stories for guid in story}
        assert len(guids) == total + (4 if order is bad_dates_first else 0), name
        results[name] = frozenset(p for p in pairs(stories) if not p[0].startswith("junk"))
    reference = results["all at once"]
    # copies across feeds exist: the wire feeds' items are linked to their originals
    assert sum(1 for a, b in reference if b.startswith("wire")) >= 90
    for name, found in results.items():
        missing, extra = reference - found, found - reference
        assert not missing and not extra, (name, sorted(missing)[:5], sorted(extra)[:5])
