"""Outcomes in the citizen's words (issue 12): what *cek tiket* answers for a case in every state, what a
decided complaint says, the Indonesian words of the case_update template, and the one way names are masked.

The status answers run on the real stack (signed webhook, worker, local Twilio) with cases put in each
state directly; the rules under them (the promise, the per-service texts, the labels) are checked on
their own with fixed clocks."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot import casework, create_app
from bot.accounts import create_staff
from flows.definition import Step
from handlers.cases import create_case, promise
from handlers.privacy import mask_name, mask_value
from handlers.product import Product, load_product, load_product_raw, product_problems
from handlers.registry import load_csv
from storage import db
from storage.cases import Case, CaseStatus
from storage.membership import Participant
from storage.models import Citizen, utcnow
from storage.staff import Staff
from tests.helpers import Chat, phone_lines, run_jobs
from tests.nlu_double import KeywordNLU

PHONE = "+6281234567890"
SUBMITTED_ON = datetime(2026, 12, 4, 3, 15, tzinfo=timezone.utc)  # Friday 4 Des 2026, 10.15 WIB
PRODUCT = load_product("config.yml")


pytestmark = pytest.mark.one_backend  # one database is enough here


@pytest.fixture
def app(env):
    app = create_app({"ENV": env, "TESTING": True})
    app.extensions["nlu"] = KeywordNLU()
    yield app
    app.extensions["db"].dispose()


def a_case(app, service: str, status: str, phone: str = PHONE, **columns) -> str:
    """A case of this citizen, submitted on 4 Des 2026, put straight into ``status``."""
    with app.app_context():
        session = db.session()
        citizen = session.scalar(select(Citizen).where(Citizen.phone == phone)) or Citizen(phone=phone)
        session.add(citizen)
        session.flush()
        case = create_case(session, citizen.id, service, {}, [], "", app.config["PRODUCT"])
        case.created_at, case.status = SUBMITTED_ON, status
        for name, value in columns.items():
            setattr(case, name, value)
        session.commit()
        return case.ticket


def status_answer(chat: Chat, ticket: str) -> str:
    """The citizen types *tiket*, then the ticket number: the one answer they read."""
    chat.say("tiket")
    return chat.last(ticket)


def at(day: int, hour: int) -> datetime:
    """A moment of December 2026 in the office's time (4 Dec is a Friday, 7 Dec a Monday)."""
    return datetime(2026, 12, day, hour, tzinfo=ZoneInfo("Asia/Jakarta"))


# ---------------------------------------------------------------------------- 1. cek tiket tells the outcome
def test_a_case_waiting_for_an_officer_tells_when_one_will_look(app, twilio):
    due = utcnow() + timedelta(days=30)
    ticket = a_case(app, "change_nik", CaseStatus.SUBMITTED, sla_due_at=due)
    answer = status_answer(Chat(app, twilio), ticket)
    assert answer.startswith(f"Tiket *{ticket}* (Ubah / perbaiki NIK, 4 Des 2026): menunggu diperiksa. ")
    due_text = f"{due.astimezone(PRODUCT.timezone):%H.%M} WIB"
    assert ("Kabar dari petugas paling lambat " in answer and due_text in answer) or "Kantor tutup" in answer
    assert answer.endswith("\nKami kabari di sini.")


def test_a_case_past_its_due_time_gets_an_apology_not_a_promise(app, twilio):
    ticket = a_case(app, "complaint", CaseStatus.IN_REVIEW, sla_due_at=utcnow() - timedelta(hours=1))
    answer = status_answer(Chat(app, twilio), ticket)
    assert "sedang diperiksa. Maaf, ini melewati waktu yang kami janjikan" in answer
    assert "paling lambat" not in answer and "jam kerja" not in answer


def test_need_info_names_the_item_the_officer_waits_for_and_the_note(app, twilio):
    ticket = a_case(app, "change_nik", CaseStatus.NEED_INFO, need_info_item="kk", decision_note="Foto KK terpotong.")
    answer = status_answer(Chat(app, twilio), ticket)
    assert "petugas menunggu *Foto KK*" in answer  # the step's own label in change_nik.yml
    assert "Catatan: Foto KK terpotong." in answer and answer.endswith("Mohon kirim di percakapan ini.")


def test_a_rejection_tells_the_reason_in_words_and_the_note(app, twilio):
    ticket = a_case(app, "change_nik", CaseStatus.REJECTED, decided_at=utcnow(), decision_reason="data_mismatch",
                    decision_note="NIK di KK berbeda.")
    answer = status_answer(Chat(app, twilio), ticket)
    assert "*ditolak*, karena data tidak sesuai dengan dokumen. Catatan: NIK di KK berbeda." in answer
    assert answer.endswith("\nKetik *menu* untuk mengajukan lagi.")
    assert "data_mismatch" not in answer and "sudah kami kirim" not in answer


def test_a_rejection_whose_reason_was_removed_since_still_reads_as_a_sentence(app, twilio):
    ticket = a_case(app, "change_nik", CaseStatus.REJECTED, decided_at=utcnow(), decision_reason="old_reason")
    answer = status_answer(Chat(app, twilio), ticket)
    assert "*ditolak*, karena alasannya ada di pesan keputusan kami." in answer and "old_reason" not in answer


def test_a_closed_case_tells_how_it_ended(app, twilio):
    approved = a_case(app, "change_nik", CaseStatus.CLOSED, decided_at=utcnow())
    rejected = a_case(app, "change_phone", CaseStatus.CLOSED, decided_at=utcnow(), decision_reason="documents_unreadable")
    handled = a_case(app, "handoff", CaseStatus.CLOSED)
    chat = Chat(app, twilio)
    assert "(Ubah / perbaiki NIK, 4 Des 2026): *disetujui* ✅" in status_answer(chat, approved)
    assert "*ditolak*, karena dokumen tidak terbaca." in status_answer(chat, rejected)
    assert "(Minta bicara dengan petugas, 4 Des 2026): *selesai ditangani* ✅" in status_answer(chat, handled)


def test_a_complaint_followed_up_is_never_called_approved(app, twilio):
    followed_up = a_case(app, "complaint", CaseStatus.APPROVED, decided_at=utcnow(), decision_note="Biaya obat dikembalikan.")
    refused = a_case(app, "complaint", CaseStatus.CLOSED, decided_at=utcnow(), decision_reason="duplicate")
    chat = Chat(app, twilio)
    answer = status_answer(chat, followed_up)
    assert "sudah *ditindaklanjuti* ✅ Catatan: Biaya obat dikembalikan." in answer
    assert "disetujui" not in answer.lower()
    answer = status_answer(chat, refused)
    assert "*tidak dapat ditindaklanjuti*, karena permohonan yang sama sudah pernah diajukan." in answer
    assert "ditolak" not in answer and answer.endswith("Ketik *petugas* untuk dibantu petugas.")


def test_every_status_answer_is_short_without_empty_lines(app, twilio):
    soon = utcnow() + timedelta(days=30)
    tickets = [
        a_case(app, "reactivation", CaseStatus.SUBMITTED, sla_due_at=soon),
        a_case(app, "reactivation", CaseStatus.IN_REVIEW, sla_due_at=utcnow() - timedelta(hours=2)),
        a_case(app, "reactivation", CaseStatus.NEED_INFO, need_info_item="dinsos_letter",
               decision_note="Surat rekomendasi belum ditandatangani kepala dinas."),
        a_case(app, "reactivation", CaseStatus.APPROVED, decided_at=utcnow(), decision_note="Kartu aktif mulai besok."),
        a_case(app, "reactivation", CaseStatus.REJECTED, decided_at=utcnow(), decision_reason="not_eligible",
               decision_note="Tidak terdaftar di DTKS."),
        a_case(app, "complaint", CaseStatus.CLOSED, decided_at=utcnow()),
        a_case(app, "handoff", CaseStatus.CLOSED),
    ]
    chat = Chat(app, twilio)
    for ticket in tickets:
        answer = status_answer(chat, ticket)
        lines = answer.split("\n")
        assert all(line.strip() for line in lines), answer  # no empty line
        assert phone_lines(answer) <= 6, answer
        assert answer.startswith(f"Tiket *{ticket}* (") and "4 Des 2026): " in answer


def test_the_promise_is_the_same_rule_for_a_new_case_and_a_status_check():
    friday_ten, friday_night = at(4, 10), at(4, 20)
    assert promise(PRODUCT, "complaint", friday_ten) == "Petugas akan memeriksanya dalam 8 jam kerja."
    assert promise(PRODUCT, "reactivation", friday_ten) == "Petugas akan memeriksanya dalam 16 jam kerja."
    closed = "Kantor tutup; petugas memeriksanya Senin, 7 Des 2026 pukul 08.00 WIB."
    assert promise(PRODUCT, "complaint", friday_night) == closed
    assert promise(PRODUCT, "complaint", friday_night, due=at(7, 11)) == closed
    assert promise(PRODUCT, "complaint", friday_ten, due=at(7, 11)) == \
        "Kabar dari petugas paling lambat 7 Des 2026, 11.00 WIB."
    assert promise(PRODUCT, "complaint", friday_night, due=at(4, 14)).startswith("Maaf, ini melewati waktu")


def test_the_item_awaited_is_the_step_s_own_label_else_the_field_label():
    assert PRODUCT.step_label(Step("kk", "photo", {"label": "KK terbaru"})) == "KK terbaru"
    assert PRODUCT.step_label(Step("card_number", "text", {})) == "Nomor kartu JKN-KIS"  # config field_labels
    assert PRODUCT.step_label(Step("phone", "text", {"save_as": "new_phone"})) == "Nomor HP baru"


# ---------------------------------------------------------------------------- 2. complaints are never "disetujui"
def test_a_service_s_own_decision_text_wins_and_keeps_the_placeholders():
    values = {"title": "Pengaduan layanan", "ticket": "PDW-20261204-0001", "note": "Obat diganti."}
    followed_up = PRODUCT.service_text("decision_approved", "complaint", **values)
    assert "ditindaklanjuti" in followed_up and "PDW-20261204-0001" in followed_up and "DISETUJUI" not in followed_up
    assert "DISETUJUI" in PRODUCT.service_text("decision_approved", "change_nik", **values)
    raw = load_product_raw("config.yml")
    raw["texts"]["decision_approved_change_phone"] = "Nomor HP untuk tiket {ticket} sudah diganti. {note}"
    assert Product.checked(raw).service_text("decision_approved", "change_phone", **values) == \
        "Nomor HP untuk tiket PDW-20261204-0001 sudah diganti. Obat diganti."
    raw["texts"]["decision_approved_complaint"] = "Pengaduan {ticket} ditindaklanjuti: {alasan}"
    unfilled = "texts: decision_approved_complaint memakai {alasan}, yang tidak diisi bot"
    assert any(unfilled in p for p in product_problems(raw))


def test_complaint_texts_can_not_be_deleted_by_an_admin():
    raw = load_product_raw("config.yml")
    del raw["texts"]["decision_approved_complaint"], raw["texts"]["case_update_approved_complaint"]
    [missing] = [p for p in product_problems(raw) if p.startswith("texts belum diisi")]
    assert "decision_approved_complaint" in missing and "case_update_approved_complaint" in missing


# ---------------------------------------------------------------------------- 3. template words in Indonesian
@pytest.fixture
def agent(app):
    with app.app_context():
        session = db.session()
        staff = create_staff(session, "ani", "agent", "kata-sandi-yang-panjang")
        session.commit()
        return staff.id


def template_status(app, twilio, ticket: str, act) -> str:
    """An agent acts on the case of a citizen who last wrote two days ago: the {status} word they read."""
    with app.app_context():
        session = db.session()
        case = session.scalar(select(Case).where(Case.ticket == ticket))
        case.citizen.last_inbound_at = utcnow() - timedelta(days=2)
        session.commit()
        act(session, case)
    run_jobs(app)
    sent = twilio.messages[-1]
    variables = json.loads(sent["ContentVariables"])
    assert sent["Body"] is None and variables["1"] == ticket
    return variables["2"]


def claimed_and(app, agent_id, do):
    def act(session, case):
        staff = session.get(Staff, agent_id)
        casework.claim(session, case, staff, "api")
        do(session, case, staff)
    return act


@pytest.mark.parametrize("service, decision, extra, word", [
    ("complaint", "approve", {}, "ditindaklanjuti"),
    ("complaint", "reject", {"reason": "duplicate"}, "tidak dapat ditindaklanjuti"),
    ("change_nik", "approve", {}, "disetujui"),
    ("change_nik", "reject", {"reason": "data_mismatch"}, "ditolak"),
    ("change_nik", "need_info", {"item": "kk"}, "perlu data tambahan"),
])
def test_a_decision_outside_the_24_hours_names_the_outcome_in_indonesian(app, twilio, agent, service, decision,
                                                                          extra, word):
    ticket = a_case(app, service, CaseStatus.SUBMITTED)
    told = template_status(app, twilio, ticket, claimed_and(
        app, agent, lambda session, case, staff: casework.decide(session, case, staff, decision, **extra)))
    assert told == word


def test_an_officer_s_message_and_the_hand_back_name_themselves_in_indonesian(app, twilio, agent):
    ticket = a_case(app, "complaint", CaseStatus.SUBMITTED)
    told = template_status(app, twilio, ticket, claimed_and(
        app, agent, lambda session, case, staff: casework.message(session, case, staff, "Selamat siang Bu.")))
    assert told == "pesan dari petugas"
    told = template_status(app, twilio, ticket, claimed_and(
        app, agent, lambda session, case, staff: casework.hand_back(session, case, staff)))
    assert told == "percakapan dengan petugas selesai"


def test_a_template_word_must_fit_on_one_line():
    raw = load_product_raw("config.yml")
    raw["texts"]["case_update_rejected"] = "ditolak\nmaaf"
    assert "texts untuk template WhatsApp harus satu baris: case_update_rejected" in product_problems(raw)


# ---------------------------------------------------------------------------- 4. one name-mask rule
@pytest.mark.parametrize("name, masked", [
    ("Sukarno", "S******"),                                  # a single name is never shown whole
    ("Siti Rahmawati", "S*** R********"),
    ("Raden Ajeng Kartini Djojo Adhiningrat", "R**** A**** K****** D**** A**********"),
    ("M Yusuf", "M*** Y****"),                               # one letter: its length is not told either
    ("Ni Kadek Ayu", "N*** K**** A***"),
])
def test_a_name_keeps_only_its_initials_for_citizens_and_staff_alike(name, masked):
    assert mask_name(name) == masked
    assert mask_value("member_name", name) == masked  # what staff who do not hold the case see


def test_the_card_holder_reads_the_same_masked_name(app, twilio):
    with app.app_context():
        load_csv(db.session())
        db.session().commit()
        member = db.session().scalars(select(Participant).where(Participant.active.is_(True))
                                      .order_by(Participant.id)).first()
    chat = Chat(app, twilio)
    chat.say("3")
    chat.say(member.card_number)
    answer = chat.last(member.birth_date.strftime("%d-%m-%Y"))
    assert f"Kartu {mask_name(member.name)} *AKTIF*" in answer and member.name not in answer
