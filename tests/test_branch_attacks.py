"""A hostile review of branch offices (issue 16): each test asserts what the README promises; a failing
test is a bug. Cases built through the real WhatsApp pipeline where routing matters, straight in the
database where only the doors are attacked (cheap enough to run on both backends)."""
from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import casework, live
from bot.accounts import create_staff, new_token
from handlers import backoffice as bo
from handlers import branches, routing, visibility
from handlers.cases import schedule
from handlers.worktime import DAY_NAMES
from storage import db
from storage.branches import DEFAULT_CODE, Branch
from storage.cases import Case, CaseStatus
from storage.models import Citizen, InboundMessage, InboundStatus, OutboundMessage, as_utc, utcnow
from storage.staff import Staff
from tests.helpers import Chat, complaint_answers, csrf, logged_in, run_jobs, submit_nik_case

NATIONAL = "whatsapp:+6221500400"   # the shared number (the default branch's)
SDA = "whatsapp:+6231890001"
BGR = "whatsapp:+6225190001"
ALWAYS = {"days": list(DAY_NAMES), "start": "00:00", "end": "23:59"}
PASSWORD = "rahasia-kuat-123"


@pytest.fixture
def app(photo_app):
    return photo_app


@pytest.fixture
def offices(app):
    """KC-SDA (regency 3515) and KC-BGR (3201), both always open; agents sari (SDA), budi (BGR), tono (SDA);
    supervisors sri (SDA), uta (the default branch, not national), nina (national); admin adi."""
    with app.app_context():
        session = db.session()
        branches.edit(session, DEFAULT_CODE, branches.Change(add_numbers=(NATIONAL,)))
        branches.add(session, "KC-SDA", "KC Sidoarjo", (SDA,), regencies=("3515",), hours=ALWAYS)
        branches.add(session, "KC-BGR", "KC Bogor", (BGR,), regencies=("3201",), hours=ALWAYS)
        tokens = {}
        for name, role, code, national in (("sari", "agent", "KC-SDA", False), ("budi", "agent", "KC-BGR", False),
                                           ("tono", "agent", "KC-SDA", False), ("sri", "supervisor", "KC-SDA", False),
                                           ("uta", "supervisor", DEFAULT_CODE, False),
                                           ("nina", "supervisor", None, True), ("adi", "admin", None, False)):
            staff = create_staff(session, name, role, PASSWORD, (code,) if code else (), national)
            tokens[name] = new_token(session, staff)
        session.commit()
    return tokens


def api(app, token, method, path, **kwargs):
    return getattr(app.test_client(), method)(f"/api{path}", headers={"Authorization": f"Bearer {token}"}, **kwargs)


def bare_case(app, ticket, code, phone=None, status=CaseStatus.SUBMITTED, holder=None, fields=None, name=None):
    """A case straight in the database (no conversation): for the doors, not for routing."""
    with app.app_context():
        session = db.session()
        citizen = None
        if phone:
            citizen = session.scalar(select(Citizen).where(Citizen.phone == phone))
            if citizen is None:
                citizen = Citizen(phone=phone, profile_name=name)
                session.add(citizen)
                session.flush()
        branch_id = session.scalar(select(Branch.id).where(Branch.code == code)) if code else None
        holder_id = session.scalar(select(Staff.id).where(Staff.name == holder)) if holder else None
        now = utcnow()
        session.add(Case(ticket=ticket, service="complaint", citizen_id=citizen.id if citizen else None,
                         status=status, fields=fields or {}, branch_id=branch_id, assigned_to=holder_id,
                         created_at=now, queued_at=now, sla_due_at=now + timedelta(hours=8),
                         claimed_at=now if holder_id else None))
        session.commit()


def case_of(app, phone) -> Case | None:
    with app.app_context():
        return db.session().scalar(select(Case).join(Case.citizen).where(Citizen.phone == phone)
                                   .order_by(Case.id.desc()).limit(1))


def case_by(app, ticket) -> Case:
    with app.app_context():
        return db.session().scalar(select(Case).where(Case.ticket == ticket))


# ============================================================ bugs (these fail while the bug exists)

@pytest.mark.one_backend
def test_privacy_export_by_a_branch_supervisor_holds_no_other_branch_case(app, twilio, offices):
    """A citizen on the shared number whose NIK is Bogor's: the case is KC-BGR's. The default branch's own
    (not national) supervisor must not get that case, its fields or its documents through the export."""
    submit_nik_case(app, twilio, phone="+6281200000021", to=NATIONAL, nik="3201234505860003")
    case = case_of(app, "+6281200000021")
    assert case.branch.code == "KC-BGR"
    uta = logged_in(app, "uta")
    response = uta.post("/console/privacy/export", data={"phone": "081200000021",
                                                         "csrf_token": csrf(uta, "/console/privacy")})
    if response.mimetype == "application/zip":
        archive = zipfile.ZipFile(io.BytesIO(response.data))
        data = json.loads(archive.read("data.json"))
        assert case.ticket not in [c["ticket"] for c in data["cases"]], "KC-BGR's case (fields, NIK) in UTAMA's export"
        assert not [n for n in archive.namelist() if n.startswith("documents/")], "KC-BGR's documents exported"


@pytest.mark.one_backend
def test_the_chat_of_a_case_shows_nothing_of_another_branch_case(app, twilio, offices):
    """The same citizen has a case at KC-SDA (decided with a note) and writes to KC-BGR about something else:
    KC-BGR's holder reads the transcript of their case, and must not read KC-SDA's officer's words."""
    submit_nik_case(app, twilio, phone="+6281200000022", to=SDA, nik="3515014505860003")
    sda_case = case_of(app, "+6281200000022")
    assert api(app, offices["sari"], "post", f"/cases/{sda_case.ticket}/claim").status_code == 200
    assert api(app, offices["sari"], "post", f"/cases/{sda_case.ticket}/decision",
               json={"decision": "approve", "note": "CATATAN-INTERNAL-SDA nomor KK baru 3515xxxx"}).status_code == 200
    run_jobs(app)
    chat = Chat(app, twilio, phone="+6281200000022", to=BGR)
    for answer in complaint_answers():
        chat.say(answer)
    bgr_case = case_of(app, "+6281200000022")
    assert bgr_case.branch.code == "KC-BGR" and bgr_case.ticket != sda_case.ticket
    assert api(app, offices["budi"], "post", f"/cases/{bgr_case.ticket}/claim").status_code == 200
    budi = logged_in(app, "budi")
    transcript = budi.get(f"/console/cases/{bgr_case.ticket}/chat").get_data(as_text=True)
    assert "Saya diminta bayar obat" in transcript  # their own case's conversation is there
    assert "CATATAN-INTERNAL-SDA" not in transcript, "KC-SDA's decision note leaks into KC-BGR's chat"


@pytest.mark.one_backend
def test_an_exact_branch_name_sharing_a_word_with_another_branch_is_found(app, twilio, offices):
    """Two branches share a word (Jakarta Selatan / Jakarta Pusat): a citizen who types the exact name is
    told 'no branch found' and asked again for ever (only 'lewati' gets them out)."""
    with app.app_context():
        session = db.session()
        branches.add(session, "KC-JKS", "KC Jakarta Selatan", ("whatsapp:+622150040101",))
        branches.add(session, "KC-JKP", "KC Jakarta Pusat", ("whatsapp:+622150040102",))
        session.commit()
    chat = Chat(app, twilio, phone="+6281200000023", to=NATIONAL)
    for answer in complaint_answers()[:-1]:
        replies = chat.say(answer)
    assert "Anda tinggal di kabupaten/kota mana?" in replies[-1]
    answer = chat.say("Jakarta Selatan")
    assert not any("belum menemukan kantor cabang" in r for r in answer), answer
    chat.say("ya")
    case = case_of(app, "+6281200000023")
    assert case is not None and case.branch.code == "KC-JKS"


def test_failures_of_ones_own_branch_are_not_hidden_behind_other_branches(app, offices):
    """The failures page reads the newest 200 failed messages of every branch, then keeps a branch's: a
    branch supervisor sees the count 1 but an empty list when other branches failed more recently."""
    with app.app_context():
        session = db.session()
        citizen = Citizen(phone="+6281200000024")
        session.add(citizen)
        session.flush()
        mine = InboundMessage(message_sid="SM" + "a" * 32, citizen_id=citizen.id, sender="whatsapp:+6281200000024",
                              to_number=SDA, body="halo", status=InboundStatus.FAILED, failure_reason="x")
        session.add(mine)
        session.flush()
        session.add_all(InboundMessage(message_sid=f"SM{n:032d}", citizen_id=citizen.id,
                                       sender="whatsapp:+6281200000024", to_number=BGR, body="halo",
                                       status=InboundStatus.FAILED, failure_reason="x") for n in range(200))
        session.commit()
        mine_id = mine.id
    page = logged_in(app, "sri").get("/console/failures").get_data(as_text=True)
    assert 'data-count="inbound">1<' in page
    assert f"/failures/inbound/{mine_id}/retry" in page, "KC-SDA's one failed message is counted but not listed"


def test_a_regency_saved_on_the_default_branch_routes_there(app, offices):
    """Admins may give the default branch regencies (nothing refuses it, and it blocks other branches from
    serving them), but routing ignores them: the citizen is asked where they live instead."""
    with app.app_context():
        session = db.session()
        try:
            branches.edit(session, DEFAULT_CODE, branches.Change(add_regencies=("3578",)))
        except branches.BranchError:
            return  # refused: what is saved is what runs
        session.commit()
        citizen = Citizen(phone="+6281200000025")
        session.add(citizen)
        session.flush()
        session.add(InboundMessage(message_sid="SM" + "b" * 32, citizen_id=citizen.id, sender="whatsapp:+6281200000025",
                                   to_number=NATIONAL, body="halo", status=InboundStatus.PROCESSED))
        session.flush()
        assert not routing.needs_choice(session, citizen.id, {"nik": "3578014505860003"}), \
            "a Surabaya NIK, served by the default branch, is asked where it lives"
        session.rollback()


def test_an_admin_cannot_give_the_national_sender_to_a_branch(app, offices):
    """TWILIO_WHATSAPP_NUMBER is the shared national sender (the default sender of every message without
    one). Saved as a branch's number, every citizen on it goes to that branch without NIK routing, and
    the default sender's messages count as that branch's."""
    adi = logged_in(app, "adi")
    response = adi.post("/console/admin/branches", data={
        "code": "KC-SBY", "name": "KC Surabaya", "numbers": "+14155238886", "regencies": "3578", "holidays": "",
        "contact": "", "note": "", "csrf_token": csrf(adi, "/console/admin/branches")})
    with app.app_context():
        saved = branches.by_code(db.session(), "KC-SBY")
        numbers = [n.number for n in saved.numbers] if saved else []
    assert response.status_code == 400 and "whatsapp:+14155238886" not in numbers, \
        "the national sender became KC-SBY's number"


def test_the_cli_does_not_save_other_days_than_asked(app, offices, runner):
    """`--days sat-mon` (a week that wraps) becomes an empty list, which check_hours turns into mon-fri:
    the branch is saved with days nobody asked for, and no error."""
    result = runner.invoke(args=["branches", "edit", "KC-SDA", "--days", "sat-mon"])
    with app.app_context():
        hours = branches.by_code(db.session(), "KC-SDA").hours
    assert result.exit_code != 0 or set(hours["days"]) == {"sat", "sun", "mon"}, (result.output, hours)


def test_an_officer_cannot_ask_the_citizen_again_for_what_is_thrown_away(app, offices):
    """'Kabupaten/kota' (branch_place) is a text step, so it is offered as an item to ask again (need
    info); the answer is an internal value request_fields drops, and nothing re-routes the case."""
    with app.app_context():
        flow = live.flows(app)["complaint"]
        assert "branch_place" not in dict(casework.askable_items(flow))


@pytest.mark.one_backend
def test_after_a_transfer_the_decision_preview_shows_what_the_citizen_gets(app, twilio, offices):
    """After KC-SDA → KC-BGR the citizen still writes to KC-SDA's number (in the 24h window): KC-BGR's
    decision goes on from there, in free text; the confirmation page must say what the citizen gets."""
    submit_nik_case(app, twilio, phone="+6281200000026", to=SDA, nik="3515014505860003")
    case = case_of(app, "+6281200000026")
    assert api(app, offices["nina"], "post", f"/cases/{case.ticket}/transfer",
               json={"branch": "KC-BGR", "reason": "Peserta pindah domisili ke Bogor"}).status_code == 200
    assert api(app, offices["budi"], "post", f"/cases/{case.ticket}/claim").status_code == 200
    with app.app_context():
        session = db.session()
        budi = session.scalar(select(Staff).where(Staff.name == "budi"))
        preview = casework.preview_decision(session, session.get(Case, case.id), budi, "approve", note="Sudah.")
        session.rollback()
    assert api(app, offices["budi"], "post", f"/cases/{case.ticket}/decision",
               json={"decision": "approve", "note": "Sudah."}).status_code == 200
    with app.app_context():
        sent = db.session().scalar(select(OutboundMessage).where(OutboundMessage.citizen_id == case.citizen_id)
                                   .order_by(OutboundMessage.id.desc()).limit(1))
    assert sent.sender == SDA
    assert preview.by_template == (sent.content_sid is not None), \
        f"preview says template={preview.by_template}, the citizen gets content_sid={sent.content_sid}"


def test_a_claim_racing_a_transfer_does_not_give_the_case_to_an_officer_who_cannot_see_it(app, offices):
    """sari's claim passed the door (KC-SDA's case) just before nina moved it to KC-BGR: the claim's
    compare-and-set looks at holder and status, not the branch, so sari ends up holding a KC-BGR case
    (out of her sight, and out of KC-BGR's reach: budi cannot claim it)."""
    bare_case(app, "PDW-RACE-0001", "KC-SDA", phone="+6281200000027")
    engine = app.extensions["db"].engine
    with Session(engine, expire_on_commit=False) as door, Session(engine, expire_on_commit=False) as other:
        sari = door.scalar(select(Staff).where(Staff.name == "sari"))
        stale = door.scalar(select(Case).where(Case.ticket == "PDW-RACE-0001"))
        assert visibility.sees(door, sari, stale)
        door.commit()
        nina = other.scalar(select(Staff).where(Staff.name == "nina"))
        moving = other.scalar(select(Case).where(Case.ticket == "PDW-RACE-0001"))
        bo.transfer(other, moving, nina, branches.by_code(other, "KC-BGR"), "Peserta tinggal di Bogor")
        other.commit()
        try:
            bo.claim(door, stale, sari)
            door.commit()
        except bo.BackofficeError:
            door.rollback()
    row = case_by(app, "PDW-RACE-0001")
    assert row.branch.code == "KC-BGR"
    with app.app_context():
        sari_id = db.session().scalar(select(Staff.id).where(Staff.name == "sari"))
    assert row.assigned_to != sari_id, "sari holds a KC-BGR case she cannot open"


def test_odd_branch_codes_are_404_not_500(app, offices):
    """A NUL in ?branch= (PostgreSQL refuses NUL in text) or a code no branch has."""
    bare_case(app, "PDW-ODD-0001", "KC-SDA", phone="+6281200000028", holder="sari", status=CaseStatus.IN_REVIEW)
    sari = logged_in(app, "sari")
    for path in ("/console/?branch=KC%00SDA", "/console/queue/rows?branch=%00", "/console/?branch=nope-nope",
                 "/console/?branch=" + "X" * 300):
        assert sari.get(path).status_code == 404, path
    for path in ("/cases?branch=KC%00SDA", "/cases?branch=" + "x" * 300):
        assert api(app, offices["sari"], "get", path).status_code == 404, path
    moved = api(app, offices["sari"], "post", "/cases/PDW-ODD-0001/transfer",
                json={"branch": "KC\u0000BGR", "reason": "Peserta tinggal di Bogor"})
    assert moved.status_code == 400, moved.get_data(as_text=True)[:300]


# ============================================================ guarantees (these pass)

def test_transfer_rules_on_odd_input(app, offices):
    bare_case(app, "PDW-TR-0001", "KC-SDA", phone="+6281200000030", holder="sari", status=CaseStatus.IN_REVIEW)
    bare_case(app, "PDW-TR-0002", "KC-BGR", phone="+6281200000031", status=CaseStatus.CLOSED)
    bare_case(app, "PDW-TR-0003", None, phone="+6281200000032")                  # from before branches
    bare_case(app, "PDW-TR-0004", "KC-SDA", phone=None)                         # citizen erased
    t = "/cases/PDW-TR-0001/transfer"
    for body, status in (({}, 400), ({"branch": 5, "reason": "alasan cukup"}, 400),
                         ({"branch": "KC-NOPE", "reason": "alasan cukup"}, 400),
                         ({"branch": "KC-BGR"}, 400), ({"branch": "KC-BGR", "reason": "   ab   "}, 400),
                         ({"branch": "KC-BGR", "reason": "x" * 501}, 400),
                         ({"branch": "kc-sda", "reason": "alasan cukup"}, 409)):
        answer = api(app, offices["sari"], "post", t, json=body)
        assert answer.status_code == status, (body, answer.status_code, answer.get_json())
    assert api(app, offices["tono"], "post", t, json={"branch": "KC-BGR", "reason": "alasan cukup"}).status_code == 403
    assert api(app, offices["budi"], "post", t, json={"branch": "KC-BGR", "reason": "alasan cukup"}).status_code == 404
    moved = api(app, offices["sari"], "post", t, json={"branch": "kc-bgr", "reason": "  Peserta   di Bogor  "})
    assert moved.status_code == 200 and moved.get_json()["branch"] == "KC-BGR"
    assert api(app, offices["sari"], "get", "/cases/PDW-TR-0001").status_code == 404
    with app.app_context():
        told = db.session().scalars(select(OutboundMessage).join(Citizen, Citizen.id == OutboundMessage.citizen_id)
                                    .where(Citizen.phone == "+6281200000030")).all()
    assert len(told) == 1
    assert api(app, offices["nina"], "post", "/cases/PDW-TR-0002/transfer",
               json={"branch": "KC-SDA", "reason": "alasan cukup"}).status_code == 409   # closed
    assert api(app, offices["nina"], "post", "/cases/PDW-TR-0003/transfer",
               json={"branch": "KC-SDA", "reason": "Kasus lama tanpa cabang"}).status_code == 200
    assert api(app, offices["sari"], "get", "/cases/PDW-TR-0003").status_code == 200
    assert api(app, offices["nina"], "post", "/cases/PDW-TR-0004/transfer",
               json={"branch": "KC-BGR", "reason": "Data warga sudah dihapus"}).status_code == 200
    # Two transfers from the same state: only the first happens.
    bare_case(app, "PDW-TR-0005", "KC-SDA", phone="+6281200000033")
    engine = app.extensions["db"].engine
    with Session(engine, expire_on_commit=False) as one, Session(engine, expire_on_commit=False) as two:
        nina_1, nina_2 = (s.scalar(select(Staff).where(Staff.name == "nina")) for s in (one, two))
        c1, c2 = (s.scalar(select(Case).where(Case.ticket == "PDW-TR-0005")) for s in (one, two))
        one.commit(), two.commit()
        bo.transfer(one, c1, nina_1, branches.by_code(one, "KC-BGR"), "Peserta di Bogor")
        one.commit()
        with pytest.raises(bo.BackofficeError):
            bo.transfer(two, c2, nina_2, branches.by_code(two, DEFAULT_CODE), "Peserta di Jakarta")
    assert case_by(app, "PDW-TR-0005").branch.code == "KC-BGR"


def test_lists_counts_search_and_exports_stay_in_the_branch(app, offices):
    bare_case(app, "PDW-SC-0001", "KC-SDA", phone="+6281200000040", name="Ibu Wulandari",
              fields={"nik": "3515014505860099", "member_name": "Wulandari"})
    bare_case(app, "PDW-SC-0002", "KC-BGR", phone="+6281200000041", name="Pak Bogor")
    budi = logged_in(app, "budi")
    token = csrf(budi, "/console/")
    for term in ("081200000040", "3515014505860099", "Wulandari", "PDW-SC-0001"):
        page = budi.post("/console/search", data={"q": term, "csrf_token": token}, follow_redirects=True)
        assert 'data-ticket="PDW-SC-0001"' not in page.get_data(as_text=True), term
    fragment = budi.get("/console/queue/rows").get_data(as_text=True)
    assert 'data-ticket="PDW-SC-0002"' in fragment and 'data-ticket="PDW-SC-0001"' not in fragment
    sri = logged_in(app, "sri")
    csv_text = sri.get("/console/dashboard.csv").get_data(as_text=True)
    assert "PDW-SC-0001" in csv_text and "PDW-SC-0002" not in csv_text
    assert sri.get("/console/dashboard.csv?branch=KC-BGR").status_code == 404
    assert sri.get("/console/dashboard?branch=kc-bgr").status_code == 404
    assert sri.get("/console/dashboard?branch=kc-sda").status_code == 200
    assert api(app, offices["budi"], "get", "/cases").get_json()["total"] == 1
    nina = logged_in(app, "nina")
    both = nina.get("/console/dashboard.csv").get_data(as_text=True)
    assert "PDW-SC-0001" in both and "PDW-SC-0002" in both
    # A branch supervisor's export of another branch's citizen: no data.
    response = sri.post("/console/privacy/export", data={"phone": "081200000041",
                                                         "csrf_token": csrf(sri, "/console/privacy")})
    assert response.status_code == 302


def test_a_branch_sla_and_calendar_set_the_due_time(app, offices):
    with app.app_context():
        session = db.session()
        branches.edit(session, "KC-SDA", branches.Change(sla_hours={"complaint": 2}), ("complaint",))
        session.flush()
        sda = branches.by_code(session, "KC-SDA")
        product = app.config["PRODUCT"]
        case = Case(ticket="PDW-CAL-0001", service="complaint", status=CaseStatus.SUBMITTED, fields={},
                    branch_id=sda.id, branch=sda, created_at=utcnow())
        session.add(case)
        session.flush()
        assert schedule(session, case, product)
        assert abs(as_utc(case.sla_due_at) - (as_utc(case.created_at) + timedelta(hours=2))) < timedelta(minutes=1)
        cal = routing.calendar(product, branches.by_code(session, "KC-BGR"))
        assert product.calendar.holidays <= cal.holidays
        session.rollback()
