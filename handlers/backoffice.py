"""The rules of what agents do to cases: claim, release, reassign, decide (approve / reject / need more
info), close, write to the citizen; the audit log and the case history.

Each function takes the session and the acting staff member, checks the rule, changes the case and
returns what the citizen must be told. It never touches the conversation: bot.casework asks the flow
engine (flows.conversation) for that, stores the messages and queues them after the commit.
Claiming is one conditional UPDATE: two agents can never hold the same case. Approving a case of a
service that changes the membership registry (handlers.approvals: a death, a new facility) makes that
change in the same transaction, audited.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, update
from sqlalchemy import case as case_when
from sqlalchemy.orm import object_session

from handlers import approvals, visibility
from handlers.cases import HANDOFF, NOT_ASKED_AGAIN, is_request_field, office_today
from handlers.labels import status_label
from handlers.product import Product
from handlers.registry import LocalRegistry
from storage.branches import Branch
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


def overdue_condition(now: datetime):
    """``overdue`` as SQL, on the same constants (queue filters and counts)."""
    return and_(Case.status.in_(WAITING_FOR_AGENT), Case.sla_due_at.is_not(None), Case.sla_due_at < now)


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
        raise BackofficeError("ambil kasus ini dulu: hanya petugas yang memegangnya (atau supervisor) yang boleh")
    holder = object_session(case).get(Staff, case.assigned_to)
    raise BackofficeError(f"kasus ini dipegang {holder.name if holder else 'petugas lain'}: hanya dia "
                          "(atau supervisor) yang boleh", 403)


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
        .where(Case.id == case.id, Case.assigned_to.is_(None), Case.status.in_(claimable),
               # still in the branch the claimer saw it in (not transferred meanwhile)
               Case.branch_id == case.branch_id if case.branch_id is not None else Case.branch_id.is_(None))
        .values(assigned_to=staff.id, claimed_at=utcnow(), status=CaseStatus.IN_REVIEW, updated_by_citizen=False,
                read_at=None)
    ).rowcount
    if not won:
        session.rollback()
        session.refresh(case)
        if case.status not in claimable:
            raise BackofficeError(f"kasus berstatus {status_label(case.status)} tidak bisa diambil")
        if case.assigned_to is None:
            raise BackofficeError("kasus ini baru saja dipindahkan ke kantor cabang lain", 404)
        raise BackofficeError("kasus ini sudah diambil petugas lain")
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
        raise BackofficeError("hanya supervisor yang boleh mengalihkan kasus", 403)
    if case.status not in CaseStatus.OPEN:
        raise BackofficeError(f"kasus berstatus {status_label(case.status)} tidak bisa dialihkan")
    if not to.active or not visibility.sees(session, to, case):
        raise BackofficeError(f"{to.name} tidak bekerja di kantor cabang kasus ini: pindahkan kasusnya dulu")
    case.assigned_to, case.claimed_at, case.read_at = to.id, utcnow(), None  # the new holder has read nothing
    if case.status == CaseStatus.SUBMITTED:
        case.status = CaseStatus.IN_REVIEW
    event(session, case, "reassigned", staff, f"ke {to.name}")
    audit(session, staff, "reassign", case.id, f"ke petugas {to.id}", channel=channel)


TRANSFER_REASON = (5, 500)  # characters: a reason says why, in a sentence


def transfer(session, case: Case, staff: Staff, to: Branch, reason: str, channel: str = "console") -> Branch:
    """Move an open case to another branch (its holder or a supervisor, with a reason): nobody holds it
    there yet, it waits in that branch's queue with its SLA due time unchanged. Compare-and-set on the
    branch: two transfers at once do not both happen. Returns the branch it came from."""
    holder_or_supervisor(case, staff)
    if case.status not in CaseStatus.OPEN:
        raise BackofficeError(f"kasus berstatus {status_label(case.status)} tidak bisa dipindahkan")
    reason = " ".join((reason or "").split())
    if not TRANSFER_REASON[0] <= len(reason) <= TRANSFER_REASON[1]:
        raise BackofficeError(f"tulis alasan pemindahan ({TRANSFER_REASON[0]}–{TRANSFER_REASON[1]} karakter)", 400)
    if to.id == case.branch_id:
        raise BackofficeError(f"kasus ini sudah di {to.name}")
    came_from = case.branch
    moved = session.execute(
        update(Case).where(Case.id == case.id, Case.branch_id == case.branch_id, Case.status.in_(CaseStatus.OPEN))
        .values(branch_id=to.id, assigned_to=None, claimed_at=None, read_at=None, need_info_by=None,
                status=case_when((Case.status == CaseStatus.IN_REVIEW, CaseStatus.SUBMITTED), else_=Case.status))
    ).rowcount
    if not moved:
        session.rollback()
        raise BackofficeError("kasus ini baru saja diubah petugas lain: muat ulang halamannya")
    session.refresh(case)
    event(session, case, "transferred", staff, f"{came_from.code if came_from else '-'} → {to.code}: {reason}")
    audit(session, staff, "transfer", case.id, f"{came_from.code if came_from else '-'} → {to.code}", channel=channel)
    return came_from


def askable_steps(flow) -> list:
    """The questions an officer may ask again: those whose answer goes on the case (a photo's document
    does; "where do you live", which only routes a new case, does not)."""
    return [step for step in flow.steps.values() if step.type in ASKABLE
            and (step.type == "photo" or _asked_again(str(step.get("save_as", step.id))))] if flow else []


def _asked_again(key: str) -> bool:
    return is_request_field(key) and key not in NOT_ASKED_AGAIN


def decide(session, case: Case, staff: Staff, decision: str, product: Product, flow, note: str = "",
           reason: str | None = None, item: str | None = None, channel: str = "console") -> Decision:
    """Record the decision on the case; ``flow`` is the case's flow (for need_info)."""
    check_decision(case, staff, decision, product, flow, reason, item)
    note = (note or "").strip()
    if decision == "approve":
        case.status, case.decided_at, case.decision_note = CaseStatus.APPROVED, utcnow(), note
    elif decision == "reject":
        case.status, case.decided_at = CaseStatus.REJECTED, utcnow()
        case.decision_reason, case.decision_note = reason, note
    else:
        case.status, case.need_info_item, case.decision_note = CaseStatus.NEED_INFO, item, note
        case.need_info_by = staff.id  # the answer comes back to whoever asked
    result = decision_message(case, decision, product, note, reason, item)
    event(session, case, decision, staff, note or (product.reject_reasons.get(reason) if reason else None) or item)
    audit(session, staff, "decide", case.id, decision, channel=channel)
    if decision == "approve":
        today = office_today(product)
        changed = approvals.apply(LocalRegistry(session, today), case.service, case.fields, today)
        if changed:
            event(session, case, "registry_updated", staff, changed)
            audit(session, staff, "registry_update", case.id, changed, channel=channel)
    return result


def check_decision(case: Case, staff: Staff, decision: str, product: Product, flow, reason: str | None,
                   item: str | None) -> None:
    """May this staff member decide this case so, and does the decision name what it needs: a
    configured reason to reject, an askable step for need_info."""
    holder_or_supervisor(case, staff)
    if decision not in DECISIONS:
        raise BackofficeError(f"keputusan harus salah satu dari: {', '.join(DECISIONS)}", 400)
    if case.service == HANDOFF:
        raise BackofficeError("permintaan bicara dengan petugas dijawab lewat percakapan, lalu ditutup", 400)
    if case.status != CaseStatus.IN_REVIEW:
        raise BackofficeError("ambil kasus ini dulu sebelum memutuskannya")
    if decision == "reject":
        reasons = product.reject_reasons
        if not isinstance(reason, str) or reason not in reasons:
            raise BackofficeError("pilih alasan penolakan: " + "; ".join(f"{code} ({text})" for code, text in reasons.items()),
                                  400)
    elif decision == "approve":
        today = office_today(product)
        problem = approvals.problem(LocalRegistry(object_session(case), today), case.service, case.fields, today)
        if problem:
            raise BackofficeError(f"belum bisa disetujui: {problem}", 400)
    elif decision == "need_info":
        if flow is None:
            raise BackofficeError(f"layanan {case.service} tidak punya alur untuk bertanya ulang", 400)
        asks = [step.id for step in askable_steps(flow)]
        if not isinstance(item, str) or item not in asks:
            raise BackofficeError("pilih data yang diminta ulang: " + ", ".join(asks), 400)


DECISION_STATUS = {"approve": CaseStatus.APPROVED, "reject": CaseStatus.REJECTED, "need_info": CaseStatus.NEED_INFO}


def decision_message(case: Case, decision: str, product: Product, note: str = "", reason: str | None = None,
                     item: str | None = None) -> Decision:
    """What the citizen is told of this decision, in the service's own words when it has them (a
    complaint is followed up, never "approved"). The same text for the confirmation an agent reads
    before sending and for the message itself."""
    status = DECISION_STATUS[decision]
    values = {"ticket": case.ticket, "title": title(case, product), "note": (note or "").strip()}
    if status == CaseStatus.REJECTED:
        values["reason"] = product.reject_reasons[reason]
    if status == CaseStatus.APPROVED:  # what the approval changed, in the service's own words
        session = object_session(case)
        today = office_today(product)
        values.update(approvals.decision_values(LocalRegistry(session, today) if session is not None else None,
                                                case.service, case.fields, product, today))
    return Decision(product.service_text(f"decision_{status}", case.service, **values),
                    product.service_text(f"case_update_{status}", case.service),
                    reopen=item if status == CaseStatus.NEED_INFO else None)


def close(session, case: Case, staff: Staff, product: Product, channel: str = "console") -> str:
    """Close a decided case (a handoff case once answered); returns the satisfaction question."""
    holder_or_supervisor(case, staff)
    closable = (CaseStatus.APPROVED, CaseStatus.REJECTED) + ((CaseStatus.IN_REVIEW,) if case.service == HANDOFF else ())
    if case.status not in closable:
        raise BackofficeError("hanya kasus yang sudah diputuskan yang bisa ditutup")
    case.status, case.closed_at = CaseStatus.CLOSED, utcnow()
    session.add(Satisfaction(case_id=case.id))
    event(session, case, "closed", staff)
    audit(session, staff, "close", case.id, channel=channel)
    return product.text("survey_question", ticket=case.ticket)


def message_text(text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        raise BackofficeError("pesannya kosong", 400)
    return text
