"""The WhatsApp simulator, on a live server: the same signed webhook, queue and worker — and a
developer tool, never a door: staff only, its own made-up numbers only, off with Twilio credentials."""
from __future__ import annotations

import re

import pytest
import requests
import yaml
from sqlalchemy import select

from bot import create_app
from bot.accounts import create_staff
from bot.settings import ConfigError
from flows import versions
from handlers import branches, phones
from storage import db
from storage.models import Citizen, Conversation, InboundMessage, OutboundMessage
from tests.browser import serving
from tests.conftest import free_port
from tests.helpers import inbound_form, post_signed, run_jobs

PASSWORD = "rahasia-kuat-123"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def local(env) -> dict:
    return {k: v for k, v in env.items() if not k.startswith("TWILIO_")}


@pytest.fixture
def live(env):
    port = free_port()
    app = create_app({"ENV": {**local(env), "SIMULATOR_ENABLED": "1", "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}})
    with app.app_context():
        create_staff(db.session(), "ani", "agent", PASSWORD)
        create_staff(db.session(), "adi", "admin", PASSWORD)
        db.session().commit()
    with serving(app, port) as base:
        yield app, base


def staff(base: str, name: str = "ani") -> requests.Session:
    browser = requests.Session()
    html = browser.get(base + "/console/login", timeout=5).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    browser.post(base + "/console/login", data={"name": name, "password": PASSWORD, "csrf_token": token}, timeout=5)
    return browser


def open_simulator(browser: requests.Session, base: str) -> tuple[str, str]:
    """The page's own made-up number and its CSRF token."""
    html = browser.get(base + "/simulator/", timeout=5).text
    number = re.search(r'<option value="([^"]+)" data-key="[0-9a-f]+" selected', html).group(1)
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    return number, token


def key_of(browser: requests.Session, base: str, number: str) -> str:
    """The key the page keeps with a number (in localStorage) to take it back after a new login."""
    html = browser.get(base + "/simulator/", timeout=5).text
    return re.search(rf'<option value="{re.escape(number)}" data-key="([0-9a-f]+)"', html).group(1)


def say(app, browser: requests.Session, base: str, number: str, token: str, body: str, **extra) -> None:
    sent = browser.post(base + "/simulator/send", data={"phone": number, "name": "Pak Budi", "body": body, **extra},
                        headers={"X-CSRFToken": token}, timeout=10)
    assert sent.status_code == 200, sent.text
    run_jobs(app)


def chat_of(browser: requests.Session, base: str, number: str) -> list[dict]:
    got = browser.get(base + "/simulator/messages", params={"phone": number}, timeout=5)
    assert got.status_code == 200, got.text
    return got.json()["messages"]


def test_the_simulator_needs_a_staff_login(live):
    _, base = live
    anonymous = requests.get(base + "/simulator/", timeout=5, allow_redirects=False)
    assert anonymous.status_code == 302 and "/console/login" in anonymous.headers["Location"]
    assert requests.post(base + "/simulator/send", data={"phone": "+6281234567890", "body": "halo"},
                         timeout=5, allow_redirects=False).status_code in (302, 400)
    assert requests.get(base + "/simulator/messages", params={"phone": "+6281234567890"},
                        timeout=5, allow_redirects=False).status_code == 302


def test_a_message_goes_through_the_signed_webhook_and_the_reply_stays_local(live):
    app, base = live
    browser = staff(base)
    number, token = open_simulator(browser, base)
    assert phones.is_simulated(number)
    sent = browser.post(base + "/simulator/send", data={"phone": number, "name": "Pak Budi", "body": "halo"},
                        headers={"X-CSRFToken": token}, timeout=10)
    assert sent.status_code == 200, sent.text
    run_jobs(app)
    conversation = browser.get(base + "/simulator/messages", params={"phone": number}, timeout=5).json()["messages"]
    assert [m["direction"] for m in conversation] == ["in", "out"]
    assert "Pak Budi" in conversation[1]["body"] and conversation[1]["status"] == "local"
    with app.app_context():
        message = db.session().scalar(select(InboundMessage))
        assert message.sender == f"whatsapp:{number}" and message.params["AccountSid"].startswith("AC")


def test_it_never_writes_as_or_reads_a_real_citizen(live):
    app, base = live
    real = "+6281234567890"
    client = app.test_client()
    post_signed(client, app, "/whatsapp/inbound", inbound_form(phone=real, body="NIK saya 3201234505860003"))
    run_jobs(app)
    browser = staff(base)
    _, token = open_simulator(browser, base)
    posed = browser.post(base + "/simulator/send", data={"phone": real, "body": "halo"},
                         headers={"X-CSRFToken": token}, timeout=5)
    assert posed.status_code == 403
    read = browser.get(base + "/simulator/messages", params={"phone": real}, timeout=5)
    assert read.status_code == 403 and "3201234505860003" not in read.text
    other = staff(base, "adi")
    number_of_ani, _ = open_simulator(browser, base)
    assert other.get(base + "/simulator/messages", params={"phone": number_of_ani}, timeout=5).status_code == 403


def test_attachments_are_served_like_twilio_media_behind_basic_auth(live):
    app, base = live
    browser = staff(base)
    number, token = open_simulator(browser, base)
    files = {"file": ("ktp.png", PNG, "image/png")}
    assert browser.post(base + "/simulator/send", data={"phone": number, "body": ""}, files=files,
                        headers={"X-CSRFToken": token}, timeout=10).ok
    with app.app_context():
        message = db.session().scalar(select(InboundMessage))
    [media] = message.media
    assert media["content_type"] == "image/png" and media["url"].startswith(base + "/simulator/media/")
    assert requests.get(media["url"], timeout=5).status_code == 401
    s = app.config["SETTINGS"]
    assert requests.get(media["url"], auth=(s.twilio_account_sid, "wrong"), timeout=5).status_code == 401
    got = requests.get(media["url"], auth=(s.twilio_account_sid, s.twilio_auth_token), timeout=5)
    assert got.status_code == 200 and got.content == PNG and got.headers["Content-Type"] == "image/png"


def test_an_empty_message_and_a_post_without_the_csrf_token_are_refused(live):
    _, base = live
    browser = staff(base)
    number, token = open_simulator(browser, base)
    empty = browser.post(base + "/simulator/send", data={"phone": number, "body": "  "},
                         headers={"X-CSRFToken": token}, timeout=5)
    assert empty.status_code == 400
    assert browser.post(base + "/simulator/send", data={"phone": number, "body": "halo"}, timeout=5).status_code == 400


def test_off_by_default_and_refused_at_start_with_twilio_credentials(env):
    with pytest.raises(ConfigError, match="SIMULATOR_ENABLED"):
        create_app({"ENV": {**env, "SIMULATOR_ENABLED": "1"}, "TESTING": True})
    app = create_app({"ENV": env, "TESTING": True})
    assert app.config["SETTINGS"].simulator_enabled is False
    with app.app_context():
        create_staff(db.session(), "ani", "agent", PASSWORD)
        create_staff(db.session(), "adi", "admin", PASSWORD)
        db.session().commit()
    for name, status in (("ani", 403), ("adi", 200)):  # without it, admins still preview drafts
        client = app.test_client()
        html = client.get("/console/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        client.post("/console/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
        assert client.get("/simulator/").status_code == status
    app.extensions["db"].dispose()


def test_replies_to_the_simulator_s_numbers_never_reach_twilio(env, twilio):
    app = create_app({"ENV": env, "TESTING": True})  # Twilio credentials set
    number = phones.simulator_number()
    post_signed(app.test_client(), app, "/whatsapp/inbound", inbound_form(phone=number, body="halo"))
    run_jobs(app)
    assert twilio.messages == []
    with app.app_context():
        assert db.session().scalar(select(OutboundMessage.status)) == "local"
    app.extensions["db"].dispose()


def test_a_remembered_number_is_taken_back_after_a_new_login_only_by_whoever_made_it_up(live):
    app, base = live
    first = staff(base)
    number, token = open_simulator(first, base)
    key = key_of(first, base, number)
    say(app, first, base, number, token, "halo")

    again = staff(base)  # a new login: a new session, which has not seen the number
    _, token = open_simulator(again, base)
    assert again.get(base + "/simulator/messages", params={"phone": number}, timeout=5).status_code == 403
    assert again.post(base + "/simulator/numbers", data={"phone": number, "key": key},
                      timeout=5).status_code == 400  # without the CSRF token
    taken = again.post(base + "/simulator/numbers", data={"phone": number, "key": key},
                       headers={"X-CSRFToken": token}, timeout=5)
    assert taken.status_code == 200 and taken.json() == {"phone": number, "key": key}
    assert [m["direction"] for m in chat_of(again, base, number)] == ["in", "out"]

    other = staff(base, "adi")  # another staff member, even with the key, and made-up keys
    _, other_token = open_simulator(other, base)
    real = "+6281234567890"
    for phone, guess in ((number, key), (number, "0" * 64), (number, "ä"), (real, key), (number, "")):
        refused = other.post(base + "/simulator/numbers", data={"phone": phone, "key": guess},
                             headers={"X-CSRFToken": other_token}, timeout=5)
        assert refused.status_code == 403, (phone, guess)
    assert other.get(base + "/simulator/messages", params={"phone": number}, timeout=5).status_code == 403
    wrong = again.post(base + "/simulator/numbers", data={"phone": number, "key": key[:-1] + "x"},
                       headers={"X-CSRFToken": token}, timeout=5)
    assert wrong.status_code == 403


def test_replies_answered_with_drafts_are_marked(live):
    app, base = live
    with app.app_context():
        session = db.session()
        texts = yaml.safe_load(versions.base_content(versions.TEXTS, app.config["SETTINGS"].product_config))
        texts["menu_intro"] = "Ini draf yang belum terbit:"
        versions.save_draft(session, versions.TEXTS, yaml.safe_dump(texts, allow_unicode=True), None)
        session.commit()
    browser = staff(base)
    number, token = open_simulator(browser, base)
    say(app, browser, base, number, token, "halo")
    say(app, browser, base, number, token, "menu", preview="1")
    published, previewed = [m for m in chat_of(browser, base, number) if m["direction"] == "out"]
    assert "belum terbit" not in published["body"] and published["draft"] is False
    assert "Ini draf yang belum terbit:" in previewed["body"] and previewed["draft"] is True


def test_a_preview_answered_by_the_published_version_is_not_marked_draft(live):
    app, base = live
    with app.app_context():
        session = db.session()
        texts = yaml.safe_load(versions.base_content(versions.TEXTS, app.config["SETTINGS"].product_config))
        texts["menu_intro"] = "Draf rusak {tidak_ada}"  # a placeholder no one fills: the drafts do not load
        versions.save_draft(session, versions.TEXTS, yaml.safe_dump(texts, allow_unicode=True), None)
        session.commit()
    browser = staff(base)
    number, token = open_simulator(browser, base)
    say(app, browser, base, number, token, "menu", preview="1")
    [answer] = [m for m in chat_of(browser, base, number) if m["direction"] == "out"]
    assert "Draf rusak" not in answer["body"] and answer["draft"] is False  # the published version answered


def test_a_conversation_started_again_forgets_its_state_and_shows_what_comes_after(live):
    app, base = live
    browser = staff(base)
    number, token = open_simulator(browser, base)
    say(app, browser, base, number, token, "halo")
    say(app, browser, base, number, token, "1")  # a service started: its first question
    before = chat_of(browser, base, number)
    assert "selamat datang" in before[1]["body"] and "selamat datang" not in before[3]["body"]
    with app.app_context():
        session = db.session()
        citizen = session.scalar(select(Citizen).where(Citizen.phone == number))
        assert session.scalar(select(Conversation.active_flow).where(Conversation.citizen_id == citizen.id))

    assert browser.post(base + "/simulator/reset", data={"phone": number}, timeout=5).status_code == 400  # no CSRF
    real = "+6281234567890"
    assert browser.post(base + "/simulator/reset", data={"phone": real},
                        headers={"X-CSRFToken": token}, timeout=5).status_code == 403
    done = browser.post(base + "/simulator/reset", data={"phone": number}, headers={"X-CSRFToken": token}, timeout=5)
    assert done.status_code == 200 and done.json()["ok"] is True
    with app.app_context():
        assert db.session().scalar(select(Conversation).where(Conversation.citizen_id == citizen.id)) is None
    assert chat_of(browser, base, number) == []

    say(app, browser, base, number, token, "halo")  # a first contact again: greeted, no question pending
    after = chat_of(browser, base, number)
    assert [m["direction"] for m in after] == ["in", "out"]
    assert "selamat datang" in after[1]["body"] and after[1]["body"] != before[3]["body"]
    with app.app_context():
        state = db.session().scalar(select(Conversation).where(Conversation.citizen_id == citizen.id))
        assert state.active_flow is None and "run" not in state.state


def test_another_staff_member_cannot_start_someone_else_s_conversation_again(live):
    app, base = live
    browser = staff(base)
    number, token = open_simulator(browser, base)
    say(app, browser, base, number, token, "1")
    other = staff(base, "adi")
    _, other_token = open_simulator(other, base)
    assert other.post(base + "/simulator/reset", data={"phone": number},
                      headers={"X-CSRFToken": other_token}, timeout=5).status_code == 403
    with app.app_context():
        session = db.session()
        citizen = session.scalar(select(Citizen).where(Citizen.phone == number))
        assert session.scalar(select(Conversation.active_flow).where(Conversation.citizen_id == citizen.id))


def test_a_simulated_citizen_writes_to_a_branch_office_number_and_nothing_else(live):
    app, base = live
    with app.app_context():
        branches.add(db.session(), "KC-SDA", "KC Sidoarjo", ("whatsapp:+6231890001",))
        db.session().commit()
    browser = staff(base)
    number, token = open_simulator(browser, base)
    page = browser.get(base + "/simulator/", timeout=5).text
    assert '<option value="whatsapp:+6231890001">+6231890001 · KC Sidoarjo</option>' in page
    say(app, browser, base, number, token, "halo", to="whatsapp:+6231890001")
    refused = browser.post(base + "/simulator/send", data={"phone": number, "body": "halo", "to": "whatsapp:+6299999"},
                           headers={"X-CSRFToken": token}, timeout=10)
    assert refused.status_code == 400 and "tidak dikenal" in refused.json()["error"]
    with app.app_context():
        assert db.session().scalars(select(InboundMessage.to_number)).all() == ["whatsapp:+6231890001"]
        reply = db.session().scalar(select(OutboundMessage))
        assert reply.sender == "whatsapp:+6231890001"  # the reply comes from the number written to
