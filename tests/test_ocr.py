"""Reading the NIK off the KTP while the citizen is still in the chat (issue 17): the real OCR engine on
generated KTP-like cards (never real people's), the mismatch put to the citizen and shown to the officer,
a KTP photo answering the NIK question, and an unreadable card never blocking anyone."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import create_app, metrics, queues, reading
from handlers import ocr
from storage import db, keys
from storage.cases import Case, Document
from storage.models import utcnow
from tests.helpers import Chat, add_staff, csrf, logged_in, run_jobs
from tests.images import document_photo, kk_photo, ktp_photo

CARD = "0001234567890"
TYPED = "3201234505860003"    # what the citizen types
PRINTED = "3201234505860027"  # what their KTP says
REGISTERED = "3201234505860011"  # what the registry has for CARD


@pytest.fixture
def ocr_app(env):
    app = create_app({"ENV": {**env, "OCR_ENABLED": "1", "OCR_TIMEOUT": "30", "MEDIA_ALLOWED_HOSTS": "localhost"}, "TESTING": True})
    yield app
    app.extensions["db"].dispose()
    app.extensions["redis"].close()


# ------------------------------------------------------------------------------ the reader
def test_the_nik_printed_on_a_generated_ktp_is_read_with_confidence():
    reading = ocr.reader().read(ktp_photo(PRINTED, birth="BOGOR, 05-05-1986"), timeout=60)
    assert reading.status == ocr.READ and reading.confident
    assert reading.nik == PRINTED and reading.confidence >= ocr.NIK_GATE
    assert reading.birth_date == "05-05-1986"
    assert reading.as_json()["nik"] == PRINTED


def test_a_photo_without_a_nik_is_not_read():
    reading = ocr.read_fields([ocr.Item([("PROVINSI JAWA BARAT", 0.99, None)], [(0, 0), (300, 0), (300, 20), (0, 20)])])
    assert reading.status == ocr.NOT_READ and reading.nik is None and not reading.confident


def _row(y: float, *words: tuple[str, float]) -> list[ocr.Item]:
    items, x = [], 0.0
    for text, conf in words:
        width = 12.0 * len(text)
        items.append(ocr.Item([(text, conf, [conf] * len(text))], [(x, y), (x + width, y), (x + width, y + 20), (x, y + 20)]))
        x += width + 10
    return items


@pytest.mark.parametrize("rows, nik, confident", [
    ([_row(0, ("NIK", 0.99), (":", 0.99), ("3201234505860011", 0.99))], "3201234505860011", True),
    ([_row(0, ("NIK:3201234505860011", 0.98))], "3201234505860011", True),
    # digit-like letters inside the number count as the digits they look like
    ([_row(0, ("NIK", 0.99), ("32O1234505860OI1", 0.97))], "3201234505860011", True),
    # one weak digit: not sure enough to put to the citizen
    ([_row(0, ("NIK", 0.99), ("3201234505860011", 0.62))], None, False),
    # 15 digits after the label: no NIK
    ([_row(0, ("NIK", 0.99), ("320123450586001", 0.99))], None, False),
    # no label: a lone 16-digit number
    ([_row(0, ("Nama", 0.99), ("BUDI", 0.99)), _row(40, ("3201234505860011", 0.99))], "3201234505860011", True),
])
def test_the_nik_is_taken_from_its_row(rows, nik, confident):
    reading = ocr.read_fields([item for row in rows for item in row])
    assert reading.nik == nik and reading.confident is confident


def test_a_read_past_its_deadline_or_failing_is_reported_never_raised(monkeypatch):
    reader = ocr.Reader()
    assert reader.read(b"whatever", timeout=0.1).status == ocr.TIMEOUT  # not even started

    def broken(image):
        raise RuntimeError("onnx exploded")

    monkeypatch.setattr(reader, "items", broken)
    assert reader.read(ktp_photo(PRINTED), timeout=30).status == ocr.FAILED


# ------------------------------------------------------------------------------ in the chat
def _up_to_ktp(app, twilio, phone: str) -> Chat:
    chat = Chat(app, twilio, phone=phone)
    for answer in ("1", CARD, TYPED):
        chat.say(answer)
    return chat


@pytest.mark.parametrize("answer, kept, choice", [("1", PRINTED, "sesuai foto KTP"),
                                                  ("2", TYPED, "sesuai ketikan, beda dengan foto KTP")])
def test_a_ktp_whose_nik_differs_from_the_typed_one_is_put_to_the_citizen_and_the_officer(
        ocr_app, twilio, answer, kept, choice):
    chat = _up_to_ktp(ocr_app, twilio, "+6281234567801")
    asked = chat.photo(ktp_photo(PRINTED, birth="BOGOR, 05-05-1986"))[-1]
    assert "Foto KTP diterima" in asked
    assert PRINTED in asked and TYPED in asked and "Mana yang benar?" in asked
    assert "Kartu Keluarga" not in asked  # one question at a time: the KK is asked after the answer
    with ocr_app.app_context():
        assert metrics.snapshot().get("ocr_read") == 1

    wrong = chat.say("yang tadi")[-1]
    assert "Balas *1*" in wrong and PRINTED in wrong  # the question again, with what to send

    told = chat.say(answer)[-1]
    assert f"kami pakai NIK *{kept}*" in told and "Kartu Keluarga" in told
    chat.photo(document_photo(seed=2))
    summary = chat.say("ya")
    with ocr_app.app_context():
        case = db.session().scalars(select(Case)).one()
        assert case.fields["nik"] == kept and case.fields["nik_choice"] == choice
        ktp = next(d for d in case.documents if d.kind == "ktp")
        assert ktp.ocr["status"] == "read" and ktp.ocr_nik == PRINTED and ktp.phash
        ticket = case.ticket
    assert summary and ticket in summary[-1]

    add_staff(ocr_app, ("ani", "agent"))
    ani = logged_in(ocr_app, "ani")
    ani.post(f"/console/cases/{ticket}/claim", data={"csrf_token": csrf(ani, "/console/")})
    page = ani.get(f"/console/cases/{ticket}").get_data(as_text=True)
    assert "Dibaca otomatis dari foto: NIK terbaca" in page and f"<strong data-ocr-nik>{PRINTED}</strong>" in page
    if kept == TYPED:  # the citizen kept the typed NIK: the officer sees the card disagrees
        assert "data-mismatch" in page and "NIK beda" in page
    else:
        assert "data-mismatch" not in page


def test_a_ktp_photo_sent_for_the_nik_question_answers_it_and_is_kept_as_the_ktp(ocr_app, twilio):
    chat = Chat(ocr_app, twilio, phone="+6281234567802")
    chat.say("1")
    chat.say(CARD)
    told = chat.photo(ktp_photo(PRINTED, birth="BOGOR, 05-05-1986"))[-1]
    assert f"NIK terbaca dari foto: *{PRINTED}*" in told
    assert "Kartu Keluarga" in told and "foto KTP" not in told.split("✅", 1)[1]  # the KTP is not asked again
    summary = chat.photo(document_photo(seed=3))[-1]
    assert "Mohon periksa" in summary and PRINTED in summary  # the confirmation, with the NIK read
    with ocr_app.app_context():
        assert sorted(db.session().scalars(select(Document.kind))) == ["kk", "ktp"]


def test_an_unreadable_photo_for_the_nik_question_asks_to_type_it(ocr_app, twilio):
    chat = Chat(ocr_app, twilio, phone="+6281234567803")
    chat.say("1")
    chat.say(CARD)
    told = chat.photo(ktp_photo(""))[-1]  # a card with an empty NIK line
    assert "Foto KTP diterima" in told  # kept: the KTP is not asked for again
    assert "belum bisa kami baca" in told and "Ketik *NIK yang benar*" in told
    assert "Kartu Keluarga" in chat.say(TYPED)[-1]  # typed: on to the KK


def test_an_unreadable_ktp_is_still_accepted_when_sharp(ocr_app, twilio):
    chat = _up_to_ktp(ocr_app, twilio, "+6281234567804")
    told = chat.photo(ktp_photo(""))[-1]
    assert "Foto KTP diterima" in told and "Kartu Keluarga" in told and "Mana yang benar" not in told
    with ocr_app.app_context():
        ktp = db.session().scalars(select(Document)).one()
        assert ktp.ocr["status"] == "not_read" and ktp.ocr_nik is None


def test_with_ocr_off_a_ktp_is_taken_as_before(photo_app, twilio):
    app = photo_app
    chat = _up_to_ktp(app, twilio, "+6281234567805")
    told = chat.photo(ktp_photo(PRINTED))[-1]
    assert "Foto KTP diterima" in told and "Mana yang benar" not in told
    with app.app_context():
        ktp = db.session().scalars(select(Document)).one()
        assert ktp.ocr is None and ktp.ocr_nik is None and len(ktp.phash) == 16


def test_choosing_the_cards_nik_runs_the_flows_checks_on_it(ocr_app, twilio):
    """The KTP shows the NIK the card already has: choosing it is checked like a typed answer would be."""
    chat = _up_to_ktp(ocr_app, twilio, "+6281234567806")
    assert "Mana yang benar?" in chat.photo(ktp_photo(REGISTERED))[-1]
    told = chat.say("1")[-1]
    assert "sudah sama dengan yang tercatat" in told and "Ketik *NIK yang benar*" in told


# ------------------------------------------------------------------------------ a KK, in the background
FAMILY = [("BUDI SANTOSO", TYPED), ("ANDI SANTOSO", "3201231203150002")]


@pytest.mark.parametrize("members, listed", [(FAMILY, True), (FAMILY[1:], False)])
def test_a_kk_is_read_in_the_background_and_whether_the_nik_is_on_it_is_shown(ocr_app, twilio, members, listed):
    chat = _up_to_ktp(ocr_app, twilio, "+6281234567807")
    chat.photo(ktp_photo(TYPED))
    chat.photo(kk_photo("3201230101090001", members))
    chat.say("ya")  # the case is queued; its KK waits for the reader process
    with ocr_app.app_context():
        kk = db.session().scalars(select(Document).where(Document.kind == "kk")).one()
        assert kk.ocr is None and queues.queue(queues.DOCUMENTS).count == 1
    run_jobs(ocr_app, [queues.DOCUMENTS])
    with ocr_app.app_context():
        kk = db.session().scalars(select(Document).where(Document.kind == "kk")).one()
        assert kk.ocr["status"] == "read" and kk.ocr_nik == "3201230101090001"
        assert (TYPED in kk.ocr["niks"]) is listed
        ticket = kk.case.ticket
    add_staff(ocr_app, ("ani", "agent"))
    ani = logged_in(ocr_app, "ani")
    ani.post(f"/console/cases/{ticket}/claim", data={"csrf_token": csrf(ani, "/console/")})
    page = ani.get(f"/console/cases/{ticket}").get_data(as_text=True)
    assert "NIK anggota di foto" in page
    assert ("data-mismatch" in page) is (not listed)


def test_the_sweeper_queues_a_kk_nobody_queued(ocr_app, twilio):
    chat = _up_to_ktp(ocr_app, twilio, "+6281234567808")
    chat.photo(ktp_photo(TYPED))
    chat.photo(kk_photo("3201230101090001", FAMILY))
    chat.say("ya")
    with ocr_app.app_context():
        kk_id = db.session().scalar(select(Document.id).where(Document.kind == "kk"))
        queues.queue(queues.DOCUMENTS).empty()  # lost while waiting: Redis forgot it
        queues.redis().delete(keys.queued("reading", kk_id))
        assert reading.queue_unread(utcnow() + timedelta(minutes=5)) == 1
        assert reading.queue_unread(utcnow() + timedelta(minutes=5)) == 0  # once
