"""The article-level decision: which story an item tells (pure: facts in, a decision out).

A *story* is a set of articles; one of them is canonical (``duplicate_of`` is null), every
other one is a link record pointing at it. Two articles are *copies* (an edge between them)
when

* they have the same canonical URL (``Rule.URL``), or the same normalised text
  (``Rule.TEXT``), whatever their dates; or
* their dedup times lie within ``window_days`` of each other and the article rule holds
  (``dedupe.article_match``: fingerprints within ``article_max_distance`` bits, stem sets
  overlapping by ``article_min_overlap``; ``Rule.SIMHASH``).

Stories are the connected groups of copies. That makes them independent of the order in which
articles arrive: whichever copy comes first, the same pairs are copies and the same groups
form. An item is compared with *every* stored article (canonical or not) it could be a copy
of; when it is a copy of articles of several stories, those stories become one (``merge``),
kept under the oldest canonical article (the lowest id). An edited item is decided again with
its new text (``regroup``): a story it no longer belongs to may fall apart into several.

``Decider`` only processes data: ``pipeline.py`` reads the facts (``models.Stored``) from
the store, asks, and writes what it is told, as ``reader``'s decider and update pipeline split
the work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ingest.dedupe import article_match
from ingest.models import Edge, Kind, Rule, Stored, Verdict
from ingest.settings import DedupSettings

MAX_REGROUP = 500
"""A story with more articles than this is not split again after an edit (its groups would
cost a quadratic number of comparisons); the edited article is decided on its own instead."""

_RULE_RANK = {Rule.URL: 0, Rule.TEXT: 1, Rule.SIMHASH: 2}


class Facts(Protocol):
    """What the rule compares: ``models.Article`` and ``models.Stored`` both have it."""

    @property
    def simhash(self) -> int: ...

    @property
    def stems(self) -> frozenset[str]: ...

    @property
    def dedup_ts(self) -> int: ...

    @property
    def canonical_url(self) -> str | None: ...

    @property
    def text_hash(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict for the item, and the other stories it joins to ``verdict.duplicate_of``'s:
    each canonical article of ``merge`` becomes a copy, through the edge given with it (an edge
    of the item, so ``match_id`` is the item)."""

    verdict: Verdict
    merge: tuple[tuple[int, Edge], ...] = ()
    edge: Edge | None = None
    """The item's best edge into ``verdict.duplicate_of``'s story (``None`` for a new one)."""


@dataclass(frozen=True, slots=True)
class Group:
    """A story after an edit: its canonical article and, for every other member, the edge
    that ties it to the group (``Edge.other`` is a member)."""

    root: int
    links: tuple[tuple[int, Edge], ...] = field(default=())


def _rank(edge: Edge) -> tuple[int, int, float, int]:
    """The best edge first: exact rules, then the nearest, the largest overlap, the oldest."""
    return (_RULE_RANK[edge.rule], edge.distance, -edge.overlap, edge.other)


def link_verdict(root: int, edge: Edge, via: int | None = None) -> Verdict:
    """The verdict that makes an article a copy of story ``root`` through ``edge`` (whose
    other end is ``via`` when given: the article that joined two stories)."""
    return Verdict(
        kind=Kind.NEAR if edge.rule == Rule.SIMHASH else Kind.EXACT,
        duplicate_of=root,
        rule=edge.rule,
        distance=edge.distance,
        overlap=edge.overlap,
        match_id=edge.other if via is None else via,
    )


@dataclass(frozen=True, slots=True)
class Decider:
    """The article rule with its settings; every method is pure."""

    settings: DedupSettings

    def edge(self, item: Facts, other: Stored) -> Edge | None:
        """The edge between ``item`` and the stored ``other``, or ``None``."""
        if item.canonical_url and item.canonical_url == other.canonical_url:
            return Edge(other.id, Rule.URL, 0, 1.0)
        if item.text_hash and item.text_hash == other.text_hash:
            return Edge(other.id, Rule.TEXT, 0, 1.0)
        if abs(item.dedup_ts - other.dedup_ts) > self.settings.window_s:
            return None
        found = article_match(item.simhash, item.stems, other.simhash, other.stems, self.settings)
        if found is None:
            return None
        return Edge(other.id, Rule.SIMHASH, found[0], found[1])

    def decide(self, item: Facts, others: Iterable[Stored]) -> Decision:
        """Which story ``item`` tells, among the stored articles ``others``."""
        edges: dict[int, list[Edge]] = {}  # root -> the item's edges into that story
        for other in others:
            edge = self.edge(item, other)
            if edge is not None:
                edges.setdefault(other.root, []).append(edge)
        if not edges:
            return Decision(Verdict(Kind.NEW))
        roots = sorted(edges)
        best = min((e for found in edges.values() for e in found), key=_rank)
        merge = tuple((root, min(edges[root], key=_rank)) for root in roots[1:])
        return Decision(link_verdict(roots[0], best), merge, best)

    def regroup(self, members: Sequence[Stored]) -> list[Group]:
        """The stories ``members`` (one former story, with an edited member's new facts) make
        now: the connected groups of their copies, each under its oldest article (lowest id),
        with every other member's best edge inside its group."""
        ordered = sorted(members, key=lambda m: m.id)
        if len(ordered) > MAX_REGROUP:
            root = ordered[0].id
            return [
                Group(root, tuple((m.id, Edge(root, Rule.SIMHASH, 0, 0.0)) for m in ordered[1:]))
            ]
        parent = {m.id: m.id for m in ordered}

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        best: dict[int, Edge] = {}
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                edge = self.edge(a, b)
                if edge is None:
                    continue
                ra, rb = find(a.id), find(b.id)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
                # each member keeps its best edge; b's edge to a read the other way round
                for member, other in ((a.id, b.id), (b.id, a.id)):
                    mirrored = Edge(other, edge.rule, edge.distance, edge.overlap)
                    if member not in best or _rank(mirrored) < _rank(best[member]):
                        best[member] = mirrored
        groups: dict[int, list[int]] = {}
        for m in ordered:
            groups.setdefault(find(m.id), []).append(m.id)
        return [
            Group(root, tuple((m, best[m]) for m in ids if m != root))
            for root, ids in sorted(groups.items())
        ]
