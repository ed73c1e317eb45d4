"""Action handlers flow steps name (``handler: identify_member``), registered in one place.

Each takes the engine context and the run, may add values for the flow's texts, and returns an
outcome name the flow maps to its next step. Nothing here writes a text the citizen reads.
"""
from __future__ import annotations

import logging
from datetime import date
from typing import Callable

from sqlalchemy import select

from flows.context import Context
from handlers import registry as reg
from handlers.cases import create_case as new_case
from handlers.cases import enqueue_case, office_today, request_fields
from handlers.worktime import WorkingCalendar, format_day_id
from storage.cases import Case
from storage.membership import InactiveReason, Segment

log = logging.getLogger(__name__)


def rupiah(amount: int) -> str:
    return "Rp" + f"{amount:,}".replace(",", ".")


def mask_name(name: str) -> str:
    """'Siti Rahmawati' → 'Siti R*********': enough to recognise, not to learn."""
    first, *rest = name.split()
    return " ".join([first] + [w[0] + "*" * (len(w) - 1) for w in rest])


def _limit_key(ctx: Context) -> str:
    return f"pandawa:lookup-failures:{ctx.citizen.id}"


def identify_member(ctx: Context, run: dict) -> str:
    """Card number or NIK plus date of birth. No match and a wrong date give the same outcome."""
    limit = int(ctx.product.raw["limits"].get("lookup_failures_per_hour", 5))
    failures = int(ctx.redis.get(_limit_key(ctx)) or 0)
    if failures >= limit:
        log.info("lookup refused: citizen_id=%s over the failure limit", ctx.citizen.id)
        return "rate_limited"
    values = run["values"]
    member = reg.identify(reg.LocalRegistry(ctx.session), values["id_number"], date.fromisoformat(values["birth_date"]))
    if member is None:
        pipe = ctx.redis.pipeline()
        pipe.incr(_limit_key(ctx))
        pipe.expire(_limit_key(ctx), 3600)
        pipe.execute()
        return "no_match"
    ctx.redis.delete(_limit_key(ctx))
    segment_labels = ctx.flows[run["flow"]].texts
    values.update(
        card_number=member.card_number, member_name=mask_name(member.name),
        segment=member.segment, segment_label=segment_labels.get(f"segment_{member.segment}", member.segment),
        care_class=member.care_class, faskes=member.faskes, arrears=member.arrears, arrears_text=rupiah(member.arrears),
        decree_number=member.decree_number or "", active=member.active, inactive_reason=member.inactive_reason or "",
    )
    return "found"


def status_outcome(ctx: Context, run: dict) -> str:
    values = run["values"]
    if values["active"]:
        return "active"
    reason = values["inactive_reason"]
    if reason == InactiveReason.DECREE and values["segment"] in Segment.PBI:
        return "inactive_pbi"
    if reason == InactiveReason.ARREARS:
        return "inactive_arrears"
    if reason == InactiveReason.NIK_INVALID:
        return "inactive_nik"
    return "inactive_other"


def assess_reactivation(ctx: Context, run: dict) -> str:
    registry = reg.LocalRegistry(ctx.session)
    values = run["values"]
    member = registry.by_card(values["card_number"])
    assessment = reg.reactivation(member, office_today(ctx.product), registry)
    values.update(
        assessment=assessment.kind, deadline_text=format_day_id(assessment.deadline) if assessment.deadline else "-",
        past_deadline=assessment.past_deadline, needs_sktm=reg.Doc.SKTM in assessment.documents,
    )
    return assessment.kind


def needs_sktm(ctx: Context, run: dict) -> str:
    return "yes" if run["values"].get("needs_sktm") else "no"


def create_case(ctx: Context, run: dict) -> str:
    values = run["values"]
    fields = request_fields(values)
    document_ids = [doc_id for ids in run["docs"].values() for doc_id in ids]
    case = new_case(ctx.session, ctx.citizen.id, run["flow"], fields, document_ids, run["version"], ctx.product)
    ctx.after_commit.append(lambda case_id=case.id: enqueue_case(case_id))
    calendar = WorkingCalendar.from_config(ctx.product.raw["working_hours"])
    promise = calendar.promise(ctx.now)
    if promise.open_now:
        values["promise"] = ctx.product.text("promise_open", hours=ctx.product.sla_hours(run["flow"]))
    else:
        values["promise"] = ctx.product.text(
            "promise_closed", day=format_day_id(promise.next_open.date()), time=promise.next_open.strftime("%H.%M")
        )
    values["ticket"] = case.ticket
    return "created"


def find_case(ctx: Context, run: dict) -> str:
    """The citizen's own case by ticket (or their latest): never anyone else's."""
    values = run["values"]
    query = select(Case).where(Case.citizen_id == ctx.citizen.id)
    if values["ticket"] == "LAST":
        query = query.order_by(Case.id.desc()).limit(1)
    else:
        query = query.where(Case.ticket == values["ticket"])
    case = ctx.session.scalar(query)
    if case is None:
        return "not_found"
    texts = ctx.flows[run["flow"]].texts
    values.update(
        ticket=case.ticket, service_title=ctx.product.service(case.service).title,
        status_label=texts.get(f"status_{case.status}", case.status), status_next=texts.get(f"next_{case.status}", ""),
        submitted_text=format_day_id(case.created_at.date()),
    )
    return "found"


ACTIONS: dict[str, Callable[[Context, dict], str]] = {
    "identify_member": identify_member,
    "status_outcome": status_outcome,
    "assess_reactivation": assess_reactivation,
    "needs_sktm": needs_sktm,
    "create_case": create_case,
    "find_case": find_case,
}
