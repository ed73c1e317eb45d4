"""Putting work on the queues. Jobs take ids and reload their rows; a failed enqueue is not fatal:
the row stays in the database and the sweeper enqueues it later (see bot.sweeper)."""
from __future__ import annotations

import logging

from flask import current_app
from redis.exceptions import RedisError
from rq import Retry

from bot import queues

log = logging.getLogger(__name__)


def enqueue_inbound(message_id: int) -> bool:
    settings = current_app.config["SETTINGS"]
    try:
        queues.queue(queues.INBOUND).enqueue(
            "bot.jobs.process_inbound",
            message_id,
            job_timeout=settings.job_timeout,
            retry=Retry(max=3, interval=[2, 10, 30]),
            description=f"inbound message {message_id}",
        )
    except RedisError as exc:
        log.warning("enqueue inbound message_id=%s failed (%s); the sweeper will retry", message_id, type(exc).__name__)
        return False
    return True


def enqueue_outbound(outbound_id: int) -> bool:
    settings = current_app.config["SETTINGS"]
    try:
        queues.queue(queues.OUTBOUND).enqueue(
            "bot.outbound.send_outbound",
            outbound_id,
            job_timeout=int(settings.twilio_timeout * 3) + 30,
            retry=Retry(max=len(settings.outbound_retry_intervals), interval=list(settings.outbound_retry_intervals)),
            description=f"outbound message {outbound_id}",
        )
    except RedisError as exc:
        log.warning("enqueue outbound id=%s failed (%s); the sweeper will retry", outbound_id, type(exc).__name__)
        return False
    return True
