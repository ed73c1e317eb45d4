"""Branch offices from the command line: `flask --app bot branches add|list|edit`.

    flask --app bot branches add KC-SDA --name "KC Sidoarjo" --whatsapp whatsapp:+6231… [--whatsapp …]
    flask --app bot branches edit KC-SDA --add-whatsapp … --remove-whatsapp … --holiday 2026-12-24
    flask --app bot branches list

Every change writes an audit row (channel ``cli``).
"""
from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy.exc import IntegrityError

from handlers import branches
from handlers.backoffice import audit
from storage import db

branches_cli = AppGroup("branches", help="Branch offices: codes, WhatsApp numbers, regional holidays.")


def _saved(session, action: str, branch) -> None:
    """Audited and committed; a clash with another process's change is a clear error, nothing half-saved."""
    try:
        session.flush()
        numbers = ",".join(n.number for n in branch.numbers)
        audit(session, None, action, detail=f"branch {branch.code} numbers {numbers}"[:500], channel="cli")
        session.commit()
    except IntegrityError:
        session.rollback()
        raise click.ClickException("another change to the branches came first; run the command again") from None


@branches_cli.command("add")
@click.argument("code")
@click.option("--name", required=True, help='What officers and citizens call it, e.g. "KC Sidoarjo".')
@click.option("--whatsapp", "numbers", multiple=True, help="A WhatsApp sender of the branch (repeatable).")
@click.option("--holiday", "holidays", multiple=True, help="A regional holiday, YYYY-MM-DD (repeatable).")
@click.option("--contact", default=None, help="The contact line the branch's texts give.")
def add(code: str, name: str, numbers: tuple[str, ...], holidays: tuple[str, ...], contact: str | None) -> None:
    """Add the branch CODE (capital letters, digits, - or _)."""
    session = db.session()
    try:
        branch = branches.add(session, code, name, numbers, holidays, contact)
    except branches.BranchError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from None
    _saved(session, "branch_add", branch)
    click.echo(f"added branch {branch.code} ({branch.name}) with {len(branch.numbers)} number(s)")


@branches_cli.command("edit")
@click.argument("code")
@click.option("--name", default=None)
@click.option("--add-whatsapp", "add_numbers", multiple=True)
@click.option("--remove-whatsapp", "remove_numbers", multiple=True)
@click.option("--holiday", "add_holidays", multiple=True, help="Add a regional holiday, YYYY-MM-DD.")
@click.option("--remove-holiday", "remove_holidays", multiple=True)
@click.option("--contact", default=None)
def edit(code: str, name: str | None, add_numbers, remove_numbers, add_holidays, remove_holidays,
         contact: str | None) -> None:
    """Change the branch CODE."""
    session = db.session()
    change = branches.Change(name=name, add_numbers=add_numbers, remove_numbers=remove_numbers,
                             add_holidays=add_holidays, remove_holidays=remove_holidays, contact=contact)
    try:
        branch = branches.edit(session, code, change)
    except branches.BranchError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from None
    _saved(session, "branch_edit", branch)
    click.echo(f"changed branch {branch.code}")


@branches_cli.command("list")
def list_branches() -> None:
    """Every branch: code, name, numbers, regional holidays, officers."""
    session = db.session()
    rows = branches.all_branches(session)
    session.commit()  # the default branch, if it had to be made
    for branch in rows:
        mark = " (default)" if branch.is_default else ""
        numbers = ", ".join(n.number for n in branch.numbers) or "-"
        holidays = ", ".join(branch.holidays or []) or "-"
        click.echo(f"{branch.code}{mark}\t{branch.name}\tnumbers: {numbers}\tholidays: {holidays}\t"
                   f"officers: {branches.staff_count(session, branch.id)}")
