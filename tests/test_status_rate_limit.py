"""Twilio's status callback says a message failed with 63018 (our sender went too fast): it was not
delivered, so it is sent again (once per callback, never beyond the attempts) after the sender slowed
down. Runs on PostgreSQL and SQLite (the compare-and-set that puts the row back)."""
from __future__ import annotations

from rq.registry import ScheduledJobRegistry

from bot import queues
from bot.outbound import send_outbound
from storage import db, keys
from storage.models import Citizen, InboundMessage, MessageStatusEvent, OutboundMessage
from tests.helpers import post_signed

US = "whatsapp:+14155238886"


def stored_reply(app) -> int:
    with app.app_context():
        session = db.session()
        citizen = Citizen(phone="+6281234567890")
        inbound = InboundMessage(message_sid="SM" + "e" * 32, sender="whatsapp:+6281234567890", citizen=citizen,
                                 body="cek tiket", status="processed")
        row = OutboundMessage(citizen=citizen, body="Tiket Anda PDW-20261206-0001")
        session.add_all([inbound, row])
        session.flush()
        row.in_reply_to_id = inbound.id
        session.commit()
        return row.id


def row(app, outbound_id) -> OutboundMessage:
    with app.app_context():
        return db.session().get(OutboundMessage, outbound_id)


def send(app, outbound_id, redis_conn) -> str:
    """The queued job runs once the sender's pause is over."""
    redis_conn.delete(keys.pacing_pause(US))
    with app.app_context():
        return send_outbound(outbound_id)


def callback(client, app, sid, status, code="63018"):
    form = {"MessageSid": sid, "MessageStatus": status, "ErrorCode": code, "From": US}
    assert post_signed(client, app, "/whatsapp/status", form).status_code == 204


def scheduled_sends(app) -> list[str]:
    with app.app_context():
        return ScheduledJobRegistry(queue=queues.queue(queues.OUTBOUND)).get_job_ids()


def test_a_63018_callback_sends_the_reply_again_once_after_the_sender_slowed_down(app, client, twilio, redis_conn):
    reply = stored_reply(app)
    assert send(app, reply, redis_conn) == "queued"
    first = twilio.messages[0]["sid"]

    callback(client, app, first, "failed")
    put_back = row(app, reply)
    assert (put_back.status, put_back.error_code, put_back.attempts) == ("retrying", "63018", 1)
    assert redis_conn.pttl(keys.pacing_pause(US)) > 0  # the sender slowed down
    assert len(scheduled_sends(app)) == 1               # and the reply is queued for when the pause ends

    callback(client, app, first, "undelivered")  # a second callback for the same message
    callback(client, app, first, "sent", code="")  # and a late one: neither moves the row nor queues again
    assert row(app, reply).status == "retrying" and len(scheduled_sends(app)) == 1

    assert send(app, reply, redis_conn) == "queued"
    again = row(app, reply)
    assert len(twilio.messages) == 2 and again.twilio_sid == twilio.messages[1]["sid"] != first
    assert again.attempts == 2 and again.status == "queued"
    with app.app_context():
        assert db.session().query(MessageStatusEvent).filter_by(outbound_id=reply).count() == 3


def test_63018_callbacks_never_send_beyond_the_attempts(app, client, twilio, redis_conn):
    reply = stored_reply(app)
    max_attempts = app.config["SETTINGS"].outbound_max_attempts
    for attempt in range(1, max_attempts + 1):
        assert send(app, reply, redis_conn) == "queued"
        callback(client, app, twilio.messages[-1]["sid"], "failed")
        assert row(app, reply).status == ("retrying" if attempt < max_attempts else "failed")
    assert redis_conn.pttl(keys.pacing_pause(US)) > 0  # the last one slowed the sender down too
    assert scheduled_sends(app) and len(scheduled_sends(app)) == max_attempts - 1  # one per resend, none after
    assert send(app, reply, redis_conn) == "skipped"
    final = row(app, reply)
    assert (final.status, final.error_code, final.attempts) == ("failed", "63018", max_attempts)
    assert len(twilio.messages) == max_attempts


def test_other_failures_are_not_sent_again(app, client, twilio, redis_conn):
    reply = stored_reply(app)
    assert send(app, reply, redis_conn) == "queued"
    callback(client, app, twilio.messages[0]["sid"], "undelivered", code="63016")  # outside the 24-hour window
    assert (row(app, reply).status, row(app, reply).error_code) == ("undelivered", "63016")
    assert scheduled_sends(app) == [] and not redis_conn.exists(keys.pacing_pause(US))
