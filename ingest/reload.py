"""SIGHUP: read the configuration again and say what changes (``plan``, pure).

::

    read + validate (ConfigError: log every problem, keep running as before)
      -> keep the store and the health address (new ones need a restart: warn)
      -> plan: feeds added, removed, changed (by name); new HTTP settings or not

The daemon applies a plan (``Daemon.reload``): the feed table follows it at once, a feed's run
in progress finishes under the configuration it started with.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ingest.errors import ConfigError
from ingest.feedstate import store_identity
from ingest.logs import event
from ingest.settings import FeedSettings, Settings

log = logging.getLogger("ingest.daemon")


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    settings: Settings
    """What to run with from now on (the running store kept)."""
    added: tuple[FeedSettings, ...]
    removed: tuple[str, ...]
    changed: tuple[FeedSettings, ...]
    http_changed: bool
    schedule_changed: bool


def read(load: Callable[[], Settings], running: Settings) -> Settings | None:
    """The new settings, or ``None`` (each problem logged) when they are invalid."""
    try:
        new = load()
    except ConfigError as exc:
        for problem in exc.problems:
            event(log, "reload rejected", logging.ERROR, problem=problem)
        return None
    if new.db != running.db:
        event(
            log,
            "reload: a new store needs a restart; keeping the current one",
            logging.WARNING,
            db=store_identity(new.db),
            current=store_identity(running.db),
        )
        new = dataclasses.replace(new, db=running.db)
    if new.daemon.health_address != running.daemon.health_address:
        event(
            log,
            "reload: a new daemon.health_address needs a restart; keeping the current one",
            logging.WARNING,
            health_address=str(new.daemon.health_address or ""),
        )
    return new


def plan(running: Settings, feeds: Mapping[str, FeedSettings], new: Settings) -> ReloadPlan:
    """What changes from the feeds being run (by name) and ``running`` to ``new``."""
    wanted = {f.name: f for f in new.feeds if f.enabled}
    return ReloadPlan(
        settings=new,
        added=tuple(f for n, f in wanted.items() if n not in feeds),
        removed=tuple(n for n in feeds if n not in wanted),
        changed=tuple(f for n, f in wanted.items() if n in feeds and feeds[n] != f),
        http_changed=new.http != running.http,
        schedule_changed=new.daemon.schedule != running.daemon.schedule,
    )
