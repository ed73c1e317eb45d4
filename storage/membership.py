"""The local membership registry: participants, the deactivation decrees for PBI reactivation, and the
primary care facilities (FKTP) a participant may move to.

A real deployment looks participants up in BPJS's own system behind the same adapter
(handlers.registry.MembershipRegistry); these tables hold demo data seeded from CSV.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base


class Segment:
    PBI_APBN = "PBI_APBN"  # premium paid by the central government (poor households)
    PBI_APBD = "PBI_APBD"  # premium paid by the regional government
    PPU = "PPU"            # wage earners: employer and employee pay
    PBPU = "PBPU"          # self-paying (Mandiri); arrears make the card inactive

    PBI = (PBI_APBN, PBI_APBD)
    ALL = (PBI_APBN, PBI_APBD, PPU, PBPU)


class InactiveReason:
    DECREE = "decree"            # PBI removed by a Ministry of Social Affairs decree (SK penonaktifan)
    ARREARS = "arrears"          # PBPU with unpaid premiums (tunggakan)
    NIK_INVALID = "nik_invalid"  # NIK not verified against Dukcapil
    DECEASED = "deceased"        # a family member reported the death (handlers.deaths)
    OTHER = "other"


class Participant(Base):
    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_number: Mapped[str] = mapped_column(String(13), unique=True)
    nik: Mapped[str | None] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    birth_date: Mapped[date] = mapped_column(Date)
    segment: Mapped[str] = mapped_column(String(16))
    care_class: Mapped[int] = mapped_column(Integer)  # kelas rawat 1, 2 or 3
    active: Mapped[bool] = mapped_column(Boolean)
    inactive_reason: Mapped[str | None] = mapped_column(String(16))
    decree_number: Mapped[str | None] = mapped_column(String(32))  # for InactiveReason.DECREE
    deactivated_on: Mapped[date | None] = mapped_column(Date)
    faskes: Mapped[str] = mapped_column(String(128))  # registered primary care facility (FKTP), by name
    faskes_since: Mapped[date | None] = mapped_column(Date)  # registered there since (3-month rule, handlers.faskes)
    # An approved move that applies later (from the 1st of next month): until ``next_faskes_from`` the
    # participant still goes to ``faskes``; from that day ``next_faskes`` is theirs (handlers.registry.Member).
    next_faskes: Mapped[str | None] = mapped_column(String(128))
    next_faskes_from: Mapped[date | None] = mapped_column(Date)
    arrears: Mapped[int] = mapped_column(Integer, default=0)  # rupiah, PBPU only
    in_dtks: Mapped[bool] = mapped_column(Boolean, default=False)  # in the social welfare register
    phone: Mapped[str | None] = mapped_column(String(20))


class Decree(Base):
    """A decree deactivating PBI participants; reactivation is possible until its deadline
    (6 months, Permensos 21/2019 art. 8)."""

    __tablename__ = "decrees"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    deactivated_on: Mapped[date] = mapped_column(Date)
    reactivation_deadline: Mapped[date] = mapped_column(Date)


class FacilityKind:
    PUSKESMAS = "puskesmas"        # community health centre (public)
    CLINIC = "klinik"              # klinik pratama (private primary clinic)
    DOCTOR = "dokter_praktik"      # a general practitioner's own practice

    ALL = (PUSKESMAS, CLINIC, DOCTOR)


class Facility(Base):
    """A primary care facility (FKTP) a participant may register with, in one regency (NIK digits 1-4)."""

    __tablename__ = "facilities"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # e.g. 3273P002 (fictional BPJS-like code)
    name: Mapped[str] = mapped_column(String(128))
    regency: Mapped[str] = mapped_column(String(4), index=True)
    kind: Mapped[str] = mapped_column(String(16))
