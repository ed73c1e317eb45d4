"""Admins edit the bot texts, the working hours, quiet hours, holidays and menu (versioned: a draft from
the form or the raw YAML, validated, then published to every process) and the decree table (edited in place).
Every change is audited: the action with the kind and version, or a decree's before and after."""
from __future__ import annotations

import json
import re
from datetime import date

import yaml
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.console import bp
from bot.console.admin import keep_version
from bot.console.auth import me, role_required
from flows import versions
from flows.checks import TIMEZONES, valid_day
from handlers.backoffice import audit
from handlers.catalog import catalog
from handlers.product import load_product_raw
from handlers.text_keys import REQUIRED_TEXTS, text_description
from handlers.worktime import DAY_NAMES, DAYS_ID
from storage import db
from storage.config_versions import VersionStatus
from storage.membership import Decree, Participant
from storage.staff import Role

MAX_CHARS = 1600  # WhatsApp's limit for one message


def _config_path() -> str:
    return current_app.config["SETTINGS"].product_config


def _mapping(text: str) -> dict | None:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def naming(found: list[str], *words: str) -> list[str]:
    """The problems that name one of these fields (a text key, 'holidays', 'start', ...)."""
    pattern = re.compile(r"(?<!\w)(%s)(?!\w)" % "|".join(re.escape(w) for w in words))
    return [p for p in found if pattern.search(p)]


def check(kind: str, text: str, holiday_lines: list[int] | None = None) -> list[str]:
    """Everything that keeps a texts or settings document from being published (empty: publishable)."""
    return versions.problems(kind, text, _config_path(), catalog(), holiday_lines)


def _state(kind: str) -> dict:
    return {status: getattr(versions.latest(db.session(), kind, status), "number", None)
            for status in (VersionStatus.PUBLISHED, VersionStatus.DRAFT)}


def _edit(kind: str, endpoint: str, from_form) -> tuple[str, list[str], object]:
    """The draft (or what was posted) and its problems; a redirect once saved or published cleanly.
    ``from_form(draft_text)`` gives the text and problems of the form view's post."""
    text = versions.content(db.session(), kind, _config_path(), draft=True)
    if request.method != "POST":
        return text, check(kind, text), None
    if "yaml" in request.form:
        text = request.form["yaml"].replace("\r\n", "\n")
        found = check(kind, text)
    else:
        text, found = from_form(text)
    if keep_version(kind, text, found, request.form.get("action") == "publish"):
        return text, found, redirect(url_for(endpoint, raw="1" if request.args.get("raw") == "1" else None))
    return text, found, None


# -- bot texts ---------------------------------------------------------------------------------------
def _text_keys(texts: dict) -> list[str]:
    """Every text the draft has, then the required ones it lacks (so the form offers them)."""
    return list(texts) + [k for k in REQUIRED_TEXTS if k not in texts]


def _texts_from_form(text: str) -> tuple[str, list[str]]:
    texts = _mapping(text) or {}
    for key in _text_keys(texts):
        if f"text.{key}" in request.form:
            texts[key] = request.form[f"text.{key}"].replace("\r\n", "\n")
    return versions.dump(texts), check(versions.TEXTS, versions.dump(texts))


@bp.route("/admin/texts", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def admin_texts():
    text, found, done = _edit(versions.TEXTS, "console.admin_texts", _texts_from_form)
    if done:
        return done
    texts = _mapping(text) or {}
    fields = [{"key": key, "value": str(texts.get(key) or ""), "problems": naming(found, key),
               "when": text_description(str(key))} for key in _text_keys(texts)]
    return render_template("admin_texts.html", kind=versions.TEXTS, text=text, fields=fields, problems=found,
                           max_chars=MAX_CHARS, raw_view=request.args.get("raw") == "1" or _mapping(text) is None,
                           state=_state(versions.TEXTS))


# -- working hours, holidays, menu -------------------------------------------------------------------
def _settings_from_form(text: str) -> tuple[str, list[str]]:
    """The settings with the form applied; problems name a holiday by its line in the text area."""
    form, data = request.form, _mapping(text) or {}
    hours = dict(data.get("working_hours") or {})
    hours.update(timezone=form.get("timezone", "").strip(), days=[d for d in DAY_NAMES if form.get(f"day.{d}")],
                 start=form.get("start", "").strip(), end=form.get("end", "").strip())
    lines = [(n, line.strip()) for n, line in enumerate(form.get("holidays", "").splitlines(), start=1) if line.strip()]
    hours["holidays"] = [day for _, day in lines]
    data["working_hours"], found, menu = hours, [], []
    if "quiet_start" in form or "quiet_end" in form:  # both empty: no quiet hours
        quiet = {"start": form.get("quiet_start", "").strip(), "end": form.get("quiet_end", "").strip()}
        data["quiet_hours"] = quiet if any(quiet.values()) else None
    for i, item in enumerate(data.get("menu") or []):
        if isinstance(item, dict) and f"menu.{i}.title" in form:
            item = {**item, "title": form[f"menu.{i}.title"].strip()}
        position = form.get(f"menu.{i}.position", "").strip()
        if not position.isdigit() or int(position) < 1:
            service = item.get("id") if isinstance(item, dict) else item
            found.append(f"settings: urutan menu '{service}' harus bilangan bulat mulai dari 1")
            position = str(i + 1)
        menu.append((int(position), i, item))
    data["menu"] = [item for _, _, item in sorted(menu, key=lambda row: row[:2])]
    return versions.dump(data), found + check(versions.SETTINGS, versions.dump(data), [n for n, _ in lines])


@bp.route("/admin/settings", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def admin_settings():
    text, found, done = _edit(versions.SETTINGS, "console.admin_settings", _settings_from_form)
    if done:
        return done
    data = _mapping(text) or {}
    hours, menu = data.get("working_hours") or {}, data.get("menu") or []
    form_ok = bool(data) and isinstance(hours, dict) and isinstance(menu, list)
    form_ok = form_ok and all(isinstance(item, dict) for item in menu)
    holidays = hours.get("holidays") or [] if form_ok else []
    holidays_text = request.form.get("holidays") if "holidays" in request.form else \
        "\n".join(str(day) for day in holidays) if isinstance(holidays, list) else str(holidays)
    # A version saved before quiet hours were a setting leaves config.yml's in force: show those.
    quiet = data["quiet_hours"] if "quiet_hours" in data else load_product_raw(_config_path()).get("quiet_hours")
    return render_template(
        "admin_settings.html", kind=versions.SETTINGS, text=text, problems=found, naming=naming,
        raw_view=request.args.get("raw") == "1" or not form_ok, hours=hours if form_ok else {},
        quiet=quiet if isinstance(quiet, dict) else {},
        holidays_text=holidays_text, menu=menu if form_ok else [], days=list(zip(DAY_NAMES, DAYS_ID)),
        timezones=TIMEZONES, state=_state(versions.SETTINGS),
    )


# -- decrees -----------------------------------------------------------------------------------------
DECREE_FIELDS = ("number", "deactivated_on", "reactivation_deadline")


def _decree_values(form, decree_id: int | None) -> tuple[dict, list[str]]:
    values, errors = {"number": form.get("number", "").strip()}, []
    if not values["number"] or len(values["number"]) > 32:
        errors.append("Nomor SK wajib diisi (paling banyak 32 karakter).")
    for key, label in (("deactivated_on", "Tanggal penonaktifan"), ("reactivation_deadline", "Batas reaktivasi")):
        raw = form.get(key, "").strip()
        values[key] = date.fromisoformat(raw) if valid_day(raw) else None
        if values[key] is None:
            errors.append(f"{label} harus tanggal YYYY-MM-DD.")
    if None not in values.values() and values["reactivation_deadline"] <= values["deactivated_on"]:
        errors.append("Batas reaktivasi harus setelah tanggal penonaktifan.")
    same = select(Decree.id).where(Decree.number == values["number"], Decree.id != (decree_id or 0))
    if not errors and db.session().scalar(same) is not None:
        errors.append(f"SK {values['number']} sudah ada.")
    return values, errors


def _plain(decree) -> dict:
    get = decree.get if isinstance(decree, dict) else lambda key: getattr(decree, key)
    return {key: get(key).isoformat() if isinstance(get(key), date) else get(key) for key in DECREE_FIELDS}


def _decrees_page(errors=(), edit: int | None = None, status: int = 200):
    session = db.session()
    number = Participant.decree_number
    used = dict(session.execute(select(number, func.count()).group_by(number)).all())  # participants per decree
    rows = session.scalars(select(Decree).order_by(Decree.deactivated_on.desc(), Decree.number)).all()
    form = request.form if errors else {}
    return render_template("admin_decrees.html", rows=rows, used=used, errors=errors, form=form, edit=edit), status


def _change_decree(action: str, decree: Decree | None, values: dict | None, message: str):
    """Apply, audit (before and after: a decree holds no personal data), commit."""
    session = db.session()
    before, after = _plain(decree) if decree else None, _plain(values) if values else None
    if before == after:
        flash("Tidak ada perubahan.", "ok")
        return redirect(url_for("console.admin_decrees"))
    if decree is None:
        session.add(Decree(**values))
    elif values is None:
        session.delete(decree)
    else:
        for key, value in values.items():
            setattr(decree, key, value)
    audit(session, me(), action, detail=json.dumps({"before": before, "after": after}))
    try:
        session.commit()
    except IntegrityError:  # another admin saved the same number a moment ago
        session.rollback()
        return _decrees_page([f"SK {(values or before)['number']} sudah ada."], status=409)
    flash(message, "ok")
    return redirect(url_for("console.admin_decrees"))


@bp.route("/admin/decrees", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def admin_decrees():
    if request.method == "GET":
        return _decrees_page(edit=request.args.get("edit", type=int))
    values, errors = _decree_values(request.form, None)
    if errors:
        return _decrees_page(errors, status=400)
    return _change_decree("decree_add", None, values, f"SK {values['number']} ditambahkan.")


@bp.post("/admin/decrees/<int:decree_id>")
@role_required(Role.ADMIN)
def admin_decree_edit(decree_id: int):
    decree = db.session().get(Decree, decree_id) or abort(404)
    values, errors = _decree_values(request.form, decree_id)
    if errors:
        return _decrees_page(errors, edit=decree_id, status=400)
    return _change_decree("decree_edit", decree, values, f"SK {values['number']} diperbarui.")


@bp.post("/admin/decrees/<int:decree_id>/delete")
@role_required(Role.ADMIN)
def admin_decree_delete(decree_id: int):
    decree = db.session().get(Decree, decree_id) or abort(404)
    return _change_decree("decree_delete", decree, None, f"SK {decree.number} dihapus.")
