"""Twilio's WhatsApp webhooks: inbound messages and outbound status callbacks.

The inbound handler validates the signature, stores the message, enqueues it and answers empty TwiML.
It never waits for the NLU, media downloads or Twilio's API. A sender is a WhatsApp number or, for a
user who hides their number behind a username, a business-scoped user id (handlers.phones): both are
citizens, answered at the address they wrote from.
"""
from __future__ import annotations

import functools
import logging

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from twilio.request_validator import RequestValidator

from handlers import phones
from bot import dispatch, metrics
from bot import outbound as outbound_mod  # `outbound` names the row in the views below
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
    """Get or create the citizen for a number and a WhatsApp user id both known (rare); safe when two
    first messages race."""
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
    session.flush()
    return citizen


@functools.cache
def _statements(dialect: str) -> tuple:
    """The webhook's three statements, built once per process (building them costs more than running them):
    the citizen upserted by number, by WhatsApp user id, and the message stored unless its MessageSid is."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    citizens, messages = Citizen.__table__, InboundMessage.__table__

    def upsert(column):
        statement = insert(citizens)
        keep = statement.excluded
        return statement.on_conflict_do_update(
            index_elements=[column],
            set_={"wa_id": func.coalesce(keep.wa_id, citizens.c.wa_id),
                  "profile_name": func.coalesce(keep.profile_name, citizens.c.profile_name),
                  "last_inbound_at": keep.last_inbound_at},
        ).returning(citizens.c.id)

    store = insert(messages).on_conflict_do_nothing(index_elements=[messages.c.message_sid]).returning(messages.c.id)
    return upsert(citizens.c.phone), upsert(citizens.c.wa_user_id), store


def _citizen_id(session, sender: phones.Sender, form) -> int:
    """The citizen's id, the row created or brought up to date in one statement (INSERT … ON CONFLICT)
    when the sender is known by one id, as nearly always."""
    if sender.phone and sender.user_id:
        return _citizen(session, sender, form).id
    by_phone, by_user_id, _store = _statements(session.get_bind().dialect.name)
    now = utcnow()
    return session.scalar(by_phone if sender.phone else by_user_id, {
        "phone": sender.phone, "wa_user_id": sender.user_id, "created_at": now, "last_inbound_at": now,
        "wa_id": (form.get("WaId") or "")[:32] or None, "profile_name": (form.get("ProfileName") or "")[:256] or None,
    })


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

    declared, media = _media(form)
    values = dict(
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
        sender = phones.sender(values["sender"], form.get("ExternalUserId"))
    except phones.NotWhatsApp:
        problem = "From must be a WhatsApp address (whatsapp:+<country><number> or a WhatsApp user id)"
    except phones.InvalidNumber:
        problem = "From is not a valid phone number (nor a WhatsApp user id)"
    if problem:
        values.update(status=InboundStatus.REJECTED, reject_reason=problem)

    # One transaction: the citizen (upsert) and the message; a MessageSid already stored (Twilio retried)
    # inserts nothing, and then nothing of this request is kept.
    session = db.session()
    citizen_id = None if problem else _citizen_id(session, sender, form)
    message_id = session.scalar(_statements(session.get_bind().dialect.name)[2], {"citizen_id": citizen_id, **values})
    if message_id is None:
        session.rollback()
        log.info("inbound duplicate message_sid=%s ignored (Twilio retry)", sid)
        return twiml()
    session.commit()

    if problem:
        log.warning("inbound message id=%s kept but rejected: %s", message_id, problem)
        return refuse(400, problem)

    log.info("inbound stored id=%s citizen_id=%s media=%d", message_id, citizen_id, len(media))
    enqueue_inbound(message_id, citizen_id)  # if Redis is away, the sweeper enqueues it later
    return twiml()


@bp.post("/status")
def status():
    form = {_clean(key): _clean(value) for key, value in request.form.items()}
    sid, new_status = form.get("MessageSid", ""), (form.get("MessageStatus") or "").lower()
    if not sid or new_status not in OutboundStatus.RANK:
        return refuse(400, "MessageSid and a known MessageStatus are required")
    session = db.session()
    outbound = session.scalar(select(OutboundMessage).where(OutboundMessage.twilio_sid == sid))
    error_code = (form.get("ErrorCode") or "")[:32] or None
    session.add(
        MessageStatusEvent(
            twilio_sid=sid,
            outbound_id=outbound.id if outbound else None,
            status=new_status,
            error_code=error_code,
        )
    )
    too_fast = resend = False
    # A row being sent again (after a 63018, below) is no longer moved by this message's late callbacks.
    if outbound is not None and outbound.status not in (*OutboundStatus.SENDABLE, OutboundStatus.SENDING):
        too_fast = new_status in (OutboundStatus.FAILED, OutboundStatus.UNDELIVERED) and error_code == str(outbound_mod.RATE_SENDER)
        if too_fast and outbound.attempts < current_app.config["SETTINGS"].outbound_max_attempts:
            resend = _put_back(outbound, error_code)  # False: a concurrent callback for it already did
        elif OutboundStatus.RANK[new_status] > OutboundStatus.RANK.get(outbound.status, 0):
            outbound.status = new_status
            if error_code:
                outbound.error_code = error_code
    session.commit()
    if too_fast:
        _send_again(outbound, resend)
    log.info("status callback outbound_id=%s status=%s", outbound.id if outbound else None, new_status)
    return Response("", status=204)


def _put_back(outbound: OutboundMessage, error_code: str) -> bool:
    """Twilio did not deliver it because our sender went too fast (63018): back to ``retrying``, to be sent
    again (by compare-and-set: of several callbacks for it, one puts it back). With no attempts left it is
    set aside as ``failed`` like any other failure (the caller's ordinary path)."""
    moved = db.session().execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == outbound.id, OutboundMessage.status == outbound.status,
               OutboundMessage.twilio_sid == outbound.twilio_sid)
        .values(status=OutboundStatus.RETRYING, error_code=error_code, error_message="rate limit exceeded for channel",
                updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    return moved == 1


def _send_again(outbound: OutboundMessage, resend: bool) -> None:
    """Pause the sender; queue the send again (when put back) for when the pause ends (the sweeper
    queues it otherwise)."""
    sender = outbound.sender or current_app.config["SETTINGS"].twilio_whatsapp_number
    pause = outbound_mod.slow_down(sender, outbound_mod.RATE_SENDER)
    metrics.incr("outbound_rate_limited_callback")
    log.warning("outbound id=%s sender=%s: Twilio says 63018 (too fast); %s", outbound.id, sender,
                f"sent again in {pause:.0f} s" if resend else "not sent again (no attempts left, or already)")
    if resend:
        dispatch.enqueue_outbound(outbound.id, bulk=outbound.bulk, delay=pause)


@bp.errorhandler(OperationalError)
def _database_down(exc):
    """Nothing could be stored: say so with a 503, so Twilio retries (or uses the fallback URL)."""
    db.session().rollback()
    log.error("webhook %s: database unreachable (%s); asked Twilio to retry", request.path, type(exc).__name__)
    return refuse(503, "storage unavailable, retry later")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
