"""Handing messages to Twilio: paced to the sender's limits, retried with backoff, never twice.

A send claims its row by moving it from a sendable state to ``sending`` in one UPDATE … RETURNING
(with the citizen's address), so two jobs for the same row cannot both call Twilio; one more UPDATE
records Twilio's answer. A 5xx, a 429 / 63018 (the sender's rate) / 63017 (the account's) or a refused
connection means Twilio certainly did not take the message: retry after the backoff, and for a rate
answer pause the sender (or the account) first. A read timeout or a worker killed mid-call means we
don't know: the row becomes ``unknown`` and the next attempt first looks for the message in Twilio's
log (same recipient, same body, sent since we created it, not failed) before sending again.

Every send first takes a slot from bot.pacing. A short wait is slept; a longer one gives the row back
(the attempt is not counted) and queues its send for when the slot is free. Replies go out on the
``outbound`` queue, or straight from the inbound job (``send_now``) when a slot is free at once; the
notifications the bot starts (decisions, reminders) go on ``notify`` and use only their share of the
sender's rate.
"""
from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import bindparam, exists, func, select, update
from twilio.base.exceptions import TwilioRestException

from bot import dispatch, metrics, pacing, queues, twilio_client
from bot.appcontext import in_app_context
from handlers import phones
from storage import db
from storage.models import Citizen, MessageStatusEvent, OutboundMessage, OutboundStatus as S, as_utc, utcnow

log = logging.getLogger(__name__)
JOB_MAX_WAIT = 1.0        # a job sleeps a wait for its slot up to this long; a longer one: queued again for then
JOB_WAIT_BUDGET = 3.0     # and at most this long in all (a worker serves replies between two notifications)
BULK_MAX_WAIT = 0.2       # a bulk notification sleeps at most this long for its slot (replies may be waiting)
BEHIND_DELAY = 5.0        # seconds: a message behind an older unsent one to its citizen is tried again then (the
                          # older one, once sent, hands it to the queue at once: this is the safety net)
UNSENT = (S.PENDING, S.RETRYING, S.UNKNOWN, S.SENDING)  # an older message in these holds the newer ones back
INLINE_MAX_WAIT = 0.25    # send_now waits at most this long for a slot, else the outbound queue sends it
RATE_SENDER, RATE_ACCOUNT = 63018, 63017  # Twilio: too fast for this sender / for the account
NOT_TAKEN = ("failed", "undelivered")  # a message in Twilio's log with these statuses did not reach anyone


class TransientSendError(RuntimeError):
    """Raised so that RQ retries the job after its backoff interval."""


@dataclass(frozen=True)
class Claimed:
    """A row claimed for sending (status ``sending``), with what the send needs."""

    id: int
    citizen_id: int
    body: str
    content_sid: str | None
    content_variables: dict | None
    media_url: str | None
    attempts: int  # this attempt included
    created_at: datetime
    sender: str
    bulk: bool     # a notification the bot starts (no citizen or agent is waiting for it)
    phone: str | None
    wa_user_id: str | None
    reconcile: bool  # claimed from ``unknown``: look in Twilio's log before sending again

    @property
    def restored(self) -> str:
        """The status to give it back in when it is not sent now (the attempt not counted)."""
        if self.reconcile:
            return S.UNKNOWN
        return S.PENDING if self.attempts <= 1 else S.RETRYING


@functools.cache
def _claim_statement(reconcile: bool):
    """Built once per process: a sendable row (or, to reconcile, an ``unknown`` one) moved to ``sending``,
    returning what the send needs, the citizen's address included (one round trip)."""
    rows, citizens = OutboundMessage.__table__, Citizen.__table__
    statuses = (S.UNKNOWN,) if reconcile else (S.PENDING, S.RETRYING)

    def citizen(column):
        return select(column).where(citizens.c.id == rows.c.citizen_id).correlate(rows).scalar_subquery()

    older = rows.alias("older")
    behind = _older_unsent(rows, older)
    return (update(rows).where(rows.c.id == bindparam("b_id"), rows.c.status.in_(statuses), ~behind)
            .values(status=S.SENDING, attempts=rows.c.attempts + 1, updated_at=bindparam("b_now"),
                    sender=func.coalesce(rows.c.sender, bindparam("b_sender")))
            .returning(rows.c.id, rows.c.citizen_id, rows.c.body, rows.c.content_sid, rows.c.content_variables,
                       rows.c.media_url, rows.c.attempts, rows.c.created_at, rows.c.sender, OutboundMessage.bulk,
                       citizen(citizens.c.phone), citizen(citizens.c.wa_user_id)))


def _claim(session, outbound_id: int, default_sender: str) -> Claimed | None:
    """Move the row to ``sending`` (one UPDATE … RETURNING, then commit); None when it is not sendable.
    Rows waiting for reconciliation are claimed by a second statement, so that we know to reconcile."""
    for reconcile in (False, True):
        row = session.execute(_claim_statement(reconcile),
                              {"b_id": outbound_id, "b_now": utcnow(), "b_sender": default_sender}).first()
        if row is not None:
            session.commit()
            return Claimed(*row[:9], bool(row[9]), *row[10:], reconcile=reconcile)
    session.rollback()
    return None


def _older_unsent(rows, older):
    """An older message to the same citizen not sent yet: the citizen reads the bot's messages in the order
    they were written (a notification queued for later is brought forward: ``_waits_behind``)."""
    return exists().where(older.c.citizen_id == rows.c.citizen_id, older.c.id < rows.c.id,
                          older.c.status.in_(UNSENT))


def _waits_behind(session, outbound_id: int) -> bool | None:
    """When this row is sendable but an older message to the same citizen is not sent yet, whether it is a
    bulk notification (it goes after that one); None otherwise. An older notification still waiting on the
    ``notify`` queue is brought forward to the ``outbound`` queue, so that a reply never waits behind the
    whole backlog of notifications."""
    rows, older = OutboundMessage.__table__, OutboundMessage.__table__.alias("older")
    row = session.execute(
        select(rows.c.citizen_id, OutboundMessage.bulk)
        .where(rows.c.id == outbound_id, rows.c.status.in_(S.SENDABLE), _older_unsent(rows, older))
    ).first()
    if row is None:
        session.rollback()
        return None
    bulk = bool(row.bulk)
    blocker = session.scalar(select(rows.c.id).where(
        rows.c.citizen_id == row.citizen_id, rows.c.id < outbound_id, rows.c.status == S.PENDING,
        OutboundMessage.bulk).order_by(rows.c.id).limit(1))
    session.rollback()
    if blocker is not None and not bulk:
        dispatch.enqueue_outbound(blocker, promptly=True)  # on ``outbound``, now
    return bulk


def _finish(session, outbound_id: int, status: str, **fields) -> None:
    rows = OutboundMessage.__table__
    session.execute(update(rows).where(rows.c.id == outbound_id).values(status=status, updated_at=utcnow(), **fields))
    session.commit()


def _unclaim(session, claimed: Claimed) -> None:
    """Give the row back as it was, its attempt not counted: it was not sent (no slot yet)."""
    session.rollback()
    session.execute(update(OutboundMessage).where(OutboundMessage.id == claimed.id, OutboundMessage.status == S.SENDING)
                    .values(status=claimed.restored, attempts=OutboundMessage.attempts - 1, updated_at=utcnow())
                    .execution_options(synchronize_session=False))
    session.commit()


def _slot(claimed: Claimed, longest: float, budget: float) -> float:
    """Take a pacing slot, sleeping waits up to ``longest`` (``budget`` in all). 0.0 when taken; else the
    wait still ahead (nothing taken)."""
    redis, slept = queues.redis(), 0.0
    while True:
        wait = pacing.acquire(redis, claimed.sender, media=bool(claimed.media_url), bulk=claimed.bulk)
        if wait <= 0:
            return 0.0
        if wait > longest or slept + wait > budget:
            return wait
        time.sleep(wait)
        slept += wait


def slow_down(sender: str, code: int | None) -> float:
    """Twilio said we go too fast: pause the sender (or, for the account's ceiling, every sender). Returns
    the pause now in force, in seconds (the intended one when Redis did not answer)."""
    try:
        if code == RATE_ACCOUNT:
            return pacing.slow_down_account(queues.redis(), pacing.ACCOUNT_PAUSE_SECONDS)
        return pacing.slow_down(queues.redis(), sender, pacing.SENDER_PAUSE_SECONDS)
    except RedisError as exc:  # the retry's backoff still spaces the next attempt
        log.warning("sender %s not paused (%s)", sender, type(exc).__name__)
        return pacing.ACCOUNT_PAUSE_SECONDS if code == RATE_ACCOUNT else pacing.SENDER_PAUSE_SECONDS


def rate_limited(status: int | None, code: int | None) -> bool:
    """Twilio's answer (HTTP status, error code) says: too fast, the message was not taken."""
    return status == 429 or code in (RATE_SENDER, RATE_ACCOUNT)


def _already_sent(session, claimed: Claimed, to: str) -> str | None:
    """Twilio's SID of this message if an earlier, ambiguous attempt did reach Twilio (and did not fail)."""
    since = as_utc(claimed.created_at) - timedelta(minutes=1)
    known = set(session.scalars(select(OutboundMessage.twilio_sid)
                                .where(OutboundMessage.citizen_id == claimed.citizen_id)))
    known |= set(session.scalars(select(MessageStatusEvent.twilio_sid)
                                 .where(MessageStatusEvent.outbound_id == claimed.id)))
    session.rollback()
    messages = twilio_client.client().messages.list(to=to, from_=claimed.sender, date_sent_after=since, limit=200)
    for message in messages:
        if message.body == claimed.body and message.sid not in known and message.status not in NOT_TAKEN:
            return message.sid
    return None


def _send(session, claimed: Claimed) -> str:
    """Call Twilio for a claimed row that holds its slot, and record the answer. Raises
    TransientSendError when the row is to be tried again after the backoff."""
    settings = current_app.config["SETTINGS"]
    to = phones.address(claimed.phone, claimed.wa_user_id)
    final_attempt = claimed.attempts >= settings.outbound_max_attempts
    try:
        if claimed.reconcile:
            sid = _already_sent(session, claimed, to)
            if sid:
                log.info("outbound id=%s found in Twilio's log after an ambiguous attempt; not resent", claimed.id)
                _finish(session, claimed.id, S.QUEUED, twilio_sid=sid, sent_at=utcnow())
                return S.QUEUED
        kwargs = {"to": to, "from_": claimed.sender, "status_callback": f"{settings.public_base_url}/whatsapp/status"}
        if claimed.content_sid:
            kwargs.update(content_sid=claimed.content_sid,
                          content_variables=json.dumps(claimed.content_variables or {}))
        else:
            kwargs["body"] = claimed.body
        if claimed.media_url:
            kwargs["media_url"] = [claimed.media_url]
        message = twilio_client.client().messages.create(**kwargs)
    except TwilioRestException as exc:
        too_fast = rate_limited(exc.status, exc.code)
        transient = exc.status >= 500 or too_fast
        status = S.RETRYING if transient and not final_attempt else S.ERROR
        _finish(session, claimed.id, status, error_code=str(exc.code or exc.status), error_message=f"HTTP {exc.status}")
        if too_fast:
            slow_down(claimed.sender, exc.code)
            metrics.incr("outbound_rate_limited")
        log.warning("outbound id=%s sender=%s attempt %d: Twilio answered %s (code %s) -> %s", claimed.id,
                    claimed.sender, claimed.attempts, exc.status, exc.code, status)
        if status == S.RETRYING:
            raise TransientSendError(f"Twilio answered {exc.status}") from exc
        return status
    except (requests.Timeout, requests.ConnectionError) as exc:
        # A refused connection never reached Twilio; a read timeout may have.
        ambiguous = isinstance(exc, requests.ReadTimeout)
        status = S.ERROR if final_attempt else (S.UNKNOWN if ambiguous else S.RETRYING)
        _finish(session, claimed.id, status, error_code=type(exc).__name__, error_message="no answer from Twilio")
        log.warning("outbound id=%s attempt %d: %s -> %s", claimed.id, claimed.attempts, type(exc).__name__, status)
        if status != S.ERROR:
            raise TransientSendError(type(exc).__name__) from exc
        return status

    _finish(session, claimed.id, S.QUEUED, twilio_sid=message.sid, sent_at=utcnow(), error_code=None,
            error_message=None)
    log.info("outbound id=%s handed to Twilio on attempt %d", claimed.id, claimed.attempts)
    return S.QUEUED


def _local(session, claimed: Claimed) -> str | None:
    """Local mode, or the simulator's own made-up numbers: to the simulator's outbox, never to Twilio."""
    if current_app.config["SETTINGS"].local_mode or phones.is_simulated(claimed.phone):
        _finish(session, claimed.id, S.LOCAL, sent_at=utcnow())
        return S.LOCAL
    return None


def _paced(session, claimed: Claimed, longest: float, budget: float) -> float:
    """A slot for a claimed row; when none is free soon, the row is given back and the wait returned."""
    try:
        wait = _slot(claimed, longest, budget)
    except RedisError:
        _unclaim(session, claimed)
        raise
    if wait:
        _unclaim(session, claimed)
    return wait


@in_app_context
def send_outbound(outbound_id: int) -> str:
    """The RQ job (queues ``outbound`` and ``notify``): send one stored message, paced."""
    settings = current_app.config["SETTINGS"]
    dispatch.started("outbound", outbound_id)
    session = db.session()
    claimed = _claim(session, outbound_id, settings.twilio_whatsapp_number)
    if claimed is None:
        bulk = _waits_behind(session, outbound_id)
        if bulk is not None:
            dispatch.enqueue_outbound(outbound_id, bulk=bulk, delay=BEHIND_DELAY)
            log.info("outbound id=%s waits for an older message to the same citizen; queued again", outbound_id)
            return "deferred"
        log.info("outbound id=%s not sendable (already sent or taken)", outbound_id)
        return "skipped"
    local = _local(session, claimed)
    if local:
        _follow(session, claimed)
        return local
    longest = BULK_MAX_WAIT if claimed.bulk else JOB_MAX_WAIT
    wait = _paced(session, claimed, longest, min(longest * 2, JOB_WAIT_BUDGET))
    if wait:
        dispatch.enqueue_outbound(outbound_id, bulk=claimed.bulk, delay=wait)
        log.info("outbound id=%s sender=%s: next slot in %.1f s; queued for then", outbound_id, claimed.sender, wait)
        return "deferred"
    outcome = _send(session, claimed)
    _follow(session, claimed)
    return outcome


def _follow(session, claimed: Claimed) -> None:
    """The citizen's next message, held back behind this one, goes now rather than at its next try."""
    rows = OutboundMessage.__table__
    row = session.execute(
        select(rows.c.id, OutboundMessage.bulk)
        .where(rows.c.citizen_id == claimed.citizen_id, rows.c.id > claimed.id, rows.c.status == S.PENDING)
        .order_by(rows.c.id).limit(1)
    ).first()
    session.rollback()
    if row is not None:
        dispatch.enqueue_outbound(row.id, bulk=bool(row.bulk), promptly=True)


def _inline(session, outbound_id: int) -> tuple[str, float | None]:
    """Send one reply now if its slot is free within INLINE_MAX_WAIT. (outcome, None), or (outcome, the
    delay after which the queue should send it and every reply behind it)."""
    settings = current_app.config["SETTINGS"]
    claimed = _claim(session, outbound_id, settings.twilio_whatsapp_number)
    if claimed is None:
        return ("deferred", BEHIND_DELAY) if _waits_behind(session, outbound_id) is not None else ("skipped", None)
    local = _local(session, claimed)
    if local:
        return local, None
    wait = _paced(session, claimed, INLINE_MAX_WAIT, INLINE_MAX_WAIT)
    if wait:
        return "deferred", wait
    try:
        return _send(session, claimed), None
    except TransientSendError:  # recorded (retrying / unknown): the queue tries again after the backoff
        return S.RETRYING, float(settings.outbound_retry_intervals[0] if settings.outbound_retry_intervals else 0)


def send_now(outbound_ids: list[int]) -> list[int]:
    """Send replies the inbound job just committed, in order, from this process when a slot is free at
    once; the rest (and every reply behind one that has to wait, so they keep their order) go to the
    ``outbound`` queue, delayed until their slot. Returns the ids handed to Twilio (or the simulator).
    Nothing escapes: a row not sent stays sendable and is queued (and the sweeper finds it anyway)."""
    session, sent, later = db.session(), [], None
    for outbound_id in outbound_ids:
        if later is None:
            try:
                outcome, later = _inline(session, outbound_id)
            except Exception:  # noqa: BLE001  (logged with its traceback; the row is queued, never lost)
                session.rollback()
                log.exception("outbound id=%s: not sent inline; queued", outbound_id)
                outcome, later = "error", 0.0
            if outcome in (S.QUEUED, S.LOCAL):
                sent.append(outbound_id)
            if later is None:
                continue
        dispatch.enqueue_outbound(outbound_id, delay=later)
    session.close()
    return sent
