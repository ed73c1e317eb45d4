"""The citizen's right of access (UU 27/2022): a supervisor downloads everything held about one
citizen, found by their WhatsApp number; every export is audited."""
from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from bot import lifecycle
from bot.console import bp
from bot.console.auth import me, role_required
from handlers import phones, visibility
from handlers.backoffice import audit
from storage import db
from storage.cases import Case
from storage.models import Citizen, utcnow
from storage.staff import Role


def _theirs(session, citizen: Citizen) -> bool:
    """A branch's supervisor serves the citizens of their branches: those who wrote to one of its numbers
    or have a case there (anyone else is "no data", as for an unknown number); national staff serve all."""
    scope = visibility.scope(session, me())
    if visibility.writes_to(session, scope, citizen.id):
        return True
    return session.scalar(select(Case.id).where(Case.citizen_id == citizen.id, visibility.where(scope)).limit(1)) is not None


@bp.get("/privacy")
@role_required(Role.SUPERVISOR)
def privacy():
    return render_template("privacy.html")


@bp.post("/privacy/export")
@role_required(Role.SUPERVISOR)
def privacy_export():
    session, wanted = db.session(), request.form.get("phone", "").strip()
    if phones.BSUID.match(wanted):  # a citizen known only by their WhatsApp user id
        citizen, phone = session.scalar(select(Citizen).where(Citizen.wa_user_id == wanted)), wanted
    else:
        try:
            phone = phones.to_e164(wanted)
        except phones.InvalidNumber:
            flash("Nomor HP tidak valid (contoh: 081234567890, atau ID WhatsApp seperti ID.1234…).", "error")
            return redirect(url_for("console.privacy"))
        citizen = session.scalar(select(Citizen).where(Citizen.phone == phone))
    if citizen is None or not _theirs(session, citizen):
        flash("Tidak ada data untuk nomor ini.", "error")
        return redirect(url_for("console.privacy"))
    archive = lifecycle.export(citizen, visibility.scope(session, me()))
    audit(session, me(), "export_citizen", detail=f"citizen {citizen.id}")
    session.commit()
    name = f"pandawa-data-{phone.lstrip('+')[-4:]}-{utcnow():%Y%m%d}.zip"  # never the whole number
    return Response(archive, mimetype="application/zip", headers={
        "Content-Disposition": f"attachment; filename={name}", "Cache-Control": "no-store, private"})
