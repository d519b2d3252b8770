"""The daemon's feed jobs with a fake timer and a scripted pipeline: order of events, never
time. The same behaviours on the real process: test_daemon.py."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ingest import reload
from ingest.feedjobs import FeedJobs
from ingest.health import Readiness
from ingest.leases import HOST_BUSY_RETRY, MAX_RETRY, retry_at
from ingest.metrics import Metrics
from ingest.models import FeedOutcome
from ingest.pipeline import Target
from ingest.settings import (
    DaemonSettings,
    FeedSettings,
    HttpSettings,
    SchedulePolicy,
    Settings,
)
from ingest.store.base import Claim

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
POLICY = SchedulePolicy(min_interval=60.0, max_interval=600.0, backoff_base=60.0, jitter=0.0)


class FakeTimer:
    def __init__(self) -> None:
        self.timers: dict[str, tuple[datetime, Callable[[], Awaitable[None]]]] = {}

    def at(self, key: str, when: datetime, callback: Callable[[], Awaitable[None]]) -> None:
        self.timers[key] = (when, callback)

    def cancel(self, key: str) -> None:
        self.timers.pop(key, None)

    async def fire(self, key: str) -> None:
        _, callback = self.timers.pop(key)
        await callback()


class FakeStore:
    def __init__(self) -> None:
        self.released: list[str] = []

    def release(self, url: str, owner: str) -> None:
        self.released.append(url)


class ScriptedPipeline:
    """Claims and runs that wait until the test lets them go on."""

    def __init__(self) -> None:
        self.store = FakeStore()
        self.claims: dict[str, asyncio.Future[Claim]] = {}
        self.runs: dict[str, asyncio.Future[FeedOutcome]] = {}
        self.started: list[str] = []

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if getattr(fn, "__name__", "") == "_claim":
            feed: FeedSettings = args[0]
            self.started.append(f"claim {feed.name}")
            future = self.claims[feed.name] = asyncio.get_running_loop().create_future()
            return await future
        return fn(*args)

    async def run(self, target: Target) -> FeedOutcome:
        self.started.append(f"run {target.name}")
        future = self.runs[target.name] = asyncio.get_running_loop().create_future()
        return await future


def settings(*names: str, max_connections: int = 10) -> Settings:
    feeds = tuple(FeedSettings(n, f"https://{n}.example/rss") for n in names)
    return Settings(
        db="sqlite:///:memory:",
        http=HttpSettings(max_connections=max_connections, per_host=10),
        daemon=DaemonSettings(schedule=POLICY),
        feeds=feeds,
    )


def make_jobs(config: Settings) -> tuple[FeedJobs, FakeTimer, ScriptedPipeline]:
    timer, pipeline = FakeTimer(), ScriptedPipeline()
    jobs = FeedJobs(
        config,
        pipeline,  # type: ignore[arg-type]
        timer,
        owner="here:1:x",
        metrics=Metrics(),
        readiness=Readiness(),
        clock=lambda: NOW,
        rng=random.Random(1),
    )
    for feed in config.feeds:
        jobs.add(feed, None, NOW)
    return jobs, timer, pipeline


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def ok(name: str) -> FeedOutcome:
    return FeedOutcome(name, f"https://{name}.example/rss", "ok", new=1, next_check=NOW)


def test_a_feed_removed_while_its_claim_waits_is_dropped_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        jobs, timer, pipeline = make_jobs(settings("a", "b"))
        await timer.fire("feed:a")
        await settle()
        assert pipeline.started == ["claim a"]
        jobs.remove("a")  # a reload removes it while the store answers the claim
        pipeline.claims["a"].set_result(Claim(False, "not_due", NOW + timedelta(seconds=5)))
        await settle()
        assert "feed:a" not in timer.timers and set(jobs.feeds) == {"b"}
        assert jobs.in_flight == 0

    with caplog.at_level(logging.DEBUG, logger="ingest"):
        asyncio.run(scenario())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_feed_removed_while_it_runs_finishes_its_run_and_stops() -> None:
    async def scenario() -> None:
        jobs, timer, pipeline = make_jobs(settings("a"))
        await timer.fire("feed:a")
        await settle()
        pipeline.claims["a"].set_result(Claim(True))
        await settle()
        jobs.remove("a")
        pipeline.runs["a"].set_result(ok("a"))
        await settle()
        assert timer.timers == {} and jobs.feeds == {}
        text = jobs.metrics.render().decode()
        assert "ingest_articles_stored_total 1.0" in text  # counted ...
        assert 'feed="a"' not in text  # ... without bringing its series back

    asyncio.run(scenario())


def test_a_feed_whose_url_changes_while_it_runs_starts_afresh_after_the_run() -> None:
    async def scenario() -> None:
        config = settings("a")
        jobs, timer, pipeline = make_jobs(config)
        await timer.fire("feed:a")
        await settle()
        pipeline.claims["a"].set_result(Claim(True))
        await settle()
        old = jobs.feeds["a"]
        jobs.change(FeedSettings("a", "https://moved.example/rss"), NOW)
        assert jobs.feeds["a"] is not old and timer.timers["feed:a"][0] == NOW
        await timer.fire("feed:a")  # the old run still goes on: fire again a little later
        assert timer.timers["feed:a"][0] > NOW and pipeline.started == ["claim a", "run a"]
        pipeline.runs["a"].set_result(ok("a"))
        await settle()
        assert old.state.articles == 1 and jobs.feeds["a"].state.articles == 0
        await timer.fire("feed:a")
        await settle()
        assert pipeline.started[-1] == "claim a"

    asyncio.run(scenario())


def test_stop_lets_runs_finish_and_cancels_the_late_ones_by_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        jobs, timer, pipeline = make_jobs(settings("a", "b", "c", max_connections=2))
        for key in ("feed:a", "feed:b", "feed:c"):
            await timer.fire(key)
        await settle()
        assert pipeline.started == ["claim a", "claim b"]  # c waits for a slot
        pipeline.claims["a"].set_result(Claim(True))
        pipeline.claims["b"].set_result(Claim(True))
        await settle()
        stopping = asyncio.ensure_future(jobs.stop(timeout=0.2))
        await settle()
        pipeline.runs["a"].set_result(ok("a"))  # finishes after the stop began
        await stopping
        assert jobs.feeds["a"].state.outcome == "ok"  # recorded, not cancelled
        assert jobs.feeds["b"].state.outcome is None
        assert pipeline.store.released == ["https://b.example/rss"]  # b's lease given back
        assert "claim c" not in pipeline.started  # c never started
        assert timer.timers == {}  # and nothing is scheduled after the stop

    with caplog.at_level(logging.INFO, logger="ingest"):
        asyncio.run(scenario())
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [(r.getMessage(), r.fields["feeds"]) for r in warnings] == [  # type: ignore[attr-defined]
        ("cancelled fetches at the stop deadline", "b")
    ]


def test_a_policy_per_feed_is_resolved_once_from_the_daemons() -> None:
    config = settings("a")
    bounded = FeedSettings("b", "https://b.example/rss", min_interval=5.0)
    jobs, _, _ = make_jobs(config)
    jobs.add(bounded, None, NOW)
    assert jobs.feeds["a"].policy is POLICY
    assert jobs.feeds["b"].policy == SchedulePolicy(
        min_interval=5.0, max_interval=600.0, backoff_base=60.0, jitter=0.0
    )


def test_retry_at_after_a_refused_claim() -> None:
    due = NOW + timedelta(seconds=100)
    not_due = retry_at("not_due", next_check=due, host_waits=0, min_interval=60, now=NOW, rand=0.5)
    assert not_due == due + timedelta(seconds=6.0)  # STANDBY of min_interval after it is due
    busy = [
        retry_at("host_busy", next_check=None, host_waits=n, min_interval=600, now=NOW, rand=0.5)
        for n in range(10)
    ]
    assert busy[0] == NOW + timedelta(seconds=HOST_BUSY_RETRY)
    assert busy == sorted(busy) and busy[-1] == NOW + timedelta(seconds=MAX_RETRY)
    leased = retry_at("leased", next_check=None, host_waits=0, min_interval=10, now=NOW, rand=0.0)
    assert leased == NOW + timedelta(seconds=5)


def test_reload_plan() -> None:
    running = settings("a", "b", "c")
    feeds = {f.name: f for f in running.feeds}
    new = settings("a", "c", "d")
    new = Settings(
        db=new.db,
        http=new.http,
        daemon=DaemonSettings(schedule=POLICY),
        feeds=(
            new.feeds[0],
            FeedSettings("c", "https://c.example/rss", enabled=False),
            new.feeds[2],
            FeedSettings("b2", "https://b2.example/rss", max_interval=60.0),
        ),
    )
    plan = reload.plan(running, feeds, new)
    assert [f.name for f in plan.added] == ["d", "b2"]
    assert plan.removed == ("b", "c")
    assert plan.changed == () and not plan.http_changed and not plan.schedule_changed
