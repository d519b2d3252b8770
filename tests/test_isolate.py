"""Parse isolation (HOSTILE.md 16, 18): worker processes with memory and wall-clock limits.

A job that blows a limit becomes ``ParseError(code="parse_resource_limit")``, its worker is
replaced and the parent's memory does not move; queue wait is not counted against the limit;
a process using a pool always exits, even when it never closes the pool or is killed.
"""

from __future__ import annotations

import asyncio
import io
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.errors import ParseError
from ingest.isolate import MIN_MEMORY_LIMIT, WorkerPool, parse_limits
from ingest.parse import parse_feed

MIB = 1024 * 1024
FEED = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
    b"<item><title>\xd8\xae\xd8\xa8\xd8\xb1</title><guid>g1</guid><link>https://a.example/1</link>"
    b"<description>&lt;p&gt;text&lt;/p&gt;</description></item></channel></rss>"
)


def feedparser_entries(data: bytes) -> int:
    """feedparser on raw bytes, without the parse stage's pre-filters: the test-only way to
    hand a worker a bomb the DOCTYPE strip and author caps would have defused."""
    import feedparser

    return len(feedparser.parse(io.BytesIO(data)).entries)


def spin(seconds: float) -> int:
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


def quadratic_bomb(entity_chars: int, references: int) -> bytes:
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n'
        f'<!ENTITY e "{"x" * entity_chars}">\n]>\n'
        '<rss version="2.0"><channel><title>q</title><item><title>t</title>'
        f"<description>{'&e;' * references}</description></item></channel></rss>"
    ).encode()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def wait_dead(pid: int, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(workers=1, memory_limit=256 * MIB, time_limit=2.0) as p:
        yield p


def test_a_feed_parses_in_a_worker_exactly_as_in_process(pool: WorkerPool) -> None:
    parsed, _ = pool.call(parse_feed, FEED, {}, url="u", label="u")
    assert parsed == parse_feed(FEED, {}, url="u")
    assert parsed.entries[0].title == "خبر"
    assert pool.stats.jobs == 1 and pool.stats.limited == 0


def test_errors_of_the_job_come_back_as_they_were(pool: WorkerPool) -> None:
    with pytest.raises(ParseError) as caught:
        pool.call(parse_feed, b"<html><body>hi</body></html>", {}, url="https://x/", label="x")
    assert caught.value.code == "not_a_feed" and "https://x/" in caught.value.message
    with pytest.raises(TypeError, match="bytes"):
        pool.call(parse_feed, "a str body", {}, url="u", label="u")
    pid = next(iter(pool.pids))
    assert pool.call(os.getpid, label="x")[0] == pid  # an ordinary error keeps the worker


def test_the_wall_clock_limit_kills_and_replaces_the_worker(pool: WorkerPool) -> None:
    pool.time_limit = 0.3
    first = pool.call(os.getpid, label="x")[0]
    with pytest.raises(ParseError) as caught:
        pool.call(spin, 30, label="https://slow.example/rss")  # 30 s of work, a 0.3 s limit
    assert caught.value.code == "parse_resource_limit"
    assert "https://slow.example/rss" in caught.value.message and "0.3 s" in caught.value.message
    assert wait_dead(first)
    second = pool.call(os.getpid, label="x")[0]
    assert second != first and pool.stats.limited == 1 and pool.stats.started == 2


def test_an_allocation_bomb_hits_the_memory_limit_not_the_parent(pool: WorkerPool) -> None:
    first = pool.call(os.getpid, label="x")[0]
    parent_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    with pytest.raises(ParseError) as caught:
        pool.call(bytearray, 2 * 1024 * MIB, label="bomb")
    assert caught.value.code == "parse_resource_limit" and "out of memory" in caught.value.message
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - parent_peak < 20 * 1024
    assert wait_dead(first)
    assert pool.call(parse_feed, FEED, {}, url="u", label="u")[0].entries


def test_a_worker_that_dies_is_replaced(pool: WorkerPool) -> None:
    first = pool.call(os.getpid, label="x")[0]
    with pytest.raises(ParseError, match="SIGKILL") as caught:
        pool.call(os.kill, first, signal.SIGKILL, label="suicide")
    assert caught.value.code == "parse_resource_limit"
    with pytest.raises(ParseError, match="exit code 3"):
        pool.call(os._exit, 3, label="exit")
    assert pool.call(os.getpid, label="x")[0] not in (first,)


def test_hostile_16_bombs_that_bypass_the_prefilter_die_inside_the_limits() -> None:
    """The quadratic entity bomb (24.7 s and 1.49 GB unmitigated) and the 64 KB author
    (14 s) handed to feedparser directly; then a good feed parses on the replaced worker."""
    author = "a@" + "a." * 32_000 + "!"
    redos = f'<rss version="2.0"><channel><item><author>{author}</author></item></channel></rss>'
    with WorkerPool(workers=1, memory_limit=MIN_MEMORY_LIMIT, time_limit=1.0) as pool:
        parent_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for bomb in (quadratic_bomb(50_000, 10_000), redos.encode()):
            with pytest.raises(ParseError) as caught:
                pool.call(feedparser_entries, bomb, label="bomb")
            assert caught.value.code == "parse_resource_limit"
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - parent_peak < 20 * 1024
        assert pool.stats.limited == 2
        assert pool.call(parse_feed, FEED, {}, url="u", label="u")[0].entries


def test_hostile_18_the_largest_feed_the_fetcher_admits_parses_within_the_default_limits() -> None:
    items = "".join(
        f"<item><guid>g{i}</guid><title>t{i}</title><description>{'ب' * 16_800}</description></item>"
        for i in range(480)
    )
    body = f'<rss version="2.0"><channel><title>big</title>{items}</channel></rss>'.encode()
    assert 15 * MIB < len(body) <= 16 * MIB  # the default http.max_body_bytes
    memory, seconds = parse_limits(16 * MIB)
    assert (memory, seconds) == (512 * MIB, 10.0)
    with WorkerPool(workers=1, memory_limit=memory, time_limit=seconds) as pool:
        parsed, _ = pool.call(parse_feed, body, {}, url="u", label="u")
        assert pool.stats.limited == 0
    assert len(parsed.entries) == 480  # its margin under the limits: bench/bench_timing.py


def test_queue_wait_is_not_counted_against_the_limit() -> None:
    """One worker, a 0.5 s limit and three 0.3 s jobs at once: the last waits 0.6 s for the
    worker, more than the limit, and still succeeds."""

    async def three() -> tuple[int, int, int]:
        with WorkerPool(workers=1, time_limit=0.5) as pool:
            await pool.run(os.getpid, label="warm-up")
            jobs = [pool.run(time.sleep, 0.3, label=f"job {i}") for i in range(3)]
            await asyncio.gather(*jobs)  # none raises
            return pool.stats.jobs, pool.stats.limited, pool.stats.started

    jobs, limited, started = asyncio.run(three())
    # One after the other on the one worker: none killed, the worker never replaced.
    assert (jobs, limited, started) == (4, 0, 1)


def test_a_workers_start_up_is_not_counted_against_the_limit() -> None:
    """Importing the parser takes a new worker about 0.1 s (more on a busy machine), longer
    than this pool's limit: that is queue wait, not job time, and the job succeeds."""
    with WorkerPool(workers=1, time_limit=0.05, preload=("ingest.parse",)) as pool:
        pid, _ = pool.call(os.getpid, label="x")
        assert pid in pool.pids and pool.stats.limited == 0


def meet(mine: str, other: str, seconds: float) -> bool:
    """Leave ``mine`` and wait for ``other`` to appear: True only when another job runs at the
    same time (one after the other, the first would wait in vain)."""
    Path(mine).touch()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if Path(other).exists():
            return True
        time.sleep(0.01)
    return False


def test_workers_run_concurrently(tmp_path: Path) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")

    async def two() -> list[bool]:
        with WorkerPool(workers=2, time_limit=20) as pool:
            jobs = [pool.run(meet, a, b, 15, label="a"), pool.run(meet, b, a, 15, label="b")]
            return [met for met, _ in await asyncio.gather(*jobs)]

    assert asyncio.run(two()) == [True, True]


def test_a_worker_prints_nothing_on_our_stdout(
    pool: WorkerPool, capfd: pytest.CaptureFixture[str]
) -> None:
    pool.call(print, "leaked by a worker", label="x")
    assert "leaked" not in capfd.readouterr().out


def test_close_kills_a_busy_worker_and_is_idempotent() -> None:
    pool = WorkerPool(workers=1, time_limit=60)
    pid = pool.call(os.getpid, label="x")[0]

    async def busy_then_close() -> BaseException | None:
        job = asyncio.ensure_future(pool.run(spin, 60, label="busy"))
        await asyncio.sleep(0.3)
        await asyncio.get_running_loop().run_in_executor(None, pool.close)  # not after 60 s
        try:
            await job
        except BaseException as exc:  # ParseError, or the cancellation of a queued job
            return exc
        return None

    error = asyncio.run(busy_then_close())
    assert isinstance(error, ParseError | asyncio.CancelledError)
    assert wait_dead(pid)
    pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        pool.call(os.getpid, label="x")


_SCRIPT = """
import os, sys, threading, time
from ingest.isolate import WorkerPool
{body}
"""


def _python(body: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _SCRIPT.format(body=textwrap.dedent(body))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_process_that_never_closes_its_pool_still_exits_promptly() -> None:
    """HOSTILE.md: a pool hung a daemon's exit for over 60 s after a clean shutdown. Here the
    process leaves a busy worker and an idle one behind, unclosed: it must really exit."""
    proc = _python(
        """
        pool = WorkerPool(workers=2, time_limit=60)
        print(pool.call(os.getpid, label="x")[0], flush=True)
        threading.Thread(target=pool.call, args=(time.sleep, 60), kwargs={"label": "busy"},
                         daemon=True).start()
        time.sleep(0.3)
        print(" ".join(map(str, pool.pids)), flush=True)
        """
    )
    try:
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    pids = [int(p) for p in out.split()]
    assert len(set(pids)) == 2
    assert all(wait_dead(pid) for pid in pids)


def test_workers_of_a_killed_parent_exit_on_their_own() -> None:
    proc = _python(
        """
        pool = WorkerPool(workers=1)
        print(pool.call(os.getpid, label="x")[0], flush=True)
        time.sleep(60)
        """
    )
    try:
        assert proc.stdout is not None
        pid = int(proc.stdout.readline())
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        assert wait_dead(pid)
    finally:
        proc.kill()
        proc.communicate()


def test_a_runaway_job_of_an_orphaned_worker_is_ended_by_its_cpu_limit() -> None:
    """The parent (which enforces the wall clock) is killed mid-job: RLIMIT_CPU, set to the
    worker's CPU time so far plus twice the limit, still ends the job."""
    proc = _python(
        """
        pool = WorkerPool(workers=1, time_limit=0.2)
        print(pool.call(os.getpid, label="x")[0], flush=True)
        threading.Thread(target=pool.call, args=(sum, range(10**12)), kwargs={"label": "spin"},
                         daemon=True).start()
        time.sleep(60)
        """
    )
    try:
        assert proc.stdout is not None
        pid = int(proc.stdout.readline())
        time.sleep(0.1)  # the job is running
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        assert alive(pid)  # orphaned, still spinning
        assert wait_dead(pid, timeout=20)
    finally:
        proc.kill()
        proc.communicate()


def test_one_worker_per_core_by_default() -> None:
    from ingest import isolate

    assert isolate.cores() == len(os.sched_getaffinity(0))
    assert isolate.cores() == isolate.DEFAULT_WORKERS
    with WorkerPool() as pool:
        assert pool.workers == isolate.cores()
        assert pool.call(os.getpid, label="pid")[0] != os.getpid()  # it runs in a worker


def test_close_stops_idle_workers_together_and_they_exit() -> None:
    pool = WorkerPool(workers=2, time_limit=60)
    processes = []
    try:
        for _ in range(2):  # both workers started: two jobs at once
            pool.call(os.getpid, label="pid")
        with pool._lock:
            processes = [w.process for w in pool._live]
    finally:
        pool.close()
    assert processes
    # each worker left on being asked (exit code 0), none had to be killed
    assert [p.returncode for p in processes] == [0] * len(processes)
