"""The inbound webhook: signatures, storage before the answer, duplicates, bad input, status callbacks."""
from __future__ import annotations

import pytest
from rq import Queue
from sqlalchemy import func, select

from bot import queues
from storage import db
from storage.models import Citizen, InboundMessage, InboundStatus, MessageStatusEvent, OutboundMessage
from tests.helpers import inbound_form, post_signed, sign


def count(app, model) -> int:
    with app.app_context():
        return db.session().scalar(select(func.count()).select_from(model))


def inbound_jobs(app) -> int:
    with app.app_context():
        return Queue(queues.INBOUND, connection=queues.redis()).count


def test_signed_message_is_stored_enqueued_and_answered_with_empty_twiml(app, client):
    form = inbound_form(body="halo min")
    response = post_signed(client, app, "/whatsapp/inbound", form)
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert response.get_data(as_text=True).endswith("<Response></Response>")
    with app.app_context():
        message = db.session().scalar(select(InboundMessage))
        assert message.message_sid == form["MessageSid"]
        assert message.body == "halo min"
        assert message.status == InboundStatus.RECEIVED
        assert message.citizen.phone == "+6281234567890"
        assert message.citizen.profile_name == "Ibu Sari"
        assert message.params["ApiVersion"] == "2010-04-01"  # fields without a column are kept too
    assert inbound_jobs(app) == 1


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Twilio-Signature": ""}, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}],
    ids=["missing", "empty", "wrong"],
)
def test_missing_or_wrong_signature_is_refused_and_nothing_stored(app, client, headers):
    response = client.post("/whatsapp/inbound", data=inbound_form(), headers=headers)
    assert response.status_code == 403
    assert "X-Twilio-Signature" in response.get_data(as_text=True)
    assert count(app, InboundMessage) == 0
    assert inbound_jobs(app) == 0


def test_signature_made_with_another_token_or_url_is_refused(app, client):
    form = inbound_form()
    other_token = sign(app, "/whatsapp/inbound", form, token="0" * 32)
    assert client.post("/whatsapp/inbound", data=form, headers={"X-Twilio-Signature": other_token}).status_code == 403
    # Signed for another path (a replayed status callback signature, say).
    wrong_path = sign(app, "/whatsapp/status", form)
    assert client.post("/whatsapp/inbound", data=form, headers={"X-Twilio-Signature": wrong_path}).status_code == 403
    # A field changed after signing.
    signature = sign(app, "/whatsapp/inbound", form)
    tampered = {**form, "Body": "transfer saya"}
    assert client.post("/whatsapp/inbound", data=tampered, headers={"X-Twilio-Signature": signature}).status_code == 403
    assert count(app, InboundMessage) == 0


def test_repeated_message_sid_is_answered_200_and_processed_once(app, client):
    form = inbound_form()
    for _ in range(3):
        assert post_signed(client, app, "/whatsapp/inbound", form).status_code == 200
    assert count(app, InboundMessage) == 1
    assert inbound_jobs(app) == 1


def test_one_citizen_per_number_however_it_is_written(app, client):
    post_signed(client, app, "/whatsapp/inbound", inbound_form(phone="+6281234567890"))
    post_signed(client, app, "/whatsapp/inbound", inbound_form(phone="+62 812-3456-7890"))
    assert count(app, Citizen) == 1
    assert count(app, InboundMessage) == 2


@pytest.mark.parametrize(
    "sender, reason",
    [
        ("+6281234567890", "WhatsApp address"),  # SMS, not WhatsApp
        ("messenger:123456", "WhatsApp address"),
        ("whatsapp:+62abc", "not a valid phone number"),
        ("", "WhatsApp address"),
    ],
)
def test_sender_that_is_not_a_whatsapp_number_gets_a_reason_and_the_message_is_kept(app, client, sender, reason):
    response = post_signed(client, app, "/whatsapp/inbound", inbound_form(From=sender))
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)
    with app.app_context():
        message = db.session().scalar(select(InboundMessage))
        assert message.status == InboundStatus.REJECTED and reason in message.reject_reason
    assert inbound_jobs(app) == 0


def test_missing_message_sid_is_a_400_with_a_reason(app, client):
    form = inbound_form()
    del form["MessageSid"]
    response = post_signed(client, app, "/whatsapp/inbound", form)
    assert response.status_code == 400
    assert "MessageSid" in response.get_data(as_text=True)


def test_oversized_request_is_refused_with_413(app, client):
    form = inbound_form(Body="x" * (app.config["SETTINGS"].max_request_bytes + 10))
    response = post_signed(client, app, "/whatsapp/inbound", form)
    assert response.status_code == 413
    assert count(app, InboundMessage) == 0


def test_long_body_within_the_request_limit_is_stored_whole(app, client):
    form = inbound_form(Body="panjang " * 1000)
    assert post_signed(client, app, "/whatsapp/inbound", form).status_code == 200
    with app.app_context():
        assert db.session().scalar(select(InboundMessage.body)) == form["Body"]


@pytest.mark.parametrize("declared", ["100000", "99999999999999999999"])  # the second one overflowed the column
def test_media_fields_are_kept_and_num_media_is_capped(app, client, declared):
    form = inbound_form(Body="", NumMedia=declared)
    for i in range(12):
        form[f"MediaUrl{i}"] = f"https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME{i}"
        form[f"MediaContentType{i}"] = "image/jpeg"
    assert post_signed(client, app, "/whatsapp/inbound", form).status_code == 200
    with app.app_context():
        message = db.session().scalar(select(InboundMessage))
        assert message.num_media == 1000
        assert len(message.media) == 10
        assert message.media[0] == {"url": form["MediaUrl0"], "content_type": "image/jpeg"}
        assert not any(key.startswith("MediaUrl") for key in message.params)


def test_redis_down_still_answers_200_and_keeps_the_message_for_the_sweeper(env):
    from bot import create_app

    app = create_app({"ENV": {**env, "REDIS_URL": "redis://127.0.0.1:1/0"}, "TESTING": True})
    client = app.test_client()
    assert post_signed(client, app, "/whatsapp/inbound", inbound_form()).status_code == 200
    with app.app_context():
        message = db.session().scalar(select(InboundMessage))
        assert message.status == InboundStatus.RECEIVED
    app.extensions["db"].dispose()


def _outbound(app, sid="SM" + "a" * 32, status="queued"):
    with app.app_context():
        session = db.session()
        citizen = Citizen(phone="+6281234567890")
        row = OutboundMessage(citizen=citizen, body="Halo", twilio_sid=sid, status=status)
        session.add(row)
        session.commit()
        return row.id


def test_status_callbacks_move_the_message_forward_never_back(app, client):
    sid = "SM" + "b" * 32
    outbound_id = _outbound(app, sid)
    for status in ("sent", "read", "delivered"):  # "delivered" arrives late
        response = post_signed(client, app, "/whatsapp/status", {"MessageSid": sid, "MessageStatus": status})
        assert response.status_code == 204
    with app.app_context():
        assert db.session().get(OutboundMessage, outbound_id).status == "read"
    assert count(app, MessageStatusEvent) == 3


def test_failed_status_callback_records_the_error(app, client):
    sid = "SM" + "c" * 32
    outbound_id = _outbound(app, sid)
    form = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "63016"}
    assert post_signed(client, app, "/whatsapp/status", form).status_code == 204
    with app.app_context():
        row = db.session().get(OutboundMessage, outbound_id)
        assert (row.status, row.error_code) == ("undelivered", "63016")


def test_status_callback_needs_a_signature_and_a_known_status(app, client):
    sid = "SM" + "d" * 32
    _outbound(app, sid)
    assert client.post("/whatsapp/status", data={"MessageSid": sid, "MessageStatus": "sent"}).status_code == 403
    response = post_signed(client, app, "/whatsapp/status", {"MessageSid": sid, "MessageStatus": "exploded"})
    assert response.status_code == 400
    assert count(app, MessageStatusEvent) == 0
