"""Record what the pre-refactor code (fingerprint v1, commit 3d9a2ae) made of 2,000 corpus
articles, as digests only: no corpus text enters the repository.

Run once with the old code: ``python tests/golden/record_v1.py`` writes
``tests/golden/corpus-2000-v1.jsonl.gz``. ``tests/test_golden.py`` runs the same inputs through the
current code and compares.
"""

from __future__ import annotations

import gzip
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from golden_inputs import CORPUS, digest, golden_inputs

from ingest.boilerplate import recurring_keys
from ingest.dedupe import decide_article
from ingest.fingerprint import to_hex
from ingest.models import Candidate, Entry
from ingest.pipeline import prepare
from ingest.settings import DedupSettings


def main() -> None:
    dedup = DedupSettings()
    fetched = datetime(2018, 12, 1, tzinfo=UTC)
    out = []
    history: dict[str, list[tuple[str, ...]]] = {}
    previous: list[Candidate] = []
    for index, item in enumerate(golden_inputs(CORPUS)):
        entry = Entry(
            guid=item["id"],
            link=item["url"],
            title=item["title"],
            content=item["html"],
            summary="",
            published=None,
            author=None,
        )
        past = history.setdefault(item["group"], [])
        recurring = recurring_keys(past[:200], dedup.boilerplate_min_articles)
        article = prepare(entry, "file:///golden.xml", fetched, dedup, recurring)
        past.insert(0, article.paragraphs)
        verdict = decide_article(article.paragraphs, article.simhash, previous[-30:], dedup)
        previous.append(
            Candidate(
                id=index,
                simhash=article.simhash,
                feed_url="",
                title=article.title,
                paragraphs=article.paragraphs,
                published=None,
            )
        )
        out.append(
            {
                "id": item["id"],
                "paragraphs": digest(article.paragraphs),
                "count": len(article.paragraphs),
                "removed": [
                    [r.reason, r.position, r.duplicate_of, r.distance, r.overlap]
                    for r in article.removed
                ],
                "simhash": to_hex(article.simhash),
                "text_hash": article.text_hash[:32],
                "verdict": [verdict.kind, verdict.duplicate_of, verdict.distance, verdict.overlap],
            }
        )
    path = Path(__file__).with_name("corpus-2000-v1.jsonl.gz")
    lines = "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in out)
    path.write_bytes(gzip.compress(lines.encode("utf-8"), mtime=0))
    print(f"{path}: {len(out)} articles")


if __name__ == "__main__":
    main()
