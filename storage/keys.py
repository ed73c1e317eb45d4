"""Every Redis key the system uses, in one place (what it holds, who writes it, how long it lives).

Redis holds only what may be lost: queues, locks, markers, counters. Every durable fact is in the
database, and a lost key is rebuilt from there (the sweeper re-enqueues, a process reloads settings).
"""
from __future__ import annotations

import hashlib

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


def login_failures(name: str, address: str | None = None) -> str:
    """Failed logins for a (lower-case) name, from one client address or from anywhere. The name is
    hashed: a password typed into the name field never lands in Redis as it was typed."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:32]
    return f"{PREFIX}login-failures:{digest}" + (f":{address}" if address else "")


def login_locked(name: str) -> str:
    """A (lower-case) name locked for a while after too many failures, known account or not."""
    return f"{PREFIX}login-locked:{hashlib.sha256(name.encode()).hexdigest()[:32]}"


def login_failures_from(address: str) -> str:
    """Failed logins from one client address, whatever the name."""
    return f"{PREFIX}login-failures-from:{address}"


def purge_day(day: str) -> str:
    """The daily purge of old personal data ran on this office date."""
    return f"{PREFIX}purge:{day}"


def search_audited(digest: str) -> str:
    """This staff member's search (an HMAC of who, what and which filters: never the term) was audited
    a moment ago; the queue's refreshes do not write it again."""
    return f"{PREFIX}search-audited:{digest}"


# Pacing of sends to Twilio (bot.pacing). ``sender`` is our own business number (``whatsapp:+…``), never
# a citizen's. Each bucket holds the earliest time (µs, Redis' clock) its next message may go; it
# expires soon after that time passes.
def pacing_sender(sender: str) -> str:
    """Every message from this sender (the text rate)."""
    return f"{PREFIX}pacing:sender:{sender}"


def pacing_media(sender: str) -> str:
    """Messages with media from this sender (the media rate, on top of the text rate)."""
    return f"{PREFIX}pacing:media:{sender}"


def pacing_bulk(sender: str) -> str:
    """Bulk notifications from this sender (their share of the sender's rate)."""
    return f"{PREFIX}pacing:bulk:{sender}"


PACING_ACCOUNT = PREFIX + "pacing:account"  # every message of the Twilio account (its ceiling)
PACING_ACCOUNT_PAUSE = PREFIX + "pacing:pause:account"  # set after Twilio's 63017: nothing goes until it expires


def pacing_pause(sender: str) -> str:
    """Set after a 429 / 63018 for this sender: nothing goes from it until the key expires."""
    return f"{PREFIX}pacing:pause:{sender}"


def pacing_reply_waiting(sender: str) -> str:
    """A reply to a citizen is waiting for this sender's next slot: bulk notifications wait (short-lived)."""
    return f"{PREFIX}pacing:reply-waiting:{sender}"
