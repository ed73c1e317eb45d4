"""Twilio's WhatsApp webhooks: inbound messages and outbound status callbacks.

The inbound handler validates the signature, stores the message, enqueues it and answers empty TwiML.
It never waits for the NLU, media downloads or Twilio's API. A sender is a WhatsApp number or, for a
user who hides their number behind a username, a business-scoped user id (handlers.phones): both are
citizens, answered at the address they wrote from.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from twilio.request_validator import RequestValidator

from handlers import phones
from bot.dispatch import enqueue_inbound
from storage import db
from storage.models import Citizen, InboundMessage, InboundStatus, MessageStatusEvent, OutboundMessage, OutboundStatus, utcnow

log = logging.getLogger(__name__)
bp = Blueprint("whatsapp", __name__, url_prefix="/whatsapp")

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_MEDIA = 10  # WhatsApp via Twilio carries at most 10 media per message
MAX_DECLARED_MEDIA = 1000  # what a forged NumMedia is stored as at most (the column is a 32-bit integer)
# Fields stored in their own columns; everything else Twilio sends is kept in `params`.
OWN_FIELDS = {"MessageSid", "From", "To", "Body", "NumMedia", "ProfileName", "WaId"}


def twiml(status: int = 200) -> Response:
    return Response(EMPTY_TWIML, status=status, mimetype="text/xml")


def refuse(status: int, reason: str) -> Response:
    return Response(reason + "\n", status=status, mimetype="text/plain")


def signed_url() -> str:
    """The URL Twilio signed: our public base URL + the path and query it called."""
    base = current_app.config["SETTINGS"].public_base_url
    query = request.query_string.decode("latin-1")
    return base + request.path + (f"?{query}" if query else "")


def signature_ok() -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    validator = RequestValidator(current_app.config["SETTINGS"].twilio_auth_token)
    return validator.validate(signed_url(), request.form, signature)


@bp.before_request
def _check_signature():
    if not signature_ok():
        log.warning("webhook %s refused: missing or invalid X-Twilio-Signature", request.path)
        return refuse(403, "invalid or missing X-Twilio-Signature")
    return None


def _media(form) -> tuple[int, list[dict]]:
    try:
        declared = min(max(int(form.get("NumMedia", "0") or 0), 0), MAX_DECLARED_MEDIA)
    except ValueError:
        declared = 0
    items = []
    for i in range(min(declared, MAX_MEDIA)):
        url = form.get(f"MediaUrl{i}")
        if url:
            items.append({"url": url[:2048], "content_type": (form.get(f"MediaContentType{i}") or "")[:128]})
    return declared, items


def _find(session, sender: phones.Sender) -> Citizen | None:
    citizen = None
    if sender.phone:
        citizen = session.scalar(select(Citizen).where(Citizen.phone == sender.phone))
    if citizen is None and sender.user_id:
        citizen = session.scalar(select(Citizen).where(Citizen.wa_user_id == sender.user_id))
    return citizen


def _citizen(session, sender: phones.Sender, form) -> Citizen:
    """Get or create the citizen for a number or a WhatsApp user id; safe when two first messages race."""
    citizen = _find(session, sender)
    if citizen is None:
        try:
            with session.begin_nested():
                citizen = Citizen(phone=sender.phone, wa_user_id=sender.user_id)
                session.add(citizen)
        except IntegrityError:
            citizen = _find(session, sender)
    for column, value in (("phone", sender.phone), ("wa_user_id", sender.user_id)):
        if value and getattr(citizen, column) is None:  # a citizen known by one id learns the other
            try:
                with session.begin_nested():
                    setattr(citizen, column, value)
            except IntegrityError:  # another citizen row has it: keep them apart
                log.warning("citizen_id=%s: %s already belongs to another citizen", citizen.id, column)
    citizen.wa_id = (form.get("WaId") or citizen.wa_id or "")[:32] or None
    citizen.profile_name = (form.get("ProfileName") or citizen.profile_name or "")[:256] or None
    citizen.last_inbound_at = utcnow()
    return citizen


def _clean(text: str) -> str:
    """NUL characters cannot be stored in PostgreSQL text; they carry nothing a person wrote."""
    return text.replace("\x00", "\ufffd")


@bp.post("/inbound")
def inbound():
    form = {_clean(key): _clean(value) for key, value in request.form.items()}  # validated against the raw form
    sid = (form.get("MessageSid") or "").strip()
    if not sid or len(sid) > 64:
        log.warning("inbound refused: MessageSid missing or malformed")
        return refuse(400, "MessageSid is required (at most 64 characters)")

    session = db.session()
    if session.scalar(select(InboundMessage.id).where(InboundMessage.message_sid == sid)) is not None:
        log.info("inbound duplicate message_sid=%s ignored (Twilio retry)", sid)
        return twiml()

    declared, media = _media(form)
    message = InboundMessage(
        message_sid=sid,
        sender=(form.get("From") or "")[:256],
        to_number=(form.get("To") or "")[:64] or None,
        body=form.get("Body") or form.get("ButtonText") or "",
        num_media=declared,
        media=media,
        params={k: v for k, v in form.items() if k not in OWN_FIELDS and not k.startswith(("MediaUrl", "MediaContentType"))},
    )
    problem = None
    try:
        sender = phones.sender(message.sender, form.get("ExternalUserId"))
    except phones.NotWhatsApp:
        problem = "From must be a WhatsApp address (whatsapp:+<country><number> or a WhatsApp user id)"
    except phones.InvalidNumber:
        problem = "From is not a valid phone number (nor a WhatsApp user id)"
    if problem:
        message.status, message.reject_reason = InboundStatus.REJECTED, problem

    try:
        if problem is None:
            message.citizen = _citizen(session, sender, form)
        session.add(message)
        session.commit()
    except IntegrityError:  # the same MessageSid stored by a concurrent retry
        session.rollback()
        log.info("inbound duplicate message_sid=%s ignored (concurrent retry)", sid)
        return twiml()

    if problem:
        log.warning("inbound message id=%s kept but rejected: %s", message.id, problem)
        return refuse(400, problem)

    log.info("inbound stored id=%s citizen_id=%s media=%d", message.id, message.citizen_id, len(media))
    enqueue_inbound(message.id, message.citizen_id)  # if Redis is away, the sweeper enqueues it later
    return twiml()


@bp.post("/status")
def status():
    form = {_clean(key): _clean(value) for key, value in request.form.items()}
    sid, new_status = form.get("MessageSid", ""), (form.get("MessageStatus") or "").lower()
    if not sid or new_status not in OutboundStatus.RANK:
        return refuse(400, "MessageSid and a known MessageStatus are required")
    session = db.session()
    outbound = session.scalar(select(OutboundMessage).where(OutboundMessage.twilio_sid == sid))
    session.add(
        MessageStatusEvent(
            twilio_sid=sid,
            outbound_id=outbound.id if outbound else None,
            status=new_status,
            error_code=(form.get("ErrorCode") or None),
        )
    )
    if outbound is not None:
        current_rank = OutboundStatus.RANK.get(outbound.status, 0)
        if OutboundStatus.RANK[new_status] > current_rank:
            outbound.status = new_status
            if form.get("ErrorCode"):
                outbound.error_code = form["ErrorCode"][:32]
    session.commit()
    log.info("status callback outbound_id=%s status=%s", outbound.id if outbound else None, new_status)
    return Response("", status=204)


@bp.errorhandler(OperationalError)
def _database_down(exc):
    """Nothing could be stored: say so with a 503, so Twilio retries (or uses the fallback URL)."""
    db.session().rollback()
    log.error("webhook %s: database unreachable (%s); asked Twilio to retry", request.path, type(exc).__name__)
    return refuse(503, "storage unavailable, retry later")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
