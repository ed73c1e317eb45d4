"""The sweeper: finds work that is stored but on no queue (Redis was down, a worker was killed,
Redis restarted and forgot its queues) and enqueues it again. Jobs are idempotent, so enqueueing
twice costs nothing but a skipped job."""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

from flask import Flask, current_app
from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from bot import queues
from bot.dispatch import enqueue_inbound, enqueue_outbound
from storage import db
from storage.models import InboundMessage, InboundStatus, OutboundMessage, OutboundStatus as S, utcnow

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
    if enqueued_in or enqueued_out:
        log.info("sweeper enqueued inbound=%d outbound=%d", len(enqueued_in), enqueued_out)
    return {"inbound": len(enqueued_in), "outbound": enqueued_out}


def start_thread(app: Flask, stop: threading.Event) -> threading.Thread:
    """Sweep every SWEEP_INTERVAL seconds; a Redis lock lets one worker process sweep at a time."""
    interval = app.config["SETTINGS"].sweep_interval

    def loop():
        while not stop.wait(interval):
            with app.app_context():
                try:
                    lock = queues.redis().lock("pandawa:sweeper", timeout=max(interval, 5))
                    if lock.acquire(blocking=False):
                        sweep()
                except (RedisError, SQLAlchemyError) as exc:
                    log.warning("sweeper pass failed: %s", type(exc).__name__)

    thread = threading.Thread(target=loop, name="sweeper", daemon=True)
    thread.start()
    return thread
