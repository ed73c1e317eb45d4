"""Counters kept in Redis (shared by web and worker processes), exposed at /metrics in Prometheus'
text format, with gauges read from the database (failed messages and sends) and from the sweeper.
No personal data: only event names and counts."""
from __future__ import annotations

import hmac
import logging
import time

from flask import Blueprint, Flask, Response, abort, current_app, request
from redis.exceptions import RedisError
from sqlalchemy import func, select

from bot import queues
from handlers import nlu_review
from storage import db, keys
from storage.models import InboundMessage, InboundStatus, OutboundMessage, OutboundStatus, as_utc, utcnow
from storage.nlu import ReviewStatus

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)


def incr(name: str, amount: int = 1) -> None:
    try:
        queues.redis().hincrby(keys.METRICS, name, amount)
    except RedisError as exc:  # metrics must never break message handling
        log.warning("metric %s not counted: %s", name, type(exc).__name__)


def snapshot() -> dict[str, int]:
    return {k.decode(): int(v) for k, v in queues.redis().hgetall(keys.METRICS).items()}


def failure_counts(session) -> dict[str, int]:
    """Messages set aside and replies that never reached the citizen, right now."""
    inbound = session.scalar(select(func.count()).select_from(InboundMessage)
                             .where(InboundMessage.status == InboundStatus.FAILED))
    outbound = session.scalar(select(func.count()).select_from(OutboundMessage)
                              .where(OutboundMessage.status.in_(OutboundStatus.NOT_DELIVERED)))
    return {"inbound_failed": inbound or 0, "outbound_not_delivered": outbound or 0}


def outbound_backlog(session, default_sender: str) -> list[dict]:
    """Messages waiting to be handed to Twilio (pending, retrying, unknown) per sender (our number; a row
    not yet claimed goes from the default one), with the age of the oldest in seconds. The default sender
    is always listed (0 when nothing waits), the others while something waits for them."""
    rows = session.execute(
        select(OutboundMessage.sender, func.count(), func.min(OutboundMessage.created_at))
        .where(OutboundMessage.status.in_(OutboundStatus.SENDABLE)).group_by(OutboundMessage.sender)
    ).all()
    now, merged = utcnow(), {default_sender: (0, None)}
    for sender, count, oldest in rows:
        waiting, earliest = merged.get(sender or default_sender, (0, None))
        oldest = as_utc(oldest) if oldest is not None else None
        merged[sender or default_sender] = (waiting + count, min(filter(None, (earliest, oldest)), default=None))
    return [{"sender": sender, "waiting": waiting,
             "oldest_seconds": max((now - oldest).total_seconds(), 0.0) if oldest else 0.0}
            for sender, (waiting, oldest) in sorted(merged.items())]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


LOOPBACK = ("127.0.0.1", "::1")


@bp.before_request
def _loopback_or_token():
    """Counts of failures and queues are for the operator's scraper: METRICS_TOKEN, or loopback when no
    proxy stands in front (behind one, every request would look local)."""
    settings = current_app.config["SETTINGS"]
    if request.remote_addr in LOOPBACK and not settings.trusted_proxies:
        return None
    expected = settings.metrics_token
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if expected and scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), expected):
        return None
    abort(403)


@bp.get("/metrics")
def metrics():
    lines = []
    for name, value in sorted(snapshot().items()):
        lines += [f"# TYPE pandawa_{name}_total counter", f"pandawa_{name}_total {value}"]
    for name in queues.ALL + (queues.DOCUMENTS,):
        lines += [f"# TYPE pandawa_queue_{name}_length gauge", f"pandawa_queue_{name}_length {queues.queue(name).count}"]
    for name, value in failure_counts(db.session()).items():
        lines += [f"# TYPE pandawa_{name} gauge", f"pandawa_{name} {value}"]
    backlog = outbound_backlog(db.session(), current_app.config["SETTINGS"].twilio_whatsapp_number)
    lines.append("# TYPE pandawa_outbound_backlog gauge")
    lines += [f'pandawa_outbound_backlog{{sender="{_label(b["sender"])}"}} {b["waiting"]}' for b in backlog]
    lines.append("# TYPE pandawa_outbound_backlog_oldest_seconds gauge")
    lines += [f'pandawa_outbound_backlog_oldest_seconds{{sender="{_label(b["sender"])}"}} {b["oldest_seconds"]:.1f}'
              for b in backlog]
    oldest = db.session().scalar(select(func.min(InboundMessage.received_at))
                                 .where(InboundMessage.status == InboundStatus.RECEIVED))
    age = max((utcnow() - as_utc(oldest)).total_seconds(), 0.0) if oldest is not None else 0.0
    lines += ["# TYPE pandawa_inbound_oldest_waiting_seconds gauge",  # a citizen waiting this long for an answer
              f"pandawa_inbound_oldest_waiting_seconds {age:.1f}"]
    lines += ["# TYPE pandawa_nlu_reviews_open gauge",  # messages the bot misunderstood, waiting for an admin
              f"pandawa_nlu_reviews_open {nlu_review.counts(db.session())[ReviewStatus.OPEN]}"]
    last = queues.redis().get(keys.SWEEPER_LAST_PASS)
    if last:
        lines += ["# TYPE pandawa_sweeper_last_pass_age_seconds gauge",
                  f"pandawa_sweeper_last_pass_age_seconds {time.time() - float(last):.1f}"]
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
