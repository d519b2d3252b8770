"""Bad input on the command line and in configuration: a clear message, never a traceback.

Usage and configuration mistakes exit with 2 and a message naming what is wrong (a file that is
not an ingest store included); a store that cannot be used exits with 3 and says why. Every case runs ``python -m ingest ARGS``: the whole
table in one subprocess that runs the ``ingest`` module as ``__main__`` once per case (an
interpreter start costs more than most cases, and the machine is shared), and a few cases
again each in its own ``python -m ingest`` process, to prove the real entry point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

OK_CONFIG = '[[feeds]]\nname = "a"\nurl = "https://a.example/rss"\n'


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    code: int
    says: str
    """A piece of the message that must be on stderr."""


def files(root: Path) -> dict[str, Path]:
    """The hostile inputs the cases name as ``{name}``."""
    made = {
        "ok": OK_CONFIG,
        "badtoml": "[[feeds]\nname = ",
        "badvalues": (
            '[http]\ndeadline = "soon"\nallow_networks = [1, "x"]\nmax_connections = 0\n'
            'user_agent = "a\\nb"\n[daemon]\nhealth_address = "nonsense"\nmin_interval = 0\n'
            '[[feeds]]\nname = "a"\nurl = "ftp://x"\n[[feeds]]\nname = "b"\nurl = "http://[::1"\n'
        ),
        "badstore": '[store]\ndb = "postgresql://[::1/db"\n',
        "unknown": "[surprise]\nx = 1\n[http]\nspeed = 3\n",
        "opml_bad_url": (
            '<?xml version="1.0"?><opml version="2.0"><body>'
            '<outline text="x" xmlUrl="http://[::1"/></body></opml>'
        ),
        "opml_xxe": (
            '<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            '<opml version="2.0"><body><outline text="&e;" xmlUrl="https://x.example/"/></body>'
            "</opml>"
        ),
    }
    paths = {name: root / f"{name}.txt" for name in made}
    for name, text in made.items():
        paths[name].write_text(text, encoding="utf-8")
    paths["garbage"] = root / "garbage.bin"
    paths["garbage"].write_bytes(bytes(range(256)) * 40 + b"\xff\xfe\x00")
    paths["huge"] = root / "huge.toml"
    paths["huge"].write_bytes(b"# " + b"x" * (11 * 1024 * 1024) + b"\n")
    paths["dir"] = root / "a-directory"
    paths["dir"].mkdir()
    paths["fifo"] = root / "fifo.toml"
    os.mkfifo(paths["fifo"])  # opening it for reading would wait for a writer forever
    paths["db"] = root / "store.db"
    return paths


CASES: dict[str, Case] = {
    # argparse and the command line
    "unknown option": Case(("--bogus",), 2, "unrecognized arguments: --bogus"),
    "no command": Case((), 2, "a COMMAND is required"),
    "unknown command": Case(("frobnicate",), 2, "invalid choice: 'frobnicate'"),
    "unknown command option": Case(("fetch", "--bogus"), 2, "unrecognized arguments: --bogus"),
    "missing option value": Case(("export", "--feed"), 2, "expected one argument"),
    "bad choice": Case(("opml", "bogus"), 2, "invalid choice: 'bogus'"),
    "bad --since": Case(("--db", "{db}", "export", "--since", "yesterday"), 2, "--since"),
    "empty --since": Case(("--db", "{db}", "export", "--since", ""), 2, "--since"),
    "--since before year 1 in UTC": Case(
        ("--db", "{db}", "export", "--since", "0001-01-01T00:00:00+14:00"), 2, "--since"
    ),
    "--since after year 9999 in UTC": Case(
        ("--db", "{db}", "export", "--since", "9999-12-31T23:59:59-14:00"), 2, "--since"
    ),
    "fetch a missing file": Case(
        ("--db", "{db}", "fetch", "{root}/nope.xml"), 2, "neither a configured feed"
    ),
    "fetch a directory": Case(("--db", "{db}", "fetch", "{dir}"), 2, "neither a configured feed"),
    "clean a missing file": Case(("clean", "{root}/nope.txt"), 2, "no such file"),
    "clean a directory": Case(("clean", "{dir}"), 2, "a directory"),
    "clean /dev/zero": Case(("clean", "/dev/zero"), 2, "not a regular file"),
    # the configuration file
    "missing config": Case(("--config", "{root}/nope.toml", "feeds"), 2, "no such file"),
    "config is a directory": Case(("--config", "{dir}", "feeds"), 2, "a directory"),
    "config is binary garbage": Case(("--config", "{garbage}", "feeds"), 2, "not UTF-8"),
    "config is a FIFO": Case(("--config", "{fifo}", "feeds"), 2, "not a regular file"),
    "config is /dev/zero": Case(("--config", "/dev/zero", "feeds"), 2, "not a regular file"),
    "config is huge": Case(("--config", "{huge}", "feeds"), 2, "larger than"),
    "config is not TOML": Case(("--config", "{badtoml}", "feeds"), 2, "invalid TOML"),
    "config with bad values": Case(("--config", "{badvalues}", "feeds"), 2, "http.deadline"),
    "config with an invalid IPv6 feed URL": Case(
        ("--config", "{badvalues}", "feeds"), 2, "feeds[1].url"
    ),
    "config with zero connections": Case(
        ("--config", "{badvalues}", "feeds"), 2, "http.max_connections: must be greater"
    ),
    "config with a zero interval": Case(
        ("--config", "{badvalues}", "feeds"), 2, "daemon.min_interval: must be greater"
    ),
    "config with a two-line user agent": Case(
        ("--config", "{badvalues}", "feeds"), 2, "http.user_agent"
    ),
    "config with unknown keys": Case(("--config", "{unknown}", "feeds"), 2, "http.speed"),
    "config with a bad store URL": Case(("--config", "{badstore}", "feeds"), 2, "store.db"),
    # the store
    "--db is a directory": Case(("--db", "{dir}", "export"), 2, "is a directory"),
    "--db is empty": Case(("--db", "", "export"), 2, "--db: an empty database URL"),
    "--db is an invalid URL": Case(
        ("--db", "postgresql://[::1/db", "export"), 2, "invalid database URL"
    ),
    "--db has another scheme": Case(("--db", "mysql://x/y", "export"), 2, "unsupported"),
    "--db is not a database": Case(("--db", "{garbage}", "export"), 2, "not a SQLite database"),
    "copy from nothing": Case(
        ("copy", "--from", "{root}/nope.db", "--to", "{root}/to.db"), 3, "no such database"
    ),
    # OPML
    "OPML missing": Case(("--config", "{ok}", "opml", "import", "{root}/nope"), 2, "no such file"),
    "OPML is a directory": Case(("--config", "{ok}", "opml", "import", "{dir}"), 2, "a directory"),
    "OPML is garbage": Case(
        ("--config", "{ok}", "opml", "import", "{garbage}"), 2, "not well-formed XML"
    ),
    "OPML with an invalid URL": Case(
        ("--config", "{ok}", "opml", "import", "{opml_bad_url}"), 2, "invalid xmlUrl"
    ),
    "OPML with an entity": Case(
        ("--config", "{ok}", "opml", "import", "{opml_xxe}", "--dry-run"), 2, "DTD"
    ),
    "OPML import without a config": Case(("opml", "import", "{opml_xxe}"), 2, "--config"),
}


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


# Runs ``python -m ingest ARGS`` for each case of a JSON table read from stdin, in this one
# interpreter; an exception escaping the module is printed as Python would print it.
_DRIVER = """
import contextlib, io, json, runpy, sys, traceback
results = {}
for name, args in json.load(sys.stdin).items():
    out, err = io.StringIO(), io.StringIO()
    sys.argv = ["ingest", *args]
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_module("ingest", run_name="__main__", alter_sys=True)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        except BaseException:
            traceback.print_exc()
            code = 1
    results[name] = [code, out.getvalue(), err.getvalue()]
json.dump(results, sys.__stdout__)
"""

ALONE = ("unknown option", "config is a FIFO", "config with an invalid IPv6 feed URL")
"""Cases also run each in its own ``python -m ingest`` process."""


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    root = tmp_path_factory.mktemp("interfaces")
    paths = {name: str(path) for name, path in files(root).items()}
    argv = {
        name: [arg.format(root=root, **paths) for arg in case.args] for name, case in CASES.items()
    }
    return root, argv


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env["XDG_DATA_HOME"] = str(root / "data")  # the default store, should one be opened
    return env


@pytest.fixture(scope="module")
def results(prepared: tuple[Path, dict[str, list[str]]]) -> dict[str, Result]:
    root, argv = prepared
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER],
        input=json.dumps(argv),
        capture_output=True,
        text=True,
        env=_env(root),
        cwd=root,
        timeout=120,
        check=True,
    )
    return {name: Result(*value) for name, value in json.loads(proc.stdout).items()}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gets_a_clear_error_and_no_traceback(
    results: dict[str, Result], name: str
) -> None:
    check(CASES[name], results[name])


def test_the_real_entry_point_too(prepared: tuple[Path, dict[str, list[str]]]) -> None:
    root, argv = prepared
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "ingest", *argv[name]],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(root),
            cwd=root,
        )
        for name in ALONE
    }
    try:
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=60)
            check(CASES[name], Result(proc.returncode, out, err))
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def check(case: Case, result: Result) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.code == case.code, result
    assert case.says in result.stderr, result.stderr
    assert "root:x:0" not in result.stderr + result.stdout
