"""A hostile tester's look at issue 17 (documents that check themselves, reuse detection, and the three
services from the branch counter). Each test states what a citizen, an officer or an attacker should get;
the ones that failed when written are the bugs of the review, the others confirm what holds.

Most conversations use a stand-in OCR reader (``FakeReader``: the NIK it "reads" is chosen per photo), so the
conversation logic is tested without the engine's 1-4 s per photo; the tests about what the engine itself
makes of a photo use the real one."""
from __future__ import annotations

import hashlib
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from bot import create_app, queues, reading
from bot.accounts import create_staff, new_token
from bot.logs import redact
from handlers import branches, ocr, reuse
from handlers.faskes import allowed_from, first_of_next_month
from handlers.inputs import list_number
from handlers.lifecycle import erase_citizen_data
from handlers.validators import Invalid
from handlers.worktime import DAY_NAMES
from storage import db
from storage.cases import Case, Document, DocumentMatch
from storage.membership import InactiveReason
from storage.models import Citizen, utcnow
from storage.staff import Staff
from tests.helpers import Chat, add_staff, csrf, logged_in, phone_lines, run_jobs
from tests.images import document_photo, kk_photo, ktp_photo
from tests.nlu_double import KeywordNLU
from tests.services import (  # noqa: F401  (fixtures)
    NENENG, SARI, app, approve, chat, latest_case, office_today, participant, pdf, set_participant,
)
from tests.test_api import auth

pytestmark = pytest.mark.one_backend  # the logic under test does not depend on the database

CARD = SARI[0]                   # 0001234567890, Sari, PBPU class 3, Kab. Bogor
TYPED = "3201234505860003"       # what the citizen types as the right NIK
PRINTED = "3201234505860027"     # what their KTP says
KTP = ktp_photo(PRINTED)
KK = document_photo(seed=12)


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


class FakeReader:
    """handlers.ocr.Reader's interface: what each photo "shows" is set by the test (by its bytes)."""

    def __init__(self):
        self.shows: dict[str, str] = {}

    def card(self, content: bytes, nik: str) -> bytes:
        self.shows[sha(content)] = nik
        return content

    def read(self, content: bytes, timeout: float, kind: str = "ktp") -> ocr.Reading:
        nik = self.shows.get(sha(content))
        if nik is None:
            return ocr.Reading(ocr.NOT_READ, how="none")
        return ocr.Reading(ocr.READ, nik=nik, confidence=0.99, niks=(nik,), name="SARI WULANDARI",
                           birth_date="05-05-1986", how="label")


def _make_app(env, **extra):
    app = create_app({"ENV": {**env, "MEDIA_ALLOWED_HOSTS": "localhost", **extra}, "TESTING": True})
    app.extensions["nlu"] = KeywordNLU()
    add_staff(app, ("ani", "agent"), ("sri", "supervisor"))
    return app


@pytest.fixture
def fake_reader(monkeypatch) -> FakeReader:
    fake = FakeReader()
    monkeypatch.setattr(ocr, "_reader", fake)
    return fake


@pytest.fixture
def ocr_app(env, fake_reader):
    """OCR on, read by the FakeReader."""
    app = _make_app(env, OCR_ENABLED="1", OCR_TIMEOUT="30")
    yield app
    app.extensions["db"].dispose()


@pytest.fixture
def real_ocr_app(env, monkeypatch):
    """OCR on, read by the real engine."""
    monkeypatch.setattr(ocr, "_reader", None)
    app = _make_app(env, OCR_ENABLED="1", OCR_TIMEOUT="60")
    yield app
    app.extensions["db"].dispose()


def up_to_nik(app, twilio, phone: str = "+6281234567890") -> Chat:
    chat = Chat(app, twilio, phone=phone)
    chat.say("1")
    chat.say(CARD)
    return chat


def up_to_ktp(app, twilio, phone: str = "+6281234567890") -> Chat:
    chat = up_to_nik(app, twilio, phone)
    chat.say(TYPED)
    return chat


def kinds(app) -> list[str]:
    with app.app_context():
        return sorted(db.session().scalars(select(Document.kind)))


def claim(app, ticket: str, who: str = "ani"):
    client = logged_in(app, who)
    url = f"/console/cases/{ticket}"
    assert client.post(f"{url}/claim", data={"csrf_token": csrf(client, url)}).status_code in (200, 302)
    return client


def decide(client, ticket: str, **data):
    url = f"/console/cases/{ticket}"
    return client.post(f"{url}/decision", data={**data, "confirmed": "1", "csrf_token": csrf(client, url)})


# ================================================================================ the "which NIK" question
def test_a_kk_photo_sent_right_after_the_ktp_is_kept_while_the_nik_question_waits(ocr_app, twilio, fake_reader):
    """WhatsApp sends two photos picked together as two messages: the KK arrives while the bot asks which
    NIK is right. Sent as one message, both are kept; sent as two, the KK must not be thrown away."""
    chat = up_to_ktp(ocr_app, twilio)
    asked = chat.photo(fake_reader.card(KTP, PRINTED))[-1]
    assert "Mana yang benar?" in asked
    chat.photo(KK)                        # the second photo of the pair
    told = chat.say("2")[-1]              # "the one I typed"
    assert "Mohon periksa" in told, told  # the KK was kept: on to the confirmation, not asked for again
    assert kinds(ocr_app) == ["kk", "ktp"]


def test_a_ktp_photo_with_a_caption_at_the_nik_question_is_not_refused(ocr_app, twilio, fake_reader):
    """WhatsApp users caption their photos ("ini ktp saya"): the KTP must still answer the NIK question."""
    chat = up_to_nik(ocr_app, twilio)
    told = chat.send("ini ktp saya", [(fake_reader.card(KTP, PRINTED), "image/jpeg")])[-1]
    assert f"NIK terbaca dari foto: *{PRINTED}*" in told, told
    assert kinds(ocr_app) == ["ktp"]


def test_where_the_nik_came_from_is_not_stale_after_it_is_typed_again_at_the_confirmation(
        ocr_app, twilio, fake_reader):
    """The NIK is read off the KTP; at the confirmation the citizen types another one. The officer must not
    read "Asal NIK: dibaca dari foto KTP" beside a NIK that was typed (and differs from the photo)."""
    chat = up_to_nik(ocr_app, twilio)
    assert f"NIK terbaca dari foto: *{PRINTED}*" in chat.photo(fake_reader.card(KTP, PRINTED))[-1]
    summary = chat.photo(KK)[-1]
    assert "*2*. NIK baru" in summary
    chat.say("2")
    summary = chat.say(TYPED)[-1]
    assert "Mohon periksa" in summary and TYPED in summary
    chat.say("ya")
    case = latest_case(ocr_app)
    assert case.fields["nik"] == TYPED
    assert case.fields.get("nik_choice") != "dibaca dari foto KTP", case.fields


def test_where_the_nik_came_from_is_not_stale_after_an_officer_asks_for_it_again(ocr_app, twilio, fake_reader):
    chat = up_to_nik(ocr_app, twilio)
    chat.photo(fake_reader.card(KTP, PRINTED))
    chat.photo(KK)
    chat.say("ya")
    ticket = latest_case(ocr_app).ticket
    ani = claim(ocr_app, ticket)
    assert decide(ani, ticket, decision="need_info", item="nik", note="NIK salah").status_code == 302
    chat.replies()
    chat.say(TYPED)
    case = latest_case(ocr_app)
    assert case.fields["nik"] == TYPED
    assert case.fields.get("nik_choice") != "dibaca dari foto KTP", case.fields


def test_a_kk_photo_at_the_nik_question_does_not_give_the_family_card_number_as_the_nik(real_ocr_app, twilio):
    """The question says "sesuai KTP/KK": a citizen sends the KK. Its top number is the family card's
    number, not anyone's NIK: the engine reads it with confidence (no "NIK" label before it) and the bot
    takes it as the citizen's new NIK."""
    family_number = "3201230101090001"
    chat = up_to_nik(real_ocr_app, twilio)
    told = chat.photo(kk_photo(family_number, [("SARI WULANDARI", TYPED), ("ANDI SANTOSO", "3201231203150002")]))[-1]
    assert family_number not in told, told
    assert "Ketik *NIK yang benar*" in told  # the NIK is still to be typed


def test_a_wrong_answer_to_which_nik_is_right_fits_the_phone_screen(ocr_app, twilio, fake_reader):
    chat = up_to_ktp(ocr_app, twilio)
    chat.photo(fake_reader.card(KTP, PRINTED))
    wrong = chat.say("yang tadi")[-1]
    asked = wrong.split("\n*1*")[0]
    assert phone_lines(asked) <= 6, asked


# What holds around the question.
def test_the_nik_question_survives_menu_and_lanjut_batal_tidak_and_a_nik_typed_with_spaces(
        ocr_app, twilio, fake_reader):
    chat = up_to_ktp(ocr_app, twilio)
    chat.photo(fake_reader.card(KTP, PRINTED))
    chat.say("menu")
    assert "Mana yang benar?" in chat.say("lanjut")[-1]
    chat.say("batal")
    assert "Mana yang benar?" in chat.say("tidak")[-1]
    told = chat.say("3201 2345 0586 0027")[-1]  # the card's NIK, typed with spaces
    assert f"kami pakai NIK *{PRINTED}*" in told and "Kartu Keluarga" in told


def test_yes_at_the_confirmation_does_not_send_while_the_nik_question_waits(ocr_app, twilio, fake_reader):
    chat = up_to_ktp(ocr_app, twilio)
    chat.send("", [(fake_reader.card(KTP, PRINTED), "image/jpeg"), (KK, "image/jpeg")])  # one message, both photos
    told = chat.say("ya")[-1]
    assert "Balas *1*" in told and latest_case(ocr_app) is None
    assert "Mohon periksa" in chat.say("1")[-1]
    chat.say("ya")
    case = latest_case(ocr_app)
    assert case.fields["nik"] == PRINTED and case.fields["nik_choice"] == "sesuai foto KTP"


def test_with_ocr_off_a_ktp_at_the_nik_question_is_kept_listed_and_changeable(app, twilio):
    chat = up_to_nik(app, twilio)
    told = chat.photo(KTP)[-1]
    assert "Foto KTP diterima" in told and "Ketik *NIK yang benar*" in told
    summary = chat.say(TYPED)[-1]
    assert "Kartu Keluarga" in summary
    summary = chat.photo(KK)[-1]
    assert "Foto KTP: ✅" in summary
    asked = chat.say("ganti foto KTP")[-1]
    assert "foto KTP" in asked
    summary = chat.photo(ktp_photo(PRINTED, seed=5))[-1]
    assert "Mohon periksa" in summary and "Foto KTP: ✅" in summary
    chat.say("ya")
    assert sorted(d.kind for d in latest_case(app).documents) == ["kk", "ktp"]


def test_a_ktp_sent_at_the_nik_question_can_be_asked_for_again_by_the_officer(app, twilio):
    chat = up_to_nik(app, twilio)
    chat.photo(KTP)
    chat.say(TYPED)
    chat.photo(KK)
    chat.say("ya")
    ticket = latest_case(app).ticket
    ani = claim(app, ticket)
    assert decide(ani, ticket, decision="need_info", item="ktp", note="Foto KTP buram").status_code == 302
    assert "foto KTP" in chat.replies()[-1]
    assert ticket in chat.photo(ktp_photo(PRINTED, seed=7))[-1]
    assert sorted(d.kind for d in latest_case(app).documents) == ["kk", "ktp", "ktp"]


def test_a_photo_sent_when_the_officer_asks_for_the_nik_again_is_attached(app, twilio):
    chat = up_to_ktp(app, twilio)
    chat.photo(KTP)
    chat.photo(KK)
    chat.say("ya")
    ticket = latest_case(app).ticket
    ani = claim(app, ticket)
    decide(ani, ticket, decision="need_info", item="nik", note="NIK salah")
    chat.replies()
    chat.photo(ktp_photo(PRINTED, seed=6))
    told = chat.say(PRINTED)[-1]
    assert ticket in told
    case = latest_case(app)
    assert case.fields["nik"] == PRINTED and case.updated_by_citizen


def test_a_blurry_photo_or_a_pdf_at_the_nik_question_is_told_and_not_kept(app, twilio):
    chat = up_to_nik(app, twilio)
    told = chat.photo(document_photo(seed=41, blur=6))[-1]
    assert "buram" in told and "Ketik *NIK yang benar*" in told
    told = chat.photo(pdf(), "application/pdf")[-1]
    assert "Ketik *NIK yang benar*" in told and "diterima" not in told
    assert kinds(app) == []


def test_two_photos_at_the_nik_question_keep_the_first_as_the_ktp_and_the_kk_is_asked_later(app, twilio):
    chat = up_to_nik(app, twilio)
    chat.send("", [(KTP, "image/jpeg"), (KK, "image/jpeg")])
    assert "Kartu Keluarga" in chat.say(TYPED)[-1]
    assert "Mohon periksa" in chat.photo(KK)[-1]
    assert kinds(app) == ["kk", "ktp"]


# ================================================================================ files, readings, matches
def test_a_photo_at_a_nik_question_that_keeps_no_document_leaves_no_file_behind(app, twilio):
    """The new member's NIK "tertera di KK": a parent sends the KK photo there. The flow has no KTP step, so
    no document is kept; the photo (a whole family's NIKs) must not stay on disk with no document naming it:
    retention and "hapus data saya" delete files by their documents, so it would stay for ever."""
    chat = Chat(app, twilio)
    for answer in ("8", SARI[0], SARI[1]):
        chat.say(answer)
    assert "NIK anggota baru" in chat.say("3")[-1]
    family = document_photo(seed=21)
    chat.photo(family)
    with app.app_context():
        kept = set(db.session().scalars(select(Document.sha256)))
        on_disk = app.config["SETTINGS"].media_store().exists(sha(family))
    assert not on_disk or sha(family) in kept, "a citizen's photo is stored with no document: never purged"


def test_a_kk_whose_file_cannot_be_read_is_settled_not_queued_again_for_ever(ocr_app, twilio):
    """The reader cannot open the KK's file (lost, or its key removed before `media rekey`): the reading is
    recorded as failed, as the module promises ("never retried"), not put back on the queue every pass."""
    chat = up_to_ktp(ocr_app, twilio)
    chat.photo(KTP)
    chat.photo(KK)
    chat.say("ya")
    with ocr_app.app_context():
        assert ocr_app.config["SETTINGS"].media_store().delete(sha(KK))
    run_jobs(ocr_app, [queues.DOCUMENTS])
    with ocr_app.app_context():
        kk = db.session().scalars(select(Document).where(Document.kind == "kk")).one()
        requeued = reading.queue_unread(utcnow() + timedelta(minutes=5))
        assert (kk.ocr, requeued) != (None, 1), "the unreadable KK goes back on the queue at every sweeper pass"


def test_a_read_abandoned_before_it_started_is_not_run_later():
    """OCR runs one read at a time: a read that waited its whole deadline behind a slow one is abandoned
    (the citizen is answered without it). It must then be dropped, not run anyway once the thread is free:
    that work is thrown away and delays the reads of the citizens after."""
    started: list[bytes] = []
    reader = ocr.Reader()

    def slow(content: bytes, kind: str) -> ocr.Reading:
        started.append(content)
        time.sleep(2.5)
        return ocr.Reading(ocr.NOT_READ)

    reader._read = slow
    assert reader.read(b"first", timeout=1.0).status == ocr.TIMEOUT   # overruns: abandoned, still running
    assert reader.read(b"second", timeout=1.0).status == ocr.TIMEOUT  # waited behind it: never started
    time.sleep(3.0)
    reader._pool.shutdown(wait=True)
    assert started == [b"first"], "the abandoned read ran after its citizen was answered"


def test_the_same_person_by_card_number_and_by_nik_is_not_another_participant(app):
    """Reactivation keeps the participant as ``id_number`` (a card number *or* a NIK); the other services
    keep ``card_number``. The same citizen sending their own KTP for their own card, once by NIK and once
    by card number, is not "for another participant"."""
    ujang_card, ujang_nik = "0005726625329", "3209180303704827"
    with app.app_context():
        session = db.session()
        citizen = Citizen(phone="+6285282487955")
        session.add(citizen)
        session.flush()
        cases = []
        for n, (service, fields) in enumerate((("reactivation", {"id_number": ujang_nik}),
                                               ("change_phone", {"card_number": ujang_card, "nik": ujang_nik}))):
            case = Case(ticket=f"PDW-20261206-99{n:02d}", service=service, citizen_id=citizen.id, status="submitted",
                        fields=fields, flow_version="")
            session.add(case)
            session.flush()
            session.add(Document(citizen_id=citizen.id, case_id=case.id, kind="ktp", content_type="image/jpeg",
                                 size=1000, sha256="ab" * 32, phash="0123456789abcdef"))
            cases.append(case)
        session.flush()
        session.expire_all()
        assert reuse.matches_for(session, session.get(Case, cases[1].id)) == []


# What holds.
@pytest.fixture
def offices(app):
    """KC-SDA and KC-BGR, each with its own number; agent sari works for KC-SDA."""
    always = {"days": list(DAY_NAMES), "start": "00:00", "end": "23:59"}
    with app.app_context():
        session = db.session()
        branches.add(session, "KC-SDA", "KC Sidoarjo", ("whatsapp:+6231890001",), regencies=("3515",), hours=always)
        branches.add(session, "KC-BGR", "KC Bogor", ("whatsapp:+6225190001",), regencies=("3201",), hours=always)
        create_staff(session, "sari", "agent", "rahasia-kuat-123", ("KC-SDA",))
        session.commit()
    return {"SDA": "whatsapp:+6231890001", "BGR": "whatsapp:+6225190001"}


def submit_to(app, twilio, phone: str, to: str, ktp: bytes) -> str:
    chat = Chat(app, twilio, phone=phone, to=to)
    for answer in ("1", CARD, TYPED):
        chat.say(answer)
    chat.photo(ktp)
    chat.photo(document_photo(seed=int(phone[-2:])))
    chat.say("ya")
    return latest_case(app).ticket


def test_a_match_in_another_branch_is_named_but_not_opened_and_an_erased_one_disappears(app, twilio, offices):
    ktp = ktp_photo(PRINTED, seed=9)
    mine = submit_to(app, twilio, "+6281200000031", offices["SDA"], ktp)
    theirs = submit_to(app, twilio, "+6281200000032", offices["BGR"], ktp)
    sari = claim(app, mine, "sari")
    page = sari.get(f"/console/cases/{mine}").get_data(as_text=True)
    assert "data-reuse" in page and f"{theirs}" in page and "(kantor cabang lain)" in page
    assert f'href="/console/cases/{theirs}"' not in page
    assert "+6281200000032" not in page and "81200000032" not in page  # nothing of the other citizen
    assert sari.get(f"/console/cases/{theirs}").status_code == 404
    with app.app_context():
        session = db.session()
        token = new_token(session, session.scalar(select(Staff).where(Staff.name == "sari")))
        session.commit()
    api = app.test_client()
    detail = api.get(f"/api/cases/{mine}", headers=auth(token)).get_json()
    assert {"ticket": theirs, "reason": "same_file"} in next(d for d in detail["documents"] if d["kind"] == "ktp")[
        "also_sent_for"]
    assert api.get(f"/api/cases/{theirs}", headers=auth(token)).status_code == 404

    with app.app_context():
        session = db.session()
        citizen_id = session.scalar(select(Citizen.id).where(Citizen.phone == "+6281200000032"))
        erase_citizen_data(session, citizen_id)
        session.commit()
    page = sari.get(f"/console/cases/{mine}")
    assert page.status_code == 200 and "data-reuse" not in page.get_data(as_text=True)


def test_matches_are_recorded_once_however_often_they_are_looked_for(app, twilio):
    ktp = ktp_photo(PRINTED, seed=10)
    submit_to(app, twilio, "+6281200000041", "whatsapp:+14155238886", ktp)
    submit_to(app, twilio, "+6281200000042", "whatsapp:+14155238886", ktp)
    with app.app_context():
        session = db.session()
        before = len(session.scalars(select(DocumentMatch)).all())
        for case in session.scalars(select(Case)).all():
            assert reuse.record_matches(session, case) == 0
        session.commit()
        assert before == 2 and len(session.scalars(select(DocumentMatch)).all()) == 2


def test_a_kk_erased_while_it_is_read_is_left_alone(ocr_app, twilio, fake_reader):
    """The citizen's data is erased while the reader holds their KK: nothing is written back, no error."""
    chat = up_to_ktp(ocr_app, twilio)
    chat.photo(KTP)
    chat.photo(KK)
    chat.say("ya")
    real_read = fake_reader.read

    def erasing(content, timeout, kind="ktp"):
        with ocr_app.app_context():
            session = db.session()
            erase_citizen_data(session, session.scalar(select(Citizen.id)))
            session.commit()
        return real_read(content, timeout, kind)

    fake_reader.read = erasing
    with ocr_app.app_context():
        kk_id = db.session().scalar(select(Document.id).where(Document.kind == "kk"))
        db.session().close()
        assert reading.read_document(kk_id) == ocr.NOT_READ
        assert db.session().get(Document, kk_id) is None


# ================================================================================ what the officer sees
def test_a_ktp_that_agrees_with_the_requested_nik_is_not_flagged_nik_beda(ocr_app, twilio, fake_reader):
    """Change NIK exists because the registry's NIK is wrong: a KTP showing exactly the NIK the citizen asks
    for is the good case. Flagging it "NIK beda" (it differs from the registry's, as every such request
    does) puts the badge on every correct change-NIK case, and the badge stops meaning anything."""
    chat = up_to_ktp(ocr_app, twilio)
    told = chat.photo(fake_reader.card(KTP, TYPED))[-1]  # the KTP shows the NIK typed
    assert "Mana yang benar" not in told
    chat.photo(KK)
    chat.say("ya")
    ticket = latest_case(ocr_app).ticket
    page = claim(ocr_app, ticket).get(f"/console/cases/{ticket}").get_data(as_text=True)
    assert f"<strong data-ocr-nik>{TYPED}</strong>" in page
    assert "NIK beda" not in page


# What holds.
def test_what_was_read_is_shown_to_the_holder_only_and_never_logged(ocr_app, twilio, fake_reader, caplog):
    caplog.set_level("DEBUG")
    chat = up_to_ktp(ocr_app, twilio)
    chat.photo(fake_reader.card(KTP, PRINTED))
    chat.say("1")
    chat.photo(KK)
    chat.say("ya")
    ticket = latest_case(ocr_app).ticket
    logged = "\n".join(redact(r.getMessage()) for r in caplog.records)
    assert "SARI WULANDARI" not in logged and PRINTED not in logged and TYPED not in logged

    add_staff(ocr_app, ("tono", "agent"))
    tono = logged_in(ocr_app, "tono")  # not the holder
    claim(ocr_app, ticket, "ani")
    page = tono.get(f"/console/cases/{ticket}").get_data(as_text=True)
    assert "data-masked" in page and PRINTED not in page and "SARI WULANDARI" not in page
    with ocr_app.app_context():
        session = db.session()
        token = new_token(session, session.scalar(select(Staff).where(Staff.name == "tono")))
        session.commit()
    detail = ocr_app.test_client().get(f"/api/cases/{ticket}", headers=auth(token)).get_json()
    assert all(d["read"] is None and d["also_sent_for"] is None for d in detail["documents"])


# ================================================================================ the three new services
def _request_faskes(chat, who=NENENG, number: str = "1") -> None:
    for answer in ("9", who[0], who[1], number, "1"):
        chat.say(answer)
    assert "Permohonan pindah faskes terkirim" in chat.say("ya")[-1]


def _try_approve(app, ticket: str) -> None:
    decide(claim(app, ticket), ticket, decision="approve")


def test_a_facility_change_is_not_approved_for_a_participant_who_died_meanwhile(app, chat):
    set_participant(app, NENENG[0], faskes_since=office_today() - timedelta(days=400))
    _request_faskes(chat)
    case = latest_case(app)
    set_participant(app, NENENG[0], active=False, inactive_reason=InactiveReason.DECEASED,
                    deactivated_on=office_today() - timedelta(days=1))  # a death report approved meanwhile
    before = participant(app, NENENG[0]).faskes
    _try_approve(app, case.ticket)
    assert latest_case(app).status == "in_review", "approved for a deceased participant"
    assert participant(app, NENENG[0]).faskes == before


def test_a_second_facility_change_is_not_approved_within_three_months_of_the_first(app, twilio, chat):
    set_participant(app, NENENG[0], faskes_since=office_today() - timedelta(days=400))
    _request_faskes(chat, number="1")
    first = latest_case(app).ticket
    _request_faskes(Chat(app, twilio, phone="+6281299990001"), number="2")  # sent before the first was decided
    second = latest_case(app).ticket
    approve(app, first)
    moved = participant(app, NENENG[0])
    _try_approve(app, second)
    after = participant(app, NENENG[0])
    assert (after.faskes, after.faskes_since) == (moved.faskes, moved.faskes_since), \
        "moved twice within a month: the 3-month rule is checked only when the request is made"


def test_until_the_new_facility_applies_the_status_check_names_the_old_one(app, twilio, chat):
    """Approved: "Faskes baru … berlaku mulai 1 <next month>. Sampai itu, tetap ke faskes lama." The status
    check the same day must then name the facility the participant still has to go to: the old one."""
    set_participant(app, SARI[0], faskes_since=office_today() - timedelta(days=400))
    old = participant(app, SARI[0]).faskes
    _request_faskes(chat, who=SARI, number="1")
    approve(app, latest_case(app).ticket)
    assert "Sampai itu, tetap ke faskes lama" in chat.replies()[-1]
    asker = Chat(app, twilio, phone="+6281299990003")
    for answer in ("3", SARI[0]):
        asker.say(answer)
    told = asker.say(SARI[1])[-1]
    assert f"Faskes: {old}" in told, told


def test_reloading_the_demo_registry_does_not_undo_an_approved_death(app, chat):
    """scripts/run loads the demo registry at every start ("idempotent"); approvals now change it."""
    died = office_today() - timedelta(days=5)
    for answer in ("7", "2", SARI[0], died.strftime("%d-%m-%Y")):
        chat.say(answer)
    chat.photo(pdf(), "application/pdf")
    chat.say("ya")
    approve(app, latest_case(app).ticket)
    assert participant(app, SARI[0]).inactive_reason == InactiveReason.DECEASED
    result = app.test_cli_runner().invoke(args=["registry", "load"])
    assert result.exit_code == 0, result.output
    p = participant(app, SARI[0])
    assert (p.active, p.inactive_reason) == (False, InactiveReason.DECEASED), "the deceased is active again"


def test_a_newborn_changed_to_a_child_at_the_confirmation_sends_no_birth_certificate(app, chat):
    """The confirmation lists every document that goes with the request: one it no longer lists (the
    relation changed, so the certificate is not needed) must not go to the officer either."""
    for answer in ("8", SARI[0], SARI[1], "1", "lewati"):
        chat.say(answer)
    chat.photo(document_photo(seed=31))                 # the KK
    summary = chat.photo(document_photo(seed=32))[-1]  # the birth certificate
    assert "*3*. Anggota baru: Bayi baru lahir" in summary and "Akta / surat lahir: ✅" in summary
    assert "Siapa yang ingin" in chat.say("3")[-1]
    assert "NIK wajib diisi" in chat.say("3")[-1]      # a child: the NIK is needed now
    summary = chat.say("3201231203150002")[-1]
    assert "Mohon periksa" in summary and "Anggota baru: Anak" in summary
    assert "Akta / surat lahir" not in summary          # no longer listed…
    chat.say("ya")
    assert [d.kind for d in latest_case(app).documents] == ["kk"]  # …so not sent either


def test_a_childs_nik_asked_again_by_the_officer_cannot_be_skipped(app, chat):
    """Only a newborn may come without a NIK. An officer asks again for the NIK of a child: "lewati" must not
    leave the case with a child and no NIK (the flow's check after the question is not run on need_info)."""
    for answer in ("8", SARI[0], SARI[1], "3", "3201231203150002"):
        chat.say(answer)
    chat.photo(document_photo(seed=33))
    chat.say("ya")
    ticket = latest_case(app).ticket
    ani = claim(app, ticket)
    assert decide(ani, ticket, decision="need_info", item="member_nik", note="NIK salah").status_code == 302
    assert "NIK anggota baru" in chat.replies()[-1]
    told = chat.say("lewati")[-1]
    case = latest_case(app)
    assert case.fields["relation"] == "child"
    assert case.fields["member_nik"], f"a child without NIK went back to the officer: {told!r}"


# What holds.
def test_a_death_report_asks_again_for_an_unknown_number_refuses_a_future_date_and_knows_the_deceased(app, chat):
    chat.say("7")
    chat.say("1")
    assert "tidak kami temukan" in chat.say("0009999999999")[-1]
    chat.say(SARI[0])
    assert "tidak boleh setelah hari ini" in chat.say((office_today() + timedelta(days=1)).strftime("%d-%m-%Y"))[-1]
    chat.say("batal")
    chat.say("ya")
    set_participant(app, SARI[0], active=False, inactive_reason=InactiveReason.DECEASED)
    chat.say("7")
    chat.say("1")
    assert "sudah tercatat nonaktif karena meninggal" in chat.say(SARI[0])[-1]
    assert latest_case(app) is None


def test_the_three_month_rule_at_the_ends_of_months():
    assert allowed_from(date(2026, 8, 31)) == date(2026, 11, 30)
    assert allowed_from(date(2026, 11, 30)) == date(2027, 2, 28)
    assert allowed_from(date(2027, 11, 30)) == date(2028, 2, 29)
    assert allowed_from(None) is None
    assert first_of_next_month(date(2026, 12, 31)) == date(2027, 1, 1)


@pytest.mark.parametrize("typed, ok", [("0", False), ("satu", False), ("1 ", True), ("*2*", True), ("no 3", True),
                                        ("100", False), ("-1", False), ("１", False)])
def test_a_facility_number_is_a_small_positive_number(typed, ok):
    try:
        list_number(typed, {})
        accepted = True
    except Invalid:
        accepted = False
    assert accepted is ok
