"""Redis connection and the RQ queues, named by purpose.

- ``inbound``: at most one waiting job per citizen (decide the replies to their stored messages);
- ``outbound``: one job per reply to hand to Twilio (a citizen, or an agent's message, is waiting);
- ``notify``: one job per message the bot starts (case decisions, reminders): taken last, paced below
  replies (bot.pacing);
- ``backoffice``: one job per new case (its SLA due time, then it is in the agents' queue);
- ``training``: a retraining of the NLU an admin asked for (a minute or so; one at a time), taken only
  by the ``trainer`` process (Procfile), never by the workers that answer citizens;
- ``documents``: reading a KK photo with OCR once its case is in (5-20 s each: a dense table), taken only
  by the ``reader`` process (Procfile), never by the workers that answer citizens.

Jobs are put on the queues by bot.dispatch only.
"""
from __future__ import annotations

from flask import Flask, current_app
from redis import Redis
from rq import Queue

INBOUND, OUTBOUND, BACKOFFICE, NOTIFY, TRAINING = "inbound", "outbound", "backoffice", "notify", "training"
DOCUMENTS = "documents"
# The order a worker takes work in: replies waiting to go out first, then putting new cases in front
# of agents (a few ms each; behind a busy inbound queue they waited without bound), then new messages,
# then notifications (a burst of a thousand decisions must not hold up anyone who is writing).
ALL = (OUTBOUND, BACKOFFICE, INBOUND, NOTIFY)
SENDS = (OUTBOUND, NOTIFY)  # the queues bot.outbound's jobs wait in


def init_app(app: Flask) -> None:
    # Connecting is lazy: nothing talks to Redis until the first command.
    app.extensions["redis"] = Redis.from_url(
        app.config["SETTINGS"].redis_url, socket_connect_timeout=1, socket_timeout=5, health_check_interval=30
    )


def redis() -> Redis:
    return current_app.extensions["redis"]


def queue(name: str) -> Queue:
    return Queue(name, connection=redis())
