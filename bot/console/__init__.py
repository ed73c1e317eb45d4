"""The agents' console: server-rendered pages for agents, supervisors and admins."""
from __future__ import annotations

from flask import Blueprint, Flask, current_app

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="../templates/console")


@bp.app_context_processor
def _template_helpers():
    return {"has_endpoint": lambda endpoint: endpoint in current_app.view_functions}


@bp.app_template_filter("local_time")
def local_time(value) -> str:
    """An aware (or SQLite-naive UTC) datetime as the office's local time, e.g. '23 Nov 14:05'."""
    from zoneinfo import ZoneInfo

    from storage.models import as_utc

    if value is None:
        return "—"
    tz = ZoneInfo(current_app.config["PRODUCT"].raw["working_hours"]["timezone"])
    return as_utc(value).astimezone(tz).strftime("%d %b %H:%M")


def init_app(app: Flask) -> None:
    from bot.console import admin, admin_settings, auth, cases, dashboard, queue  # noqa: F401  (routes register on bp)

    auth.init_app(app)
    app.register_blueprint(bp)
