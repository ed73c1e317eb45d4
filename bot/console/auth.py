"""Staff login for the console: server-side sessions (bot.accounts), throttled attempts that answer
the same for every name, CSRF on every form (Flask-WTF, valid as long as the session), roles, password
change, and every login, failure, lock and logout audited."""
from __future__ import annotations

import functools
import logging
from datetime import timedelta

from flask import Flask, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import select

from bot import accounts
from bot.console import bp
from handlers.backoffice import audit
from storage import db
from storage.models import utcnow
from storage.staff import Staff

log = logging.getLogger(__name__)
login_manager = LoginManager()
csrf = CSRFProtect()
WRONG = "Nama atau kata sandi salah."
TOO_MANY = "Terlalu banyak percobaan masuk. Coba lagi dalam 15 menit, atau minta admin membuka akun Anda."
AUTO_REFRESH = "X-Auto-Refresh"  # sent by the queue's automatic refresh: it does not keep a session alive


class StaffUser:
    """Flask-Login's view of a logged-in staff member; its id is the session's token, so that a
    revoked session is refused whichever copy of the cookie shows it."""

    def __init__(self, staff: Staff, token: str):
        self.staff, self.token = staff, token
        self.id, self.name, self.role = staff.id, staff.name, staff.role
        self.is_authenticated, self.is_active, self.is_anonymous = True, staff.active, False

    def get_id(self) -> str:
        return self.token

    def at_least(self, role: str) -> bool:
        return self.staff.at_least(role)


@login_manager.user_loader
def _load(token: str):
    idle = timedelta(minutes=current_app.config["SETTINGS"].session_idle_minutes)
    row = accounts.session_for(db.session(), token, idle, touch=AUTO_REFRESH not in request.headers)
    return StaffUser(row.staff, token) if row is not None else None


def role_required(role: str):
    """Logged in, with at least this role (agent < supervisor < admin)."""

    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if not current_user.at_least(role):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def me() -> Staff:
    return db.session().get(Staff, current_user.id)


def client_address() -> str:
    """The client's address as this server sees it (behind a proxy, configure it to set REMOTE_ADDR)."""
    return request.remote_addr or "unknown"


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html")
    s = db.session()
    name, password = request.form.get("name", "").strip()[:64], request.form.get("password", "")
    address, now = client_address(), utcnow()
    staff = s.scalar(select(Staff).where(Staff.name == name))
    if accounts.locked(staff, now) or not accounts.attempt(name, address):
        accounts.verify(None, password)  # as long as any other answer
        audit(s, staff, "login_throttled", detail=None if staff else "unknown name")
        s.commit()
        flash(TOO_MANY, "error")
        return render_template("login.html"), 429
    if not accounts.verify(staff, password):
        locked_now = accounts.failed(s, name, staff)
        audit(s, staff, "login_failed", detail=None if staff else "unknown name")
        if locked_now:
            audit(s, staff, "login_locked", detail=f"{accounts.PER_NAME[0]} failures within an hour")
        s.commit()
        flash(WRONG, "error")
        return render_template("login.html"), 401
    accounts.succeeded(s, name, address, staff)
    _sign_in(s, staff, "login")
    if accounts.must_change_password(staff):
        flash("Ganti dulu kata sandi Anda (kata sandi sementara, atau dari sebelum aturan kata sandi yang baru).",
              "error")
        return redirect(url_for("console.password"))
    target = request.args.get("next", "")
    safe = target.startswith("/console/") and not target.startswith("//") and "\\" not in target
    return redirect(target if safe else url_for("console.queue"))


def _sign_in(s, staff, event: str) -> None:
    """A new server-side session for ``staff`` (audited as ``event``) and a fresh cookie carrying it."""
    started = accounts.start_session(s, staff)
    audit(s, staff, event)
    s.commit()
    session.clear()
    session.permanent = True
    login_user(StaffUser(staff, started.token))


@bp.post("/logout")
@login_required
def logout():
    s = db.session()
    accounts.end_session(s, current_user.token)  # every copy of this cookie stops working
    audit(s, current_user.staff, "logout")
    s.commit()
    logout_user()
    session.clear()
    return redirect(url_for("console.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    """Change one's own password: every session ends, this one starts anew."""
    if request.method == "GET":
        return render_template("password.html")
    s, staff = db.session(), me()
    form = request.form
    if accounts.locked(staff, utcnow()) or not accounts.attempt(staff.name, client_address()):
        audit(s, staff, "password_change_throttled")
        s.commit()
        flash(TOO_MANY, "error")
        return render_template("password.html"), 429
    if not accounts.verify(staff, form.get("current", "")):
        accounts.failed(s, staff.name, staff)
        audit(s, staff, "password_change_failed")
        s.commit()
        flash("Kata sandi saat ini salah.", "error")
        return render_template("password.html"), 400
    if form.get("new", "") != form.get("repeat", ""):
        flash("Kata sandi baru dan ulangannya berbeda.", "error")
        return render_template("password.html"), 400
    try:
        accounts.set_password(s, staff, form.get("new", ""))
    except accounts.AccountError as exc:
        s.rollback()
        flash(str(exc), "error")
        return render_template("password.html"), 400
    _sign_in(s, staff, "password_changed")
    flash("Kata sandi diganti. Sesi lain dengan kata sandi lama sudah berakhir.", "ok")
    return redirect(url_for("console.queue"))


@bp.before_request
def _password_first():
    """A temporary (or outdated) password is changed before anything else in the console."""
    if (current_user.is_authenticated and accounts.must_change_password(current_user.staff)
            and request.endpoint not in ("console.password", "console.logout")):
        return redirect(url_for("console.password"))
    return None


def init_app(app: Flask) -> None:
    settings = app.config["SETTINGS"]
    login_manager.init_app(app)
    login_manager.login_view = "console.login"
    login_manager.login_message = "Silakan masuk terlebih dahulu."
    csrf.init_app(app)
    lifetime = timedelta(hours=accounts.SESSION_HOURS)
    # Assigned, not defaulted: Flask and Flask-WTF already hold defaults for these (31 days, 1 hour, no SameSite).
    app.config.update(
        PERMANENT_SESSION_LIFETIME=lifetime,
        WTF_CSRF_TIME_LIMIT=int(lifetime.total_seconds()),  # as long as the session
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    # Twilio's webhooks are signed, not CSRF-tokened; the API uses bearer tokens. The simulator is a
    # staff page like the others: its posts carry the CSRF token.
    for name in ("whatsapp", "api"):
        if name in app.blueprints:
            csrf.exempt(app.blueprints[name])
