"""``ingest status`` without a daemon: it reads the store it names, never creates one, and
never prints a feed's credentials (issue 11 findings 7 and 11). With a daemon: test_daemon.py."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from feedserver import FeedServer, Static

from ingest.cli import main
from ingest.feedstate import store_identity

FEED = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
    b"<item><title>one</title><guid>g1</guid><link>https://a.example/1</link>"
    b"<description>&lt;p&gt;text of the item&lt;/p&gt;</description></item></channel></rss>"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, db: Path, feeds: dict[str, str], health: str) -> Path:
    text = f'[store]\ndb = "sqlite:///{db}"\n[http]\nallow_networks = ["127.0.0.0/8"]\n'
    text += f'[daemon]\nhealth_address = "{health}"\n'
    text += "".join(f'[[feeds]]\nname = "{n}"\nurl = "{u}"\n' for n, u in feeds.items())
    path.write_text(text, encoding="utf-8")
    return path


def test_no_store_is_an_error_naming_it_and_nothing_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "missing" / "ingest.db"
    config = write_config(tmp_path / "c.toml", db, {}, f"127.0.0.1:{free_port()}")
    assert main(["--config", str(config), "status"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and str(db) in lines[0] and "--db" in lines[0], captured.err
    assert captured.out == ""
    assert not db.exists() and not db.parent.exists()


def test_status_from_the_store_says_so_and_masks_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "ingest.db"
    with FeedServer() as server:
        url = server.route("/feed", Static(FEED)).replace("http://", "http://reader:s3cret@")
        config = write_config(tmp_path / "c.toml", db, {"private": url}, "")
        assert main(["--config", str(config), "fetch"]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "status"]) == 0
    text = capsys.readouterr().out
    first, *feeds = text.splitlines()
    assert first == (
        f"store {store_identity(str(db))} (the health endpoint is off: "
        "[daemon] health_address): 1 feeds, 0 failing"
    )
    assert len(feeds) == 1 and feeds[0].startswith("private <http://***@127.0.0.1:")
    assert "articles 1" in feeds[0]
    assert main(["--config", str(config), "status", "--json"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert doc["daemon"] is None and doc["store"] == f"sqlite:///{db.resolve()}"
    assert [f["name"] for f in doc["feeds"]] == ["private"]
    assert doc["feeds"][0]["url"].startswith("http://***@127.0.0.1:")
    assert doc["feeds"][0]["outcome"] == "ok"
    assert "s3cret" not in text + out


def test_something_else_on_the_health_port_is_not_taken_for_a_daemon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "ingest.db"
    with FeedServer() as server:
        server.route("/status", Static(b"<html>a router's admin page</html>"))
        address = f"127.0.0.1:{server.port}"
        config = write_config(tmp_path / "c.toml", db, {}, address)
        assert main(["--config", str(config), "migrate"]) == 0
        capsys.readouterr()
        assert main(["--config", str(config), "status"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"store sqlite:///{db.resolve()} (what answers at {address} is not")


def test_store_identity_names_one_store_one_way(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    expected = f"sqlite:///{db.resolve()}"
    assert store_identity(str(db)) == store_identity(f"sqlite:///{db}") == expected
    assert store_identity("postgresql://ingest:pw@db.example/ingest") == (
        "postgresql://***@db.example/ingest"
    )
