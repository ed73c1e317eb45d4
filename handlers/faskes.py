"""Pindah faskes tingkat pertama: a participant moves to another primary care facility (FKTP).

BPJS allows the move after at least 3 months at the current facility; a citizen who asks too soon is told
the day from which it is allowed, and no case is made. The new facility is chosen by number from those of
the participant's regency (NIK digits 1-4, from the registry), without the current one and at most
``LIST_MAX`` of them; a regency the registry lists none for is said so (an officer helps). Once an officer
approves, the registry holds the new facility from the first day of the next month (BPJS practice: a
change applies from the next month), and the 3-month rule counts from that day.

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

log = logging.getLogger(__name__)

SERVICE = "change_faskes"
MIN_MONTHS = 3  # at the current facility before a move is allowed
LIST_MAX = 8    # facilities offered in one question (each on its own line of the phone's screen)

ASSESS_OUTCOMES = ("allowed", "too_soon", "inactive", "no_match")
ASSESS_VALUES = ("faskes_since", "allowed_from_text")


def allowed_from(since: date | None) -> date | None:
    """The first day a move away from a facility registered ``since`` is allowed (None: at once)."""
    return reg.add_months(since, MIN_MONTHS) if since else None


def first_of_next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def assess_faskes_change(ctx: Context, run: dict) -> str:
    """May this participant (identify_member found them) move now: active card, 3 months at the facility."""
    values = run["values"]
    member = reg.LocalRegistry(ctx.session).by_card(str(values.get("card_number") or ""))
    if member is None:
        return "no_match"
    if not member.active:
        return "inactive"
    since, start = member.faskes_since, allowed_from(member.faskes_since)
    values.update(faskes_since=since.isoformat() if since else "",
                  allowed_from_text=format_day_id(start) if start else "")
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
    registry = reg.LocalRegistry(ctx.session)
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


# -- the officer approves (handlers.approvals) ----------------------------------------------------------
def problem(member: reg.Member | None, fields: dict) -> str | None:
    if not fields.get("new_faskes"):
        return "faskes baru tidak ada di permohonan ini: minta data tambahan dulu"
    if member is None:
        return "peserta tidak ditemukan di data kepesertaan: periksa nomor kartunya"
    return None


def apply(registry: reg.MembershipRegistry, member: reg.Member, fields: dict, today: date) -> str:
    """The new facility, from the first day of next month; what changed, for the audit."""
    start = first_of_next_month(today)
    registry.change_faskes(member.card_number, str(fields["new_faskes"]), start)
    return f"faskes peserta diubah (kode {fields.get('new_faskes_code') or '-'}), berlaku {start.isoformat()}"


def decision_values(member: reg.Member | None, fields: dict, product, today: date) -> dict:
    """{new_faskes} and {valid_from} of ``decision_approved_change_faskes``."""
    return {"new_faskes": fields.get("new_faskes") or "", "valid_from": format_day_id(first_of_next_month(today))}
