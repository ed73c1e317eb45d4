"""Putting work on the queues: the one place that enqueues. Jobs take ids and reload their rows.

Nothing is enqueued twice while it waits: a marker in Redis (storage.keys) holding the job's id is set
with the job and cleared by the job when it starts, so the sweeper, a retry and the webhook can all
ask for the same work and only one job waits. A job can still be lost while it waits — Redis forgot
its queues, or a worker killed with -9 had just popped it — so the sweeper passes the ids really
waiting in the queue (``waiting``): a marker older than the grace period whose job is not among them
is replaced and the work enqueued again. A failed enqueue is not fatal: the row stays in the database
and the sweeper enqueues it later (bot.sweeper). A send may be queued for later (its pacing slot is that
far away): it waits in RQ's scheduled registry, which ``waiting_sends`` counts as waiting too.
"""
from __future__ import annotations

import logging
import math
import time
import uuid
from datetime import timedelta

from flask import current_app
from redis.exceptions import RedisError
from rq import Retry, get_current_job
from rq.registry import ScheduledJobRegistry

from bot import queues
from storage import keys

log = logging.getLogger(__name__)
MARKER_TTL = 3600  # a marker outliving its job stops blocking new jobs after this, whatever happens
CASE_JOB_TIMEOUT = 60


def waiting_jobs(queue_name: str) -> set[str]:
    """The ids of the jobs waiting in a queue right now (for the sweeper, once per pass)."""
    return set(queues.queue(queue_name).get_job_ids())


def _claim(marker: str, job_id: str, ttl: int, waiting: set[str] | None) -> bool:
    """Set the marker for a new job; False when a job for the same work already waits."""
    connection, value = queues.redis(), f"{job_id} {time.time():.3f}"
    if connection.set(marker, value, nx=True, ex=ttl):
        return True
    if waiting is None:
        return False
    current = connection.get(marker)
    if current is None:
        return bool(connection.set(marker, value, nx=True, ex=ttl))
    old_job, _, stamp = current.decode().partition(" ")
    grace = current_app.config["SETTINGS"].sweep_grace
    if old_job in waiting or time.time() - float(stamp or 0) < grace:
        return False
    log.warning("job %s was lost before it ran (not in its queue); enqueueing the work again", old_job)
    return bool(connection.set(marker, value, xx=True, ex=ttl))


def enqueue_inbound(message_id: int, citizen_id: int, waiting: set[str] | None = None) -> bool:
    """Queue a job for this citizen's stored messages, unless one already waits (a flood from one
    number takes one place in line, not one per message). True when a job was queued now. The job
    clears the marker when it starts, before it looks for messages, so a message stored later gets
    a job of its own."""
    settings = current_app.config["SETTINGS"]
    marker, job_id = keys.citizen_queued(citizen_id), uuid.uuid4().hex
    try:
        if not _claim(marker, job_id, settings.job_timeout * 2, waiting):
            return False  # a job for this citizen is already waiting: it will take this message too
        queues.queue(queues.INBOUND).enqueue(
            "bot.jobs.process_inbound", message_id, citizen_id, job_id=job_id,
            job_timeout=settings.job_timeout, description=f"inbound message {message_id}",
            result_ttl=0,  # nobody reads a finished job's result: not stored, nor its registry entry
            retry=Retry(max=3, interval=[2, 10, 30]),  # only infrastructure faults raise out of the job
        )
    except RedisError as exc:
        log.warning("enqueue inbound message_id=%s failed (%s); the sweeper will retry", message_id, type(exc).__name__)
        _forget(marker)
        return False
    return True


def waiting_sends() -> set[str]:
    """The ids of the send jobs waiting right now: in the ``outbound`` and ``notify`` queues, and delayed
    ones (a send paced for later, a retry after its backoff) in their scheduled registries."""
    waiting = set()
    for name in queues.SENDS:
        queue = queues.queue(name)
        waiting |= set(queue.get_job_ids()) | set(ScheduledJobRegistry(queue=queue).get_job_ids())
    return waiting


def enqueue_outbound(outbound_id: int, waiting: set[str] | None = None, *, bulk: bool = False,
                     delay: float = 0.0, promptly: bool = False) -> bool:
    """Queue the send of a stored message: on ``notify`` when it is a ``bulk`` notification the bot
    starts (taken after everything else), else on ``outbound``; ``delay`` seconds from now when given
    (its pacing slot is that far away). ``promptly``: now, even when a later job already waits for it
    (that one will find it sent: sends are claimed by compare-and-set)."""
    settings = current_app.config["SETTINGS"]
    return _enqueue_once(
        "outbound", outbound_id, queues.NOTIFY if bulk else queues.OUTBOUND, "bot.outbound.send_outbound", waiting,
        delay=delay, replace=promptly, job_timeout=int(settings.twilio_timeout * 3) + 30,
        retry=Retry(max=len(settings.outbound_retry_intervals), interval=list(settings.outbound_retry_intervals)),
    )


def enqueue_case(case_id: int, waiting: set[str] | None = None) -> bool:
    return _enqueue_once("case", case_id, queues.BACKOFFICE, "bot.jobs.queue_case", waiting,
                         job_timeout=CASE_JOB_TIMEOUT, retry=Retry(max=2, interval=[2, 10]))


READING_JOB_TIMEOUT = 180  # a KK read is abandoned by OCR_BACKGROUND_TIMEOUT well before this


def enqueue_reading(document_id: int, waiting: set[str] | None = None) -> bool:
    """Reading a document with OCR in the background (bot.reading.read_document): never retried by RQ, a
    failure is recorded on the document and shown on the case page."""
    return _enqueue_once("reading", document_id, queues.DOCUMENTS, "bot.reading.read_document", waiting,
                         job_timeout=READING_JOB_TIMEOUT)


def enqueue_training(model_id: int, job_timeout: int, waiting: set[str] | None = None) -> bool:
    """A retraining (bot.nlu_training.train_model): never retried by RQ, a failure is recorded and shown."""
    return _enqueue_once("training", model_id, queues.TRAINING, "bot.nlu_training.train_model", waiting,
                         job_timeout=job_timeout)


# Delete the marker only when it names this job: a newer job's marker must stay.
_FORGET_MINE = """
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ' ' then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def started(kind: str, row_id: int) -> None:
    """Called by a job when it starts: a new request for this row may queue a new job."""
    _forget_mine(keys.queued(kind, row_id))


def started_inbound(citizen_id: int) -> None:
    """Called by an inbound job first thing, whatever it then finds: a message stored from now on
    gets a job of its own (this one may already be looking past it)."""
    _forget_mine(keys.citizen_queued(citizen_id))


def _forget_mine(marker: str) -> None:
    job = get_current_job()
    if job is None:  # called outside a worker (tests, the CLI): the marker is this call's
        _forget(marker)
        return
    try:
        queues.redis().register_script(_FORGET_MINE)(keys=[marker], args=[job.id])
    except RedisError:
        log.info("marker %s not cleared (Redis away); it expires", marker)


def _enqueue_once(kind: str, row_id: int, queue_name: str, func: str, waiting: set[str] | None,
                  delay: float = 0.0, replace: bool = False, **options) -> bool:
    """True when a job was queued now (or scheduled ``delay`` seconds from now); False when one already
    waits for this row (unless ``replace``: the new job takes the marker), or Redis is away."""
    marker, job_id = keys.queued(kind, row_id), uuid.uuid4().hex
    ttl = MARKER_TTL + math.ceil(max(delay, 0.0))
    try:
        if replace:
            queues.redis().set(marker, f"{job_id} {time.time():.3f}", ex=ttl)
        elif not _claim(marker, job_id, ttl, waiting):
            return False  # already waiting in its queue
        queue, description = queues.queue(queue_name), f"{kind} {row_id}"
        if delay > 0:
            queue.enqueue_in(timedelta(seconds=delay), func, row_id, job_id=job_id, description=description, **options)
        else:
            queue.enqueue(func, row_id, job_id=job_id, description=description, **options)
    except RedisError as exc:
        log.warning("enqueue %s id=%s failed (%s); the sweeper will retry", kind, row_id, type(exc).__name__)
        _forget(marker)
        return False
    return True


def _forget(marker: str) -> None:
    try:
        queues.redis().delete(marker)
    except RedisError:
        log.info("marker %s not cleared (Redis away); it expires", marker)
