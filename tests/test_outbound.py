"""Outbound to Twilio: retries with backoff on 5xx/429/timeouts, never the same reply twice."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot import pacing
from bot.outbound import TransientSendError, send_outbound
from storage import db, keys
from storage.models import Citizen, OutboundMessage
from tests.conftest import wait_for


@pytest.fixture
def reply_id(app):
    with app.app_context():
        session = db.session()
        row = OutboundMessage(citizen=Citizen(phone="+6281234567890"), body="Tiket Anda PDW-20261123-0001")
        session.add(row)
        session.commit()
        return row.id


def row(app, reply_id) -> OutboundMessage:
    with app.app_context():
        return db.session().get(OutboundMessage, reply_id)


def attempt(app, reply_id):
    with app.app_context():
        try:
            return send_outbound(reply_id)
        except TransientSendError as exc:
            return exc


def test_500_then_201_sends_once_with_the_retry_done_by_a_real_rq_worker(app, reply_id, twilio, workers):
    twilio.fail_next(2, status=500)
    from bot.dispatch import enqueue_outbound

    with app.app_context():
        assert enqueue_outbound(reply_id)
    workers.start(1, "--no-sweeper")
    done = wait_for(lambda: row(app, reply_id).status == "queued", timeout=30, message=lambda: "the reply sent\n" + workers.logs())
    assert done
    final = row(app, reply_id)
    assert final.attempts == 3 and final.twilio_sid == twilio.messages[0]["sid"]
    assert len(twilio.messages) == 1
    posts = [r for r in twilio.requests_log if r["method"] == "POST"]
    assert len(posts) == 3


def test_429_is_retried_once_the_paused_sender_may_send_again(app, reply_id, twilio, redis_conn):
    twilio.throttle_next(1)
    assert isinstance(attempt(app, reply_id), TransientSendError)
    assert row(app, reply_id).status == "retrying" and row(app, reply_id).error_code == "20429"
    pause = keys.pacing_pause(app.config["SETTINGS"].twilio_whatsapp_number)
    assert 0 < redis_conn.pttl(pause) <= pacing.SENDER_PAUSE_SECONDS * 1000
    assert attempt(app, reply_id) == "deferred"  # the sender is paused: not sent, the attempt not counted
    assert (row(app, reply_id).status, row(app, reply_id).attempts) == ("retrying", 1)
    redis_conn.delete(pause)  # the pause is over
    assert attempt(app, reply_id) == "queued"
    assert len(twilio.messages) == 1 and row(app, reply_id).attempts == 2


def test_a_4xx_refusal_is_final_and_visible(app, reply_id, twilio):
    twilio.fail_next(1, status=400, code=21211, message="Invalid 'To' Phone Number")
    assert attempt(app, reply_id) == "error"
    failed = row(app, reply_id)
    assert failed.status == "error" and failed.error_code == "21211"
    assert attempt(app, reply_id) == "skipped"
    assert twilio.messages == []


def test_attempts_exhausted_is_recorded_as_error(app, reply_id, twilio):
    max_attempts = app.config["SETTINGS"].outbound_max_attempts
    twilio.fail_next(max_attempts, status=503, code=20503, message="Service Unavailable")
    outcomes = [attempt(app, reply_id) for _ in range(max_attempts)]
    assert all(isinstance(o, TransientSendError) for o in outcomes[:-1])
    assert outcomes[-1] == "error"
    final = row(app, reply_id)
    assert final.status == "error" and final.attempts == max_attempts and final.error_code == "20503"
    assert twilio.messages == []


def test_timeout_after_twilio_took_the_message_is_reconciled_not_resent(app, reply_id, twilio):
    timeout = app.config["SETTINGS"].twilio_timeout
    twilio.delay_next(1, seconds=timeout + 1, create=True)  # Twilio creates it, our call times out
    assert isinstance(attempt(app, reply_id), TransientSendError)
    assert row(app, reply_id).status == "unknown"
    assert attempt(app, reply_id) == "queued"
    assert len(twilio.messages) == 1
    assert row(app, reply_id).twilio_sid == twilio.messages[0]["sid"]


def test_timeout_before_twilio_took_it_is_sent_on_the_next_attempt(app, reply_id, twilio):
    timeout = app.config["SETTINGS"].twilio_timeout
    twilio.delay_next(1, seconds=timeout + 1, create=False)
    assert isinstance(attempt(app, reply_id), TransientSendError)
    assert attempt(app, reply_id) == "queued"
    assert len(twilio.messages) == 1


def test_reconcile_does_not_mistake_an_earlier_identical_reply_for_this_one(app, reply_id, twilio):
    assert attempt(app, reply_id) == "queued"  # the first identical reply, sent and recorded
    with app.app_context():
        session = db.session()
        first = session.get(OutboundMessage, reply_id)
        second = OutboundMessage(citizen_id=first.citizen_id, body=first.body)
        session.add(second)
        session.commit()
        second_id = second.id
    twilio.delay_next(1, seconds=app.config["SETTINGS"].twilio_timeout + 1, create=False)
    assert isinstance(attempt(app, second_id), TransientSendError)
    assert attempt(app, second_id) == "queued"
    assert len(twilio.messages) == 2
    with app.app_context():
        sids = db.session().scalars(select(OutboundMessage.twilio_sid)).all()
    assert len(set(sids)) == 2
