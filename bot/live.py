"""Published edits reach every web and worker process within seconds, without a restart.

The database decides what is live (flows.versions.published_marker). A publish also increments a
counter in Redis so that processes notice at once: workers look at the counter before every message,
web processes at most once a second; everyone also asks the database every ``RECONCILE_EVERY``
seconds, so a publish made while Redis was down (or a lost signal) still takes effect. A version
that no longer loads never takes the bot down: the loaded one keeps serving.
"""
from __future__ import annotations

import logging
import time

from flask import Flask
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from flows import versions
from flows.definition import Flow, FlowError, load_flows
from handlers.catalog import catalog
from handlers.product import Product, ProductConfigError
from storage import keys

log = logging.getLogger(__name__)
WEB_CHECK_EVERY = 1.0  # seconds between two looks at the Redis counter in a web process
RECONCILE_EVERY = 5.0  # seconds between two looks at the database in any process


def bump(app: Flask) -> bool:
    """Tell every process to reload now. False when Redis did not answer (they reload within
    RECONCILE_EVERY seconds anyway)."""
    try:
        app.extensions["redis"].incr(keys.CONFIG_GENERATION)
    except RedisError as exc:
        log.warning("config generation not bumped (%s); processes reload from the database", type(exc).__name__)
        return False
    return True


def _state(app: Flask) -> dict:
    return app.extensions.setdefault("live", {"generation": None, "marker": None, "checked": 0.0, "reconciled": 0.0})


def _generation(app: Flask) -> int | None:
    try:
        return int(app.extensions["redis"].get(keys.CONFIG_GENERATION) or 0)
    except RedisError as exc:
        log.warning("config generation unknown (%s)", type(exc).__name__)
        return None


def refresh(app: Flask, min_interval: float = 0.0) -> None:
    """Reload the product and flows when an admin published since this process last loaded them."""
    state, now = _state(app), time.monotonic()
    if now - state["checked"] < min_interval:
        return
    state["checked"] = now
    generation = _generation(app)
    signalled = generation is not None and generation != state["generation"]
    if not signalled and now - state["reconciled"] < RECONCILE_EVERY:
        return
    state["reconciled"] = now
    try:
        with Session(app.extensions["db"].engine) as session:  # its own session: never the caller's
            marker = versions.published_marker(session)
            if marker == state["marker"]:
                state["generation"] = generation if generation is not None else state["generation"]
                return
            product, flows = versions.compose(session, app.config["SETTINGS"].product_config, catalog())
    except (SQLAlchemyError, ProductConfigError, FlowError) as exc:
        log.error("published configuration not loaded (%s); keeping the loaded version", type(exc).__name__)
        return
    install(app, product, flows)
    state["generation"], state["marker"] = generation, marker
    log.info("configuration %s loaded (generation %s)", marker, generation)


def install(app: Flask, product: Product, flows: dict[str, Flow]) -> None:
    """Make this product and these flows the ones this process answers with."""
    app.config["PRODUCT"] = product.with_content_sids(app.config["SETTINGS"].content_sids)
    app.extensions["flows"] = flows


def flows(app: Flask) -> dict[str, Flow]:
    return app.extensions["flows"]


def preview(app: Flask) -> tuple[Product, dict[str, Flow]]:
    """Product and flows with the admins' drafts, for simulator previews."""
    with Session(app.extensions["db"].engine) as session:
        product, flow_set = versions.compose(session, app.config["SETTINGS"].product_config, catalog(), draft=True)
    return product.with_content_sids(app.config["SETTINGS"].content_sids), flow_set


def pinned(app: Flask, session, flow_set: dict[str, Flow], runs) -> dict[str, Flow]:
    """The flows a message runs on: each run in progress keeps the version it started with."""
    cache = app.extensions.setdefault("pinned_flows", {})
    return versions.pinned(session, flow_set, runs, catalog(), cache)


def init_app(app: Flask) -> None:
    install(app, app.config["PRODUCT"], load_flows(catalog()))  # the files, until the database is asked

    @app.before_request
    def _refresh():
        refresh(app, min_interval=WEB_CHECK_EVERY)
