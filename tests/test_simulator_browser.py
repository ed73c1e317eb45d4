"""The WhatsApp simulator in a real browser (Playwright, Debian's Chromium): the made-up number is
remembered across a reload and a new login, replies answered with drafts carry a "draf" badge, and
"Mulai ulang percakapan" starts the test conversation from the beginning."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import browser_page, console_login, live_app, needs_chromium, screenshot
from tests.helpers import run_jobs


pytestmark = [needs_chromium, pytest.mark.one_backend]



@pytest.fixture
def live(env):
    """Local mode (no Twilio credentials, the simulator on) on a real threaded server, with an agent (ani)."""
    with live_app(env, ("ani", "agent"), local=True, SIMULATOR_ENABLED="1") as served:
        yield served


@pytest.fixture
def page(browser):
    with browser_page(browser, 800, 900) as page:
        yield page


def login(page, base: str) -> None:
    console_login(page, base, "ani")


def say(app, page, body: str) -> None:
    sent = page.locator('#chat [data-direction="in"]')
    before = sent.count()
    page.locator("#body").fill(body)
    page.locator("#send").click()
    expect(sent).to_have_count(before + 1)
    run_jobs(app)


def test_the_number_is_remembered_and_a_conversation_starts_again(live, page):
    app, base = live
    login(page, base)
    page.goto(base + "/simulator/")
    first = page.locator("#phone").input_value()
    page.locator("#new-number").click()
    expect(page.locator("#phone option")).to_have_count(2)
    second = page.locator("#phone").input_value()
    assert first != second
    page.locator("#phone").select_option(first)  # the older number, which the page would not pick itself
    say(app, page, "halo")
    replies = page.locator('#chat [data-direction="out"]')
    expect(replies).to_have_count(1)
    expect(replies.first).to_contain_text("selamat datang")
    say(app, page, "1")
    expect(replies).to_have_count(2)
    expect(replies.nth(1)).to_contain_text("nomor kartu")  # change NIK's first question

    page.reload()
    expect(page.locator("#phone")).to_have_value(first)
    expect(replies).to_have_count(2)

    page.context.clear_cookies()  # logged out: a new login starts a new session, localStorage stays
    login(page, base)
    page.goto(base + "/simulator/")
    expect(page.locator("#phone")).to_have_value(first)  # taken back with its key
    expect(replies).to_have_count(2)
    expect(replies.nth(1)).to_contain_text("nomor kartu")

    page.get_by_label("Pratinjau draf").check()
    say(app, page, "menu")
    expect(replies).to_have_count(3)
    expect(replies.nth(2).locator(".badge")).to_have_text("draf")
    expect(page.locator("#chat .badge")).to_have_count(1)  # the published replies carry none
    screenshot(page, "simulator-draft-badge.png")

    page.get_by_role("button", name="Mulai ulang percakapan").click()
    expect(page.locator("#chat .bubble")).to_have_count(0)
    expect(page.locator("#note")).to_contain_text("dimulai ulang")
    page.get_by_label("Pratinjau draf").uncheck()
    say(app, page, "halo")
    expect(replies).to_have_count(1)
    expect(replies.first).to_contain_text("selamat datang")  # a first contact again
    assert page.errors == []
