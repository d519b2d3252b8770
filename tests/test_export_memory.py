"""``ingest export`` streams rows from the database (issue 11, finding 6): its peak memory does
not grow with the store. Before, 100,000 articles made it peak at 489 MB (every row read first).

Two SQLite stores, of 1,000 and of 8,000 articles of about 6 KB each, are exported by the real
CLI in a subprocess (output to /dev/null); the peak resident memory of the process
must stay within a few megabytes: the eight-fold store would add ~40 MB if rows were held.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from ingest.models import Kind, Verdict
from ingest.store import open_store
from ingest.store.base import NewRow
from tests.articles import make_article

PARAGRAPH = (
    "أعلنت وزارة الاقتصاد عن حزمة إجراءات جديدة لدعم الشركات الصغيرة والمتوسطة في مواجهة ارتفاع"
    " تكاليف الطاقة والتمويل خلال العام المقبل، تشمل قروضا ميسرة وإعفاءات ضريبية مؤقتة. "
)


def build(path: Path, count: int) -> None:
    store = open_store(f"sqlite:///{path}")
    store.migrate()
    try:
        with store.transaction() as tx:
            feed = tx.feed_id("https://feed.example/rss", "feed")
            ids, seqs = tx.allot(count)
            template = make_article("x", tuple(f"{PARAGRAPH} ({n})" for n in range(14)))
            rows = [
                NewRow(
                    ids[n], seqs[n], feed, replace(template, guid=f"item-{n}"), Verdict(Kind.NEW)
                )
                for n in range(count)
            ]
            tx.insert_articles(rows)
    finally:
        store.close()


# The process measures itself, by its memory's high-water mark (VmHWM): getrusage's maxrss of a
# forked child starts from its parent's size (Linux keeps it across fork and exec), and the test
# process is large.
SELF_MEASURED = """
import re, sys
from pathlib import Path
from ingest.cli import main
code = main(sys.argv[1:])
peak = re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1)
sys.stderr.write(f"maxrss={peak}\\n")
sys.exit(code)
"""


def peak_rss_kb(db: Path) -> int:
    with open(os.devnull, "wb") as sink:
        done = subprocess.run(
            [sys.executable, "-c", SELF_MEASURED, "--db", str(db), "export"],
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
            check=True,
        )
    return int(done.stderr.rsplit("maxrss=", 1)[1])


def test_export_memory_does_not_grow_with_the_store(tmp_path: Path) -> None:
    small, big = tmp_path / "small.db", tmp_path / "big.db"
    build(small, 1_000)
    build(big, 8_000)
    assert big.stat().st_size > 7 * small.stat().st_size * 0.8  # the data is really there
    grown_mb = (peak_rss_kb(big) - peak_rss_kb(small)) / 1024
    assert grown_mb < 8, f"export's peak memory grew by {grown_mb:.1f} MB with the store"
