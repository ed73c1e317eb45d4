"""Admins look after staff accounts: reset a password (a temporary one, shown once; every session of
that person ends), unlock, deactivate, set the branches an officer works for (and whether a supervisor is
national), and see and revoke API tokens one by one. Every change audited."""
from __future__ import annotations

import secrets

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select, update

from bot import accounts
from bot.console import bp
from bot.console.auth import me, role_required
from handlers import branches
from handlers.backoffice import audit
from storage import db
from storage.branches import Branch, StaffBranch
from storage.models import utcnow
from storage.staff import ApiToken, Role, Staff


def _staff(staff_id: int) -> Staff:
    return db.session().get(Staff, staff_id) or abort(404)


def _staff_page(temporary: tuple[str, str] | None = None, problem: str | None = None, status: int = 200):
    session = db.session()
    people = session.scalars(select(Staff).order_by(Staff.name)).all()
    tokens = session.scalars(select(ApiToken).order_by(ApiToken.staff_id, ApiToken.id)).all()
    works: dict[int, list[str]] = {}  # staff id -> the codes of the branches they work for
    for staff_id, code in session.execute(select(StaffBranch.staff_id, Branch.code)
                                          .join(Branch, Branch.id == StaffBranch.branch_id)
                                          .order_by(Branch.is_default.desc(), Branch.code)):
        works.setdefault(staff_id, []).append(code)
    return render_template("admin_staff.html", people=people, tokens=tokens, now=utcnow(), locked=accounts.locked,
                           token_role=accounts.token_role, temporary=temporary, problem=problem, works=works,
                           offices=branches.all_branches(session)), status


@bp.get("/admin/staff")
@role_required(Role.ADMIN)
def admin_staff():
    return _staff_page()


@bp.post("/admin/staff/<int:staff_id>/reset")
@role_required(Role.ADMIN)
def admin_staff_reset(staff_id: int):
    session, staff = db.session(), _staff(staff_id)
    temporary = secrets.token_urlsafe(9) + "-7a"  # 15 characters of letters, digits and symbols
    accounts.set_password(session, staff, temporary, temporary=True)
    audit(session, me(), "password_reset", detail=f"staff {staff.id}")
    session.commit()
    # Shown in this page only (a flash would travel in the session cookie).
    return _staff_page(temporary=(staff.name, temporary))


@bp.post("/admin/staff/<int:staff_id>/unlock")
@role_required(Role.ADMIN)
def admin_staff_unlock(staff_id: int):
    session, staff = db.session(), _staff(staff_id)
    accounts.unlock(session, staff)
    audit(session, me(), "unlock", detail=f"staff {staff.id}")
    session.commit()
    flash(f"Akun {staff.name} dibuka.", "ok")
    return redirect(url_for("console.admin_staff"))


@bp.post("/admin/staff/<int:staff_id>/active")
@role_required(Role.ADMIN)
def admin_staff_active(staff_id: int):
    session, staff = db.session(), _staff(staff_id)
    if staff.id == me().id:
        flash("Anda tidak dapat menonaktifkan akun sendiri.", "error")
        return redirect(url_for("console.admin_staff"))
    staff.active = not staff.active
    if not staff.active:
        accounts.end_all_sessions(session, staff.id)
    audit(session, me(), "activate" if staff.active else "deactivate", detail=f"staff {staff.id}")
    session.commit()
    flash(f"Akun {staff.name} {'diaktifkan' if staff.active else 'dinonaktifkan'}.", "ok")
    return redirect(url_for("console.admin_staff"))


@bp.post("/admin/staff/<int:staff_id>/branches")
@role_required(Role.ADMIN)
def admin_staff_branches(staff_id: int):
    """The branches an officer works for (checkboxes) and, for a supervisor, the national mark."""
    session, staff = db.session(), _staff(staff_id)
    national = request.form.get("national") == "1"
    try:
        chosen = branches.set_branches(session, staff, request.form.getlist("branch"), national)
    except branches.BranchError as exc:
        session.rollback()
        return _staff_page(problem=f"Kantor cabang petugas {staff.name} belum diubah: {exc}.", status=400)
    codes = ",".join(branch.code for branch in chosen) or "-"
    audit(session, me(), "staff_branches", detail=f"staff {staff.id}: {codes}{' nasional' if national else ''}")
    session.commit()
    flash(f"Kantor cabang petugas {staff.name} disimpan.", "ok")
    return redirect(url_for("console.admin_staff"))


@bp.post("/admin/tokens/<int:token_id>/revoke")
@role_required(Role.ADMIN)
def admin_token_revoke(token_id: int):
    session = db.session()
    revoked = session.execute(update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked.is_(False))
                              .values(revoked=True)).rowcount
    if revoked:
        audit(session, me(), "revoke_tokens", detail=f"token {token_id}")
    session.commit()
    flash("Token API dicabut." if revoked else "Token ini sudah dicabut.", "ok")
    return redirect(url_for("console.admin_staff"))
