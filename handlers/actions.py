"""Action handlers flow steps name (``handler: identify_member``).

Each takes the engine context and the run, may add values for the flow's texts, and returns an
outcome name the flow maps to its next step. Nothing here writes a text the citizen reads. Each is
registered in ``ACTIONS`` with the outcomes it can return and the values it adds, so that a flow an
admin saves is checked against what the handler really does (handlers.catalog).
"""
from __future__ import annotations

import logging
from datetime import date
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import select

from handlers import changes, deaths, family, faskes, lookups, routing
from handlers import registry as reg
from handlers.backoffice import HANDLED, WAITING_FOR_AGENT, outcome, title
from handlers.cases import create_case as new_case
from handlers.cases import office_today, promise, request_fields
from handlers.context import Context
from handlers.privacy import mask_name
from handlers.texts import render, rupiah, service_key
from handlers.worktime import format_date_short, format_day_id
from storage.cases import Case, CaseStatus
from storage.membership import InactiveReason, Segment
from storage.models import as_utc

log = logging.getLogger(__name__)


def identify_member(ctx: Context, run: dict) -> str:
    """Card number and date of birth, or NIK and date of birth from the registered phone (registry.identify);
    the number is ``id_number`` (card or NIK), or ``card_number`` in a flow that asks for the card only.
    Every failure gives the same outcome, counted against the sender's hourly limit."""
    if lookups.over_limit(ctx):
        log.info("lookup refused: citizen_id=%s over the failure limit", ctx.citizen.id)
        return "rate_limited"
    values = run["values"]
    number = values.get("id_number") or values.get("card_number")  # a flow may ask for the card number only
    member = reg.identify(reg.LocalRegistry(ctx.session), number, date.fromisoformat(values["birth_date"]),
                          ctx.citizen.phone)
    if member is None:
        lookups.count_failure(ctx)
        return "no_match"
    lookups.clear_failures(ctx)
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


def is_deceased(ctx: Context, run: dict) -> str:
    """The participant identify_member found is recorded as deceased (handlers.deaths): nothing to reactivate
    or change, said kindly instead of another reason."""
    return "yes" if run["values"].get("inactive_reason") == InactiveReason.DECEASED else "no"


def _documents_on_path(flow, run: dict) -> list[int]:
    """The documents of the photo steps the citizen went through: one of a step a changed answer led away
    from (a newborn's birth certificate, the newborn changed to a child at the confirmation) is not sent."""
    kinds = {flow.steps[s].get("document") for s in run.get("path", []) if s in flow.steps and flow.steps[s].type == "photo"}
    return [doc_id for kind, ids in run["docs"].items() if kind in kinds for doc_id in ids]


def create_case(ctx: Context, run: dict) -> str:
    values = run["values"]
    fields = request_fields(values)
    document_ids = _documents_on_path(ctx.flows[run["flow"]], run)
    case = new_case(ctx.session, ctx.citizen.id, run["flow"], fields, document_ids, run["version"], ctx.product,
                    values.get("branch"))
    ctx.created_cases.append(case.id)
    values["promise"] = promise(ctx.product, run["flow"], ctx.now, branch=case.branch)
    values["ticket"] = case.ticket
    return "created"


def route_branch(ctx: Context, run: dict) -> str:
    """Whether the branch of the coming case is known (the number written to, or the NIK's regency on the
    shared number): ``known``; else ``ask`` the citizen where they live (choose_branch reads the answer)."""
    values = run["values"]
    values.pop("branch", None)
    return "ask" if routing.needs_choice(ctx.session, ctx.citizen.id, request_fields(values)) else "known"


PLACE_TRIES = 2  # places typed that fit no branch before the case goes to the default branch


def choose_branch(ctx: Context, run: dict) -> str:
    """The branch of the place the citizen typed: ``chosen`` (one), ``unmatched`` (none, or several to
    tell apart), ``skipped`` (no answer, or PLACE_TRIES that fit none: the case goes to the default branch,
    whose national staff pass it on; the place typed stays on the case for them)."""
    values = run["values"]
    place = str(values.get("branch_place") or "").strip()
    if not place:
        values.update(branch=None, branch_title="")
        return "skipped"
    found = routing.by_place(ctx.session, place)
    if len(found) != 1:
        values["branch_tries"] = int(values.get("branch_tries") or 0) + 1
        if values["branch_tries"] >= PLACE_TRIES:  # not asked for ever: the national staff route it
            values.update(branch=None, branch_title="")
            return "skipped"
        return "unmatched"
    values.update(branch=found[0].code, branch_title=found[0].name)
    return "chosen"


def find_case(ctx: Context, run: dict) -> str:
    """The citizen's own case by ticket (or their latest): never anyone else's. Answers where it stands
    (its status; a closed case: how it ended), which picks the flow's answer, with what that answer tells:
    the reason of a rejection, the officer's note, the item the officer waits for, when an officer will look.
    The words are the flow's texts, a service's own ones first (``status_approved_complaint``)."""
    values = run["values"]
    query = select(Case).where(Case.citizen_id == ctx.citizen.id)
    if values["ticket"] == "LAST":
        query = query.order_by(Case.id.desc()).limit(1)
    else:
        query = query.where(Case.ticket == values["ticket"])
    case = ctx.session.scalar(query)
    if case is None:
        return "not_found"
    product, texts, shown = ctx.product, ctx.flows[run["flow"]].texts, outcome(case)

    def said(key: str) -> str:
        return render(texts.get(service_key(texts, key, case.service), ""), values)

    decided = shown in (CaseStatus.NEED_INFO, CaseStatus.APPROVED, CaseStatus.REJECTED)
    values.update(
        ticket=case.ticket, service_title=title(case, product),
        submitted_text=format_date_short(as_utc(case.created_at).astimezone(product.timezone)),
        note=(case.decision_note or "").strip() if decided else "",
        reason=_reason(product, texts, case) if shown == CaseStatus.REJECTED else "",
        awaited=_awaited(ctx, case) if shown == CaseStatus.NEED_INFO else "",
        promise=promise(product, case.service, ctx.now, case.sla_due_at, case.branch) if shown in WAITING_FOR_AGENT else "",
    )
    values.update(status_label=said(f"status_{shown}"), status_next=said(f"next_{shown}"),
                  officer_note=said("officer_note") if values["note"] else "")
    return shown


def _reason(product, texts: dict, case: Case) -> str:
    """Why the case was rejected, in words (a reason an admin removed since: the flow's ``reason_unknown``)."""
    return product.reject_reasons.get(case.decision_reason or "") or texts.get("reason_unknown", "")


def _awaited(ctx: Context, case: Case) -> str:
    """What the officer asked for: the label of that step of the case's flow (its name when the flow or
    the step is gone)."""
    flow = ctx.flows.get(case.service)
    step = flow.steps.get(case.need_info_item) if flow else None
    return ctx.product.step_label(step) if step else ctx.product.field_label(case.need_info_item or "")


@dataclass(frozen=True)
class Action:
    """A handler, the outcomes it can return, and the values it adds to the run (for the flow's texts)."""

    run: Callable[[Context, dict], str]
    outcomes: tuple[str, ...]
    provides: tuple[str, ...] = ()


MEMBER_VALUES = ("card_number", "member_name", "segment", "segment_label", "care_class", "faskes", "arrears",
                 "arrears_text", "decree_number", "active", "inactive_reason")

ACTIONS: dict[str, Action] = {
    "identify_member": Action(identify_member, ("found", "no_match", "rate_limited"), MEMBER_VALUES),
    "status_outcome": Action(status_outcome, ("active", "inactive_pbi", "inactive_arrears", "inactive_nik",
                                              "inactive_other")),
    "assess_reactivation": Action(assess_reactivation, (reg.Kind.ACTIVE, reg.Kind.PBPU_ARREARS,
                                                        reg.Kind.WITHIN_DEADLINE, reg.Kind.NEEDS_SKTM,
                                                        reg.Kind.OTHER_REASON, reg.Kind.NOT_PBI),
                                  ("assessment", "deadline_text", "past_deadline", "needs_sktm")),
    "needs_sktm": Action(needs_sktm, ("yes", "no")),
    "is_deceased": Action(is_deceased, ("yes", "no")),
    "create_case": Action(create_case, ("created",), ("ticket", "promise")),
    "route_branch": Action(route_branch, ("known", "ask")),
    "choose_branch": Action(choose_branch, ("chosen", "unmatched", "skipped"), ("branch", "branch_title")),
    "check_new_nik": Action(changes.check_new_nik, changes.OUTCOMES, ("member_name",)),
    "check_new_phone": Action(changes.check_new_phone, changes.OUTCOMES, ("member_name",)),
    "find_case": Action(find_case, (CaseStatus.SUBMITTED, CaseStatus.IN_REVIEW, CaseStatus.NEED_INFO,
                                    CaseStatus.APPROVED, CaseStatus.REJECTED, HANDLED, "not_found"),
                        ("ticket", "service_title", "submitted_text", "status_label", "status_next", "note",
                         "officer_note", "reason", "awaited", "promise")),
    # Lapor peserta meninggal, tambah anggota keluarga, pindah faskes (handlers.deaths, .family, .faskes).
    "find_deceased": Action(deaths.find_deceased, deaths.OUTCOMES, ("member_name", "segment", "segment_label")),
    "family_segment": Action(family.family_segment, family.SEGMENT_OUTCOMES, family.SEGMENT_VALUES),
    "check_member_nik": Action(family.check_member_nik, ("ok", "nik_required")),
    "family_document": Action(family.family_document, family.DOCUMENT_OUTCOMES),
    "assess_faskes_change": Action(faskes.assess_faskes_change, faskes.ASSESS_OUTCOMES, faskes.ASSESS_VALUES),
    "list_facilities": Action(faskes.list_facilities, faskes.LIST_OUTCOMES, faskes.LIST_VALUES),
    "pick_facility": Action(faskes.pick_facility, faskes.PICK_OUTCOMES, faskes.PICK_VALUES),
    "faskes_pending": Action(faskes.faskes_pending, faskes.PENDING_OUTCOMES, faskes.PENDING_VALUES),
}
