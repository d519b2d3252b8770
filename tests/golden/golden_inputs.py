"""The 2,000 corpus articles of the golden comparison, built the way a scraper feed carries
them: the RSS summary above the body, with WordPress residue, as HTML.

Read from ``../shared/corpus`` (never copied into the repository); only digests of what the
code made of them are committed.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "ant-multisource.jsonl.gz"
PER_SOURCE = 500


def digest(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:32]


def golden_inputs(path: Path) -> Iterator[dict[str, Any]]:
    """Every 7th article of each outlet, up to ``PER_SOURCE`` each, in corpus order; every
    third gets scraper residue around it, and every fourth is followed by an edited copy (a
    dateline added, its last paragraph cut) that the article rule should link."""
    taken: dict[str, int] = {}
    seen: dict[str, int] = {}
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            source = record["source"]
            seen[source] = seen.get(source, 0) + 1
            if seen[source] % 7 or taken.get(source, 0) >= PER_SOURCE:
                continue
            taken[source] = taken.get(source, 0) + 1
            paragraphs = [p for p in (record.get("body") or "").split("\n") if p.strip()]
            if record.get("summary"):
                paragraphs.insert(0, record["summary"])
            if taken[source] % 3 == 0:
                paragraphs = ["[ad_1]", *paragraphs, "[ad_2]", "المصدر"]
            body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
            item = {
                "id": record["id"],
                "group": f"{source}/{record['category']}",
                "url": record.get("url"),
                "title": record.get("title") or "",
                "html": body,
            }
            yield item
            if taken[source] % 4 == 0 and len(paragraphs) >= 3:
                edited = ["القاهرة - وكالات:", *paragraphs[:-1]]
                yield {
                    **item,
                    "id": f"{record['id']}#copy",
                    "group": "copies",
                    "url": None,
                    "title": f"عاجل: {item['title']}",
                    "html": "".join(f"<p>{html.escape(p)}</p>" for p in edited),
                }
