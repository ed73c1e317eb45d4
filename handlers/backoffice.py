"""What agents do to cases, shared by the console and the API: claim, release, reassign, decide
(approve / reject / need more info), close (then the satisfaction question), and the audit log.

Each function takes the session and the acting staff member, checks the rule, changes the rows,
stores the message to the citizen, and returns ids of outbound messages to enqueue after commit.
Claiming is one conditional UPDATE: two agents can never hold the same case.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import update

from bot.notify import notify
from bot.product import Product
from storage.cases import Case, CaseEvent, CaseStatus
from storage.models import Conversation, utcnow
from storage.staff import AuditLog, Role, Satisfaction, Staff

DECISIONS = ("approve", "reject", "need_info")


class BackofficeError(ValueError):
    """A rule says no; ``status`` is the HTTP status an API answers with."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.message, self.status = message, status


@dataclass
class Done:
    case: Case
    outbound_ids: list[int] = field(default_factory=list)


def audit(session, staff: Staff | None, action: str, case_id: int | None = None, detail: str | None = None,
          channel: str = "console") -> None:
    session.add(AuditLog(staff_id=staff.id if staff else None, action=action, case_id=case_id, detail=detail,
                         channel=channel))


def _event(session, case: Case, kind: str, staff: Staff | None, note: str | None = None) -> None:
    session.add(CaseEvent(case_id=case.id, kind=kind, actor=staff.name if staff else "system", note=note))


def _holder_or_supervisor(case: Case, staff: Staff) -> None:
    if case.assigned_to != staff.id and not staff.at_least(Role.SUPERVISOR):
        raise BackofficeError("only the agent holding this case (or a supervisor) may do this", 403)


def claim(session, case: Case, staff: Staff, channel: str = "console") -> Done:
    """Take a case; claiming a case one already holds changes nothing."""
    if case.assigned_to == staff.id and case.status == CaseStatus.IN_REVIEW:
        return Done(case)
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
    _event(session, case, "claimed", staff)
    audit(session, staff, "claim", case.id, channel=channel)
    return Done(case)


def release(session, case: Case, staff: Staff, channel: str = "console") -> Done:
    _holder_or_supervisor(case, staff)
    case.assigned_to, case.claimed_at = None, None
    if case.status == CaseStatus.IN_REVIEW:
        case.status = CaseStatus.SUBMITTED
    _event(session, case, "released", staff)
    audit(session, staff, "release", case.id, channel=channel)
    return Done(case)


def reassign(session, case: Case, staff: Staff, to: Staff, channel: str = "console") -> Done:
    if not staff.at_least(Role.SUPERVISOR):
        raise BackofficeError("only a supervisor may reassign", 403)
    if case.status not in CaseStatus.OPEN:
        raise BackofficeError(f"a case that is {case.status} cannot be reassigned")
    case.assigned_to, case.claimed_at = to.id, utcnow()
    if case.status == CaseStatus.SUBMITTED:
        case.status = CaseStatus.IN_REVIEW
    _event(session, case, "reassigned", staff, f"to {to.name}")
    audit(session, staff, "reassign", case.id, f"to staff {to.id}", channel=channel)
    return Done(case)


def _tell(session, case: Case, product: Product, text: str, status_word: str) -> int:
    row = notify(session, case.citizen, text, product, utcnow(), "case_update", {"ticket": case.ticket, "status": status_word})
    session.flush()
    return row.id


def decide(session, case: Case, staff: Staff, decision: str, product: Product, flows: dict, note: str = "",
           reason: str | None = None, item: str | None = None, channel: str = "console") -> Done:
    from handlers.cases import HANDOFF

    if decision not in DECISIONS:
        raise BackofficeError(f"decision must be one of {', '.join(DECISIONS)}", 400)
    if case.service == HANDOFF:
        raise BackofficeError("a request to talk with an officer is answered in the chat, then closed", 400)
    if case.status != CaseStatus.IN_REVIEW:
        raise BackofficeError("claim the case before deciding it")
    _holder_or_supervisor(case, staff)
    texts, note = product.raw["texts"], (note or "").strip()
    values = {"ticket": case.ticket, "title": product.service(case.service).title, "note": note}
    if decision == "approve":
        case.status, case.decided_at, case.decision_note = CaseStatus.APPROVED, utcnow(), note
        text = texts["decision_approved"].format(**values)
    elif decision == "reject":
        reasons = product.raw["reject_reasons"]
        if not isinstance(reason, str) or reason not in reasons:
            raise BackofficeError(f"reason must be one of {', '.join(reasons)}", 400)
        case.status, case.decided_at = CaseStatus.REJECTED, utcnow()
        case.decision_reason, case.decision_note = reason, note
        text = texts["decision_rejected"].format(reason=reasons[reason], **values)
    else:
        flow = flows.get(case.service)
        if flow is None:
            raise BackofficeError(f"the {case.service} service has no flow to ask again", 400)
        if not isinstance(item, str) or item not in flow.steps or flow.step(item).type not in ("text", "photo"):
            asks = [s.id for s in flow.steps.values() if s.type in ("text", "photo")]
            raise BackofficeError(f"item must be one of {', '.join(asks)}", 400)
        case.status, case.need_info_item, case.decision_note = CaseStatus.NEED_INFO, item, note
        text = _reopen(session, case, flow, item, texts, values)
    _event(session, case, decision, staff, note or reason or item)
    audit(session, staff, "decide", case.id, decision, channel=channel)
    return Done(case, [_tell(session, case, product, text, decision)])


def _reopen(session, case: Case, flow, item: str, texts: dict, values: dict) -> str:
    """Need more info: the citizen's conversation gets a run of the case's flow at just that step."""
    from flows.render import render

    conversation = case.citizen.conversation or Conversation(citizen=case.citizen, state={})
    session.add(conversation)
    state = dict(conversation.state or {})
    if state.get("run"):
        state["paused_run"] = state.pop("run")
    run_values = {"sender_phone": case.citizen.phone}
    state["run"] = {"flow": flow.id, "version": flow.version, "step": item, "values": run_values, "docs": {},
                    "failures": 0, "pending_cancel": False, "need_info_case": case.id}
    conversation.state, conversation.active_flow = state, flow.id
    conversation.last_activity_at, conversation.reminded_at = utcnow(), None
    ask = render(flow.step(item).get("ask"), run_values)
    return texts["decision_need_info"].format(**values) + "\n\n" + ask


def close(session, case: Case, staff: Staff, product: Product) -> Done:
    from handlers.cases import HANDOFF

    closable = (CaseStatus.APPROVED, CaseStatus.REJECTED) + ((CaseStatus.IN_REVIEW,) if case.service == HANDOFF else ())
    if case.status not in closable:
        raise BackofficeError("only a decided case can be closed")
    _holder_or_supervisor(case, staff)
    case.status, case.closed_at = CaseStatus.CLOSED, utcnow()
    session.add(Satisfaction(case_id=case.id))
    conversation = case.citizen.conversation or Conversation(citizen=case.citizen, state={})
    session.add(conversation)
    conversation.state = {**(conversation.state or {}), "survey": case.id}
    _event(session, case, "closed", staff)
    text = product.raw["texts"]["survey_question"].format(ticket=case.ticket)
    row = notify(session, case.citizen, text, product, utcnow(), "satisfaction", {"ticket": case.ticket})
    session.flush()
    return Done(case, [row.id])


def agent_message(session, case: Case, staff: Staff, text: str, product: Product) -> Done:
    """An agent writes to the citizen from the console (the bot is silent meanwhile)."""
    text = (text or "").strip()
    if not text:
        raise BackofficeError("the message is empty", 400)
    row = notify(session, case.citizen, text, product, utcnow(), "case_update", {"ticket": case.ticket, "status": "pesan"})
    row.agent_id = staff.id
    take_over(session, case, staff)
    audit(session, staff, "message", case.id)
    session.flush()
    return Done(case, [row.id])


def take_over(session, case: Case, staff: Staff) -> None:
    conversation = case.citizen.conversation or Conversation(citizen=case.citizen, state={})
    session.add(conversation)
    if conversation.handoff_since is None:
        conversation.handoff_since = utcnow()
        _event(session, case, "handoff", staff)


def hand_back(session, case: Case, staff: Staff, product: Product) -> Done:
    conversation = case.citizen.conversation
    if conversation is None or conversation.handoff_since is None:
        raise BackofficeError("the bot is not paused for this citizen")
    conversation.handoff_since = None
    _event(session, case, "handback", staff)
    text = product.raw["texts"]["handback"]
    row = notify(session, case.citizen, text, product, utcnow(), "case_update", {"ticket": case.ticket, "status": "-"})
    session.flush()
    return Done(case, [row.id])
