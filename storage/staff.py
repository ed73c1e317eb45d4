"""Back-office staff, their console sessions and API tokens, the audit log, satisfaction ratings.

Roles: ``agent`` (verifies and decides cases), ``supervisor`` (also reassigns, sees the dashboard and
the audit trail), ``admin`` (also edits flows, texts and staff accounts).

A console session lives here, not only in the cookie: logging out, changing a password or an admin's
reset ends it for every copy of the cookie, and it ends by itself after SESSION_IDLE_MINUTES without
a page the staff member asked for (automatic refreshes do not count) or 8 hours after logging in.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models import Base, utcnow


class Role:
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    ALL = (AGENT, SUPERVISOR, ADMIN)
    RANK = {AGENT: 1, SUPERVISOR: 2, ADMIN: 3}


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # the login name
    role: Mapped[str] = mapped_column(String(16))
    # A national supervisor sees every branch's cases (admins always do); everyone else sees the cases
    # of the branches they work for (storage.branches.StaffBranch).
    national: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime | None]

    def at_least(self, role: str) -> bool:
        return Role.RANK[self.role] >= Role.RANK[role]


class StaffSession(Base):
    """A console login. The cookie carries a random token; only its SHA-256 is stored here."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)  # the last page the person asked for
    expires_at: Mapped[datetime]                                    # at the latest (8 hours after login)
    revoked_at: Mapped[datetime | None]                             # logged out, password changed or reset

    staff: Mapped[Staff] = relationship()


class ApiToken(Base):
    """Bearer tokens for back-office integrations; only a hash is stored. A token acts with its own
    role (never above its owner's), until it expires or is revoked."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(16))  # None: tokens issued before roles (the owner's)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    staff: Mapped[Staff] = relationship()


class AuditLog(Base):
    """Who saw or changed what: every view of a case's personal data writes a row."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))  # view_case, view_document, claim, decide, login_failed, ...
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    detail: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(8), default="console")  # console | api | cli | system
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Satisfaction(Base):
    """The IKM rating (1-4) a citizen gave when the case was closed."""

    __tablename__ = "satisfaction"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    rating: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
