"""A KTP/KK already sent for another case — from another number, or for another participant — flags both
cases for the officer, with a link between them (issue 17); the same citizen sending their own KTP again
for the same card does not; different cards of the same template do not."""
from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import delete, select

from bot import create_app
from handlers import reuse
from storage import db
from storage.cases import Case, Document, DocumentMatch
from tests.helpers import Chat, add_staff, csrf, logged_in
from tests.images import document_photo, ktp_photo
from tests.test_api import auth, staff_token


@pytest.fixture
def ocr_app(env):
    app = create_app({"ENV": {**env, "OCR_ENABLED": "1", "OCR_TIMEOUT": "30", "MEDIA_ALLOWED_HOSTS": "localhost"},
                      "TESTING": True})
    yield app
    app.extensions["db"].dispose()
    app.extensions["redis"].close()


def submit(app, twilio, phone: str, ktp: bytes, card: str = "0001234567890", nik: str = "3201234505860003",
           kk_seed: int = 2) -> str:
    chat = Chat(app, twilio, phone=phone)
    for answer in ("1", card, nik):
        chat.say(answer)
    chat.photo(ktp)
    chat.photo(document_photo(seed=kk_seed))
    chat.say("ya")
    with app.app_context():
        return db.session().scalars(select(Case.ticket).order_by(Case.id.desc())).first()


def matches(app) -> set[tuple[str, str, str]]:
    """(ticket, other ticket, reason) of every match."""
    with app.app_context():
        session = db.session()
        found = set()
        for m in session.scalars(select(DocumentMatch)):
            found.add((session.get(Case, m.document.case_id).ticket, session.get(Case, m.other.case_id).ticket, m.reason))
        return found


def rescaled(content: bytes, scale: float = 0.7, quality: int = 60) -> bytes:
    """What WhatsApp makes of a forwarded photo: smaller, compressed again."""
    img = Image.open(io.BytesIO(content))
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


def test_the_same_ktp_file_from_another_number_flags_both_cases_with_a_link(photo_app, twilio):
    ktp = ktp_photo("3201234505860027")
    first = submit(photo_app, twilio, "+6281200000001", ktp)
    second = submit(photo_app, twilio, "+6281200000002", ktp, kk_seed=3)
    assert matches(photo_app) == {(first, second, "same_file"), (second, first, "same_file")}

    add_staff(photo_app, ("ani", "agent"))
    ani = logged_in(photo_app, "ani")
    ani.post(f"/console/cases/{first}/claim", data={"csrf_token": csrf(ani, "/console/")})
    page = ani.get(f"/console/cases/{first}").get_data(as_text=True)
    assert "dipakai kasus lain" in page and "data-reuse" in page
    assert f'href="/console/cases/{second}"' in page and "berkas yang sama persis" in page


def test_a_forwarded_copy_of_the_photo_is_the_same_photo(photo_app, twilio):
    ktp = ktp_photo("3201234505860027")
    copy = rescaled(ktp)
    with photo_app.app_context():
        assert reuse.distance(reuse.hash_of(ktp), reuse.hash_of(copy)) <= reuse.SAME_PHOTO_BITS
    first = submit(photo_app, twilio, "+6281200000003", ktp)
    second = submit(photo_app, twilio, "+6281200000004", copy, kk_seed=3)
    assert {(first, second, "same_photo"), (second, first, "same_photo")} == matches(photo_app)


def test_the_same_card_photographed_again_is_found_by_the_nik_read_off_it(ocr_app, twilio):
    first = submit(ocr_app, twilio, "+6281200000005", ktp_photo("3201234505860027", seed=1), nik="3201234505860027")
    # Another photo of the card: other framing and pattern, so neither the file nor the picture match.
    again = ktp_photo("3201234505860027", seed=7, width=1100, quality=70)
    second = submit(ocr_app, twilio, "+6281200000006", again, nik="3201234505860027", kk_seed=3)
    assert (first, second, "same_nik") in matches(ocr_app) and (second, first, "same_nik") in matches(ocr_app)


def test_a_citizen_sending_their_own_ktp_again_for_the_same_card_is_not_reuse(photo_app, twilio):
    ktp = ktp_photo("3201234505860027")
    submit(photo_app, twilio, "+6281200000007", ktp)
    submit(photo_app, twilio, "+6281200000007", ktp, kk_seed=3)
    assert matches(photo_app) == set()


def test_the_same_ktp_for_another_participant_from_the_same_number_is_reuse(photo_app, twilio):
    ktp = ktp_photo("3201234505860027")
    first = submit(photo_app, twilio, "+6281200000008", ktp)
    second = submit(photo_app, twilio, "+6281200000008", ktp, card="0007097972063", nik="3201016802906957", kk_seed=3)
    assert (first, second, "same_file") in matches(photo_app)


def test_different_cards_of_the_same_template_do_not_match(ocr_app, twilio):
    submit(ocr_app, twilio, "+6281200000009", ktp_photo("3201234505860027", name="BUDI SANTOSO"), nik="3201234505860027")
    submit(ocr_app, twilio, "+6281200000010", ktp_photo("3201234505860035", name="SITI RAHAYU"), nik="3201234505860035",
           kk_seed=3)
    with ocr_app.app_context():
        assert len(db.session().scalars(select(Case)).all()) == 2  # both went through
    assert matches(ocr_app) == set()


def test_a_match_goes_with_its_document(photo_app, twilio):
    ktp = ktp_photo("3201234505860027")
    submit(photo_app, twilio, "+6281200000011", ktp)
    submit(photo_app, twilio, "+6281200000012", ktp, kk_seed=3)
    with photo_app.app_context():
        session = db.session()
        doc = session.scalars(select(Document).where(Document.kind == "ktp")).first()
        session.execute(delete(Document).where(Document.id == doc.id))
        session.commit()
        assert session.scalars(select(DocumentMatch)).all() == []


def test_the_api_names_what_was_read_and_the_other_case(photo_app, twilio):
    ktp = ktp_photo("3201234505860027")
    first = submit(photo_app, twilio, "+6281200000013", ktp)
    second = submit(photo_app, twilio, "+6281200000014", ktp, kk_seed=3)
    token = staff_token(photo_app, "ani")
    client = photo_app.test_client()
    assert client.post(f"/api/cases/{first}/claim", headers=auth(token)).status_code == 200
    detail = client.get(f"/api/cases/{first}", headers=auth(token)).get_json()
    ktp_doc = next(d for d in detail["documents"] if d["kind"] == "ktp")
    assert ktp_doc["also_sent_for"] == [{"ticket": second, "reason": "same_file"}]
