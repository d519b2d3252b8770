"""The LICENSE file says what pyproject.toml says (issue 14, item 8)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_license_file_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert project["license"] == {"text": "MIT"}
    assert text.splitlines()[0] == "MIT License"
    holder = project["authors"][0]["name"]
    assert f"Copyright (c) 2026 {holder}" in text
    assert "WITHOUT WARRANTY OF ANY KIND" in text
