"""Helpers for tests: Twilio-signed webhook requests, running queued jobs with a real RQ worker."""
from __future__ import annotations

import itertools
import secrets

from rq import SimpleWorker
from twilio.request_validator import RequestValidator

from bot import queues

_counter = itertools.count(1)


def inbound_form(phone: str = "+6281234567890", body: str = "halo", **extra: str) -> dict[str, str]:
    sid = "SM" + secrets.token_hex(16)
    form = {
        "SmsMessageSid": sid, "MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32,
        "From": f"whatsapp:{phone}", "To": "whatsapp:+14155238886", "Body": body, "NumMedia": "0",
        "NumSegments": "1", "ProfileName": "Ibu Sari", "WaId": phone.lstrip("+"), "SmsStatus": "received",
        "ApiVersion": "2010-04-01", "MessageType": "text",
    }
    form.update(extra)
    return form


def sign(app, path: str, form: dict[str, str], token: str | None = None) -> str:
    s = app.config["SETTINGS"]
    return RequestValidator(token or s.twilio_auth_token).compute_signature(s.public_base_url + path, form)


def post_signed(client, app, path: str, form: dict[str, str], **kw):
    return client.post(path, data=form, headers={"X-Twilio-Signature": sign(app, path, form)}, **kw)


def run_jobs(app, names=queues.ALL) -> None:
    """Run every queued job with a real RQ worker in this process until the queues are empty."""
    with app.app_context():
        worker = SimpleWorker([queues.queue(n) for n in names], connection=queues.redis())
        worker.work(burst=True)
