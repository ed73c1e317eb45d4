"""The local WhatsApp simulator, on a live server: the same signed webhook, queue and worker."""
from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from bot import create_app
from storage import db
from storage.models import InboundMessage
from tests.browser import serving
from tests.conftest import free_port
from tests.helpers import run_jobs

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.fixture
def live(env):
    port = free_port()
    local_env = {k: v for k, v in env.items() if not k.startswith("TWILIO_")}
    app = create_app({"ENV": {**local_env, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}})
    with serving(app, port) as base:
        yield app, base


def test_simulator_page_is_served_in_local_mode(live):
    _, base = live
    page = requests.get(base + "/simulator/", timeout=5)
    assert page.status_code == 200 and "Simulator WhatsApp" in page.text


def test_simulator_message_goes_through_the_signed_webhook_and_gets_the_menu(live):
    app, base = live
    sent = requests.post(base + "/simulator/send", data={"phone": "0812-1111-2222", "name": "Pak Budi", "body": "halo"}, timeout=10)
    assert sent.status_code == 200, sent.text
    run_jobs(app)
    conversation = requests.get(base + "/simulator/messages", params={"phone": "081211112222"}, timeout=5).json()["messages"]
    assert [m["direction"] for m in conversation] == ["in", "out"]
    assert conversation[0]["body"] == "halo"
    assert "Pak Budi" in conversation[1]["body"] and conversation[1]["status"] == "local"
    with app.app_context():
        message = db.session().scalar(select(InboundMessage))
        assert message.sender == "whatsapp:+6281211112222" and message.params["AccountSid"].startswith("AC")


def test_simulator_attachment_is_served_like_twilio_media_behind_basic_auth(live):
    app, base = live
    files = {"file": ("ktp.png", PNG, "image/png")}
    assert requests.post(base + "/simulator/send", data={"phone": "081211112222", "body": ""}, files=files, timeout=10).ok
    with app.app_context():
        message = db.session().scalar(select(InboundMessage))
    [media] = message.media
    assert media["content_type"] == "image/png" and media["url"].startswith(base + "/simulator/media/")
    assert requests.get(media["url"], timeout=5).status_code == 401
    s = app.config["SETTINGS"]
    assert requests.get(media["url"], auth=(s.twilio_account_sid, "wrong"), timeout=5).status_code == 401
    got = requests.get(media["url"], auth=(s.twilio_account_sid, s.twilio_auth_token), timeout=5)
    assert got.status_code == 200 and got.content == PNG and got.headers["Content-Type"] == "image/png"


def test_simulator_refuses_a_bad_number_and_an_empty_message(live):
    _, base = live
    bad = requests.post(base + "/simulator/send", data={"phone": "abc", "body": "halo"}, timeout=5)
    assert bad.status_code == 400 and "Nomor HP" in bad.json()["error"]
    empty = requests.post(base + "/simulator/send", data={"phone": "081211112222", "body": "  "}, timeout=5)
    assert empty.status_code == 400


def test_simulator_is_off_when_twilio_credentials_are_set(app, client):
    assert client.get("/simulator/").status_code == 404
