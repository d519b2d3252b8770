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
    with pytest.raises(SystemExit) as missing:  # argparse: opml import needs its FILE
        run("--config", str(cfg), "opml", "import")
    assert missing.value.code == 2
    assert "required: FILE" in capsys.readouterr().err


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


# -- issue 14, item 5: real subcommands ---------------------------------------------------


@pytest.mark.parametrize("action", ["import", "export"])
def test_each_action_has_its_own_help(action: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        run("opml", action, "--help")
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: ingest opml {action}")
    assert "example:" in text and f"opml {action}" in text.split("example:")[1]
    if action == "import":
        assert "FILE" in text and "--dry-run" in text
    else:
        assert "FILE" not in text and "file://" in text


def test_opml_help_lists_both_actions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run("opml", "--help")
    text = capsys.readouterr().out
    listed = text.split("positional arguments:", 1)[1].split("options:", 1)[0]
    assert "    import " in listed and "    export " in listed


@pytest.mark.parametrize(
    "where",
    [
        ("opml", "--dry-run", "import", "{subs}"),
        ("opml", "import", "--dry-run", "{subs}"),
        ("opml", "import", "{subs}", "--dry-run"),
    ],
    ids=["before-the-action", "before-the-file", "last"],
)
def test_dry_run_anywhere_on_the_line(tmp_path: Path, where: tuple[str, ...]) -> None:
    cfg = tmp_path / "ingest.toml"
    cfg.write_text("# mine\n", encoding="utf-8")
    subs = tmp_path / "subs.opml"
    subs.write_bytes(OPML)
    argv = [arg.format(subs=subs) for arg in where]
    code, text = run("--config", str(cfg), *argv)
    assert code == 0 and "would add 3 feed(s), skipped 0" in text
    assert cfg.read_text(encoding="utf-8") == "# mine\n"


def test_export_writes_local_paths_as_file_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "saved").mkdir()
    cfg = tmp_path / "ingest.toml"
    cfg.write_text(
        '[[feeds]]\nname = "saved"\nurl = "saved/feed.xml"\n'
        '[[feeds]]\nname = "absolute"\nurl = "/srv/feeds/a b.xml"\n'
        '[[feeds]]\nname = "as url"\nurl = "file:///srv/feeds/c.xml"\n'
        '[[feeds]]\nname = "web"\nurl = "https://a.example/rss"\n'
        '[[feeds]]\nname = "private"\nurl = "https://me:s3cret@b.example/rss"\n',
        encoding="utf-8",
    )
    code, text = run("--config", str(cfg), "opml", "export")
    assert code == 0
    urls = {
        f.name: f.url
        for f in read_opml(text.replace("file://", "https://local").encode())  # import: http(s)
    }
    assert urls["saved"] == "https://local" + (tmp_path / "saved" / "feed.xml").as_uri()[7:]
    assert 'xmlUrl="file:///srv/feeds/a%20b.xml"' in text
    assert 'xmlUrl="file:///srv/feeds/c.xml"' in text
    assert 'xmlUrl="https://a.example/rss"' in text
    # Credentials are not exported (issue 11, finding 7); a warning names the feed.
    assert "s3cret" not in text and 'xmlUrl="https://***@b.example/rss"' in text
    assert "private: credentials masked" in capsys.readouterr().err
