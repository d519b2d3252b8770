"""Structural rules from STYLE.md, checked rather than hoped for."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "ingest"

# Each third-party library is imported by exactly one module of the package.
OWNERS = {
    "httpx": "fetch.py",
    "httpcore": "fetch.py",
    "feedparser": "parse.py",
    "bs4": "clean.py",
    "lxml": "clean.py",
    "simhash": "fingerprint.py",
    "numpy": "fingerprint.py",
    "Stemmer": "arabic.py",
    "snowballstemmer": "arabic.py",
    "apscheduler": "daemon.py",
    "prometheus_client": "metrics.py",
    "psycopg": "store/postgres.py",
    "defusedxml": "opml.py",
    "jinja2": "web.py",
    "markupsafe": "web.py",
}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_each_library_is_imported_by_one_module() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        for name in _imports(path) & OWNERS.keys():
            assert OWNERS[name] == module, f"{module} imports {name}; only {OWNERS[name]} may"


def test_the_main_process_does_not_load_the_parser() -> None:
    """Parsing, cleaning and fingerprinting run in the workers: the CLI, the pipeline and the
    daemon start without feedparser, BeautifulSoup or numpy (a quarter of a second of
    imports that a status command or the writer never uses)."""
    heavy = ("feedparser", "bs4", "soupsieve", "numpy", "simhash", "ingest.prepare")
    code = (
        "import sys, ingest.cli, ingest.pipeline, ingest.daemon, ingest.upgrade, ingest.read; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""


def test_feedparser_is_never_given_a_string() -> None:
    # feedparser.parse(str) reads local files and URLs on its own (HOSTILE.md 12).
    source = (PACKAGE / "parse.py").read_text(encoding="utf-8")
    calls = re.findall(r"feedparser\.parse\(([^,)]*)", source)
    assert calls, "parse.py must call feedparser.parse"
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "parse"
            and getattr(node.func.value, "id", "") == "feedparser"
        ):
            assert not (
                node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            )


def test_readme_documents_every_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    from ingest.cli import COMMANDS

    for name in COMMANDS:
        assert re.search(rf"`[^`]*ingest[^`]* {name}\b", readme), (
            f"README never shows `ingest {name}`"
        )


def test_help_works_for_every_command() -> None:
    from ingest.cli import COMMANDS

    for name in COMMANDS:
        result = subprocess.run(
            [sys.executable, "-m", "ingest", name, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "example" in result.stdout
