"""Cases (what an officer decides on), their documents and history.

Case states::

    submitted ──(agent claims)──> in_review ──> approved ──> closed
        ^                            │   └────> rejected ──> closed
        │                            └──> need_info ──(citizen sends the item)──┐
        └──────────────────────────────────────────────────────────────────────┘  (flagged updated)

Flows create cases as ``submitted`` (handlers.cases); agents move them on (handlers.backoffice).
A handoff case (the citizen asked for an officer) goes from in_review straight to closed.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.branches import Branch
from storage.models import Base, Citizen, utcnow


class CaseStatus:
    SUBMITTED = "submitted"  # complete, waiting for an agent
    IN_REVIEW = "in_review"  # an agent holds it
    NEED_INFO = "need_info"  # waiting for the citizen to send a document or field again
    APPROVED = "approved"    # decided: done as asked
    REJECTED = "rejected"    # decided: refused, with a reason
    CLOSED = "closed"        # the citizen was told; satisfaction asked

    OPEN = (SUBMITTED, IN_REVIEW, NEED_INFO)


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket: Mapped[str] = mapped_column(String(20), unique=True)  # PDW-YYYYMMDD-NNNN
    service: Mapped[str] = mapped_column(String(32), index=True)
    service_title: Mapped[str | None] = mapped_column(String(128))  # as the menu named it when the case was made
    # None once the case is de-identified (retention or erasure): its statistics outlive the citizen's data.
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.SUBMITTED, index=True)
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what the flow collected
    flow_version: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sla_due_at: Mapped[datetime | None]  # set by the backoffice job, in working hours
    queued_at: Mapped[datetime | None]   # visible to agents since
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)  # the agent holding it
    claimed_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(String(64))   # a configured reason code
    decision_note: Mapped[str | None] = mapped_column(Text)
    need_info_item: Mapped[str | None] = mapped_column(String(32))    # the step asked again
    need_info_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))  # who asked: the answer goes back to them
    updated_by_citizen: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # flag in the queue
    closed_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]  # when its holder last read the conversation: later messages are unread
    # The branch office it belongs to: the one of the number the citizen wrote to (handlers.branches).
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"), index=True)

    citizen: Mapped[Citizen | None] = relationship()
    branch: Mapped[Branch | None] = relationship(lazy="joined")
    documents: Mapped[list["Document"]] = relationship(back_populates="case", order_by="Document.id")
    events: Mapped[list["CaseEvent"]] = relationship(back_populates="case", order_by="CaseEvent.id")


class CaseEvent(Base):
    """The history of a case: created, queued, claimed, decided, citizen notified…"""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64), default="system")
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="events")


class Document(Base):
    """A photo or PDF a citizen sent, stored under MEDIA_DIR by content hash."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    inbound_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    media_index: Mapped[int] = mapped_column(Integer, default=0)  # MediaUrl{N} of that message
    kind: Mapped[str] = mapped_column(String(64))  # the flow step's document: ktp, kk, selfie_ktp, kis, sktm…
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    sharpness: Mapped[float | None]  # variance of the Laplacian
    # A 64-bit DCT perceptual hash (16 hex digits) of a photo: the same picture re-encoded or rescaled has
    # the same one, mostly (handlers.reuse). None for a PDF.
    phash: Mapped[str | None] = mapped_column(String(16), index=True)
    # What OCR read off a KTP/KK photo (handlers.ocr.Reading.as_json): status, NIK and its confidence, every
    # confident 16-digit number, name, date of birth. None: not a readable kind, or sent before OCR.
    ocr: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))  # None: SQL NULL, "not read"
    ocr_nik: Mapped[str | None] = mapped_column(String(16), index=True)  # the NIK read with confidence
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case | None] = relationship(back_populates="documents")


class DocumentMatch(Base):
    """A document of one case that looks like a document of another case (handlers.reuse): the same file,
    the same photo re-encoded, or the same NIK read off the card — sent from another number or for another
    participant. Kept both ways (a row per document), so each case lists its own matches; removed with
    either document."""

    __tablename__ = "document_matches"
    __table_args__ = (UniqueConstraint("document_id", "other_document_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    other_document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(16))  # handlers.reuse: same_file | same_photo | same_nik
    distance: Mapped[int | None] = mapped_column(Integer)  # perceptual hash distance in bits (same_photo)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    document: Mapped[Document] = relationship(foreign_keys=[document_id])
    other: Mapped[Document] = relationship(foreign_keys=[other_document_id])


class CannedReply(Base):
    """A ready-made answer agents insert in the chat with a citizen; admins keep the list."""

    __tablename__ = "canned_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(64), unique=True)  # what the agent picks it by
    body: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TicketCounter(Base):
    """Daily ticket sequence: one row per day, incremented atomically."""

    __tablename__ = "ticket_counters"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)
