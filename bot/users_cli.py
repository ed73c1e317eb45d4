"""Staff accounts from the command line: `flask --app bot users create|password|token|tokens|revoke|list|unlock`.

Passwords are asked for (hidden) unless given with --password; a token is printed once, as the last
line of the output, and only its hash is stored. Every change writes an audit row (channel ``cli``).
"""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot import accounts
from handlers.backoffice import audit
from storage import db
from storage.models import as_utc, utcnow
from storage.staff import ApiToken, Role, Staff

users_cli = AppGroup("users", help="Back-office staff: accounts, API tokens, lock-outs.")


def _staff(session, name: str) -> Staff:
    staff = session.scalar(select(Staff).where(Staff.name == name))
    if staff is None:
        raise click.ClickException(f"no staff member named {name!r}")
    return staff


@users_cli.command("create")
@click.argument("name")
@click.option("--role", required=True, help=f"One of: {', '.join(Role.ALL)}.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help=f"At least {accounts.PASSWORD_MIN} characters of two kinds (asked for, hidden, when left out).")
@click.option("--branch", "branch_codes", multiple=True,
              help="A branch office the officer works for (repeatable; default: the default branch).")
@click.option("--national", is_flag=True, help="A national supervisor: sees every branch's cases.")
def create(name: str, role: str, password: str, branch_codes: tuple[str, ...], national: bool) -> None:
    """Create the staff member NAME (the login name)."""
    name = name.strip()
    if not name or len(name) > 64:
        raise click.ClickException("the name must have 1 to 64 characters")
    session = db.session()
    if session.scalar(select(Staff.id).where(Staff.name == name)) is not None:
        raise click.ClickException(f"a staff member named {name!r} already exists")
    try:
        staff = accounts.create_staff(session, name, role, password, tuple(c.strip().upper() for c in branch_codes),
                                     national)
        session.flush()
        audit(session, None, "create_staff", detail=f"staff {staff.id} ({role}{', nasional' if national else ''})", channel="cli")
        session.commit()
    except accounts.AccountError as exc:  # bad role, weak password
        session.rollback()
        raise click.ClickException(str(exc)) from None
    except IntegrityError:  # created meanwhile by someone else
        session.rollback()
        raise click.ClickException(f"a staff member named {name!r} already exists") from None
    click.echo(f"created {role} {name!r}")


@users_cli.command("token")
@click.argument("name")
@click.option("--role", default=None, help="What the token may do (default: the owner's role; never above it).")
@click.option("--days", default=accounts.TOKEN_DAYS, show_default=True, type=int, help="How long the token lives.")
@click.option("--label", default="", help="What the token is for (shown in `users tokens`).")
def token(name: str, role: str | None, days: int, label: str) -> None:
    """Issue a new API bearer token for NAME (printed once, on the last line)."""
    session = db.session()
    staff = _staff(session, name)
    if not staff.active:
        raise click.ClickException(f"{name!r} is deactivated; no token issued")
    try:
        value = accounts.new_token(session, staff, role, days, label[:64])
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    session.flush()
    audit(session, None, "new_token", detail=f"staff {staff.id} role {role or staff.role} days {days}", channel="cli")
    session.commit()
    click.echo(f"API token for {name!r} ({role or staff.role}, {days} days); it is shown only now, keep it secret:")
    click.echo(value)


@users_cli.command("tokens")
@click.argument("name")
def tokens(name: str) -> None:
    """NAME's API tokens: id, label, role, expiry, last use, revoked."""
    session = db.session()
    staff = _staff(session, name)
    rows = session.scalars(select(ApiToken).where(ApiToken.staff_id == staff.id).order_by(ApiToken.id)).all()
    click.echo(f"{'id':>5}  {'label':<20}  {'role':<10}  {'expires':<16}  {'last used':<16}  revoked")
    for row in rows:
        stamp = lambda value: f"{as_utc(value):%Y-%m-%d %H:%M}" if value else "-"  # noqa: E731
        click.echo(f"{row.id:>5}  {(row.label or '-')[:20]:<20}  {accounts.token_role(row):<10}  "
                   f"{stamp(row.expires_at):<16}  {stamp(row.last_used_at):<16}  {'yes' if row.revoked else 'no'}")


@users_cli.command("revoke")
@click.argument("name")
@click.option("--token", "token_id", type=int, default=None, help="Revoke only this token (see `users tokens`).")
def revoke(name: str, token_id: int | None) -> None:
    """Revoke NAME's API tokens: one (--token ID) or all."""
    session = db.session()
    staff = _staff(session, name)
    query = update(ApiToken).where(ApiToken.staff_id == staff.id, ApiToken.revoked.is_(False))
    if token_id is not None:
        query = query.where(ApiToken.id == token_id)
    count = session.execute(query.values(revoked=True)).rowcount
    audit(session, None, "revoke_tokens", detail=f"staff {staff.id}: {count}" + (f" (token {token_id})" if token_id else ""),
          channel="cli")
    session.commit()
    click.echo(f"revoked {count} token(s) of {name!r}")


@users_cli.command("password")
@click.argument("name")
@click.option("--password", prompt="New password", hide_input=True, confirmation_prompt=True)
def password(name: str, password: str) -> None:
    """Set NAME's password (every console session of NAME ends)."""
    session = db.session()
    staff = _staff(session, name)
    try:
        accounts.set_password(session, staff, password)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    audit(session, None, "password_reset", detail=f"staff {staff.id}", channel="cli")
    session.commit()
    click.echo(f"password of {name!r} set; their sessions have ended")


@users_cli.command("list")
def list_users() -> None:
    """Name, role, active, locked."""
    session = db.session()
    now = utcnow()
    rows = session.scalars(select(Staff).order_by(Staff.name)).all()
    if not rows:
        click.echo("no staff yet: flask --app bot users create NAME --role admin")
        return
    width = max(len("name"), *(len(s.name) for s in rows))
    click.echo(f"{'name':<{width}}  {'role':<10}  {'active':<6}  locked")
    for s in rows:
        locked = s.locked_until is not None and as_utc(s.locked_until) > now
        until = f"until {as_utc(s.locked_until):%Y-%m-%d %H:%M} UTC" if locked else "no"
        click.echo(f"{s.name:<{width}}  {s.role:<10}  {'yes' if s.active else 'no':<6}  {until}")


@users_cli.command("unlock")
@click.argument("name")
def unlock(name: str) -> None:
    """Clear NAME's lock-out after failed logins."""
    session = db.session()
    staff = _staff(session, name)
    accounts.unlock(session, staff)
    audit(session, None, "unlock", detail=f"staff {staff.id}", channel="cli")
    session.commit()
    click.echo(f"unlocked {name!r}")


def init_app(app: Flask) -> None:
    app.cli.add_command(users_cli)
