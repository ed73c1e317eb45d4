"""What the bot learns from: messages it did not understand, was unsure about, or was corrected on land
in the admins' NLU review, masked; admins label them (compare-and-set, audited); the bot asks before
starting a service it is unsure of, and "bukan" right after a guess brings the menu back."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import create_app, lifecycle
from handlers import nlu_review
from nlu.client import FALLBACK, Parse
from storage import db
from storage.models import Conversation, utcnow
from storage.nlu import NluReview, ReviewReason, ReviewStatus
from storage.staff import AuditLog
from tests.helpers import Chat, add_staff, csrf, logged_in
from tests.nlu_double import KeywordNLU

pytestmark = pytest.mark.one_backend

STORY = "kmrn ibu sy ke rs, katanya kartunya ga bs dipake, nik nya 3201234505860003 gmn ya"


class ScriptedNLU(KeywordNLU):
    """The keyword double, with fixed answers for the texts a test names."""

    def __init__(self, answers: dict[str, Parse]):
        super().__init__()
        self.answers = answers

    def parse(self, text: str) -> Parse:
        self.asked.append(text)
        return self.answers.get(text) or super().parse(text)


UNSURE = Parse("reactivation", 0.42, [("reactivation", 0.42), ("check_status", 0.2)])
AMBIGUOUS = Parse(FALLBACK, 0.45, [(FALLBACK, 0.45), ("reactivation", 0.45), ("check_status", 0.38)])
SURE_NIK = Parse("change_nik", 0.91, [("change_nik", 0.91), ("change_phone", 0.04)])
UNSURE_NIK = Parse("change_nik", 0.45, [("change_nik", 0.45), ("change_phone", 0.3)])
NUMBERS = "kartu 0001234567890 nik yg bener 3201234505860003 gmn ini"


@pytest.fixture
def app(env):
    app = create_app({"ENV": env, "TESTING": True})
    app.extensions["nlu"] = ScriptedNLU({"kartu ibu sy gmn ini": UNSURE, "kartu sy kenapa ya": AMBIGUOUS,
                                         STORY: SURE_NIK, NUMBERS: UNSURE_NIK})
    add_staff(app, ("adi", "admin"), ("ani", "agent"))
    yield app
    app.extensions["db"].dispose()


def reviews(app) -> list[NluReview]:
    with app.app_context():
        rows = db.session().scalars(select(NluReview).order_by(NluReview.id)).all()
        db.session().expunge_all()
        return rows


@pytest.mark.parametrize("text, masked", [
    ("nik sy 3201234505860003 salah", "nik sy •••••••••••••••• salah"),
    ("no hp 0812-3456-7890 hilang", "no hp ••••-••••-•••• hilang"),
    ("kartu 0001 2345 67890 tdk aktif", "kartu •••• •••• ••••• tdk aktif"),
    ("+6281234567890 ini nomor sy", "+" + "•" * 13 + " ini nomor sy"),
    ("anak sy 2, bayar rp 50 ribu jam 10", "anak sy 2, bayar rp 50 ribu jam 10"),
    ("nik3201234505860003 salah, hp 081234567890nya", "nik•••••••••••••••• salah, hp ••••••••••••nya"),
    ("nama saya Siti Aminah, mau ganti nik", "nama saya •••• ••••••, mau ganti nik"),
    ("kartu atas nama: Budi, mati", "kartu atas nama: ••••, mati"),
])
def test_personal_numbers_are_masked_and_short_numbers_kept(text, masked):
    assert nlu_review.mask(text) == masked


def test_a_message_the_bot_did_not_understand_is_kept_masked_for_review(app, twilio):
    [reply] = Chat(app, twilio).send("sy mau tanya soal 3201234505860003 itu lho")
    assert "belum memahami" in reply
    [review] = reviews(app)
    assert review.reason == ReviewReason.NOT_UNDERSTOOD and review.status == ReviewStatus.OPEN
    assert "3201" not in review.text and "••••" in review.text
    assert "pandawa_nlu_reviews_open 1" in app.test_client().get("/metrics").get_data(as_text=True)


def test_unsure_about_one_service_the_bot_asks_first_and_yes_starts_it(app, twilio):
    chat = Chat(app, twilio)
    [question] = chat.send("kartu ibu sy gmn ini")
    assert "Maksud Anda *Aktifkan kembali kartu PBI*?" in question and "*YA*" in question
    [review] = reviews(app)
    assert (review.reason, review.intent, review.confidence) == (ReviewReason.UNSURE, "reactivation", 0.42)
    assert "*Aktifkan kembali kartu PBI*" in chat.last("ya")
    assert [r.reason for r in reviews(app)] == [ReviewReason.UNSURE]  # a "ya" confirms: nothing more to learn


def test_no_to_the_question_brings_the_menu_and_marks_the_guess_corrected(app, twilio):
    chat = Chat(app, twilio)
    chat.send("kartu ibu sy gmn ini")
    reply = chat.last("bukan")
    assert "salah menangkap maksud" in reply and "*1*." in reply
    [review] = reviews(app)
    assert review.reason == ReviewReason.CORRECTED and review.intent == "reactivation"


def test_two_close_services_get_one_question_and_the_message_is_kept(app, twilio):
    [question] = Chat(app, twilio).send("kartu sy kenapa ya")
    assert "*A*." in question and "*B*." in question
    [review] = reviews(app)
    assert (review.reason, review.intent, review.runner_up) == (ReviewReason.AMBIGUOUS, "reactivation", "check_status")


def test_bukan_right_after_a_guess_ends_it_shows_the_menu_and_is_kept_as_corrected(app, twilio):
    chat = Chat(app, twilio)
    [started] = chat.send(STORY)
    assert "*Ubah / perbaiki NIK*" in started
    reply = chat.last("bukan")
    assert "salah menangkap maksud" in reply and "*1*." in reply
    [review] = reviews(app)
    assert review.reason == ReviewReason.CORRECTED and review.intent == "change_nik"
    assert "3201" not in review.text and review.text.startswith("kmrn ibu sy ke rs")
    with app.app_context():
        assert "run" not in chat_state(app)


def chat_state(app) -> dict:
    return db.session().scalars(select(Conversation)).one().state


@pytest.mark.parametrize("correction", ["batal", "mau bicara dengan petugas"])
def test_cancelling_or_asking_for_an_officer_right_after_a_guess_is_kept_as_corrected(app, twilio, correction):
    chat = Chat(app, twilio)
    chat.send(STORY)
    chat.send(correction)
    [review] = reviews(app)
    assert review.reason == ReviewReason.CORRECTED


def test_a_service_chosen_from_the_menu_or_answered_first_is_not_a_misunderstanding(app, twilio):
    chat = Chat(app, twilio)
    chat.send("1")
    chat.send("batal")
    chat.send("ya")
    chat.send(STORY)
    chat.send("0001234567890")  # the first question answered: the guess stands
    chat.send("batal")
    assert reviews(app) == []


def label(client, review_id: int, **form):
    return client.post(f"/console/admin/nlu/{review_id}", data={"csrf_token": csrf(client, "/console/admin/nlu/"),
                                                                "action": "label", **form})


def test_admins_label_a_review_once_audited_and_it_becomes_a_training_example(app, twilio):
    Chat(app, twilio).send("sy mau tanya soal 3201234505860003 itu lho")
    [review] = reviews(app)
    adi = logged_in(app, "adi")
    page = adi.get("/console/admin/nlu/").get_data(as_text=True)
    assert "Tidak dipahami" in page and "••••" in page and "3201234505860003" not in page
    assert label(adi, review.id, intent="change_nik").status_code == 302
    assert label(adi, review.id, intent="complaint").status_code == 302  # already decided: refused
    assert "sudah ditangani" in adi.get("/console/admin/nlu/").get_data(as_text=True)
    [done] = reviews(app)
    assert (done.status, done.label) == (ReviewStatus.LABELLED, "change_nik")
    with app.app_context():
        assert nlu_review.examples(db.session()) == [("sy mau tanya soal 0000000000000000 itu lho", "change_nik")]
        actions = db.session().scalars(select(AuditLog.action).where(AuditLog.action.like("nlu_%"))).all()
    assert actions.count("nlu_view") >= 1 and actions.count("nlu_label") == 1


def test_out_of_scope_dismiss_and_undo(app, twilio):
    chat = Chat(app, twilio)
    chat.send("sy mau tanya soal 3201234505860003 itu lho")
    chat.send("kartu sy kenapa ya")
    first, second = reviews(app)
    adi = logged_in(app, "adi")
    label(adi, first.id, intent="out_of_scope")
    adi.post(f"/console/admin/nlu/{second.id}", data={"csrf_token": csrf(adi, "/console/admin/nlu/"), "action": "dismiss"})
    assert [(r.status, r.label) for r in reviews(app)] == [(ReviewStatus.OUT_OF_SCOPE, "out_of_scope"),
                                                          (ReviewStatus.DISMISSED, None)]
    with app.app_context():
        assert [intent for _, intent in nlu_review.examples(db.session())] == ["out_of_scope"]
    adi.post(f"/console/admin/nlu/{first.id}", data={"csrf_token": csrf(adi, "/console/admin/nlu/"), "action": "reopen"})
    assert reviews(app)[0].status == ReviewStatus.OPEN
    assert "Diabaikan (1)" in adi.get("/console/admin/nlu/?status=dismissed").get_data(as_text=True)


@pytest.mark.parametrize("form, status", [({"intent": "no_such_intent"}, 400), ({"action": "explode"}, 400)])
def test_a_bad_label_is_refused_with_400(app, twilio, form, status):
    Chat(app, twilio).send("sy mau tanya soal 3201234505860003 itu lho")
    [review] = reviews(app)
    adi = logged_in(app, "adi")
    data = {"csrf_token": csrf(adi, "/console/admin/nlu/"), "action": "label", **form}
    assert adi.post(f"/console/admin/nlu/{review.id}", data=data).status_code == status
    assert reviews(app)[0].status == ReviewStatus.OPEN


def test_agents_do_not_see_the_review(app):
    ani = logged_in(app, "ani")
    assert ani.get("/console/admin/nlu/").status_code == 403
    assert ani.get("/console/admin/nlu/models").status_code == 403


def test_open_reviews_go_with_the_messages_retention_and_an_erased_citizen_takes_his(app, twilio):
    Chat(app, twilio).send("sy mau tanya soal 3201234505860003 itu lho")
    Chat(app, twilio, phone="+6281299990000").send("kartu sy kenapa ya")
    old, kept = reviews(app)
    with app.app_context():
        session = db.session()
        session.get(NluReview, old.id).created_at = utcnow() - timedelta(days=200)
        session.get(NluReview, kept.id).created_at = utcnow() - timedelta(days=200)
        nlu_review.decide(session, kept.id, "check_status", None, utcnow())
        session.commit()
        lifecycle.purge()
    assert [r.id for r in reviews(app)] == [kept.id]  # labelled: training data, kept
    with app.app_context():
        lifecycle.erase(kept.citizen_id)
    assert reviews(app) == []


def test_a_menu_number_after_the_question_is_the_menu_and_a_later_number_is_not_taken_for_it(app, twilio):
    chat = Chat(app, twilio)
    chat.send("kartu ibu sy gmn ini")
    assert "*Ubah / perbaiki NIK*" in chat.last("1")  # menu item 1, not "yes" to "Aktifkan kembali…?"
    chat.send("batal")
    chat.send("ya")
    chat.send("kartu ibu sy gmn ini")
    chat.send("1")
    chat.send("menu")
    assert "*Ganti nomor HP*" in chat.last("2")  # the question asked two answers ago is void


def test_yes_to_the_question_starts_that_service_even_with_a_request_kept_for_later(app, twilio):
    chat = Chat(app, twilio)
    chat.send("2")
    chat.send("menu")  # the phone change is kept for later
    chat.send("kartu ibu sy gmn ini")
    assert "*Aktifkan kembali kartu PBI*" in chat.last("ya")


def test_yes_to_the_question_uses_the_numbers_the_first_message_had(app, twilio):
    chat = Chat(app, twilio)
    [question] = chat.send(NUMBERS)
    assert "Maksud Anda *Ubah / perbaiki NIK*?" in question
    reply = chat.last("ya")
    assert "nomor kartu JKN-KIS" not in reply and "NIK yang benar" not in reply  # both already answered


def test_words_an_admin_already_decided_are_not_asked_about_again(app, twilio):
    Chat(app, twilio).send("sy mau tanya soal 3201234505860003 itu lho")
    [review] = reviews(app)
    with app.app_context():
        assert nlu_review.decide(db.session(), review.id, "change_nik", None, utcnow())
        db.session().commit()
    Chat(app, twilio, phone="+6281211112222").send("sy mau tanya soal 3201234505860004 itu lho")  # the same, masked
    Chat(app, twilio, phone="+6281211113333").send("sy mau tanya yg lain lho")
    assert [r.text for r in reviews(app)] == ["sy mau tanya soal •••••••••••••••• itu lho", "sy mau tanya yg lain lho"]
