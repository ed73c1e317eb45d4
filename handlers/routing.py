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
from datetime import datetime
from typing import Any

from sqlalchemy import select

from handlers import branches
from handlers.notify import in_window
from handlers.registry import LocalRegistry
from handlers.worktime import DAY_NAMES, WorkingCalendar, parse_day, parse_time
from storage.branches import Branch

NIK_FIELDS = ("nik", "participant", "participant_nik")  # case fields that may hold the participant's NIK
CARD_FIELDS = ("card_number", "participant")            # … or their card number (the registry knows its NIK)
CARD = re.compile(r"^\d{13}$")
PLACE_NOISE = frozenset({"kc", "kantor", "cabang", "kabupaten", "kab", "kota", "kot", "di", "bpjs", "kesehatan"})
NIK = re.compile(r"^\d{16}$")


def nik_of(session, fields: dict | None) -> str | None:
    """The participant's NIK: typed in the request, or the registry's for the card number typed."""
    fields = fields or {}
    for key in NIK_FIELDS:
        value = str(fields.get(key) or "")
        if NIK.match(value):
            return value
    for key in CARD_FIELDS:
        value = str(fields.get(key) or "")
        if CARD.match(value):
            member = LocalRegistry(session).by_card(value)
            if member is not None and member.nik and NIK.match(member.nik):
                return member.nik
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


def _known(session, citizen_id: int, fields: dict | None) -> Branch | None:
    """The branch the number written to names, or on the shared number the NIK's regency; None when
    neither does (the shared number, and a NIK no branch serves, or none)."""
    branch = for_citizen(session, citizen_id)
    if not is_shared(branch):
        return branch
    nik = nik_of(session, fields)
    return for_regency(session, nik[:4]) if nik else None


def for_case(session, citizen_id: int, fields: dict | None, chosen: str | None = None) -> Branch:
    """The branch of a new case: the number the citizen wrote to; on the shared number the branch of the
    NIK's regency, else the one the citizen chose (handlers.actions.choose_branch), else the default one."""
    return (_known(session, citizen_id, fields) or (branches.by_code(session, chosen) if chosen else None)
            or branches.default(session))


def needs_choice(session, citizen_id: int, fields: dict | None) -> bool:
    """On the shared number, when the NIK names no branch and there are branches to choose from."""
    return _known(session, citizen_id, fields) is None and session.scalar(
        select(Branch.id).where(Branch.is_default.is_(False)).limit(1)) is not None


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in PLACE_NOISE and len(w) >= 3}


def by_place(session, place: str) -> list[Branch]:
    """The branches that best fit what the citizen typed ("sidoarjo", "Kab. Bogor", "Jakarta Selatan"):
    those sharing the most words with its name or code — one, or several on a real tie (none: []).
    A branch named exactly what was typed wins outright."""
    said = _words(place)
    if not said:
        return []
    scored = []
    for branch in session.scalars(select(Branch).where(Branch.is_default.is_(False)).order_by(Branch.code)):
        words = _words(branch.name) | _words(branch.code.replace("-", " "))
        if said & words:
            scored.append((len(said & words) + (len(said) if said == _words(branch.name) else 0), branch))
    best = max((score for score, _ in scored), default=0)
    return [branch for score, branch in scored if score == best]


def for_citizen(session, citizen_id: int) -> Branch:
    """The branch of the number the citizen last wrote to (before any case says more)."""
    return branches.for_number(session, branches.last_number(session, citizen_id))


def sender_for_case(session, case, now: datetime) -> str | None:
    """The number a case's messages go out from. While the citizen is inside WhatsApp's 24-hour window
    of the number they write to (or when the case's branch has no number of its own), that number: the
    conversation goes on where the citizen is, in free text. Outside it a template is needed anyway: the
    branch's own main number. None: the default sender."""
    last_to = branches.last_number(session, case.citizen_id) if case.citizen_id else None
    own = [n.number for n in case.branch.numbers] if case.branch is not None else []
    if last_to in own or not own:
        return last_to
    if case.citizen is not None and in_window(case.citizen, now):
        return last_to
    return own[0]


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
