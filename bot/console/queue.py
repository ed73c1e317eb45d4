"""The queue: cases by status, oldest first, SLA due time with overdue highlighted, filters, counts.
The rows refresh every few seconds without a full reload (a fragment fetched by console.js)."""
from __future__ import annotations

from flask import current_app, render_template, request
from sqlalchemy import func, select

from bot.console import bp
from bot.console.auth import role_required
from handlers import backoffice as bo
from storage import db
from storage.cases import Case, CaseStatus
from storage.models import as_utc, utcnow
from storage.staff import Role, Staff

STATUSES = (CaseStatus.SUBMITTED, CaseStatus.IN_REVIEW, CaseStatus.NEED_INFO, CaseStatus.APPROVED,
            CaseStatus.REJECTED, CaseStatus.CLOSED)
STATUS_LABELS = {
    CaseStatus.SUBMITTED: "Baru", CaseStatus.IN_REVIEW: "Diperiksa", CaseStatus.NEED_INFO: "Perlu data",
    CaseStatus.APPROVED: "Disetujui", CaseStatus.REJECTED: "Ditolak", CaseStatus.CLOSED: "Selesai",
}


def _filters() -> tuple[list[str], str | None]:
    status = request.args.get("status") or ""
    statuses = [status] if status in STATUSES else list(CaseStatus.OPEN)
    service = request.args.get("service") or None
    return statuses, service


def queue_rows(statuses: list[str], service: str | None, limit: int = 200) -> list[dict]:
    session = db.session()
    query = select(Case, Staff.name).outerjoin(Staff, Staff.id == Case.assigned_to).where(Case.status.in_(statuses))
    if service:
        query = query.where(Case.service == service)
    now = utcnow()
    product = current_app.config["PRODUCT"]
    rows = []
    for case, agent in session.execute(query.order_by(Case.created_at, Case.id).limit(limit)):
        due = as_utc(case.sla_due_at) if case.sla_due_at else None
        rows.append({
            "ticket": case.ticket, "id": case.id, "service": bo.title(case, product),
            "status": case.status, "status_label": STATUS_LABELS.get(case.status, case.status),
            "created_at": as_utc(case.created_at), "due": due, "overdue": bo.overdue(case, now),
            "agent": agent, "updated": case.updated_by_citizen,
        })
    return rows


def status_counts(service: str | None) -> dict[str, int]:
    query = select(Case.status, func.count()).group_by(Case.status)
    if service:
        query = query.where(Case.service == service)
    counts = dict(db.session().execute(query).all())
    return {status: counts.get(status, 0) for status in STATUSES}


@bp.get("/")
@role_required(Role.AGENT)
def queue():
    statuses, service = _filters()
    return render_template(
        "queue.html", rows=queue_rows(statuses, service), counts=status_counts(service), labels=STATUS_LABELS,
        menu=current_app.config["PRODUCT"].menu, status=request.args.get("status", ""), service=service or "",
    )


@bp.get("/queue/rows")
@role_required(Role.AGENT)
def queue_fragment():
    statuses, service = _filters()
    return render_template("_queue_rows.html", rows=queue_rows(statuses, service), counts=status_counts(service),
                           labels=STATUS_LABELS, status=request.args.get("status", ""), service=service or "")
