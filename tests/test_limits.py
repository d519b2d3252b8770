"""Politeness limits of ``ingest fetch`` (ingest.limits): global, per host, none for files."""

from __future__ import annotations

import asyncio

import pytest

from ingest.limits import FetchLimits, is_local


async def holding(limits: FetchLimits, urls: list[str]) -> list[str]:
    """The URLs that get their slots while every slot taken is held (none is released)."""
    inside: list[str] = []
    release = asyncio.Event()

    async def fetch(url: str) -> None:
        async with limits.slot(url):
            inside.append(url)
            await release.wait()

    tasks = [asyncio.create_task(fetch(url)) for url in urls]
    for _ in range(20):  # let every task that can get its slots get them
        await asyncio.sleep(0)
    held = list(inside)
    release.set()
    await asyncio.gather(*tasks)
    assert sorted(inside) == sorted(urls)  # and once released, everyone got through
    return held


def test_local_files_are_not_held_back_by_the_per_host_limit() -> None:
    files = [f"file:///feeds/f{n:02d}.xml" for n in range(8)] + ["feeds/plain.xml"]
    held = asyncio.run(holding(FetchLimits(max_connections=20, per_host=2), files))
    assert held == files


def test_local_files_keep_the_global_limit() -> None:
    files = [f"file:///feeds/f{n:02d}.xml" for n in range(8)]
    held = asyncio.run(holding(FetchLimits(max_connections=3, per_host=2), files))
    assert held == files[:3]


def test_a_host_gets_at_most_per_host_fetches_at_once() -> None:
    urls = [f"https://a.example/{n}" for n in range(4)] + ["https://b.example/1"]
    urls += ["http://local/feed1", "http://local/feed2", "http://local/feed3"]
    held = asyncio.run(holding(FetchLimits(max_connections=20, per_host=2), urls))
    # a host named "local" is a host, not a file
    assert held == [*urls[:2], "https://b.example/1", "http://local/feed1", "http://local/feed2"]


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("file:///tmp/feed.xml", True),
        ("FILE:///tmp/feed.xml", True),
        ("feeds/feed.xml", True),
        ("/abs/feed.xml", True),
        ("https://example.org/feed", False),
        ("http://local/feed", False),
        ("http://[::1/feed", False),  # not a URL at all: limited like any host
    ],
)
def test_is_local(url: str, local: bool) -> None:
    assert is_local(url) is local
