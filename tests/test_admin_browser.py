"""An admin edits a bot text in a real browser (Playwright, Debian's Chromium), publishes it, and the
citizen in the local WhatsApp simulator reads the new text; the draft preview switch of the simulator;
the simulator shows WhatsApp's formatting as a phone does; the flow editor's map, a one-line flow edit
seen as a one-line diff with its author, and a rollback to the original."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from flows import versions
from flows.definition import DEFINITIONS
from storage import db
from storage.models import Citizen, OutboundMessage
from tests.browser import ARTIFACTS, browser_page, console_login, doc_screenshot, live_app, needs_chromium, screenshot
from tests.conftest import wait_for
from tests.helpers import run_jobs

NEW_NIK_ASK = "Ketik *NIK baru* sesuai KTP atau KK (16 angka)."
NEW_INTRO = "Pilih layanan PANDAWA dengan membalas angkanya:"
REPLY = ("*Tebal* dan _miring_, ~coret~ serta ```kode *tetap* apa adanya```\n"
         "2 * 3 * 4 = 24, berkas nama_file_ktp.jpg, *tidak\n"
         "melintasi baris* dan *_tebal miring_*\n"
         '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bukan tebal</b>')

pytestmark = [needs_chromium, pytest.mark.one_backend]



@pytest.fixture
def live(env):
    """The app in local mode (no Twilio credentials: the simulator is on) on a real threaded server,
    with an admin (adi)."""
    with live_app(env, ("adi", "admin"), local=True, SIMULATOR_ENABLED="1") as served:
        yield served


@pytest.fixture
def page(browser):
    with browser_page(browser, 1280, 900) as page:
        yield page


def login(page, base: str) -> None:
    console_login(page, base, "adi")


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
    expect(page.locator("#problems")).to_contain_text("holidays baris 2")
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


def test_admin_edits_one_line_of_a_flow_sees_a_one_line_diff_and_rolls_back(live, page):
    """The flow map shows the action's outcomes and opens a step; removing and adding can be undone
    before saving; a one-line edit in the form is a one-line diff with its author; the original
    version can be put back."""
    app, base = live
    page.set_viewport_size({"width": 1024, "height": 600})
    login(page, base)
    page.goto(base + "/console/admin/flows/change_nik")
    flow_map = page.locator("svg.flow-map")
    expect(flow_map).to_be_visible()
    outcome = flow_map.locator('g.edge[data-from="check"][data-to="unknown_card"]')
    expect(outcome).to_have_attribute("data-keys", "outcome:unknown_card")
    expect(outcome.locator("text")).to_have_text("kartu tidak ditemukan")
    expect(flow_map.locator('g.edge[data-from="check"][data-to="ktp"] text')).to_have_text("data cocok")
    expect(flow_map.locator('a.box[data-step="check"]')).to_contain_text("Tindakan")
    expect(page.locator("details#step-check")).not_to_have_attribute("open", "")
    doc_screenshot(page, "flow-map.png", full_page=True)

    flow_map.locator('a.box[data-step="check"]').click()
    check = page.locator("details#step-check")
    expect(check).to_have_attribute("open", "")
    expect(check).to_contain_text("Periksa kartu dan NIK baru")
    expect(check.locator('tr[data-outcome="same_value"] select')).to_have_value("same_nik")

    page.locator('a.box[data-step="ktp"]').click()
    remove = page.locator("details#step-ktp input.remove-step")
    remove.check()
    expect(page.locator("details#step-ktp")).to_have_class(re.compile(r"\bremoving\b"))
    expect(page.locator("details#step-ktp .remove-flag")).to_be_visible()
    remove.uncheck()  # changed my mind: the step stays
    expect(page.locator("details#step-ktp")).not_to_have_class(re.compile(r"\bremoving\b"))

    page.locator("#add-step > summary").click()
    page.locator("#new-id").fill("foto_buku_nikah")
    page.locator("#cancel-add").click()
    expect(page.locator("#new-id")).to_have_value("")
    expect(page.locator("#add-step")).not_to_have_attribute("open", "")

    page.locator('a.box[data-step="nik"]').click()
    ask = page.locator('textarea[name="nik.ask"]')
    expect(ask).to_be_visible()
    ask.fill(NEW_NIK_ASK)
    page.get_by_label("Catatan perubahan").fill("pertanyaan NIK lebih jelas")
    page.get_by_role("button", name="Terbitkan").click()
    expect(page.locator(".flash.ok")).to_contain_text("Versi 1 diterbitkan")

    page.goto(base + "/console/admin/history/flow:change_nik")
    v1 = page.locator("#v1")
    expect(v1.locator(".badge.status")).to_have_text("berlaku")
    expect(v1.locator(".author")).to_have_text("oleh adi")
    expect(v1.locator("pre.diff .line.add")).to_have_count(1)
    expect(v1.locator("pre.diff .line.del")).to_have_count(1)
    expect(v1.locator("pre.diff .line.add")).to_contain_text(NEW_NIK_ASK)
    expect(v1.locator("pre.diff .line.del")).to_contain_text("Ketik *NIK yang benar*")
    expect(v1.locator(".count.add")).to_have_text("+1")
    doc_screenshot(page, "diff.png", full_page=True)

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#rollback-original").click()
    expect(page.locator(".flash.ok").last).to_contain_text("Dikembalikan: versi 2 sekarang berlaku")
    expect(page.locator("#v2 .badge.status")).to_have_text("berlaku")
    expect(page.locator("#v1 .badge.status")).to_have_text("digantikan")
    expect(page.locator("#v2 .line.del")).to_contain_text(NEW_NIK_ASK)
    with app.app_context():
        live_text = versions.latest(db.session(), "flow:change_nik", "published").content
    assert live_text == (DEFINITIONS / "change_nik.yml").read_text(encoding="utf-8")
    assert page.errors == []
