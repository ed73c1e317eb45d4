"""An admin edits a bot text in a real browser (Playwright, Debian's Chromium), publishes it, and the
citizen in the local WhatsApp simulator reads the new text; the draft preview switch of the simulator;
the simulator shows WhatsApp's formatting as a phone does."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from bot import create_app
from bot.accounts import create_staff
from storage import db
from storage.models import Citizen, OutboundMessage
from tests.browser import ARTIFACTS, needs_chromium, screenshot, serving
from tests.conftest import free_port, preferred_backend, wait_for
from tests.helpers import run_jobs

PASSWORD = "rahasia-kuat-123"
NEW_INTRO = "Pilih layanan PANDAWA dengan membalas angkanya:"
REPLY = ("*Tebal* dan _miring_, ~coret~ serta ```kode *tetap* apa adanya```\n"
         "2 * 3 * 4 = 24, berkas nama_file_ktp.jpg, *tidak\n"
         "melintasi baris* dan *_tebal miring_*\n"
         '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bukan tebal</b>')

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def backend():
    return preferred_backend()


@pytest.fixture
def live(env):
    """The app in local mode (no Twilio credentials: the simulator is on) on a real threaded server,
    with an admin (adi)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    local_env = {k: v for k, v in env.items() if not k.startswith("TWILIO_")}
    app = create_app({"ENV": {**local_env, "PUBLIC_BASE_URL": base, "SIMULATOR_ENABLED": "1"}, "TESTING": True})
    with app.app_context():
        session = db.session()
        create_staff(session, "adi", "admin", PASSWORD)
        session.commit()
    with serving(app, port):
        yield app, base


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="id-ID")
    ctx.set_default_timeout(15_000)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(f"script error: {exc}"))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.errors = errors
    yield page
    ctx.close()


def login(page, base: str) -> None:
    page.goto(base + "/console/login")
    page.get_by_label("Nama pengguna").fill("adi")
    page.get_by_label("Kata sandi").fill(PASSWORD)
    page.locator("form.login button[type=submit]").click()
    page.wait_for_url(base + "/console/")


def simulator_says(app, page, base: str, body: str, preview: bool = False) -> None:
    """A new made-up citizen (the simulator's own numbers only) says ``body``."""
    page.goto(base + "/simulator/")
    options = page.locator("#phone option")
    before = options.count()
    page.locator("#new-number").click()
    expect(options).to_have_count(before + 1)
    if preview:
        page.get_by_label("Pratinjau draf").check()
    page.locator("#body").fill(body)
    page.locator("#send").click()
    expect(page.locator('#chat [data-direction="in"]').last).to_contain_text(body)
    run_jobs(app)


def bot_replies(page) -> str:
    replies = page.locator('#chat [data-direction="out"]')
    wait_for(lambda: replies.count() > 0, timeout=10, message="a reply in the simulator's chat")
    return "\n".join(replies.all_inner_texts())


def test_admin_edits_a_text_publishes_and_the_simulator_shows_it(live, page):
    app, base = live
    login(page, base)
    page.goto(base + "/console/admin/texts")
    expect(page.locator("h1")).to_have_text("Teks bot")
    intro = page.get_by_label("menu_intro", exact=True)
    counter = page.locator("#count-menu_intro")
    intro.fill("x" * 1601)
    expect(counter).to_have_text("1601/1600")  # counted as the admin types
    expect(counter).to_have_class("counter over")
    intro.fill(NEW_INTRO)
    expect(counter).to_have_text(f"{len(NEW_INTRO)}/1600")
    page.locator("#text-filter").fill("menu_")
    expect(page.locator('.text-field[data-key="greeting"]')).to_be_hidden()
    expect(page.locator('.text-field[data-key="menu_footer"]')).to_be_visible()
    page.locator("#text-filter").fill("")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "admin-texts.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10 * 1024

    page.get_by_role("button", name="Terbitkan").click()
    expect(page.locator(".flash.ok")).to_contain_text("Versi 1 diterbitkan")
    expect(page.get_by_label("menu_intro", exact=True)).to_have_value(NEW_INTRO)
    assert page.errors == []

    simulator_says(app, page, base, "halo")
    wait_for(lambda: NEW_INTRO in bot_replies(page), timeout=10,
             message=lambda: f"the new text in: {bot_replies(page)!r}")
    assert page.errors == []


def test_a_draft_is_seen_only_with_the_preview_switch(live, page):
    app, base = live
    login(page, base)
    page.goto(base + "/console/admin/texts")
    page.get_by_label("menu_intro", exact=True).fill("Ini draf yang belum terbit:")
    page.get_by_role("button", name="Simpan draf").click()
    expect(page.locator(".flash.ok")).to_contain_text("Draf versi 1 disimpan.")

    simulator_says(app, page, base, "halo")
    wait_for(lambda: "Silakan balas dengan" in bot_replies(page), timeout=10, message="the published text")
    assert "belum terbit" not in bot_replies(page)

    simulator_says(app, page, base, "halo", preview=True)
    wait_for(lambda: "Ini draf yang belum terbit:" in bot_replies(page), timeout=10, message="the draft text")
    page.locator("#body").fill("menu")
    page.locator("#send").click()
    expect(page.get_by_label("Pratinjau draf")).to_be_checked()  # stays on for the next message
    assert page.errors == []


def test_admin_reorders_the_menu_and_adds_a_decree_in_the_browser(live, page):
    app, base = live
    ARTIFACTS.mkdir(exist_ok=True)
    login(page, base)
    page.goto(base + "/console/admin/settings")
    page.get_by_label("Urutan complaint").fill("1")
    page.get_by_label("Urutan change_nik").fill("2")
    page.locator("#holidays").fill("2026-12-25\n25-12-2026")
    page.get_by_role("button", name="Terbitkan").click()
    expect(page.locator("#problems")).to_contain_text("holidays line 2")
    page.screenshot(path=str(ARTIFACTS / "admin-settings.png"), full_page=True)
    page.locator("#holidays").fill("2026-12-25")
    page.get_by_role("button", name="Terbitkan").click()
    expect(page.locator(".flash.ok")).to_contain_text("Versi 1 diterbitkan")
    expect(page.locator("#menu tbody tr").first).to_have_attribute("data-service", "complaint")
    assert app.config["PRODUCT"].menu[0].id == "complaint"

    page.goto(base + "/console/admin/decrees")
    page.get_by_label("Nomor SK").fill("9/HUK/2026")
    page.get_by_label("Tanggal penonaktifan").fill("2026-05-01")
    page.get_by_label("Batas reaktivasi").fill("2026-04-01")
    page.get_by_role("button", name="Tambah").click()
    expect(page.locator("#problems")).to_contain_text("harus setelah")
    page.get_by_label("Batas reaktivasi").fill("2026-11-01")
    page.get_by_role("button", name="Tambah").click()
    expect(page.locator(".flash.ok")).to_have_text("SK 9/HUK/2026 ditambahkan.")
    expect(page.locator('#decrees tr[data-decree="9/HUK/2026"]')).to_contain_text("2026-11-01")
    page.screenshot(path=str(ARTIFACTS / "admin-decrees.png"), full_page=True)
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('#decrees tr[data-decree="9/HUK/2026"]').get_by_role("button", name="Hapus").click()
    expect(page.locator(".flash.ok")).to_have_text("SK 9/HUK/2026 dihapus.")
    assert [e for e in page.errors if not e.startswith("400 ")] == []  # the refused decree answered 400


def test_messages_show_whatsapp_formatting_and_html_stays_text(live, page):
    """Messages are shown as a phone shows them (*bold*, _italic_, ~strikethrough~, ```monospace```, line
    breaks), and HTML in a message stays text."""
    app, base = live
    login(page, base)
    page.goto(base + "/simulator/")

    page.locator("#body").fill("*halo* min <b>ini bukan tebal</b>")  # the citizen's own bubble
    page.locator("#send").click()
    mine = page.locator('#chat [data-direction="in"]').last
    expect(mine.locator("strong")).to_have_text(["halo"])
    expect(mine).to_contain_text("min <b>ini bukan tebal</b>")
    expect(mine.locator("b")).to_have_count(0)

    number = page.locator("#phone").input_value()
    with app.app_context():  # a reply stored for the simulator's citizen, as the worker would
        session = db.session()
        citizen = session.scalar(select(Citizen).where(Citizen.phone == number))
        session.add(OutboundMessage(citizen_id=citizen.id, body=REPLY))
        session.commit()
    reply = page.locator('#chat [data-direction="out"]').last
    expect(reply.locator("strong")).to_have_text(["Tebal", "tebal miring"])
    expect(reply.locator("em")).to_have_text(["miring", "tebal miring"])
    expect(reply.locator("strong > em")).to_have_text(["tebal miring"])
    expect(reply.locator("s")).to_have_text(["coret"])
    expect(reply.locator("code")).to_have_text(["kode *tetap* apa adanya"])  # nothing styled in monospace
    expect(reply.locator("img, script, b")).to_have_count(0)
    text = reply.inner_text()
    assert "apa adanya\n2 * 3 * 4 = 24, berkas nama_file_ktp.jpg, *tidak\nmelintasi baris* dan" in text
    assert '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bukan tebal</b>' in text
    assert page.evaluate("window.pwned") is None
    screenshot(page, "simulator-formatting.png")
    assert page.errors == []
