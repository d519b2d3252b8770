"""Logging (issue 14, item 6): one timestamp form for text and JSON, the README's example as
printed, and --log-level / -q for every command, the daemon included."""

from __future__ import annotations

import io
import json
import logging
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from feedserver import FeedServer, Static

from ingest import logs
from ingest.cli import main

ROOT = Path(__file__).parents[1]
FEED_A = ROOT / "tests" / "fixtures" / "feeds" / "seed-a.xml"
TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def record(created: datetime, fields: dict[str, object]) -> logging.LogRecord:
    rec = logging.LogRecord("ingest.daemon", logging.INFO, __file__, 1, "fetch", None, None)
    rec.created = created.timestamp()
    rec.fields = fields  # type: ignore[attr-defined]
    return rec


def test_text_and_json_use_one_timestamp_form() -> None:
    moment = datetime(2026, 11, 29, 8, 0, 1, 203999, tzinfo=UTC)
    rec = record(moment, {"feed": "a"})
    text = logs.TextFormatter().format(rec)
    data = json.loads(logs.JsonFormatter().format(rec))
    assert text.split(" ", 1)[0] == data["ts"] == "2026-11-29T08:00:01.203Z"


def test_the_readme_log_example_is_what_is_printed() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(rf"`({TS} info event=fetch [^`]*)`", readme)
    assert example, "README shows no log line"
    line = example.group(1)
    stamp, _, _, *pairs = line.split(" ")
    fields: dict[str, object] = {}
    for pair in re.findall(r'(\w+)=("[^"]*"|\S+)', line.split("event=fetch ", 1)[1]):
        key, value = pair
        fields[key] = json.loads(value) if value.startswith('"') else value
    assert pairs  # the example has fields
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert logs.TextFormatter().format(record(moment, fields)) == line
    # and the daemon logs those fields, in that order
    daemon = (ROOT / "ingest" / "feedjobs.py").read_text(encoding="utf-8")
    block = daemon.split("fields: dict[str, Any] = {", 1)[1].split("}", 1)[0]
    assert re.findall(r'"(\w+)":', block) == list(fields)


def test_log_level_and_quiet_work_before_or_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FeedServer() as server:
        url = server.route("/feed", Static(FEED_A.read_bytes()))
        cfg = tmp_path / "c.toml"
        cfg.write_text('[http]\nallow_networks = ["127.0.0.0/8"]\n', encoding="utf-8")
        base = ["--config", str(cfg), "--db", str(tmp_path / "x.db")]
        runs = {
            "default": [*base, "fetch", url],
            "global": [*base, "--log-level", "debug", "fetch", url],
            "after": [*base, "fetch", "--log-level", "debug", url],
            "quiet": [*base, "-q", "fetch", url],
            "quiet after": [*base, "fetch", url, "-q"],
        }
        errs = {}
        for name, argv in runs.items():
            assert main(argv, environ={}, out=io.StringIO()) == 0
            errs[name] = capsys.readouterr().err
    for name in ("global", "after"):
        debug = [line for line in errs[name].splitlines() if " debug " in line]
        assert debug, errs[name]
        assert all(re.match(rf"{TS} debug event=", line) for line in debug)
    for name in ("default", "quiet", "quiet after"):
        assert " debug " not in errs[name]


def test_log_level_and_quiet_together_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--log-level", "info", "-q", "clean"], environ={}, out=io.StringIO())
    assert done.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_daemon(tmp_path: Path, *argv: str) -> str:
    """``ingest ARGV`` (a ``run``) until it is ready, then SIGTERM: its stderr."""
    port = free_port()
    cfg = tmp_path / "d.toml"
    cfg.write_text(
        f'[store]\ndb = "sqlite:///{tmp_path / "d.db"}"\n'
        f'[daemon]\nhealth_address = "127.0.0.1:{port}"\n[web]\naddress = ""\n'
        f'[[feeds]]\nname = "a"\nurl = "{FEED_A}"\n',
        encoding="utf-8",
    )
    err = tmp_path / "stderr.txt"
    with err.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingest", "--config", str(cfg), *argv],
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
        try:
            for _ in range(300):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                        break
                except OSError:
                    time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return err.read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_daemon_follows_the_global_options(tmp_path: Path) -> None:
    json_lines = run_daemon(tmp_path, "run", "--log-json").splitlines()
    events = [json.loads(line) for line in json_lines]
    assert "ready" in [e["event"] for e in events]
    assert all(re.fullmatch(TS, e["ts"]) for e in events)
    text = run_daemon(tmp_path, "--log-level", "warning", "run", "-v")
    assert " info " not in text and " debug " not in text
    text = run_daemon(tmp_path, "run")
    assert re.search(rf"^{TS} info event=ready ", text, re.M)
