"""Counters kept in Redis (shared by web and worker processes), exposed at /metrics in Prometheus'
text format. No personal data: only event names."""
from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response
from redis.exceptions import RedisError

from bot import queues

log = logging.getLogger(__name__)
KEY = "pandawa:metrics"
bp = Blueprint("metrics", __name__)


def incr(name: str, amount: int = 1) -> None:
    try:
        queues.redis().hincrby(KEY, name, amount)
    except RedisError as exc:  # metrics must never break message handling
        log.warning("metric %s not counted: %s", name, type(exc).__name__)


def snapshot() -> dict[str, int]:
    return {k.decode(): int(v) for k, v in queues.redis().hgetall(KEY).items()}


@bp.get("/metrics")
def metrics():
    lines = []
    for name, value in sorted(snapshot().items()):
        lines += [f"# TYPE pandawa_{name}_total counter", f"pandawa_{name}_total {value}"]
    for name in queues.ALL:
        lines += [f"# TYPE pandawa_queue_{name}_length gauge", f"pandawa_queue_{name}_length {queues.queue(name).count}"]
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
