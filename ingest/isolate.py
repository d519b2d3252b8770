"""Run untrusted parsing in worker processes with a memory and a wall-clock limit.

A feed's bytes are hostile input. The parse stage defuses what we know about (DOCTYPE strip,
author and item caps: HOSTILE.md tests 13 to 17), but a parser bug we do not know about must
not take the daemon down with it (HOSTILE.md 16, 18). So the pipeline parses in a
:class:`WorkerPool`::

    value, timing = await pool.run(parse_feed, body, headers, label=url, url=url)
      wait for an idle worker       timing.queue_s  (never counted against the limit)
      send (fn, args) on a pipe     the worker runs fn under RLIMIT_AS and RLIMIT_CPU
      wait at most time_limit       timing.run_s
      -> fn's value, or the exception fn raised (a ParseError stays a ParseError)
      -> ParseError(code="parse_resource_limit") when the job ran out of memory, was killed
         at the wall-clock limit, or its worker died; that worker is replaced

Design, and why:

* **Long-lived workers, each a plain ``python -c`` subprocess with two pipes**, not
  ``ProcessPoolExecutor``: with ``max_tasks_per_child`` the executor hung the interpreter's
  exit (HOSTILE.md; CPython issues 115634 and 152967). Not ``multiprocessing`` either: its
  spawn and forkserver children re-import the parent's ``__main__`` script (the whole CLI,
  or a script without a ``__main__`` guard). A worker is one process, one thread in the
  parent owns it during a job, and :meth:`WorkerPool.close` stops idle workers, kills busy ones
  and reaps them with a deadline. Nothing joins a worker at exit (a worker whose parent is gone
  reads EOF and exits), so the exit cannot hang; an ``atexit`` hook closes forgotten pools.
* **Limits inside the worker**: ``RLIMIT_AS`` (``memory_limit``) turns an allocation bomb into
  a ``MemoryError`` in the worker, which reports it and exits (the next job gets a fresh heap);
  ``RLIMIT_CPU``, reset before each job to the CPU time used so far plus ``2 * time_limit``, is
  a backstop that ends a runaway job even when the parent is gone. The parent enforces the
  wall clock and kills the worker at ``time_limit``.
* **Queue wait is not parse time** (HOSTILE.md: with two workers and one deadline over both,
  46 healthy feeds a round were reported as timeouts). The limit starts when a worker that
  has finished starting up has the job (a new worker says when it is ready); the wait for a
  worker, its start included, is ``queue_s``. :class:`JobTiming` reports both figures and
  :class:`PoolStats` sums them.
* Workers run in their own session (a terminal's Ctrl-C is the parent's to handle) with stdout
  sent to ``/dev/null`` (a parser that prints must not corrupt ``ingest export``); stderr is
  the parent's. A stop by systemd signals the whole control group: ``KillMode=mixed`` keeps
  that SIGTERM away from a worker busy with a feed.
* This is resource isolation, not a security boundary: the worker runs as the same user and
  the parent unpickles its answers.
* **One worker per core** by default (:data:`DEFAULT_WORKERS`): since ``prepare.py`` moved
  cleaning and analysis into the workers, they use most of the CPU of a fetch.

Measured on this machine kind (2 cores, noisy; medians of 60 interleaved runs): a realistic
50-item Arabic feed of 405 KB parses in 30.6 ms in-process and in 30.2 ms inside a worker, plus
3.2 to 3.7 ms to send the body and bring the pickled ``ParsedFeed`` back (pickling 400 KB takes
0.2 to 0.3 ms, unpickling 0.6 ms; the rest is the pipe). A 4 KB feed costs 1.3 ms in-process
and 0.24 ms more through a worker; an empty job 0.06 ms. The parent's own CPU per feed drops
(it no longer parses), and two workers parse on two cores while the writer thread stores, so
every feed is parsed in a worker: no size threshold for in-process parsing (64 KB was enough
for the quadratic author bomb). End to end (``Pipeline``, 40 local feeds of 50 Arabic items, 200 KB
each, 4 alternating rounds on a machine shared with other work): 93 to 106 articles/s and 5.2 to
5.4 ms of main-process CPU per article parsing in-process; 91 to 110 articles/s and 4.9 to
5.0 ms with two workers (which spent 0.6 ms per article). A new worker (interpreter plus
``ingest.parse``) starts in 0.12 s, paid at the first parse and after each limit, never at
start-up. Limits: :func:`parse_limits`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import importlib
import logging
import os
import pickle
import queue
import resource
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from ingest.errors import ParseError

__all__ = [
    "DEFAULT_WORKERS",
    "MIN_MEMORY_LIMIT",
    "MIN_TIME_LIMIT",
    "JobTiming",
    "PoolStats",
    "WorkerPool",
    "cores",
    "parse_limits",
]

T = TypeVar("T")
log = logging.getLogger(__name__)


def cores() -> int:
    """The CPUs this process may run on (its affinity mask, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


DEFAULT_WORKERS = cores()
"""Workers: one per core. A worker prepares a whole feed (parse, clean, analyse, the paragraph
rule: about 1.1 ms of CPU per item), the main process only decides and stores (about 0.5 ms),
so the workers are where the CPU goes and each core gets one; fetching waits on the network,
not on a core."""

MIN_MEMORY_LIMIT = 512 * 1024 * 1024
"""Address space of a worker. A worker with the parser imported maps about 30 MB; parsing a
24 MB feed of 480 items peaked at 220 MB mapped (197 MB resident), a 16 MB one at 130 MB."""
MEMORY_PER_BODY_BYTE = 16
"""Above the minimum, allow this many bytes of address space per byte of the body cap."""

MIN_TIME_LIMIT = 10.0
"""Wall-clock seconds a worker gets for one feed. A 16 MB feed took 2.5 s, a 24 MB one 2.9 s
(HOSTILE.md: 50 MB took 10.4 s), so this is four times the worst feed the default cap admits."""
SECONDS_PER_MIB = 0.5
"""Above the minimum, allow this many seconds per MiB of the body cap."""

_START_TIMEOUT = 30.0
"""Seconds a new worker gets to start (interpreter and ``preload``; 0.12 s when idle)."""
_JOIN_TIMEOUT = 2.0
"""Seconds :meth:`WorkerPool.close` waits for a worker to stop before it is killed."""


def parse_limits(max_body_bytes: int) -> tuple[int, float]:
    """``(memory_limit, time_limit)`` for parsing bodies of up to ``max_body_bytes``."""
    memory = max(MIN_MEMORY_LIMIT, 256 * 1024 * 1024 + MEMORY_PER_BODY_BYTE * max_body_bytes)
    seconds = max(MIN_TIME_LIMIT, SECONDS_PER_MIB * max_body_bytes / (1024 * 1024))
    return memory, seconds


@dataclass(frozen=True, slots=True)
class JobTiming:
    """How long one job waited for a worker, and how long the worker took."""

    queue_s: float
    run_s: float


@dataclass(slots=True)
class PoolStats:
    """Counters of a pool since it was made (read them; the pool updates them)."""

    jobs: int = 0
    queue_s: float = 0.0
    run_s: float = 0.0
    max_queue_s: float = 0.0
    limited: int = 0
    """Jobs ended by a limit: out of memory, killed at the deadline, or the worker died."""
    started: int = 0
    """Worker processes started (the first ones included)."""


# --- the worker process -----------------------------------------------------------------

_BOOT = "from ingest.isolate import _worker_main; _worker_main()"


def _worker_main() -> None:
    """Entry point of a worker: ``python -c _BOOT JOBS_FD RESULTS_FD MEMORY CPU [MODULE ...]``."""
    jobs_fd, results_fd = int(sys.argv[1]), int(sys.argv[2])
    memory_limit, cpu_limit = int(sys.argv[3]), float(sys.argv[4])
    if memory_limit > 0:
        try:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
        except (OSError, ValueError) as exc:  # a seccomp filter denying @resources, say
            print(
                f"ingest parse worker: cannot set RLIMIT_AS ({exc}); only the wall-clock limit "
                "and the service's memory limit apply",
                file=sys.stderr,
            )
            cpu_limit = 0.0  # setting RLIMIT_CPU would fail the same way
    for module in sys.argv[5:]:
        importlib.import_module(module)
    results = Connection(results_fd, readable=False)
    results.send(("ready", None))  # the parent starts the clock of a job only after this
    _serve(Connection(jobs_fd, writable=False), results, cpu_limit)
    # Done: leave at once. Tearing the interpreter down (every module of the parser, the
    # caches) took 60 to 110 ms that the parent's close() waited for; nothing here needs it
    # (answers are written unbuffered, stdout is /dev/null).
    sys.stderr.flush()
    os._exit(0)


def _serve(jobs: Connection, results: Connection, cpu_limit: float) -> None:
    """The worker's loop: read ``(fn, args, kwargs)``, answer ``(kind, value)``; ``None`` stops.

    ``kind`` is ``ok`` (value is the result), ``raise`` (value is the exception) or ``memory``
    (the job hit ``RLIMIT_AS``; the worker exits after answering, so the next job gets a fresh
    heap).
    """
    while True:
        try:
            job = jobs.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if job is None:
            return
        _limit_cpu(cpu_limit)
        fn, args, kwargs = job
        answer: tuple[str, Any]
        try:
            answer = ("ok", fn(*args, **kwargs))
        except MemoryError:
            answer = ("memory", None)
        except Exception as exc:
            answer = ("raise", exc)
        del job, fn, args, kwargs
        try:
            results.send(answer)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            results.send(("raise", RuntimeError(f"unpicklable answer from the worker: {exc}")))
        except (OSError, EOFError):
            return
        if answer[0] == "memory":
            return


def _limit_cpu(cpu_limit: float) -> None:
    """Let the coming job use at most ``cpu_limit`` more CPU seconds (then SIGXCPU ends it)."""
    if cpu_limit <= 0:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime + cpu_limit) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    with contextlib.suppress(OSError, ValueError):  # a backstop: the parent has the wall clock
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


# --- the parent's side ------------------------------------------------------------------


class _Died(Exception):
    """The worker is gone: killed at the deadline, out of memory, or dead on its own."""


class _Worker:
    """One worker process and the parent's ends of its two pipes (one thread at a time)."""

    def __init__(self, memory_limit: int, cpu_limit: float, preload: Sequence[str]) -> None:
        job_r, job_w = os.pipe()
        result_r, result_w = os.pipe()
        try:
            command = [sys.executable, "-c", _BOOT, str(job_r), str(result_w)]
            command += [str(memory_limit), repr(cpu_limit), *preload]
            # Our own interpreter and module, arguments we made: no untrusted input here.
            self.process = subprocess.Popen(  # noqa: S603
                command,
                pass_fds=(job_r, result_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # a parser that prints must not corrupt our output
                env=_worker_env(),
                start_new_session=True,  # a terminal's Ctrl-C is the parent's to handle
            )
        except BaseException:
            os.close(job_w)
            os.close(result_r)
            raise
        finally:
            # Only the worker holds these now, so its death shows as EOF on ``results``.
            os.close(job_r)
            os.close(result_w)
        self.jobs = Connection(job_w, readable=False)
        self.results = Connection(result_r, writable=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float) -> None:
        """Wait for the worker's first word (its imports and limits are in place)."""
        try:
            if not self.results.poll(timeout):
                self.kill()
                raise _Died(f"the worker did not start within {timeout:g} s")
            self.results.recv()
        except (OSError, EOFError) as exc:
            raise _Died(self._death()) from exc

    def call(self, job: tuple[Any, ...], time_limit: float) -> tuple[str, Any]:
        """Send one job and wait for its answer; ``_Died`` when there is none in time."""
        try:
            self.jobs.send(job)
            if not self.results.poll(time_limit):
                self.kill()
                raise _Died(f"no answer within {time_limit:g} s; the worker was stopped")
            answer: tuple[str, Any] = self.results.recv()
        except (OSError, EOFError) as exc:
            raise _Died(self._death()) from exc
        return answer

    def _death(self) -> str:
        try:
            code = self.process.wait(_JOIN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            return "the worker stopped answering"
        if code < 0:
            return f"the worker died of {signal.Signals(-code).name}"
        return f"the worker died (exit code {code})"

    def ask_to_stop(self) -> None:
        """Tell an idle worker to exit (``reap`` then waits for it)."""
        with contextlib.suppress(OSError, EOFError):
            self.jobs.send(None)

    def reap(self, deadline: float) -> None:
        """Wait for a worker asked to stop until ``deadline`` (``time.monotonic``), then kill
        it if it is still there."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(max(0.0, deadline - time.monotonic()))
        self.kill()

    def kill(self) -> None:
        """Kill the process (if alive), reap it and close the pipes."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(_JOIN_TIMEOUT)
        self.jobs.close()
        self.results.close()


def _worker_env() -> dict[str, str]:
    """The parent's environment, with its ``sys.path`` so the worker imports the same code
    (and functions pickled by reference from any module the parent imported)."""
    paths = [path for path in sys.path if path]
    inherited = os.environ.get("PYTHONPATH")
    if inherited:
        paths.append(inherited)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


class WorkerPool:
    """A fixed number of worker processes that run picklable functions under limits.

    ``run`` (async) and ``call`` (blocking, thread-safe) queue a job until a worker is idle, then
    give it ``time_limit`` seconds. Workers start on first use and are replaced after a limit
    ended a job. ``preload`` names modules each worker imports when it starts (so the first job
    does not pay for them). Call :meth:`close` when done (it is idempotent);
    pools still open at interpreter exit are closed by an ``atexit`` hook.
    """

    def __init__(
        self,
        *,
        workers: int = DEFAULT_WORKERS,
        memory_limit: int = MIN_MEMORY_LIMIT,
        time_limit: float = MIN_TIME_LIMIT,
        preload: Sequence[str] = (),
    ) -> None:
        if workers < 1 or time_limit <= 0:
            raise ValueError("a pool needs at least one worker and a positive time limit")
        self.workers = workers
        self.memory_limit = memory_limit
        self.time_limit = time_limit
        self.stats = PoolStats()
        self.preload = tuple(preload)
        # One slot per worker; None is a slot whose worker is not running (not yet, or retired).
        self._idle: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        for _ in range(workers):
            self._idle.put(None)
        self._lock = threading.Lock()
        self._live: set[_Worker] = set()
        self._busy: set[_Worker] = set()
        self._closed = False
        self._threads = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest-isolate")
        _POOLS.add(self)

    @property
    def pids(self) -> set[int]:
        """Process ids of the live workers (tests watch them change after a kill)."""
        with self._lock:
            return {w.pid for w in self._live}

    async def run(
        self, fn: Callable[..., T], *args: Any, label: str, **kwargs: Any
    ) -> tuple[T, JobTiming]:
        """Run ``fn(*args, **kwargs)`` in a worker without blocking the event loop; see
        :meth:`call`. The queue wait counts from this call."""
        submitted = time.monotonic()
        job = functools.partial(self._call, fn, args, kwargs, label, submitted)
        return await asyncio.get_running_loop().run_in_executor(self._threads, job)

    def call(
        self, fn: Callable[..., T], *args: Any, label: str, **kwargs: Any
    ) -> tuple[T, JobTiming]:
        """Run ``fn(*args, **kwargs)`` in a worker; return its value and the job's timing.

        What ``fn`` raises is raised here. A job ended by a limit (memory, wall clock, a dead
        worker) raises ``ParseError(code="parse_resource_limit")`` naming ``label``.
        """
        return self._call(fn, args, kwargs, label, time.monotonic())

    def _call(
        self,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        label: str,
        submitted: float,
    ) -> tuple[T, JobTiming]:
        worker = self._idle.get()  # the queue wait: blocks while every worker is busy
        try:
            if self._closed:
                raise RuntimeError("the worker pool is closed")
            worker = worker or self._start(label)  # its start-up is queue wait, not job time
            started = time.monotonic()
            with self._lock:
                self._busy.add(worker)
            try:
                kind, value = worker.call((fn, args, kwargs), self.time_limit)
            except _Died as exc:
                kind, value = "died", exc
            finally:
                with self._lock:
                    self._busy.discard(worker)
            if kind in ("died", "memory"):
                self._retire(worker)
                worker = None
        finally:
            self._idle.put(worker)
        timing = self._count(submitted, started, limited=kind in ("died", "memory"))
        if kind == "ok":
            return value, timing
        if kind == "raise":
            raise value
        what = value if kind == "died" else "out of memory"
        limits = f"{self.time_limit:g} s, {self.memory_limit // (1024 * 1024)} MiB"
        raise ParseError(
            f"{label}: not parsed: {what} (worker limits: {limits})", code="parse_resource_limit"
        ) from (value if kind == "died" else None)

    def _start(self, label: str) -> _Worker:
        worker = None
        try:
            worker = _Worker(self.memory_limit, 2 * self.time_limit, self.preload)
            worker.wait_ready(_START_TIMEOUT)
        except (OSError, _Died) as exc:
            if worker is not None:
                worker.kill()
            raise ParseError(
                f"{label}: not parsed: cannot start a parse worker ({exc})",
                code="parse_resource_limit",
            ) from exc
        with self._lock:
            self._live.add(worker)
            self.stats.started += 1
        return worker

    def _retire(self, worker: _Worker) -> None:
        """Forget a worker a limit ended; its slot starts a new one on the next job."""
        worker.kill()
        with self._lock:
            self._live.discard(worker)

    def _count(self, submitted: float, started: float, *, limited: bool) -> JobTiming:
        timing = JobTiming(queue_s=started - submitted, run_s=time.monotonic() - started)
        with self._lock:
            stats = self.stats
            stats.jobs += 1
            stats.queue_s += timing.queue_s
            stats.run_s += timing.run_s
            stats.max_queue_s = max(stats.max_queue_s, timing.queue_s)
            stats.limited += limited
        return timing

    def close(self) -> None:
        """Stop idle workers, kill busy ones, end the pool's threads; safe to call twice.

        Jobs still queued are cancelled; a job that was running raises ``ParseError``.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            live, busy = list(self._live), set(self._busy)
            self._live.clear()
        idle = [worker for worker in live if worker not in busy]
        for worker in idle:  # all at once: they exit in parallel
            worker.ask_to_stop()
        for worker in live:
            if worker in busy:
                worker.kill()  # its thread wakes up on the dead worker and returns
        deadline = time.monotonic() + _JOIN_TIMEOUT
        for worker in idle:
            worker.reap(deadline)
        # Wake callers blocked on a slot: they see the pool closed and return.
        for _ in range(self.workers):
            self._idle.put(None)
        self._threads.shutdown(wait=True, cancel_futures=True)
        _POOLS.discard(self)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """Close the pools nobody closed, so no worker outlives the interpreter for long."""
    for pool in list(_POOLS):
        pool.close()
