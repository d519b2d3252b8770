"""Tests for ingest.urls: which links are safe, and one spelling per article address."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.urls import MAX_URL_CHARS, TRACKING_PARAMS, TRACKING_PREFIXES, canonical_url, safe_link

SHARED = Path(__file__).parents[2] / "shared"

# An Al Jazeera link as its RSS feed gives it: a lower-case percent-encoded Arabic slug and a
# ?traffic_source=rss tag (the slug here is "دليلك-لفك").
AJ_SLUG_LOWER = "%d8%af%d9%84%d9%8a%d9%84%d9%83-%d9%84%d9%81%d9%83"
AJ_SLUG_UPPER = AJ_SLUG_LOWER.upper()
AJ_LINK = f"https://www.aljazeera.net/women/2026/2/15/{AJ_SLUG_LOWER}?traffic_source=rss"
AJ_CANONICAL = f"https://www.aljazeera.net/women/2026/2/15/{AJ_SLUG_UPPER}"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/a", "https://example.com/a"),
        ("http://example.com", "http://example.com"),
        ("HTTPS://Example.COM/A?b=1#c", "HTTPS://Example.COM/A?b=1#c"),
        ("  https://example.com/a \n", "https://example.com/a"),
        ("https://exa\tmple.com/a\n", "https://example.com/a"),  # browsers drop tabs/newlines
        (AJ_LINK, AJ_LINK),
        ("https://مثال.com/خبر", "https://مثال.com/خبر"),
        ("http://[2001:db8::1]:8080/x", "http://[2001:db8::1]:8080/x"),
    ],
)
def test_safe_link_keeps_absolute_http_links(url: str, expected: str) -> None:
    assert safe_link(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "   ",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "\x01javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "mailto:desk@example.com",
        "ftp://example.com/file",
        "file:///etc/passwd",
        "/relative/path",
        "relative.html",
        "?q=1",
        "#top",
        "//example.com/protocol-relative",
        "http://",
        "http:///path-only",
        "http:example.com",
        "http:\\\\example.com\\x",
        "https://user:secret@example.com/",
        "https://example.com@evil.example/",
        "http://example.com:99999/",
        "http://example.com:port/",
        "http://exa mple.com/",
        "https://example.com/" + "a" * MAX_URL_CHARS,
    ],
)
def test_safe_link_refuses_everything_else(url: str | None) -> None:
    assert safe_link(url) is None
    assert canonical_url(url) is None


def test_canonical_url_of_an_al_jazeera_feed_link() -> None:
    assert canonical_url(AJ_LINK) == AJ_CANONICAL
    # The same article spelt with upper-case escapes, raw Arabic, or no tag at all.
    assert canonical_url(AJ_CANONICAL) == AJ_CANONICAL
    assert canonical_url("https://www.aljazeera.net/women/2026/2/15/دليلك-لفك") == AJ_CANONICAL
    assert (
        canonical_url(AJ_LINK.replace("traffic_source=rss", "traffic_source=twitter"))
        == AJ_CANONICAL
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://WWW.Example.COM/Path", "https://www.example.com/Path"),  # path case kept
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com:80/a", "https://example.com:80/a"),
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/", "https://example.com/"),
        ("https://example.com/news/1/", "https://example.com/news/1"),
        ("https://example.com/news/1//", "https://example.com/news/1"),
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com/%7Euser/%41%2d%5f", "https://example.com/~user/A-_"),
        ("https://example.com/a%2Fb", "https://example.com/a%2Fb"),  # reserved escape kept
        ("https://example.com/a%2fb", "https://example.com/a%2Fb"),
        ("https://example.com/100%", "https://example.com/100%25"),
        ("https://example.com/a b", "https://example.com/a%20b"),
        ("https://example.com./a", "https://example.com/a"),
        ("https://مثال.com/x", "https://xn--mgbh0fb.com/x"),
        ("https://example.com/a?", "https://example.com/a"),
        ("https://example.com/a?z=1&a=2&m=3", "https://example.com/a?a=2&m=3&z=1"),
        ("https://example.com/a?b=2&a=1&b=1", "https://example.com/a?a=1&b=2&b=1"),
        ("https://example.com/a?q=%d8%a8+x", "https://example.com/a?q=%D8%A8+x"),
        ("https://example.com/a?q=ب", "https://example.com/a?q=%D8%A8"),
        ("https://example.com/a?flag&x=", "https://example.com/a?flag&x="),
        ("https://example.com/a?x=a=b", "https://example.com/a?x=a=b"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    "query",
    [
        "utm_source=rss",
        "utm_medium=social&utm_campaign=x&utm_content=y&utm_term=z&utm_id=1",
        "UTM_Source=rss",
        "%75tm_source=rss",  # an escaped "u" is still utm_
        "traffic_source=rss",
        "fbclid=IwAR0abc",
        "gclid=Cj0KCQ",
        "mc_cid=1a2b&mc_eid=3c4d",
        "ref=homepage",
        "ocid=socialflow_twitter",
        "msclkid=1&yclid=2&igshid=3&_ga=4&_gl=5&mkt_tok=6",
        "hsa_acc=1&pk_campaign=2&mtm_source=3",
    ],
)
def test_canonical_url_drops_tracking_parameters(query: str) -> None:
    assert (
        canonical_url(f"https://example.com/news/1?id=7&{query}")
        == "https://example.com/news/1?id=7"
    )
    assert canonical_url(f"https://example.com/news/1?{query}") == "https://example.com/news/1"


def test_tracking_list_is_documented_and_has_the_required_names() -> None:
    required = {"traffic_source", "fbclid", "gclid", "mc_cid", "mc_eid", "ref", "ocid"}
    assert required <= TRACKING_PARAMS
    assert "utm_" in TRACKING_PREFIXES
    assert all(name == name.lower() for name in TRACKING_PARAMS)


@pytest.mark.parametrize(
    "query", ["id=7", "p=1234", "page=2", "article=55", "v=dQw4w9WgXcQ", "id=2&story_fbid=1"]
)
def test_canonical_url_keeps_identifying_parameters(query: str) -> None:
    canonical = canonical_url(f"https://example.com/a?{query}")
    assert canonical is not None and canonical.endswith(f"?{query}")


_SEGMENT = st.lists(
    st.sampled_from([*"abcXYZ019-._~%!$&'()*+,;=:@ ", "ب", "%d8", "%A8", "%7e", "%2F", ".."]),
    max_size=6,
).map("".join)


def _url(
    scheme: str, host: str, path: list[str], query: list[tuple[str, str]], fragment: str
) -> str:
    url = f"{scheme}://{host}/" + "/".join(path)
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query)
    return url + fragment


_URLS = st.builds(
    _url,
    scheme=st.sampled_from(["http", "https", "HTTP", "HtTpS"]),
    host=st.sampled_from(
        [
            "example.com",
            "EXAMPLE.com:80",
            "www.aljazeera.net.",
            "127.0.0.1:8080",
            "[::1]:443",
            "مثال.com",
        ]
    ),
    path=st.lists(_SEGMENT, max_size=4),
    query=st.lists(
        st.tuples(st.sampled_from(["a", "B", "utm_x", "ref", "q", "%71"]), _SEGMENT), max_size=4
    ),
    fragment=st.sampled_from(["", "#", "#x"]),
)


@settings(max_examples=300, deadline=None)
@given(url=_URLS)
def test_canonical_url_is_idempotent_and_safe(url: str) -> None:
    canonical = canonical_url(url)

    assert canonical is not None
    assert canonical_url(canonical) == canonical
    assert safe_link(canonical) == canonical
    parts = urlsplit(canonical)
    assert parts.scheme in {"http", "https"} and not parts.fragment
    assert canonical.isascii() and " " not in canonical


def test_real_feed_links_lose_their_tracking_tag() -> None:
    paths = sorted((SHARED / "feeds").glob("*.xml"))
    if not paths:
        pytest.skip("../shared/feeds is absent")
    links = [
        item.findtext("link") or ""
        for path in paths
        for item in ET.parse(path).getroot().iter("item")
    ]
    assert links
    for link in links:
        assert safe_link(link) == link
        canonical = canonical_url(link)
        assert canonical is not None
        assert "traffic_source" not in canonical and "%d8" not in canonical
        assert canonical_url(canonical) == canonical
