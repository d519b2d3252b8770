"""Configuration: the shipped example loads; every problem is reported at once with file and key."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from ingest import config
from ingest.cli import main
from ingest.errors import ConfigError

ROOT = Path(__file__).parents[1]


def test_shipped_example_loads_with_real_feeds() -> None:
    settings = config.load(ROOT / "config" / "ingest.toml")
    names = [f.name for f in settings.feeds]
    assert len(names) >= 12
    for outlet in (
        "Al Jazeera",
        "BBC Arabic",
        "Sky News Arabia",
        "Al Arabiya",
        "France 24 Arabic",
        "CNN Arabic",
        "RT Arabic",
        "Asharq Al-Awsat",
        "Independent Arabia",
        "Hespress",
        "Enab Baladi",
        "Arabi21",
    ):
        assert outlet in names
    assert all(f.url.startswith("https://") for f in settings.feeds)
    assert settings.db.startswith("sqlite:///") and settings.db.endswith("ingest.db")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        """
[http]
deadline = "soon"
colour = "blue"
allow_networks = ["127.0.0.0/8", "not-a-net"]
[dedup]
article_min_overlap = 1.5
[[feeds]]
name = "A"
url = "https://a.example/rss"
[[feeds]]
name = "A"
url = "ftp://b.example/rss"
[[feeds]]
url = "https://c.example/rss"
surprise = 1
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    problems = caught.value.problems
    text = "\n".join(problems)
    assert all(p.startswith(str(path)) for p in problems)
    assert "http.deadline: expected a number" in text
    assert "http.colour: unknown key" in text
    assert "http.allow_networks[1]: not an IP network" in text
    assert "dedup.article_min_overlap: must be between 0 and 1" in text
    assert "feeds[1].name: duplicate feed name 'A'" in text
    assert "feeds[1].url: invalid URL 'ftp://b.example/rss'" in text
    assert "feeds[2].name: missing" in text
    assert "feeds[2].surprise: unknown key" in text
    assert len(problems) == 8


def test_cli_exits_2_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[feeds]]\nname = 3\nurl = "https://x.example"\n', encoding="utf-8")
    assert main(["--config", str(path), "feeds"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: feeds[0].name: expected a string, got integer 3" in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        ("[http\n", "invalid TOML"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: str | bytes | None, expected: str) -> None:
    path = tmp_path / "x.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected):
        config.load(path)


def test_db_precedence(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[store]\ndb = "sqlite:///from-file.db"\n', encoding="utf-8")
    assert config.resolve(str(path), None, {}).db == "sqlite:///from-file.db"
    assert config.resolve(str(path), None, {"INGEST_DB": "env.db"}).db == "env.db"
    assert config.resolve(str(path), "flag.db", {"INGEST_DB": "env.db"}).db == "flag.db"
    env = {"INGEST_CONFIG": str(path)}
    assert config.resolve(None, None, env).db == "sqlite:///from-file.db"
    assert config.resolve(None, None, {}).db.endswith("/ingest/ingest.db")


def test_values_are_converted() -> None:
    settings = config.settings_from_mapping(
        {"http": {"deadline": 5, "allow_networks": ["127.0.0.0/8"]}, "dedup": {"window_days": 2}}
    )
    assert settings.http.deadline == 5.0
    assert settings.http.allow_networks == (ipaddress.ip_network("127.0.0.0/8"),)
    assert settings.dedup.window_days == 2.0


def test_example_config_documents_every_setting_with_its_default() -> None:
    """Every key of [http], [dedup], [daemon] and [limits] appears in config/ingest.toml, set or commented
    out, with the value the code uses by default: the example never drifts from the code."""
    import dataclasses
    import re
    import tomllib

    from ingest.settings import DaemonSettings, DedupSettings, HttpSettings, LimitSettings

    text = (ROOT / "config" / "ingest.toml").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^\[(\w+)\]\n(.*?)(?=^\[)", text, re.S | re.M))
    tables = {
        name: {f.name: getattr(cls(), f.name) for f in dataclasses.fields(cls)}
        for name, cls in (
            ("http", HttpSettings),
            ("dedup", DedupSettings),
            ("limits", LimitSettings),
        )
    }
    tables["daemon"] = config.daemon_table(DaemonSettings())
    for name, defaults in tables.items():
        body = sections[name]
        for key, default in defaults.items():
            match = re.search(rf"^#? ?{key} = (.+?)(?:\s+#.*)?$", body, re.M)
            assert match, f"[{name}] {key} is not in config/ingest.toml"
            if key in ("user_agent", "proxy", "allow_networks", "lease_seconds"):
                continue  # examples, not defaults
            value = tomllib.loads(f"v = {match.group(1)}")["v"]
            assert value == default, f"[{name}] {key}"


def test_limits_are_read_and_checked() -> None:
    settings = config.settings_from_mapping(
        {"limits": {"max_items": 1000, "max_field_chars": 2_000_000}}, "c.toml"
    )
    assert settings.limits.max_items == 1000
    assert settings.limits.max_field_chars == 2_000_000
    assert settings.limits.max_title_chars == 2_000  # the default
    with pytest.raises(ConfigError) as caught:
        config.settings_from_mapping(
            {"limits": {"max_items": 0, "max_author_chars": 70_000, "max_html_tags": "many"}},
            "c.toml",
        )
    assert sorted(caught.value.problems) == [
        "c.toml: limits.max_author_chars: must be at most 4096 (feedparser reads authors in "
        "quadratic time), got 70000",
        "c.toml: limits.max_html_tags: expected an integer, got string 'many'",
        "c.toml: limits.max_items: must be at least 1, got 0",
    ]


# -- issue 11, finding 13: values that end in an HTTP header --------------------------------


@pytest.mark.parametrize(
    ("agent", "says"),
    [
        ("x" * 10_000_000, "is 10000000 characters long; an HTTP header value must be at most"),
        ("ingest\r\nX-Injected: 1", "must be printable ASCII on one line"),
        ("ingest\x00", "must be printable ASCII on one line"),
        ("ingest\tbot", "must be printable ASCII on one line"),
        ("مجمّع الأخبار", "must be printable ASCII on one line"),  # httpx sends headers as ASCII
        ("   ", "must not be empty"),
    ],
    ids=["10-MB", "CR-LF", "NUL", "tab", "non-ASCII", "blank"],
)
def test_user_agent_is_bounded_as_a_header_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], agent: str, says: str
) -> None:
    path = tmp_path / "c.toml"
    # A JSON string is a TOML basic string (\r, \n, \t, \u0000 escapes alike).
    path.write_text(f"[http]\nuser_agent = {json.dumps(agent, ensure_ascii=False)}\n", "utf-8")
    assert main(["--config", str(path), "feeds"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: http.user_agent: {says}" in err
    assert len(err) < 1000  # the value itself is not echoed back


def test_a_long_plain_user_agent_is_fine() -> None:
    agent = "ingest/0.1 (+https://example.org/about; contact: ops@example.org) " * 10
    settings = config.settings_from_mapping({"http": {"user_agent": agent.strip()}})
    assert settings.http.user_agent == agent.strip()


@pytest.mark.parametrize(
    ("proxy", "says"),
    [
        ("http://u:" + "p" * 5000 + "@proxy.internal:3128", "credentials are 5002 characters"),
        ("http://proxy.internal:3128/" + "x" * 9000, "more than 8192"),
        ("http://u:p@proxy.internal:3128\r\nX: 1", "a control or a non-ASCII character"),
        ("socks5://u:p@proxy.internal:1080", "only http:// and https:// proxies"),
        ("http://:3128", "needs a host"),
        ("http://proxy.internal:port", "is not a URL"),
    ],
    ids=["long-credentials", "long-url", "CR-LF", "socks", "no-host", "bad-port"],
)
def test_proxy_url_is_checked_without_showing_its_credentials(proxy: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config.settings_from_mapping({"http": {"proxy": proxy}}, "c.toml")
    (problem,) = caught.value.problems
    assert problem.startswith("c.toml: http.proxy: ") and says in problem
    assert "u:p@" not in problem and "ppppp" not in problem


def test_feed_urls_are_bounded_and_their_credentials_not_echoed() -> None:
    feeds = [
        {"name": "long", "url": "https://a.example/" + "x" * 9000},
        {"name": "private", "url": "https://me:s3cret@[::1/rss"},
    ]
    with pytest.raises(ConfigError) as caught:
        config.settings_from_mapping({"feeds": feeds}, "c.toml")
    text = "\n".join(caught.value.problems)
    assert "feeds[0].url: invalid URL" in text and "more than 8192" in text
    assert "feeds[1].url: invalid URL 'https://***@" in text and "s3cret" not in text
    assert len(text) < 1000
