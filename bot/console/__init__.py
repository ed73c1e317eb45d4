"""The agents' console: server-rendered pages for agents, supervisors and admins."""
from __future__ import annotations

from flask import Blueprint, Flask, current_app, render_template, request
from werkzeug.exceptions import HTTPException

from handlers import labels
from handlers.worktime import format_moment_id
from storage.models import as_utc

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="../templates/console")


@bp.app_context_processor
def _template_helpers():
    return {"has_endpoint": lambda endpoint: endpoint in current_app.view_functions}


@bp.app_template_filter("local_time")
def local_time(value) -> str:
    """An aware (or SQLite-naive UTC) datetime in the office's time, as Indonesians write it:
    '4 Des 2026, 10.15 WIB'."""
    if value is None:
        return "—"
    return format_moment_id(as_utc(value), current_app.config["PRODUCT"].timezone)


@bp.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    """Console errors in Indonesian (Werkzeug's pages are English), also for a path under /console that
    matches no page (routing errors belong to no blueprint). Other paths keep their own answers."""
    if exc.code is None or exc.code < 400 or not request.path.startswith(bp.url_prefix):
        return exc
    return render_template("error.html", code=exc.code, message=labels.http_error(exc.code)), exc.code


@bp.app_context_processor
def _labels():
    return {"words": labels}


def init_app(app: Flask) -> None:
    from bot.console import (admin, admin_settings, auth, branches, cases, chat, dashboard, failures,  # noqa: F401
                             nlu, privacy, queue, staff)

    auth.init_app(app)
    app.register_blueprint(bp)
