"""Admins manage the branch offices (kantor cabang) in the console, as `flask --app bot branches` does:
a branch's WhatsApp numbers, the regencies it serves, its regional holidays, its own working hours and
SLA targets (or the national ones) and its contact line. What is saved is checked (handlers.branches),
kept as a new version of the branch (who, when, why) and audited."""
from __future__ import annotations

import json
import re
from datetime import date

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.console import bp
from bot.console.auth import me, role_required
from handlers import branches
from handlers.backoffice import audit
from handlers.worktime import DAY_NAMES, DAYS_ID, format_date_short
from storage import db
from storage.branches import Branch
from storage.config_versions import VersionStatus
from storage.staff import Role, Staff

SEPARATORS = re.compile(r"[\s,;]+")
STALE = ("Kantor cabang ini baru saja diubah admin lain. Muat ulang halaman untuk melihat perubahannya, "
         "lalu ubah lagi.")
RACE = "Perubahan lain pada kantor cabang tersimpan lebih dulu. Muat ulang halaman lalu coba lagi."


def _services() -> list[tuple[str, str, float]]:
    """(id, title, national SLA hours) of every service an SLA target may name (as bot.branches_cli's)."""
    product = current_app.config["PRODUCT"]
    ids = dict.fromkeys([item.id for item in product.menu] + list(product.case_kinds))
    return [(service, product.title_of(service), product.sla_hours(service)) for service in ids]


def _service_ids() -> dict[str, str]:
    """The services an SLA target may name, with the titles officers read in a refusal."""
    return {service: title for service, title, _ in _services()}


# -- how a branch reads --------------------------------------------------------------------------------
def _hours_number(value) -> str:
    return f"{float(value):g}".replace(".", ",")


def _days_text(days) -> str:
    """Working days as officers say them: "Senin–Sabtu", "Senin, Rabu, Jumat"."""
    numbers = sorted(DAY_NAMES.index(d) for d in days or () if d in DAY_NAMES)
    if len(numbers) >= 3 and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{DAYS_ID[numbers[0]]}–{DAYS_ID[numbers[-1]]}"
    return ", ".join(DAYS_ID[n] for n in numbers)


def _hours_text(hours: dict | None) -> str:
    if not hours:
        return "nasional"
    start, end = (str(hours.get(k) or "").replace(":", ".") for k in ("start", "end"))
    return f"{_days_text(hours.get('days'))}, {start}–{end}"


def _holidays_text(holidays) -> str:
    return ", ".join(format_date_short(date.fromisoformat(d)) for d in holidays or ()) or "—"


def _sla_text(sla: dict | None) -> str:
    if not sla:
        return "nasional"
    titles = {service: title for service, title, _ in _services()}
    return "; ".join(f"{titles.get(s, s)}: {_hours_number(h)} jam kerja" for s, h in sla.items())


def shown(data: dict) -> dict[str, str]:
    """A branch (handlers.branches.describe, or a version's content) as officers read it."""
    return {
        "Kode": data.get("code") or "—",
        "Nama": (data.get("name") or "—") + (" (utama)" if data.get("default") else ""),
        "Nomor WhatsApp": ", ".join(n.removeprefix("whatsapp:") for n in data.get("numbers") or ()) or "—",
        "Kabupaten/kota dilayani": ", ".join(data.get("regencies") or ()) or "—",
        "Hari libur daerah": _holidays_text(data.get("holidays")),
        "Jam kerja": _hours_text(data.get("hours")),
        "SLA": _sla_text(data.get("sla_hours")),
        "Kontak": data.get("contact") or "—",
    }


# -- the form ------------------------------------------------------------------------------------------
def _values(branch: Branch | None) -> dict:
    """What the form shows for a branch (empty for a new one); own hours start from the national ones."""
    calendar = current_app.config["PRODUCT"].calendar
    hours, sla = (branch.hours, branch.sla_hours) if branch else (None, None)
    return {
        "code": branch.code if branch else "", "name": branch.name if branch else "",
        "numbers": "\n".join(n.number.removeprefix("whatsapp:") for n in branch.numbers) if branch else "",
        "regencies": " ".join(branch.regencies or ()) if branch else "",
        "holidays": "\n".join(branch.holidays or ()) if branch else "",
        "contact": (branch.contact or "") if branch else "",
        "own_hours": bool(hours), "days": hours["days"] if hours else [DAY_NAMES[d] for d in sorted(calendar.weekdays)],
        "start": hours["start"] if hours else calendar.start.strftime("%H:%M"),
        "end": hours["end"] if hours else calendar.end.strftime("%H:%M"),
        "own_sla": bool(sla), "sla": {s: _hours_number(h) for s, h in (sla or {}).items()}, "note": "",
    }


def _posted() -> dict:
    form = request.form
    return {
        "code": form.get("code", "").strip(), "name": form.get("name", "").strip(),
        "numbers": form.get("numbers", ""), "regencies": form.get("regencies", ""),
        "holidays": form.get("holidays", ""), "contact": form.get("contact", "").strip(),
        "own_hours": form.get("hours") == "own", "days": [d for d in DAY_NAMES if form.get(f"day.{d}")],
        "start": form.get("start", "").strip(), "end": form.get("end", "").strip(),
        "own_sla": form.get("sla") == "own",
        "sla": {key[4:]: value.strip() for key, value in form.items() if key.startswith("sla.") and value.strip()},
        "note": form.get("note", "").strip()[:500],
    }


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _own_hours(values: dict) -> dict:
    """The branch's own working days and hours ({}: the national ones)."""
    if not values["own_hours"]:
        return {}
    if not values["days"]:
        raise branches.BranchError("pilih paling sedikit satu hari kerja, atau pilih ikut jam kerja nasional")
    return {"days": values["days"], "start": values["start"], "end": values["end"]}


def _own_sla(values: dict) -> dict:
    """The branch's own SLA targets ({}: the national ones); a comma is a decimal point."""
    if not values["own_sla"]:
        return {}
    if not values["sla"]:
        raise branches.BranchError("isi SLA paling sedikit satu layanan, atau pilih ikut SLA nasional")
    return {service: hours.replace(",", ".") for service, hours in values["sla"].items()}


def _change(branch: Branch, values: dict) -> branches.Change:
    """What the form changes: the numbers, regencies and holidays it adds and removes."""
    numbers = [branches.whatsapp_number(n) for n in _lines(values["numbers"])]
    regencies = [branches.regency(c) for c in SEPARATORS.split(values["regencies"]) if c]
    holidays, current = _lines(values["holidays"]), [n.number for n in branch.numbers]
    return branches.Change(
        name=values["name"], contact=values["contact"],
        add_numbers=tuple(n for n in numbers if n not in current),
        remove_numbers=tuple(n for n in current if n not in numbers),
        add_holidays=tuple(h for h in holidays if h not in (branch.holidays or ())),
        remove_holidays=tuple(h for h in branch.holidays or () if h not in holidays),
        add_regencies=tuple(r for r in regencies if r not in (branch.regencies or ())),
        remove_regencies=tuple(r for r in branch.regencies or () if r not in regencies),
        hours=_own_hours(values), sla_hours=_own_sla(values))


def _saved(session, branch: Branch, action: str, detail: str, note: str):
    """Versioned, audited, committed; None when another change came first (then nothing is saved)."""
    staff = me()
    try:
        session.flush()
        version = branches.record_version(session, branch, staff.id, note)
        audit(session, staff, action, detail=detail[:500], channel="console")
        session.commit()
    except IntegrityError:
        session.rollback()
        return None
    return version


# -- pages ---------------------------------------------------------------------------------------------
def _list_page(values: dict, problem: str | None = None, status: int = 200):
    session = db.session()
    rows = [(branch, shown(branches.describe(branch)), branches.staff_count(session, branch.id))
            for branch in branches.all_branches(session)]
    return render_template("admin_branches.html", rows=rows, values=values, problem=problem,
                           days=list(zip(DAY_NAMES, DAYS_ID)), services=_services()), status


def _history(session, code: str) -> list[dict]:
    rows = branches.versions(session, code)
    ids = {v.author_id for v in rows if v.author_id}
    authors = dict(session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(ids))).all()) if ids else {}
    return [{"number": v.number, "at": v.published_at or v.created_at, "note": v.note,
             "who": authors.get(v.author_id, "baris perintah / sistem"),
             "current": v.status == VersionStatus.PUBLISHED, "content": shown(json.loads(v.content))} for v in rows]


def _edit_page(code: str, values: dict | None = None, problem: str | None = None, status: int = 200):
    session = db.session()
    branch = branches.by_code(session, code) or abort(404)
    return render_template("admin_branch.html", branch=branch, values=values or _values(branch), problem=problem,
                           seen=_latest(session, branch.code),
                           history=_history(session, branch.code), staff_count=branches.staff_count(session, branch.id),
                           days=list(zip(DAY_NAMES, DAYS_ID)), services=_services()), status


@bp.route("/admin/branches", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def admin_branches():
    if request.method == "GET":
        return _list_page(_values(None))
    session, values = db.session(), _posted()
    try:
        branch = branches.add(session, values["code"], values["name"], tuple(_lines(values["numbers"])),
                              tuple(_lines(values["holidays"])), values["contact"],
                              tuple(c for c in SEPARATORS.split(values["regencies"]) if c),
                              _own_hours(values) or None, _own_sla(values) or None, _service_ids(), _reserved())
        session.flush()
    except branches.BranchError as exc:
        session.rollback()
        return _list_page(values, f"Belum disimpan: {exc}.", 400)
    except IntegrityError:
        session.rollback()
        return _list_page(values, RACE, 409)
    code = branch.code
    if _saved(session, branch, "branch_add", f"branch {code}", values["note"]) is None:
        return _list_page(values, RACE, 409)
    flash(f"Kantor cabang {code} ditambahkan.", "ok")
    return redirect(url_for("console.admin_branch", code=code))


def _latest(session, code: str) -> int:
    """The number of the branch's newest version (0: none yet): the edit form carries the one it showed."""
    newest = branches.versions(session, code)
    return newest[0].number if newest else 0


def _reserved() -> tuple[str, ...]:
    """The shared number (the settings' default sender): only the default branch may own it."""
    return (current_app.config["SETTINGS"].twilio_whatsapp_number,)


@bp.route("/admin/branches/<code>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def admin_branch(code: str):
    session = db.session()
    branch = branches.by_code(session, code) or abort(404)
    if request.method == "GET":
        return _edit_page(branch.code)
    code, values, before = branch.code, _posted(), branches.describe(branch)
    if request.form.get("seen", "") != str(_latest(session, code)):  # compare-and-set on the version shown
        return _edit_page(code, values, STALE, 409)
    try:
        branches.edit(session, code, _change(branch, values), _service_ids(), _reserved())
        session.flush()
    except branches.BranchError as exc:
        session.rollback()
        return _edit_page(code, values, f"Belum disimpan: {exc}.", 400)
    except IntegrityError:
        session.rollback()
        return _edit_page(code, values, RACE, 409)
    after = branches.describe(branch)
    changed = [key for key in after if after[key] != before[key]]
    if not changed:
        session.rollback()
        flash("Tidak ada perubahan.", "ok")
        return redirect(url_for("console.admin_branch", code=code))
    version = _saved(session, branch, "branch_edit", f"branch {code}: {', '.join(changed)}", values["note"])
    if version is None:
        return _edit_page(code, values, RACE, 409)
    flash(f"Kantor cabang {code} disimpan (versi {version.number}).", "ok")
    return redirect(url_for("console.admin_branch", code=code))
