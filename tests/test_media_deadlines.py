"""A slow or hanging media download can never stop a citizen's next message from being answered: each
download and each message has a total deadline (the citizen is asked to send again), the citizen's
lock outlives the worst case, and only the photos the waiting steps need are fetched."""
from __future__ import annotations

import time

import pytest

from bot import create_app
from bot.settings import ConfigError, load_settings
from tests.conftest import wait_for
from tests.helpers import Chat
from tests.images import document_photo

PHONE = "+6281234567890"


pytestmark = pytest.mark.one_backend  # one database is enough here


@pytest.fixture
def fast_env(env):
    return {**env, "MEDIA_ALLOWED_HOSTS": "localhost", "MEDIA_TIMEOUT": "2", "MESSAGE_DEADLINE": "3",
            "CITIZEN_LOCK_TIMEOUT": "30", "JOB_TIMEOUT": "60"}


@pytest.fixture
def app(fast_env):
    app = create_app({"ENV": fast_env, "TESTING": True})
    yield app
    app.extensions["db"].dispose()


def at_the_ktp_step(app, twilio) -> Chat:
    chat = Chat(app, twilio, phone=PHONE)
    for answer in ("1", "0001234567890", "3201234505860003"):
        chat.say(answer)
    return chat


def replies(twilio) -> list[str]:
    return [m["Body"] for m in twilio.messages if m["To"] == f"whatsapp:{PHONE}"]


@pytest.mark.parametrize("stall, trickle", [(60.0, False), (0.0, True)], ids=["hanging", "trickling"])
def test_a_stalled_photo_download_is_cut_and_the_next_message_answered(app, twilio, workers, fast_env, stall, trickle):
    chat = at_the_ktp_step(app, twilio)
    workers.env = fast_env
    workers.start(1, "--no-sweeper")
    url = twilio.add_media(document_photo(seed=1), "image/jpeg", stall=stall, trickle=trickle)
    started = time.monotonic()
    chat.send_urls([(url, "image/jpeg")], run=False)
    chat.send("batal", run=False)
    wait_for(lambda: len(replies(twilio)) >= 5, timeout=30, message=lambda: workers.logs())
    took = time.monotonic() - started
    photo_reply, cancel_reply = replies(twilio)[3:5]
    assert "belum bisa kami unduh" in photo_reply and "foto KTP" in photo_reply
    assert "membatalkan" in cancel_reply
    assert took < 15, f"the citizen waited {took:.1f} s"


def test_only_the_photos_the_waiting_steps_need_are_fetched(app, twilio):
    chat = at_the_ktp_step(app, twilio)
    before = twilio.cdn_requests
    [reply] = chat.send("", [(document_photo(seed=s), "image/jpeg") for s in (1, 2, 3, 4)])
    assert twilio.cdn_requests - before == 2  # KTP and KK wait for a photo; the other two are not downloaded
    assert "Foto KTP diterima" in reply and "Foto KK diterima" in reply and "Foto tambahan" in reply


def test_deadlines_that_cannot_hold_are_refused_at_start(env):
    with pytest.raises(ConfigError, match="CITIZEN_LOCK_TIMEOUT"):
        load_settings({**env, "MESSAGE_DEADLINE": "60", "CITIZEN_LOCK_TIMEOUT": "60"})
    with pytest.raises(ConfigError, match="MEDIA_TIMEOUT"):
        load_settings({**env, "MEDIA_TIMEOUT": "50", "MESSAGE_DEADLINE": "45"})
    defaults = load_settings(env)
    assert defaults.citizen_lock_timeout > defaults.message_deadline + 30
