"""Branch offices at work: a case goes to the branch of the number the citizen wrote to (on the shared
national number: the branch of the NIK's regency), is promised and scheduled by that branch's calendar,
answered from that branch's number, seen only by that branch's officers (and national staff), and can
be transferred to another branch with a reason, the citizen told."""
from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import select, text

from bot.accounts import create_staff, hash_password, new_token
from bot import create_app
from handlers import branches
from handlers.worktime import DAY_NAMES
from storage import db
from storage.branches import DEFAULT_CODE, StaffBranch
from storage.cases import Case, CaseEvent, CaseStatus
from storage.migrate import upgrade
from handlers.notify import notify
from handlers.product import Product, ProductConfigError
from storage.models import Citizen, InboundMessage, InboundStatus, OutboundMessage, as_utc, utcnow
from storage.staff import AuditLog
from tests.helpers import Chat, complaint_answers, csrf, database_at, logged_in, run_jobs, submit_nik_case

pytestmark = pytest.mark.one_backend

NATIONAL = "whatsapp:+6221500400"   # the shared number (the default branch's)
SDA = "whatsapp:+6231890001"        # KC Sidoarjo: open every day
BGR = "whatsapp:+6225190001"        # KC Bogor: a regional holiday today
ALWAYS = {"days": list(DAY_NAMES), "start": "00:00", "end": "23:59"}


@pytest.fixture
def app(photo_app):
    return photo_app


def today_wib(app):
    return datetime.now(app.config["PRODUCT"].timezone).date()


@pytest.fixture
def offices(app):
    """Two branches with their own numbers, regencies and calendars; officers of each; a national
    supervisor; API tokens for all."""
    with app.app_context():
        session = db.session()
        branches.edit(session, DEFAULT_CODE, branches.Change(add_numbers=(NATIONAL,)))
        branches.add(session, "KC-SDA", "KC Sidoarjo", (SDA,), regencies=("3515",), hours=ALWAYS,
                     contact="Jl. Jenggolo 2, Sidoarjo")
        branches.add(session, "KC-BGR", "KC Bogor", (BGR,), holidays=(today_wib(app).isoformat(),),
                     regencies=("3201",), hours=ALWAYS)
        tokens = {}
        for name, role, code, national in (("sari", "agent", "KC-SDA", False), ("budi", "agent", "KC-BGR", False),
                                           ("nina", "supervisor", None, True)):
            staff = create_staff(session, name, role, "rahasia-kuat-123", (code,) if code else (), national)
            tokens[name] = new_token(session, staff)
        session.commit()
    return tokens


def api(app, token, method, path, **kwargs):
    return getattr(app.test_client(), method)(f"/api{path}", headers={"Authorization": f"Bearer {token}"}, **kwargs)


def complaint_to(app, twilio, number, phone) -> tuple[Chat, list[str]]:
    chat = Chat(app, twilio, phone=phone, to=number)
    replies = []
    for answer in complaint_answers():
        replies = chat.say(answer)
    return chat, replies


def case_of(app, phone) -> Case:
    with app.app_context():
        session = db.session()
        return session.scalar(select(Case).join(Case.citizen).where(text("citizens.phone = :p")).params(p=phone)
                              .order_by(Case.id.desc()).limit(1))


def sent_to(twilio, phone):
    return [m for m in twilio.messages if m["To"] == f"whatsapp:{phone}"]


def test_two_branches_route_promise_schedule_and_answer_from_their_own_numbers(app, twilio, offices):
    _, sda_replies = complaint_to(app, twilio, SDA, "+6281200000001")
    _, bgr_replies = complaint_to(app, twilio, BGR, "+6281200000002")
    sda, bgr = case_of(app, "+6281200000001"), case_of(app, "+6281200000002")
    with app.app_context():
        codes = {c.id: c.branch.code for c in db.session().scalars(select(Case))}
    assert codes == {sda.id: "KC-SDA", bgr.id: "KC-BGR"}
    # The promise: Sidoarjo is open now; Bogor has its regional holiday (the national calendar has none today).
    hours = app.config["PRODUCT"].sla_hours("complaint")
    assert f"Petugas akan memeriksanya dalam {hours:g} jam kerja" in sda_replies[-1]
    assert "Kantor tutup" not in sda_replies[-1] and "Kantor tutup" in bgr_replies[-1]
    # The SLA: Bogor's clock starts after its holiday (at midnight: its own hours); Sidoarjo's already runs.
    tomorrow = datetime.combine(today_wib(app) + timedelta(days=1), time(0, 0), tzinfo=app.config["PRODUCT"].timezone)
    assert as_utc(bgr.sla_due_at) == tomorrow + timedelta(hours=hours)
    assert as_utc(sda.sla_due_at) < tomorrow + timedelta(hours=hours) - timedelta(minutes=1)
    # Replies go from the number written to.
    assert {m["From"] for m in sent_to(twilio, "+6281200000001")} == {SDA}
    assert {m["From"] for m in sent_to(twilio, "+6281200000002")} == {BGR}
    # A decision goes from the case's branch's number too.
    assert api(app, offices["sari"], "post", f"/cases/{sda.ticket}/claim").status_code == 200
    decided = api(app, offices["sari"], "post", f"/cases/{sda.ticket}/decision",
                  json={"decision": "approve", "note": "Sudah kami tindak lanjuti."})
    assert decided.status_code == 200, decided.get_json()
    run_jobs(app)
    last = sent_to(twilio, "+6281200000001")[-1]
    assert last["From"] == SDA and sda.ticket in last["Body"]


def test_on_the_shared_number_the_nik_decides_the_branch(app, twilio, offices):
    submit_nik_case(app, twilio, phone="+6281200000003", to=NATIONAL, nik="3201234505860003")  # Bogor
    submit_nik_case(app, twilio, phone="+6281200000004", to=NATIONAL, nik="3578014505860003",  # Surabaya: no
                    place="lewati")                                                           # branch; asked
    asked = Chat(app, twilio, phone="+6281200000005", to=NATIONAL)                           # no NIK at all
    for answer in complaint_answers()[:-1]:
        replies = asked.say(answer)
    assert "Anda tinggal di kabupaten/kota mana?" in replies[-1]
    assert "belum menemukan kantor cabang untuk *Surabaya*" in asked.say("Surabaya")[0]
    assert "Mohon periksa" in asked.say("lewati")[0]
    asked.say("ya")
    submit_nik_case(app, twilio, phone="+6281200000006", to=SDA, nik="3201234505860003")      # a branch's own number
    branch_of = {phone: case_of(app, phone).branch.code
                 for phone in ("+6281200000003", "+6281200000004", "+6281200000005", "+6281200000006")}
    assert branch_of == {"+6281200000003": "KC-BGR", "+6281200000004": DEFAULT_CODE,
                         "+6281200000005": DEFAULT_CODE, "+6281200000006": "KC-SDA"}
    # The citizen keeps talking with the number they wrote to, whichever branch works on the case.
    assert {m["From"] for m in sent_to(twilio, "+6281200000003")} == {NATIONAL}
    ticket = case_of(app, "+6281200000003").ticket
    assert api(app, offices["budi"], "post", f"/cases/{ticket}/claim").status_code == 200
    assert api(app, offices["budi"], "post", f"/cases/{ticket}/decision",
               json={"decision": "approve", "note": ""}).status_code == 200
    run_jobs(app)
    assert sent_to(twilio, "+6281200000003")[-1]["From"] == NATIONAL


def test_on_the_shared_number_a_citizen_without_a_known_nik_is_asked_where_they_live(app, twilio, offices):
    chat = Chat(app, twilio, phone="+6281200000010", to=NATIONAL)
    for answer in complaint_answers()[:-1]:
        replies = chat.say(answer)
    assert "Ketik namanya, contoh: *Sidoarjo*" in replies[-1]
    summary = chat.say("Kab. Sidoarjo")[0]
    assert "Kabupaten/kota" in summary and "Kab. Sidoarjo" in summary
    done = chat.say("ya")
    case = case_of(app, "+6281200000010")
    assert case.branch.code == "KC-SDA" and "branch" not in case.fields
    assert case.fields["branch_place"] == "Kab. Sidoarjo"  # national staff read it when they transfer a case
    assert case.ticket in done[0] and {m["From"] for m in sent_to(twilio, "+6281200000010")} == {NATIONAL}
    # A place no branch fits is asked once more, then the national staff route the case: nobody stuck.
    lost = Chat(app, twilio, phone="+6281200000013", to=NATIONAL)
    for answer in complaint_answers()[:-1]:
        lost.say(answer)
    assert "belum menemukan kantor cabang untuk *Surabaya*" in lost.say("Surabaya")[0]
    assert "Mohon periksa" in lost.say("Malang")[0]
    lost.say("ya")
    case = case_of(app, "+6281200000013")
    assert case.branch.code == DEFAULT_CODE and case.fields["branch_place"] == "Malang"


def test_an_officer_of_another_branch_finds_nothing(app, twilio, offices):
    submit_nik_case(app, twilio, phone="+6281200000007", to=SDA)
    case = case_of(app, "+6281200000007")
    with app.app_context():
        doc_id = db.session().scalar(text("SELECT id FROM documents WHERE case_id = :c LIMIT 1"), {"c": case.id})
    budi, sari = logged_in(app, "budi"), logged_in(app, "sari")
    for path in (f"/console/cases/{case.ticket}", f"/console/cases/{case.ticket}/chat",
                 f"/console/cases/{case.ticket}/documents/{doc_id}"):
        assert budi.get(path).status_code == 404, path
    assert budi.post(f"/console/cases/{case.ticket}/claim", data={"csrf_token": csrf(budi, "/console/")}).status_code == 404
    assert sari.get(f"/console/cases/{case.ticket}").status_code == 200
    # The queue and its search do not show it either.
    row = f'data-ticket="{case.ticket}"'
    assert row not in budi.get("/console/").get_data(as_text=True)
    assert row in sari.get("/console/").get_data(as_text=True)
    found = budi.post("/console/search", data={"q": case.ticket, "csrf_token": csrf(budi, "/console/")},
                      follow_redirects=True)
    assert row not in found.get_data(as_text=True) and "<strong>0</strong> kasus" in found.get_data(as_text=True)
    assert budi.get("/console/?branch=KC-SDA").status_code == 404
    # The API: 404 on the case, its documents and its actions; not in the list.
    for method, path in (("get", f"/cases/{case.ticket}"), ("get", f"/cases/{case.ticket}/documents/{doc_id}"),
                         ("post", f"/cases/{case.ticket}/claim")):
        answer = api(app, offices["budi"], method, path)
        assert answer.status_code == 404, (path, answer.get_json())
    assert api(app, offices["budi"], "get", "/cases").get_json()["total"] == 0
    assert api(app, offices["budi"], "get", "/cases?branch=KC-SDA").status_code == 404
    assert api(app, offices["sari"], "get", "/cases").get_json()["total"] == 1
    # A national supervisor sees every branch, and filters by one.
    nina = logged_in(app, "nina")
    assert nina.get(f"/console/cases/{case.ticket}").status_code == 200
    page = nina.get("/console/?branch=KC-BGR").get_data(as_text=True)
    assert row not in page and "Semua kantor cabang" in page
    assert row in nina.get("/console/?branch=KC-SDA").get_data(as_text=True)
    assert [c["ticket"] for c in api(app, offices["nina"], "get", "/cases?branch=KC-SDA").get_json()["cases"]] == [case.ticket]
    # Nor can a supervisor give the case to an officer of another branch.
    with app.app_context():
        budi_id = db.session().scalar(text("SELECT id FROM staff WHERE name = 'budi'"))
    refused = nina.post(f"/console/cases/{case.ticket}/reassign", data={"to": budi_id, "csrf_token": csrf(nina, "/console/")},
                        follow_redirects=True)
    assert "tidak bekerja di kantor cabang kasus ini" in refused.get_data(as_text=True)


def test_a_transfer_moves_the_case_and_tells_the_citizen(app, twilio, offices):
    chat = submit_nik_case(app, twilio, phone="+6281200000008", to=SDA)
    case = case_of(app, "+6281200000008")
    sari = logged_in(app, "sari")
    token = csrf(sari, f"/console/cases/{case.ticket}")
    sari.post(f"/console/cases/{case.ticket}/claim", data={"csrf_token": token})
    short = sari.post(f"/console/cases/{case.ticket}/transfer", data={"branch": "KC-BGR", "reason": "x",
                                                                    "csrf_token": token}, follow_redirects=True)
    assert "tulis alasan pemindahan" in short.get_data(as_text=True)
    moved = sari.post(f"/console/cases/{case.ticket}/transfer",
                      data={"branch": "KC-BGR", "reason": "Peserta berdomisili di Bogor", "csrf_token": token})
    assert moved.status_code == 302 and moved.headers["Location"].endswith("/console/")
    with app.app_context():
        session = db.session()
        row = session.get(Case, case.id)
        assert (row.branch.code, row.status, row.assigned_to) == ("KC-BGR", CaseStatus.SUBMITTED, None)
        assert session.scalar(select(CaseEvent.note).where(CaseEvent.case_id == case.id, CaseEvent.kind == "transferred")) \
            == "KC-SDA → KC-BGR: Peserta berdomisili di Bogor"
        assert session.scalar(select(AuditLog.detail).where(AuditLog.action == "transfer")) == "KC-SDA → KC-BGR"
    told = chat.replies()
    assert len(told) == 1 and case.ticket in told[0] and "KC Bogor" in told[0]
    assert sent_to(twilio, "+6281200000008")[-1]["From"] == SDA  # from the number the citizen writes to
    # The case left Sidoarjo's sight and is in Bogor's queue.
    assert sari.get(f"/console/cases/{case.ticket}").status_code == 404
    assert f'data-ticket="{case.ticket}"' in logged_in(app, "budi").get("/console/").get_data(as_text=True)
    # Bogor's officer writes: inside the window the conversation goes on from the number the citizen uses.
    assert api(app, offices["budi"], "post", f"/cases/{case.ticket}/claim").status_code == 200
    assert api(app, offices["budi"], "post", f"/cases/{case.ticket}/decision",
               json={"decision": "need_info", "note": "Kirim foto KK yang lebih jelas.", "item": "kk"}).status_code == 200

    def last_message():
        with app.app_context():
            return db.session().scalar(select(OutboundMessage).where(OutboundMessage.citizen_id == row.citizen_id)
                                       .order_by(OutboundMessage.id.desc()).limit(1))
    assert (last_message().sender, last_message().content_sid) == (SDA, None)
    # Two days later (outside the window) the decision needs a template anyway: from Bogor's own number.
    with app.app_context():
        session = db.session()
        session.execute(text("UPDATE citizens SET last_inbound_at = :t"), {"t": utcnow() - timedelta(days=2)})
        session.execute(text("UPDATE cases SET status = 'in_review' WHERE id = :c"), {"c": case.id})
        session.commit()
    assert api(app, offices["budi"], "post", f"/cases/{case.ticket}/decision",
               json={"decision": "approve", "note": ""}).status_code == 200, "approve"
    assert last_message().sender == BGR and last_message().content_sid is not None
    # Through the API too; a transfer back needs the case to be in sight.
    assert api(app, offices["sari"], "post", f"/cases/{case.ticket}/transfer",
               json={"branch": "KC-SDA", "reason": "salah kirim"}).status_code == 404


def test_a_database_from_before_branches_keeps_every_case_working(tmp_path, env, twilio):
    url, engine = database_at(
        tmp_path, "0009",
        "INSERT INTO staff (name, role, password_hash, active, created_at, failed_logins, password_changed_at) "
        f"VALUES ('ani', 'agent', '{hash_password('rahasia-kuat-123')}', 1, '2026-12-01', 0, '2026-12-01')",
        "INSERT INTO citizens (phone, created_at) VALUES ('+6281200000009', '2026-12-01')",
        "INSERT INTO cases (ticket, service, citizen_id, status, fields, created_at, updated_at, updated_by_citizen, "
        "queued_at) VALUES ('PDW-20261201-0001', 'complaint', 1, 'submitted', '{}', '2026-12-01', '2026-12-01', 0, "
        "'2026-12-01')")
    engine.dispose()
    upgrade(url)  # what the deployment runs before starting the new version
    app = create_app({"ENV": {**env, "DATABASE_URL": url}, "TESTING": True})
    try:
        ani = logged_in(app, "ani")
        assert "PDW-20261201-0001" in ani.get("/console/").get_data(as_text=True)
        token = csrf(ani, "/console/cases/PDW-20261201-0001")
        ani.post("/console/cases/PDW-20261201-0001/claim", data={"csrf_token": token})
        with app.app_context():
            case = db.session().scalar(select(Case))
            assert case.branch.code == DEFAULT_CODE and case.assigned_to is not None
            assert db.session().scalar(select(StaffBranch.branch_id)) == case.branch_id
    finally:
        app.extensions["db"].dispose()
        app.extensions["redis"].close()


def test_a_branch_supervisor_sees_and_retries_only_their_numbers_failed_messages(app, offices):
    with app.app_context():
        session = db.session()
        create_staff(session, "sri", "supervisor", "rahasia-kuat-123", ("KC-SDA",))
        citizen = Citizen(phone="+6281200000011")
        session.add(citizen)
        session.flush()
        mine, theirs = (InboundMessage(message_sid=f"SM{n:032d}", citizen_id=citizen.id, sender="whatsapp:+6281200000011",
                                       to_number=number, body="halo", status=InboundStatus.FAILED, failure_reason="x")
                        for n, number in ((1, SDA), (2, BGR)))
        session.add_all([mine, theirs])
        session.commit()
        mine_id, theirs_id = mine.id, theirs.id
    sri = logged_in(app, "sri")
    page = sri.get("/console/failures").get_data(as_text=True)
    assert f"/failures/inbound/{mine_id}/retry" in page and f"/failures/inbound/{theirs_id}/retry" not in page
    assert 'data-count="inbound">1<' in page
    token = csrf(sri, "/console/failures")
    assert sri.post(f"/console/failures/inbound/{theirs_id}/retry", data={"csrf_token": token}).status_code == 404
    nina_page = logged_in(app, "nina").get("/console/failures").get_data(as_text=True)
    assert f"/failures/inbound/{theirs_id}/retry" in nina_page


def test_a_sender_of_another_business_account_uses_its_own_template_sid(app):
    raw = {**app.config["PRODUCT"].raw}
    raw["templates"] = {**raw["templates"], "case_update": {**raw["templates"]["case_update"],
                                                            "senders": {BGR: "HX" + "ab" * 16}}}
    product = Product.checked(raw)
    assert product.template("case_update").sid_for(BGR) == "HX" + "ab" * 16
    assert product.template("case_update").sid_for(SDA) == product.template("case_update").content_sid
    with pytest.raises(ProductConfigError, match="senders"):
        Product.checked({**raw, "templates": {"case_update": {"content_sid": "HX" + "ab" * 16, "variables": [],
                                                              "senders": {"0812": "nope"}}}})
    with app.app_context():
        session = db.session()
        citizen = Citizen(phone="+6281200000012")
        session.add(citizen)
        session.flush()
        row = notify(session, citizen, "Tiket Anda diteruskan.", product, utcnow(), "case_update",
                     {"ticket": "PDW-1", "status": "diteruskan"}, sender=BGR)
        assert (row.sender, row.content_sid) == (BGR, "HX" + "ab" * 16)  # never wrote to it: the template
        session.rollback()


def test_a_branch_s_texts_give_its_own_contact_line(app, twilio, offices):
    Chat(app, twilio, phone="+6281200000014", to=SDA).say("5")        # KC Sidoarjo has a contact line
    Chat(app, twilio, phone="+6281200000015", to=NATIONAL).say("5")   # the shared number: the national one
    with app.app_context():
        runs = {c.phone: c.conversation.state["run"]["values"] for c in db.session().scalars(select(Citizen))}
    assert (runs["+6281200000014"]["office"], runs["+6281200000014"]["office_contact"]) == \
        ("KC Sidoarjo", "Jl. Jenggolo 2, Sidoarjo")
    product = app.config["PRODUCT"]
    assert (runs["+6281200000015"]["office"], runs["+6281200000015"]["office_contact"]) == \
        (product.text("office_default"), product.text("office_contact_default"))
