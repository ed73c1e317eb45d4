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
from storage import db, keys
from storage.models import InboundMessage, InboundStatus, OutboundMessage, OutboundStatus

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
    for name in queues.ALL:
        lines += [f"# TYPE pandawa_queue_{name}_length gauge", f"pandawa_queue_{name}_length {queues.queue(name).count}"]
    for name, value in failure_counts(db.session()).items():
        lines += [f"# TYPE pandawa_{name} gauge", f"pandawa_{name} {value}"]
    last = queues.redis().get(keys.SWEEPER_LAST_PASS)
    if last:
        lines += ["# TYPE pandawa_sweeper_last_pass_age_seconds gauge",
                  f"pandawa_sweeper_last_pass_age_seconds {time.time() - float(last):.1f}"]
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
