"""The officers' inbox: which citizen messages a case's holder has not read yet.

A case's conversation is every message of its citizen since the case was made. Its holder reads it on
the case page (``mark_read``); what the citizen wrote after that is unread while the case is open,
counted per case for the queue in one query (``unread_counts``). A new holder (claim, reassignment)
starts with everything unread.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select

from storage.cases import Case, CaseStatus
from storage.models import InboundMessage, utcnow
from storage.staff import Staff


def unread_counts(session, case_ids: list[int]) -> dict[int, int]:
    """Case id → messages its citizen sent since the case was made and its holder last read it."""
    if not case_ids:
        return {}
    query = (
        select(Case.id, func.count(InboundMessage.id))
        .join(InboundMessage, InboundMessage.citizen_id == Case.citizen_id)
        .where(Case.id.in_(case_ids), Case.status.in_(CaseStatus.OPEN), InboundMessage.received_at > Case.created_at,
               or_(Case.read_at.is_(None), InboundMessage.received_at > Case.read_at))
        .group_by(Case.id)
    )
    return dict(session.execute(query).all())


def mark_read(case: Case, staff: Staff, now: datetime | None = None) -> bool:
    """The holder has read the conversation up to now (anyone else reading leaves it unread for them)."""
    if case.assigned_to != staff.id:
        return False
    case.read_at = now or utcnow()
    return True
