"""The supervisors' dashboard: its numbers (bot/console/stats.py), the page and its SVG charts, the CSV
export without personal data, and who may see them. Runs on PostgreSQL and SQLite (the ``app`` fixture)."""
from __future__ import annotations

import csv
import io
import itertools
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.console import charts, stats
from handlers import branches
from storage import db
from storage.cases import Case, CaseStatus
from storage.models import Citizen, OutboundMessage, utcnow
from storage.staff import Satisfaction

JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 3, 11, 3, 0, tzinfo=timezone.utc)  # Wednesday 10:00 WIB
PHONE, NIK, CARD = "+6281234567890", "3201234505860003", "0001234567890"
PASSWORD = "kata-sandi-rahasia"
_numbers = itertools.count(1)


@pytest.fixture
def console_app(app):
    app.config["WTF_CSRF_ENABLED"] = False
    return app


@pytest.fixture
def session(console_app):
    with console_app.app_context():
        s = db.session()
        yield s
        s.rollback()


@pytest.fixture
def citizen(session):
    person = Citizen(phone=PHONE, wa_id=PHONE.lstrip("+"), profile_name="Ibu Sari")
    session.add(person)
    session.flush()
    return person


def make_case(session, citizen, service="change_nik", status=CaseStatus.SUBMITTED, created_at=NOW,
              fields=None, **columns) -> Case:
    columns.setdefault("branch_id", branches.default(session).id)  # as every new case has one
    case = Case(ticket=f"PDW-20260311-{next(_numbers):04d}", service=service, citizen_id=citizen.id, status=status,
                fields=fields if fields is not None else {"nik": NIK, "card_number": CARD}, created_at=created_at,
                **columns)
    session.add(case)
    session.flush()
    return case


def rate(session, case, rating, answered_at=NOW):
    session.add(Satisfaction(case_id=case.id, rating=rating, asked_at=answered_at - timedelta(hours=1),
                             answered_at=answered_at if rating is not None else None))
    session.flush()


# --- numbers ------------------------------------------------------------------------------------------

def test_volume_per_service_per_office_day(session, citizen):
    make_case(session, citizen, "change_nik", created_at=datetime(2026, 3, 10, 16, 59, tzinfo=timezone.utc))  # 23:59 WIB 10th
    make_case(session, citizen, "change_nik", created_at=datetime(2026, 3, 10, 17, 0, tzinfo=timezone.utc))   # 00:00 WIB 11th
    make_case(session, citizen, "complaint", created_at=datetime(2026, 3, 8, 17, 0, tzinfo=timezone.utc))     # 00:00 WIB 9th
    make_case(session, citizen, "complaint", created_at=datetime(2026, 3, 8, 16, 59, tzinfo=timezone.utc))    # 8th: outside
    make_case(session, citizen, "reactivation", created_at=NOW + timedelta(days=1))                            # tomorrow
    session.commit()

    volume = stats.volume_per_day(session, NOW, days=3, tz=JAKARTA)

    assert [d.isoformat() for d in volume["days"]] == ["2026-03-09", "2026-03-10", "2026-03-11"]
    assert volume["services"] == {"change_nik": [0, 1, 1], "complaint": [1, 0, 0]}
    assert volume["totals"] == [1, 1, 1]


def test_open_cases_by_age_bucket(session, citizen):
    for hours in (1, 4, 23, 24, 71, 72, 240):
        make_case(session, citizen, created_at=NOW - timedelta(hours=hours))
    make_case(session, citizen, status=CaseStatus.NEED_INFO, created_at=NOW - timedelta(hours=2))
    make_case(session, citizen, status=CaseStatus.IN_REVIEW, created_at=NOW - timedelta(hours=30))
    make_case(session, citizen, status=CaseStatus.APPROVED, created_at=NOW - timedelta(hours=100))
    make_case(session, citizen, status=CaseStatus.CLOSED, created_at=NOW - timedelta(hours=1))
    session.commit()

    assert stats.open_by_age(session, NOW) == [
        {"label": "< 4 jam", "count": 2},
        {"label": "4–24 jam", "count": 2},
        {"label": "1–3 hari", "count": 3},
        {"label": "> 3 hari", "count": 2},
    ]


def test_sla_met_percent_and_median_hours_to_decision(session, citizen):
    start = NOW - timedelta(days=2)
    for decided_after, due_after in ((2, 8), (10, 8), (8, 8), (5, None)):  # met, late, met (on the dot), no SLA
        make_case(session, citizen, status=CaseStatus.APPROVED, created_at=start,
                  decided_at=start + timedelta(hours=decided_after),
                  sla_due_at=start + timedelta(hours=due_after) if due_after else None)
    old = NOW - timedelta(days=20)  # decided before the period
    make_case(session, citizen, status=CaseStatus.REJECTED, created_at=old, decided_at=old + timedelta(hours=1),
              sla_due_at=old + timedelta(hours=8))
    make_case(session, citizen, created_at=start, sla_due_at=start + timedelta(hours=8))  # not decided
    session.commit()

    assert stats.sla_summary(session, NOW, days=14, tz=JAKARTA) == {
        "decided": 4, "with_sla": 3, "met": 2, "percent": 66.7, "median_hours": 6.5,
    }


def test_sla_without_decisions(session):
    assert stats.sla_summary(session, NOW, 14, JAKARTA) == {
        "decided": 0, "with_sla": 0, "met": 0, "percent": None, "median_hours": None}


def test_ikm_score_and_grade_on_known_ratings(session, citizen):
    for rating in (4, 4, 3, 2):
        rate(session, make_case(session, citizen, status=CaseStatus.CLOSED), rating, NOW - timedelta(hours=5))
    rate(session, make_case(session, citizen, status=CaseStatus.CLOSED), 1, NOW - timedelta(days=30))  # before
    rate(session, make_case(session, citizen, status=CaseStatus.CLOSED), None)  # asked, never answered
    session.commit()

    result = stats.ikm(session, NOW, days=14, tz=JAKARTA)

    assert result == {"answers": 4, "score": 81.2, "exact": 81.25, "grade": "B", "meaning": "Baik"}


def test_ikm_without_answers():
    assert stats.ikm_score([]) == {"answers": 0, "score": None, "exact": None, "grade": None, "meaning": None}


@pytest.mark.parametrize("score, grade", [
    (100, "A"), (88.31, "A"), (88.30, "B"), (76.61, "B"), (76.60, "C"), (65.00, "C"), (64.99, "D"), (25, "D"),
])
def test_ikm_grade_boundaries(score, grade):
    assert stats.ikm_grade(score)[0] == grade


def test_ikm_grade_uses_the_score_to_two_decimals():
    # 1060 / 300 x 25 = 88.333…: grade A, shown as 88.3 (one decimal).
    result = stats.ikm_score([4] * 160 + [3] * 140)
    assert (result["score"], result["exact"], result["grade"]) == (88.3, 88.33, "A")
    assert stats.ikm_score([4, 4, 4, 4])["score"] == 100.0
    assert stats.ikm_score([1, 1])["grade"] == "D"


def test_top_complaint_categories_with_the_flows_titles(session, citizen):
    from bot.console.dashboard import complaint_titles

    recent = NOW - timedelta(days=1)
    for category in ("refused", "refused", "extra_charge", "refused", "extra_charge", "medicine"):
        make_case(session, citizen, "complaint", created_at=recent, fields={"category": category})
    make_case(session, citizen, "complaint", created_at=recent,
              fields={"category": "retired_option", "category_title": "Kategori lama"})
    make_case(session, citizen, "complaint", created_at=NOW - timedelta(days=40), fields={"category": "broker"})
    make_case(session, citizen, "change_nik", created_at=recent, fields={"category": "broker"})  # not a complaint
    session.commit()

    top = stats.top_complaints(session, NOW, days=14, tz=JAKARTA, titles=complaint_titles())

    assert [(c["value"], c["title"], c["count"]) for c in top] == [
        ("refused", "Ditolak / dipersulit di faskes", 3),
        ("extra_charge", "Diminta bayar biaya tambahan", 2),
        ("retired_option", "Kategori lama", 1),
        ("medicine", "Obat tidak ditanggung", 1),
    ]


# --- charts -------------------------------------------------------------------------------------------

def test_charts_are_accessible_svg_with_values_and_escaped_labels():
    svg = charts.bar_chart([("Sen", "9 Mar"), ("Sel", "10 Mar")], [("NIK", [3, 0]), ("Aduan <HP>", [2, 4])],
                           title="Volume", x_label="Tanggal", y_label="Jumlah kasus", chart_id="v")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert '<title id="v-t">Volume</title>' in svg and 'aria-labelledby="v-t v-d"' in svg
    assert "<title>Sen 9 Mar: NIK 3</title>" in svg and "Aduan &lt;HP&gt;" in svg and "<HP>" not in svg
    assert 'font-weight="600">5</text>' in svg and 'font-weight="600">4</text>' in svg  # totals on the bars
    assert 'aria-hidden="true">3</text>' in svg  # a segment's own value, inside it
    assert "Tanggal" in svg and "Jumlah kasus" in svg
    h = charts.hbar_chart(["Ditolak / dipersulit di rumah sakit atau klinik"], [4], title="Aduan", chart_id="h")
    assert "<title>Ditolak / dipersulit di rumah sakit atau klinik: 4</title>" in h and ">4</text>" in h
    assert charts.nice_ticks(0) == [0, 1] and charts.nice_ticks(7) == [0, 2, 4, 6, 8]


# --- pages and roles ----------------------------------------------------------------------------------

def login(app, role):
    from bot.accounts import create_staff

    name = f"{role}-{next(_numbers)}"
    with app.app_context():
        create_staff(db.session(), name, role, PASSWORD)
        db.session().commit()
    client = app.test_client()
    response = client.post("/console/login", data={"name": name, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.mark.parametrize("path", ["/console/dashboard", "/console/dashboard.csv"])
def test_roles(console_app, path):
    anonymous = console_app.test_client().get(path)
    assert anonymous.status_code == 302 and "/console/login" in anonymous.headers["Location"]
    assert login(console_app, "agent").get(path).status_code == 403
    assert login(console_app, "supervisor").get(path).status_code == 200
    assert login(console_app, "admin").get(path).status_code == 200


def seed_recent(app) -> list[str]:
    """Cases relative to the real clock (the views use utcnow()); returns the tickets in the period."""
    now = utcnow()
    with app.app_context():
        s = db.session()
        person = Citizen(phone=PHONE, profile_name="Ibu Sari")
        s.add(person)
        s.flush()
        created = now - timedelta(hours=30)
        a = make_case(s, person, "change_nik", CaseStatus.CLOSED, created, decided_at=created + timedelta(hours=6),
                      sla_due_at=created + timedelta(hours=8), closed_at=created + timedelta(hours=7))
        b = make_case(s, person, "complaint", CaseStatus.SUBMITTED, now - timedelta(hours=2),
                      fields={"category": "extra_charge", "facility": "RSUD Kota", "description": "diminta bayar"})
        c = make_case(s, person, "change_phone", CaseStatus.REJECTED, created, decided_at=created + timedelta(hours=12),
                      sla_due_at=created + timedelta(hours=8))
        make_case(s, person, "change_nik", created_at=now - timedelta(days=60))  # before the period
        for case, rating in ((a, 4), (b, 4), (c, 3)):
            rate(s, case, rating, now - timedelta(hours=1))
        rate(s, make_case(s, person, created_at=now - timedelta(days=61)), 1, now - timedelta(days=59))  # before
        s.commit()
        return [a.ticket, b.ticket, c.ticket]


def test_dashboard_page_has_svg_charts_and_indonesian_labels(console_app):
    seed_recent(console_app)
    page = login(console_app, "supervisor").get("/console/dashboard?days=14").get_data(as_text=True)

    assert page.count("<svg") == 3
    for label in ("Permohonan masuk per layanan per hari", "Kasus terbuka menurut umur", "&lt; 4 jam", "&gt; 3 hari",
                  "Kategori pengaduan terbanyak", "Diminta bayar biaya tambahan", "Ubah / perbaiki NIK",
                  "Ganti nomor HP", "Pengaduan layanan", "SLA terpenuhi", "Median waktu sampai keputusan",
                  "Jumlah kasus", "Unduh CSV"):
            assert label in page, label
    assert "50,0&nbsp;%" in page and "1 dari 2 keputusan" in page  # one of two decisions on time
    assert "9,0&nbsp;jam" in page                                   # median of 6 h and 12 h
    assert "91,7" in page and "grade-a" in page and "dari 3 penilaian" in page  # (4+4+3)/3 x 25
    assert PHONE not in page and NIK not in page and "RSUD Kota" not in page


def test_dashboard_without_data(console_app):
    page = login(console_app, "supervisor").get("/console/dashboard?days=abc").get_data(as_text=True)
    assert "belum ada penilaian" in page and "Belum ada permohonan dalam 14 hari terakhir" in page
    assert page.count("<svg") == 1  # open cases by age (all zero) still drawn


def test_csv_export_one_row_per_case_without_personal_data(console_app):
    tickets = seed_recent(console_app)
    response = login(console_app, "supervisor").get("/console/dashboard.csv?days=14")

    assert response.status_code == 200 and response.mimetype == "text/csv"
    today = utcnow().astimezone(JAKARTA)
    assert response.headers["Content-Disposition"] == f"attachment; filename=pandawa-cases-{today:%Y%m%d}.csv"
    body = response.get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["ticket", "service", "status", "created_at", "decided_at", "sla_due_at", "sla_met",
                       "hours_to_decision", "rating", "branch"]
    by_ticket = {row[0]: dict(zip(rows[0], row)) for row in rows[1:]}
    assert sorted(by_ticket) == sorted(tickets) and len(rows) == 1 + len(tickets)
    first, open_case, late = (by_ticket[t] for t in tickets)
    assert (first["service"], first["status"], first["sla_met"], first["hours_to_decision"], first["rating"]) == \
        ("change_nik", "closed", "1", "6.0", "4")
    assert first["branch"] == branches.DEFAULT_CODE
    assert (late["sla_met"], late["hours_to_decision"], late["rating"]) == ("0", "12.0", "3")
    assert (open_case["decided_at"], open_case["sla_met"], open_case["hours_to_decision"]) == ("", "", "")
    assert first["created_at"].endswith("+07:00")
    for secret in (PHONE, PHONE.lstrip("+"), NIK, CARD, "Ibu Sari", "RSUD Kota", "diminta bayar"):
        assert secret not in body


def test_dashboard_shows_the_send_backlog_per_sender(console_app):
    now = utcnow()
    with console_app.app_context():
        s = db.session()
        person = Citizen(phone=PHONE, profile_name="Ibu Sari")
        s.add_all([OutboundMessage(citizen=person, body="Kasus Anda disetujui",
                                   created_at=now - timedelta(minutes=3, seconds=20)),
                   OutboundMessage(citizen=person, body="Halo", status="retrying",
                                   created_at=now - timedelta(seconds=20)),
                   OutboundMessage(citizen=person, body="Halo", status="queued", created_at=now - timedelta(hours=5)),
                   OutboundMessage(citizen=person, body="Halo", sender="whatsapp:+6281100000001",
                                   status="unknown", created_at=now - timedelta(hours=2, minutes=5))])
        s.commit()
    page = login(console_app, "supervisor").get("/console/dashboard").get_data(as_text=True)
    section = page[page.index('id="send-backlog"'):]
    section = section[:section.index("</section>")]
    assert "Antrean kirim per nomor pengirim" in section and "Pesan menunggu" in section and "Tertua" in section
    assert "<td>+14155238886</td><td>2</td><td>3 menit</td>" in section
    assert "<td>+6281100000001</td><td>1</td><td>2 jam 5 menit</td>" in section
    assert PHONE not in section and "Halo" not in section
