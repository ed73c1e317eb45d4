"""The spine's tables: citizens, their conversation state, inbound and outbound WhatsApp messages.

Inbound message states (each move is a compare-and-set on ``status``)::

    received ──(worker decided the reply)──> processed
        │  │
        │  └─(handling failed MAX attempts: set aside, the citizen told)──> failed ──(supervisor retries)──> received
        └─(cannot be processed: unparseable sender, not WhatsApp)──> rejected

Outbound message states::

    pending ──> sending ──> queued ──> sent ──> delivered ──> read     (Twilio's callbacks move
       ^           │ │                    └──> undelivered / failed    it forward from queued)
       │           │ └─(timeout or crash: did Twilio get it?)──> unknown ──(reconcile)──> queued | sending
       └─ retrying <┘ (5xx / 429 / 63018: certainly not sent; RQ retries with backoff)
              ^
              └── failed / undelivered with 63018 (Twilio's callback: the sender's rate was exceeded; attempts left)
    any transient state ──(attempts exhausted / 4xx from Twilio)──> error
    pending ──(local mode: no Twilio credentials)──> local          (shown in the simulator's outbox)
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, and_
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """SQLite gives back naive datetimes; everything we store is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON, list[Any]: JSON}


class InboundStatus:
    RECEIVED = "received"    # stored by the webhook; a worker has not decided the reply yet
    PROCESSED = "processed"  # the reply (if any) is stored as outbound messages
    FAILED = "failed"        # handling failed every attempt: set aside with its reason, shown to supervisors
    REJECTED = "rejected"    # kept for the record, never processed (e.g. sender is not a WhatsApp number)


class OutboundStatus:
    PENDING = "pending"          # stored, waiting for the outbound worker
    SENDING = "sending"          # a worker is calling Twilio's API right now
    RETRYING = "retrying"        # Twilio answered 5xx/429: certainly not sent, a retry is scheduled
    UNKNOWN = "unknown"          # the call timed out or the worker died mid-call: reconcile before resending
    QUEUED = "queued"            # Twilio accepted it (has a MessageSid)
    SENT = "sent"                # Twilio handed it to WhatsApp
    DELIVERED = "delivered"      # on the citizen's phone
    READ = "read"                # the citizen opened it
    UNDELIVERED = "undelivered"  # WhatsApp could not deliver it
    FAILED = "failed"            # Twilio could not send it
    ERROR = "error"              # we gave up (attempts exhausted or Twilio refused the request)
    LOCAL = "local"              # local mode: delivered to the simulator's outbox

    # May be picked up by the outbound worker.
    SENDABLE = (PENDING, RETRYING, UNKNOWN)
    # Order of Twilio's callback statuses: a late "sent" never overwrites "delivered".
    RANK = {QUEUED: 1, SENT: 2, DELIVERED: 3, READ: 4, UNDELIVERED: 5, FAILED: 5}
    # Never reached the citizen: shown to supervisors with the reason, who may send it again.
    NOT_DELIVERED = (ERROR, FAILED, UNDELIVERED)


class Citizen(Base):
    """One row per WhatsApp user: known by their number (E.164), or only by the business-scoped user id
    WhatsApp gives a user who hides their number behind a username (then replies go to that id)."""

    __tablename__ = "citizens"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    wa_user_id: Mapped[str | None] = mapped_column(String(160), unique=True)  # BSUID, e.g. US.1349120865…
    wa_id: Mapped[str | None] = mapped_column(String(32))
    profile_name: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_inbound_at: Mapped[datetime | None]

    conversation: Mapped["Conversation | None"] = relationship(back_populates="citizen", uselist=False)


class Conversation(Base):
    """The dialogue state of one citizen. Only the flow engine (``flows.conversation``) changes it.

    ``state`` holds the flow run (flow, version, step, collected values, failures), a paused run, a
    pending survey; the columns beside it are what the inactivity sweep and the handoff query.
    ``version`` makes every write a compare-and-set: an UPDATE that finds another version (someone
    wrote in between) changes nothing and raises ``StaleDataError``; the writer decides again.
    """

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    active_flow: Mapped[str | None] = mapped_column(String(32), index=True)  # a flow run is in progress
    last_activity_at: Mapped[datetime | None]  # the citizen's last message in the run
    reminded_at: Mapped[datetime | None]       # the inactivity reminder was sent
    handoff_since: Mapped[datetime | None]     # an agent talks with the citizen: the bot stays silent

    citizen: Mapped[Citizen] = relationship(back_populates="conversation")

    __mapper_args__ = {"version_id_col": version}


class InboundMessage(Base):
    __tablename__ = "inbound_messages"
    __table_args__ = (Index("ix_inbound_citizen_status", "citizen_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"))
    sender: Mapped[str] = mapped_column(String(256))  # the raw From field, kept as Twilio sent it
    to_number: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text, default="")
    num_media: Mapped[int] = mapped_column(Integer, default=0)
    media: Mapped[list[Any]] = mapped_column(default=list)  # [{"url": ..., "content_type": ...}]
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)  # every other field Twilio sent
    status: Mapped[str] = mapped_column(String(16), default=InboundStatus.RECEIVED, index=True)
    reject_reason: Mapped[str | None] = mapped_column(String(256))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # handling attempts started
    failure_reason: Mapped[str | None] = mapped_column(String(256))  # the last failed attempt (no personal data)
    failed_at: Mapped[datetime | None]

    citizen: Mapped[Citizen | None] = relationship()


class OutboundMessage(Base):
    __tablename__ = "outbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    in_reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"), index=True)
    body: Mapped[str] = mapped_column(Text, default="")
    content_sid: Mapped[str | None] = mapped_column(String(64))  # template, outside the 24-hour window
    content_variables: Mapped[dict[str, Any] | None]
    media_url: Mapped[str | None] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(16), default=OutboundStatus.PENDING, index=True)
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None]
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))  # written by an agent in the console
    # Our business number it goes out from (``whatsapp:+…``), set when it is claimed for sending; None:
    # not yet, it will go from the default sender (TWILIO_WHATSAPP_NUMBER). Paced and counted per sender.
    sender: Mapped[str | None] = mapped_column(String(64))

    citizen: Mapped[Citizen] = relationship()

    @hybrid_property
    def bulk(self) -> bool:
        """A notification the bot starts (decisions, reminders): no citizen wrote for it and no officer
        typed it. Bulk goes on the ``notify`` queue and uses only its share of the sender's rate."""
        return self.in_reply_to_id is None and self.agent_id is None

    @bulk.inplace.expression
    @classmethod
    def _bulk_expression(cls):
        return and_(cls.in_reply_to_id.is_(None), cls.agent_id.is_(None))


class MessageStatusEvent(Base):
    """Every status callback Twilio sent, in arrival order (the message keeps the furthest status)."""

    __tablename__ = "message_status_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    twilio_sid: Mapped[str] = mapped_column(String(64), index=True)
    outbound_id: Mapped[int | None] = mapped_column(ForeignKey("outbound_messages.id"))
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
