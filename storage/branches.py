"""Branch offices (kantor cabang): each answers on its own WhatsApp number(s), with its own officers and
regional holidays. One branch is the default: the one an install had before branches existed, and the
one a message to a number no branch owns belongs to.

    branches ──< branch_numbers   (a number belongs to one branch; the first one added is its main sender)
    branches ──< staff_branches >── staff
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models import Base, utcnow

DEFAULT_CODE = "UTAMA"  # the branch every install starts with (migration 0010)


class Branch(Base):
    __tablename__ = "branches"
    __table_args__ = (
        Index("uq_branches_default", "is_default", unique=True,
              postgresql_where=text("is_default"), sqlite_where=text("is_default")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)   # e.g. KC-SDA: upper case, digits, - and _
    name: Mapped[str] = mapped_column(String(128))               # e.g. "KC Sidoarjo"
    holidays: Mapped[list[Any]] = mapped_column(default=list)    # regional holidays (ISO dates) on top of national ones
    contact: Mapped[str | None] = mapped_column(String(256))     # the contact line its texts give
    regencies: Mapped[list[Any]] = mapped_column(default=list)   # regency codes (NIK digits 1-4) it serves
    hours: Mapped[dict[str, Any] | None]      # its own working days and hours ({days, start, end}); None: national
    sla_hours: Mapped[dict[str, Any] | None]  # its own SLA targets, working hours per service; None: national
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    numbers: Mapped[list["BranchNumber"]] = relationship(order_by="BranchNumber.position",
                                                         cascade="all, delete-orphan")


class BranchNumber(Base):
    """A WhatsApp sender (``whatsapp:+62…``, as Twilio writes To and From) of one branch."""

    __tablename__ = "branch_numbers"

    number: Mapped[str] = mapped_column(String(64), primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)  # 0: the branch's main sender


class StaffBranch(Base):
    """An officer works for a branch (agents and supervisors see its cases)."""

    __tablename__ = "staff_branches"

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"), primary_key=True)
