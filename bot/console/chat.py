"""The chat with a citizen on the case page, live: the page asks for new messages every few seconds
(automatic requests: they do not keep an idle session alive) and sends without reloading. Reading
marks the case read for its holder. Canned replies, kept by admins, fill the message box."""
from __future__ import annotations

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from bot import casework
from bot.console import bp
from bot.console.auth import me, role_required
from flows import conversation
from handlers import backoffice as bo
from handlers import inbox, visibility
from storage import db
from storage.cases import Case, CannedReply
from storage.models import InboundMessage, OutboundMessage, as_utc
from storage.staff import Role

TRANSCRIPT_LENGTH = 100
TITLE_LENGTH = 64  # storage.cases.CannedReply.title


def transcript(case: Case, unread: int = 0) -> list[dict]:
    """The citizen's messages and ours on the numbers of the case's branch, the shared one and the one the
    case came in by (a transferred case keeps its history) — not what they wrote to another branch
    about something else — oldest first; the last ``unread`` of the citizen's marked new."""
    if case.citizen_id is None:
        return []  # erased
    session = db.session()
    owners = visibility.NumberOwners(session, current_app.config["SETTINGS"].twilio_whatsapp_number)
    shown = frozenset({case.branch_id, owners.default_id})
    origin = session.scalar(select(InboundMessage.to_number).where(
        InboundMessage.citizen_id == case.citizen_id, InboundMessage.received_at <= case.created_at)
        .order_by(InboundMessage.id.desc()).limit(1))
    # The newest of each side are enough for the newest of both (the page asks every few seconds).
    inbound = select(InboundMessage).where(InboundMessage.citizen_id == case.citizen_id,
                                           owners.condition(InboundMessage.to_number, shown)
                                           | (InboundMessage.to_number == origin))
    outbound = select(OutboundMessage).where(OutboundMessage.citizen_id == case.citizen_id,
                                             owners.condition(OutboundMessage.sender, shown, sent=True)
                                             | (OutboundMessage.sender == origin))
    items = [{"direction": "in", "body": m.body or ("[lampiran]" if m.media else ""), "at": as_utc(m.received_at),
              "id": f"in-{m.id}"}
             for m in session.scalars(inbound.order_by(InboundMessage.received_at.desc()).limit(TRANSCRIPT_LENGTH))]
    items += [{"direction": "agent" if m.agent_id else "out", "body": m.body, "at": as_utc(m.created_at),
               "id": f"out-{m.id}"}
              for m in session.scalars(outbound.order_by(OutboundMessage.created_at.desc()).limit(TRANSCRIPT_LENGTH))]
    items = sorted(items, key=lambda item: item["at"])[-TRANSCRIPT_LENGTH:]
    for item in reversed(items):
        if unread <= 0:
            break
        if item["direction"] == "in":
            item["new"], unread = True, unread - 1
    return items


def canned_replies() -> list[CannedReply]:
    return list(db.session().scalars(select(CannedReply).order_by(CannedReply.title)))


def case_by_ticket(ticket: str) -> Case:
    """The case, for staff of its branch (national staff: any); 404 for everyone else, as if it did not exist."""
    session = db.session()
    case = session.scalar(select(Case).where(Case.ticket == ticket))
    if case is None or not visibility.sees(session, me(), case):
        abort(404)
    return case


@bp.get("/cases/<ticket>/chat")
@role_required(Role.AGENT)
def chat(ticket: str):
    """The transcript fragment the case page polls (holder or supervisor only, like the page)."""
    session, staff = db.session(), me()
    case = case_by_ticket(ticket)
    if not bo.may_see(case, staff):
        return jsonify(error="percakapan hanya untuk petugas yang memegang kasus ini"), 403
    unread = inbox.unread_counts(session, [case.id]).get(case.id, 0)
    if inbox.mark_read(case, staff):
        session.commit()
    paused = conversation.is_silent(case.citizen.conversation if case.citizen else None)
    return render_template("_chat.html", transcript=transcript(case, unread), paused=paused)


@bp.post("/cases/<ticket>/message")
@role_required(Role.AGENT)
def message(ticket: str):
    """Send to the citizen (the bot is silent meanwhile). From the page's script: JSON, no reload."""
    session, staff = db.session(), me()
    text = request.form.get("text", "")
    live = request.headers.get("X-Requested-With") == "fetch"
    case = case_by_ticket(ticket)
    try:
        casework.message(session, case, staff, text)
    except bo.BackofficeError as exc:
        session.rollback()
        if live:
            return jsonify(error=exc.message), exc.status
        flash(exc.message, "error")
        return redirect(url_for("console.case_page", ticket=ticket))
    if live:
        return jsonify(ok=True)
    flash("Pesan terkirim.", "ok")
    return redirect(url_for("console.case_page", ticket=ticket))


# ---------------------------------------------------------------- canned replies (admins)


@bp.route("/admin/replies", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def admin_replies():
    session, staff = db.session(), me()
    if request.method == "POST":
        reply_id = request.form.get("id", type=int)
        title = request.form.get("title", "").strip()
        body = request.form.get("body", "").replace("\r\n", "\n").strip()
        row = session.get(CannedReply, reply_id) if reply_id else CannedReply()
        if row is None:
            flash("Balasan cepat itu sudah tidak ada.", "error")
        elif request.form.get("action") == "delete" and reply_id:
            session.delete(row)
            bo.audit(session, staff, "canned_reply", detail=f"hapus {reply_id}")
            session.commit()
            flash("Balasan cepat dihapus.", "ok")
        elif not title or not body or len(title) > TITLE_LENGTH:
            flash(f"Isi judul (paling banyak {TITLE_LENGTH} huruf) dan isi balasan.", "error")
        elif session.scalar(select(CannedReply.id).where(CannedReply.title == title,
                                                         CannedReply.id != (reply_id or 0))):
            flash(f"Judul '{title}' sudah dipakai balasan lain.", "error")
        else:
            row.title, row.body, row.updated_by = title, body, staff.id
            session.add(row)
            session.flush()
            bo.audit(session, staff, "canned_reply", detail=f"simpan {row.id}")
            session.commit()
            flash(f"Balasan cepat '{title}' disimpan.", "ok")
        return redirect(url_for("console.admin_replies"))
    return render_template("admin_replies.html", replies=canned_replies(), title_length=TITLE_LENGTH)
