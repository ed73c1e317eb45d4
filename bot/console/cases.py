"""The case page and what an agent does there. Every view of a case's personal data is audited;
documents are served only to logged-in staff, by id behind the case's ticket (never a public URL)."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from bot import casework
from bot.console import bp
from bot.console.auth import me, role_required
from bot.console.queue import STATUS_LABELS
from flows import conversation
from handlers import backoffice as bo
from handlers import phones, privacy
from storage import db
from storage.cases import Case, CaseStatus
from storage.models import InboundMessage, OutboundMessage
from storage.staff import AuditLog, Role, Staff


def _case(ticket: str) -> Case:
    case = db.session().scalar(select(Case).where(Case.ticket == ticket))
    if case is None:
        abort(404)
    return case


def transcript(case: Case) -> list[dict]:
    if case.citizen_id is None:
        return []  # erased
    session = db.session()
    items = [{"direction": "in", "body": m.body or ("[lampiran]" if m.media else ""), "at": m.received_at}
             for m in session.scalars(select(InboundMessage).where(InboundMessage.citizen_id == case.citizen_id))]
    items += [{"direction": "agent" if m.agent_id else "out", "body": m.body, "at": m.created_at}
              for m in session.scalars(select(OutboundMessage).where(OutboundMessage.citizen_id == case.citizen_id))]
    return sorted(items, key=lambda item: item["at"])[-100:]


@bp.get("/cases/<ticket>")
@role_required(Role.AGENT)
def case_page(ticket: str):
    session, staff = db.session(), me()
    case = _case(ticket)
    bo.audit(session, staff, "view_case", case.id)
    session.commit()
    holder = bo.may_see(case, staff)  # the holder, or a supervisor: everyone else sees personal data masked
    flow = casework.case_flow(session, case)
    askable = [(s.id, s.get("ask", s.id).split("\n")[0][:60]) for s in bo.askable_steps(flow)]
    product = current_app.config["PRODUCT"]
    return render_template(
        "case.html", case=case, holder=holder, staff=staff,
        phone=_number(case) if holder else phones.mask(case.citizen.phone if case.citizen else None),
        profile_name=_profile_name(case, holder),
        fields=dict(case.fields or {}) if holder else privacy.mask_fields(case.fields),
        audit_trail=audit_trail(case) if staff.at_least(Role.SUPERVISOR) else None,
        service_title=bo.title(case, product), transcript=transcript(case) if holder else [],
        reasons=product.reject_reasons, askable=askable,
        agents=session.scalars(select(Staff).where(Staff.active.is_(True)).order_by(Staff.name)).all()
        if staff.at_least(Role.SUPERVISOR) else [],
        paused=conversation.is_silent(case.citizen.conversation if case.citizen else None),
        holder_name=session.get(Staff, case.assigned_to).name if case.assigned_to else None,
        CaseStatus=CaseStatus, status_labels=STATUS_LABELS, field_labels=product.field_labels,
    )


def audit_trail(case: Case) -> list:
    return db.session().execute(select(AuditLog, Staff.name).outerjoin(Staff, Staff.id == AuditLog.staff_id)
                                .where(AuditLog.case_id == case.id).order_by(AuditLog.id)).all()


def _number(case: Case) -> str:
    """The citizen's number, or the WhatsApp user id of a citizen who hides theirs."""
    if case.citizen is None:
        return "— (data warga sudah dihapus)"
    return case.citizen.phone or f"WhatsApp ID {case.citizen.wa_user_id}"


def _profile_name(case: Case, holder: bool) -> str:
    name = case.citizen.profile_name if case.citizen else None
    return (name or "—") if holder else privacy.mask_name(name)


@bp.get("/cases/<ticket>/documents/<int:document_id>")
@role_required(Role.AGENT)
def document(ticket: str, document_id: int):
    try:
        return casework.document(db.session(), _case(ticket), document_id, me())
    except bo.BackofficeError as exc:
        abort(exc.status)


def _act(ticket: str, action, success: str):
    session, staff = db.session(), me()
    case = _case(ticket)
    try:
        action(session, case, staff)
    except bo.BackofficeError as exc:
        session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("console.case_page", ticket=ticket))
    flash(success, "ok")
    return redirect(url_for("console.case_page", ticket=ticket))


@bp.post("/cases/<ticket>/claim")
@role_required(Role.AGENT)
def claim(ticket: str):
    return _act(ticket, casework.claim, "Kasus diambil.")


@bp.post("/cases/<ticket>/release")
@role_required(Role.AGENT)
def release(ticket: str):
    return _act(ticket, casework.release, "Kasus dilepas ke antrean.")


@bp.post("/cases/<ticket>/reassign")
@role_required(Role.SUPERVISOR)
def reassign(ticket: str):
    to = db.session().get(Staff, request.form.get("to", type=int) or 0)
    if to is None:
        abort(400)
    return _act(ticket, lambda s, c, st: casework.reassign(s, c, st, to), f"Kasus dialihkan ke {to.name}.")


@bp.post("/cases/<ticket>/decision")
@role_required(Role.AGENT)
def decision(ticket: str):
    form = request.form
    return _act(ticket, lambda s, c, st: casework.decide(
        s, c, st, form.get("decision", ""), note=form.get("note", ""), reason=form.get("reason") or None,
        item=form.get("item") or None), "Keputusan dikirim ke warga.")


@bp.post("/cases/<ticket>/close")
@role_required(Role.AGENT)
def close(ticket: str):
    return _act(ticket, casework.close, "Kasus ditutup; penilaian diminta.")


@bp.post("/cases/<ticket>/message")
@role_required(Role.AGENT)
def message(ticket: str):
    text = request.form.get("text", "")
    return _act(ticket, lambda s, c, st: casework.message(s, c, st, text), "Pesan terkirim.")


@bp.post("/cases/<ticket>/takeover")
@role_required(Role.AGENT)
def takeover(ticket: str):
    return _act(ticket, casework.take_over, "Bot dihentikan untuk warga ini; Anda yang membalas.")


@bp.post("/cases/<ticket>/handback")
@role_required(Role.AGENT)
def handback(ticket: str):
    return _act(ticket, casework.hand_back, "Percakapan dikembalikan ke bot.")
