"""Creating cases from completed flows, and putting them in front of agents.

A case is created in one transaction with its ticket (``PDW-YYYYMMDD-NNNN``, a daily sequence that
stays unique when many workers confirm at once), its fields and documents. After the commit the
``backoffice`` queue's job (bot.jobs.queue_case) calls ``schedule``: the SLA due time in working hours.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from handlers import reuse, routing
from handlers.worktime import DAYS_ID, format_date_short, format_moment_id, zone_label
from storage.cases import Case, CaseEvent, CaseStatus, Document, TicketCounter
from storage.models import as_utc, utcnow
from storage.staff import Staff

log = logging.getLogger(__name__)


def next_ticket(session, day: date) -> str:
    """Atomically take the next number of the day (an upsert that returns the new value)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(TicketCounter)
        .values(day=day, last=1)
        .on_conflict_do_update(index_elements=[TicketCounter.day], set_={"last": TicketCounter.last + 1})
        .returning(TicketCounter.last)
    )
    number = session.execute(statement).scalar_one()
    return f"PDW-{day:%Y%m%d}-{number:04d}"


def office_today(product) -> date:
    return datetime.now(product.timezone).date()


# Values of a flow run that are not the citizen's request (identity lookups, display copies).
_INTERNAL = ("sender_phone", "sender_masked", "sender_option", "office", "office_contact", "active", "inactive_reason", "assessment",
             "branch", "branch_title", "branch_tries",  # the branch the citizen chose is the case's branch
             # change_faskes: the list offered and the number picked from it (the case holds the facility itself)
             "facility_choices", "facility_count", "faskes_choice")


# Values officers read on the case but never ask again: where the citizen lives routes a new case (the
# place typed stays for national staff, who transfer it), asking it again would move nothing.
NOT_ASKED_AGAIN = ("branch_place",)


def is_request_field(key: str) -> bool:
    """Whether a run's value of this name belongs on the case (else it is the bot's own business)."""
    return key not in _INTERNAL and not key.startswith("doc_") and not key.endswith("_text")


def request_fields(values: dict) -> dict:
    """What a run collected that belongs on the case."""
    return {k: v for k, v in values.items() if is_request_field(k)}


def create_case(session, citizen_id: int, service: str, fields: dict, document_ids: list[int], flow_version: str,
                product, chosen_branch: str | None = None) -> Case:
    branch = routing.for_case(session, citizen_id, fields, chosen_branch)
    case = Case(
        ticket=next_ticket(session, office_today(product)), service=service, service_title=product.title_of(service),
        citizen_id=citizen_id, status=CaseStatus.SUBMITTED, fields=fields, flow_version=flow_version,
        branch_id=branch.id, branch=branch,
    )
    session.add(case)
    session.flush()
    if document_ids:
        session.execute(update(Document).where(Document.id.in_(document_ids)).values(case_id=case.id))
    session.add(CaseEvent(case_id=case.id, kind="created", note=f"{len(document_ids)} dokumen"))
    log.info("case id=%s service=%s created with %d document(s)", case.id, service, len(document_ids))
    return case


HANDOFF = "handoff"  # a case that is a request to talk with an officer, not a service
ERASURE = "erasure"  # a citizen asks for their personal data to be erased (UU 27/2022); an officer confirms


def _open_case(ctx, kind: str, fields: dict) -> tuple[Case, bool]:
    """This citizen's open case of this kind, or a new one for the agents' queue. (case, is it new)"""
    existing = ctx.session.scalar(select(Case).where(
        Case.citizen_id == ctx.citizen.id, Case.service == kind, Case.status.in_(CaseStatus.OPEN)))
    if existing is not None:
        return existing, False
    case = create_case(ctx.session, ctx.citizen.id, kind, fields, [], "", ctx.product)
    ctx.created_cases.append(case.id)
    return case, True


def open_handoff_case(ctx, active_flow: str | None) -> Case | None:
    """A handoff case for the agents' queue, unless this citizen already has one open."""
    case, new = _open_case(ctx, HANDOFF, {"flow": active_flow} if active_flow else {})
    return case if new else None


def withdraw_handoff(session, citizen_id: int) -> Case | None:
    """The citizen no longer needs an officer ("batal" while waiting): their open handoff case is closed
    unless an officer already holds it (then it stays, so the officer sees it was withdrawn)."""
    case = session.scalar(select(Case).where(
        Case.citizen_id == citizen_id, Case.service == HANDOFF, Case.status.in_(CaseStatus.OPEN)))
    if case is None:
        return None
    if case.status == CaseStatus.SUBMITTED:
        case.status, case.closed_at = CaseStatus.CLOSED, utcnow()
    session.add(CaseEvent(case_id=case.id, kind="withdrawn", actor="citizen"))
    return case


def open_erasure_case(ctx) -> Case:
    """A request to erase this citizen's data (one open at a time), for an officer to confirm."""
    return _open_case(ctx, ERASURE, {})[0]


def attach_update(session, case_id: int, run: dict) -> Case:
    """The citizen sent what the officer asked for: attach it and give the case back to the officer who
    asked (or to the queue, when nobody holds it any more), flagged as updated."""
    case = session.get(Case, case_id)
    document_ids = [doc_id for ids in run["docs"].values() for doc_id in ids]
    if document_ids:
        session.execute(update(Document).where(Document.id.in_(document_ids)).values(case_id=case.id))
        session.expire(case, ["documents"])
        reuse.record_matches(session, case)
    case.fields = {**case.fields, **request_fields(run["values"])}
    case.updated_by_citizen = True
    session.add(CaseEvent(case_id=case.id, kind="updated", actor="citizen", note=case.need_info_item))
    if case.assigned_to is None and case.need_info_by is not None:
        asker = session.get(Staff, case.need_info_by)
        if asker is not None and asker.active:  # released meanwhile: back to whoever asked
            case.assigned_to, case.claimed_at = asker.id, utcnow()
            session.add(CaseEvent(case_id=case.id, kind="returned", note=asker.name))
    case.status = CaseStatus.IN_REVIEW if case.assigned_to else CaseStatus.SUBMITTED
    return case


def need_info_abandoned(session, case_id: int) -> Case | None:
    """The citizen will not send what the officer asked for (cancelled, started something else): the
    case goes back to the agents' queue instead of waiting for ever."""
    case = session.get(Case, case_id)
    if case is None or case.status != CaseStatus.NEED_INFO:
        return None
    case.status, case.assigned_to, case.claimed_at = CaseStatus.SUBMITTED, None, None
    session.add(CaseEvent(case_id=case.id, kind="need_info_abandoned", actor="citizen", note=case.need_info_item))
    return case


def schedule(session, case: Case, product, now: datetime | None = None) -> bool:
    """Put a new case in front of agents: its SLA due time in working hours of its branch's calendar.
    False when already done."""
    if case.queued_at is not None:
        return False
    hours = routing.sla_hours(product, case.branch, case.service)
    due = routing.calendar(product, case.branch).add_working_hours(as_utc(case.created_at), hours)
    case.sla_due_at = due.astimezone(timezone.utc)  # stored in UTC: SQLite keeps no offset
    case.queued_at = now or utcnow()
    session.add(CaseEvent(case_id=case.id, kind="queued", note=f"SLA {hours:g} jam kerja"))
    return True


def opening(product, moment: datetime) -> dict[str, str]:
    """When the office opens next, as the citizen reads it: {day}, {time}, {zone}."""
    return {"day": f"{DAYS_ID[moment.weekday()]}, {format_date_short(moment.date())}", "time": moment.strftime("%H.%M"),
            "zone": zone_label(product.timezone)}


def promise(product, service: str, now: datetime, due: datetime | None = None, branch=None) -> str:
    """When an officer will look at a case of ``service``, honestly, from its branch's calendar and SLA:
    within the SLA's working hours (a new case), by its due time (a queued one), when the office opens
    (closed now); a case past its due time gets an apology instead of a promise."""
    if due is not None and as_utc(due) <= now:
        return product.text("promise_late")
    moment = routing.calendar(product, branch).promise(now)
    if not moment.open_now:
        return product.text("promise_closed", **opening(product, moment.next_open))
    if due is not None:
        return product.text("promise_due", due=format_moment_id(as_utc(due), product.timezone))
    return product.text("promise_open", hours=routing.sla_hours(product, branch, service))


def schedule_without_sla(session, case: Case, reason: str) -> None:
    """Scheduling kept failing: the case is visible to agents anyway, without a due time."""
    case.queued_at = utcnow()
    session.add(CaseEvent(case_id=case.id, kind="queued", note=f"tanpa SLA: {reason}"[:500]))


def unqueued_case_ids(session, older_than: datetime) -> list[int]:
    return list(session.scalars(
        select(Case.id).where(Case.queued_at.is_(None), Case.created_at < older_than).order_by(Case.id).limit(500)
    ))
