"""A sweeper that never dies and never duplicates: each step and each conversation on its own, the
run's own flow version for reminders, no reminders in the quiet hours, a heartbeat and the last clean
pass at /healthz/sweeper and /metrics."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import select

from rq import Queue

from bot import metrics, queues, sweeper
from flows import versions
from flows.definition import DEFINITIONS
from handlers.product import Product
from storage import db
from storage.models import Citizen, Conversation, OutboundMessage, OutboundStatus, as_utc, utcnow
from tests.conftest import wait_for
from tests.helpers import Chat, awake, run_jobs


pytestmark = pytest.mark.one_backend  # one database is enough here


def idle(app, now=None, **delta) -> None:
    with app.app_context():
        row = db.session().scalar(select(Conversation))
        row.last_activity_at = (now or utcnow()) - timedelta(**delta)
        db.session().commit()


def test_a_run_on_a_step_an_admin_removed_is_put_aside_not_a_crash(app, twilio):
    chat = Chat(app, twilio)
    chat.say("1")
    with app.app_context():
        row = db.session().scalar(select(Conversation))
        state = dict(row.state)
        state["run"] = {**state["run"], "step": "removed_step", "version": "0" * 12}
        row.state = state
        db.session().commit()
    idle(app, minutes=31)
    with app.app_context():
        assert sweeper.sweep_conversations() == {"reminded": 0, "expired": 1, "errors": 0}
        state = db.session().scalar(select(Conversation.state))
    assert "run" not in state and state["paused_run"]["step"] == "removed_step"
    reply = chat.last("halo")
    assert "Silakan balas dengan *angka*" in reply  # a run that cannot go on is not offered back


def test_reminders_use_the_version_the_run_started_on(app, twilio):
    chat = Chat(app, twilio)
    chat.say("1")
    chat.say("0001234567890")  # waiting at the NIK question of the file version
    raw = yaml.safe_load((DEFINITIONS / "change_nik.yml").read_text())
    raw["steps"]["nik"]["ask"] = "VERSI BARU: ketik NIK."
    with app.app_context():
        session = db.session()
        versions.save_draft(session, "flow:change_nik", yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), None)
        versions.publish(session, "flow:change_nik", None, [])
        session.commit()
    now = awake(app)  # reminders wait for the end of the quiet hours
    idle(app, now, minutes=31)
    with app.app_context():
        assert sweeper.sweep_conversations(now)["reminded"] == 1
    [reminder] = chat.replies()
    assert "NIK yang benar" in reminder and "VERSI BARU" not in reminder


WIB = ZoneInfo("Asia/Jakarta")  # config.yml's office time zone
NOTHING = {"reminded": 0, "expired": 0, "errors": 0}


def office(days_ago: int, hour: int, minute: int, second: int = 0) -> datetime:
    """A moment of office time some days back (the citizen's real messages stay in WhatsApp's window)."""
    day = utcnow().astimezone(WIB).date() - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=WIB)


def waiting_for_the_nik(app, twilio) -> Chat:
    chat = Chat(app, twilio)
    chat.say("1")
    chat.say("0001234567890")  # waiting at the NIK question
    return chat


def reminded_at(app) -> datetime | None:
    with app.app_context():
        value = db.session().scalar(select(Conversation.reminded_at))
    return value and as_utc(value)


def test_no_reminder_in_the_quiet_hours_and_one_when_they_end(app, twilio):
    chat = waiting_for_the_nik(app, twilio)
    idle(app, office(2, 20, 50))  # due at 21:20, in config.yml's quiet hours (21:00-07:00)
    with app.app_context():
        for at in (office(2, 23, 48), office(1, 0, 17), office(1, 6, 59, 59)):
            assert sweeper.sweep_conversations(at) == NOTHING, at
    assert chat.replies() == [] and reminded_at(app) is None
    with app.app_context():
        assert sweeper.sweep_conversations(office(1, 7, 0)) == {**NOTHING, "reminded": 1}  # 07:00 is allowed
        assert sweeper.sweep_conversations(office(1, 7, 30)) == NOTHING  # once
    [reminder] = chat.replies()
    assert "masih menunggu" in reminder and "NIK yang benar" in reminder
    assert reminded_at(app) == office(1, 7, 0)


def test_a_reminder_held_by_the_quiet_hours_is_not_sent_once_the_run_expired(app, twilio, monkeypatch):
    chat = waiting_for_the_nik(app, twilio)
    raw = app.config["PRODUCT"].raw
    monkeypatch.setitem(app.config, "PRODUCT", Product.checked(
        {**raw, "limits": {**raw["limits"], "run_expires_after_hours": 8}}))
    idle(app, office(2, 22, 30))
    with app.app_context():
        assert sweeper.sweep_conversations(office(1, 6, 29)) == NOTHING  # 7 h 59 min: due, but quiet
        assert sweeper.sweep_conversations(office(1, 7, 0)) == {**NOTHING, "expired": 1}
        assert sweeper.sweep_conversations(office(1, 7, 1)) == NOTHING
    assert chat.replies() == [] and reminded_at(app) is None
    offer = chat.last("halo")
    assert "belum selesai" in offer and "LANJUT" in offer  # put aside as before: offered back


def test_a_quiet_window_within_one_day(app, twilio, monkeypatch):
    chat = waiting_for_the_nik(app, twilio)
    raw = app.config["PRODUCT"].raw
    lunch = {"start": "12:00", "end": "13:00"}
    monkeypatch.setitem(app.config, "PRODUCT", Product.checked({**raw, "quiet_hours": lunch}))
    idle(app, office(1, 11, 0))
    with app.app_context():
        assert sweeper.sweep_conversations(office(1, 12, 0)) == NOTHING   # the start is quiet
        assert sweeper.sweep_conversations(office(1, 12, 59)) == NOTHING
        assert sweeper.sweep_conversations(office(1, 13, 0)) == {**NOTHING, "reminded": 1}
    [reminder] = chat.replies()
    assert "masih menunggu" in reminder
    assert reminded_at(app) == office(1, 13, 0)


def test_without_quiet_hours_a_reminder_goes_out_at_night(app, twilio, monkeypatch):
    chat = waiting_for_the_nik(app, twilio)
    monkeypatch.setitem(app.config, "PRODUCT", Product.checked({**app.config["PRODUCT"].raw, "quiet_hours": None}))
    idle(app, office(2, 23, 40))
    with app.app_context():
        assert sweeper.sweep_conversations(office(1, 0, 17)) == {**NOTHING, "reminded": 1}
    assert len(chat.replies()) == 1


def test_one_failing_step_does_not_stop_the_pass(app, twilio, monkeypatch):
    Chat(app, twilio).say("halo")
    with app.app_context():  # a reply stored but never queued, as after a lost job
        citizen = db.session().scalar(select(Citizen))
        db.session().add(OutboundMessage(citizen_id=citizen.id, body="tertinggal",
                                         created_at=utcnow() - timedelta(minutes=5),
                                         updated_at=utcnow() - timedelta(minutes=5)))
        db.session().commit()

    def broken(_now):
        raise KeyError("a bug in one step")

    monkeypatch.setattr(sweeper, "_inbound", broken)
    assert sweeper.run_pass(app) is False
    run_jobs(app)
    assert [m["Body"] for m in twilio.messages][-1] == "tertinggal"  # the other steps still ran
    with app.app_context():
        assert metrics.snapshot()["sweeper_errors"] == 1
    assert app.test_client().get("/healthz/sweeper").status_code == 503  # no clean pass yet


def test_the_thread_survives_any_error_and_reports_its_health(app, monkeypatch):
    calls = {"n": 0}
    real = sweeper.run_pass

    def flaky(target):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("first pass blows up")
        return real(target)

    monkeypatch.setattr(sweeper, "run_pass", flaky)
    stop = threading.Event()
    thread = sweeper.start_thread(app, stop)  # SWEEP_INTERVAL=1 in the tests
    try:
        wait_for(lambda: app.test_client().get("/healthz/sweeper").status_code == 200, timeout=15,
                 message="a clean pass after the failing one")
    finally:
        stop.set()
        thread.join(5)
    body = app.test_client().get("/healthz/sweeper").get_json()
    assert body["threads"] >= 1 and body["last_pass_age_seconds"] < 10
    with app.app_context():
        assert metrics.snapshot()["sweeper_errors"] >= 1
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert "pandawa_sweeper_last_pass_age_seconds" in text and "pandawa_sweeper_passes_total" in text


def test_nothing_is_enqueued_twice_under_a_backlog(app, twilio):
    chats = [Chat(app, twilio, phone=f"+62812000000{i:02d}") for i in range(20)]
    for chat in chats:
        chat.send("halo", run=False)
        chat.send("halo lagi", run=False)
    with app.app_context():
        for _ in range(5):
            sweeper.sweep()
            time.sleep(0.01)
        assert Queue(queues.INBOUND, connection=queues.redis()).count == 20  # one per citizen, not one per pass
    run_jobs(app)
    assert len(twilio.messages) == 40
    with app.app_context():
        assert {m.status for m in db.session().scalars(select(OutboundMessage))} == {OutboundStatus.QUEUED}


def test_one_conversation_that_fails_is_counted_but_the_pass_is_clean(app, twilio, monkeypatch):
    Chat(app, twilio).say("1")
    idle(app, minutes=31)

    def broken(_conversation_id, _now):
        raise KeyError("a bug with one conversation")

    monkeypatch.setattr(sweeper, "_conversation", broken)
    assert sweeper.run_pass(app) is True
    with app.app_context():
        assert metrics.snapshot()["sweeper_errors"] == 1
