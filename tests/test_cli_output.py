"""What the commands print (issue 11, findings 7 and 12; issue 14, items 3 and 4): fetch
output in argument order with a summary, credentials masked everywhere they are shown or
exported, ``export --feed`` by any name or URL the other commands print, and no traceback on
any stdout encoding. Through ``ingest.cli.main`` (or ``python -m ingest``), real SQLite files,
a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from feedserver import FeedHandler, FeedServer, Static

from ingest.cli import EXIT_USAGE, main

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
FEED_A, FEED_B = FEEDS / "seed-a.xml", FEEDS / "seed-b.xml"
SEED = Path(__file__).parent / "fixtures" / "seed-article.txt"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), environ={}, out=out), out.getvalue()


@dataclass(frozen=True)
class AfterOthers:
    """Serve ``body`` only once ``other`` has been requested, and a moment later: this feed,
    named first, finishes after the ones named after it."""

    body: bytes
    other: str

    def serve(self, handler: FeedHandler) -> None:
        owner = handler.server.owner  # type: ignore[attr-defined]
        for _ in range(200):
            if owner.hits[self.other] and not handler.wait_while_connected(0.3):
                return
            if owner.hits[self.other]:
                break
            handler.wait_while_connected(0.02)
        Static(self.body).serve(handler)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


def config(tmp_path: Path, feeds: dict[str, str], db: Path | None = None) -> Path:
    path = tmp_path / "ingest.toml"
    lines = [
        f'[store]\ndb = "sqlite:///{db or tmp_path / "ingest.db"}"',
        '[http]\nallow_networks = ["127.0.0.0/8"]\nper_host = 4',
    ]
    lines += [f'[[feeds]]\nname = "{n}"\nurl = "{u}"' for n, u in feeds.items()]
    path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- fetch: order and summary (issue 14, item 4) -------------------------------------------


def test_fetch_prints_in_argument_order_with_a_summary(tmp_path: Path, server: FeedServer) -> None:
    slow = server.route("/slow", AfterOthers(FEED_A.read_bytes(), "/fast"))
    fast = server.route("/fast", Static(FEED_B.read_bytes()))
    broken = tmp_path / "broken.xml"
    broken.write_text("<html>not a feed</html>", encoding="utf-8")
    cfg = config(tmp_path, {"slow": slow, "fast": fast})
    code, text = run("--config", str(cfg), "fetch", "slow", str(broken), "fast")
    assert code == 1
    lines = text.splitlines()
    assert [line.split()[1] for line in lines[:3]] == ["slow:", f"{broken}:", "fast:"]
    assert lines[0].startswith("ok ") and lines[1].startswith("error ")
    assert re.fullmatch(
        r"summary    3 feed\(s\): ok=2 not-modified=0 failed=1; items: new=1 "
        r"near-duplicates=1 exact-duplicates=0 unchanged=0; \d+\.\d s",
        lines[3],
    ), lines[3]
    assert len(lines) == 4
    # Again, as JSON: the same order, and the summary as the last object.
    code, text = run("--config", str(cfg), "fetch", "--json", "fast", "slow")
    objects = [json.loads(line) for line in text.splitlines()]
    assert [o["feed"] for o in objects[:2]] == ["fast", "slow"]
    summary = objects[2]["summary"]
    assert {k: v for k, v in summary.items() if k != "duration_ms"} == {
        "feeds": 2,
        "ok": 2,
        "not_modified": 0,
        "failed": 0,
        "new": 0,
        "near_duplicates": 0,
        "exact_duplicates": 0,
        "unchanged": 2,
    }
    assert isinstance(summary["duration_ms"], int) and len(objects) == 3


@dataclass(frozen=True)
class OnlyAfter:
    """Serve ``body`` once ``other`` has been requested; a 503 if that never happens."""

    body: bytes
    other: str

    def serve(self, handler: FeedHandler) -> None:
        owner = handler.server.owner  # type: ignore[attr-defined]
        for _ in range(500):
            if owner.hits[self.other]:
                Static(self.body).serve(handler)
                return
            handler.wait_while_connected(0.02)
        handler.send_head(503)


UNRELATED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Weather</title><link>http://127.0.0.1/</link>
<item><title>طقس معتدل</title><guid>weather-1</guid><link>http://127.0.0.1/w/1</link>
<description>يسود طقس معتدل على معظم المناطق الساحلية مع رياح خفيفة إلى معتدلة السرعة، وتنخفض
درجات الحرارة ليلا في المرتفعات الداخلية حيث يتكون الضباب في ساعات الصباح الباكر.</description>
</item></channel></rss>
""".encode()


def test_feeds_are_stored_in_the_order_named_whatever_finishes_first(
    tmp_path: Path, server: FeedServer
) -> None:
    # Two copies of one story: the one named first is canonical even when it arrives last,
    # so the same command makes the same store. The first feed answers only once the third
    # is requested; with two connections, the second feed (staged and waiting for its turn
    # to be stored) must not hold a slot, or the third is never fetched and the first fails.
    first = server.route("/first", OnlyAfter(FEED_A.read_bytes(), "/third"))
    second = server.route("/second", Static(FEED_B.read_bytes()))
    third = server.route("/third", Static(UNRELATED))
    cfg = tmp_path / "ingest.toml"
    cfg.write_text(
        f'[store]\ndb = "sqlite:///{tmp_path / "ingest.db"}"\n\n'
        '[http]\nallow_networks = ["127.0.0.0/8"]\nmax_connections = 2\nper_host = 4\n\n'
        + "".join(
            f'[[feeds]]\nname = "{n}"\nurl = "{u}"\n\n'
            for n, u in {"first": first, "second": second, "third": third}.items()
        ),
        encoding="utf-8",
    )
    db = tmp_path / "ingest.db"
    code, text = run("--config", str(cfg), "fetch", "--json")
    assert code == 0, text
    outcomes = {o["feed"]: o for o in map(json.loads, text.splitlines()[:3])}
    assert outcomes["first"]["new"] == 1 and outcomes["first"]["near_duplicates"] == 0
    assert outcomes["second"]["new"] == 0 and outcomes["second"]["near_duplicates"] == 1
    assert outcomes["third"]["new"] == 1
    with sqlite3.connect(db) as conn:
        canonical = conn.execute(
            "SELECT f.name FROM articles a JOIN feeds f ON f.id = a.feed_id "
            "WHERE a.duplicate_of IS NULL ORDER BY a.id"
        ).fetchall()
    assert canonical == [("first",), ("third",)]


def test_configuration_order_without_targets(tmp_path: Path, server: FeedServer) -> None:
    names = ["z-last-alphabetically", "a-first", "m-middle"]
    feeds = {name: server.route(f"/{name}", Static(FEED_A.read_bytes())) for name in names}
    feeds["z-last-alphabetically"] = server.route(
        "/slow", AfterOthers(FEED_A.read_bytes(), "/m-middle")
    )
    code, text = run("--config", str(config(tmp_path, feeds)), "fetch")
    assert code == 0
    assert [line.split()[1].rstrip(":") for line in text.splitlines()[:3]] == names


def test_progress_on_a_terminal_for_long_runs(tmp_path: Path) -> None:
    """A pseudo-terminal on stderr: ``[k/n]`` progress there for five feeds, never on stdout,
    and none with -q or for a short run."""
    pty = pytest.importorskip("pty")
    files = []
    for i in range(5):
        path = tmp_path / f"feed-{i}.xml"
        path.write_bytes(FEED_A.read_bytes().replace(b"scraper", f"scraper{i}".encode()))
        files.append(str(path))

    def fetch(*extra: str) -> tuple[str, str]:
        leader, follower = pty.openpty()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "ingest", "--db", str(tmp_path / "p.db"), "fetch", *extra],
                stdout=subprocess.PIPE,
                stderr=follower,
                timeout=120,
                check=False,
            )
            os.close(follower)
            follower = -1
            chunks = []
            while True:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(leader)
            if follower != -1:
                os.close(follower)
        return proc.stdout.decode(), b"".join(chunks).decode(errors="replace")

    out, err = fetch(*files)
    assert "[5/5] feeds fetched" in err and "[0/5]" in err
    assert "feeds fetched" not in out and out.count("\n") == 6
    out, err = fetch("-q", *files)
    assert "feeds fetched" not in err and out.count("\n") == 6
    out, err = fetch(*files[:2])
    assert "feeds fetched" not in err


# -- credentials (issue 11, finding 7) ------------------------------------------------------


def test_feed_credentials_are_masked_wherever_shown(
    tmp_path: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.route("/private", Static(FEED_A.read_bytes()))
    private = server.url("/private").replace("http://", "http://reader:s3cretpw@")
    cfg = config(tmp_path, {"private": private})
    outputs = [run("--config", str(cfg), "fetch")[1]]
    outputs.append(run("--config", str(cfg), "fetch", "--json")[1])
    # Named on the command line: the URL is also the feed's name.
    outputs.append(run("--config", str(cfg), "fetch", private)[1])
    outputs.append(run("--config", str(cfg), "feeds")[1])
    outputs.append(run("--config", str(cfg), "export", "--duplicates")[1])
    outputs.append(run("--config", str(cfg), "export", "--feed", private)[1])
    outputs.append(run("--config", str(cfg), "opml", "export")[1])
    outputs.append(run("--config", str(cfg), "feeds", "-v")[1])
    outputs.append(capsys.readouterr().err)
    for text in outputs:
        assert "s3cretpw" not in text and "reader:" not in text, text
    assert "http://***@127.0.0.1" in outputs[3]
    exported = json.loads(outputs[4].splitlines()[0])
    assert exported["feed"].startswith("http://***@127.0.0.1")
    # Fetching needed them: they were sent, and the store keeps the URL as configured.
    assert server.requests[0].headers["authorization"].startswith("Basic ")
    with sqlite3.connect(tmp_path / "ingest.db") as conn:
        assert conn.execute("SELECT url FROM feeds").fetchall() == [(private,)]
    conn.close()


# -- export --feed (issue 14, item 3) -------------------------------------------------------


def test_export_feed_accepts_every_name_and_url_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(FEEDS.parent.parent.parent)  # the repository: paths as in the README
    db = tmp_path / "ingest.db"
    relative = str(FEED_A.relative_to(Path.cwd()))
    cfg = config(tmp_path, {"Agency": str(FEED_B)}, db=db)
    assert run("--config", str(cfg), "fetch", relative, "Agency")[0] == 0
    articles = [
        json.loads(line)
        for line in run("--config", str(cfg), "export", "--duplicates")[1].splitlines()
    ]
    by_name = {a["feed_name"]: a for a in articles}
    assert set(by_name) == {relative, "Agency"}
    scraper = by_name[relative]
    for given in (relative, str(FEED_A), scraper["feed"], FEED_A.resolve().as_uri()):
        code, text = run("--config", str(cfg), "export", "--duplicates", "--feed", given)
        assert code == 0, given
        assert [json.loads(line)["id"] for line in text.splitlines()] == [scraper["id"]], given
    agency = by_name["Agency"]
    for given in ("Agency", str(FEED_B), agency["feed"]):
        code, text = run("--config", str(cfg), "export", "--duplicates", "--feed", given)
        assert [json.loads(line)["id"] for line in text.splitlines()] == [agency["id"]], given
    # The names `ingest feeds` prints work too.
    _, listed = run("--config", str(cfg), "feeds")
    for line in listed.splitlines():
        if line and not line.startswith(" "):
            code, text = run("--config", str(cfg), "export", "--duplicates", "--feed", line)
            assert code == 0 and len(text.splitlines()) == 1, line


def test_export_feed_finds_a_feed_that_moved(tmp_path: Path) -> None:
    db = tmp_path / "ingest.db"
    assert run("--db", str(db), "fetch", str(FEED_A))[0] == 0
    old = FEED_A.resolve().as_uri()
    with sqlite3.connect(db) as conn:  # as the pipeline records a permanent move
        conn.execute("UPDATE feeds SET origin_url = url, url = 'https://moved.example/rss'")
    conn.close()
    for given in (old, "https://moved.example/rss"):
        code, text = run("--db", str(db), "export", "--feed", given)
        assert code == 0 and len(text.splitlines()) == 1, given


def test_export_of_an_unknown_feed_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "ingest.db"
    assert run("--db", str(db), "fetch", str(FEED_A))[0] == 0
    capsys.readouterr()
    assert run("--db", str(db), "export", "--feed", "No Such Feed") == (EXIT_USAGE, "")
    err = capsys.readouterr().err
    assert "no configured or stored feed is named 'No Such Feed'" in err
    assert "ingest feeds" in err


def test_export_of_a_configured_feed_not_fetched_yet_is_empty(tmp_path: Path) -> None:
    cfg = config(tmp_path, {"later": "https://later.example/rss"})
    assert run("--config", str(cfg), "migrate")[0] == 0
    assert run("--config", str(cfg), "export", "--feed", "later") == (0, "")


# -- output encodings (issue 11, finding 12) ------------------------------------------------


@pytest.mark.parametrize("encoding", ["latin-1", "ascii"])
def test_no_traceback_on_a_narrow_stdout(tmp_path: Path, encoding: str) -> None:
    db = tmp_path / "ingest.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}

    def ingest(*argv: str, io_encoding: str = encoding) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "ingest", "--db", str(db), *argv],
            capture_output=True,
            env={**env, "PYTHONIOENCODING": io_encoding},
            timeout=120,
            check=False,
        )

    results = {
        "clean": ingest("clean", str(SEED)),
        "fetch": ingest("fetch", str(FEED_A), str(FEED_B)),
        "fetch --json": ingest("fetch", "--json", str(FEED_A)),
        "export": ingest("export", "--duplicates"),
        "feeds": ingest("feeds"),
        "explain": ingest("explain", "1"),
    }
    for name, result in results.items():
        err = result.stderr.decode(encoding, errors="replace")
        assert result.returncode == 0, (name, err)
        assert "Traceback" not in err, (name, err)
        assert "stdout's encoding" in err and "cannot show Arabic" in err, name
        result.stdout.decode(encoding)  # all of it in the encoding asked for
    assert len(results["clean"].stdout.splitlines()) == 12
    assert b"?" in results["clean"].stdout
    # JSON loses nothing: \u escapes decode to what a UTF-8 stdout shows.
    wide = ingest("export", "--duplicates", io_encoding="utf-8")
    assert wide.stderr == b""
    narrow = [json.loads(line) for line in results["export"].stdout.splitlines()]
    assert narrow == [json.loads(line) for line in wide.stdout.decode().splitlines()]
    assert json.loads(results["fetch --json"].stdout.splitlines()[-1])["summary"]["feeds"] == 1
    quiet = ingest("-q", "clean", str(SEED))
    assert quiet.returncode == 0 and quiet.stderr == b""
