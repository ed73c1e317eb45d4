"""The case page and what an agent does there. Every view of a case's personal data is audited;
documents are served only to logged-in staff, by id behind the case's ticket (never a public URL)."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for
from sqlalchemy import select

from bot import phones
from bot.console import bp
from bot.console.auth import me, role_required
from bot.console.queue import STATUS_LABELS
from bot.dispatch import enqueue_outbound
from bot.jobs import flows
from handlers import backoffice as bo
from storage import db
from storage.cases import Case, CaseStatus, Document
from storage.media import MediaStore
from storage.models import InboundMessage, OutboundMessage
from storage.staff import Role, Staff


def _case(ticket: str) -> Case:
    case = db.session().scalar(select(Case).where(Case.ticket == ticket))
    if case is None:
        abort(404)
    return case


def transcript(case: Case) -> list[dict]:
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
    holder = case.assigned_to == staff.id
    flow = flows().get(case.service)
    askable = [(s.id, s.get("ask", s.id).split("\n")[0][:60]) for s in flow.steps.values() if s.type in ("text", "photo")] if flow else []
    product = current_app.config["PRODUCT"]
    return render_template(
        "case.html", case=case, holder=holder, staff=staff,
        phone=case.citizen.phone if holder else phones.mask(case.citizen.phone),
        service_title=product.service(case.service).title, transcript=transcript(case),
        reasons=product.raw["reject_reasons"], askable=askable,
        agents=session.scalars(select(Staff).where(Staff.active.is_(True)).order_by(Staff.name)).all()
        if staff.at_least(Role.SUPERVISOR) else [],
        paused=bool(case.citizen.conversation and case.citizen.conversation.handoff_since),
        holder_name=session.get(Staff, case.assigned_to).name if case.assigned_to else None,
        CaseStatus=CaseStatus, status_labels=STATUS_LABELS, field_labels=product.raw.get("field_labels") or {},
    )


@bp.get("/cases/<ticket>/documents/<int:document_id>")
@role_required(Role.AGENT)
def document(ticket: str, document_id: int):
    session = db.session()
    case = _case(ticket)
    doc = session.get(Document, document_id)
    if doc is None or doc.case_id != case.id:
        abort(404)
    bo.audit(session, me(), "view_document", case.id, f"document {doc.id}")
    session.commit()
    path = MediaStore(current_app.config["SETTINGS"].media_dir).path(doc.sha256)
    response = send_file(path, mimetype=doc.content_type, max_age=0)
    response.headers["Cache-Control"] = "no-store, private"
    return response


def _act(ticket: str, action, success: str):
    session, staff = db.session(), me()
    case = _case(ticket)
    try:
        done = action(session, case, staff)
    except bo.BackofficeError as exc:
        session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("console.case_page", ticket=ticket))
    session.commit()
    for outbound_id in done.outbound_ids if done else []:
        enqueue_outbound(outbound_id)
    flash(success, "ok")
    return redirect(url_for("console.case_page", ticket=ticket))


@bp.post("/cases/<ticket>/claim")
@role_required(Role.AGENT)
def claim(ticket: str):
    return _act(ticket, bo.claim, "Kasus diambil.")


@bp.post("/cases/<ticket>/release")
@role_required(Role.AGENT)
def release(ticket: str):
    return _act(ticket, bo.release, "Kasus dilepas ke antrean.")


@bp.post("/cases/<ticket>/reassign")
@role_required(Role.SUPERVISOR)
def reassign(ticket: str):
    to = db.session().get(Staff, request.form.get("to", type=int) or 0)
    if to is None:
        abort(400)
    return _act(ticket, lambda s, c, st: bo.reassign(s, c, st, to), f"Kasus dialihkan ke {to.name}.")


@bp.post("/cases/<ticket>/decision")
@role_required(Role.AGENT)
def decision(ticket: str):
    form, product = request.form, current_app.config["PRODUCT"]
    return _act(ticket, lambda s, c, st: bo.decide(
        s, c, st, form.get("decision", ""), product, flows(), note=form.get("note", ""),
        reason=form.get("reason") or None, item=form.get("item") or None), "Keputusan dikirim ke warga.")


@bp.post("/cases/<ticket>/close")
@role_required(Role.AGENT)
def close(ticket: str):
    product = current_app.config["PRODUCT"]
    return _act(ticket, lambda s, c, st: bo.close(s, c, st, product), "Kasus ditutup; penilaian diminta.")


@bp.post("/cases/<ticket>/message")
@role_required(Role.AGENT)
def message(ticket: str):
    product = current_app.config["PRODUCT"]
    text = request.form.get("text", "")
    return _act(ticket, lambda s, c, st: bo.agent_message(s, c, st, text, product), "Pesan terkirim.")


@bp.post("/cases/<ticket>/takeover")
@role_required(Role.AGENT)
def takeover(ticket: str):
    def act(session, case, staff):
        bo.take_over(session, case, staff)
        return None

    return _act(ticket, act, "Bot dihentikan untuk warga ini; Anda yang membalas.")


@bp.post("/cases/<ticket>/handback")
@role_required(Role.AGENT)
def handback(ticket: str):
    product = current_app.config["PRODUCT"]
    return _act(ticket, lambda s, c, st: bo.hand_back(s, c, st, product), "Percakapan dikembalikan ke bot.")
