"""The next-check function, with time passed in: no sleeping, no wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.schedule import (
    FetchResult,
    SchedulePolicy,
    backoff,
    max_age,
    next_check_at,
    publish_interval,
    retry_after,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
POLICY = SchedulePolicy(
    min_interval=300, max_interval=6 * 3600, backoff_base=300, jitter=0.1, hint_cap=86400
)
NO_JITTER = SchedulePolicy(min_interval=300, max_interval=6 * 3600, backoff_base=300, jitter=0.0)


def wait(result: FetchResult, rand: float = 0.0, policy: SchedulePolicy = NO_JITTER) -> float:
    return (next_check_at(result, NOW, rand, policy) - NOW).total_seconds()


def test_adapts_to_publishing_rate() -> None:
    hourly = [NOW - timedelta(hours=h) for h in range(10)]
    assert publish_interval(hourly) == 3600
    assert wait(FetchResult("ok", publish_interval=3600)) == 1800  # twice per gap


def test_min_and_max_clamps() -> None:
    assert wait(FetchResult("ok", publish_interval=60)) == 300
    assert wait(FetchResult("ok", publish_interval=7 * 86400)) == 6 * 3600
    assert wait(FetchResult("ok")) == 600  # no rate known


def test_publish_interval_needs_enough_dates() -> None:
    assert publish_interval([NOW]) is None
    assert publish_interval([NOW, NOW - timedelta(hours=1)]) is None
    assert publish_interval([NOW, NOW, NOW]) is None  # no positive gaps


def test_ttl_is_a_floor() -> None:
    assert wait(FetchResult("ok", publish_interval=600, ttl_seconds=3600)) == 3600
    assert wait(FetchResult("ok", publish_interval=4 * 3600, ttl_seconds=60)) == 2 * 3600


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"cache-control": "public, max-age=7200"}, 7200),
        ({"cache-control": "s-maxage=5000, max-age=100"}, 5000),
        ({"expires": "Sun, 29 Nov 2026 14:00:00 GMT"}, 7200),
        ({"expires": "garbage"}, 300),
        ({"cache-control": "max-age=100", "expires": "Sun, 29 Nov 2026 14:00:00 GMT"}, 300),
        ({"retry-after": "3600"}, 3600),
        ({"retry-after": "Sun, 29 Nov 2026 13:00:00 GMT"}, 3600),
        ({"retry-after": "-5"}, 300),
        ({"retry-after": "nan"}, 300),
        ({"retry-after": str(30 * 86400)}, 86400),  # capped: a server cannot switch us off
    ],
)
def test_server_hints_are_floors(headers: dict[str, str], expected: float) -> None:
    assert wait(FetchResult("ok", publish_interval=600, headers=headers)) == expected


def test_backoff_doubles_and_caps_and_never_gives_up() -> None:
    waits = [wait(FetchResult("error", consecutive_failures=n)) for n in range(1, 12)]
    assert waits[:5] == [300, 600, 1200, 2400, 4800]
    assert waits[-1] == 6 * 3600
    assert all(w == 6 * 3600 for w in waits[7:])
    assert backoff(10_000, NO_JITTER) == 6 * 3600


def test_retry_after_on_error_overrides_backoff() -> None:
    result = FetchResult(
        "error", consecutive_failures=1, http_status=429, headers={"retry-after": "7200"}
    )
    assert wait(result) == 7200
    result = FetchResult(
        "error", consecutive_failures=1, http_status=503, headers={"retry-after": "10"}
    )
    assert wait(result) == 300  # the back-off is longer than what the server asked


def test_jitter_bounds() -> None:
    result = FetchResult("ok", publish_interval=3600)
    waits = [wait(result, rand=r / 100, policy=POLICY) for r in range(100)]
    assert min(waits) == 1800
    assert max(waits) < 1800 * 1.1
    assert len(set(waits)) == 100
    # Jitter only ever delays, so a server's floor still holds.
    floor = FetchResult("ok", publish_interval=60, headers={"retry-after": "900"})
    assert all(wait(floor, rand=r / 10, policy=POLICY) >= 900 for r in range(10))
    assert wait(result, rand=5.0, policy=POLICY) == pytest.approx(1800 * 1.1)  # rand clamped


def test_header_parsers() -> None:
    assert max_age(None) is None and max_age("no-store") is None
    assert max_age('max-age="120"') == 120
    assert retry_after(None, NOW) is None
    assert retry_after("Sun, 29 Nov 2026 11:00:00 GMT", NOW) == 0.0  # in the past
    assert retry_after("Sunday", NOW) is None
