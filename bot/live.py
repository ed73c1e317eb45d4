"""Published edits reach every web and worker process within seconds, without a restart.

A publish increments a counter in Redis; each process compares it with the one it loaded (workers
before every message, web processes at most once a second) and reloads the product settings and
flows from the database when it moved.
"""
from __future__ import annotations

import logging
import time

from flask import Flask
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.product import ProductConfigError
from flows.definition import FlowError
from handlers import versions

log = logging.getLogger(__name__)
WEB_CHECK_EVERY = 1.0  # seconds between two looks at the counter in a web process


def _validators_and_actions() -> tuple[set[str], set[str]]:
    from handlers.actions import ACTIONS
    from handlers.inputs import VALIDATORS

    return set(VALIDATORS), set(ACTIONS)


def bump(app: Flask) -> None:
    app.extensions["redis"].incr(versions.GENERATION_KEY)


def refresh(app: Flask, min_interval: float = 0.0) -> None:
    """Reload the product and flows when an admin published since this process last loaded them."""
    state = app.extensions.setdefault("live", {"generation": None, "checked": 0.0})
    now = time.monotonic()
    if now - state["checked"] < min_interval:
        return
    state["checked"] = now
    try:
        generation = int(app.extensions["redis"].get(versions.GENERATION_KEY) or 0)
    except RedisError as exc:
        log.warning("config generation unknown (%s); keeping the loaded version", type(exc).__name__)
        return
    if generation == state["generation"]:
        return
    validators, actions = _validators_and_actions()
    try:
        with Session(app.extensions["db"].engine) as session:  # its own session: never the caller's
            product, flows = versions.compose(session, app.config["SETTINGS"].product_config, validators, actions)
    except (SQLAlchemyError, ProductConfigError, FlowError) as exc:
        # A version that no longer loads must not take the bot down: keep serving the loaded one.
        log.error("published configuration not loaded (%s); keeping the loaded version", type(exc).__name__)
        return
    app.config["PRODUCT"], app.extensions["flows"] = product, flows
    state["generation"] = generation
    log.info("configuration generation %s loaded", generation)


def preview(app: Flask) -> tuple:
    """Product and flows with the admins' drafts, for simulator previews."""
    validators, actions = _validators_and_actions()
    with Session(app.extensions["db"].engine) as session:
        return versions.compose(session, app.config["SETTINGS"].product_config, validators, actions, draft=True)


def init_app(app: Flask) -> None:
    @app.before_request
    def _refresh():
        refresh(app, min_interval=WEB_CHECK_EVERY)
