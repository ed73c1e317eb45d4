"""Branch offices: every install has a default branch (existing officers work for it, unknown numbers
belong to it); admins add and change branches from the CLI, checked and audited; a number belongs to one
branch; officers are created for branches."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text

from handlers import branches
from storage import db
from storage.branches import DEFAULT_CODE, Branch, StaffBranch
from storage.cases import Case
from storage.migrate import upgrade
from storage.staff import AuditLog, Staff
from bot.accounts import create_staff, new_token
from tests.helpers import Chat, complaint_answers, database_at

pytestmark = pytest.mark.one_backend

SDA = "whatsapp:+6231890001"
SBY = "whatsapp:+6231890002"


def run(runner, *args):
    return runner.invoke(args=["branches", *args])


def test_branches_are_added_listed_and_edited_from_the_cli_and_audited(app, runner):
    added = run(runner, "add", "kc-sda", "--name", "KC Sidoarjo", "--whatsapp", "+62 31 890001",
                "--whatsapp", "whatsapp:+6231890003", "--holiday", "2026-12-24")
    assert added.exit_code == 0, added.output
    listed = run(runner, "list").output.splitlines()
    assert listed[0].startswith(f"{DEFAULT_CODE} (default)\tKantor utama")
    assert listed[1] == (f"KC-SDA\tKC Sidoarjo\tnumbers: {SDA}, whatsapp:+6231890003\tregencies: -\t"
                         "holidays: 2026-12-24\thours: national\tSLA: national\tofficers: 0")
    edited = run(runner, "edit", "KC-SDA", "--name", "KC Sidoarjo Kota", "--remove-whatsapp", "+6231890003",
                 "--add-whatsapp", "0318 900 04", "--holiday", "2027-01-02", "--remove-holiday", "2026-12-24",
                 "--regency", "3515", "--regency", "3516", "--days", "mon-sat", "--start", "07:30",
                 "--sla", "complaint=16")
    assert edited.exit_code == 0, edited.output
    assert "regencies: 3515, 3516\tholidays: 2027-01-02\thours: mon,tue,wed,thu,fri,sat 07:30-15:00\t" \
           "SLA: complaint=16" in run(runner, "list").output
    assert run(runner, "edit", "KC-SDA", "--remove-regency", "3516", "--national-hours").exit_code == 0
    with app.app_context():
        branch = branches.by_code(db.session(), "KC-SDA")
        assert branch.name == "KC Sidoarjo Kota" and branch.holidays == ["2027-01-02"]
        assert [n.number for n in branch.numbers] == [SDA, "whatsapp:+6231890004"]  # the main sender stays first
        assert branch.regencies == ["3515"] and branch.hours is None and branch.sla_hours == {"complaint": 16.0}
        actions = db.session().scalars(select(AuditLog.action).where(AuditLog.channel == "cli")).all()
        history = branches.versions(db.session(), "KC-SDA")
    assert actions == ["branch_add", "branch_edit", "branch_edit"]
    assert [(v.number, v.status) for v in history] == [(3, "published"), (2, "superseded"), (1, "superseded")]
    assert '"regencies": [\n  "3515"\n ]' in history[0].content and '"3516"' in history[1].content


@pytest.mark.parametrize("args, message", [
    (("add", "K", "--name", "x"), "2 sampai 16 huruf kapital"),
    (("add", "KC-MJK", "--name", "x", "--whatsapp", "12345"), "bukan nomor telepon yang sah"),
    (("add", "KC-MJK", "--name", "x", "--holiday", "24-12-2026"), "bukan tanggal"),
    (("add", "KC-MJK", "--name", "KC Mojokerto", "--whatsapp", SDA), "sudah menjadi nomor kantor cabang lain"),
    (("add", "KC-SDA", "--name", "again"), "sudah ada"),
    (("edit", "KC-XXX", "--name", "x"), "tidak ada kantor cabang KC-XXX"),
    (("edit", "KC-SBY", "--add-whatsapp", SDA), "sudah menjadi nomor kantor cabang lain"),
    (("edit", "KC-SBY", "--regency", "3515"), "sudah dilayani kantor cabang KC-SDA"),
    (("edit", "KC-SBY", "--regency", "9915"), "bukan kode kabupaten/kota"),
    (("edit", "KC-SBY", "--regency", "3500"), "bukan kode kabupaten/kota"),
    (("edit", "KC-SBY", "--start", "16:00"), "jam mulai harus sebelum jam selesai"),
    (("edit", "KC-SBY", "--days", "mon-fry"), "days are written like"),
    (("edit", "KC-SBY", "--sla", "bogus=3"), "tidak ada layanan 'bogus'"),
    (("edit", "KC-SBY", "--sla", "complaint=0"), "lebih dari 0"),
    (("edit", "KC-SBY", "--sla", "complaint"), "SERVICE=HOURS"),
])
def test_what_cannot_run_is_refused_with_a_reason_and_nothing_changes(app, runner, args, message):
    assert run(runner, "add", "KC-SDA", "--name", "KC Sidoarjo", "--whatsapp", SDA, "--regency", "3515").exit_code == 0
    assert run(runner, "add", "KC-SBY", "--name", "KC Surabaya", "--whatsapp", SBY).exit_code == 0
    result = run(runner, *args)
    assert result.exit_code != 0 and message in result.output
    with app.app_context():
        session = db.session()
        assert [b.code for b in branches.all_branches(session)] == [DEFAULT_CODE, "KC-SBY", "KC-SDA"]
        assert [n.number for n in branches.by_code(session, "KC-SDA").numbers] == [SDA]


def test_a_number_finds_its_branch_and_an_unknown_number_the_default_one(app, runner):
    run(runner, "add", "KC-SDA", "--name", "KC Sidoarjo", "--whatsapp", SDA)
    with app.app_context():
        session = db.session()
        assert branches.for_number(session, SDA).code == "KC-SDA"
        assert branches.for_number(session, "whatsapp:+14155238886").code == DEFAULT_CODE
        assert branches.for_number(session, None).is_default
        assert session.scalar(select(Branch.id).where(Branch.is_default.is_(True)).limit(2)) is not None


def test_officers_are_created_for_their_branches_or_the_default_one(app, runner):
    run(runner, "add", "KC-SDA", "--name", "KC Sidoarjo", "--whatsapp", SDA)
    made = runner.invoke(args=["users", "create", "sari", "--role", "agent", "--password", "rahasia-kuat-123",
                               "--branch", "kc-sda"])
    assert made.exit_code == 0, made.output
    runner.invoke(args=["users", "create", "budi", "--role", "agent", "--password", "rahasia-kuat-123"])
    refused = runner.invoke(args=["users", "create", "tono", "--role", "agent", "--password", "rahasia-kuat-123",
                                  "--branch", "KC-NOPE"])
    assert refused.exit_code != 0 and "no branch KC-NOPE" in refused.output
    national = runner.invoke(args=["users", "create", "nina", "--role", "supervisor", "--password",
                                   "rahasia-kuat-123", "--national"])
    assert national.exit_code == 0, national.output
    agent = runner.invoke(args=["users", "create", "ani", "--role", "agent", "--password", "rahasia-kuat-123",
                                "--national"])
    assert agent.exit_code != 0 and "only a supervisor can be national" in agent.output
    with app.app_context():
        session = db.session()
        rows = session.execute(select(Staff.name, Branch.code).join(StaffBranch, StaffBranch.staff_id == Staff.id)
                               .join(Branch, Branch.id == StaffBranch.branch_id).order_by(Staff.name)).all()
        assert [tuple(r) for r in rows] == [("budi", DEFAULT_CODE), ("nina", DEFAULT_CODE), ("sari", "KC-SDA")]
        assert session.scalar(select(Staff.national).where(Staff.name == "nina")) is True
        assert session.scalar(select(Staff).where(Staff.name == "tono")) is None


def test_a_case_belongs_to_the_branch_of_the_number_the_citizen_wrote_to(app, runner, twilio):
    run(runner, "add", "KC-SDA", "--name", "KC Sidoarjo", "--whatsapp", SDA)
    sidoarjo, elsewhere = Chat(app, twilio, phone="+6281234500001"), Chat(app, twilio, phone="+6281234500002")
    for answer in complaint_answers():
        sidoarjo.send_extra(answer, To=SDA)
    for answer in complaint_answers()[:-1] + ["lewati", "ya"]:  # asked where they live: no answer
        elsewhere.say(answer)  # to the install's own number: no branch has it
    with app.app_context():
        cases = db.session().scalars(select(Case).order_by(Case.id)).all()
        assert [c.branch.code for c in cases] == ["KC-SDA", DEFAULT_CODE]
        tickets = [c.ticket for c in cases]
    with app.app_context():
        session = db.session()
        token = new_token(session, create_staff(session, "adi", "supervisor", "rahasia-kuat-123", national=True))
        session.commit()
    client = app.test_client()
    answers = [client.get(f"/api/cases/{t}", headers={"Authorization": f"Bearer {token}"}).get_json() for t in tickets]
    assert [a["branch"] for a in answers] == ["KC-SDA", DEFAULT_CODE]


def test_the_migration_puts_existing_cases_and_officers_in_the_default_branch(tmp_path):
    url, engine = database_at(
        tmp_path, "0009",
        "INSERT INTO staff (name, role, password_hash, active, created_at, failed_logins) "
        "VALUES ('ani', 'agent', 'x', 1, '2026-12-01', 0)",
        "INSERT INTO citizens (phone, created_at) VALUES ('+6281200000001', '2026-12-01')",
        "INSERT INTO cases (ticket, service, citizen_id, status, fields, created_at, updated_at, updated_by_citizen) "
        "VALUES ('PDW-20261201-0001', 'complaint', 1, 'submitted', '{}', '2026-12-01', '2026-12-01', 0)")
    upgrade(url)
    with engine.connect() as conn:
        default_id = conn.scalar(text("SELECT id FROM branches WHERE code = 'UTAMA' AND is_default"))
        assert conn.scalar(text("SELECT branch_id FROM cases")) == default_id
        assert conn.execute(text("SELECT staff_id, branch_id FROM staff_branches")).all() == [(1, default_id)]
    engine.dispose()
