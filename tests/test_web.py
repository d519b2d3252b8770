"""The web console (issue 13, item 4) over real HTTP, on SQLite and PostgreSQL.

The store holds the seed story (tests/fixtures/feeds/seed-a.xml, a scraper's copy with
``[ad_1]``; seed-b.xml, an agency's), fetched by ``ingest fetch`` under two Arabic feed names.
Pages must be right-to-left Arabic, load nothing from another host, carry the
Content-Security-Policy, and show everything a feed sent as text.
"""

from __future__ import annotations

import html as html_module
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from webclient import Served

from ingest import cli, config
from ingest.models import Reason, Rule
from ingest.settings import Settings
from ingest.store import open_store
from ingest.store.base import Store
from ingest.web import REASONS_AR, RULES_AR

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
SEED_A, SEED_B = FEEDS / "seed-a.xml", FEEDS / "seed-b.xml"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SCRAPER, AGENCY = "الموقع الناقل", "وكالة الأنباء"
PAGES = ["/", "/search?q=الجزائر", "/feeds"]

HOSTILE_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>&lt;script&gt;alert("channel")&lt;/script&gt;</title>
<link>https://hostile.example/</link>
<item><title>&amp;lt;script&amp;gt;alert("title")&amp;lt;/script&amp;gt; اجتماع في الجزائر</title>
<link>https://hostile.example/a?x="&gt;&lt;script&gt;alert(4)&lt;/script&gt;</link>
<guid>hostile-1</guid><pubDate>Sat, 07 Dec 2024 09:15:00 +0000</pubDate>
<description><![CDATA[<p>&lt;script&gt;alert("body")&lt;/script&gt; عقد وزراء خارجية الجزائر والمغرب
وتونس اجتماعا إقليميا لبحث التعاون الاقتصادي.</p><p><img src=x onerror="alert(2)">وقال الوزراء
إن <b onclick="alert(3)">الاجتماع</b> المقبل سيعقد في تونس.</p>]]></description>
</item></channel></rss>
"""
HOSTILE_NAME = '<script>alert("name")</script>'


def write_config(path: Path, db: str, feeds: dict[str, str]) -> Settings:
    text = f"[store]\ndb = {json.dumps(db)}\n" + "".join(
        f"[[feeds]]\nname = {json.dumps(name)}\nurl = {json.dumps(url)}\n"
        for name, url in feeds.items()
    )
    path.write_text(text, encoding="utf-8")
    return config.load(path)


def fetch(config_path: Path, *names: str) -> None:
    out = io.StringIO()
    code = cli.main(["--config", str(config_path), "-q", "fetch", *names], environ={}, out=out)
    assert code in (0, 1), out.getvalue()  # 1: a feed meant to fail did


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ingest.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def seeded(db: str, tmp_path: Path) -> Iterator[tuple[Store, Settings]]:
    """The seed story from two named feeds, and a feed that fails (a file that is no feed)."""
    broken = tmp_path / "broken.xml"
    broken.write_text("this is not a feed", encoding="utf-8")
    feeds = {SCRAPER: str(SEED_A), AGENCY: str(SEED_B), "معطل": str(broken)}
    settings = write_config(tmp_path / "ingest.toml", db, feeds)
    fetch(tmp_path / "ingest.toml", AGENCY, "معطل")
    fetch(tmp_path / "ingest.toml", SCRAPER)  # second: the copy of the agency's story
    store = open_store(db, create=False)
    try:
        yield store, settings
    finally:
        store.close()


@pytest.fixture
def web(seeded: tuple[Store, Settings]) -> Iterator[Served]:
    with Served(*seeded) as served:
        yield served


def scraper_copy(web: Served) -> int:
    """The id of the scraper's copy (the one with ``[ad_1]``), found through the API."""
    articles = web.json("/api/articles?limit=10")["articles"]
    return next(a["id"] for a in articles if a["feed"] == SCRAPER)


def visible_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_pages_are_arabic_right_to_left_for_phones_with_nothing_from_other_hosts(
    web: Served,
) -> None:
    for path in [*PAGES, f"/articles/{scraper_copy(web)}"]:
        status, headers, body = web.get(path)
        html = body.decode("utf-8")
        assert status == 200, path
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert headers["content-security-policy"].startswith("default-src 'self'")
        assert '<html lang="ar" dir="rtl">' in html
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
        # No script, no inline style, nothing from another host: the CSP would block them.
        assert "<script" not in html and "style=" not in html and "<style" not in html
        # One stylesheet, ours; nothing else is loaded (links to the outlets are only links).
        assert re.findall(r"<link [^>]*>", html) == [
            f'<link rel="stylesheet" href="/static/console.css?v={web.app.env.globals["css_version"]}">'
        ]
        assert " src=" not in html and "@import" not in html


def test_home_shows_the_seed_story_with_both_outlets(web: Served) -> None:
    html = web.text("/")
    story = web.json("/api/stories")["stories"][0]
    assert story["title"] in html
    text = visible_text(html)
    assert "2 مقالات من 2 مصادر" in text
    assert SCRAPER in text and AGENCY in text
    assert f'href="/articles/{story["id"]}"' in html
    assert f'href="/articles/{story["copies"][0]["id"]}"' in html


def test_search_marks_the_matches_for_every_spelling(web: Served) -> None:
    for spelling in ("الجزائر", "الجَزائرُ", "بالجزائر", "والجزائر", "الامريكيه"):
        html = web.text(f"/search?q={spelling}")
        assert html.count('<li class="card hit">') == 1, spelling
        marks = re.findall(r"<mark>([^<]+)</mark>", html)
        assert marks, spelling
        assert f'value="{spelling}"' in html  # the box keeps the query
    assert "<mark>" not in web.text("/search?q=زرافة")
    assert "لا نتائج" in web.text("/search?q=زرافة")
    assert "لا كلمة يبحث عنها" in web.text("/search?q=في")
    narrowed = web.text(f"/search?q=الجزائر&feed={AGENCY}&since=2024-12-01")
    assert narrowed.count('<li class="card hit">') == 1
    assert web.text("/search?q=الجزائر&since=2025-01-01").count('class="card hit"') == 0


def test_the_article_page_shows_kept_paragraphs_and_each_removal_with_its_reason(
    web: Served,
) -> None:
    article_id = scraper_copy(web)
    data = web.json(f"/api/articles/{article_id}")
    html = web.text(f"/articles/{article_id}")
    text = visible_text(html)
    for paragraph in data["article"]["paragraphs"]:
        assert f"<p>{paragraph}</p>" in html
    removed = data["article"]["removed"]
    assert removed[0] == {
        "reason": "ad_marker",
        "text": "[ad_1]",
        "paragraph": 1,
        "repeats": None,
        "distance": None,
        "overlap": None,
    }
    assert html.count("<blockquote>") == len(removed)
    for piece in removed:
        assert f'<span class="reason" dir="ltr">{piece["reason"]}</span>' in html
        assert f"<blockquote>{piece['text']}</blockquote>" in html
    assert "ad_marker الفقرة 1: رمز إعلان تركه ووردبريس" in text
    near = next(p for p in removed if p["reason"] == "near_duplicate")
    assert f"يكرر فقرة أخرى بصياغة قريبة (الفقرة {near['repeats']}، المسافة" in text
    # What `ingest explain` says, line for line, and the story with both outlets.
    assert "[ad_marker] paragraph 1: an ad shortcode left by WordPress" in html
    pre = re.search(r'<pre dir="ltr">(.*?)</pre>', html, re.S)
    assert pre is not None
    assert html_module.unescape(pre.group(1)).splitlines() == data["explanation"]
    canonical = data["article"]["duplicate_of"]
    assert canonical == data["story"]["id"] and f'href="/articles/{canonical}"' in html
    assert "نسخة من قصة" in text and "القصة: 2 مقالات من 2 مصادر" in text
    assert SCRAPER in text and AGENCY in text


def test_feeds_page_shows_health_last_fetch_error_and_next_run(web: Served) -> None:
    feeds = {f["name"]: f for f in web.json("/api/feeds")["feeds"]}
    assert feeds["معطل"]["failing"] and feeds["معطل"]["error_code"]
    assert not feeds[SCRAPER]["failing"] and feeds[SCRAPER]["next_run"]
    html = web.text("/feeds")
    text = visible_text(html)
    assert "3 مصادر، 1 منها يفشل الآن." in text
    assert html.count('<article class="card feed failing">') == 1
    assert f"{feeds['معطل']['error_code']}:" in text
    for name in (SCRAPER, AGENCY, "معطل"):
        assert f"<bdi>{name}</bdi>" in html
    assert text.count("آخر جلب") == 3 and text.count("الجلب التالي") == 3
    last = feeds[SCRAPER]["last_fetch"]
    assert f"{last[:10]} {last[11:16]} UTC" in text


def test_what_a_feed_sent_is_shown_as_text_and_stays_plain_json(db: str, tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.xml"
    hostile.write_text(HOSTILE_FEED, encoding="utf-8")
    settings = write_config(tmp_path / "ingest.toml", db, {HOSTILE_NAME: str(hostile)})
    fetch(tmp_path / "ingest.toml")
    store = open_store(db, create=False)
    try:
        with Served(store, settings) as web:
            (article,) = web.json("/api/articles")["articles"]
            # The API is plain JSON: the text as the feed sent it, not escaped for HTML.
            assert article["feed"] == HOSTILE_NAME
            assert article["title"].startswith('<script>alert("title")</script>')
            assert article["paragraphs"][0].startswith('<script>alert("body")</script>')
            hit = web.json("/api/search?q=الجزائر")["hits"][0]
            assert hit["title"] == article["title"]
            pages = [
                web.text(path)
                for path in ("/", "/search?q=الجزائر", f"/articles/{article['id']}", "/feeds")
            ]
    finally:
        store.close()
    for html in pages:
        assert "<script" not in html and "&lt;script&gt;" in html
    assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in pages[3]
    assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;" in pages[0]
    assert "&lt;script&gt;alert(&#34;body&#34;)&lt;/script&gt;" in pages[2]
    # The cleaner dropped the markup; no attribute of the feed's reaches the page.
    assert all("onerror=" not in html and "onclick=" not in html for html in pages)
    link = re.search(r'<a class="source" href="([^"]*)"', pages[2])
    assert link is not None and link.group(1).startswith("https://hostile.example/")
    assert '"' not in link.group(1).replace("&#34;", "") and "<" not in link.group(1)


def test_feed_credentials_are_masked(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ingest.db'}"
    cli.main(["--db", db, "-q", "migrate"], environ={}, out=io.StringIO())
    settings = write_config(
        tmp_path / "ingest.toml", db, {"خاص": "https://reader:s3cret@news.example/rss"}
    )
    store = open_store(db, create=False)
    try:
        with Served(store, settings) as web:
            feeds = web.json("/api/feeds")["feeds"]
            html = web.text("/feeds")
    finally:
        store.close()
    assert feeds[0]["url"] == "https://***@news.example/rss"
    assert "s3cret" not in html and "https://***@news.example/rss" in html


def test_static_files_are_cached_and_revalidated(web: Served) -> None:
    status, headers, css = web.get("/static/console.css")
    assert status == 200 and headers["content-type"] == "text/css; charset=utf-8"
    assert b"@import" not in css and b"url(" not in css  # nothing from anywhere else
    etag = headers["etag"]
    assert f"/static/console.css?v={etag.strip(chr(34))}" in web.text("/")
    status, headers, body = web.get("/static/console.css", {"If-None-Match": etag})
    assert status == 304 and body == b""
    assert web.get("/static/nothing.css")[0] == 404
    assert web.get("/static/../web.py")[0] == 404


def test_bad_parameters_and_unknown_ids_are_clear_pages(web: Served) -> None:
    page = web.text("/articles/999999", status=404)
    assert "no stored article has id 999999" in page
    assert "id: expected a whole number" in web.text("/articles/abc", status=400)
    assert "since: expected an ISO 8601 date" in web.text("/search?q=x&since=yesterday", 400)
    assert "feed: no stored feed is named" in web.text("/search?q=x&feed=nowhere", status=400)
    assert "offset: expected a whole number" in web.text("/?offset=-1", status=400)
    missing = web.get("/no/such/page")
    assert missing[0] == 404 and missing[1]["content-security-policy"].startswith("default")
    assert '<html lang="ar" dir="rtl">' in missing[2].decode()


def test_head_and_other_methods(web: Served) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    conn.request("HEAD", "/")
    response = conn.getresponse()
    assert response.status == 200 and response.read() == b""
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    conn.request("POST", "/search", body=b"q=x")
    assert conn.getresponse().status == 405  # read-only
    conn.close()


def test_the_web_address_is_parsed_documented_and_loopback_by_default() -> None:
    from ingest.errors import ConfigError
    from ingest.settings import Address, WebSettings

    assert WebSettings().address == Address("127.0.0.1", 8426)
    assert config.settings_from_mapping({}).web.address == Address("127.0.0.1", 8426)
    assert config.settings_from_mapping({"web": {"address": ""}}).web.address is None
    assert config.settings_from_mapping({"web": {"address": "[::1]:9000"}}).web.address == Address(
        "::1", 9000
    )
    with pytest.raises(ConfigError) as caught:
        config.settings_from_mapping({"web": {"address": "nowhere", "port": 1}}, "c.toml")
    assert sorted(caught.value.problems) == [
        "c.toml: web.address: expected host:port, got 'nowhere'",
        "c.toml: web.port: unknown key (known keys: address)",
    ]
    # config/ingest.toml documents the key with the default the code uses.
    text = (Path(__file__).parents[1] / "config" / "ingest.toml").read_text(encoding="utf-8")
    section = re.search(r"^\[web\]\n(.*?)(?=^\[)", text, re.S | re.M)
    assert section is not None
    match = re.search(r"^# address = (\S+)$", section.group(1), re.M)
    assert match is not None
    assert json.loads(match.group(1)) == config.web_table(WebSettings())["address"]


def test_a_store_that_stops_answering_is_a_503_not_a_crash(
    seeded: tuple[Store, Settings], db: str
) -> None:
    store = open_store(db, create=False)
    with Served(store, seeded[1]) as web:
        assert web.get("/api/stories")[0] == 200
        store.close()  # the connection is gone: every read fails
        status, _, body = web.get("/api/stories")
        assert status == 503
        assert json.loads(body)["error"].startswith("the store is not answering (db_")
        assert "the store is not answering" in web.text("/", status=503)
        assert web.get("/api/feeds")[0] == 503 and web.get("/feeds")[0] == 503
        assert web.get("/static/console.css")[0] == 200  # what needs no store still works


def test_every_removal_reason_and_rule_has_its_arabic_words() -> None:
    # The article page says each removal's reason in Arabic; a reason missing here would show
    # as its English value (``covered`` did, until this test).
    assert set(REASONS_AR) == {str(r) for r in Reason}
    assert set(RULES_AR) == {str(r) for r in Rule}
