"""Hostile input: property-based fuzzing of the webhook, media on other hosts, injection-looking
text, and personal data never in the logs."""
from __future__ import annotations

import io
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot import create_app, jobs
from handlers.registry import load_csv
from storage import db
from storage.models import InboundMessage
from tests.helpers import Chat, inbound_form, post_signed, run_jobs, sign
from tests.images import document_photo

FIELD_NAMES = ["Body", "From", "To", "NumMedia", "ProfileName", "WaId", "MediaUrl0", "MediaContentType0",
               "Latitude", "ButtonText", "MessageType", "../../etc/passwd", "MediaUrl99999"]
NASTY = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["'; DROP TABLE citizens; --", "<script>alert(1)</script>", "../../../etc/passwd", "\x00\x01\x02",
                     "whatsapp:+62812345678901234567890", "whatsapp:", "99999999999999999999", "-1", "1e9",
                     "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd", "𝕳𝖆𝖑𝖔 🙏" * 50]),
)


pytestmark = pytest.mark.one_backend  # one database is enough here


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.dictionaries(st.sampled_from(FIELD_NAMES), NASTY, max_size=8), sid=st.text(min_size=0, max_size=80))
def test_any_signed_form_gets_a_clear_status_never_a_crash(app, fields, sid):
    form = {**inbound_form(), **fields, "MessageSid": sid}
    response = post_signed(app.test_client(), app, "/whatsapp/inbound", form)
    assert response.status_code in (200, 400, 413), response.get_data(as_text=True)
    if response.status_code == 400:
        assert response.get_data(as_text=True).strip()  # a reason


def test_invalid_utf8_and_huge_num_media(app, client):
    """Signed over what the server decodes (percent-escapes that are not UTF-8 stay as written), so the
    request reaches the webhook's code: stored, answered 200, never a 500."""
    body = b"MessageSid=SM1&From=whatsapp%3A%2B6281234567890&Body=%FF%FE%FA&NumMedia=999999999999"
    form = {"MessageSid": "SM1", "From": "whatsapp:+6281234567890", "Body": "%FF%FE%FA", "NumMedia": "999999999999"}
    signature = sign(app, "/whatsapp/inbound", form)
    response = client.post("/whatsapp/inbound", data=body, content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200, response.get_data(as_text=True)
    with app.app_context():
        message = db.session().scalar(select(InboundMessage))
        assert (message.body, message.num_media, message.status) == ("%FF%FE%FA", 1000, "received")
    unsigned = client.post("/whatsapp/inbound", data=body, content_type="application/x-www-form-urlencoded")
    assert unsigned.status_code == 403


def test_sql_looking_and_path_traversal_text_is_stored_as_text(app, client, twilio):
    for text in ("'; DROP TABLE citizens; --", "../../../../etc/passwd", "Robert'); DELETE FROM cases;--"):
        assert post_signed(client, app, "/whatsapp/inbound", inbound_form(body=text)).status_code == 200
    run_jobs(app)
    with app.app_context():
        bodies = db.session().scalars(select(InboundMessage.body).order_by(InboundMessage.id)).all()
        assert bodies[0] == "'; DROP TABLE citizens; --" and len(bodies) == 3
    assert len(twilio.messages) == 3


def test_personal_data_never_reaches_the_logs(env, twilio, monkeypatch):
    """What a deployment's log handler writes (the app installs the redacting filter itself), over a whole
    flow, a status check by NIK and a traceback quoting a NIK."""
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        app = create_app({"ENV": {**env, "MEDIA_ALLOWED_HOSTS": "localhost"}, "TESTING": True})
        with app.app_context():
            load_csv(db.session())
            db.session().commit()
        chat = Chat(app, twilio, phone="+6281398765432", name="Siti Rahmawati")
        for answer in ("1", "0001234567890", "3201234505860003"):
            chat.say(answer)
        chat.photo(document_photo(seed=1))
        chat.photo(document_photo(seed=2))
        chat.say("ya")
        chat.say("3")
        chat.say("3201234505860003")
        chat.say("05-05-1986")
        real = jobs.reply

        def failing(ctx, state, prepared, message_id, body, *args):
            if body == "rusak":
                raise ValueError("cannot handle NIK 3201.2345.0586.0003 of +62 813-9876-5432")
            return real(ctx, state, prepared, message_id, body, *args)

        monkeypatch.setattr(jobs, "reply", failing)
        monkeypatch.setattr(jobs, "RETRY_PAUSES", (0, 0, 0))
        chat.say("rusak")
        app.extensions["db"].dispose()
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    logged = output.getvalue()
    assert "Traceback" in logged and "inbound message_id" in logged  # the flow and the failure did log
    for secret in ("6281398765432", "81398765432", "813-9876-5432", "3201234505860003", "3201.2345.0586.0003",
                   "0001234567890", "Siti Rahmawati", "05-05-1986"):
        assert secret not in logged, f"{secret} leaked into the logs"
