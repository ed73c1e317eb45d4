"""Telling faults apart: the infrastructure being briefly away (retry later, nothing is wrong with the
work) versus the work itself failing (count it, and set it aside after a few attempts).

``describe`` gives a reason supervisors can read and act on, without personal data: the kind of
error and where in our code it happened, never the exception's message (it may quote a citizen's
text), except for the database's own, fixed descriptions (e.g. "value too long for type …").
"""
from __future__ import annotations

import traceback
from pathlib import Path

from redis.exceptions import RedisError
from rq.timeouts import JobTimeoutException
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

ROOT = Path(__file__).resolve().parent.parent
# The database or Redis is unreachable, a connection broke, or the job ran out of time: not the
# work's fault, the same work will succeed later.
TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout, RedisError, JobTimeoutException)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT)


def _where(exc: BaseException) -> str:
    """The innermost frame in our own code, as path:line."""
    place = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename)
        if ROOT in path.parents and ".venv" not in path.parts:
            place = f"{path.relative_to(ROOT)}:{frame.lineno}"
    return place


def describe(exc: BaseException) -> str:
    """``KeyError at flows/engine.py:88``; for the database, its own description of the fault."""
    reason = type(exc).__name__
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        diag = getattr(getattr(exc.orig, "diag", None), "message_primary", None)
        reason = f"{type(exc.orig).__name__}: {diag}" if diag else type(exc.orig).__name__
    where = _where(exc)
    return (f"{reason} at {where}" if where else reason)[:256]
