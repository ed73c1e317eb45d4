"""Health endpoints a load balancer or an orchestrator can poll.

- ``/healthz``: this web process answers;
- ``/healthz/sweeper``: the sweeper finished a clean pass recently and at least one sweeper thread beats
  (503 otherwise: lost messages, retries and unqueued cases are not being recovered).
"""
from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify
from redis.exceptions import RedisError

from bot import sweeper

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return {"ok": True}


@bp.get("/healthz/sweeper")
def sweeper_health():
    try:
        report = sweeper.health(current_app._get_current_object())
    except RedisError as exc:
        return jsonify(ok=False, error=f"redis: {type(exc).__name__}"), 503
    return jsonify(report), 200 if report["ok"] else 503


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
