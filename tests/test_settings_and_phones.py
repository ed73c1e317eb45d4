"""Settings from the environment and phone number normalisation."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers import phones
from bot.settings import ConfigError, load_settings

KEY = "k" * 32


def test_missing_secret_key_stops_the_app_at_start_up(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings({}, str(tmp_path))
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings({"SECRET_KEY": "short"}, str(tmp_path))


def test_half_twilio_credentials_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="TWILIO"):
        load_settings({"SECRET_KEY": KEY, "TWILIO_ACCOUNT_SID": "AC123"}, str(tmp_path))


def test_local_mode_derives_credentials_from_the_secret_key(tmp_path):
    a = load_settings({"SECRET_KEY": KEY}, str(tmp_path))
    b = load_settings({"SECRET_KEY": "z" * 32}, str(tmp_path))
    assert a.local_mode and not a.simulator_enabled  # the simulator is off unless asked for
    assert a.twilio_account_sid.startswith("AC") and len(a.twilio_account_sid) == 34
    assert a.twilio_auth_token != b.twilio_auth_token
    assert a.database_url == f"sqlite:///{tmp_path / 'pandawa.sqlite3'}"


def test_environment_is_read_with_typed_parsers(tmp_path):
    s = load_settings(
        {"SECRET_KEY": KEY, "TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "t" * 32,
         "TWILIO_API_BASE": "http://127.0.0.1:9999/", "PUBLIC_BASE_URL": "https://bot.example.id/",
         "OUTBOUND_RETRY_INTERVALS": "1,2,3", "TWILIO_TIMEOUT": "3.5", "DATABASE_URL": "postgresql+psycopg://x/y",
         "MEDIA_KEYS": "k1:" + "a" * 43 + "="},
        str(tmp_path),
    )
    assert not s.local_mode and not s.simulator_enabled
    assert s.twilio_api_base == "http://127.0.0.1:9999" and s.public_base_url == "https://bot.example.id"
    assert s.outbound_retry_intervals == (1, 2, 3) and s.outbound_max_attempts == 4 and s.twilio_timeout == 3.5
    with pytest.raises(ConfigError):
        load_settings({"SECRET_KEY": KEY, "TWILIO_TIMEOUT": "soon"}, str(tmp_path))


@pytest.mark.parametrize(
    "written",
    ["081234567890", "6281234567890", "+6281234567890", "+62 812-3456-7890", "0812 3456 7890", "(0812) 3456-7890"],
)
def test_indonesian_numbers_as_people_write_them_normalise_to_e164(written):
    assert phones.to_e164(written) == "+6281234567890"


def test_whatsapp_addresses():
    assert phones.whatsapp_to_e164("whatsapp:+6281234567890") == "+6281234567890"
    assert phones.whatsapp_to_e164("whatsapp:+14155238886") == "+14155238886"
    with pytest.raises(phones.NotWhatsApp):
        phones.whatsapp_to_e164("+6281234567890")
    with pytest.raises(phones.InvalidNumber):
        phones.whatsapp_to_e164("whatsapp:+62")
    assert phones.e164_to_whatsapp("+6281234567890") == "whatsapp:+6281234567890"


@pytest.mark.parametrize("junk", ["", "abc", "12", "+", "0", "whatsapp"])
def test_junk_is_not_a_number(junk):
    with pytest.raises(phones.InvalidNumber):
        phones.to_e164(junk)


@given(st.from_regex(r"8[1-9][0-9]{7,9}", fullmatch=True))
def test_the_three_ways_of_writing_a_mobile_number_agree(subscriber):
    e164 = phones.to_e164("0" + subscriber)
    assert e164 == "+62" + subscriber
    assert phones.to_e164("62" + subscriber) == e164
    assert phones.to_e164("+62" + subscriber) == e164


def test_mask_keeps_only_the_ends():
    assert phones.mask("+6281234567890") == "+62*******7890"


def test_outbound_pacing_settings_are_typed_and_checked_at_start_up(tmp_path):
    defaults = load_settings({"SECRET_KEY": KEY}, str(tmp_path))
    assert (defaults.outbound_text_per_second, defaults.outbound_media_per_second,
            defaults.outbound_account_per_second, defaults.outbound_bulk_share) == (10.0, 1.5, 2000.0, 0.8)
    s = load_settings({"SECRET_KEY": KEY, "OUTBOUND_TEXT_PER_SECOND": "50", "OUTBOUND_MEDIA_PER_SECOND": "2.5",
                       "OUTBOUND_ACCOUNT_PER_SECOND": "100", "OUTBOUND_BULK_SHARE": "1"}, str(tmp_path))
    assert (s.outbound_text_per_second, s.outbound_media_per_second, s.outbound_account_per_second,
            s.outbound_bulk_share) == (50.0, 2.5, 100.0, 1.0)
    for name, value in (("OUTBOUND_TEXT_PER_SECOND", "0"), ("OUTBOUND_MEDIA_PER_SECOND", "-1"),
                        ("OUTBOUND_ACCOUNT_PER_SECOND", "nan"), ("OUTBOUND_TEXT_PER_SECOND", "cepat"),
                        ("OUTBOUND_BULK_SHARE", "0"), ("OUTBOUND_BULK_SHARE", "1.5")):
        with pytest.raises(ConfigError, match="OUTBOUND_|expected a number"):
            load_settings({"SECRET_KEY": KEY, name: value}, str(tmp_path))
