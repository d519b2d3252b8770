"""Leases: how daemons sharing a store share the feeds.

A daemon fetches a feed only after ``Store.claim`` gave it the feed's lease (the feed is due,
no live lease is held by another daemon, and its host is not already fetched from ``per_host``
times). The commit that stores the feed's items releases the lease. When the claim is refused,
``retry_at`` says when to ask again; it reads no clock and no randomness of its own.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from ingest.settings import Settings

STANDBY = 0.1
"""A daemon that finds a feed not due yet (another daemon fetched it) asks again this fraction of
``min_interval`` after it falls due (at most 30 s; at random between half and one and a half
times that). The daemon that fetched the feed asks first, at the due time itself, and keeps it:
the daemons do not all claim every due feed at the same moment (all but one finding it leased,
then asking again), and a feed passes to another daemon only when its own is late or dead."""
HOST_BUSY_RETRY = 0.25
"""Seconds before asking again for a feed whose host other daemons are fetching from (``per_host``
across daemons), doubled per refusal in a row up to the retry of a leased feed. A fetch usually
takes well under a second, so retrying at a fraction of ``min_interval`` made such feeds late by
that much; a host that stays busy (a slow server) is asked less and less often."""
LEASE_MARGIN = 120.0
"""Seconds a lease outlasts the fetch deadline unless ``[daemon] lease_seconds`` says: time to
parse and store the feed after the fetch."""
MAX_RETRY = 30.0
"""Seconds: a refused claim is asked again within this (or ``min_interval`` when shorter)."""


def lease_seconds(settings: Settings) -> float:
    """How long a claim on a feed lasts (``[daemon] lease_seconds``, else deadline + margin)."""
    given = settings.daemon.lease_seconds
    return given if given is not None else settings.http.deadline + LEASE_MARGIN


def owner_id() -> str:
    """This daemon's name in leases and /status: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def dead_here(owner: str) -> bool:
    """Whether lease holder ``owner`` (see ``owner_id``) is a daemon of this host that is gone:
    its pid does not run, or is ours (a restart that got the same pid, as in a container)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def retry_at(
    reason: str,
    *,
    next_check: datetime | None,
    host_waits: int,
    min_interval: float,
    now: datetime,
    rand: float,
) -> datetime:
    """When to ask again for a feed whose claim was refused for ``reason`` (``not_due``,
    ``host_busy``, ``leased``); ``host_waits`` counts ``host_busy`` refusals in a row before
    this one, ``rand`` is in [0, 1)."""
    base = min(min_interval, MAX_RETRY)
    spread = 0.5 + rand
    if reason == "not_due" and next_check is not None:
        standby = min(STANDBY * min_interval, MAX_RETRY)
        return next_check + timedelta(seconds=standby * spread)
    if reason == "host_busy":  # another daemon fetches from the host: soon free again
        delay = min(base, HOST_BUSY_RETRY * 2.0 ** min(host_waits, 16))
        return now + timedelta(seconds=delay * spread)
    # Leased elsewhere: its holder writes the next check; look again soon, spread out.
    return now + timedelta(seconds=base * spread)
