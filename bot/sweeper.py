"""The sweeper: finds work that is stored but on no queue (Redis was down, a worker was killed,
Redis restarted and forgot its queues) and enqueues it again. Jobs are idempotent, so enqueueing
twice costs nothing but a skipped job."""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from flask import Flask, current_app
from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from bot import live, queues
from bot.dispatch import enqueue_inbound, enqueue_outbound
from storage import db
from storage.models import Conversation, InboundMessage, InboundStatus, OutboundMessage, OutboundStatus as S, as_utc, utcnow

log = logging.getLogger(__name__)
BATCH = 500


def sweep() -> dict[str, int]:
    """One pass. Returns how many inbound / outbound rows were enqueued again."""
    s = current_app.config["SETTINGS"]
    session = db.session()
    now = utcnow()
    grace = timedelta(seconds=s.sweep_grace)
    backoff = timedelta(seconds=max(s.outbound_retry_intervals, default=0))
    in_flight = timedelta(seconds=s.twilio_timeout * 3)

    # A worker died while calling Twilio: we don't know whether Twilio got it.
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.status == S.SENDING, OutboundMessage.updated_at < now - grace - in_flight)
        .values(status=S.UNKNOWN, updated_at=now - grace - backoff)
    )
    session.commit()

    inbound_ids = list(
        session.scalars(
            select(InboundMessage.id)
            .where(
                InboundMessage.status == InboundStatus.RECEIVED,
                InboundMessage.citizen_id.is_not(None),
                InboundMessage.received_at < now - grace,
            )
            .order_by(InboundMessage.id)
            .limit(BATCH)
        )
    )
    outbound_ids = list(
        session.scalars(
            select(OutboundMessage.id)
            .where(
                ((OutboundMessage.status == S.PENDING) & (OutboundMessage.updated_at < now - grace))
                | (OutboundMessage.status.in_([S.RETRYING, S.UNKNOWN]) & (OutboundMessage.updated_at <= now - grace - backoff))
            )
            .order_by(OutboundMessage.id)
            .limit(BATCH)
        )
    )
    session.close()
    enqueued_in = [i for i in inbound_ids if enqueue_inbound(i)]
    if enqueued_in:
        session.execute(update(InboundMessage).where(InboundMessage.id.in_(enqueued_in)).values(enqueued_at=utcnow()))
        session.commit()
    enqueued_out = sum(1 for i in outbound_ids if enqueue_outbound(i))
    from handlers.cases import enqueue_case, unqueued_case_ids

    enqueued_cases = sum(1 for i in unqueued_case_ids(session, now - grace) if enqueue_case(i))
    session.close()
    if enqueued_in or enqueued_out or enqueued_cases:
        log.info("sweeper enqueued inbound=%d outbound=%d cases=%d", len(enqueued_in), enqueued_out, enqueued_cases)
    return {"inbound": len(enqueued_in), "outbound": enqueued_out, "cases": enqueued_cases}


def sweep_conversations(now: datetime | None = None) -> dict[str, int]:
    """Flow runs waiting for the citizen: a gentle reminder after 30 minutes, put aside after 24 hours
    (the WhatsApp window; offered back when the citizen returns). Each under the citizen's lock."""
    from bot.jobs import flows
    from bot.notify import notify
    from flows import engine
    from flows.context import Context

    now = now or utcnow()
    product = current_app.config["PRODUCT"]
    remind_minutes, expire_hours = product.inactivity
    session = db.session()
    candidates = list(session.scalars(
        select(Conversation.id).where(
            Conversation.active_flow.is_not(None), Conversation.handoff_since.is_(None),
            Conversation.last_activity_at < now - timedelta(minutes=remind_minutes),
        ).limit(BATCH)
    ))
    session.close()
    counts = {"reminded": 0, "expired": 0}
    for conversation_id in candidates:
        conversation = session.get(Conversation, conversation_id)
        lock = queues.redis().lock(f"pandawa:citizen:{conversation.citizen_id}", timeout=30)
        if not lock.acquire(blocking=False):
            session.rollback()
            continue  # the citizen is writing right now
        try:
            session.refresh(conversation)
            run = (conversation.state or {}).get("run")
            if conversation.active_flow is None or not run or run["flow"] not in flows():
                continue
            idle = now - as_utc(conversation.last_activity_at)
            if idle >= timedelta(hours=expire_hours):
                state = dict(conversation.state)
                state["paused_run"] = state.pop("run")
                conversation.state, conversation.active_flow = state, None
                counts["expired"] += 1
                session.commit()
            elif conversation.reminded_at is None:
                flow = flows()[run["flow"]]
                ctx = Context(session=session, citizen=conversation.citizen, conversation=conversation, product=product,
                              flows=flows(), validators={}, actions={}, now=now)
                text = engine.text(ctx, flow, "reminder", {"title": flow.title}) + "\n\n" + \
                    engine.prompt(ctx, flow, flow.step(run["step"]), run)
                row = notify(session, conversation.citizen, text, product, now, "case_update",
                             {"ticket": "-", "status": flow.title})
                conversation.reminded_at = now
                session.commit()
                enqueue_outbound(row.id)
                counts["reminded"] += 1
        finally:
            session.close()
            lock.release()
    if any(counts.values()):
        log.info("conversation sweep reminded=%d expired=%d", counts["reminded"], counts["expired"])
    return counts


def start_thread(app: Flask, stop: threading.Event) -> threading.Thread:
    """Sweep every SWEEP_INTERVAL seconds; a Redis lock lets one worker process sweep at a time."""
    interval = app.config["SETTINGS"].sweep_interval

    def loop():
        while not stop.wait(interval):
            with app.app_context():
                try:
                    lock = queues.redis().lock("pandawa:sweeper", timeout=max(interval, 5))
                    if lock.acquire(blocking=False):
                        try:
                            live.refresh(app)  # reminders use the published texts
                            sweep()
                            sweep_conversations()
                        finally:
                            lock.release()
                except (RedisError, SQLAlchemyError) as exc:
                    log.warning("sweeper pass failed: %s", type(exc).__name__)

    thread = threading.Thread(target=loop, name="sweeper", daemon=True)
    thread.start()
    return thread
