"""Admins manage branch offices in the console (as the CLI does: checked, versioned, audited) and the
branches officers work for on the staff page; agents and supervisors may not; every form needs its CSRF
token; what cannot be saved is refused in Indonesian and leaves everything as it was."""
from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from handlers import branches
from storage import db
from storage.branches import DEFAULT_CODE, StaffBranch
from storage.config_versions import ConfigVersion
from storage.staff import AuditLog, Staff
from tests.helpers import add_staff, csrf, logged_in

LIST = "/console/admin/branches"
SDA, SBY = "whatsapp:+6231890001", "whatsapp:+6231890002"
WHEN = re.compile(r"\d{1,2} (Jan|Feb|Mar|Apr|Mei|Jun|Jul|Agu|Sep|Okt|Nov|Des) \d{4}, \d{2}\.\d{2} WI(B|TA|T)")


@pytest.fixture
def app(app):
    """conftest's app, with an agent, a supervisor and an admin."""
    add_staff(app, ("ani", "agent"), ("sri", "supervisor"), ("adi", "admin"))
    return app


@pytest.fixture
def sby(app):
    """A branch made from the CLI's side (handlers.branches), serving Surabaya (3578)."""
    with app.app_context():
        session = db.session()
        branch = branches.add(session, "KC-SBY", "KC Surabaya", (SBY,), regencies=("3578",))
        session.flush()
        branches.record_version(session, branch, None, "cli: branch_add")
        session.commit()


def page(client, path) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return unescape(response.get_data(as_text=True))


def form_of(client, path, form_id) -> dict[str, str | list[str]]:
    """The fields of a form on the page as a browser posts them (checked boxes and radios only)."""
    html = client.get(path).get_data(as_text=True)
    form = html[html.index(f'id="{form_id}"'):]
    form = form[:form.index("</form>")]
    fields: dict[str, str | list[str]] = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        checkable = 'type="checkbox"' in tag or 'type="radio"' in tag
        if name and (not checkable or " checked" in tag):
            fields[name.group(1)] = unescape(value.group(1)) if value else ""
    for name, value in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        fields[name] = unescape(value)
    return fields


def submit(client, path, form_id, **changes):
    data = {**form_of(client, path, form_id), **changes}
    return client.post(path, data={k: v for k, v in data.items() if v is not None})


def add_sda(client, **changes):
    values = {"code": "kc-sda", "name": "KC Sidoarjo", "numbers": "+62 31 890001\n0318 900 03",
              "regencies": "3515, 3516", "holidays": "2026-12-24\n2027-01-02", "contact": "Jl. Pahlawan 1, Sidoarjo",
              "hours": "own", "day.mon": "1", "day.tue": "1", "day.wed": None, "day.thu": None, "day.fri": None,
              "day.sat": "1", "start": "07:30", "end": "14:00",
              "sla": "own", "sla.complaint": "16", "sla.change_nik": "4,5", "note": "kantor baru"}
    return submit(client, LIST, "add-branch", **{**values, **changes})


def state(app) -> dict:
    """Everything a refused save must leave as it was."""
    with app.app_context():
        session = db.session()
        return {"branches": [branches.describe(b) for b in branches.all_branches(session)],
                "versions": session.scalar(select(func.count()).select_from(ConfigVersion)),
                "audit": session.scalars(select(AuditLog.action).where(AuditLog.action.like("%branch%"))).all(),
                "staff": sorted(session.execute(select(StaffBranch.staff_id, StaffBranch.branch_id)).all()),
                "national": sorted(session.execute(select(Staff.name, Staff.national)).all())}


def test_only_admins_see_and_change_branches(app, sby):
    paths = [LIST, f"{LIST}/KC-SBY"]
    for path in paths:
        assert app.test_client().get(path).status_code == 302  # to the login page
    before = state(app)
    for name in ("ani", "sri"):
        client = logged_in(app, name)
        token = csrf(client, "/console/")
        for path in paths:
            assert client.get(path).status_code == 403
            assert client.post(path, data={"csrf_token": token, "code": "KC-X", "name": "X"}).status_code == 403
        assert client.post("/console/admin/staff/1/branches", data={"csrf_token": token}).status_code == 403
        assert "Kantor cabang</a>" not in page(client, "/console/")
    assert state(app) == before
    admin = logged_in(app)
    assert f'href="{LIST}">Kantor cabang</a>' in page(admin, "/console/")  # in the admin's navigation


def test_the_list_shows_every_branch_with_its_settings(app, sby):
    html = page(logged_in(app), LIST)
    rows = dict(re.findall(r'<tr data-branch="([^"]+)">(.*?)</tr>', html, re.S))
    assert list(rows) == [DEFAULT_CODE, "KC-SBY"]  # the default branch first
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", rows["KC-SBY"], re.S)]
    assert cells == ["KC-SBY", "KC Surabaya", "+6231890002", "3578", "—", "nasional", "nasional", "—", "0", "Ubah"]
    assert f'href="{LIST}/KC-SBY"' in rows["KC-SBY"]
    assert "Kantor utama (utama)" in rows[DEFAULT_CODE] and "<td>3</td>" in rows[DEFAULT_CODE]  # ani, sri, adi
    assert "Tambah kantor cabang" in html and "Ikut jam kerja nasional" in html and "Ikut SLA nasional" in html


def test_a_branch_is_added_and_edited_through_the_form_versioned_and_audited(app, sby):
    admin = logged_in(app)
    response = add_sda(admin)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"{LIST}/KC-SDA")
    with app.app_context():
        branch = branches.by_code(db.session(), "KC-SDA")
        assert branches.describe(branch) == {
            "code": "KC-SDA", "name": "KC Sidoarjo", "default": False, "numbers": [SDA, "whatsapp:+6231890003"],
            "regencies": ["3515", "3516"], "holidays": ["2026-12-24", "2027-01-02"],
            "hours": {"days": ["mon", "tue", "sat"], "start": "07:30", "end": "14:00"},
            "sla_hours": {"complaint": 16.0, "change_nik": 4.5}, "contact": "Jl. Pahlawan 1, Sidoarjo"}
    html = page(admin, f"{LIST}/KC-SDA")
    assert "Kantor cabang KC-SDA ditambahkan." in html
    assert "Versi 1" in html and "oleh <strong>adi</strong>" in html and "Catatan: kantor baru" in html
    assert WHEN.search(html) and "Senin, Selasa, Sabtu, 07.30–14.00" in html and "16 jam kerja" in html and "24 Des 2026, 2 Jan 2027" in html

    # The page's own form, changed: a number swapped (the main sender stays first), a regency and a
    # holiday swapped, back to the national hours, another SLA.
    response = submit(admin, f"{LIST}/KC-SDA", "edit-branch", name="KC Sidoarjo Kota",
                      numbers="+6231890001\n+6231890004", regencies="3515 3517", holidays="2027-01-02\n2027-03-03",
                      hours="national", **{"sla.complaint": "", "sla.change_nik": "", "sla.reactivation": "24"},
                      note="pindah gedung")
    assert response.status_code == 302
    with app.app_context():
        session = db.session()
        branch = branches.by_code(session, "KC-SDA")
        assert branch.name == "KC Sidoarjo Kota" and branch.contact == "Jl. Pahlawan 1, Sidoarjo"
        assert [n.number for n in branch.numbers] == [SDA, "whatsapp:+6231890004"]
        assert branch.regencies == ["3515", "3517"] and branch.holidays == ["2027-01-02", "2027-03-03"]
        assert branch.hours is None and branch.sla_hours == {"reactivation": 24.0}
        history = branches.versions(session, "KC-SDA")
        adi = session.scalar(select(Staff.id).where(Staff.name == "adi"))
        rows = session.execute(select(AuditLog.action, AuditLog.detail, AuditLog.channel, AuditLog.staff_id)
                               .where(AuditLog.action.like("branch_%")).order_by(AuditLog.id)).all()
    assert [(v.number, v.status, v.author_id, v.note) for v in history] == [
        (2, "published", adi, "pindah gedung"), (1, "superseded", adi, "kantor baru")]
    assert '"3517"' in history[0].content and '"3516"' in history[1].content
    assert rows == [("branch_add", "branch KC-SDA", "console", adi),
                    ("branch_edit", "branch KC-SDA: name, numbers, regencies, holidays, hours, sla_hours",
                     "console", adi)]
    html = page(admin, f"{LIST}/KC-SDA")
    assert "disimpan (versi 2)" in html and "Catatan: pindah gedung" in html
    versions = re.findall(r'<details class="version" id="v(\d+)"', html)
    assert versions == ["2", "1"]
    assert "Jl. Pahlawan 1, Sidoarjo" in html and "3515, 3516" in html  # version 1's content stays readable

    # Saving the form unchanged keeps no new version.
    assert submit(admin, f"{LIST}/KC-SDA", "edit-branch").status_code == 302
    assert "Tidak ada perubahan." in page(admin, f"{LIST}/KC-SDA")
    with app.app_context():
        assert len(branches.versions(db.session(), "KC-SDA")) == 2


def test_the_default_branch_can_be_edited_too(app):
    admin = logged_in(app)
    assert submit(admin, f"{LIST}/{DEFAULT_CODE}", "edit-branch", contact="Kantor pusat, 1500400").status_code == 302
    with app.app_context():
        branch = branches.by_code(db.session(), DEFAULT_CODE)
        assert branch.contact == "Kantor pusat, 1500400" and branch.is_default
    assert admin.get(f"{LIST}/NOPE").status_code == 404


@pytest.mark.parametrize("where, changes, message", [
    ("add", {"numbers": "12345"}, "'12345' bukan nomor telepon yang sah"),
    ("add", {"numbers": "+6231890002"}, "sudah menjadi nomor kantor cabang lain: whatsapp:+6231890002"),
    ("add", {"regencies": "3515 3578"}, "kabupaten/kota 3578 sudah dilayani kantor cabang KC-SBY"),
    ("add", {"regencies": "9999"}, "'9999' bukan kode kabupaten/kota"),
    ("add", {"start": "15:00", "end": "08:00"}, "jam mulai harus sebelum jam selesai"),
    ("add", {"sla.unknown": "5"}, "tidak ada layanan 'unknown'"),
    ("add", {"sla.complaint": "banyak"}, "SLA Pengaduan layanan harus berupa jumlah jam kerja"),
    ("add", {"holidays": "24-12-2026"}, "'24-12-2026' bukan tanggal"),
    ("add", {"code": "KC-SBY"}, "kantor cabang KC-SBY sudah ada"),
    ("add", {"code": "x"}, "kode harus 2 sampai 16 huruf kapital"),
    ("add", {f"day.{d}": None for d in ("mon", "tue", "sat")}, "pilih paling sedikit satu hari kerja"),
    ("edit", {"numbers": "+6231890002\n12345"}, "'12345' bukan nomor telepon yang sah"),
    ("edit", {"regencies": "3578"}, "kantor cabang utama melayani nomor bersama"),
    ("edit", {"hours": "own", "start": "16:00", "end": "09:00"}, "jam mulai harus sebelum jam selesai"),
    ("edit", {"sla": "own", "sla.unknown": "5"}, "tidak ada layanan 'unknown'"),
    ("edit", {"sla": "own"}, "isi SLA paling sedikit satu layanan"),
    ("edit", {"name": " "}, "nama harus 1 sampai 128 karakter"),
])
def test_what_cannot_be_saved_is_refused_in_indonesian_and_nothing_changes(app, sby, where, changes, message):
    admin = logged_in(app)
    before = state(app)
    if where == "add":
        response = add_sda(admin, **changes)
    else:  # the name changes too: refused with the rest
        path = f"{LIST}/{DEFAULT_CODE}"
        response = submit(admin, path, "edit-branch", **{"name": "Nama baru", **changes})
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 400, html[:300]
    assert re.search(r'<ul class="problems" id="problems" role="alert"><li>Belum disimpan: ([^<]*)</li>', html)
    assert message in html
    assert state(app) == before
    if where == "add":  # the form keeps what was typed
        assert 'value="KC Sidoarjo"' in html and "Jl. Pahlawan 1" in html


def test_officers_branches_are_set_on_the_staff_page_and_audited(app, sby):
    admin = logged_in(app)
    with app.app_context():
        ids = dict(db.session().execute(select(Staff.name, Staff.id)).all())
    html = page(admin, "/console/admin/staff")
    ani_row = re.search(r'<tr data-staff="ani">(.*?)</tr>', html, re.S).group(1)
    assert f"{DEFAULT_CODE}</span>" in ani_row and 'name="national"' not in ani_row  # agents are never national
    sri_row = re.search(r'<tr data-staff="sri">(.*?)</tr>', html, re.S).group(1)
    assert 'name="national"' in sri_row and 'value="KC-SBY"' in sri_row
    assert "semua (admin)" in re.search(r'<tr data-staff="adi">(.*?)</tr>', html, re.S).group(1)

    token = csrf(admin, "/console/admin/staff")
    response = admin.post(f"/console/admin/staff/{ids['ani']}/branches",
                          data={"csrf_token": token, "branch": ["KC-SBY", DEFAULT_CODE]})
    assert response.status_code == 302
    response = admin.post(f"/console/admin/staff/{ids['sri']}/branches", data={"csrf_token": token, "national": "1"})
    assert response.status_code == 302
    html = page(admin, "/console/admin/staff")
    assert "Kantor cabang petugas sri disimpan." in html
    assert f"{DEFAULT_CODE}, KC-SBY</span>" in re.search(r'<tr data-staff="ani">(.*?)</tr>', html, re.S).group(1)
    assert "nasional</span>" in re.search(r'<tr data-staff="sri">(.*?)</tr>', html, re.S).group(1)
    with app.app_context():
        session = db.session()
        sby_id = branches.by_code(session, "KC-SBY").id
        assert session.get(Staff, ids["sri"]).national is True
        assert sorted(session.scalars(select(StaffBranch.branch_id).where(StaffBranch.staff_id == ids["ani"]))) == \
            sorted([sby_id, branches.default(session).id])
        rows = session.execute(select(AuditLog.detail, AuditLog.staff_id).where(AuditLog.action == "staff_branches")
                               .order_by(AuditLog.id)).all()
    assert rows == [(f"staff {ids['ani']}: KC-SBY,{DEFAULT_CODE}", ids["adi"]),
                    (f"staff {ids['sri']}: - nasional", ids["adi"])]


@pytest.mark.parametrize("who, data, message", [
    ("ani", {}, "ani harus bekerja untuk paling sedikit satu kantor cabang"),
    ("sri", {}, "sri harus bekerja untuk paling sedikit satu kantor cabang"),
    ("ani", {"national": "1"}, "hanya supervisor yang dapat menjadi nasional"),
    ("ani", {"branch": "KC-XYZ"}, "tidak ada kantor cabang KC-XYZ"),
])
def test_an_officer_keeps_a_branch_unless_national(app, sby, who, data, message):
    admin = logged_in(app)
    with app.app_context():
        staff_id = db.session().scalar(select(Staff.id).where(Staff.name == who))
    before = state(app)
    response = admin.post(f"/console/admin/staff/{staff_id}/branches",
                          data={"csrf_token": csrf(admin, "/console/admin/staff"), **data})
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 400
    assert f'id="problem">Kantor cabang petugas {who} belum diubah: ' in html and message in html
    assert state(app) == before


def test_every_branch_form_needs_its_csrf_token(app, sby):
    admin = logged_in(app)
    before = state(app)
    for path in (LIST, f"{LIST}/KC-SBY", "/console/admin/staff/1/branches"):
        response = admin.post(path, data={"code": "KC-X", "name": "Tanpa token", "branch": "KC-SBY"})
        assert response.status_code == 400, path
    assert state(app) == before


def test_a_clash_with_another_change_is_refused_and_nothing_is_half_saved(app, sby, monkeypatch):
    def clash(*args, **kwargs):
        raise IntegrityError("INSERT INTO config_versions", {}, Exception("uq_config_versions_kind_number"))

    admin = logged_in(app)
    before = state(app)
    monkeypatch.setattr(branches, "record_version", clash)  # another admin saved the same version meanwhile
    for response in (add_sda(admin), submit(admin, f"{LIST}/KC-SBY", "edit-branch", name="KC Surabaya Kota")):
        assert response.status_code == 409
        assert "Perubahan lain pada kantor cabang tersimpan lebih dulu" in response.get_data(as_text=True)
    assert state(app) == before


def test_a_form_shown_before_another_admins_save_is_refused_not_applied(app, sby):
    admin, other = logged_in(app), logged_in(app)
    path = f"{LIST}/KC-SBY"
    stale = form_of(admin, path, "edit-branch")            # admin opens the form
    assert submit(other, path, "edit-branch", name="KC Surabaya Kota").status_code == 302  # another admin saves
    before = state(app)
    refused = admin.post(path, data={**stale, "contact": "Jl. Baru 1"})
    html = unescape(refused.get_data(as_text=True))
    assert refused.status_code == 409 and "baru saja diubah admin lain" in html
    assert state(app) == before  # the other admin's name stays; nothing of the stale form is saved
