"""The citizen services end to end: signed webhook, real worker, local Twilio (media behind basic
auth with a redirect to its CDN), real database. The NLU is not the subject here: an in-process
double answers with intents (tests/nlu_double.py); test_nlu.py runs sentences through the real Rasa."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import create_app
from handlers.privacy import mask_name
from handlers.registry import load_csv
from storage import db
from storage.cases import Case, CaseStatus, Document
from storage.membership import Participant
from storage.models import Conversation, utcnow
from tests.helpers import Chat, awake
from tests.images import document_photo
from tests.nlu_double import KeywordNLU

SHARP = document_photo(seed=1)
SHARP_2 = document_photo(seed=2)
SHARP_3 = document_photo(seed=3)
SHARP_4 = document_photo(seed=4)
SHARP_5 = document_photo(seed=5)
BLURRY = document_photo(seed=6, blur=5)


pytestmark = pytest.mark.one_backend  # one database is enough here


@pytest.fixture
def app(env):
    app = create_app({"ENV": {**env, "MEDIA_ALLOWED_HOSTS": "localhost"}, "TESTING": True})
    app.extensions["nlu"] = KeywordNLU()
    with app.app_context():
        load_csv(db.session())
        db.session().commit()
    yield app
    app.extensions["db"].dispose()


@pytest.fixture
def chat(app, twilio) -> Chat:
    return Chat(app, twilio)


def participant(app, **where) -> Participant:
    with app.app_context():
        query = select(Participant)
        for key, value in where.items():
            query = query.where(getattr(Participant, key) == value)
        return db.session().scalars(query.order_by(Participant.id)).first()


def cases(app) -> list[Case]:
    with app.app_context():
        found = db.session().scalars(select(Case).order_by(Case.id)).all()
        for case in found:
            _ = case.documents, case.events
        return found


def dob(p: Participant) -> str:
    return p.birth_date.strftime("%d-%m-%Y")


def test_change_nik_from_a_sentence_to_a_queued_case(app, chat, twilio):
    first = chat.last("min nik di kartu bpjs saya beda sama yang di ktp")
    assert "Ubah / perbaiki NIK" in first and "nomor kartu JKN-KIS" in first
    assert "NIK yang benar" in chat.last("0001234567890")
    assert "foto KTP" in chat.last("3201234505860003")
    reply = chat.photo(SHARP)
    assert "Foto KTP diterima" in reply[0] and "Kartu Keluarga" in reply[0]
    summary = chat.photo(SHARP_2)[0]
    assert "0001234567890" in summary and "3201234505860003" in summary and "YA" in summary
    done = chat.last("ya")
    [case] = cases(app)
    assert case.ticket in done and case.ticket.startswith("PDW-") and case.ticket.endswith("-0001")
    assert case.service == "change_nik" and case.status == CaseStatus.SUBMITTED
    assert case.fields["card_number"] == "0001234567890" and case.fields["nik"] == "3201234505860003"
    assert sorted(d.kind for d in case.documents) == ["kk", "ktp"]
    assert all(d.content_type == "image/jpeg" and d.width == 1200 and len(d.sha256) == 64 for d in case.documents)
    # The backoffice job ran (chat.replies runs every queue): SLA due time and visible to agents.
    assert case.queued_at is not None and case.sla_due_at is not None
    assert [e.kind for e in case.events] == ["created", "queued"]
    assert "jam kerja" in done or "Kantor tutup" in done
    assert twilio.cdn_auth_headers_seen == []


def test_invalid_answers_repeat_the_question_with_what_is_expected_then_offer_a_way_out(chat):
    chat.last("1")
    wrong = chat.last("12345")
    assert "13 angka" in wrong and "nomor kartu JKN-KIS" in wrong
    chat.last("0001234567890")
    bad_date = chat.last("3201239905860003")  # day 99 is not a date of birth
    assert "tanggal lahir" in bad_date and "NIK yang benar" in bad_date
    assert "0000" in chat.last("3201234505860000")
    way_out = chat.last("3201")  # the third failure in a row
    assert "menu" in way_out and "petugas" in way_out
    assert "16 angka" in chat.last("3201")  # the count starts again


def test_a_voice_note_where_a_photo_is_expected_says_what_is_expected(chat, twilio):
    for answer in ("1", "0001234567890", "3201234505860003"):
        chat.say(answer)
    [reply] = chat.send("", [(b"OggS\x00\x02fake-voice", "audio/ogg")])
    assert "foto" in reply and "pesan suara" in reply and "foto KTP" in reply
    assert not [r for r in twilio.requests_log if "/Media/" in r["path"]]  # never downloaded


def test_a_blurry_photo_is_refused_at_once_with_the_reason(chat):
    for answer in ("1", "0001234567890", "3201234505860003"):
        chat.say(answer)
    [reply] = chat.photo(BLURRY)
    assert "buram" in reply and "tempat terang" in reply and "foto KTP" in reply
    assert "Foto KTP diterima" in chat.photo(SHARP)[0]


def test_two_photos_in_one_message_fill_two_steps_with_one_prompt(app, chat):
    for answer in ("1", "0001234567890", "3201234505860003"):
        chat.say(answer)
    [reply] = chat.send("", [(SHARP, "image/jpeg"), (SHARP_2, "image/png")])
    assert "Foto KTP diterima" in reply and "Foto KK diterima" in reply and "Mohon periksa" in reply


def test_a_burst_of_photo_messages_counts_each_photo_once(app, chat):
    for answer in ("1", "0001234567890", "3201234505860003"):
        chat.say(answer)
    chat.send("", [(SHARP, "image/jpeg")], run=False)
    chat.send("", [(SHARP_2, "image/jpeg")], run=False)
    chat.send("", [(SHARP_3, "image/jpeg")], run=False)
    first, second, third = chat.replies()
    assert "Foto KTP diterima" in first and "Kartu Keluarga" in first
    assert "Foto KK diterima" in second and "Mohon periksa" in second
    assert "YA" in third  # the third photo is not counted: the flow waits for the confirmation
    with app.app_context():
        assert len(db.session().scalars(select(Document)).all()) == 2


def test_the_same_photo_twice_is_not_taken_as_the_next_document(chat):
    for answer in ("1", "0001234567890", "3201234505860003"):
        chat.say(answer)
    chat.photo(SHARP)
    [reply] = chat.photo(SHARP)
    assert "sama dengan" in reply and "Kartu Keluarga" in reply


def test_cancel_mid_flow_asks_first_then_stops(app, chat):
    chat.say("1")
    chat.say("0001234567890")
    assert "Yakin" in chat.last("batal")
    assert "dibatalkan" in chat.last("ya") 
    with app.app_context():
        conversation = db.session().scalar(select(Conversation))
        assert conversation.active_flow is None and "run" not in conversation.state
    assert cases(app) == []


def test_cancel_then_no_goes_on_with_the_same_question(chat):
    chat.say("1")
    chat.say("batal")
    reply = chat.last("tidak")
    assert "lanjutkan" in reply and "nomor kartu JKN-KIS" in reply


def test_check_status_with_the_right_date_of_birth(app, chat):
    member = participant(app, active=True, segment="PBI_APBN")
    chat.say("3")
    assert "tanggal lahir" in chat.last(member.card_number)
    answer = chat.last(dob(member))
    assert "AKTIF" in answer and member.faskes in answer
    assert f"Kartu {mask_name(member.name)} *AKTIF*" in answer and member.name not in answer  # initials only


def test_check_status_with_a_wrong_date_of_birth_gives_the_same_answer_as_no_match(app, chat):
    member = participant(app, active=True, segment="PPU")
    chat.say("3")
    chat.say(member.card_number)
    wrong = chat.last((member.birth_date + timedelta(days=1)).strftime("%d-%m-%Y"))
    chat.say("cek status")
    chat.say("0009999999999")
    nobody = chat.last("01-01-1970")
    assert wrong.split("\n")[-1] == nobody.split("\n")[-1] and "tidak ditemukan" in wrong
    assert member.faskes not in wrong


def test_check_status_failures_are_rate_limited_per_sender(app, chat, twilio):
    for _ in range(5):
        chat.say("3")
        chat.say("0009999999999")
        assert "tidak ditemukan" in chat.last("01-01-1970")
    member = participant(app, active=True)
    chat.say("3")
    chat.say(member.card_number)
    assert "Terlalu banyak percobaan" in chat.last(dob(member))
    other = Chat(app, twilio, phone="+6281299990000")  # another sender is not affected
    other.say("3")
    other.say(member.card_number)
    assert "AKTIF" in other.last(dob(member))


def test_reactivation_past_the_deadline_asks_for_sktm_too(app, chat):
    member = participant(app, active=False, inactive_reason="decree", decree_number="188/HUK/2022")
    chat.say("4")
    chat.say(member.card_number)
    intro = chat.say(dob(member))[0]
    assert "SKTM" in intro and "28 Februari 2023" in intro and "foto kartu KIS" in intro
    for photo in (SHARP, SHARP_2, SHARP_3, SHARP_4):
        last = chat.photo(photo)
    assert "SKTM" in last[0]
    assert "PDF" in chat.send("", [(b"%PDF-1.4 not really a pdf", "application/pdf")])[0]  # unreadable: asked again
    assert "Mohon periksa" in chat.photo(SHARP_5)[0]
    chat.say("ya")
    [case] = cases(app)
    assert sorted(d.kind for d in case.documents) == ["dinsos_letter", "kis", "kk", "ktp", "sktm"]


def test_reactivation_within_the_deadline_to_a_case_with_a_pdf_letter(app, chat):
    member = participant(app, active=False, inactive_reason="decree", decree_number="45/HUK/2026", in_dtks=True)
    chat.say("reaktivasi")
    chat.say(member.card_number)
    intro = chat.say(dob(member))[0]
    assert "masih bisa" in intro and "28 Februari 2027" in intro and "SKTM" not in intro
    chat.photo(SHARP)
    chat.photo(SHARP_2)
    assert "Dinas Sosial" in chat.photo(SHARP_3)[0]
    summary = chat.photo(minimal_pdf(), "application/pdf")[0]
    assert "Mohon periksa" in summary
    assert "tiket" in chat.last("ya").lower()
    [case] = cases(app)
    assert case.service == "reactivation"
    assert sorted(d.kind for d in case.documents) == ["dinsos_letter", "kis", "kk", "ktp"]
    assert {d.content_type for d in case.documents} == {"image/jpeg", "application/pdf"}


def test_pbpu_arrears_are_told_not_opened_as_a_case(app, chat):
    member = participant(app, active=False, inactive_reason="arrears", segment="PBPU")
    chat.say("4")
    chat.say(member.card_number)
    answer = chat.last(dob(member))
    assert "tunggakan" in answer and f"{member.arrears:,}".replace(",", ".") in answer
    assert cases(app) == []


def test_complaint_with_a_skipped_photo(app, chat):
    assert "*1*. Ditolak" in chat.last("5")
    assert "peserta" in chat.last("2")
    assert "Kapan" in chat.last("lewati")
    assert "nama faskes" in chat.last("kemarin")
    assert "apa yang terjadi" in chat.last("RSUD Kota Bandung")
    assert "lewati" in chat.last("Saya diminta bayar 500 ribu untuk obat padahal pakai BPJS")
    summary = chat.last("lewati")
    assert "biaya tambahan" in summary and "RSUD Kota Bandung" in summary
    chat.say("ya")
    [case] = cases(app)
    assert case.service == "complaint" and case.fields["category"] == "extra_charge"
    assert case.fields["facility"] == "RSUD Kota Bandung" and case.documents == []


def test_change_phone_offers_the_whatsapp_number_itself(app, chat):
    chat.say("2")
    chat.say("0001234567890")
    ask = chat.last("3201234505860003")
    assert "+62*******7890" in ask
    assert "foto KTP" in chat.last("1")
    chat.photo(SHARP)
    summary = chat.photo(SHARP_2)[0]
    assert "+6281234567890" in summary
    chat.say("ya")
    [case] = cases(app)
    assert case.fields["new_phone"] == "+6281234567890"
    assert sorted(d.kind for d in case.documents) == ["ktp", "selfie_ktp"]


def test_case_status_shows_only_the_citizens_own_cases(app, chat, twilio):
    chat.say("5")
    for answer in ("1", "lewati", "kemarin", "Puskesmas Sukajadi", "Petugas loket membentak ibu saya", "lewati", "ya"):
        chat.say(answer)
    [case] = cases(app)
    chat.say("tiket")
    status = chat.last("terakhir")
    assert case.ticket in status and "menunggu diperiksa" in status
    stranger = Chat(app, twilio, phone="+6285611112222")
    stranger.say("6")
    assert "tidak ditemukan" in stranger.last(case.ticket)


def test_tickets_are_a_daily_sequence(app, chat, twilio):
    for phone in ("+6281200000001", "+6281200000002"):
        c = Chat(app, twilio, phone=phone)
        for answer in ("5", "7", "lewati", "hari ini", "Klinik Sehat", "Aplikasi error terus saat daftar", "lewati",
                       "ya"):
            c.say(answer)
    first, second = cases(app)
    assert first.ticket[:-4] == second.ticket[:-4]
    assert int(second.ticket[-4:]) == int(first.ticket[-4:]) + 1


def test_asking_for_an_officer_mid_flow_hands_the_citizen_to_the_agents(app, chat):
    chat.say("1")
    assert "petugas" in chat.last("saya mau bicara dengan petugas saja")
    assert "sudah kami terima" in chat.last("halo?")  # told when an officer will read it
    assert chat.say("halo??") == []  # not after every line
    with app.app_context():
        assert db.session().scalar(select(Conversation)).handoff_since is not None
    [handoff] = cases(app)
    assert handoff.service == "handoff" and handoff.status == CaseStatus.SUBMITTED


def test_an_expired_run_is_offered_back_and_continues_where_it_stopped(app, chat):
    from bot.sweeper import sweep_conversations

    chat.say("1")
    chat.say("0001234567890")
    now = awake(app)  # reminders wait for the end of the quiet hours
    with app.app_context():
        conversation = db.session().scalar(select(Conversation))
        conversation.last_activity_at = now - timedelta(minutes=31)
        db.session().commit()
        assert sweep_conversations(now) == {"reminded": 1, "expired": 0, "errors": 0}
    [reminder] = chat.replies()
    assert "masih menunggu" in reminder and "NIK yang benar" in reminder
    with app.app_context():
        conversation = db.session().scalar(select(Conversation))
        conversation.last_activity_at = utcnow() - timedelta(hours=25)
        db.session().commit()
        assert sweep_conversations() == {"reminded": 0, "expired": 1, "errors": 0}
    offer = chat.last("halo")
    assert "belum selesai" in offer and "LANJUT" in offer
    assert "NIK yang benar" in chat.last("lanjut")
    assert "foto KTP" in chat.last("3201234505860003")


def minimal_pdf() -> bytes:
    from io import BytesIO

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()
