"""The case page and what an agent does there. Every view of a case's personal data is audited;
documents are served only to logged-in staff, by id behind the case's ticket (never a public URL).
A decision is chosen explicitly and confirmed on a page that shows what the citizen will receive.
The chat with the citizen lives in bot.console.chat."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from bot import casework
from bot.console import bp
from bot.console.auth import me, role_required
from bot.security import CSP
from bot.console.chat import canned_replies, case_by_ticket, transcript
from flows import conversation
from handlers import backoffice as bo
from handlers import branches, inbox, phones, privacy, reuse, review, visibility
from handlers.labels import DECISION_LABELS, value_label
from handlers.registry import LocalRegistry
from storage import db
from storage.cases import Case, CaseStatus
from storage.staff import AuditLog, Role, Staff

HIDDEN_FIELDS = ("segment", "category", "relation", "reason")  # shown by their readable twins (…_label, …_title)
SEGMENT_KEYS = ("segment", "segment_label")  # a flow without segment texts keeps the code: named here


def _fields(case: Case, holder: bool) -> list[tuple[str, str]]:
    """The collected values as officers read them: a label for each, yes/no in words, raw codes hidden
    where a readable twin exists; masked for staff who do not hold the case."""
    product = current_app.config["PRODUCT"]
    values = dict(case.fields or {})
    shown = values if holder else privacy.mask_fields(values)
    return [(product.field_label(key), value_label(review.SEGMENT_LABELS.get(value, value) if key in SEGMENT_KEYS
                                                 and holder else value))
            for key, value in shown.items()
            if key not in HIDDEN_FIELDS or f"{key}_label" not in values and f"{key}_title" not in values]


def _document_label(flow, product):
    """A document by the label of the flow step that asked for it (the configured name otherwise)."""
    by_kind = {step.get("document"): product.step_label(step) for step in flow.steps.values()
               if step.type == "photo"} if flow else {}
    return lambda kind: by_kind.get(kind) or product.field_label(kind)


@bp.get("/cases/<ticket>")
@role_required(Role.AGENT)
def case_page(ticket: str):
    session, staff = db.session(), me()
    case = case_by_ticket(ticket)
    bo.audit(session, staff, "view_case", case.id)
    holder = bo.may_see(case, staff)  # the holder, or a supervisor: everyone else sees personal data masked
    unread = inbox.unread_counts(session, [case.id]).get(case.id, 0)
    inbox.mark_read(case, staff)
    session.commit()
    product = current_app.config["PRODUCT"]
    flow = casework.case_flow(session, case)
    return render_template(
        "case.html", case=case, holder=holder, staff=staff,
        phone=_number(case) if holder else phones.mask(case.citizen.phone if case.citizen else None),
        profile_name=_profile_name(case, holder), fields=_fields(case, holder),
        registry=review.registry_panel(LocalRegistry(session), case.fields or {}) if holder else None,
        documents=_documents(session, staff, case, flow, product) if holder else review.document_views(
            case.documents, _document_label(flow, product)),
        audit_trail=audit_trail(case) if staff.at_least(Role.SUPERVISOR) else None,
        service_title=bo.title(case, product), transcript=transcript(case, unread) if holder else [],
        reasons=product.reject_reasons, askable=casework.askable_items(flow), canned=canned_replies() if holder else [],
        agents=_agents_of(session, case) if staff.at_least(Role.SUPERVISOR) else [],
        transfer_to=[b for b in branches.all_branches(session) if b.id != case.branch_id]
        if case.status in CaseStatus.OPEN and holder else [],
        paused=conversation.is_silent(case.citizen.conversation if case.citizen else None),
        holder_name=session.get(Staff, case.assigned_to).name if case.assigned_to else None,
        returned=case.updated_by_citizen and case.need_info_by is not None and case.need_info_by == case.assigned_to,
        CaseStatus=CaseStatus, decisions=DECISION_LABELS,
    )


def _documents(session, staff: Staff, case: Case, flow, product) -> list[review.DocumentView]:
    """The documents with what was read off them, compared with the NIK typed and the registry's, and the
    other cases each was also sent for (a link where the officer may open that case)."""
    fields = case.fields or {}
    member, _key = review.find_member(LocalRegistry(session), fields)
    reuses: dict[int, list[review.ReuseView]] = {}
    for found in reuse.reuses_of(session, case.id):
        other = session.get(Case, found.other_case_id) if found.other_case_id else None
        visible = other is not None and visibility.sees(session, staff, other)
        reuses.setdefault(found.document_id, []).append(
            review.ReuseView(found.other_ticket, review.REUSE_LABELS.get(found.reason, found.reason), visible))
    return review.document_views(case.documents, _document_label(flow, product), review.typed_nik(fields),
                                 member.nik if member else None, reuses)


def _agents_of(session, case: Case) -> list[Staff]:
    """Whom a supervisor may give the case to: active staff who see its branch."""
    members = visibility.staff_ids_of(session, case.branch_id) if case.branch_id else frozenset()
    everyone = session.scalars(select(Staff).where(Staff.active.is_(True)).order_by(Staff.name))
    return [a for a in everyone if a.id in members or visibility.scope_of_role(a) is visibility.EVERY]


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
        response = casework.document(db.session(), case_by_ticket(ticket), document_id, me())
    except bo.BackofficeError as exc:
        abort(exc.status)
    # The case page previews PDFs in a frame of its own: this response (only) may be framed by the console.
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Content-Security-Policy"] = CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
    return response


def act(ticket: str, action, success: str):
    session, staff = db.session(), me()
    case = case_by_ticket(ticket)
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
    return act(ticket, casework.claim, "Kasus diambil.")


@bp.post("/cases/<ticket>/release")
@role_required(Role.AGENT)
def release(ticket: str):
    return act(ticket, casework.release, "Kasus dilepas ke antrean.")


@bp.post("/cases/<ticket>/reassign")
@role_required(Role.SUPERVISOR)
def reassign(ticket: str):
    to = db.session().get(Staff, request.form.get("to", type=int) or 0)
    if to is None:
        abort(400)
    return act(ticket, lambda s, c, st: casework.reassign(s, c, st, to), f"Kasus dialihkan ke {to.name}.")


@bp.post("/cases/<ticket>/transfer")
@role_required(Role.AGENT)
def transfer(ticket: str):
    """To another branch, with a reason: the case leaves this branch's queue (often out of the officer's
    sight, so the answer is the queue, not the case page)."""
    session, staff, case = db.session(), me(), case_by_ticket(ticket)
    to = branches.by_code(session, request.form.get("branch", ""))
    if to is None:
        flash("Pilih kantor cabang tujuan.", "error")
        return redirect(url_for("console.case_page", ticket=ticket))
    try:
        casework.transfer(session, case, staff, to, request.form.get("reason", ""))
    except bo.BackofficeError as exc:
        session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("console.case_page", ticket=ticket))
    flash(f"Kasus {ticket} dipindahkan ke {to.name}; warga sudah diberi tahu.", "ok")
    if visibility.sees(session, staff, case):
        return redirect(url_for("console.case_page", ticket=ticket))
    return redirect(url_for("console.queue"))


@bp.post("/cases/<ticket>/decision")
@role_required(Role.AGENT)
def decision(ticket: str):
    """First post: the confirmation page with what the citizen will receive. Second (confirmed): done."""
    form = request.form
    choice, note = form.get("decision", ""), form.get("note", "")
    reason, item = form.get("reason") or None, form.get("item") or None
    if form.get("confirmed") == "1":
        return act(ticket, lambda s, c, st: casework.decide(s, c, st, choice, note=note, reason=reason, item=item),
                   "Keputusan dikirim ke warga.")
    session, staff, case = db.session(), me(), case_by_ticket(ticket)
    if choice not in DECISION_LABELS:
        flash("Pilih keputusan dulu: Setujui, Tolak, atau Minta data tambahan.", "error")
        return redirect(url_for("console.case_page", ticket=ticket))
    try:
        preview = casework.preview_decision(session, case, staff, choice, note, reason, item)
    except bo.BackofficeError as exc:
        flash(exc.message, "error")
        return redirect(url_for("console.case_page", ticket=ticket))
    product = current_app.config["PRODUCT"]
    return render_template("decision_confirm.html", case=case, choice=choice, label=DECISION_LABELS[choice],
                           note=note, reason=reason, item=item, preview=preview,
                           reason_text=product.reject_reasons.get(reason or ""), item_text=preview.item_label)


@bp.post("/cases/<ticket>/close")
@role_required(Role.AGENT)
def close(ticket: str):
    return act(ticket, casework.close, "Kasus ditutup; penilaian diminta.")


@bp.post("/cases/<ticket>/takeover")
@role_required(Role.AGENT)
def takeover(ticket: str):
    return act(ticket, casework.take_over, "Bot dihentikan untuk warga ini; Anda yang membalas.")


@bp.post("/cases/<ticket>/handback")
@role_required(Role.AGENT)
def handback(ticket: str):
    return act(ticket, casework.hand_back, "Percakapan dikembalikan ke bot.")
