"""Tambah anggota keluarga / bayi baru lahir: a family adds a member (a newborn, a spouse, a child, another
member on the family card) to the head of family's JKN membership.

What it takes depends on the answers, decided here and mapped to steps in the flow (add_family_member.yml):
the new member's NIK may be left out only for a newborn who has none yet, and then the birth certificate
(surat keterangan lahir / akta kelahiran) is what identifies them: a newborn always sends it; a spouse
sends the marriage certificate (buku nikah / akta perkawinan); a child or another member with a NIK only
the family card (KK) that lists them.

Who registers and pays depends on the family's segment (the head's card, from the registry), told before
the confirmation and again in the decision: PBI through the Dinas Sosial, PPU through the employer (the
wage contribution covers up to 4 family members; each further one pays 1% of the wage), PBPU one more
monthly contribution for the care class.
"""
from __future__ import annotations

from datetime import date

from handlers.context import Context
from handlers.registry import Member
from handlers.texts import rupiah
from storage.membership import Segment

SERVICE = "add_family_member"


class Relation:
    NEWBORN = "newborn"
    SPOUSE = "spouse"
    CHILD = "child"
    OTHER = "other"


# PBPU (Mandiri) monthly contribution per person by care class (Perpres 64/2020, from 2021): class 3 is
# Rp42.000, of which the government pays Rp7.000, so the participant pays Rp35.000.
PBPU_MONTHLY = {1: 150_000, 2: 100_000, 3: 42_000}
PBPU_GOVERNMENT_SHARE = {3: 7_000}

SEGMENT_OUTCOMES = ("pbi", "ppu", "pbpu", "pbpu_subsidised", "unknown")
SEGMENT_VALUES = ("fee", "fee_full_text", "subsidy_text")


def monthly_fee(care_class: int) -> tuple[int, int, int]:
    """(what the family pays, the full contribution, the government's share) per person per month."""
    full = PBPU_MONTHLY.get(int(care_class), PBPU_MONTHLY[3])
    subsidy = PBPU_GOVERNMENT_SHARE.get(int(care_class), 0)
    return full - subsidy, full, subsidy


def _class(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 3


def family_segment(ctx: Context, run: dict) -> str:
    """Who registers and pays for the new member, from the head of family's segment (identify_member)."""
    values = run["values"]
    segment = values.get("segment")
    if segment in Segment.PBI:
        return "pbi"
    if segment == Segment.PPU:
        return "ppu"
    if segment != Segment.PBPU:
        return "unknown"
    fee, full, subsidy = monthly_fee(_class(values.get("care_class")))
    values.update(fee=rupiah(fee), fee_full_text=rupiah(full), subsidy_text=rupiah(subsidy))
    return "pbpu_subsidised" if subsidy else "pbpu"


def check_member_nik(ctx: Context, run: dict) -> str:
    """The new member's NIK may be skipped ("lewati") only for a newborn: ``nik_required`` otherwise."""
    values = run["values"]
    if not values.get("member_nik") and values.get("relation") != Relation.NEWBORN:
        return "nik_required"
    return "ok"


DOCUMENT_OUTCOMES = ("birth_certificate", "marriage_certificate", "none")


def family_document(ctx: Context, run: dict) -> str:
    """The certificate the new member needs besides the KK: a newborn's birth certificate, a spouse's
    marriage certificate, none for a child or another member (the KK lists them with their NIK)."""
    relation = run["values"].get("relation")
    if relation == Relation.NEWBORN:
        return "birth_certificate"
    if relation == Relation.SPOUSE:
        return "marriage_certificate"
    return "none"


# -- the officer approves (handlers.approvals) ----------------------------------------------------------
def problem(member: Member | None, fields: dict, today: date) -> str | None:
    """The head of family must be one the registry knows (their segment decides the answer)."""
    if member is None:
        return "kartu kepala keluarga tidak ditemukan di data kepesertaan: periksa nomornya"
    return None


def apply(registry, member: Member, fields: dict, today: date) -> str | None:
    """Nothing in the registry changes here: the officer registers the member (or forwards it) in BPJS's own
    system, to the Dinas Sosial or the employer."""
    return None


def decision_values(member: Member | None, fields: dict, product, today: date) -> dict:
    """{segment_note} of ``decision_approved_add_family_member``: what happens next for this family."""
    segment = member.segment if member is not None else fields.get("segment")
    care_class = member.care_class if member is not None else fields.get("care_class")
    if segment in Segment.PBI:
        return {"segment_note": product.text("family_note_pbi")}
    if segment == Segment.PPU:
        return {"segment_note": product.text("family_note_ppu")}
    if segment == Segment.PBPU:
        fee, _, _ = monthly_fee(_class(care_class))
        return {"segment_note": product.text("family_note_pbpu", fee=rupiah(fee))}
    return {"segment_note": ""}
