"""Messages the system could not handle, for supervisors: citizens' messages set aside after every
attempt failed, and replies that never reached the citizen — each with its reason, a count on the
dashboard and at /metrics, and a button to try again (audited). A branch's supervisor sees (and retries)
the messages of their branches' numbers only."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from sqlalchemy import select, update

from bot import dispatch, metrics
from bot.console import bp, branch_stats
from bot.console.auth import me, role_required
from handlers import visibility
from handlers.backoffice import audit
from handlers.phones import mask
from storage import db
from storage.models import InboundMessage, InboundStatus, OutboundMessage, OutboundStatus
from storage.staff import Role

LIMIT = 200
OUTBOUND_LABELS = {OutboundStatus.ERROR: "gagal dikirim", OutboundStatus.FAILED: "ditolak Twilio",
                   OutboundStatus.UNDELIVERED: "tidak sampai"}


@bp.get("/failures")
@role_required(Role.SUPERVISOR)
def failures():
    session = db.session()
    owners, scope = _owners(session), visibility.scope(session, me())
    inbound = session.scalars(select(InboundMessage).where(InboundMessage.status == InboundStatus.FAILED,
                                                           owners.condition(InboundMessage.to_number, scope))
                              .order_by(InboundMessage.id.desc()).limit(LIMIT)).all()
    outbound = session.scalars(select(OutboundMessage)
                               .where(OutboundMessage.status.in_(OutboundStatus.NOT_DELIVERED),
                                      owners.condition(OutboundMessage.sender, scope, sent=True))
                               .order_by(OutboundMessage.id.desc()).limit(LIMIT)).all()
    counts = metrics.failure_counts(session) if scope is visibility.EVERY else \
        branch_stats.failure_counts(session, owners, scope)
    return render_template("failures.html", inbound=inbound, outbound=outbound, counts=counts,
                           mask=mask, labels=OUTBOUND_LABELS)


def _owners(session) -> visibility.NumberOwners:
    return visibility.NumberOwners(session, current_app.config["SETTINGS"].twilio_whatsapp_number)


def _mine(session, number: str | None, sent: bool = False) -> None:
    """404 for a message of another branch's number."""
    if not _owners(session).sees(visibility.scope(session, me()), number, sent):
        abort(404)


def _retry(session, moved: int, action: str, detail: str, enqueue, done: str):
    """A supervisor's retry: the compare-and-set ``moved`` the message back (0: someone else did, or it is
    no longer failed); audited, committed, then queued again."""
    if not moved:
        session.rollback()
        flash("Pesan ini tidak lagi berstatus gagal.", "error")
        return redirect(url_for("console.failures"))
    audit(session, me(), action, detail=detail)
    session.commit()
    enqueue()
    flash(done, "ok")
    return redirect(url_for("console.failures"))


@bp.post("/failures/inbound/<int:message_id>/retry")
@role_required(Role.SUPERVISOR)
def retry_inbound(message_id: int):
    """Handle the message again from the start (after the fault was fixed)."""
    session = db.session()
    _mine(session, session.scalar(select(InboundMessage.to_number).where(InboundMessage.id == message_id)))
    moved = session.execute(
        update(InboundMessage).where(InboundMessage.id == message_id, InboundMessage.status == InboundStatus.FAILED)
        .values(status=InboundStatus.RECEIVED, attempts=0, failed_at=None)
    ).rowcount
    citizen_id = session.scalar(select(InboundMessage.citizen_id).where(InboundMessage.id == message_id))
    return _retry(session, moved, "retry_inbound", f"inbound message {message_id}",
                  lambda: dispatch.enqueue_inbound(message_id, citizen_id), "Pesan diproses ulang.")


@bp.post("/failures/outbound/<int:outbound_id>/retry")
@role_required(Role.SUPERVISOR)
def retry_outbound(outbound_id: int):
    """Send the reply again (a new attempt count; Twilio's earlier answer stays in its history)."""
    session = db.session()
    _mine(session, session.scalar(select(OutboundMessage.sender).where(OutboundMessage.id == outbound_id)), sent=True)
    moved = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == outbound_id, OutboundMessage.status.in_(OutboundStatus.NOT_DELIVERED))
        .values(status=OutboundStatus.PENDING, attempts=0, twilio_sid=None)
    ).rowcount
    return _retry(session, moved, "retry_outbound", f"outbound message {outbound_id}",
                  lambda: dispatch.enqueue_outbound(outbound_id), "Pesan dikirim ulang.")
