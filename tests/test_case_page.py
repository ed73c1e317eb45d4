"""The case page built for the decision: the registry beside the documents, human labels, an explicit,
confirmed decision, the live chat with unread counts and canned replies, need-info answers back to
the officer who asked, and Indonesian wherever staff look (errors, history, API)."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from pypdf import PdfWriter
from sqlalchemy import func, select

from bot import create_app
from bot.accounts import new_token
from flows import conversation
from handlers.inbox import unread_counts
from storage import db
from storage.cases import Case, CannedReply, CaseStatus
from storage.membership import Participant
from storage.models import utcnow
from storage.staff import AuditLog, Staff
from tests.helpers import Chat, add_staff, csrf, logged_in, submit_nik_case
from tests.images import document_photo


pytestmark = pytest.mark.one_backend  # one database is enough here


@pytest.fixture
def app(env):
    app = create_app({"ENV": {**env, "MEDIA_ALLOWED_HOSTS": "localhost"}, "TESTING": True})
    add_staff(app, ("ani", "agent"), ("budi", "agent"), ("sri", "supervisor"), ("adi", "admin"))
    yield app
    app.extensions["db"].dispose()


def post(client, path, referer, **data):
    return client.post(path, data={**data, "csrf_token": csrf(client, referer)})


def case_row(app) -> Case:
    with app.app_context():
        case = db.session().scalar(select(Case).order_by(Case.id.desc()))
        db.session().expunge(case)
        return case


@pytest.fixture
def held(app, twilio):
    """A change-NIK case (typed NIK ...0003; the registry has ...0011 for that card), held by ani."""
    chat = submit_nik_case(app, twilio)
    ticket = case_row(app).ticket
    ani = logged_in(app, "ani")
    post(ani, f"/console/cases/{ticket}/claim", f"/console/cases/{ticket}")
    return chat, ticket, ani


def test_the_registry_panel_shows_the_participant_and_highlights_what_differs(held):
    _, ticket, ani = held
    page = ani.get(f"/console/cases/{ticket}").get_data(as_text=True)
    panel = page[page.index('id="registry"'):page.index('id="citizen"')]
    for shown in ("Aktif", "Sari Wulandari", "3201234505860011", "Mandiri / PBPU", "Kelas 3",
                  "Klinik Pratama Sehat Sejahtera"):
        assert shown in panel, shown
    differs = re.search(r'<tr class="differs">.*?</tr>', panel, re.S).group()
    assert "NIK terdaftar" in differs and "3201234505860003" in differs and "berbeda" in differs


def test_non_holders_get_no_registry_panel(app, held):
    _, ticket, _ = held
    page = logged_in(app, "budi").get(f"/console/cases/{ticket}").get_data(as_text=True)
    assert 'id="registry"' not in page and "3201234505860011" not in page


@pytest.fixture
def reactivation(app, twilio):
    """A reactivation past nothing: PBI by decree, in DTKS, with a PDF letter from Dinas Sosial."""
    with app.app_context():
        member = db.session().scalar(select(Participant).where(
            Participant.active.is_(False), Participant.inactive_reason == "decree", Participant.in_dtks.is_(True),
            Participant.decree_number == "45/HUK/2026"))
        card, born = member.card_number, member.birth_date.strftime("%d-%m-%Y")
    chat = Chat(app, twilio, phone="+6281211112222")
    for answer in ("4", card, born):
        chat.say(answer)
    for seed in (1, 2, 3):
        chat.photo(document_photo(seed=seed))
    writer, out = PdfWriter(), io.BytesIO()
    writer.add_blank_page(width=595, height=842)
    writer.write(out)
    chat.photo(out.getvalue(), "application/pdf")
    chat.say("ya")
    ticket = case_row(app).ticket
    ani = logged_in(app, "ani")
    post(ani, f"/console/cases/{ticket}/claim", f"/console/cases/{ticket}")
    return ticket, ani


def test_every_label_on_the_case_page_is_a_human_word(reactivation):
    ticket, ani = reactivation
    page = ani.get(f"/console/cases/{ticket}").get_data(as_text=True)
    visible = re.sub(r"<[^>]+>", " ", page)
    for raw in ("segment_label", "PBI_APBN", "past_deadline", "needs_sktm", "True", "False", "dinsos_letter",
                " ktp ", " kk ", "created", "claimed", "× ·", " 0 KB"):
        assert raw not in visible, raw
    for human in ("Segmen kepesertaan", "Lewat batas 6 bulan SK", "Surat Dinas Sosial", "Foto KTP",
                  "Kasus dibuat", "Diambil petugas", "Tidak aktif (dinonaktifkan SK Mensos)", "PDF ·"):
        assert human in visible, human
    assert re.search(r"\d{1,2} (Jan|Feb|Mar|Apr|Mei|Jun|Jul|Agu|Sep|Okt|Nov|Des) \d{4}, \d{2}\.\d{2} WI(B|TA|T)", visible)


def test_a_pdf_is_previewed_in_a_frame_the_console_alone_may_show(reactivation):
    ticket, ani = reactivation
    page = ani.get(f"/console/cases/{ticket}").get_data(as_text=True)
    src = re.search(r'<iframe src="([^"]+)"[^>]*data-pdf', page).group(1)
    pdf = ani.get(src)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert pdf.headers["X-Frame-Options"] == "SAMEORIGIN"
    policy = pdf.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in policy and "object-src 'none'" in policy and "default-src 'self'" in policy
    assert ani.get(f"/console/cases/{ticket}").headers["X-Frame-Options"] == "DENY"  # pages stay unframeable


def test_a_decision_is_chosen_explicitly_and_confirmed_before_anything_is_sent(app, twilio, held):
    chat, ticket, ani = held
    page = ani.get(f"/console/cases/{ticket}").get_data(as_text=True)
    assert 'type="radio" name="decision"' in page and "checked" not in page.split('id="decision-form"')[1][:3000]
    case_url = f"/console/cases/{ticket}"
    nothing = post(ani, f"{case_url}/decision", case_url, note="x")
    assert nothing.status_code == 302 and case_row(app).status == CaseStatus.IN_REVIEW
    confirm = post(ani, f"{case_url}/decision", case_url, decision="reject", reason="data_mismatch", note="Cek KK.")
    body = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and 'id="confirm-send"' in body
    assert "data tidak sesuai dengan dokumen" in body and "Cek KK." in body and ticket in body
    chat.replies()
    assert case_row(app).status == CaseStatus.IN_REVIEW and chat.replies() == []  # nothing yet
    post(ani, f"{case_url}/decision", case_url, decision="reject", reason="data_mismatch", note="Cek KK.",
         confirmed="1")
    assert case_row(app).status == CaseStatus.REJECTED
    [told] = chat.replies()
    assert "data tidak sesuai dengan dokumen" in told and "Cek KK." in told


def test_need_info_confirmation_shows_the_question_the_citizen_will_be_asked(app, held):
    _, ticket, ani = held
    case_url = f"/console/cases/{ticket}"
    body = post(ani, f"{case_url}/decision", case_url, decision="need_info", item="kk").get_data(as_text=True)
    assert "Foto KK" in body and "Kartu Keluarga" in body  # the item by its label, and the question itself
    assert case_row(app).status == CaseStatus.IN_REVIEW


def test_a_need_info_answer_goes_back_to_the_officer_who_asked_flagged(app, held):
    chat, ticket, ani = held
    case_url = f"/console/cases/{ticket}"
    post(ani, f"{case_url}/decision", case_url, decision="need_info", item="kk", confirmed="1")
    post(ani, f"{case_url}/release", case_url)  # ani goes home; the citizen answers the next day
    assert case_row(app).assigned_to is None
    chat.replies()
    chat.photo(document_photo(seed=7))
    case = case_row(app)
    assert case.status == CaseStatus.IN_REVIEW and case.updated_by_citizen
    page = ani.get(case_url).get_data(as_text=True)
    assert 'data-holder>ani<' in page and "Dikembalikan ke petugas penanya" in page
    assert "kembali ke petugas yang meminta" in page
    assert page.count("dikirim ulang") >= 1  # the new KK is told apart from the first


def test_the_chat_fragment_counts_unread_and_marks_them_read_for_the_holder(app, held):
    chat, ticket, ani = held
    case_url = f"/console/cases/{ticket}"
    ani.get(case_url)
    chat.say("Pak, kapan selesai?")
    with app.app_context():
        case_id = case_row(app).id
        assert unread_counts(db.session(), [case_id]) == {case_id: 1}
    sri = logged_in(app, "sri")
    assert "Pak, kapan selesai?" in sri.get(f"{case_url}/chat").get_data(as_text=True)
    with app.app_context():
        assert unread_counts(db.session(), [case_id]) == {case_id: 1}  # a supervisor's look leaves it unread
    fragment = ani.get(f"{case_url}/chat", headers={"X-Auto-Refresh": "1"}).get_data(as_text=True)
    assert "Pak, kapan selesai?" in fragment and "<html" not in fragment and "baru" in fragment
    with app.app_context():
        assert unread_counts(db.session(), [case_id]) == {}
    assert logged_in(app, "budi").get(f"{case_url}/chat").status_code == 403


def test_sending_from_the_page_script_answers_json_without_a_redirect(app, held):
    chat, ticket, ani = held
    case_url = f"/console/cases/{ticket}"
    chat.replies()
    sent = ani.post(f"{case_url}/message", data={"text": "Sedang kami proses, Bu.", "csrf_token": csrf(ani, case_url)},
                    headers={"X-Requested-With": "fetch"})
    assert sent.status_code == 200 and sent.get_json() == {"ok": True}
    assert chat.replies() == ["Sedang kami proses, Bu."]
    empty = ani.post(f"{case_url}/message", data={"text": " ", "csrf_token": csrf(ani, case_url)},
                     headers={"X-Requested-With": "fetch"})
    assert empty.status_code == 400 and empty.get_json()["error"] == "pesannya kosong"


def test_admins_keep_canned_replies_that_holders_see(app, held):
    _, ticket, ani = held
    adi = logged_in(app, "adi")
    post(adi, "/console/admin/replies", "/console/admin/replies", title="Sedang diproses",
         body="Permohonan Anda sedang kami periksa. Mohon ditunggu.")
    post(adi, "/console/admin/replies", "/console/admin/replies", title="Sedang diproses", body="dua kali")
    with app.app_context():
        rows = db.session().scalars(select(CannedReply)).all()
        assert [(r.title, r.body) for r in rows] == [("Sedang diproses",
                                                       "Permohonan Anda sedang kami periksa. Mohon ditunggu.")]
        assert db.session().scalar(select(func.count()).select_from(AuditLog)
                                   .where(AuditLog.action == "canned_reply")) == 1
    page = ani.get(f"/console/cases/{ticket}").get_data(as_text=True)
    assert 'data-body="Permohonan Anda sedang kami periksa. Mohon ditunggu."' in page
    assert logged_in(app, "sri").get("/console/admin/replies").status_code == 403


@pytest.mark.parametrize("method, path, kwargs", [
    ("get", "/api/cases?status=open", {}),
    ("get", "/api/cases?limit=x", {}),
    ("get", "/api/cases/PDW-20000101-0001", {}),
    ("post", "/api/cases/PDW-20000101-0001/decision", {"data": "not json"}),
    ("delete", "/api/cases", {}),
    ("get", "/api/nowhere", {}),
])
def test_api_errors_are_in_indonesian(app, method, path, kwargs):
    with app.app_context():
        ani = db.session().scalar(select(Staff).where(Staff.name == "ani"))
        token = new_token(db.session(), ani)
        db.session().commit()
    response = getattr(app.test_client(), method)(path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
    assert 400 <= response.status_code < 500
    message = response.get_json()["error"]
    assert not re.search(r"\b(must|unknown|not allowed|no case|the body|endpoint at)\b", message), message


def test_console_errors_are_in_indonesian(app):
    page = logged_in(app, "ani").get("/console/cases/PDW-20000101-0001")
    assert page.status_code == 404 and "Tidak ditemukan" in page.get_data(as_text=True)


def test_resetting_a_conversation_gives_a_waiting_request_back_to_the_agents(app, held):
    _, ticket, ani = held
    case_url = f"/console/cases/{ticket}"
    post(ani, f"{case_url}/decision", case_url, decision="need_info", item="kk", confirmed="1")
    with app.app_context():
        session = db.session()
        citizen_id = case_row(app).citizen_id
        assert conversation.reset(session, citizen_id) is True
        session.commit()
        assert conversation.reset(session, citizen_id) is False
        session.rollback()  # no transaction left open for the next test's clean-up to wait on
    case = case_row(app)
    assert case.status == CaseStatus.SUBMITTED and case.assigned_to is None  # not waiting for ever


# Words that betray an English label, a raw code or a Python value on a page staff read.
ENGLISH = re.compile(r"\b(the|and|of|is|not|must|cannot|claimed|created|released|submitted|in_review|need_info|"
                     r"approved|rejected|published|superseded|draft|agent|error|None|True|False|segment_label|"
                     r"reassign|view_case|take_over|hand_back|console)\b")


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style|pre|textarea|code)\b.*?</\1>", " ", html, flags=re.S)  # YAML and code stay as they are
    html = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"&\w+;", " ", html)


def test_every_console_page_speaks_indonesian(app, held):
    chat, ticket, ani = held
    case_url = f"/console/cases/{ticket}"
    post(ani, f"{case_url}/message", case_url, text="Halo Bu")
    post(ani, f"{case_url}/decision", case_url, decision="need_info", item="kk", confirmed="1")
    adi = logged_in(app, "adi")
    post(adi, "/console/admin/replies", "/console/admin/replies", title="Salam", body="Selamat pagi.")
    pages = ["/console/", f"{case_url}", "/console/dashboard", "/console/failures", "/console/privacy",
             "/console/admin/", "/console/admin/flows/change_nik", "/console/admin/history/flow:change_nik",
             "/console/admin/texts", "/console/admin/settings", "/console/admin/staff", "/console/admin/replies",
             "/console/admin/decrees", "/console/password", "/console/queue/rows?status=all"]
    for path in pages:
        response = adi.get(path)
        if response.status_code == 404 and "admin" in path:
            continue  # an admin page of a later issue
        assert response.status_code == 200, path
        found = ENGLISH.findall(visible_text(response.get_data(as_text=True)))
        assert found == [], (path, found)


def test_outside_the_24_hour_window_the_confirmation_says_only_the_template_goes(app, held):
    _, ticket, ani = held
    case_url = f"/console/cases/{ticket}"
    inside = post(ani, f"{case_url}/decision", case_url, decision="approve", note="Catatan penting")
    assert 'id="outside-window"' not in inside.get_data(as_text=True)
    with app.app_context():
        session = db.session()
        citizen = session.get(Case, case_row(app).id).citizen
        citizen.last_inbound_at = utcnow() - timedelta(days=2)
        session.commit()
    outside = post(ani, f"{case_url}/decision", case_url, decision="approve", note="Catatan penting")
    body = outside.get_data(as_text=True)
    assert 'id="outside-window"' in body and "disetujui" in body and "catatan Anda tidak ikut terkirim" in body


@pytest.mark.parametrize("method, path, status", [
    ("get", "/console/nothing-here", 404),
    ("get", "/console/cases/PDW-X/decision", 405),
])
def test_console_routing_errors_are_in_indonesian_too(app, method, path, status):
    page = getattr(logged_in(app, "ani"), method)(path)
    assert page.status_code == status and "<title>Kesalahan" in page.get_data(as_text=True)
    assert "Not Found" not in page.get_data(as_text=True) and "Method Not Allowed" not in page.get_data(as_text=True)
