"""The sweeper: finds work that is stored but on no queue (Redis was down, a worker was killed,
Redis restarted and forgot its queues) and enqueues it again; reminds citizens whose flow waits for
them and puts aside runs left for a day.

It never dies and never duplicates: each step of a pass and each conversation in it is isolated (an
error is logged and counted, the pass goes on); work already waiting in a queue is not enqueued again
(bot.dispatch's markers); the thread survives any error and beats a heartbeat; the last pass that
finished without an error is visible at /metrics and /healthz/sweeper.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta
from typing import Callable

from flask import Flask, current_app
from redis.exceptions import RedisError
from sqlalchemy import func, select, update

from bot import dispatch, lifecycle, live, metrics, nlu_training, queues, reading
from flows import conversation
from handlers.cases import unqueued_case_ids
from handlers.notify import notify
from storage import db, keys
from storage.models import Conversation, InboundMessage, InboundStatus, OutboundMessage, OutboundStatus as S, utcnow

log = logging.getLogger(__name__)
BATCH = 500
HEARTBEAT_TTL_PASSES = 4  # a thread's heartbeat outlives this many intervals


def _stuck_sends(now: datetime) -> int:
    """A worker died while calling Twilio: we don't know whether Twilio got it (reconciled before resending)."""
    s, session = current_app.config["SETTINGS"], db.session()
    grace, in_flight = timedelta(seconds=s.sweep_grace), timedelta(seconds=s.twilio_timeout * 3)
    backoff = timedelta(seconds=max(s.outbound_retry_intervals, default=0))
    moved = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.status == S.SENDING, OutboundMessage.updated_at < now - grace - in_flight)
        .values(status=S.UNKNOWN, updated_at=now - grace - backoff)
    ).rowcount
    session.commit()
    return moved


def _inbound(now: datetime) -> int:
    """Citizens with stored, unhandled messages: one job each (none when one already waits)."""
    session = db.session()
    grace = timedelta(seconds=current_app.config["SETTINGS"].sweep_grace)
    oldest = session.execute(
        select(InboundMessage.citizen_id, func.min(InboundMessage.id))
        .where(InboundMessage.status == InboundStatus.RECEIVED, InboundMessage.citizen_id.is_not(None),
               InboundMessage.received_at < now - grace)
        .group_by(InboundMessage.citizen_id).limit(BATCH)
    ).all()
    session.close()
    waiting = dispatch.waiting_jobs(queues.INBOUND)
    return sum(1 for citizen_id, message_id in oldest if dispatch.enqueue_inbound(message_id, citizen_id, waiting))


def _outbound(now: datetime) -> int:
    s, session = current_app.config["SETTINGS"], db.session()
    grace, backoff = timedelta(seconds=s.sweep_grace), timedelta(seconds=max(s.outbound_retry_intervals, default=0))
    rows = session.execute(
        select(OutboundMessage.id, OutboundMessage.bulk)
        .where(((OutboundMessage.status == S.PENDING) & (OutboundMessage.updated_at < now - grace))
               | (OutboundMessage.status.in_([S.RETRYING, S.UNKNOWN]) & (OutboundMessage.updated_at <= now - grace - backoff)))
        .order_by(OutboundMessage.id).limit(BATCH)
    ).all()
    session.close()
    waiting = dispatch.waiting_sends()  # queued, or delayed until their pacing slot or backoff
    return sum(1 for i, bulk in rows if dispatch.enqueue_outbound(i, waiting, bulk=bool(bulk)))


def _cases(now: datetime) -> int:
    session = db.session()
    ids = unqueued_case_ids(session, now - timedelta(seconds=current_app.config["SETTINGS"].sweep_grace))
    session.close()
    waiting = dispatch.waiting_jobs(queues.BACKOFFICE)
    return sum(1 for i in ids if dispatch.enqueue_case(i, waiting))


def _requeue(now: datetime) -> tuple[dict[str, int], bool]:
    counts, ok = _steps(now, [("stuck_sends", _stuck_sends), ("inbound", _inbound), ("outbound", _outbound),
                              ("cases", _cases), ("readings", reading.queue_unread)])
    if any(counts.values()):
        log.info("sweeper: %s", " ".join(f"{k}={v}" for k, v in counts.items()))
    return counts, ok


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Re-enqueue what is stored but waits on no queue. Returns how many of each."""
    return _requeue(now or utcnow())[0]


def _steps(now: datetime, steps: list[tuple[str, Callable[[datetime], int]]]) -> tuple[dict[str, int], bool]:
    """Run each step on its own: one failing step is logged and counted, the others still run."""
    counts, ok = {}, True
    for name, step in steps:
        try:
            counts[name] = step(now)
        except Exception:  # noqa: BLE001  (isolated, logged with its traceback and counted: never silent)
            ok = False
            counts[name] = 0
            db.session().rollback()
            log.exception("sweeper step %s failed", name)
            metrics.incr("sweeper_errors")
        finally:
            db.session().close()
    return counts, ok


def _conversation(conversation_id: int, now: datetime) -> str:
    """Remind or put aside one waiting run, under the citizen's lock, on the run's own flow version."""
    app, session = current_app._get_current_object(), db.session()
    citizen_id = session.scalar(select(Conversation.citizen_id).where(Conversation.id == conversation_id))
    lock = queues.redis().lock(keys.citizen_lock(citizen_id), timeout=30)
    if not lock.acquire(blocking=False):
        session.rollback()
        return "busy"  # the citizen is writing right now
    product = app.config["PRODUCT"]

    def operation() -> tuple[str, int | None]:
        row = session.get(Conversation, conversation_id)
        if row.handoff_since is not None:
            return "none", None
        flows = live.pinned(app, session, live.flows(app), [(row.state or {}).get("run")])
        outcome, text = conversation.remind_or_expire(session, row, flows, product, now)
        if not text:
            return outcome, None
        outbound = notify(session, row.citizen, text, product, now, "case_update",
                          {"ticket": "-", "status": product.title_of(row.active_flow or "")})
        session.flush()
        return outcome, outbound.id

    try:
        session.rollback()  # read the conversation afresh now that the lock is held
        outcome, outbound_id = conversation.retrying(session, operation)
    finally:
        session.close()
        try:
            lock.release()
        except RedisError:
            log.warning("citizen lock for conversation_id=%s not released; it expires", conversation_id)
    if outbound_id:
        dispatch.enqueue_outbound(outbound_id, bulk=True)  # a reminder: nobody is waiting for it
    pending = session.scalar(select(func.min(InboundMessage.id)).where(
        InboundMessage.citizen_id == citizen_id, InboundMessage.status == InboundStatus.RECEIVED))
    session.close()
    if pending is not None:  # the citizen wrote while we held the lock: their job may have left it
        dispatch.enqueue_inbound(pending, citizen_id)
    return outcome


def sweep_conversations(now: datetime | None = None) -> dict[str, int]:
    """Flow runs waiting for the citizen: a gentle reminder after 30 minutes (not in the quiet hours:
    then at their end), put aside after 24 hours (the WhatsApp window; offered back when the citizen
    returns). Each conversation on its own."""
    now = now or utcnow()
    product = current_app.config["PRODUCT"]
    session = db.session()
    candidates = list(session.scalars(
        select(Conversation.id).where(
            Conversation.active_flow.is_not(None), Conversation.handoff_since.is_(None),
            Conversation.last_activity_at < now - timedelta(minutes=product.reminder_after_minutes),
        ).order_by(Conversation.last_activity_at).limit(BATCH)
    ))
    session.close()
    counts = {"reminded": 0, "expired": 0, "errors": 0}
    for conversation_id in candidates:
        try:
            outcome = _conversation(conversation_id, now)
        except Exception:  # noqa: BLE001  (one conversation must not stop the others: logged and counted)
            db.session().rollback()
            log.exception("sweeper: conversation_id=%s failed", conversation_id)
            metrics.incr("sweeper_errors")
            counts["errors"] += 1
            continue
        if outcome in counts:
            counts[outcome] += 1
    if any(counts.values()):
        log.info("conversation sweep reminded=%d expired=%d errors=%d", counts["reminded"], counts["expired"],
                 counts["errors"])
    return counts


def run_pass(app: Flask) -> bool:
    """One full pass under the sweeper lock (one worker process at a time). True when it ran cleanly."""
    with app.app_context():
        lock = queues.redis().lock(keys.SWEEPER_LOCK, timeout=max(app.config["SETTINGS"].sweep_interval * 4, 60))
        if not lock.acquire(blocking=False):
            return True  # another worker is sweeping
        try:
            live.refresh(app)  # reminders use the published texts
            now = utcnow()
            _, ok = _requeue(now)
            # One conversation that fails is counted (sweeper_errors) and retried next pass; the pass is
            # clean when nothing stored can be left unqueued, which is what a load balancer needs to know.
            ok = _steps(now, [("conversations", lambda at: sum(sweep_conversations(at).values()))])[1] and ok
            ok = _steps(now, [("nlu", nlu_training.sweep)])[1] and ok  # retrainings; the NLU server's model
            if lifecycle.purge_due(now):  # once a day: personal data past its retention
                ok = _steps(now, [("purge", lambda at: sum(lifecycle.purge(at).values()))])[1] and ok
            if ok:
                queues.redis().set(keys.SWEEPER_LAST_PASS, time.time())
                metrics.incr("sweeper_passes")
            return ok
        finally:
            try:
                lock.release()
            except RedisError:
                log.warning("sweeper lock not released; it expires")


def thread_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def start_thread(app: Flask, stop: threading.Event) -> threading.Thread:
    """Sweep every SWEEP_INTERVAL seconds. The thread survives any error (logged, counted) and beats a
    heartbeat in Redis so that a dead or stuck sweeper shows at /healthz/sweeper."""
    interval = app.config["SETTINGS"].sweep_interval
    name = thread_name()

    def loop():
        while not stop.wait(interval):
            try:
                with app.app_context():
                    queues.redis().set(keys.sweeper_thread(name), time.time(), ex=interval * HEARTBEAT_TTL_PASSES)
                run_pass(app)
            except Exception:  # noqa: BLE001  (the sweeper must never die: logged with its traceback and counted)
                log.exception("sweeper pass failed")
                with app.app_context():
                    metrics.incr("sweeper_errors")  # never raises: a metric must not break anything

    thread = threading.Thread(target=loop, name="sweeper", daemon=True)
    thread.start()
    return thread


def health(app: Flask) -> dict:
    """When the last clean pass finished and how many sweeper threads beat; ``ok`` for a load balancer."""
    s = app.config["SETTINGS"]
    redis = app.extensions["redis"]
    last = redis.get(keys.SWEEPER_LAST_PASS)
    age = time.time() - float(last) if last else None
    threads = sum(1 for _ in redis.scan_iter(match=keys.sweeper_thread("*"), count=100))
    ok = age is not None and age < max(s.sweep_interval * HEARTBEAT_TTL_PASSES, 60) and threads > 0
    return {"ok": ok, "last_pass_age_seconds": round(age, 1) if age is not None else None, "threads": threads}
