"""Branch offices (storage.branches): adding and changing them, checked so that what is saved can run,
and finding the branch a WhatsApp number belongs to.

A number (``whatsapp:+62…``) belongs to at most one branch; a message to a number no branch owns
belongs to the default branch. A branch's regional holidays add to the national ones in config.yml.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from storage.branches import DEFAULT_CODE, Branch, BranchNumber, StaffBranch
from storage.models import InboundMessage

CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,15}$")
NAME_MAX = 128


class BranchError(ValueError):
    """What cannot be saved, in plain words (English: the CLI's operators; the console words its own)."""


@dataclass(frozen=True)
class Change:
    """A branch's new values; None leaves a value as it is."""

    name: str | None = None
    add_numbers: tuple[str, ...] = ()
    remove_numbers: tuple[str, ...] = ()
    add_holidays: tuple[str, ...] = ()
    remove_holidays: tuple[str, ...] = ()
    contact: str | None = None


def whatsapp_number(value: str) -> str:
    """``whatsapp:+E164`` from "whatsapp:+62 812-…", "+62812…" or "0812…" (Indonesian); refuses the rest."""
    raw = value.strip().removeprefix("whatsapp:").strip()
    try:
        parsed = phonenumbers.parse(raw, "ID")
    except phonenumbers.NumberParseException:
        raise BranchError(f"{value!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise BranchError(f"{value!r} is not a valid phone number")
    return "whatsapp:" + phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _holiday(value: str) -> str:
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise BranchError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def default(session) -> Branch:
    """The default branch, made when missing (a database set up without the migrations' data)."""
    branch = session.scalar(select(Branch).where(Branch.is_default.is_(True)))
    if branch is not None:
        return branch
    try:
        with session.begin_nested():
            branch = Branch(code=DEFAULT_CODE, name="Kantor utama", holidays=[], is_default=True)
            session.add(branch)
    except IntegrityError:  # made meanwhile by another process
        branch = session.scalar(select(Branch).where(Branch.is_default.is_(True)))
    return branch


def by_code(session, code: str) -> Branch | None:
    return session.scalar(select(Branch).where(Branch.code == code.strip().upper()))


def for_number(session, to: str | None) -> Branch:
    """The branch a message sent to ``to`` belongs to (the default one for a number no branch owns)."""
    if to:
        branch_id = session.scalar(select(BranchNumber.branch_id).where(BranchNumber.number == to))
        if branch_id is not None:
            return session.get(Branch, branch_id)
    return default(session)


def last_number(session, citizen_id: int) -> str | None:
    """The number the citizen last wrote to (an inbound message's To)."""
    return session.scalar(select(InboundMessage.to_number).where(InboundMessage.citizen_id == citizen_id)
                          .order_by(InboundMessage.id.desc()).limit(1))


def all_branches(session) -> list[Branch]:
    default(session)
    return list(session.scalars(select(Branch).order_by(Branch.is_default.desc(), Branch.code)))


def _numbers(session, branch: Branch | None, numbers: tuple[str, ...]) -> list[str]:
    wanted = [whatsapp_number(n) for n in numbers]
    taken = session.scalars(select(BranchNumber).where(BranchNumber.number.in_(wanted))).all()
    elsewhere = [n.number for n in taken if branch is None or n.branch_id != branch.id]
    if elsewhere:
        raise BranchError(f"already a number of another branch: {', '.join(elsewhere)}")
    return list(dict.fromkeys(wanted))


def add(session, code: str, name: str, numbers: tuple[str, ...], holidays: tuple[str, ...] = (),
        contact: str | None = None) -> Branch:
    code, name = code.strip().upper(), name.strip()
    if not CODE.match(code):
        raise BranchError("the code must be 2 to 16 capital letters, digits, - or _ (e.g. KC-SDA)")
    if not name or len(name) > NAME_MAX:
        raise BranchError(f"the name must have 1 to {NAME_MAX} characters")
    if by_code(session, code) is not None:
        raise BranchError(f"a branch {code} already exists")
    checked = _numbers(session, None, numbers)
    default(session)
    branch = Branch(code=code, name=name, holidays=sorted({_holiday(h) for h in holidays}),
                    contact=(contact or "").strip()[:256] or None, is_default=False)
    branch.numbers = [BranchNumber(number=n, position=i) for i, n in enumerate(checked)]
    session.add(branch)
    return branch


def edit(session, code: str, change: Change) -> Branch:
    branch = by_code(session, code)
    if branch is None:
        raise BranchError(f"no branch {code.strip().upper()}")
    if change.name is not None:
        if not change.name.strip() or len(change.name.strip()) > NAME_MAX:
            raise BranchError(f"the name must have 1 to {NAME_MAX} characters")
        branch.name = change.name.strip()
    removed = {whatsapp_number(n) for n in change.remove_numbers}
    kept = [n for n in branch.numbers if n.number not in removed]
    added = [n for n in _numbers(session, branch, change.add_numbers) if n not in {k.number for k in kept}]
    branch.numbers = kept + [BranchNumber(number=n) for n in added]
    for position, number in enumerate(branch.numbers):
        number.position = position
    holidays = (set(branch.holidays or []) - {_holiday(h) for h in change.remove_holidays}) | {
        _holiday(h) for h in change.add_holidays}
    branch.holidays = sorted(holidays)
    if change.contact is not None:
        branch.contact = change.contact.strip()[:256] or None
    return branch


def staff_count(session, branch_id: int) -> int:
    return session.scalar(select(func.count()).select_from(StaffBranch).where(StaffBranch.branch_id == branch_id)) or 0
