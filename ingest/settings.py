"""Frozen settings objects: built once at the edge (``config.py``), passed to stages as arguments.

Defaults here are the documented defaults of ``config/ingest.toml``. Dedup thresholds are
named and commented with how they were measured.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

USER_AGENT = "ingest/0.1 (+https://github.com/ingest-news/ingest; Arabic news feed ingestion)"


@dataclass(frozen=True, slots=True)
class HttpSettings:
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    deadline: float = 60.0
    """Total seconds for one fetch, headers and body included: ends a trickling server."""
    max_body_bytes: int = 16 * 1024 * 1024
    """Cap on the decoded body; a larger feed fails with ``body_too_large``."""
    max_redirects: int = 5
    user_agent: str = USER_AGENT
    allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    """Non-global networks the operator explicitly allows (tests need 127.0.0.0/8)."""
    proxy: str | None = None
    max_connections: int = 20
    per_host: int = 2


@dataclass(frozen=True, slots=True)
class DedupSettings:
    # The numbers below are placeholders until measured; see dedupe.py for the measurements.
    paragraph_max_distance: int = 16
    paragraph_min_overlap: float = 0.5
    paragraph_min_tokens: int = 5
    article_max_distance: int = 6
    article_min_overlap: float = 0.5
    window_days: float = 7.0


@dataclass(frozen=True, slots=True)
class FeedSettings:
    name: str
    url: str
    enabled: bool = True
    min_interval: float | None = None
    max_interval: float | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    db: str = ""
    """Database URL; ``config.py`` fills in the documented default path."""
    http: HttpSettings = field(default_factory=HttpSettings)
    dedup: DedupSettings = field(default_factory=DedupSettings)
    feeds: tuple[FeedSettings, ...] = ()
    source: str | None = None
    """The configuration file these settings came from, if any."""
