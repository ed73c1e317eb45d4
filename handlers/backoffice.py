"""The rules of what agents do to cases: claim, release, reassign, decide (approve / reject / need more
info), close, write to the citizen; the audit log and the case history.

Each function takes the session and the acting staff member, checks the rule, changes the case and
returns what the citizen must be told. It never touches the conversation: bot.casework asks the flow
engine (flows.conversation) for that, stores the messages and queues them after the commit.
Claiming is one conditional UPDATE: two agents can never hold the same case.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import object_session

from handlers.cases import HANDOFF
from handlers.product import Product
from storage.cases import Case, CaseEvent, CaseStatus
from storage.models import as_utc, utcnow
from storage.staff import AuditLog, Role, Satisfaction, Staff

DECISIONS = ("approve", "reject", "need_info")
ASKABLE = ("text", "photo")  # steps an agent may ask the citizen to answer again
# The SLA clock runs while an agent has to act (not while the citizen is asked for more).
WAITING_FOR_AGENT = (CaseStatus.SUBMITTED, CaseStatus.IN_REVIEW)
HANDLED = "handled"  # how a closed case that was never decided ended (a request to talk with an officer)


class BackofficeError(ValueError):
    """A rule says no; ``status`` is the HTTP status an API answers with."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.message, self.status = message, status


@dataclass
class Decision:
    """What to tell the citizen about a decision: the message, the {status} word of the case_update
    template (when it goes outside the 24-hour window) and ``reopen``, the step to ask again (need_info)."""

    text: str
    status_word: str
    reopen: str | None = None


def outcome(case: Case) -> str:
    """Where a case stands for the citizen: its status, and for a closed case how it ended (approved,
    rejected, or ``HANDLED``: closed without a decision)."""
    if case.status != CaseStatus.CLOSED:
        return case.status
    if case.decision_reason:
        return CaseStatus.REJECTED
    return CaseStatus.APPROVED if case.decided_at is not None else HANDLED


def overdue(case: Case, now: datetime | None = None) -> bool:
    """The one rule for "overdue": an agent has to act and the SLA due time has passed."""
    due = as_utc(case.sla_due_at) if case.sla_due_at is not None else None
    return bool(due is not None and case.status in WAITING_FOR_AGENT and due < (now or utcnow()))


def audit(session, staff: Staff | None, action: str, case_id: int | None = None, detail: str | None = None,
          channel: str = "console") -> None:
    session.add(AuditLog(staff_id=staff.id if staff else None, action=action, case_id=case_id, detail=detail,
                         channel=channel))


def event(session, case: Case, kind: str, staff: Staff | None, note: str | None = None) -> None:
    session.add(CaseEvent(case_id=case.id, kind=kind, actor=staff.name if staff else "system", note=note))


def may_see(case: Case, staff: Staff) -> bool:
    """Who sees a case's personal data unmasked, its documents and the conversation: its holder, or a supervisor."""
    return case.assigned_to == staff.id or staff.at_least(Role.SUPERVISOR)


def holder_or_supervisor(case: Case, staff: Staff) -> None:
    """Only the holder (or a supervisor) acts on a case; anyone else is told who holds it."""
    if may_see(case, staff):
        return
    if case.assigned_to is None:
        raise BackofficeError("claim this case first: only the agent holding it (or a supervisor) may do this")
    holder = object_session(case).get(Staff, case.assigned_to)
    raise BackofficeError(f"this case is held by {holder.name if holder else 'another agent'}: only they "
                          "(or a supervisor) may do this", 403)


def title(case: Case, product: Product) -> str:
    """The service as the citizen knew it when the case was made (kept when it leaves the menu)."""
    return case.service_title or product.title_of(case.service)


def claim(session, case: Case, staff: Staff, channel: str = "console") -> None:
    """Take a case; claiming a case one already holds changes nothing."""
    if case.assigned_to == staff.id and case.status == CaseStatus.IN_REVIEW:
        return
    claimable = (CaseStatus.SUBMITTED, CaseStatus.IN_REVIEW)
    won = session.execute(
        update(Case)
        .where(Case.id == case.id, Case.assigned_to.is_(None), Case.status.in_(claimable))
        .values(assigned_to=staff.id, claimed_at=utcnow(), status=CaseStatus.IN_REVIEW, updated_by_citizen=False)
    ).rowcount
    if not won:
        session.rollback()
        session.refresh(case)
        if case.status not in claimable:
            raise BackofficeError(f"a case that is {case.status} cannot be claimed")
        raise BackofficeError("another agent already holds this case")
    session.refresh(case)
    event(session, case, "claimed", staff)
    audit(session, staff, "claim", case.id, channel=channel)


def release(session, case: Case, staff: Staff, channel: str = "console") -> None:
    holder_or_supervisor(case, staff)
    case.assigned_to, case.claimed_at = None, None
    if case.status == CaseStatus.IN_REVIEW:
        case.status = CaseStatus.SUBMITTED
    event(session, case, "released", staff)
    audit(session, staff, "release", case.id, channel=channel)


def reassign(session, case: Case, staff: Staff, to: Staff, channel: str = "console") -> None:
    if not staff.at_least(Role.SUPERVISOR):
        raise BackofficeError("only a supervisor may reassign", 403)
    if case.status not in CaseStatus.OPEN:
        raise BackofficeError(f"a case that is {case.status} cannot be reassigned")
    case.assigned_to, case.claimed_at = to.id, utcnow()
    if case.status == CaseStatus.SUBMITTED:
        case.status = CaseStatus.IN_REVIEW
    event(session, case, "reassigned", staff, f"to {to.name}")
    audit(session, staff, "reassign", case.id, f"to staff {to.id}", channel=channel)


def askable_steps(flow) -> list:
    return [step for step in flow.steps.values() if step.type in ASKABLE] if flow else []


def decide(session, case: Case, staff: Staff, decision: str, product: Product, flow, note: str = "",
           reason: str | None = None, item: str | None = None, channel: str = "console") -> Decision:
    """Record the decision on the case; ``flow`` is the case's flow (for need_info)."""
    holder_or_supervisor(case, staff)
    if decision not in DECISIONS:
        raise BackofficeError(f"decision must be one of {', '.join(DECISIONS)}", 400)
    if case.service == HANDOFF:
        raise BackofficeError("a request to talk with an officer is answered in the chat, then closed", 400)
    if case.status != CaseStatus.IN_REVIEW:
        raise BackofficeError("claim the case before deciding it")
    note = (note or "").strip()
    values = {"ticket": case.ticket, "title": title(case, product), "note": note}
    if decision == "approve":
        case.status, case.decided_at, case.decision_note = CaseStatus.APPROVED, utcnow(), note
    elif decision == "reject":
        reasons = product.reject_reasons
        if not isinstance(reason, str) or reason not in reasons:
            raise BackofficeError(f"reason must be one of {', '.join(reasons)}", 400)
        case.status, case.decided_at = CaseStatus.REJECTED, utcnow()
        case.decision_reason, case.decision_note = reason, note
        values["reason"] = reasons[reason]
    else:
        if flow is None:
            raise BackofficeError(f"the {case.service} service has no flow to ask again", 400)
        asks = [step.id for step in askable_steps(flow)]
        if not isinstance(item, str) or item not in asks:
            raise BackofficeError(f"item must be one of {', '.join(asks)}", 400)
        case.status, case.need_info_item, case.decision_note = CaseStatus.NEED_INFO, item, note
    # In the service's own words when it has them: a complaint is followed up, never "approved".
    result = Decision(product.service_text(f"decision_{case.status}", case.service, **values),
                      product.service_text(f"case_update_{case.status}", case.service),
                      reopen=item if case.status == CaseStatus.NEED_INFO else None)
    event(session, case, decision, staff, note or reason or item)
    audit(session, staff, "decide", case.id, decision, channel=channel)
    return result


def close(session, case: Case, staff: Staff, product: Product, channel: str = "console") -> str:
    """Close a decided case (a handoff case once answered); returns the satisfaction question."""
    holder_or_supervisor(case, staff)
    closable = (CaseStatus.APPROVED, CaseStatus.REJECTED) + ((CaseStatus.IN_REVIEW,) if case.service == HANDOFF else ())
    if case.status not in closable:
        raise BackofficeError("only a decided case can be closed")
    case.status, case.closed_at = CaseStatus.CLOSED, utcnow()
    session.add(Satisfaction(case_id=case.id))
    event(session, case, "closed", staff)
    audit(session, staff, "close", case.id, channel=channel)
    return product.text("survey_question", ticket=case.ticket)


def message_text(text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        raise BackofficeError("the message is empty", 400)
    return text
