"""Staff login: hashed passwords (werkzeug's scrypt), Flask-Login sessions with expiry, CSRF on
every form (Flask-WTF), lock-out after repeated failures, roles."""
from __future__ import annotations

import functools
import hashlib
import logging
import secrets
from datetime import timedelta

from flask import Flask, abort, flash, redirect, render_template, request, session, url_for
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from bot.console import bp
from storage import db
from storage.models import as_utc, utcnow
from storage.staff import ApiToken, Role, Staff

log = logging.getLogger(__name__)
login_manager = LoginManager()
csrf = CSRFProtect()
MAX_FAILURES = 5
LOCK_MINUTES = 15
SESSION_HOURS = 8  # one working day


class StaffUser:
    """Flask-Login's view of a staff row (kept apart from the ORM object)."""

    def __init__(self, staff: Staff):
        self.staff = staff
        self.id, self.name, self.role = staff.id, staff.name, staff.role
        self.is_authenticated, self.is_active, self.is_anonymous = True, staff.active, False

    def get_id(self) -> str:
        return str(self.id)

    def at_least(self, role: str) -> bool:
        return self.staff.at_least(role)


@login_manager.user_loader
def _load(user_id: str):
    staff = db.session().get(Staff, int(user_id))
    return StaffUser(staff) if staff and staff.active else None


def hash_password(password: str) -> str:
    return generate_password_hash(password)  # scrypt with a random salt


def create_staff(session, name: str, role: str, password: str) -> Staff:
    if role not in Role.ALL:
        raise ValueError(f"role must be one of {', '.join(Role.ALL)}")
    if len(password) < 10:
        raise ValueError("the password needs at least 10 characters")
    staff = Staff(name=name, role=role, password_hash=hash_password(password))
    session.add(staff)
    return staff


def new_token(session, staff: Staff) -> str:
    """A new bearer token; only its SHA-256 is stored."""
    token = "pdw_" + secrets.token_urlsafe(32)
    session.add(ApiToken(staff_id=staff.id, token_hash=hashlib.sha256(token.encode()).hexdigest()))
    return token


def staff_for_token(session, token: str) -> Staff | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hashlib.sha256(token.encode()).hexdigest(),
                                                ApiToken.revoked.is_(False)))
    if row is None or not row.staff.active:
        return None
    row.last_used_at = utcnow()
    return row.staff


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


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html")
    s = db.session()
    name, password = request.form.get("name", "").strip(), request.form.get("password", "")
    staff = s.scalar(select(Staff).where(Staff.name == name))
    now = utcnow()
    if staff is not None and staff.locked_until and as_utc(staff.locked_until) > now:
        log.warning("login refused: staff_id=%s locked", staff.id)
        flash("Akun dikunci sementara karena terlalu banyak percobaan. Coba lagi nanti.", "error")
        return render_template("login.html"), 429
    if staff is None or not staff.active or not check_password_hash(staff.password_hash, password):
        if staff is not None:
            staff.failed_logins += 1
            if staff.failed_logins >= MAX_FAILURES:
                staff.locked_until, staff.failed_logins = now + timedelta(minutes=LOCK_MINUTES), 0
            s.commit()
        flash("Nama atau kata sandi salah.", "error")
        return render_template("login.html"), 401
    staff.failed_logins, staff.locked_until = 0, None
    s.commit()
    session.clear()
    session.permanent = True
    login_user(StaffUser(staff))
    target = request.args.get("next", "")
    return redirect(target if target.startswith("/console/") else url_for("console.queue"))


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    session.clear()
    return redirect(url_for("console.login"))


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "console.login"
    login_manager.login_message = "Silakan masuk terlebih dahulu."
    csrf.init_app(app)
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", timedelta(hours=SESSION_HOURS))
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    # Twilio's webhooks are signed, not CSRF-tokened; the simulator is local-only; the API uses bearer tokens.
    for name in ("whatsapp", "simulator", "api"):
        if name in app.blueprints:
            csrf.exempt(app.blueprints[name])
