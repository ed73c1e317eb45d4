"""The queue in a real browser (Playwright, Debian's Chromium) against a live server: search by NIK, the
5-second refresh keeping the search and showing a new case without a reload, and the queue's screenshot
(into $SCREENSHOTS_DIR/queue.png when that is set, e.g. docs/console-screens)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from storage import db
from storage.cases import Case, CaseStatus
from storage.models import Citizen, InboundMessage, utcnow
from storage.staff import Staff
from tests.browser import browser_page, console_login, doc_screenshot, live_app, needs_chromium
from tests.helpers import submit_nik_case

NIK = "3201234505860003"  # what submit_nik_case's citizen types

pytestmark = [needs_chromium, pytest.mark.one_backend]



@pytest.fixture
def live(env):
    """The app on a real threaded HTTP server, with an agent (ani) and a supervisor (sri)."""
    with live_app(env, ("ani", "agent"), ("sri", "supervisor"), MEDIA_ALLOWED_HOSTS="localhost") as served:
        yield served


@pytest.fixture
def page(browser):
    with browser_page(browser) as page:
        yield page


def add_case(app, ticket: str, service: str = "change_nik", fields: dict | None = None, profile: str | None = None,
             age: timedelta = timedelta(hours=1), **columns) -> None:
    with app.app_context():
        session = db.session()
        citizen = Citizen(profile_name=profile)
        session.add(citizen)
        session.flush()
        created = utcnow() - age
        holder = columns.pop("holder", None)
        if holder:
            columns.update(status=CaseStatus.IN_REVIEW,
                           assigned_to=session.scalar(select(Staff.id).where(Staff.name == holder)))
        session.add(Case(ticket=ticket, service=service, citizen_id=citizen.id, fields=fields or {},
                         created_at=created, queued_at=created, **columns))
        session.commit()


def test_search_by_nik_finds_the_case(live, twilio, page):
    app, base = live
    submit_nik_case(app, twilio)
    with app.app_context():
        ticket = db.session().scalar(select(Case.ticket).where(Case.service == "change_nik"))
    add_case(app, "PDW-20261204-0999", fields={"nik": "3174015505900001", "member_name": "Joko Santoso"})
    console_login(page, base, "ani")
    expect(page.locator("#queue tbody tr[data-ticket]")).to_have_count(2)

    page.get_by_label("Cari kasus").fill("3201 2345 0586 0003")
    page.get_by_label("Cari kasus").press("Enter")
    page.wait_for_url("**/console/?s=*")  # the search is posted: no NIK in the URL
    assert "3201" not in page.url
    expect(page.locator("#queue tbody tr[data-ticket]")).to_have_count(1)
    expect(page.locator(f'#queue tr[data-ticket="{ticket}"]')).to_contain_text("Ubah / perbaiki NIK")
    expect(page.locator(".search-note")).to_contain_text("Hasil pencarian NIK")
    expect(page.get_by_label("Cari kasus")).to_have_value("3201 2345 0586 0003")  # kept in the page and the URL


def test_a_new_case_appears_without_a_reload_and_the_refresh_keeps_the_search(live, page):
    app, base = live
    console_login(page, base, "sri")
    page.goto(base + "/console/?q=rahmawati&status=all")
    expect(page.locator("#queue tbody")).to_contain_text("Tidak ada kasus.")
    page.evaluate("window.__marker = 'same-document'")
    origin = page.evaluate("performance.timeOrigin")
    navigations = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)

    add_case(app, "PDW-20261204-0007", fields={"member_name": "Joko Santoso"})          # not what is searched for
    add_case(app, "PDW-20261204-0008", fields={"member_name": "Siti Rahmawati"}, status=CaseStatus.CLOSED)

    expect(page.locator('#queue tr[data-ticket="PDW-20261204-0008"]')).to_contain_text("Siti Rahmawati", timeout=7_000)
    expect(page.locator('#queue tr[data-ticket="PDW-20261204-0007"]')).to_have_count(0)
    assert page.evaluate("window.__marker") == "same-document"
    assert page.evaluate("performance.timeOrigin") == origin
    assert navigations == []


def test_screenshot_of_the_queue(live, browser):
    """Cases of every kind the queue shows, as an agent sees them; saved when SCREENSHOTS_DIR is set."""
    app, base = live
    add_case(app, "PDW-20261204-0001", fields={"member_name": "Siti Rahmawati", "nik": NIK}, age=timedelta(hours=30),
             sla_due_at=utcnow() - timedelta(hours=2))
    add_case(app, "PDW-20261204-0002", service="change_phone", fields={"member_name": "Joko Santoso"},
             age=timedelta(hours=26), holder="ani")
    add_case(app, "PDW-20261204-0003", service="complaint", profile="Dewi Lestari", age=timedelta(hours=5),
             sla_due_at=utcnow() + timedelta(hours=6), updated_by_citizen=True)
    add_case(app, "PDW-20261204-0004", service="handoff", profile="Ibu Sari", age=timedelta(minutes=12))
    with app.app_context():  # the case ani holds has a message she has not read
        session = db.session()
        case = session.scalar(select(Case).where(Case.ticket == "PDW-20261204-0002"))
        session.add(InboundMessage(message_sid="SM-shot", citizen_id=case.citizen_id, sender="whatsapp:+6281200000000",
                                   body="halo"))
        session.commit()
    with browser_page(browser, 1024, 600) as page:
        console_login(page, base, "ani")
        rows = page.locator("#queue tbody tr[data-ticket]")
        expect(rows).to_have_count(4)
        expect(rows.first).to_contain_text("menunggu 12 menit")
        expect(page.locator('#queue tr[data-ticket="PDW-20261204-0002"]')).to_contain_text("1 baru")
        expect(page.locator('#queue tr[data-ticket="PDW-20261204-0002"]')).to_contain_text("Joko Santoso")
        expect(page.locator('#queue tr[data-ticket="PDW-20261204-0001"]')).to_contain_text("S*** R********")
        assert page.evaluate("getComputedStyle(document.querySelector('.badge.unread')).color") == "rgb(255, 255, 255)"
        assert page.errors == []
        doc_screenshot(page, "queue.png")
