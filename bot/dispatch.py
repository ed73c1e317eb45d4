"""Putting work on the queues. Jobs take ids and reload their rows; a failed enqueue is not fatal:
the row stays in the database and the sweeper enqueues it later (see bot.sweeper)."""
from __future__ import annotations

import logging

from flask import current_app
from redis.exceptions import RedisError
from rq import Retry

from bot import queues

log = logging.getLogger(__name__)


def queued_flag(citizen_id: int) -> str:
    return f"pandawa:citizen-queued:{citizen_id}"


def enqueue_inbound(message_id: int, citizen_id: int | None = None) -> bool:
    """Queue the job for a stored message. With ``citizen_id``, at most one job per citizen waits in
    the queue (a flood from one number then takes one place in line, not one per message); the job
    clears the flag when it starts, before it looks for messages."""
    settings = current_app.config["SETTINGS"]
    try:
        if citizen_id is not None and not queues.redis().set(
            queued_flag(citizen_id), message_id, nx=True, ex=settings.job_timeout * 2
        ):
            return True  # a job for this citizen is already waiting: it will take this message too
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
