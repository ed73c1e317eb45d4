"""One owner for a citizen's conversation: an agent (or the sweeper) acting while a worker is between
reading the conversation and writing it back never loses what either did, and no reply is ever
stored twice. Races are made deterministic with an NLU server that holds its answer until the test
has acted; they run on real worker processes and PostgreSQL (SQLite where there is none)."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot import casework, create_app, dispatch
from bot.jobs import _attempt
from flows import conversation
from storage import db
from storage.cases import Case, CaseStatus, Document
from storage.models import Citizen, Conversation, InboundMessage, InboundStatus, OutboundMessage, utcnow
from storage.staff import Satisfaction, Staff
from tests.conftest import wait_for
from tests.helpers import Chat, run_jobs, submit_nik_case
from tests.images import document_photo
from tests.nlu_double import NLUServer

PHONE = "+6281234567890"


pytestmark = pytest.mark.one_backend  # one database is enough here


@pytest.fixture
def nlu():
    server = NLUServer().start()
    yield server
    server.stop()


@pytest.fixture
def env_nlu(env, nlu):
    return {**env, "RASA_URL": nlu.url, "MEDIA_ALLOWED_HOSTS": "localhost"}


@pytest.fixture
def app(env_nlu):
    app = create_app({"ENV": env_nlu, "TESTING": True})
    yield app
    app.extensions["db"].dispose()


@pytest.fixture
def agent(app) -> int:
    with app.app_context():
        staff = Staff(name="ani", role="agent", password_hash="-")
        db.session().add(staff)
        db.session().commit()
        return staff.id


def replies_to(twilio, phone=PHONE) -> list[str]:
    return [m["Body"] for m in twilio.messages if m["To"] == f"whatsapp:{phone}"]


def make_nik_case(app, twilio) -> tuple[Chat, int]:
    """A change-NIK case, made in-process (menu numbers and answers only: no NLU call)."""
    chat = submit_nik_case(app, twilio, phone=PHONE)
    with app.app_context():
        return chat, db.session().scalar(select(Case.id))


def act(app, operation):
    """Do what an agent does in the console, with the console's own functions."""
    with app.app_context():
        session = db.session()
        operation(session)
        session.close()


def claimed(app, case_id: int, agent: int) -> None:
    act(app, lambda s: casework.claim(s, s.get(Case, case_id), s.get(Staff, agent)))


def state_of(app, phone=PHONE) -> dict:
    with app.app_context():
        citizen = db.session().scalar(select(Citizen).where(Citizen.phone == phone))
        return dict(db.session().scalar(select(Conversation).where(Conversation.citizen_id == citizen.id)).state)


def while_deciding(chat, nlu, twilio, body: str, action, workers, expect_replies: int):
    """The citizen writes ``body``; while the worker waits for the NLU, ``action`` runs; then the worker goes on."""
    before = len(replies_to(twilio, chat.phone))
    nlu.hold()
    chat.send(body, run=False)
    assert nlu.arrived.wait(30), "the worker never asked the NLU:\n" + workers.logs()
    action()
    nlu.release()
    wait_for(lambda: len(replies_to(twilio, chat.phone)) >= before + expect_replies, timeout=30,
             message=lambda: f"{expect_replies} replies\n" + workers.logs())
    return replies_to(twilio, chat.phone)[before:]


def test_asking_for_the_kk_again_while_the_worker_decides_keeps_the_request(app, twilio, workers, env_nlu, nlu, agent):
    chat, case_id = make_nik_case(app, twilio)
    claimed(app, case_id, agent)
    workers.env = env_nlu
    workers.start(1, "--no-sweeper")

    def need_kk():
        act(app, lambda s: casework.decide(s, s.get(Case, case_id), s.get(Staff, agent), "need_info",
                                           note="KK kurang jelas", item="kk"))

    new = while_deciding(chat, nlu, twilio, "halo kak, mau tanya", need_kk, workers, expect_replies=2)
    asked, answer = new[0], new[-1]
    assert "data tambahan" in asked and "Kartu Keluarga" in asked
    assert "Kartu Keluarga" in answer and "*1*. Ubah" not in answer  # the question asked again, not the main menu
    assert state_of(app)["run"]["need_info_case"] == case_id

    chat.send("", [(document_photo(seed=9), "image/jpeg")], run=False)
    wait_for(lambda: "sudah kami terima" in (replies_to(twilio)[-1] if replies_to(twilio) else ""), timeout=30,
             message=lambda: workers.logs())
    with app.app_context():
        case = db.session().get(Case, case_id)
        assert case.status == CaseStatus.IN_REVIEW and case.updated_by_citizen  # back to the officer who asked
        assert db.session().scalar(select(func.count()).select_from(Document).where(Document.case_id == case_id)) == 3


def test_closing_a_case_while_the_worker_decides_keeps_the_survey(app, twilio, workers, env_nlu, nlu, agent):
    chat, case_id = make_nik_case(app, twilio)
    claimed(app, case_id, agent)
    act(app, lambda s: casework.decide(s, s.get(Case, case_id), s.get(Staff, agent), "approve"))
    workers.env = env_nlu
    workers.start(1, "--no-sweeper")
    wait_for(lambda: "DISETUJUI" in replies_to(twilio)[-1], timeout=30, message=lambda: workers.logs())

    def close():
        act(app, lambda s: casework.close(s, s.get(Case, case_id), s.get(Staff, agent)))

    new = while_deciding(chat, nlu, twilio, "halo kak, mau tanya", close, workers, expect_replies=2)
    assert any("penilaian" in text for text in new)
    assert state_of(app).get("survey") == case_id  # the greeting came before the question: not an answer to it

    before = len(replies_to(twilio))
    chat.send("3", run=False)
    wait_for(lambda: len(replies_to(twilio)) > before, timeout=30, message=lambda: workers.logs())
    assert "Ada saran" in replies_to(twilio)[-1]  # the rating, not menu item 3
    with app.app_context():
        assert db.session().scalar(select(Satisfaction.rating).where(Satisfaction.case_id == case_id)) == 3


def test_taking_over_while_the_worker_decides_silences_the_bot(app, twilio, workers, env_nlu, nlu, agent):
    chat, case_id = make_nik_case(app, twilio)
    claimed(app, case_id, agent)
    workers.env = env_nlu
    workers.start(1, "--no-sweeper")
    before = len(replies_to(twilio))
    nlu.hold()
    chat.send("halo kak, mau tanya", run=False)
    assert nlu.arrived.wait(30)
    act(app, lambda s: casework.take_over(s, s.get(Case, case_id), s.get(Staff, agent)))
    nlu.release()
    wait_for(lambda: processed(app) == 7, timeout=30, message=lambda: workers.logs())
    assert len(replies_to(twilio)) == before  # the officer answers, not the bot
    with app.app_context():
        assert db.session().scalar(select(Conversation.handoff_since)) is not None


def test_putting_a_run_aside_while_the_citizen_writes_is_not_undone(app, twilio, workers, env_nlu, nlu):
    chat = Chat(app, twilio, phone=PHONE)
    chat.say("1")
    chat.say("0001234567890")  # now at the NIK question
    workers.env = env_nlu
    workers.start(1, "--no-sweeper")

    def expire():  # what the sweeper does to a run left for a day (as if the citizen's lock had expired)
        def operation(session):
            row = session.scalar(select(Conversation))
            product, flows = app.config["PRODUCT"], app.extensions["flows"]
            conversation.retrying(session, lambda: conversation.remind_or_expire(
                session, row, flows, product, utcnow() + timedelta(days=2)))
        act(app, operation)

    [reply] = while_deciding(chat, nlu, twilio, "3201", expire, workers, expect_replies=1)
    assert "belum selesai" in reply and "LANJUT" in reply  # decided again on the run put aside
    state = state_of(app)
    assert "run" not in state and state["paused_run"]["step"] == "nik"


def processed(app) -> int:
    with app.app_context():
        return db.session().scalar(select(func.count()).select_from(InboundMessage)
                                   .where(InboundMessage.status == InboundStatus.PROCESSED))


def test_two_workers_deciding_the_same_message_store_one_reply(app, twilio, nlu):
    """What happens when a citizen's lock expires mid-message and a second worker takes the message."""
    chat = Chat(app, twilio, phone=PHONE)
    chat.send("halo min", run=False)
    with app.app_context():
        message_id = db.session().scalar(select(InboundMessage.id))
    nlu.hold()
    results, errors = [], []

    def worker():
        try:
            with app.app_context():
                results.append(_attempt(db.session(), message_id))
        except Exception as exc:  # noqa: BLE001  (reported by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(nlu.asked) >= 2, timeout=20, message="both workers at the NLU")
    nlu.release()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with app.app_context():
        replies = db.session().scalar(select(func.count()).select_from(OutboundMessage)
                                      .where(OutboundMessage.in_reply_to_id == message_id))
        assert replies == 1
        assert db.session().get(InboundMessage, message_id).status == InboundStatus.PROCESSED
    assert sorted(len(r.outbound_ids) for r in results) == [0, 1]


def test_closing_a_handoff_asks_the_survey_and_the_rating_is_not_taken_by_the_run(app, twilio, agent):
    chat = Chat(app, twilio, phone=PHONE)
    chat.say("1")
    chat.say("0001234567890")  # a run waits for the NIK
    assert "petugas" in chat.last("petugas")
    with app.app_context():
        case_id = db.session().scalar(select(Case.id).where(Case.service == "handoff"))
    claimed(app, case_id, agent)
    act(app, lambda s: casework.message(s, s.get(Case, case_id), s.get(Staff, agent), "Baik, kami bantu."))
    act(app, lambda s: casework.close(s, s.get(Case, case_id), s.get(Staff, agent)))
    chat.replies()
    assert "Ada saran" in chat.last("4")
    with app.app_context():
        assert db.session().scalar(select(Satisfaction.rating).where(Satisfaction.case_id == case_id)) == 4
    assert "Terima kasih" in chat.last("lewati")
    assert "NIK" in chat.last("halo")  # and the run goes on where it was


def test_two_cases_needing_information_are_both_asked_in_turn(app, twilio, agent):
    chat, first = make_nik_case(app, twilio)
    for answer in ("1", "0007108093746", "3201234505860003"):  # a second case of the same citizen
        chat.say(answer)
    chat.photo(document_photo(seed=3))
    chat.photo(document_photo(seed=4))
    chat.say("ya")
    with app.app_context():
        second = db.session().scalar(select(Case.id).where(Case.id != first))
    for case_id, item in ((first, "kk"), (second, "ktp")):
        claimed(app, case_id, agent)
        act(app, lambda s, c=case_id, i=item: casework.decide(s, s.get(Case, c), s.get(Staff, agent), "need_info",
                                                              item=i))
    chat.replies()
    reply = chat.photo(document_photo(seed=5))[0]  # answers the newest request (the KTP of the second case)
    assert "sudah kami terima" in reply and "Kartu Keluarga" in reply  # then the first request is asked again
    reply = chat.photo(document_photo(seed=6))[0]
    assert "sudah kami terima" in reply
    with app.app_context():
        statuses = {c.id: (c.status, c.updated_by_citizen) for c in db.session().scalars(select(Case))}
    assert statuses == {first: (CaseStatus.IN_REVIEW, True), second: (CaseStatus.IN_REVIEW, True)}


def test_a_need_info_request_the_citizen_cancels_goes_back_to_the_agents(app, twilio, agent):
    chat, case_id = make_nik_case(app, twilio)
    claimed(app, case_id, agent)
    act(app, lambda s: casework.decide(s, s.get(Case, case_id), s.get(Staff, agent), "need_info", item="kk"))
    chat.replies()
    chat.say("batal")
    chat.say("ya")
    with app.app_context():
        case = db.session().get(Case, case_id)
        assert case.status == CaseStatus.SUBMITTED and case.assigned_to is None
        assert [e.kind for e in case.events][-1] == "need_info_abandoned"


def test_a_job_for_a_message_already_handled_leaves_no_marker_behind(app, twilio):
    """Job B finds its message handled by job A; a marker left by B would keep the next message waiting."""
    chat = Chat(app, twilio, phone=PHONE)
    chat.say("halo")
    with app.app_context():
        message = db.session().scalar(select(InboundMessage))
        assert dispatch.enqueue_inbound(message.id, message.citizen_id)  # a second job for a handled message
    run_jobs(app)
    assert len(chat.say("menu")) == 1  # the next message got a job of its own at once
