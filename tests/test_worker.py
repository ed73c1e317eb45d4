"""The worker: the reply to a stored message, handed to (a local) Twilio by real RQ jobs."""
from __future__ import annotations

from sqlalchemy import select

from bot.outbound import send_outbound
from storage import db
from storage.models import InboundMessage, InboundStatus, OutboundMessage
from tests.helpers import inbound_form, post_signed, run_jobs


def replies(app) -> list[OutboundMessage]:
    with app.app_context():
        return list(db.session().scalars(select(OutboundMessage).order_by(OutboundMessage.id)))


def test_first_message_gets_greeting_and_numbered_menu_sent_through_twilio(app, client, twilio):
    post_signed(client, app, "/whatsapp/inbound", inbound_form(body="halo"))
    run_jobs(app)
    [reply] = replies(app)
    assert reply.status == "queued" and reply.twilio_sid.startswith("SM") and reply.attempts == 1
    assert "Ibu Sari" in reply.body
    assert "*1*. Ubah / perbaiki NIK" in reply.body and "*6*. Cek status permohonan (tiket)" in reply.body
    [sent] = twilio.messages
    assert sent["To"] == "whatsapp:+6281234567890"
    assert sent["From"] == "whatsapp:+14155238886"
    assert sent["Body"] == reply.body
    assert sent["StatusCallback"] == "http://bot.test/whatsapp/status"
    with app.app_context():
        message = db.session().scalar(select(InboundMessage))
        assert message.status == InboundStatus.PROCESSED and message.processed_at is not None


def test_second_message_gets_the_menu_without_the_greeting_again(app, client, twilio):
    post_signed(client, app, "/whatsapp/inbound", inbound_form(body="halo"))
    post_signed(client, app, "/whatsapp/inbound", inbound_form(body="apa ini"))
    run_jobs(app)
    first, second = replies(app)
    assert "selamat datang" in first.body
    assert "selamat datang" not in second.body and "*1*." in second.body


def test_voice_note_gets_a_polite_answer_saying_what_is_readable(app, client, twilio):
    form = inbound_form(body="", NumMedia="1", MediaUrl0=twilio.base_url + "/x", MediaContentType0="audio/ogg")
    post_signed(client, app, "/whatsapp/inbound", form)
    run_jobs(app)
    answer = replies(app)[0].body
    assert "pesan suara" in answer and "*1*. Ubah / perbaiki NIK" in answer  # and what can be done here


def test_location_gets_a_polite_answer(app, client, twilio):
    form = inbound_form(body="", Latitude="-6.2", Longitude="106.8", MessageType="location")
    post_signed(client, app, "/whatsapp/inbound", form)
    run_jobs(app)
    assert "Lokasi" in replies(app)[0].body


def test_too_long_message_gets_asked_to_be_shorter(app, client, twilio):
    post_signed(client, app, "/whatsapp/inbound", inbound_form(body="tolong " * 1000))
    run_jobs(app)
    assert "terlalu panjang" in replies(app)[0].body


def test_job_for_an_already_processed_message_does_nothing(app, client, twilio):
    post_signed(client, app, "/whatsapp/inbound", inbound_form())
    run_jobs(app)
    from bot.jobs import process_inbound

    with app.app_context():
        message_id = db.session().scalar(select(InboundMessage.id))
        assert process_inbound(message_id) == 0
    assert len(replies(app)) == 1 and len(twilio.messages) == 1


def test_send_job_for_an_already_sent_reply_does_not_send_again(app, client, twilio):
    post_signed(client, app, "/whatsapp/inbound", inbound_form())
    run_jobs(app)
    with app.app_context():
        assert send_outbound(replies(app)[0].id) == "skipped"
    assert len(twilio.messages) == 1


def test_local_mode_puts_replies_in_the_outbox_without_calling_twilio(env, twilio):
    from bot import create_app

    local_env = {k: v for k, v in env.items() if not k.startswith("TWILIO_")}
    app = create_app({"ENV": local_env, "TESTING": True})
    assert app.config["SETTINGS"].local_mode
    post_signed(app.test_client(), app, "/whatsapp/inbound", inbound_form())
    run_jobs(app)
    [reply] = replies(app)
    assert reply.status == "local" and reply.twilio_sid is None
    assert twilio.messages == [] and twilio.requests_log == []
    app.extensions["db"].dispose()
