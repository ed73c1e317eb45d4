"""Branch offices from the command line: `flask --app bot branches add|list|edit`.

    flask --app bot branches add KC-SDA --name "KC Sidoarjo" --whatsapp whatsapp:+6231… [--whatsapp …]
    flask --app bot branches edit KC-SDA --add-whatsapp … --remove-whatsapp … --holiday 2026-12-24
    flask --app bot branches edit KC-SDA --regency 3515 --days mon-sat --start 07:30 --end 14:00 --sla complaint=16
    flask --app bot branches list

Every change writes an audit row (channel ``cli``) and a new version of the branch (handlers.branches).
"""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import IntegrityError

from handlers import branches
from handlers.worktime import DAY_NAMES
from handlers.backoffice import audit
from storage import db

branches_cli = AppGroup("branches", help="Branch offices: codes, WhatsApp numbers, regional holidays.")


def _services() -> tuple[str, ...]:
    product = current_app.config["PRODUCT"]
    return tuple(dict.fromkeys([item.id for item in product.menu] + list(product.case_kinds)))


def _reserved() -> tuple[str, ...]:
    """The shared number (the settings' default sender): only the default branch may own it."""
    return (current_app.config["SETTINGS"].twilio_whatsapp_number,)


def _days(value: str | None) -> list[str] | None:
    """"mon-fri", "mon,wed,fri", "sat-mon" (round the weekend) as day names (None: not given)."""
    if not value:
        return None
    days: list[str] = []
    for part in value.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise click.ClickException(f"days are written like mon-fri or mon,wed,fri (got {value!r})")
        start, end = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
        days += [DAY_NAMES[(start + i) % 7] for i in range((end - start) % 7 + 1)]
    return list(dict.fromkeys(days))


def _hours(days: str | None, start: str | None, end: str | None, national: bool = False) -> dict | None:
    """The branch's own hours from --days/--start/--end ({}: back to the national ones; None: unchanged)."""
    if national:
        return {}
    if not (days or start or end):
        return None
    national_hours = current_app.config["PRODUCT"].calendar
    return {"days": _days(days) or [DAY_NAMES[d] for d in sorted(national_hours.weekdays)],
            "start": start or national_hours.start.strftime("%H:%M"), "end": end or national_hours.end.strftime("%H:%M")}


def _sla(pairs: tuple[str, ...], national: bool = False) -> dict | None:
    if national:
        return {}
    if not pairs:
        return None
    sla = {}
    for pair in pairs:
        service, sep, hours = pair.partition("=")
        if not sep:
            raise click.ClickException(f"an SLA is written SERVICE=HOURS, e.g. complaint=16 (got {pair!r})")
        sla[service.strip()] = hours.strip()
    return sla


def _saved(session, action: str, branch) -> None:
    """Audited, versioned and committed; a clash with another process's change is a clear error, nothing
    half-saved."""
    try:
        session.flush()
        numbers = ",".join(n.number for n in branch.numbers)
        audit(session, None, action, detail=f"branch {branch.code} numbers {numbers}"[:500], channel="cli")
        branches.record_version(session, branch, None, f"cli: {action}")
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
@click.option("--regency", "regencies", multiple=True,
              help="A regency it serves: NIK digits 1-4, e.g. 3515 (repeatable; routing on the shared number).")
@click.option("--days", default=None, help="Its own working days, e.g. mon-sat (default: the national ones).")
@click.option("--start", default=None, help="Its own opening time, e.g. 07:30.")
@click.option("--end", default=None, help="Its own closing time, e.g. 14:00.")
@click.option("--sla", "sla", multiple=True, help="Its own SLA target, SERVICE=WORKING_HOURS (repeatable).")
def add(code: str, name: str, numbers: tuple[str, ...], holidays: tuple[str, ...], contact: str | None,
        regencies: tuple[str, ...], days: str | None, start: str | None, end: str | None, sla: tuple[str, ...]) -> None:
    """Add the branch CODE (capital letters, digits, - or _)."""
    session = db.session()
    try:
        branch = branches.add(session, code, name, numbers, holidays, contact, regencies,
                              _hours(days, start, end), _sla(sla), _services(), _reserved())
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
@click.option("--regency", "add_regencies", multiple=True, help="Add a regency it serves (NIK digits 1-4).")
@click.option("--remove-regency", "remove_regencies", multiple=True)
@click.option("--days", default=None, help="Its own working days, e.g. mon-sat.")
@click.option("--start", default=None)
@click.option("--end", default=None)
@click.option("--national-hours", is_flag=True, help="Back to the national working days and hours.")
@click.option("--sla", "sla", multiple=True, help="Its own SLA targets, SERVICE=WORKING_HOURS (replaces them).")
@click.option("--national-sla", is_flag=True, help="Back to the national SLA targets.")
def edit(code: str, name: str | None, add_numbers, remove_numbers, add_holidays, remove_holidays,
         contact: str | None, add_regencies, remove_regencies, days, start, end, national_hours: bool,
         sla, national_sla: bool) -> None:
    """Change the branch CODE."""
    session = db.session()
    try:
        change = branches.Change(name=name, add_numbers=add_numbers, remove_numbers=remove_numbers,
                                 add_holidays=add_holidays, remove_holidays=remove_holidays, contact=contact,
                                 add_regencies=add_regencies, remove_regencies=remove_regencies,
                                 hours=_hours(days, start, end, national_hours), sla_hours=_sla(sla, national_sla))
        branch = branches.edit(session, code, change, _services(), _reserved())
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
        regencies = ", ".join(branch.regencies or []) or "-"
        hours = (f"{','.join(branch.hours['days'])} {branch.hours['start']}-{branch.hours['end']}"
                 if branch.hours else "national")
        sla = ", ".join(f"{k}={v:g}" for k, v in (branch.sla_hours or {}).items()) or "national"
        click.echo(f"{branch.code}{mark}\t{branch.name}\tnumbers: {numbers}\tregencies: {regencies}\t"
                   f"holidays: {holidays}\thours: {hours}\tSLA: {sla}\tofficers: {branches.staff_count(session, branch.id)}")
