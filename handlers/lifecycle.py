"""The life of personal data (UU 27/2022): kept only as long as configured, erased when a citizen
asks and an officer confirms, and shown whole to a supervisor who exports it for the citizen.

Messages kept for the NLU review go with the messages; those an admin labelled stay as training data
(personal numbers masked) until the citizen's own data goes. Rows are deleted, except a case's statistics (service, status, dates, SLA, rating), which lose every
link to the person: their fields, notes and comment are cleared and the case no longer points to the
citizen. Files are deleted by the caller once no remaining document needs them (``orphan_files``).
The conversation's state belongs to the flow engine (flows.conversation forgets it).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, or_, select, update

from handlers.product import Retention
from storage.cases import Case, CaseEvent, CaseStatus, Document
from storage.models import Citizen, InboundMessage, InboundStatus, MessageStatusEvent, OutboundMessage, OutboundStatus
from storage.nlu import NluReview, ReviewStatus
from storage.staff import Satisfaction

BATCH = 1000
FINISHED = (CaseStatus.APPROVED, CaseStatus.REJECTED, CaseStatus.CLOSED)  # decided: no officer works on them


def _finished_before(cutoff: datetime):
    """Cases decided (or closed) before ``cutoff``: closing is not required for their data to go."""
    return and_(Case.status.in_(FINISHED), func.coalesce(Case.closed_at, Case.decided_at) < cutoff)


def _delete_outbound(session, where) -> int:
    ids = list(session.scalars(select(OutboundMessage.id).where(where).limit(BATCH)))
    if not ids:
        return 0
    session.execute(delete(MessageStatusEvent).where(MessageStatusEvent.outbound_id.in_(ids)))
    session.execute(delete(OutboundMessage).where(OutboundMessage.id.in_(ids)))
    return len(ids)


def _delete_inbound(session, where) -> int:
    ids = list(session.scalars(select(InboundMessage.id).where(where).limit(BATCH)))
    if not ids:
        return 0
    session.execute(update(Document).where(Document.inbound_message_id.in_(ids)).values(inbound_message_id=None))
    session.execute(update(OutboundMessage).where(OutboundMessage.in_reply_to_id.in_(ids)).values(in_reply_to_id=None))
    session.execute(delete(InboundMessage).where(InboundMessage.id.in_(ids)))
    return len(ids)


def old_messages(session, now: datetime, retention: Retention) -> int:
    """Messages older than the retention, both ways (never one still waiting to be handled or sent)."""
    cutoff = now - timedelta(days=retention.message_days)
    sent = _delete_outbound(session, and_(OutboundMessage.created_at < cutoff,
                                          OutboundMessage.status.not_in(OutboundStatus.SENDABLE + (OutboundStatus.SENDING,))))
    received = _delete_inbound(session, and_(InboundMessage.received_at < cutoff,
                                             InboundMessage.status != InboundStatus.RECEIVED))
    reviews = session.execute(delete(NluReview).where(
        NluReview.created_at < cutoff, NluReview.status.in_((ReviewStatus.OPEN, ReviewStatus.DISMISSED)))).rowcount
    return sent + received + reviews


def old_documents(session, now: datetime, retention: Retention) -> list[str]:
    """Documents of cases decided longer ago than the retention, and photos of requests never finished.
    Returns their hashes (for the caller to delete the files no other document needs)."""
    closed_before = now - timedelta(days=retention.document_days)
    abandoned_before = now - timedelta(days=retention.abandoned_run_days)
    expired = or_(
        Document.case_id.in_(select(Case.id).where(_finished_before(closed_before))),
        and_(Document.case_id.is_(None), Document.created_at < abandoned_before),
    )
    rows = session.execute(select(Document.id, Document.sha256).where(expired).limit(BATCH)).all()
    if rows:
        session.execute(delete(Document).where(Document.id.in_([row.id for row in rows])))
    return [row.sha256 for row in rows]


def deidentify_cases(session, where) -> int:
    """Keep the statistics of these cases, drop everything that tells who it was about."""
    ids = list(session.scalars(select(Case.id).where(where, Case.citizen_id.is_not(None)).limit(BATCH)))
    if not ids:
        return 0
    session.execute(update(Case).where(Case.id.in_(ids)).values(fields={}, decision_note=None, citizen_id=None))
    session.execute(update(CaseEvent).where(CaseEvent.case_id.in_(ids)).values(note=None))
    session.execute(update(Satisfaction).where(Satisfaction.case_id.in_(ids)).values(comment=None))
    return len(ids)


def old_cases(session, now: datetime, retention: Retention) -> int:
    return deidentify_cases(session, _finished_before(now - timedelta(days=retention.closed_case_days)))


def forgotten_citizens(session, now: datetime, retention: Retention) -> list[int]:
    """Citizens with nothing left of them (no messages, documents or cases) and quiet for the retention."""
    cutoff = now - timedelta(days=retention.message_days)
    quiet = or_(Citizen.last_inbound_at.is_(None), Citizen.last_inbound_at < cutoff)
    nothing_left = and_(
        ~exists().where(InboundMessage.citizen_id == Citizen.id),
        ~exists().where(OutboundMessage.citizen_id == Citizen.id),
        ~exists().where(Document.citizen_id == Citizen.id),
        ~exists().where(Case.citizen_id == Citizen.id),
    )
    return list(session.scalars(select(Citizen.id).where(quiet, nothing_left).limit(BATCH)))


def delete_citizens(session, citizen_ids: list[int]) -> int:
    """The citizens' rows (their conversations forgotten first, by flows.conversation.forget)."""
    if not citizen_ids:
        return 0
    session.execute(delete(NluReview).where(NluReview.citizen_id.in_(citizen_ids)))
    return session.execute(delete(Citizen).where(Citizen.id.in_(citizen_ids))).rowcount


def erase_citizen_data(session, citizen_id: int) -> list[str]:
    """Everything held about one citizen, on their request (an officer confirmed it): messages,
    documents, the personal data of their cases. Returns the documents' hashes. The conversation and
    then the citizen's row go next (flows.conversation.forget, delete_citizens)."""
    while _delete_outbound(session, OutboundMessage.citizen_id == citizen_id):
        pass
    while _delete_inbound(session, InboundMessage.citizen_id == citizen_id):
        pass
    session.execute(delete(NluReview).where(NluReview.citizen_id == citizen_id))  # also labelled ones
    hashes = list(session.scalars(select(Document.sha256).where(Document.citizen_id == citizen_id)))
    session.execute(delete(Document).where(Document.citizen_id == citizen_id))
    while deidentify_cases(session, Case.citizen_id == citizen_id):
        pass
    return hashes


def orphan_files(session, hashes: list[str]) -> list[str]:
    """Of these content hashes, those no remaining document needs (the same photo may serve two)."""
    if not hashes:
        return []
    kept = set(session.scalars(select(Document.sha256).where(Document.sha256.in_(set(hashes)))))
    return sorted(set(hashes) - kept)


def pending_replies(session, citizen_id: int) -> int:
    """Replies to this citizen not yet handed to Twilio (erasure waits for the last one)."""
    waiting = OutboundStatus.SENDABLE + (OutboundStatus.SENDING,)
    return len(session.scalars(select(OutboundMessage.id).where(
        OutboundMessage.citizen_id == citizen_id, OutboundMessage.status.in_(waiting))).all())

