"""Every bot text says when it is sent: a description next to its key in handlers.text_keys, shown on
the admins' texts page."""
from __future__ import annotations

import re

import pytest
import yaml

from bot import create_app
from handlers.text_keys import REQUIRED_TEXTS, TEXT_DESCRIPTIONS, text_description
from tests.conftest import ROOT
from tests.helpers import add_staff, logged_in


pytestmark = pytest.mark.one_backend  # one database is enough here


SHIPPED_TEXTS = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))["texts"]


@pytest.fixture
def app(env):
    app = create_app({"ENV": env, "TESTING": True})
    add_staff(app, ("adi", "admin"))
    yield app
    app.extensions["db"].dispose()


@pytest.mark.parametrize("key", sorted(set(SHIPPED_TEXTS) | set(REQUIRED_TEXTS)))
def test_every_text_says_when_it_is_sent(key):
    description = text_description(key)
    assert len(description) >= 15 and key not in description, (key, description)
    assert description[0].isupper() and description.rstrip().endswith("."), description


def test_descriptions_are_for_texts_the_bot_has():
    assert set(TEXT_DESCRIPTIONS) <= set(REQUIRED_TEXTS)
    assert text_description("no_such_text") == ""
    assert text_description("decision_need_info_reactivation").endswith("Khusus layanan reactivation.")


def test_the_texts_page_shows_each_description_next_to_its_key(app):
    page = logged_in(app).get("/console/admin/texts").get_data(as_text=True)
    keys = re.findall(r'<div class="card text-field[^"]*" data-key="([^"]+)"', page)
    assert set(keys) == set(SHIPPED_TEXTS)
    for key in keys:
        block = page.split(f'data-key="{key}"', 1)[1].split('<div class="card text-field', 1)[0]
        assert f'<p class="when" id="when-{key}">Kapan dikirim: ' in block, key
    assert "Kapan dikirim: Peserta mengirim pesan suara padahal bot menunggu teks" in page
