"""Branch offices (storage.branches): adding and changing them, checked so that what is saved can run,
and finding the branch a WhatsApp number belongs to.

A number (``whatsapp:+62…``) belongs to at most one branch; a message to a number no branch owns
belongs to the default branch. A branch's regional holidays add to the national ones in config.yml.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from handlers.validators import PROVINCES
from handlers.worktime import DAY_NAMES, parse_time
from storage.branches import DEFAULT_CODE, Branch, BranchNumber, StaffBranch
from storage.config_versions import ConfigVersion, VersionStatus
from storage.models import InboundMessage, utcnow
from storage.staff import Role

CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,15}$")
REGENCY = re.compile(r"^\d{4}$")
NAME_MAX = 128


class BranchError(ValueError):
    """What cannot be saved, in plain Indonesian (the CLI and the console show it as it is)."""


@dataclass(frozen=True)
class Change:
    """A branch's new values; None leaves a value as it is."""

    name: str | None = None
    add_numbers: tuple[str, ...] = ()
    remove_numbers: tuple[str, ...] = ()
    add_holidays: tuple[str, ...] = ()
    remove_holidays: tuple[str, ...] = ()
    contact: str | None = None
    add_regencies: tuple[str, ...] = ()
    remove_regencies: tuple[str, ...] = ()
    hours: dict[str, Any] | None = None      # {} goes back to the national hours
    sla_hours: dict[str, Any] | None = None  # {} goes back to the national SLA targets


def whatsapp_number(value: str) -> str:
    """``whatsapp:+E164`` from "whatsapp:+62 812-…", "+62812…" or "0812…" (Indonesian); refuses the rest."""
    raw = value.strip().removeprefix("whatsapp:").strip()
    try:
        parsed = phonenumbers.parse(raw, "ID")
    except phonenumbers.NumberParseException:
        raise BranchError(f"{value!r} bukan nomor telepon") from None
    if not phonenumbers.is_valid_number(parsed):
        raise BranchError(f"{value!r} bukan nomor telepon yang sah")
    return "whatsapp:" + phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _holiday(value: str) -> str:
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise BranchError(f"{value!r} bukan tanggal (tulis TTTT-BB-HH, mis. 2026-12-24)") from None


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
    """The branch of this code (any case); None for an unknown one, or for what no code can be."""
    code = str(code or "").strip().upper()
    return session.scalar(select(Branch).where(Branch.code == code)) if CODE.match(code) else None


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


def _numbers(session, branch: Branch | None, numbers: tuple[str, ...], reserved: tuple[str, ...] = ()) -> list[str]:
    """Checked numbers; ``reserved``: the install's default sender (settings), the shared number only the
    default branch may own."""
    wanted = [whatsapp_number(n) for n in numbers]
    shared = sorted(set(wanted) & {n for n in reserved if n})
    if shared and (branch is None or not branch.is_default):
        raise BranchError(f"{', '.join(shared)} adalah nomor bersama (TWILIO_WHATSAPP_NUMBER): "
                          "hanya milik kantor cabang utama")
    taken = session.scalars(select(BranchNumber).where(BranchNumber.number.in_(wanted))).all()
    elsewhere = [n.number for n in taken if branch is None or n.branch_id != branch.id]
    if elsewhere:
        raise BranchError(f"sudah menjadi nomor kantor cabang lain: {', '.join(elsewhere)}")
    return list(dict.fromkeys(wanted))


def _regencies(session, branch: Branch | None, codes) -> list[str]:
    """Checked regency codes; each is served by one branch only, never the default one (its numbers are
    the shared one: a regency names the branch a case on it goes to)."""
    wanted = sorted({regency(c) for c in codes})
    if wanted and branch is not None and branch.is_default:
        raise BranchError("kantor cabang utama melayani nomor bersama: kabupaten/kota diberikan ke kantor cabang lain")
    for other in session.scalars(select(Branch)):
        if branch is not None and other.id == branch.id:
            continue
        served = sorted(set(wanted) & set(other.regencies or ()))
        if served:
            raise BranchError(f"kabupaten/kota {', '.join(served)} sudah dilayani kantor cabang {other.code}")
    return wanted


def add(session, code: str, name: str, numbers: tuple[str, ...], holidays: tuple[str, ...] = (),
        contact: str | None = None, regencies: tuple[str, ...] = (), hours: dict[str, Any] | None = None,
        sla_hours: dict[str, Any] | None = None, services: tuple[str, ...] = (),
        reserved: tuple[str, ...] = ()) -> Branch:
    """A new branch. ``services``: the services an SLA target may name; ``reserved``: numbers only the
    default branch may own (the settings' default sender)."""
    code, name = code.strip().upper(), name.strip()
    if not CODE.match(code):
        raise BranchError("kode harus 2 sampai 16 huruf kapital, angka, - atau _ (mis. KC-SDA)")
    if not name or len(name) > NAME_MAX:
        raise BranchError(f"nama harus 1 sampai {NAME_MAX} karakter")
    if by_code(session, code) is not None:
        raise BranchError(f"kantor cabang {code} sudah ada")
    checked = _numbers(session, None, numbers, reserved)
    default(session)
    branch = Branch(code=code, name=name, holidays=sorted({_holiday(h) for h in holidays}),
                    contact=(contact or "").strip()[:256] or None, is_default=False,
                    regencies=_regencies(session, None, regencies), hours=check_hours(hours),
                    sla_hours=check_sla(sla_hours, services))
    branch.numbers = [BranchNumber(number=n, position=i) for i, n in enumerate(checked)]
    session.add(branch)
    return branch


def edit(session, code: str, change: Change, services: tuple[str, ...] = (), reserved: tuple[str, ...] = ()) -> Branch:
    default(session)
    branch = by_code(session, code)
    if branch is None:
        raise BranchError(f"tidak ada kantor cabang {code.strip().upper()}")
    if change.name is not None:
        if not change.name.strip() or len(change.name.strip()) > NAME_MAX:
            raise BranchError(f"nama harus 1 sampai {NAME_MAX} karakter")
        branch.name = change.name.strip()
    removed = {whatsapp_number(n) for n in change.remove_numbers}
    kept = [n for n in branch.numbers if n.number not in removed]
    added = [n for n in _numbers(session, branch, change.add_numbers, reserved) if n not in {k.number for k in kept}]
    branch.numbers = kept + [BranchNumber(number=n) for n in added]
    for position, number in enumerate(branch.numbers):
        number.position = position
    holidays = (set(branch.holidays or []) - {_holiday(h) for h in change.remove_holidays}) | {
        _holiday(h) for h in change.add_holidays}
    branch.holidays = sorted(holidays)
    if change.contact is not None:
        branch.contact = change.contact.strip()[:256] or None
    if change.add_regencies or change.remove_regencies:
        removed = {regency(c) for c in change.remove_regencies}
        kept = set(branch.regencies or ()) - removed
        branch.regencies = sorted(kept | set(_regencies(session, branch, change.add_regencies)))
    if change.hours is not None:
        branch.hours = check_hours(change.hours)
    if change.sla_hours is not None:
        branch.sla_hours = check_sla(change.sla_hours, services)
    return branch


def describe(branch: Branch) -> dict[str, Any]:
    """A branch as its versions record it (and the CLI and console show it)."""
    return {"code": branch.code, "name": branch.name, "default": branch.is_default,
            "numbers": [n.number for n in branch.numbers], "regencies": list(branch.regencies or ()),
            "holidays": list(branch.holidays or ()), "hours": branch.hours, "sla_hours": branch.sla_hours,
            "contact": branch.contact}


def version_kind(code: str) -> str:
    return f"branch:{code}"


def record_version(session, branch: Branch, staff_id: int | None, note: str = "") -> ConfigVersion:
    """Keep what the branch is now as its newest version (the one before stays, superseded): who changed
    what, and when, can be read back."""
    kind = version_kind(branch.code)
    for old in session.scalars(select(ConfigVersion).where(ConfigVersion.kind == kind,
                                                           ConfigVersion.status == VersionStatus.PUBLISHED)):
        old.status = VersionStatus.SUPERSEDED
    number = (session.scalar(select(func.max(ConfigVersion.number)).where(ConfigVersion.kind == kind)) or 0) + 1
    content = json.dumps(describe(branch), ensure_ascii=False, sort_keys=True, indent=1)
    version = ConfigVersion(kind=kind, number=number, content=content, digest=f"{number:012d}"[-12:],
                            status=VersionStatus.PUBLISHED, author_id=staff_id, note=note or None,
                            published_at=utcnow())
    session.add(version)
    return version


def versions(session, code: str) -> list[ConfigVersion]:
    """A branch's versions, newest first."""
    return list(session.scalars(select(ConfigVersion).where(ConfigVersion.kind == version_kind(code))
                                .order_by(ConfigVersion.number.desc())))


def staff_count(session, branch_id: int) -> int:
    return session.scalar(select(func.count()).select_from(StaffBranch).where(StaffBranch.branch_id == branch_id)) or 0


# -- what a branch may hold ----------------------------------------------------------------------------
def regency(value: str) -> str:
    """A regency code (NIK digits 1-4: province and regency/city) as stored; refuses what no NIK can hold."""
    code = str(value).strip()
    if not REGENCY.match(code) or code[:2] not in PROVINCES or code[2:] == "00":
        raise BranchError(f"{value!r} bukan kode kabupaten/kota (4 angka pertama NIK, mis. 3515 untuk Sidoarjo)")
    return code


def check_hours(hours: dict[str, Any] | None) -> dict[str, Any] | None:
    """A branch's own working days and hours as stored, or BranchError (what is saved must run)."""
    if not hours:
        return None
    if "days" in hours and not hours["days"]:
        raise BranchError("pilih paling sedikit satu hari kerja")
    days = [str(d).strip().lower()[:3] for d in hours.get("days") or DAY_NAMES[:5]]
    if any(d not in DAY_NAMES for d in days):
        raise BranchError(f"hari kerja harus di antara {', '.join(DAY_NAMES)}")
    try:
        start, end = parse_time(str(hours.get("start", "08:00"))), parse_time(str(hours.get("end", "15:00")))
    except ValueError:
        raise BranchError("jam kerja ditulis seperti 08:00") from None
    if start >= end:
        raise BranchError("jam mulai harus sebelum jam selesai")
    return {"days": list(dict.fromkeys(days)), "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}


def check_sla(sla: dict[str, Any] | None, services) -> dict[str, float] | None:
    """A branch's own SLA targets (working hours per service) as stored, or BranchError. ``services``:
    the service ids, or a mapping of them to the titles a refusal names."""
    if not sla:
        return None
    checked = {}
    titles = services if isinstance(services, dict) else {}
    for service, value in sla.items():
        if service not in services:
            raise BranchError(f"tidak ada layanan {service!r} (yang ada: {', '.join(services)})")
        name = titles.get(service, service)
        try:
            hours = float(value)
        except (TypeError, ValueError):
            raise BranchError(f"SLA {name} harus berupa jumlah jam kerja") from None
        if not 0 < hours <= 24 * 30:
            raise BranchError(f"SLA {name} harus lebih dari 0 dan paling banyak 720 jam kerja")
        checked[service] = hours
    return checked


# -- the branches an officer works for ------------------------------------------------------------------
def set_branches(session, staff, codes, national: bool = False) -> list[Branch]:
    """The branches ``staff`` (a storage.staff.Staff) works for, replacing the ones before, and whether a
    supervisor is national (sees every branch). An agent or a supervisor keeps at least one branch unless
    national; admins see every branch anyway."""
    chosen = []
    for code in dict.fromkeys(str(c).strip().upper() for c in codes if str(c).strip()):
        branch = by_code(session, code)
        if branch is None:
            raise BranchError(f"tidak ada kantor cabang {code}")
        chosen.append(branch)
    if national and staff.role != Role.SUPERVISOR:
        raise BranchError("hanya supervisor yang dapat menjadi nasional (admin selalu melihat semua kantor cabang)")
    if not chosen and not national and staff.role != Role.ADMIN:
        raise BranchError(f"{staff.name} harus bekerja untuk paling sedikit satu kantor cabang "
                          "(kecuali supervisor nasional)")
    staff.national = national
    for row in session.scalars(select(StaffBranch).where(StaffBranch.staff_id == staff.id)):
        session.delete(row)
    session.flush()
    session.add_all(StaffBranch(staff_id=staff.id, branch_id=branch.id) for branch in chosen)
    return chosen
