"""Staff accounts from the command line: `flask --app bot users create|token|revoke|list|unlock`.

Passwords are asked for (hidden) unless given with --password; a token is printed once, as the last
line of the output, and only its hash is stored. Every change writes an audit row (channel ``cli``).
"""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.console.auth import create_staff, new_token
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
              help="At least 10 characters (asked for, hidden, when left out).")
def create(name: str, role: str, password: str) -> None:
    """Create the staff member NAME (the login name)."""
    name = name.strip()
    if not name or len(name) > 64:
        raise click.ClickException("the name must have 1 to 64 characters")
    session = db.session()
    if session.scalar(select(Staff.id).where(Staff.name == name)) is not None:
        raise click.ClickException(f"a staff member named {name!r} already exists")
    try:
        staff = create_staff(session, name, role, password)
        session.flush()
        audit(session, None, "create_staff", detail=f"staff {staff.id} ({role})", channel="cli")
        session.commit()
    except ValueError as exc:  # bad role, short password
        session.rollback()
        raise click.ClickException(str(exc)) from None
    except IntegrityError:  # created meanwhile by someone else
        session.rollback()
        raise click.ClickException(f"a staff member named {name!r} already exists") from None
    click.echo(f"created {role} {name!r}")


@users_cli.command("token")
@click.argument("name")
def token(name: str) -> None:
    """Issue a new API bearer token for NAME (printed once, on the last line)."""
    session = db.session()
    staff = _staff(session, name)
    if not staff.active:
        raise click.ClickException(f"{name!r} is deactivated; no token issued")
    value = new_token(session, staff)
    audit(session, None, "new_token", detail=f"staff {staff.id}", channel="cli")
    session.commit()
    click.echo(f"API token for {name!r} ({staff.role}); it is shown only now, keep it secret:")
    click.echo(value)


@users_cli.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke every API token of NAME."""
    session = db.session()
    staff = _staff(session, name)
    count = session.execute(
        update(ApiToken).where(ApiToken.staff_id == staff.id, ApiToken.revoked.is_(False)).values(revoked=True)
    ).rowcount
    audit(session, None, "revoke_tokens", detail=f"staff {staff.id}: {count}", channel="cli")
    session.commit()
    click.echo(f"revoked {count} token(s) of {name!r}")


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
    staff.locked_until, staff.failed_logins = None, 0
    audit(session, None, "unlock", detail=f"staff {staff.id}", channel="cli")
    session.commit()
    click.echo(f"unlocked {name!r}")


def init_app(app: Flask) -> None:
    app.cli.add_command(users_cli)
