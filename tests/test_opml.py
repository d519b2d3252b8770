"""OPML import and export, through the CLI on a real configuration file."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest import config
from ingest.cli import main
from ingest.errors import ConfigError
from ingest.opml import read_opml, write_opml
from ingest.settings import FeedSettings

OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>subs</title></head><body>
  <outline text="Arabic news">
    <outline type="rss" text="BBC Arabic" xmlUrl="https://feeds.bbci.co.uk/arabic/rss.xml"/>
    <outline type="rss" text="&#x627;&#x644;&#x62c;&#x632;&#x64a;&#x631;&#x629;" xmlUrl="https://www.aljazeera.net/rss"/>
  </outline>
  <outline type="rss" title="Hespress" xmlUrl="https://www.hespress.com/feed"/>
</body></opml>
"""


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), environ={}, out=out), out.getvalue()


def test_round_trip() -> None:
    feeds = read_opml(OPML)
    assert [(f.name, f.url) for f in feeds] == [
        ("BBC Arabic", "https://feeds.bbci.co.uk/arabic/rss.xml"),
        ("الجزيرة", "https://www.aljazeera.net/rss"),
        ("Hespress", "https://www.hespress.com/feed"),
    ]
    text = write_opml(feeds, "t & <x>", datetime(2026, 11, 29, tzinfo=UTC))
    assert read_opml(text.encode()) == feeds
    assert "t &amp; &lt;x&gt;" in text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'<!DOCTYPE x [<!ENTITY a "b">]><opml/>', "DTD"),
        (b"<opml><body><outline", "not well-formed"),
        (b"<rss/>", "not <opml>"),
        (b'<opml><body><outline xmlUrl="javascript:alert(1)"/></body></opml>', "invalid xmlUrl"),
        (b'<opml><body><outline xmlUrl="file:///etc/passwd"/></body></opml>', "invalid xmlUrl"),
    ],
)
def test_bad_opml_is_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_opml(data, "subs.opml")


def test_import_appends_to_the_configuration(tmp_path: Path) -> None:
    cfg = tmp_path / "ingest.toml"
    cfg.write_text(
        '# my feeds\n[[feeds]]\nname = "BBC Arabic"\nurl = "https://feeds.bbci.co.uk/arabic/rss.xml"\n',
        encoding="utf-8",
    )
    subs = tmp_path / "subs.opml"
    subs.write_bytes(OPML)
    code, text = run("--config", str(cfg), "opml", "import", str(subs), "--dry-run")
    assert code == 0 and "would add 2 feed(s), skipped 1" in text
    assert "الجزيرة" not in cfg.read_text(encoding="utf-8")
    code, text = run("--config", str(cfg), "opml", "import", str(subs))
    assert code == 0 and "added 2 feed(s), skipped 1" in text
    settings = config.load(cfg)
    assert [f.name for f in settings.feeds] == ["BBC Arabic", "الجزيرة", "Hespress"]
    assert cfg.read_text(encoding="utf-8").startswith("# my feeds\n")  # comments kept
    code, text = run("--config", str(cfg), "opml", "import", str(subs))
    assert code == 0 and "added 0 feed(s), skipped 3" in text
    code, text = run("--config", str(cfg), "opml", "export")
    assert code == 0
    assert read_opml(text.encode()) == list(settings.feeds)


def test_import_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    subs = tmp_path / "bad.opml"
    subs.write_bytes(b"<opml><body><outline")
    cfg = tmp_path / "c.toml"
    cfg.write_text("", encoding="utf-8")
    assert run("--config", str(cfg), "opml", "import", str(subs))[0] == 2
    assert "not well-formed" in capsys.readouterr().err
    assert run("opml", "import", str(subs))[0] == 2  # no configuration to write into
    assert run("--config", str(cfg), "opml", "import")[0] == 2


def test_export_names_every_feed() -> None:
    feeds = (FeedSettings("A & B", "https://a.example/rss?x=1&y=2"),)
    text = write_opml(feeds, "x", datetime(2026, 1, 1, tzinfo=UTC))
    assert 'xmlUrl="https://a.example/rss?x=1&amp;y=2"' in text


@pytest.mark.parametrize(
    "prefix",
    [
        b"",
        b"<!--" + b"x" * (1024 * 1024) + b"-->\n",  # issue 11, finding 9: past the first MiB
        b"<?xml version='1.0'?>\n<?pi " + b"y" * (1024 * 1024 + 10) + b"?>\n",
    ],
    ids=["at-start", "after-1MiB-comment", "after-1MiB-processing-instruction"],
)
def test_a_dtd_anywhere_is_refused_and_nothing_is_expanded(prefix: bytes) -> None:
    data = prefix + (
        b'<!DOCTYPE opml [<!ENTITY e "EXPANDED">]>\n'
        b'<opml version="2.0"><body><outline text="&e;" xmlUrl="https://a.example/rss"/>'
        b"</body></opml>"
    )
    with pytest.raises(ConfigError, match="DTD") as caught:
        read_opml(data, "subs.opml")
    assert "EXPANDED" not in caught.value.message


def test_a_dtd_without_entities_is_refused_too() -> None:
    data = b'<?xml version="1.0"?>\n<!DOCTYPE opml SYSTEM "http://x.example/opml.dtd"><opml/>'
    with pytest.raises(ConfigError, match="DTD"):
        read_opml(data, "subs.opml")


def test_import_of_an_opml_with_a_late_dtd_exits_2_and_adds_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "ingest.toml"
    cfg.write_text("# mine\n", encoding="utf-8")
    subs = tmp_path / "subs.opml"
    subs.write_bytes(
        b"<!--"
        + b"x" * (1024 * 1024)
        + b'-->\n<!DOCTYPE opml [<!ENTITY e "EXPANDED">]>\n'
        + b'<opml version="2.0"><body><outline text="&e;" xmlUrl="https://a.example/rss"/>'
        + b"</body></opml>"
    )
    code, text = run("--config", str(cfg), "opml", "import", str(subs))
    assert code == 2 and "EXPANDED" not in text
    assert "DTD" in capsys.readouterr().err
    assert cfg.read_text(encoding="utf-8") == "# mine\n"
