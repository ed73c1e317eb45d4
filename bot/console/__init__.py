"""The agents' console: server-rendered pages for agents, supervisors and admins."""
from __future__ import annotations

from flask import Blueprint, Flask, current_app

from storage.models import as_utc

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="../templates/console")


@bp.app_context_processor
def _template_helpers():
    return {"has_endpoint": lambda endpoint: endpoint in current_app.view_functions}


@bp.app_template_filter("local_time")
def local_time(value) -> str:
    """An aware (or SQLite-naive UTC) datetime as the office's local time, e.g. '23 Nov 14:05'."""
    if value is None:
        return "—"
    return as_utc(value).astimezone(current_app.config["PRODUCT"].timezone).strftime("%d %b %H:%M")


def init_app(app: Flask) -> None:
    from bot.console import admin, admin_settings, auth, cases, dashboard, failures, privacy, queue, staff  # noqa: F401

    auth.init_app(app)
    app.register_blueprint(bp)
