"""RQ jobs: inbound messages and new cases. Jobs take ids, reload rows and keep no transaction open
while waiting on the NLU or a media download.

One citizen's messages are handled one at a time and in arrival order, whichever worker runs the
job: the job takes the citizen's Redis lock, then handles every stored, unhandled message of that
citizen oldest first. Other citizens' jobs run in parallel on other workers.

Nothing twice, nothing lost, nobody stuck:

- a message is decided on a snapshot of the conversation; the write is a compare-and-set on the
  conversation's version and on the message's status (``received → processed``), so a write that
  raced with an agent, the sweeper or a second worker (an expired lock) is undone and the message is
  decided again on fresh state, and a reply is never stored twice;
- a message whose handling fails is tried ``MAX_ATTEMPTS`` times, then set aside as ``failed`` with
  its reason; the citizen gets one short apology and their next messages are handled as usual;
- the database or Redis being away is not the message's fault: the job stops and is retried later.
"""
from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from flask import current_app
from redis.exceptions import LockError, LockNotOwnedError
from sqlalchemy import bindparam, case, exists, func, select, update
from sqlalchemy.orm.exc import StaleDataError

from bot import dispatch, faults, live, metrics, outbound, queues, reading
from bot.appcontext import in_app_context
from bot.job_inputs import media_checker, nlu_client
from bot.settings import MESSAGE_MARGIN
from flows import conversation, engine
from flows.dialogue import prepare, reply
from handlers.cases import schedule, schedule_without_sla
from handlers import phones, reuse
from handlers.catalog import catalog
from handlers.context import Context
from handlers.media import Deadline
from storage import db, keys
from storage.cases import Case
from storage.models import Citizen, Conversation, InboundMessage, InboundStatus, OutboundMessage, utcnow

log = logging.getLogger(__name__)
PREVIEW_PARAM = "PandawaPreview"             # a simulator message asks to be answered with the drafts
PREVIEW_FALLBACK = "PandawaPreviewFallback"  # set when the drafts did not load and the published ones answered
MESSAGES_PER_TURN = 5  # then other citizens get a worker before this one continues
RETRY_PAUSES = (0.2, 1.0, 3.0)  # between attempts at one message
APOLOGY_EVERY = 600  # seconds: at most one apology per citizen in this time
CASE_JOB_MAX_FAILURES = 3
def _configuration(session, state: dict, params: dict, phone: str | None) -> tuple:
    """The product and flows for this message: the published ones (drafts for a simulator preview,
    which only the simulator's own numbers get), with a run in progress kept on the version it started with;
    and whether a preview was asked for but the drafts could not be loaded (the published ones answered)."""
    app = current_app._get_current_object()
    live.refresh(app)  # cheap: one look at a counter in Redis (and at the database every few seconds)
    product, flow_set, fallback = app.config["PRODUCT"], live.flows(app), False
    if params.get(PREVIEW_PARAM) == "1" and phones.is_simulated(phone):
        try:
            product, flow_set = live.preview(app)
        except ValueError as exc:  # a draft with problems: answer with what is published
            log.warning("preview with drafts impossible (%s); the published version answers", type(exc).__name__)
            fallback = True
    return product, live.pinned(app, session, flow_set, (state.get("run"), *engine.paused_runs(state))), fallback


@dataclass
class Handled:
    outbound_ids: list[int] = field(default_factory=list)
    case_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Claimed:
    """A received message with one more attempt counted: what deciding it needs, read in the same statement."""
    id: int
    attempts: int
    body: str
    media: list
    params: dict
    received_at: object
    failure_reason: str | None
    to: str | None  # the number the citizen wrote to (replies go from it)


@functools.cache
def _claim_statement(oldest: bool):
    """Built once per process (building a statement costs more than running it): one more attempt at a
    received message — this one (``:b_message_id``), or the citizen's oldest (``:b_citizen_id``) — returning it."""
    messages = InboundMessage.__table__
    target = messages.c.id == bindparam("b_message_id")
    if oldest:
        target = messages.c.id == (select(func.min(messages.c.id))
                                   .where(messages.c.citizen_id == bindparam("b_citizen_id"),
                                          messages.c.status == InboundStatus.RECEIVED).scalar_subquery())
    return (update(messages).where(target, messages.c.status == InboundStatus.RECEIVED)
            .values(attempts=messages.c.attempts + 1)
            .returning(messages.c.id, messages.c.attempts, messages.c.body, messages.c.media, messages.c.params,
                       messages.c.received_at, messages.c.failure_reason, messages.c.to_number))


def _claim(session, citizen_id: int, message_id: int | None = None) -> Claimed | None:
    """Count an attempt before it starts (a worker killed mid-way counts too) at this received message,
    or at the citizen's oldest one, and read it: one statement. None: nothing (left) to handle.
    The caller commits (with the conversation's snapshot, in the same transaction)."""
    row = session.execute(_claim_statement(message_id is None),
                          {"b_citizen_id": citizen_id, "b_message_id": message_id}).first()
    return Claimed(*row) if row is not None else None


def _decide(session, citizen_id: int, message: Claimed, deadline: Deadline, media_cache: dict) -> Handled:
    """Decide the reply to one claimed message on a snapshot of the conversation, read once, and write it
    once: the conversation by compare-and-set on its version (StaleDataError when someone wrote meanwhile)
    and the message by compare-and-set on its status."""
    citizen = session.get(Citizen, citizen_id)
    snapshot = conversation.get(session, citizen_id)
    state = conversation.state_of(snapshot)
    # A quick reply's payload (or its text) when the citizen tapped a button; else what they typed.
    body = message.params.get("ButtonPayload") or message.params.get("ButtonText") or message.body
    media, params = list(message.media), dict(message.params)
    product, flow_set, fallback = _configuration(session, state, params, citizen.phone)
    session.commit()  # the claim counts; no transaction stays open during the slow calls (rows stay loaded)

    prepared = prepare(state, body, media, params, product, flow_set, catalog().validators, nlu_client(),
                       media_checker(deadline, media_cache))

    now = utcnow()
    # First, in one statement: the message is still unhandled and the conversation unchanged; only then
    # are the replies decided (deciding has effects outside the transaction, e.g. lookup counters in Redis).
    told = {"params": {**params, PREVIEW_FALLBACK: "1"}} if fallback else {}  # the simulator shows no "draf"
    if not _mark(session, message.id, InboundStatus.PROCESSED, conversation=(snapshot.id, snapshot.version),
                 processed_at=now, **told):
        session.rollback()
        raise conversation.Conflict("the message or the conversation changed while deciding")  # see _handle
    ctx = Context(session=session, citizen=citizen, conversation=snapshot, product=product, flows=flow_set,
                  validators=catalog().validators, actions=catalog().actions, now=now,
                  settings=current_app.config["SETTINGS"], redis=queues.redis())
    replies = reply(ctx, state, prepared, message.id, body, citizen.profile_name, message.received_at)
    conversation.save(snapshot, state, now)
    rows = [OutboundMessage(citizen_id=citizen_id, in_reply_to_id=message.id, body=text, sender=message.to)
            for text in replies]  # a reply goes from the number the citizen wrote to
    session.add_all(rows)
    session.commit()  # the conversation's compare-and-set happens here too (StaleDataError when it lost)
    if prepared.understanding is not None:
        metrics.incr(f"understood_{prepared.understanding.kind}")
        if prepared.understanding.kind == "nlu_down":
            metrics.incr("nlu_unavailable")
    return Handled([row.id for row in rows], list(ctx.created_cases))


def _mark(session, message_id: int, status: str, conversation: tuple[int, int] | None = None, **values) -> bool:
    """Move a received message on, by compare-and-set: False when someone else already did (or, with
    ``conversation`` = (id, version), when the conversation is no longer at that version)."""
    messages, conversations = InboundMessage.__table__, Conversation.__table__
    where = [messages.c.id == message_id, messages.c.status == InboundStatus.RECEIVED]
    if conversation is not None:
        where.append(exists().where(conversations.c.id == conversation[0], conversations.c.version == conversation[1]))
    moved = session.execute(update(messages).where(*where).values(status=status, **values)).rowcount
    return moved == 1


def _handle(session, citizen_id: int, message: Claimed, deadline: Deadline, media_cache: dict) -> Handled:
    """Decide one message, again on fresh state as long as someone else wrote the conversation meanwhile."""
    for attempt in range(1, conversation.MAX_CONFLICTS + 1):
        try:
            return _decide(session, citizen_id, message, deadline, media_cache)
        except (conversation.Conflict, StaleDataError):
            session.rollback()
            still_received = session.scalar(select(InboundMessage.status).where(InboundMessage.id == message.id))
            session.rollback()
            if still_received != InboundStatus.RECEIVED:
                return Handled()  # decided meanwhile by a worker whose lock had expired
            metrics.incr("conversation_conflicts")
            log.info("message_id=%s: the conversation changed while deciding; deciding again", message.id)
            if attempt == conversation.MAX_CONFLICTS:
                raise


def _record(session, message: Claimed, reason: str) -> None:
    """The failure's reason, and the attempt counted even when it failed before its count was committed
    (else a message failing there would be tried for ever, never set aside)."""
    messages = InboundMessage.__table__
    session.execute(update(messages).where(messages.c.id == message.id).values(
        failure_reason=reason,
        attempts=case((messages.c.attempts < message.attempts, message.attempts), else_=messages.c.attempts)))
    session.commit()


def set_aside(session, message_id: int, reason: str) -> Handled:
    """Give up on a message: ``failed`` with its reason, the citizen's run put aside, one apology."""
    now, handled = utcnow(), Handled()
    citizen_id, to = session.execute(select(InboundMessage.citizen_id, InboundMessage.to_number)
                                     .where(InboundMessage.id == message_id)).one()
    session.rollback()
    apologise = bool(queues.redis().set(keys.apology(citizen_id), 1, nx=True, ex=APOLOGY_EVERY))

    def operation() -> None:
        handled.outbound_ids.clear()
        if not _mark(session, message_id, InboundStatus.FAILED, failed_at=now, failure_reason=reason[:256]):
            return
        conversation.set_aside(session, citizen_id, now)
        if apologise:
            row = OutboundMessage(citizen_id=citizen_id, in_reply_to_id=message_id, sender=to,
                                  body=current_app.config["PRODUCT"].text("message_failed"))
            session.add(row)
            session.flush()
            handled.outbound_ids.append(row.id)

    conversation.retrying(session, operation)
    metrics.incr("inbound_failed")
    log.error("inbound message_id=%s set aside as failed: %s", message_id, reason)
    return handled


def _give_back_attempt(session, message: Claimed) -> None:
    """An infrastructure fault is not the message's: its attempt is not counted (when the database answers;
    compare-and-set, so an attempt whose count was rolled back with the fault is not given back twice)."""
    try:
        session.execute(update(InboundMessage)
                        .where(InboundMessage.id == message.id, InboundMessage.attempts == message.attempts)
                        .values(attempts=InboundMessage.attempts - 1).execution_options(synchronize_session=False))
        session.commit()
    except faults.TRANSIENT:
        session.rollback()
        log.warning("message_id=%s: attempt not given back (database away); it counts", message.id)


def _attempt(session, message_id: int, keep_alive: Callable[[], bool] = lambda: True, citizen_id: int | None = None,
             claimed: Claimed | None = None) -> Handled:
    """Handle one message, trying again after a failure; set it aside after MAX_ATTEMPTS attempts.

    ``claimed``: the first attempt, already counted by the caller (its transaction still open). All
    attempts share one deadline for the message's downloads (and each download is made once), and
    ``keep_alive`` renews the citizen's lock before each further attempt, so the lock outlives them all."""
    settings = current_app.config["SETTINGS"]
    max_attempts = settings.max_attempts
    deadline, media_cache = Deadline(settings.message_deadline), {}
    if citizen_id is None:
        citizen_id = session.scalar(select(InboundMessage.citizen_id).where(InboundMessage.id == message_id))
    message = claimed
    while True:
        if message is None:
            if not keep_alive():
                session.rollback()
                return Handled()  # the lock was lost: whoever holds it now handles the message
            message = _claim(session, citizen_id, message_id)
            if message is None:
                session.rollback()
                return Handled()
        if message.attempts > max_attempts:  # earlier attempts died with their worker (killed, out of memory)
            session.rollback()
            return set_aside(session, message_id, message.failure_reason or "the worker stopped while handling it")
        try:
            return _handle(session, citizen_id, message, deadline, media_cache)
        except Exception as exc:
            session.rollback()
            if faults.is_transient(exc):
                _give_back_attempt(session, message)
                raise  # the database or Redis is away, or the job ran out of time: retried later
            reason = faults.describe(exc)
            log.error("inbound message_id=%s attempt %d failed: %s", message_id, message.attempts, reason, exc_info=True)
            metrics.incr("inbound_attempt_failed")
            _record(session, message, reason)
            if message.attempts >= max_attempts:
                return set_aside(session, message_id, reason)
            time.sleep(RETRY_PAUSES[min(message.attempts, len(RETRY_PAUSES)) - 1])
            message = None


def _next_pending(session, citizen_id: int) -> int | None:
    return session.scalar(
        select(InboundMessage.id)
        .where(InboundMessage.citizen_id == citizen_id, InboundMessage.status == InboundStatus.RECEIVED)
        .order_by(InboundMessage.id)
        .limit(1)
    )


def _dispatch(handled: Handled) -> None:
    """Replies go to Twilio from this job (the outbound queue takes what must wait or be retried)."""
    if handled.outbound_ids:
        outbound.send_now(handled.outbound_ids)
    for case_id in handled.case_ids:
        dispatch.enqueue_case(case_id)


def _extend(lock, citizen_id: int) -> bool:
    """Restart the lock's lifetime for the next message; False when it was lost (expired and taken)."""
    try:
        lock.reacquire()
        return True
    except (LockNotOwnedError, LockError):
        log.warning("citizen lock for citizen_id=%s was lost; stopping this turn", citizen_id)
        return False


@in_app_context
def process_inbound(message_id: int, citizen_id: int | None = None) -> int:
    """Handle this citizen's stored messages, oldest first, under the citizen's lock. Returns how many.

    Fair to other citizens: a job handles at most MESSAGES_PER_TURN messages (and stops well before its
    own timeout), then puts a job for the rest at the back of the queue; and it never waits for a
    citizen another worker is serving (that worker looks for new messages again after releasing the
    lock, so none is left behind).
    """
    settings = current_app.config["SETTINGS"]
    session = db.session()
    if citizen_id is None:  # a job queued by an older release
        citizen_id = session.scalar(select(InboundMessage.citizen_id).where(InboundMessage.id == message_id))
        session.rollback()
    if citizen_id is None:
        return 0
    dispatch.started_inbound(citizen_id)  # from now on a new message queues a new job
    handled, started = 0, time.monotonic()
    # Each message may take MESSAGE_DEADLINE + MESSAGE_MARGIN seconds per attempt and one shared download deadline:
    # a job takes a new message only while two worst cases still fit in its timeout.
    budget = settings.job_timeout - 2 * (settings.message_deadline + MESSAGE_MARGIN)
    try:
        while True:
            lock = queues.redis().lock(keys.citizen_lock(citizen_id), timeout=settings.citizen_lock_timeout)
            if not lock.acquire(blocking=False):
                log.info("citizen_id=%s is being served by another worker; it will take message_id=%s", citizen_id, message_id)
                return handled
            turn, turn_over = 0, False
            try:
                while True:
                    if turn >= MESSAGES_PER_TURN or (turn and time.monotonic() - started >= budget):
                        turn_over = True
                        break
                    claimed = _claim(session, citizen_id)
                    if claimed is None:
                        session.rollback()
                        break
                    _dispatch(_attempt(session, claimed.id, lambda: _extend(lock, citizen_id), citizen_id, claimed))
                    handled, turn = handled + 1, turn + 1
                    if not _extend(lock, citizen_id):
                        turn_over = True
                        break
            finally:
                session.rollback()
                try:
                    lock.release()
                except (LockNotOwnedError, LockError):
                    log.warning("citizen lock for citizen_id=%s expired before release", citizen_id)
            rest = _next_pending(session, citizen_id)  # a message may have arrived while we released the lock
            session.rollback()
            if rest is None:
                break
            if turn_over:  # this citizen's turn is over: the rest waits behind other citizens
                dispatch.enqueue_inbound(rest, citizen_id)
                break
    finally:
        session.close()
    log.info("inbound message_id=%s: handled %d message(s) for citizen_id=%s", message_id, handled, citizen_id)
    return handled


@in_app_context
def queue_case(case_id: int) -> str | None:
    """The backoffice job: the SLA due time in working hours, then visible in the agents' queue.
    After CASE_JOB_MAX_FAILURES failures the case is shown without a due time, never retried forever."""
    dispatch.started("case", case_id)
    product, session = current_app.config["PRODUCT"], db.session()
    case = session.get(Case, case_id)
    if case is None or case.queued_at is not None:
        return None
    try:
        schedule(session, case, product)
        reuse.record_matches(session, case)  # its KTP/KK already sent for another case: both flagged
        session.commit()
    except Exception as exc:
        session.rollback()
        if faults.is_transient(exc):
            raise
        reason = faults.describe(exc)
        failures = queues.redis().incr(keys.job_failures("case", case_id))
        queues.redis().expire(keys.job_failures("case", case_id), 86400)
        log.error("case id=%s not scheduled (failure %d): %s", case_id, failures, reason, exc_info=True)
        if failures < CASE_JOB_MAX_FAILURES:
            raise
        case = session.get(Case, case_id)
        schedule_without_sla(session, case, reason)
        session.commit()
    reading.queue_case_documents(case)
    return case.ticket
