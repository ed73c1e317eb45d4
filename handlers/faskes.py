"""Pindah faskes tingkat pertama: a participant moves to another primary care facility (FKTP).

BPJS allows the move after at least 3 months at the current facility; a citizen who asks too soon is told
the day from which it is allowed, and no case is made. The new facility is chosen by number from those of
the participant's regency (NIK digits 1-4, from the registry), without the current one and at most
``LIST_MAX`` of them; a regency the registry lists none for is said so (an officer helps). Once an officer
approves, the registry holds the new facility from the first day of the next month (BPJS practice: a
change applies from the next month): until then the participant still goes to the old one, which the status
check names (with the coming one and its first day, ``faskes_pending``), and the 3-month rule counts from
that first day: a participant whose move waits is told so (``pending``), and no case is made.

At decision time the officer's approval is checked again (``problem``): the participant may have died or
become inactive, or another move may have been approved since the request.

The list is shown by ``list_facilities`` into ``{facilities_text}``, which the flow's question renders;
the number the citizen answers is checked against the list by ``pick_facility``.
"""
from __future__ import annotations

import logging
from datetime import date

from handlers import registry as reg
from handlers.cases import office_today
from handlers.context import Context
from handlers.worktime import format_day_id
from storage.membership import InactiveReason

log = logging.getLogger(__name__)

SERVICE = "change_faskes"
MIN_MONTHS = 3  # at the current facility before a move is allowed
LIST_MAX = 8    # facilities offered in one question (each on its own line of the phone's screen)

ASSESS_OUTCOMES = ("allowed", "too_soon", "pending", "inactive", "no_match")
ASSESS_VALUES = ("faskes", "faskes_since", "allowed_from_text", "next_faskes", "next_faskes_from_text")


def allowed_from(since: date | None) -> date | None:
    """The first day a move away from a facility registered ``since`` is allowed (None: at once)."""
    return reg.add_months(since, MIN_MONTHS) if since else None


def first_of_next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def latest_start(member: reg.Member) -> date | None:
    """The first day at the participant's latest facility, an approved one still to come included."""
    return member.next_faskes_from if member.next_faskes else member.faskes_since


def _registry(ctx: Context) -> reg.LocalRegistry:
    return reg.LocalRegistry(ctx.session, office_today(ctx.product))


def _next_values(member: reg.Member) -> dict:
    coming = member.next_faskes_from
    return dict(faskes=member.faskes, next_faskes=member.next_faskes or "",
                next_faskes_from_text=format_day_id(coming) if member.next_faskes and coming else "")


def assess_faskes_change(ctx: Context, run: dict) -> str:
    """May this participant (identify_member found them) move now: active card, 3 months at the facility
    (``pending``: an approved move has not begun yet, the 3 months count from its first day)."""
    values = run["values"]
    member = _registry(ctx).by_card(str(values.get("card_number") or ""))
    if member is None:
        return "no_match"
    if not member.active:
        return "inactive"
    since, start = member.faskes_since, allowed_from(latest_start(member))
    values.update(faskes_since=since.isoformat() if since else "",
                  allowed_from_text=format_day_id(start) if start else "", **_next_values(member))
    if member.next_faskes:
        log.info("faskes change refused: citizen_id=%s has an approved move still to begin", ctx.citizen.id)
        return "pending"
    if start is not None and office_today(ctx.product) < start:
        log.info("faskes change refused: citizen_id=%s within %d months of the last change", ctx.citizen.id,
                 MIN_MONTHS)
        return "too_soon"
    return "allowed"


LIST_OUTCOMES = ("listed", "no_facilities")
LIST_VALUES = ("facilities_text", "facility_count")  # facility_count: the list's last number


def list_facilities(ctx: Context, run: dict) -> str:
    """The facilities of the participant's regency but their current one, numbered for the question."""
    values = run["values"]
    registry = _registry(ctx)
    member = registry.by_card(str(values.get("card_number") or ""))
    regency = member.nik[:4] if member is not None and member.nik else None
    found = [f for f in registry.facilities(regency) if f.name != member.faskes][:LIST_MAX] if regency else []
    values["facility_choices"] = [[f.code, f.name] for f in found]  # internal (handlers.cases): never on the case
    values["facility_count"] = len(found)
    values["facilities_text"] = "\n".join(f"*{i}*. {f.name}" for i, f in enumerate(found, start=1))
    return "listed" if found else "no_facilities"


PICK_OUTCOMES = ("picked", "out_of_range")
PICK_VALUES = ("new_faskes", "new_faskes_code")


def pick_facility(ctx: Context, run: dict) -> str:
    """The facility of the number the citizen answered (``faskes_choice``): ``out_of_range`` when the list
    has no such number. The confirmation shows the facility's name, not the number."""
    values = run["values"]
    choices = values.get("facility_choices") or []
    try:
        number = int(values.get("faskes_choice"))
    except (TypeError, ValueError):
        return "out_of_range"
    if not 1 <= number <= len(choices):
        return "out_of_range"
    code, name = choices[number - 1]
    values.update(new_faskes=name, new_faskes_code=code, faskes_choice_text=name)
    return "picked"


PENDING_OUTCOMES = ("yes", "no")
PENDING_VALUES = ("faskes", "next_faskes", "next_faskes_from_text")


def faskes_pending(ctx: Context, run: dict) -> str:
    """check_status: the facility the participant goes to today (``faskes``) and, when an approved move has
    not begun yet (``yes``), the coming one and its first day."""
    values = run["values"]
    member = _registry(ctx).by_card(str(values.get("card_number") or ""))
    if member is None:
        return "no"
    values.update(_next_values(member))
    return "yes" if member.next_faskes else "no"


# -- the officer approves (handlers.approvals) ----------------------------------------------------------
def problem(member: reg.Member | None, fields: dict, today: date) -> str | None:
    """Why the move cannot be approved today (officer's words): the participant is checked again, as the
    registry holds them now (a death, a deactivation or another move may have come since the request)."""
    if not fields.get("new_faskes"):
        return "faskes baru tidak ada di permohonan ini: minta data tambahan dulu"
    if member is None:
        return "peserta tidak ditemukan di data kepesertaan: periksa nomor kartunya"
    if member.inactive_reason == InactiveReason.DECEASED:
        return "peserta sudah tercatat meninggal dunia, faskesnya tidak bisa dipindah: tolak permohonan ini"
    if not member.active:
        return ("kartu peserta sekarang tidak aktif, faskesnya tidak bisa dipindah: tolak permohonan ini "
                "(peserta bisa mengajukan lagi setelah kartunya aktif)")
    if member.next_faskes and member.next_faskes_from:  # the next move counts from this one's first day
        return (f"pindah faskes peserta ke {member.next_faskes} sudah disetujui, berlaku mulai "
                f"{format_day_id(member.next_faskes_from)}; pindah lagi baru boleh mulai "
                f"{format_day_id(allowed_from(member.next_faskes_from))}: tolak permohonan ini")
    if fields["new_faskes"] == member.faskes:
        return f"peserta sudah terdaftar di {member.faskes}: tolak permohonan ini"
    allowed = allowed_from(member.faskes_since)
    if allowed is not None and today < allowed:
        return (f"peserta terdaftar di {member.faskes} sejak {format_day_id(member.faskes_since)}, belum "
                f"{MIN_MONTHS} bulan; pindah baru boleh mulai {format_day_id(allowed)}: tolak permohonan ini")
    return None


def apply(registry: reg.MembershipRegistry, member: reg.Member, fields: dict, today: date) -> str:
    """The new facility, from the first day of next month (the old one until then); what changed, for the audit."""
    start = first_of_next_month(today)
    registry.change_faskes(member.card_number, str(fields["new_faskes"]), start)
    return f"faskes peserta diubah (kode {fields.get('new_faskes_code') or '-'}), berlaku {start.isoformat()}"


def decision_values(member: reg.Member | None, fields: dict, product, today: date) -> dict:
    """{new_faskes} and {valid_from} of ``decision_approved_change_faskes``."""
    return {"new_faskes": fields.get("new_faskes") or "", "valid_from": format_day_id(first_of_next_month(today))}
