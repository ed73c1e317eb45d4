"""Which branch office a case belongs to, and what follows from it: the calendar its SLA and its promise
use, and the number its messages go out from.

A message's branch is the number it was sent to (``To``). A number of the default branch (or one no
branch owns) is the shared, national number: there a case goes to the branch that serves the regency of
the participant's NIK (digits 1-4), when one does, else it stays with the default branch.

A branch's calendar is the national one (config.yml ``working_hours``) with its own days and hours when
it has them, and its regional holidays added to the national ones.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from sqlalchemy import select

from handlers import branches
from handlers.worktime import DAY_NAMES, WorkingCalendar, parse_day, parse_time
from storage.branches import Branch

NIK_FIELDS = ("nik", "participant_nik", "nik_peserta")  # the case fields that hold the participant's NIK
NIK = re.compile(r"^\d{16}$")


def nik_of(fields: dict | None) -> str | None:
    for key in NIK_FIELDS:
        value = str((fields or {}).get(key) or "")
        if NIK.match(value):
            return value
    return None


def for_regency(session, code: str) -> Branch | None:
    """The branch that serves this regency (at most one: handlers.branches refuses a second)."""
    for branch in session.scalars(select(Branch).where(Branch.is_default.is_(False))):
        if code in (branch.regencies or ()):
            return branch
    return None


def is_shared(branch: Branch) -> bool:
    """A number of this branch is the shared national number (its cases are routed by NIK)."""
    return branch.is_default


def for_case(session, citizen_id: int, fields: dict | None) -> Branch:
    """The branch of a new case: the number the citizen wrote to, or on the shared number the branch of
    the NIK's regency (the default branch when no branch serves it)."""
    branch = branches.for_number(session, branches.last_number(session, citizen_id))
    if not is_shared(branch):
        return branch
    nik = nik_of(fields)
    return (for_regency(session, nik[:4]) if nik else None) or branch


def for_citizen(session, citizen_id: int) -> Branch:
    """The branch of the number the citizen last wrote to (before any case says more)."""
    return branches.for_number(session, branches.last_number(session, citizen_id))


def sender(branch: Branch | None) -> str | None:
    """The number a branch's messages go out from: its main one; None: the default sender (settings)."""
    return branch.numbers[0].number if branch is not None and branch.numbers else None


# -- the branch's calendar and SLA ---------------------------------------------------------------------
def calendar(product, branch: Branch | None) -> WorkingCalendar:
    """The national calendar, with the branch's own days and hours and its regional holidays."""
    national = product.calendar
    if branch is None:
        return national
    changes: dict[str, Any] = {}
    if branch.hours:
        changes.update(weekdays=frozenset(DAY_NAMES.index(d) for d in branch.hours["days"]),
                       start=parse_time(branch.hours["start"]), end=parse_time(branch.hours["end"]))
    if branch.holidays:
        changes["holidays"] = national.holidays | {parse_day(d) for d in branch.holidays}
    return replace(national, **changes) if changes else national


def sla_hours(product, branch: Branch | None, service: str) -> float:
    own = (branch.sla_hours or {}) if branch is not None else {}
    return float(own[service]) if service in own else product.sla_hours(service)
