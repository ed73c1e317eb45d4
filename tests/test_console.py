"""The agents' console: login, CSRF, roles, queue, case page, documents, decisions, handoff, satisfaction."""
from __future__ import annotations


import pytest
from sqlalchemy import func, select

from bot import create_app
from storage import db
from storage.cases import Case
from storage.models import Conversation
from storage.staff import AuditLog, Satisfaction, Staff
from tests.helpers import STAFF_PASSWORD, add_staff, Chat, complaint_answers, csrf, login, submit_nik_case
from tests.images import document_photo

PASSWORD = STAFF_PASSWORD


@pytest.fixture
def app(env):
    app = create_app({"ENV": {**env, "MEDIA_ALLOWED_HOSTS": "localhost"}, "TESTING": True})
    add_staff(app, ("ani", "agent"), ("budi", "agent"), ("sri", "supervisor"))
    yield app
    app.extensions["db"].dispose()


def post(client, path, referer, **data):
    return client.post(path, data={**data, "csrf_token": csrf(client, referer)})


@pytest.fixture
def nik_case(app, twilio) -> tuple[Chat, str]:
    chat = submit_nik_case(app, twilio)
    with app.app_context():
        return chat, db.session().scalar(select(Case.ticket))


def test_login_logout_and_wrong_password(app):
    client = app.test_client()
    assert client.get("/console/").status_code == 302  # to the login page
    assert login(client, "ani", "salah-sandi-xx").status_code == 401
    assert login(client, "ani").status_code == 302
    assert "Antrean kasus" in client.get("/console/").get_data(as_text=True)
    post(client, "/console/logout", "/console/")
    assert client.get("/console/").status_code == 302


def test_lock_out_after_repeated_failures(app):
    client = app.test_client()
    for _ in range(5):
        login(client, "budi", "salah-sandi-xx")
    assert login(client, "budi").status_code == 429  # even the right password, for a while, from here
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.1.2.3"  # but nobody can lock budi out from another address
    assert login(elsewhere, "budi").status_code == 302


def test_forms_without_the_csrf_token_are_refused(app):
    client = app.test_client()
    response = client.post("/console/login", data={"name": "ani", "password": PASSWORD})
    assert response.status_code == 400


def test_passwords_are_stored_hashed(app):
    with app.app_context():
        stored = db.session().scalar(select(Staff.password_hash).where(Staff.name == "ani"))
    assert PASSWORD not in stored and stored.startswith(("scrypt:", "pbkdf2:"))


def test_queue_shows_the_case_and_updates_without_reload(app, nik_case):
    _, ticket = nik_case
    client = app.test_client()
    login(client, "ani")
    page = client.get("/console/").get_data(as_text=True)
    assert ticket in page and "Ubah / perbaiki NIK" in page and 'data-refresh="/console/queue/rows' in page
    fragment = client.get("/console/queue/rows?service=change_nik").get_data(as_text=True)
    assert ticket in fragment and "<html" not in fragment
    assert ticket not in client.get("/console/queue/rows?service=complaint").get_data(as_text=True)


def test_case_page_masks_the_number_until_claimed_and_audits_every_view(app, nik_case):
    _, ticket = nik_case
    client = app.test_client()
    login(client, "ani")
    page = client.get(f"/console/cases/{ticket}").get_data(as_text=True)
    assert "+62*******7890" in page and "+6281234567890" not in page
    post(client, f"/console/cases/{ticket}/claim", f"/console/cases/{ticket}")
    page = client.get(f"/console/cases/{ticket}").get_data(as_text=True)
    assert "+6281234567890" in page and "3201234505860003" in page
    with app.app_context():
        views = db.session().scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "view_case"))
    assert views == 3


def test_a_second_agent_cannot_take_a_held_case(app, nik_case):
    _, ticket = nik_case
    ani, budi = app.test_client(), app.test_client()
    login(ani, "ani")
    login(budi, "budi")
    post(ani, f"/console/cases/{ticket}/claim", f"/console/cases/{ticket}")
    post(budi, f"/console/cases/{ticket}/claim", f"/console/cases/{ticket}")
    with app.app_context():
        case = db.session().scalar(select(Case))
        holder = db.session().get(Staff, case.assigned_to).name
    assert holder == "ani"


def test_documents_only_for_logged_in_staff_and_audited(app, nik_case):
    _, ticket = nik_case
    with app.app_context():
        doc_id = db.session().scalar(select(Case)).documents[0].id
    url = f"/console/cases/{ticket}/documents/{doc_id}"
    anonymous = app.test_client().get(url)
    assert anonymous.status_code == 302 and "/console/login" in anonymous.headers["Location"]
    client = app.test_client()
    login(client, "ani")
    assert client.get(url).status_code == 403  # documents are for the agent holding the case
    post(client, f"/console/cases/{ticket}/claim", f"/console/cases/{ticket}")
    got = client.get(url)
    assert got.status_code == 200 and got.mimetype == "image/jpeg" and got.data == document_photo(seed=1)
    assert "no-store" in got.headers["Cache-Control"]
    assert client.get(f"/console/cases/{ticket}/documents/{doc_id + 999}").status_code == 404
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "view_document")) == 1


def test_approve_tells_the_citizen_then_close_asks_for_a_rating(app, nik_case, twilio):
    chat, ticket = nik_case
    client = app.test_client()
    login(client, "ani")
    page = f"/console/cases/{ticket}"
    post(client, f"{page}/claim", page)
    post(client, f"{page}/decision", page, confirmed="1", decision="approve", note="NIK sudah diperbarui.")
    [told] = chat.replies()
    assert ticket in told and "DISETUJUI" in told and "NIK sudah diperbarui." in told
    post(client, f"{page}/close", page)
    [question] = chat.replies()
    assert "Sangat puas" in question and ticket in question
    assert "saran" in chat.last("3")
    assert "Terima kasih" in chat.last("Pelayanan cepat sekali")
    with app.app_context():
        rating = db.session().scalar(select(Satisfaction))
        assert (rating.rating, rating.comment) == (3, "Pelayanan cepat sekali")
        assert db.session().scalar(select(Case)).status == "closed"


def test_reject_needs_a_configured_reason(app, nik_case, twilio):
    chat, ticket = nik_case
    client = app.test_client()
    login(client, "ani")
    page = f"/console/cases/{ticket}"
    post(client, f"{page}/claim", page)
    refused = post(client, f"{page}/decision", page, confirmed="1", decision="reject", reason="because")
    assert refused.status_code == 302 and chat.replies() == []
    post(client, f"{page}/decision", page, confirmed="1", decision="reject", reason="documents_unreadable")
    [told] = chat.replies()
    assert "ditolak" in told and "dokumen tidak terbaca" in told


def test_need_info_reopens_just_that_item_and_returns_the_case_flagged(app, nik_case, twilio):
    chat, ticket = nik_case
    client = app.test_client()
    login(client, "ani")
    page = f"/console/cases/{ticket}"
    post(client, f"{page}/claim", page)
    post(client, f"{page}/decision", page, confirmed="1", decision="need_info", item="kk", note="Foto KK terpotong.")
    [asked] = chat.replies()
    assert "data tambahan" in asked and "Kartu Keluarga" in asked and "terpotong" in asked
    [thanks] = chat.photo(document_photo(seed=9))
    assert ticket in thanks and "sudah kami terima" in thanks
    with app.app_context():
        case = db.session().scalar(select(Case))
        assert case.status == "in_review" and case.updated_by_citizen and case.assigned_to is not None
        assert sorted(d.kind for d in case.documents) == ["kk", "kk", "ktp"]
    assert "diperbarui" in client.get("/console/queue/rows").get_data(as_text=True)


def test_agent_chat_silences_the_bot_until_handed_back(app, nik_case, twilio):
    chat, ticket = nik_case
    client = app.test_client()
    login(client, "ani")
    page = f"/console/cases/{ticket}"
    post(client, f"{page}/claim", page)
    post(client, f"{page}/message", page, text="Selamat siang Bu, foto KK kurang jelas ya.")
    assert chat.replies() == ["Selamat siang Bu, foto KK kurang jelas ya."]
    assert chat.say("baik pak saya kirim ulang") == []  # the bot stays silent
    transcript = client.get(page).get_data(as_text=True)
    assert "baik pak saya kirim ulang" in transcript
    post(client, f"{page}/handback", page)
    assert "Percakapan dengan petugas selesai" in chat.replies()[0]
    assert chat.say("menu")  # the bot answers again
    with app.app_context():
        assert db.session().scalar(select(Conversation)).handoff_since is None


def test_agents_cannot_reassign_supervisors_can(app, nik_case):
    _, ticket = nik_case
    page = f"/console/cases/{ticket}"
    agent = app.test_client()
    login(agent, "ani")
    assert post(agent, f"{page}/reassign", page, to="2").status_code == 403
    supervisor = app.test_client()
    login(supervisor, "sri")
    post(supervisor, f"{page}/reassign", page, to="2")
    with app.app_context():
        assert db.session().scalar(select(Case)).assigned_to == 2


def test_script_in_profile_name_is_shown_as_text(app, twilio):
    chat = Chat(app, twilio, name="<script>alert(1)</script>")
    for answer in complaint_answers("1", "<img src=x onerror=alert(1)>", "Saya ditolak di loket pendaftaran"):
        chat.say(answer)
    with app.app_context():
        ticket = db.session().scalar(select(Case.ticket))
    client = app.test_client()
    login(client, "ani")
    post(client, f"/console/cases/{ticket}/claim", f"/console/cases/{ticket}")  # the holder sees them whole
    page = client.get(f"/console/cases/{ticket}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<img src=x" not in page


def test_a_citizen_asking_for_an_officer_appears_in_the_queue_and_is_answered_from_the_console(app, twilio):
    chat = Chat(app, twilio)
    chat.say("halo")
    assert "petugas" in chat.last("petugas")
    assert "sudah kami terima" in chat.last("halo?")  # when an officer will read it
    assert chat.say("tolong ya") == []  # not after every line; a second message opens no second case
    with app.app_context():
        [case] = db.session().scalars(select(Case)).all()
        assert case.service == "handoff" and case.queued_at is not None
    client = app.test_client()
    login(client, "ani")
    assert "Minta bicara dengan petugas" in client.get("/console/").get_data(as_text=True)
    page = f"/console/cases/{case.ticket}"
    post(client, f"{page}/claim", page)
    assert "tolong ya" in client.get(page).get_data(as_text=True)
    post(client, f"{page}/message", page, text="Selamat siang Ibu, ada yang bisa dibantu?")
    assert chat.replies() == ["Selamat siang Ibu, ada yang bisa dibantu?"]
    post(client, f"{page}/handback", page)
    post(client, f"{page}/close", page)
    handback, survey = chat.replies()
    assert "selesai" in handback and "Sangat puas" in survey


def test_overdue_cases_are_highlighted_and_release_returns_a_case(app, nik_case):
    from datetime import timedelta

    from storage.models import utcnow

    _, ticket = nik_case
    with app.app_context():
        case = db.session().scalar(select(Case))
        case.sla_due_at = utcnow() - timedelta(hours=1)
        db.session().commit()
    client = app.test_client()
    login(client, "ani")
    rows = client.get("/console/queue/rows").get_data(as_text=True)
    assert 'class="overdue"' in rows and "terlambat" in rows
    page = f"/console/cases/{ticket}"
    post(client, f"{page}/claim", page)
    post(client, f"{page}/release", page)
    with app.app_context():
        case = db.session().scalar(select(Case))
        assert case.assigned_to is None and case.status == "submitted"


def test_sessions_expire(app):
    import time
    from datetime import timedelta

    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=1)
    client = app.test_client()
    login(client, "ani")
    assert client.get("/console/").status_code == 200
    time.sleep(2.1)
    assert client.get("/console/").status_code == 302
