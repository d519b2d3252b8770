"""The web console in a real browser (issue 13, item 5): headless Chromium (Debian's
``chromium``) loads the console from a real ``ingest run`` that fetched the seed story.

Chromium is driven by its own command-line modes: ``--dump-dom`` gives the DOM after the page
loaded (what a person would see, parsed by the browser), ``--screenshot`` a PNG. Its console
log (``--enable-logging=stderr``) must not report a Content-Security-Policy violation or a
resource that failed to load. Without Chromium the tests are skipped with the reason (under
CI, where ``.ci/run`` installs it, they fail instead).

``INGEST_SCREENSHOT_DIR``: also save the screenshots there.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from webclient import get

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
SEED_A, SEED_B = FEEDS / "seed-a.xml", FEEDS / "seed-b.xml"
SCRAPER, AGENCY = "الموقع الناقل", "وكالة الأنباء"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--enable-logging=stderr",
    "--v=0",
    "--lang=ar",
]
PHONE = (412, 1400)
"""A phone's width in CSS pixels (the height: enough for the page shot)."""


def chromium() -> str:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found is None:
        reason = "Chromium is not installed (Debian: apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; .ci/run installs it under CI", pytrace=False)
        pytest.skip(reason)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Console:
    web: int
    health: int
    workdir: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.web}{quote(path, safe='/?=&#')}"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A real daemon (``ingest run``) that fetched the seed story from two feeds."""
    chromium()
    workdir = tmp_path_factory.mktemp("browser")
    web, health = free_port(), free_port()
    config = workdir / "ingest.toml"
    config.write_text(
        f'[store]\ndb = "sqlite:///{workdir / "ingest.db"}"\n'
        f'[daemon]\nhealth_address = "127.0.0.1:{health}"\nstop_timeout = 5.0\n'
        "min_interval = 1.0\n"  # the first fetches within a second, not 30
        f'[web]\naddress = "127.0.0.1:{web}"\n'
        f'[[feeds]]\nname = "{AGENCY}"\nurl = "{SEED_B}"\n'
        f'[[feeds]]\nname = "{SCRAPER}"\nurl = "{SEED_A}"\n',
        encoding="utf-8",
    )
    log = (workdir / "daemon.log").open("w")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "ingest", "--config", str(config), "run"],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                stories = json.loads(get(web, "/api/stories")[2])["stories"]
                if stories and stories[0]["articles"] == 2:
                    break
            except OSError:
                pass
            assert daemon.poll() is None, (workdir / "daemon.log").read_text()
            time.sleep(0.2)
        else:
            raise AssertionError((workdir / "daemon.log").read_text())
        yield Console(web, health, workdir)
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
        log.close()


@dataclass
class Loaded:
    dom: str
    log: str

    @property
    def text(self) -> str:
        """The page's text, as a person reads it (tags dropped, entities decoded)."""
        return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", self.dom)))


def browse(
    console: Console, path: str, *, screenshot: Path | None = None, size: tuple[int, int] = PHONE
) -> Loaded:
    """Load ``path`` in a new headless Chromium profile: the DOM, or a screenshot."""
    profile = console.workdir / f"profile-{time.monotonic_ns()}"
    profile.mkdir()
    args = [chromium(), *FLAGS, f"--user-data-dir={profile}"]
    if screenshot is None:
        args.append("--dump-dom")
    else:
        window = f"--window-size={size[0]},{size[1]}"
        args += [f"--screenshot={screenshot}", window, "--hide-scrollbars"]
    result = subprocess.run(
        [*args, console.url(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # The browser's own console: nothing blocked by the policy, nothing that failed to load.
    problems = [
        line
        for line in result.stderr.splitlines()
        if "Content Security Policy" in line or "Failed to load resource" in line
    ]
    assert not problems, problems
    return Loaded(result.stdout, result.stderr)


def test_home_shows_the_seed_story_with_both_outlets(console: Console) -> None:
    page = browse(console, "/")
    assert '<html lang="ar" dir="rtl">' in page.dom
    story = json.loads(get(console.web, "/api/stories")[2])["stories"][0]
    assert story["title"] in page.text
    assert "2 مقالات من 2 مصادر" in page.text
    outlets = re.findall(r'<ul class="outlets">(.*?)</ul>', page.dom, re.S)[0]
    assert sorted(re.findall(r"<bdi>([^<]+)</bdi>", outlets)) == sorted([AGENCY, SCRAPER])


def test_search_finds_the_seed_story_for_algeria(console: Console) -> None:
    page = browse(console, "/search?q=الجزائر")
    hits = re.findall(r'<li class="card hit">', page.dom)
    assert len(hits) == 1
    marks = re.findall(r"<mark>([^<]+)</mark>", page.dom)
    assert marks and all("جزائر" in m or "جَزائر" in m for m in marks)
    assert "2 مقالات" in page.text and AGENCY in page.text and SCRAPER in page.text
    # The search box is a GET form that comes back with the query.
    assert re.search(r'<form class="search" action="/search" method="get"', page.dom)
    assert 'value="الجزائر"' in page.dom


def test_the_article_page_shows_ad_1_removed_with_its_reason(console: Console) -> None:
    articles = json.loads(get(console.web, "/api/articles")[2])["articles"]
    scraper = next(a for a in articles if a["feed"] == SCRAPER)
    page = browse(console, f"/articles/{scraper['id']}")
    removed = re.search(r'<ol class="removed">(.*?)</ol>', page.dom, re.S)
    assert removed is not None
    first = re.search(r"<li>(.*?)</li>", removed.group(1), re.S)
    assert first is not None
    piece = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", first.group(1))).strip()
    assert piece == "ad_marker الفقرة 1: رمز إعلان تركه ووردبريس [ad_1]"
    assert "[ad_marker] paragraph 1: an ad shortcode left by WordPress: «[ad_1]»" in page.text
    for paragraph in scraper["paragraphs"]:
        assert paragraph in page.text


def test_a_screenshot_of_the_console_on_a_phone(console: Console, tmp_path: Path) -> None:
    articles = json.loads(get(console.web, "/api/articles")[2])["articles"]
    scraper = next(a for a in articles if a["feed"] == SCRAPER)
    shots = {  # what each page must show (checked in its DOM), and how tall the shot is
        "search": ("/search?q=الجزائر", "<mark>", PHONE),
        "article": (f"/articles/{scraper['id']}", "[ad_1]</blockquote>", (PHONE[0], 3600)),
    }
    also = os.environ.get("INGEST_SCREENSHOT_DIR")
    for name, (path, shown, size) in shots.items():
        assert shown in browse(console, path).dom
        png = tmp_path / f"console-{name}.png"
        browse(console, path, screenshot=png, size=size)
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert (width, height) == size
        if also:
            Path(also).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(png, Path(also) / png.name)
