"""The local membership registry: participants and the deactivation decrees for PBI reactivation.

A real deployment looks participants up in BPJS's own system behind the same adapter
(handlers.registry.MembershipRegistry); this table holds demo participants seeded from CSV.
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
    faskes: Mapped[str] = mapped_column(String(128))  # registered primary care facility (FKTP)
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
