"""Admins edit the conversation: the flow editor (a form anyone can use, and raw YAML), drafts,
publishing, history with diffs, and one-click rollback. Texts, settings and decrees are in
bot.console.admin_settings. Every change is audited."""
from __future__ import annotations


import yaml
from flask import abort, current_app, flash, redirect, render_template, request, url_for

from bot import live
from bot.console import bp
from bot.console.auth import me, role_required
from flows import versions
from flows.definition import STEP_ID, TEXT_FIELDS
from handlers.backoffice import audit
from handlers.catalog import catalog
from storage import db
from storage.config_versions import VersionStatus
from storage.staff import Role


def _config_path() -> str:
    return current_app.config["SETTINGS"].product_config


def _problems(kind: str, text: str) -> list[str]:
    return versions.problems(kind, text, _config_path(), catalog())


def _went_live(version_number: int) -> None:
    """Tell every process (Redis), load it here at once; without Redis they reload from the database."""
    app = current_app._get_current_object()
    if not live.bump(app):
        flash("Redis tidak menjawab: proses lain memuat versi baru dari basis data dalam beberapa detik.", "error")
    live.refresh(app)
    flash(f"Versi {version_number} diterbitkan: percakapan baru memakainya dalam beberapa detik.", "ok")


def keep_version(kind: str, text: str, found: list[str], publish: bool, note: str = "") -> bool:
    """Save the draft and, when asked and it has no problems, publish it (all processes reload within
    seconds, this one at once). True when the page may redirect; problems are flashed otherwise."""
    session, staff = db.session(), me()
    draft = versions.save_draft(session, kind, text, staff.id, note)
    session.flush()
    audit(session, staff, "config_draft", detail=f"{kind} v{draft.number}")
    if publish and not found:
        version = versions.publish(session, kind, staff.id, found)
        audit(session, staff, "config_publish", detail=f"{kind} v{version.number}")
        session.commit()
        _went_live(version.number)
        return True
    session.commit()
    if found:
        flash(f"{'Tidak diterbitkan' if publish else 'Draf disimpan'}: {len(found)} masalah perlu diperbaiki.", "error")
        return False
    flash(f"Draf versi {draft.number} disimpan. Coba di simulator dengan 'Pratinjau draf', lalu terbitkan.", "ok")
    return True


@bp.get("/admin/")
@role_required(Role.ADMIN)
def admin_index():
    session = db.session()
    rows = []
    for kind in versions.kinds():
        live_version = versions.latest(session, kind, VersionStatus.PUBLISHED)
        rows.append({"kind": kind, "live": live_version.number if live_version else None,
                     "draft": versions.latest(session, kind, VersionStatus.DRAFT) is not None})
    return render_template("admin_index.html", rows=rows)


def _form_to_flow(raw: dict, form) -> dict:
    """Apply the form editor's fields to the flow's YAML data (unknown keys are kept)."""
    raw["title"] = form.get("title", raw["title"]).strip()
    for step_id, step in raw["steps"].items():
        for key in TEXT_FIELDS + ("validator", "document", "next"):
            name = f"{step_id}.{key}"
            if name in form:
                value = form[name].replace("\r\n", "\n").strip()
                if value:
                    step[key] = value
                else:
                    step.pop(key, None)
        if f"{step_id}.options" in form:
            step["options"] = [{"value": value.strip(), "title": title.strip()}
                               for line in form[f"{step_id}.options"].splitlines() if "|" in line
                               for value, title in [line.split("|", 1)]]
    _add_step(raw, form)
    _remove_step(raw, form.get("remove", ""))
    return raw


def _add_step(raw: dict, form) -> None:
    new_id, after = form.get("new_id", "").strip(), form.get("new_after", "")
    if not new_id:
        return
    if not STEP_ID.match(new_id) or new_id in raw["steps"] or after not in raw["steps"]:
        raise ValueError(f"new step '{new_id}': use a new name of lower-case letters, digits and _")
    kind = form.get("new_type", "photo")
    step = {"type": kind, "ask": form.get("new_ask", "").strip()}
    if kind == "photo":
        step["document"] = form.get("new_document", "").strip() or new_id
    else:
        step["validator"] = form.get("new_validator", "short_text")
    step["next"] = raw["steps"][after].get("next")
    raw["steps"][after]["next"] = new_id
    raw["steps"][new_id] = step


def _remove_step(raw: dict, step_id: str) -> None:
    if not step_id:
        return
    if step_id not in raw["steps"] or step_id == raw["start"]:
        raise ValueError(f"step '{step_id}' cannot be removed")
    gone = raw["steps"].pop(step_id)
    for step in raw["steps"].values():  # whoever went to it now goes where it went
        if step.get("next") == step_id:
            step["next"] = gone.get("next")


def _ordered(raw: dict) -> list[str]:
    order, seen, todo = [], set(), [raw.get("start")]
    while todo:
        current = todo.pop(0)
        if current in raw.get("steps", {}) and current not in seen:
            seen.add(current)
            order.append(current)
            step = raw["steps"][current]
            todo += [t for t in [step.get("next"), step.get("on_no"), *(step.get("outcomes") or {}).values()] if t]
    return order + [s for s in raw.get("steps", {}) if s not in seen]


@bp.route("/admin/flows/<flow_id>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def admin_flow(flow_id: str):
    if flow_id not in versions.flow_ids():
        abort(404)
    kind, session = versions.flow_kind(flow_id), db.session()
    text = versions.content(session, kind, _config_path(), draft=True)
    raw_view, found = request.args.get("raw") == "1", []
    if request.method == "POST":
        publish = request.form.get("action") == "publish"
        if "yaml" in request.form:
            text = request.form["yaml"].replace("\r\n", "\n")
        else:
            try:
                text = yaml.safe_dump(_form_to_flow(yaml.safe_load(text), request.form), allow_unicode=True,
                                      sort_keys=False, width=1000)
            except ValueError as exc:
                flash(str(exc), "error")
                return redirect(url_for("console.admin_flow", flow_id=flow_id))
        found = _problems(kind, text)
        if keep_version(kind, text, found, publish, request.form.get("note", "")):
            return redirect(url_for("console.admin_flow", flow_id=flow_id, raw="1" if raw_view else None))
    else:
        found = _problems(kind, text)
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        raw, raw_view = {}, True
    validators = catalog().validators
    return render_template("admin_flow.html", flow_id=flow_id, kind=kind, raw=raw, text=text, problems=found,
                           raw_view=raw_view or not raw.get("steps"), order=_ordered(raw) if raw.get("steps") else [],
                           validators=sorted(validators), text_fields=TEXT_FIELDS,
                           has_draft=versions.latest(session, kind, VersionStatus.DRAFT) is not None)


@bp.get("/admin/history/<path:kind>")
@role_required(Role.ADMIN)
def admin_history(kind: str):
    if kind not in versions.kinds():
        abort(404)
    session = db.session()
    rows = versions.history(session, kind)
    base = versions.base_content(kind, _config_path())
    chronological = list(reversed(rows))
    diffs = {}
    for i, version in enumerate(chronological):
        before = chronological[i - 1].content if i else base
        diffs[version.id] = versions.diff(before, version.content, "sebelumnya", f"versi {version.number}")
    return render_template("admin_history.html", kind=kind, rows=rows, diffs=diffs, VersionStatus=VersionStatus)


@bp.post("/admin/history/<path:kind>/rollback/<int:version_id>")
@role_required(Role.ADMIN)
def admin_rollback(kind: str, version_id: int):
    """Publish an old version again (version id 0: the original file), in one transaction."""
    if kind not in versions.kinds():
        abort(404)
    session, staff = db.session(), me()
    try:
        version = versions.rollback(session, kind, version_id, staff.id, _config_path(), catalog())
    except versions.VersionError as exc:
        session.rollback()
        flash("; ".join(exc.problems), "error")
        return redirect(url_for("console.admin_history", kind=kind))
    audit(session, staff, "config_rollback", detail=f"{kind} v{version.number} (copy of {version_id or 'the file'})")
    session.commit()
    _went_live(version.number)
    flash(f"Dikembalikan: versi {version.number} sekarang berlaku.", "ok")
    return redirect(url_for("console.admin_history", kind=kind))
