"""The Flask app: WhatsApp webhook, jobs, the agents' console, the API, the CLI, the local simulator."""
from __future__ import annotations

import os
from typing import Any, Mapping

from flask import Flask

from bot import logs
from bot.settings import ConfigError, load_settings
from handlers.product import load_product, placeholder_content_sids


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``test_config`` may hold ``ENV`` (a dict used instead of os.environ) and Flask keys."""
    test_config = dict(test_config or {})
    environ = test_config.pop("ENV", None)
    settings = load_settings(environ)
    product = load_product(settings.product_config).with_content_sids(settings.content_sids)
    placeholders = placeholder_content_sids(product)
    if placeholders and not settings.local_mode:
        raise ConfigError(
            f"templates {', '.join(placeholders)} have no real Twilio Content SID: every message sent after "
            "the 24-hour window would fail. Set TWILIO_CONTENT_SID_<NAME> (e.g. TWILIO_CONTENT_SID_CASE_UPDATE) "
            "to your approved templates' SIDs (HX + 32 hex digits)"
        )
    app = Flask(__name__, instance_path=settings.instance_path)
    app.config.from_mapping(SECRET_KEY=settings.secret_key, SETTINGS=settings, PRODUCT=product,
                            MAX_CONTENT_LENGTH=settings.max_request_bytes)
    app.config.update(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    logs.configure(os.environ.get("LOG_LEVEL", "INFO"))

    from bot import api, cli, console, health, live, metrics, queues, security, simulator, users_cli, webhook
    from storage import db

    db.init_app(app)
    security.init_app(app)
    queues.init_app(app)
    live.init_app(app)
    webhook.init_app(app)
    cli.init_app(app)
    metrics.init_app(app)
    health.init_app(app)
    api.init_app(app)
    users_cli.init_app(app)
    simulator.init_app(app)  # staff only; without SIMULATOR_ENABLED admins only (draft preview)
    console.init_app(app)  # after the blueprints it exempts from CSRF
    return app
