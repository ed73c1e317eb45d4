"""The Flask app: WhatsApp webhook, local simulator (and later the agents' console)."""
from __future__ import annotations

import os
from typing import Any, Mapping

from flask import Flask

from bot import logs
from bot.product import load_product
from bot.settings import load_settings


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``test_config`` may hold ``ENV`` (a dict used instead of os.environ) and Flask keys."""
    test_config = dict(test_config or {})
    environ = test_config.pop("ENV", None)
    settings = load_settings(environ)
    app = Flask(__name__, instance_path=settings.instance_path)
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key,
        SETTINGS=settings,
        PRODUCT=load_product(settings.product_config),
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
    )
    app.config.update(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    logs.configure(os.environ.get("LOG_LEVEL", "INFO"))

    from bot import api, cli, console, live, metrics, queues, simulator, users_cli, webhook
    from storage import db

    db.init_app(app)
    queues.init_app(app)
    live.init_app(app)
    webhook.init_app(app)
    cli.init_app(app)
    metrics.init_app(app)
    api.init_app(app)
    users_cli.init_app(app)
    if settings.simulator_enabled:
        simulator.init_app(app)
    console.init_app(app)  # after the blueprints it exempts from CSRF

    @app.get("/healthz")
    def healthz():
        return {"ok": True}

    return app
