"""Admins edit the conversation: the flow editor (a map of the flow, a form anyone can use, and raw
YAML), drafts, publishing, history with diffs and authors, and one-click rollback. The form changes
only what was edited in the YAML (flows.yaml_edit), so the history shows exactly the lines changed.
Texts, settings and decrees are in bot.console.admin_settings. Every change is audited."""
from __future__ import annotations

import re

import yaml
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from bot import live
from bot.console import bp
from bot.console.auth import me, role_required
from flows import flow_labels, flow_map, versions, yaml_edit
from flows.definition import TEXT_FIELDS
from handlers.backoffice import audit
from handlers.catalog import catalog
from storage import db
from storage.config_versions import VersionStatus
from storage.staff import Role, Staff

STATUS_LABELS = {VersionStatus.DRAFT: "draf", VersionStatus.PUBLISHED: "berlaku",
                 VersionStatus.SUPERSEDED: "digantikan"}
STEP_NAMED = re.compile(r"langkah '([a-z][a-z0-9_]*)'")


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


def _step_problems(found: list[str]) -> set[str]:
    """The steps the problems name (their part of the form opens, their box on the map is marked)."""
    return {match for problem in found for match in STEP_NAMED.findall(problem)}


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
                text = yaml_edit.apply_form(text, request.form, request.form.getlist("remove"))
            except yaml_edit.EditError as exc:
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
        raw = {}
    if (not isinstance(raw, dict) or not isinstance(raw.get("steps"), dict)
            or not all(isinstance(key, str) and isinstance(step, dict) for key, step in raw["steps"].items())):
        # what the form and the map cannot show (a step named 1: or yes:, a step that is not a mapping)
        raw, raw_view = {}, True
    return render_template(
        "admin_flow.html", flow_id=flow_id, kind=kind, raw=raw, text=text, problems=found, raw_view=raw_view,
        order=flow_map.step_order(raw) if raw else [], map=flow_map.build(raw) if raw else None,
        problem_steps=_step_problems(found), validators=sorted(catalog().validators), text_fields=TEXT_FIELDS,
        labels=flow_labels, has_draft=versions.latest(session, kind, VersionStatus.DRAFT) is not None)


def _diff_lines(before: str, after: str, name: str) -> dict:
    """A version's diff as lines with their kind (added, removed, context, hunk) and the counts."""
    lines = []
    for line in versions.diff(before, after, "sebelumnya", name).splitlines():
        if line.startswith(("+++", "---")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "ctx")
        lines.append((kind, line))
    return {"lines": lines, "added": sum(k == "add" for k, _ in lines), "removed": sum(k == "del" for k, _ in lines)}


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
        diffs[version.id] = _diff_lines(before, version.content, f"versi {version.number}")
    ids = {v.author_id for v in rows if v.author_id is not None}
    authors = dict(session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(ids))).all()) if ids else {}
    title = f"Alur: {kind[5:]}" if kind.startswith("flow:") else {
        versions.TEXTS: "Teks bot", versions.SETTINGS: "Jam kerja, libur & menu"}.get(kind, kind)
    return render_template("admin_history.html", kind=kind, title=title, rows=rows, diffs=diffs, authors=authors,
                           status_labels=STATUS_LABELS, VersionStatus=VersionStatus)


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
    audit(session, staff, "config_rollback", detail=f"{kind} v{version.number} (salinan {f'versi id {version_id}' if version_id else 'berkas asli'})")
    session.commit()
    _went_live(version.number)
    flash(f"Dikembalikan: versi {version.number} sekarang berlaku.", "ok")
    return redirect(url_for("console.admin_history", kind=kind))
