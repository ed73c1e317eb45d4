"""Lapor peserta meninggal: a family member reports a participant's death with the deceased's card
number or NIK and a death certificate; once an officer approves, the registry marks the participant
inactive (reason ``deceased``) from the day of death, so a self-paying (PBPU) family is no longer billed
for them from the month after. The other family members' cards are not touched.

The flow's action (``find_deceased``) tells at once when the registry does not know the number (counted
against the sender's hourly lookup limit, like every lookup that finds nobody) and when the death is
already recorded. The approval side (``problem``, ``apply``, ``decision_values``) is called by
handlers.approvals.
"""
from __future__ import annotations

import logging
from datetime import date

from handlers import lookups
from handlers import registry as reg
from handlers.context import Context
from handlers.privacy import mask_name
from handlers.validators import CARD_DIGITS
from handlers.worktime import format_date_short, format_month_id
from storage.membership import InactiveReason, Segment

log = logging.getLogger(__name__)

SERVICE = "report_death"
OUTCOMES = ("found", "unknown_participant", "already_deceased", "rate_limited")


def find_deceased(ctx: Context, run: dict) -> str:
    """The participant the family reports, by card number (13 digits) or NIK (16 digits)."""
    if lookups.over_limit(ctx):
        log.info("death report lookup refused: citizen_id=%s over the lookup limit", ctx.citizen.id)
        return "rate_limited"
    values = run["values"]
    number = str(values.get("participant") or "")
    registry = reg.LocalRegistry(ctx.session)
    member = registry.by_card(number) if len(number) == CARD_DIGITS else registry.by_nik(number)
    if member is None:
        lookups.count_failure(ctx)
        return "unknown_participant"
    texts = ctx.flows[run["flow"]].texts
    values.update(member_name=mask_name(member.name), segment=member.segment,
                  segment_label=texts.get(f"segment_{member.segment}", member.segment))
    return "already_deceased" if member.inactive_reason == InactiveReason.DECEASED else "found"


def billing_stops(died_on: date) -> date:
    """A self-paying participant's contribution is not billed from the month after the death."""
    return date(died_on.year + died_on.month // 12, died_on.month % 12 + 1, 1)


def _died_on(fields: dict) -> date | None:
    try:
        return date.fromisoformat(str(fields.get("death_date") or ""))
    except ValueError:
        return None


def problem(member: reg.Member | None, fields: dict, today: date) -> str | None:
    """Why this report cannot be approved as it is (officer's words), or None."""
    if _died_on(fields) is None:
        return "tanggal meninggal tidak ada atau tidak terbaca: minta data tambahan dulu"
    if member is None:
        return "peserta tidak ditemukan di data kepesertaan: periksa nomor kartu/NIK, atau minta data tambahan"
    if member.inactive_reason == InactiveReason.DECEASED:
        return "peserta sudah tercatat meninggal (laporan lain yang sudah disetujui): tolak sebagai duplikat"
    if member.birth_date > _died_on(fields):
        return "tanggal meninggal sebelum tanggal lahir peserta: minta data tambahan dulu"
    return None


def apply(registry: reg.MembershipRegistry, member: reg.Member, fields: dict, today: date) -> str:
    """Deactivate the participant from the day of death; what changed, for the audit (no personal data)."""
    registry.record_death(member.card_number, _died_on(fields))
    return "peserta dinonaktifkan di data kepesertaan: meninggal dunia"


def decision_values(member: reg.Member | None, fields: dict, product, today: date) -> dict:
    """{death_date} and {segment_note} of ``decision_approved_report_death``: what follows for the family,
    by the deceased's segment (PBPU: billing stops; PPU: the employer; PBI: nothing to pay)."""
    died_on = _died_on(fields)
    segment = member.segment if member is not None else fields.get("segment")
    if segment == Segment.PBPU:
        note = product.text("death_note_pbpu", billing_from=format_month_id(billing_stops(died_on)) if died_on else "")
    elif segment == Segment.PPU:
        note = product.text("death_note_ppu")
    elif segment in Segment.PBI:
        note = product.text("death_note_pbi")
    else:  # a segment this release does not know: the decision text's own words only
        note = ""
    return {"death_date": format_date_short(died_on) if died_on else "", "segment_note": note}
