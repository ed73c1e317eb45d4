"""Handing replies to Twilio: retries with backoff, and never the same reply twice.

A worker claims a row by moving it from a sendable state to ``sending`` in one UPDATE, so two jobs
for the same row cannot both call Twilio. A 5xx/429 or a refused connection means Twilio certainly
did not take the message: retry. A read timeout or a worker killed mid-call means we don't know:
the row becomes ``unknown`` and the next attempt first looks for the message in Twilio's log
(same recipient, same body, sent since we created it) before sending again.
"""
from __future__ import annotations

import json
import logging
from datetime import timedelta

import requests
from flask import current_app
from sqlalchemy import select, update
from twilio.base.exceptions import TwilioRestException

from bot import dispatch, twilio_client
from bot.jobs import in_app_context
from handlers import phones
from storage import db
from storage.models import OutboundMessage, OutboundStatus as S, utcnow

log = logging.getLogger(__name__)


class TransientSendError(RuntimeError):
    """Raised so that RQ retries the job after its backoff interval."""


def _claim(session, outbound_id: int) -> tuple[OutboundMessage, str] | None:
    row = session.get(OutboundMessage, outbound_id)
    if row is None or row.status not in S.SENDABLE:
        return None
    previous = row.status
    claimed = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == outbound_id, OutboundMessage.status == previous)
        .values(status=S.SENDING, attempts=OutboundMessage.attempts + 1, updated_at=utcnow())
    ).rowcount
    session.commit()
    if not claimed:
        return None
    session.refresh(row)
    return row, previous


def _finish(session, row: OutboundMessage, status: str, **fields) -> None:
    row.status = status
    for key, value in fields.items():
        setattr(row, key, value)
    session.commit()


def _already_sent(row: OutboundMessage, to: str, from_: str) -> str | None:
    """Twilio's SID of this reply if an earlier, ambiguous attempt did reach Twilio."""
    since = row.created_at - timedelta(minutes=1)
    known = set(db.session().scalars(select(OutboundMessage.twilio_sid).where(OutboundMessage.citizen_id == row.citizen_id)))
    for message in twilio_client.client().messages.list(to=to, from_=from_, date_sent_after=since, limit=200):
        if message.body == row.body and message.sid not in known:
            return message.sid
    return None


@in_app_context
def send_outbound(outbound_id: int) -> str:
    settings = current_app.config["SETTINGS"]
    dispatch.started("outbound", outbound_id)
    session = db.session()
    claim = _claim(session, outbound_id)
    if claim is None:
        log.info("outbound id=%s not sendable (already sent or taken)", outbound_id)
        return "skipped"
    row, previous = claim

    if settings.local_mode or phones.is_simulated(row.citizen.phone):  # the simulator's own made-up numbers
        _finish(session, row, S.LOCAL, sent_at=utcnow())
        return S.LOCAL

    to = phones.address(row.citizen.phone, row.citizen.wa_user_id)
    from_ = settings.twilio_whatsapp_number
    final_attempt = row.attempts >= settings.outbound_max_attempts
    try:
        if previous == S.UNKNOWN:
            sid = _already_sent(row, to, from_)
            if sid:
                log.info("outbound id=%s found in Twilio's log after an ambiguous attempt; not resent", row.id)
                _finish(session, row, S.QUEUED, twilio_sid=sid, sent_at=utcnow())
                return S.QUEUED
        kwargs = {"to": to, "from_": from_, "status_callback": f"{settings.public_base_url}/whatsapp/status"}
        if row.content_sid:
            kwargs.update(content_sid=row.content_sid, content_variables=json.dumps(row.content_variables or {}))
        else:
            kwargs["body"] = row.body
        if row.media_url:
            kwargs["media_url"] = [row.media_url]
        message = twilio_client.client().messages.create(**kwargs)
    except TwilioRestException as exc:
        transient = exc.status >= 500 or exc.status == 429
        status = S.RETRYING if transient and not final_attempt else S.ERROR
        _finish(session, row, status, error_code=str(exc.code or exc.status), error_message=f"HTTP {exc.status}")
        log.warning("outbound id=%s attempt %d: Twilio answered %s (code %s) -> %s", row.id, row.attempts, exc.status, exc.code, status)
        if status == S.RETRYING:
            raise TransientSendError(f"Twilio answered {exc.status}") from exc
        return status
    except (requests.Timeout, requests.ConnectionError) as exc:
        # A refused connection never reached Twilio; a read timeout may have.
        ambiguous = isinstance(exc, requests.ReadTimeout)
        status = S.ERROR if final_attempt else (S.UNKNOWN if ambiguous else S.RETRYING)
        _finish(session, row, status, error_code=type(exc).__name__, error_message="no answer from Twilio")
        log.warning("outbound id=%s attempt %d: %s -> %s", row.id, row.attempts, type(exc).__name__, status)
        if status != S.ERROR:
            raise TransientSendError(type(exc).__name__) from exc
        return status

    _finish(session, row, S.QUEUED, twilio_sid=message.sid, sent_at=utcnow(), error_code=None, error_message=None)
    log.info("outbound id=%s handed to Twilio on attempt %d", row.id, row.attempts)
    return S.QUEUED
