"""Every Redis key the system uses, in one place (what it holds, who writes it, how long it lives).

Redis holds only what may be lost: queues, locks, markers, counters. Every durable fact is in the
database, and a lost key is rebuilt from there (the sweeper re-enqueues, a process reloads settings).
"""
from __future__ import annotations

PREFIX = "pandawa:"

# Counters for /metrics (a hash of event name -> count).
METRICS = PREFIX + "metrics"
# Bumped on every publish of flows/texts/settings: processes reload at once (the database decides).
CONFIG_GENERATION = PREFIX + "config:generation"
# One sweeper pass at a time across all worker processes.
SWEEPER_LOCK = PREFIX + "sweeper"
# When the last sweeper pass finished without an error (unix time).
SWEEPER_LAST_PASS = PREFIX + "sweeper:last-pass"


def sweeper_thread(name: str) -> str:
    """A sweeper thread's heartbeat (expires when the thread stops beating)."""
    return f"{PREFIX}sweeper:thread:{name}"


def citizen_lock(citizen_id: int) -> str:
    """Held while a worker handles this citizen's messages (one at a time, in order)."""
    return f"{PREFIX}citizen:{citizen_id}"


def citizen_queued(citizen_id: int) -> str:
    """A job for this citizen waits in the inbound queue (at most one at a time)."""
    return f"{PREFIX}citizen-queued:{citizen_id}"


def queued(kind: str, row_id: int) -> str:
    """A job for this row (``outbound`` message, ``case``) waits in its queue: not enqueued twice."""
    return f"{PREFIX}queued:{kind}:{row_id}"


def lookup_failures(citizen_id: int) -> str:
    """Status checks that found nobody for this sender in the last hour."""
    return f"{PREFIX}lookup-failures:{citizen_id}"


def apology(citizen_id: int) -> str:
    """This citizen was just told that a message could not be handled (one apology at a time)."""
    return f"{PREFIX}apology:{citizen_id}"


def job_failures(kind: str, row_id: int) -> str:
    """Failed runs of a background job for one row, so that it is set aside instead of retried forever."""
    return f"{PREFIX}failures:{kind}:{row_id}"
