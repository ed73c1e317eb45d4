"""The dashboard by branch office (issue 16): every figure and the CSV export count only the cases (and
the messages) of the branches the viewer sees; ``?branch=CODE`` narrows to one of them (404 for any
other); national supervisors and admins compare every branch (volume, SLA met, median time to decision,
IKM, open cases) and drill down. Runs on PostgreSQL and SQLite (the ``app`` fixture)."""
from __future__ import annotations

import csv
import html
import io
import itertools
import re
from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, event, select

from bot.console import branch_stats
from handlers import branches, visibility
from storage import db
from storage.branches import DEFAULT_CODE, StaffBranch
from storage.cases import Case, CaseStatus
from storage.models import Citizen, InboundMessage, InboundStatus, OutboundMessage, utcnow
from storage.staff import Satisfaction, Staff
from tests.helpers import add_staff, logged_in

JAKARTA = ZoneInfo("Asia/Jakarta")
SDA, SBY = "whatsapp:+6231890001", "whatsapp:+6231890002"
PHONE, NIK = "+6281234567890", "3201234505860003"
_numbers = itertools.count(1)


def make_case(s, citizen, branch, created_at, status=CaseStatus.SUBMITTED, decided_after=None, due_after=8.0,
              rating=None) -> str:
    decided = created_at + timedelta(hours=decided_after) if decided_after is not None else None
    case = Case(ticket=f"PDW-20260311-{next(_numbers):04d}", service="change_nik", citizen_id=citizen.id,
                status=status if decided is None else CaseStatus.APPROVED, fields={"nik": NIK},
                created_at=created_at, decided_at=decided, sla_due_at=created_at + timedelta(hours=due_after),
                branch_id=branch.id)
    s.add(case)
    s.flush()
    if rating is not None:
        now = utcnow()
        s.add(Satisfaction(case_id=case.id, rating=rating, asked_at=now - timedelta(hours=2),
                           answered_at=now - timedelta(hours=1)))
    return case.ticket


def work_for(app, name: str, *codes: str, national: bool = False) -> None:
    """``name`` works for these branches only (StaffBranch rows); a national supervisor if asked."""
    with app.app_context():
        s = db.session()
        staff = s.scalar(select(Staff).where(Staff.name == name))
        staff.national = national
        s.execute(delete(StaffBranch).where(StaffBranch.staff_id == staff.id))
        s.add_all(StaffBranch(staff_id=staff.id, branch_id=branches.by_code(s, code).id) for code in codes)
        s.commit()


@pytest.fixture
def seeded(app) -> dict[str, list[str]]:
    """Three branches with known figures (relative to the real clock: the views use utcnow()); returns the
    tickets created in the period per branch code.

    KC-SDA: decided after 2 h (met), 10 h (late), 4 h (met), ratings 4, 3, 4; one open case.
            SLA 2/3 = 66,7 %, median 4,0 h, IKM 91,7 A, volume 4, open 1.
    KC-SBY: decided after 12 h (late), 3 h (met), ratings 2, 3; one open case, one opened 60 days ago.
            SLA 1/2 = 50,0 %, median 7,5 h, IKM 62,5 D, volume 3, open 2.
    UTAMA:  one open case, no decision, no rating. Volume 1, open 1.
    All:    SLA 3/5 = 60,0 %, median 4,0 h, IKM 80,0 B, volume 8, open 4.
    """
    now = utcnow()
    with app.app_context():
        s = db.session()
        sda = branches.add(s, "KC-SDA", "KC Sidoarjo", (SDA,))
        sby = branches.add(s, "KC-SBY", "KC Surabaya", (SBY,))
        main = branches.default(s)
        person = Citizen(phone=PHONE, profile_name="Ibu Sari")
        s.add(person)
        s.flush()
        day = now - timedelta(hours=30)
        tickets = {
            "KC-SDA": [make_case(s, person, sda, day, decided_after=2, rating=4),
                       make_case(s, person, sda, day, decided_after=10, rating=3),
                       make_case(s, person, sda, day, decided_after=4, rating=4),
                       make_case(s, person, sda, now - timedelta(hours=2))],
            "KC-SBY": [make_case(s, person, sby, now - timedelta(hours=50), decided_after=12, rating=2),
                       make_case(s, person, sby, now - timedelta(hours=20), decided_after=3, rating=3),
                       make_case(s, person, sby, now - timedelta(hours=1))],
            DEFAULT_CODE: [make_case(s, person, main, now - timedelta(hours=5))],
        }
        make_case(s, person, sby, now - timedelta(days=60))  # open, created before the period
        # A citizen's message to KC-SBY's number set aside, and a reply waiting to go out from it.
        s.add(InboundMessage(message_sid="SM" + "1" * 32, sender=f"whatsapp:{PHONE}", to_number=SBY, body="racun",
                             status=InboundStatus.FAILED, failure_reason="RuntimeError"))
        s.add(OutboundMessage(citizen=person, body="Halo", sender=SBY, created_at=now - timedelta(minutes=3)))
        s.commit()
    add_staff(app, ("sari", "supervisor"), ("nina", "supervisor"), ("adi", "admin"), ("budi", "supervisor"))
    work_for(app, "sari", "KC-SDA")
    work_for(app, "nina", national=True)
    work_for(app, "budi", "KC-SDA", "KC-SBY")
    return tickets


def page_of(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def kpis(page: str) -> str:
    return page[page.index('class="kpis"'):page.index("</section>", page.index('class="kpis"'))]


def comparison_rows(page: str) -> dict[str, dict[str, str]]:
    """The comparison table: code (or "Keseluruhan") -> {cell class: visible text}."""
    section = page[page.index('id="branch-comparison"'):]
    section = section[:section.index("</section>")]
    rows = {}
    for code, body in re.findall(r'<tr[^>]*data-branch="([^"]+)"[^>]*>(.*?)</tr>', section, re.S):
        rows[code] = _cells(body)
    rows["Keseluruhan"] = _cells(section[section.index("<tfoot>"):])
    return rows


def _cells(body: str) -> dict[str, str]:
    found = re.findall(r'<td class="(\w+)">(.*?)</td>', body, re.S)
    return {name: " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split()) for name, text in found}


def csv_rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    return [dict(zip(rows[0], row)) for row in rows[1:]]


# --- a branch supervisor ------------------------------------------------------------------------------

def test_a_branch_supervisor_sees_only_their_branch(app, seeded):
    sari = logged_in(app, "sari")
    page = page_of(sari, "/console/dashboard?days=14")
    numbers = kpis(page)

    assert "Kantor cabang: KC Sidoarjo (KC-SDA)" in page
    assert "66,7&nbsp;%" in numbers and "2 dari 3 keputusan" in numbers   # not 60,0 % (every branch)
    assert "4,0&nbsp;jam" in numbers and "dari 3 keputusan" in numbers
    assert "91,7" in numbers and "grade-a" in numbers and "dari 3 penilaian" in numbers
    assert re.search(r'<h2>Kasus terbuka</h2>\s*<p class="big">1</p>', numbers)
    # No comparison, no branch to choose, nothing of another branch's messages.
    assert "Perbandingan kantor cabang" not in page and 'name="branch"' not in page
    assert "KC Surabaya" not in page and "KC-SBY" not in page and "+6231890002" not in page
    assert "0 pesan warga tidak terproses" in page
    assert "Tidak ada pesan menunggu" in page
    for ticket in seeded["KC-SBY"] + seeded[DEFAULT_CODE]:
        assert ticket not in page

    rows = csv_rows(sari.get("/console/dashboard.csv?days=14"))
    assert sorted(r["ticket"] for r in rows) == sorted(seeded["KC-SDA"])
    assert {r["branch"] for r in rows} == {"KC-SDA"}


def test_another_branch_is_not_found_for_a_branch_supervisor(app, seeded):
    sari = logged_in(app, "sari")
    for path in ("/console/dashboard?branch=KC-SBY", "/console/dashboard.csv?branch=KC-SBY",
                 f"/console/dashboard?branch={DEFAULT_CODE}", "/console/dashboard?branch=TIDAK-ADA"):
        assert sari.get(path).status_code == 404, path
    own = page_of(sari, "/console/dashboard?branch=kc-sda")
    assert "66,7&nbsp;%" in kpis(own)
    assert csv_rows(sari.get("/console/dashboard.csv?branch=KC-SDA"))


def test_a_supervisor_of_two_branches_compares_only_those(app, seeded):
    budi = logged_in(app, "budi")
    page = page_of(budi, "/console/dashboard")

    assert "Semua kantor cabang Anda" in page
    assert set(comparison_rows(page)) == {"KC-SDA", "KC-SBY", "Keseluruhan"}
    assert comparison_rows(page)["Keseluruhan"]["volume"] == "7"
    assert f'value="{DEFAULT_CODE}"' not in page
    assert budi.get(f"/console/dashboard?branch={DEFAULT_CODE}").status_code == 404
    rows = csv_rows(budi.get("/console/dashboard.csv"))
    assert sorted(r["ticket"] for r in rows) == sorted(seeded["KC-SDA"] + seeded["KC-SBY"])


# --- national supervisors and admins ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["nina", "adi"])
def test_national_viewers_compare_every_branch(app, seeded, name):
    page = page_of(logged_in(app, name), "/console/dashboard?days=14")
    rows = comparison_rows(page)

    assert "Perbandingan kantor cabang" in page
    assert list(rows) == [DEFAULT_CODE, "KC-SBY", "KC-SDA", "Keseluruhan"]  # the default branch first
    assert rows["KC-SDA"] == {"volume": "4", "sla": "66,7 % (2 dari 3)", "median": "4,0 jam (3 keputusan)",
                              "ikm": "91,7 A (3 penilaian)", "open": "1"}
    assert rows["KC-SBY"] == {"volume": "3", "sla": "50,0 % (1 dari 2)", "median": "7,5 jam (2 keputusan)",
                              "ikm": "62,5 D (2 penilaian)", "open": "2"}
    assert rows[DEFAULT_CODE] == {"volume": "1", "sla": "–", "median": "–", "ikm": "–", "open": "1"}
    assert rows["Keseluruhan"] == {"volume": "8", "sla": "60,0 % (3 dari 5)", "median": "4,0 jam (5 keputusan)",
                              "ikm": "80,0 B (5 penilaian)", "open": "4"}
    # The page's own figures are every branch's: the same as the total.
    numbers = kpis(page)
    assert "60,0&nbsp;%" in numbers and "80,0" in numbers and "1 pesan warga tidak terproses" in page
    assert "Semua kantor cabang" in page and '<option value="KC-SBY">KC Surabaya (KC-SBY)</option>' in page
    assert "<td>+6231890002</td><td>1</td>" in page
    assert len(csv_rows(logged_in(app, name).get("/console/dashboard.csv?days=14"))) == 8


@pytest.mark.parametrize("name", ["nina", "adi"])
def test_national_viewers_filter_by_branch(app, seeded, name):
    client = logged_in(app, name)
    page = page_of(client, "/console/dashboard?days=14&branch=KC-SBY")
    numbers = kpis(page)

    assert "Kantor cabang: KC Surabaya (KC-SBY)" in page
    assert '<option value="KC-SBY" selected>' in page
    assert "50,0&nbsp;%" in numbers and "1 dari 2 keputusan" in numbers and "7,5&nbsp;jam" in numbers
    assert "62,5" in numbers and "grade-d" in numbers
    assert re.search(r'<h2>Kasus terbuka</h2>\s*<p class="big">2</p>', numbers)
    assert re.search(r'<tr class="current" aria-current="true" data-branch="KC-SBY">', page)
    assert "dashboard.csv?days=14&amp;branch=KC-SBY" in page

    response = client.get("/console/dashboard.csv?days=14&branch=KC-SBY")
    rows = csv_rows(response)
    assert sorted(r["ticket"] for r in rows) == sorted(seeded["KC-SBY"]) and {r["branch"] for r in rows} == {"KC-SBY"}
    today = utcnow().astimezone(JAKARTA)
    assert response.headers["Content-Disposition"] == f"attachment; filename=pandawa-cases-KC-SBY-{today:%Y%m%d}.csv"

    sda = page_of(client, "/console/dashboard?branch=KC-SDA")
    assert "0 pesan warga tidak terproses" in sda and "+6231890002" not in sda.split('id="branch-comparison"')[0]
    assert client.get("/console/dashboard?branch=TIDAK-ADA").status_code == 404


def test_each_row_drills_down_to_its_branch(app, seeded):
    client = logged_in(app, "nina")
    page = page_of(client, "/console/dashboard?days=30")
    links = dict((code, html.unescape(href)) for href, code in re.findall(
        r'<a href="([^"]+)">[^<]+</a> <span class="muted">([A-Z-]+)</span>', page))

    assert links["KC-SDA"] == "/console/dashboard?days=30&branch=KC-SDA"
    drilled = page_of(client, links["KC-SDA"])
    assert "Kantor cabang: KC Sidoarjo (KC-SDA)" in drilled
    assert "66,7&nbsp;%" in kpis(drilled) and "91,7" in kpis(drilled)
    assert '<option value="30" selected>' in drilled  # the period is kept


# --- the numbers --------------------------------------------------------------------------------------

def test_the_comparison_takes_the_same_few_queries_whatever_the_number_of_branches(app, seeded):
    engine = app.extensions["db"].engine
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    with app.app_context():
        s = db.session()
        now = utcnow().astimezone(timezone.utc)
        every = visibility.branches_in_scope(s, s.scalar(select(Staff).where(Staff.name == "adi")))
        event.listen(engine, "before_cursor_execute", count)
        try:
            three = branch_stats.comparison(s, now, 14, JAKARTA, every)
            queries_for_three = len(statements)
            statements.clear()
            one = branch_stats.comparison(s, now, 14, JAKARTA, every[-1:], frozenset({every[-1].id}))
        finally:
            event.remove(engine, "before_cursor_execute", count)
    assert queries_for_three == len(statements) == 4
    assert [r["branch"].code for r in three["rows"]] == [DEFAULT_CODE, "KC-SBY", "KC-SDA"]
    assert [r["branch"].code for r in one["rows"]] == ["KC-SDA"] and one["total"]["volume"] == 4
    assert three["total"]["sla"]["median_hours"] == 4.0 and three["total"]["ikm"]["score"] == 80.0

