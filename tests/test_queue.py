"""The queue: search by ticket / NIK / card / phone / name (audited, masked), filters kept in the URL,
handoffs on top with their waiting time, masking for non-holders, unread and "returned" flags."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot import create_app
from bot.console.queue import waiting_words
from handlers import backoffice as bo
from handlers import search
from handlers import branches
from storage import db
from storage.cases import Case, CaseStatus
from storage.models import Citizen, InboundMessage, utcnow
from storage.staff import AuditLog, Staff
from tests.helpers import add_staff, csrf, logged_in

NIK = "3201234505860003"
CARD = "0001234567890"
PHONE = "+6281234567890"
NEW_PHONE = "+6281311112222"


@pytest.fixture
def app(env):
    app = create_app({"ENV": env, "TESTING": True})
    add_staff(app, ("ani", "agent"), ("budi", "agent"), ("sri", "supervisor"))
    yield app
    app.extensions["db"].dispose()


def staff_id(name: str) -> int:
    return db.session().scalar(select(Staff.id).where(Staff.name == name))


def make_case(app, ticket: str, service: str = "change_nik", fields: dict | None = None, phone: str | None = None,
              profile: str | None = None, age: timedelta = timedelta(hours=1), **columns) -> int:
    """A case as the flows leave it (a citizen, fields, a ticket), made ``age`` ago; ``columns`` overrides
    (``holder="ani"`` assigns it)."""
    with app.app_context():
        session = db.session()
        citizen = None
        if phone or profile:
            citizen = Citizen(phone=phone, profile_name=profile)
            session.add(citizen)
            session.flush()
        holder = columns.pop("holder", None)
        if holder:
            columns.setdefault("status", CaseStatus.IN_REVIEW)
            columns["assigned_to"] = staff_id(holder)
        created = utcnow() - age
        case = Case(ticket=ticket, service=service, service_title=service.replace("_", " ").title(),
                    citizen_id=citizen.id if citizen else None, fields=fields or {}, created_at=created,
                    queued_at=created, branch_id=branches.default(session).id, **columns)
        session.add(case)
        session.commit()
        return case.id


def tickets(response) -> list[str]:
    assert response.status_code == 200, response.status_code
    return re.findall(r'data-ticket="([^"]+)"', response.get_data(as_text=True))


def rows(client, **args) -> list[str]:
    return tickets(client.get("/console/queue/rows", query_string=args))


# --- the term → search logic (no database) ---------------------------------------------------------------

@pytest.mark.parametrize("typed", ["0812-3456-7890", "081234567890", "6281234567890", "+62 812-3456-7890",
                                   "+62 (812) 3456 7890", "62 812 3456 7890"])
def test_every_way_of_writing_a_phone_number_is_one_e164_search(typed):
    found = search.parse(typed)
    assert (found.kind, found.term) == (search.PHONE, PHONE)
    assert "34567890" not in found.audit_detail and found.audit_detail.endswith("7890")


@pytest.mark.parametrize("typed, kind, term", [
    ("PDW-20261204-0001", search.TICKET, "PDW-20261204-0001"),
    ("pdw-2026", search.TICKET, "PDW-2026"),
    ("20261204-0001", search.TICKET, "20261204-0001"),
    ("0001", search.TICKET, "0001"),
    ("3201 2345 0586 0003", search.NIK, NIK),
    ("3201234505860003", search.NIK, NIK),
    ("0001-2345-67890", search.CARD, CARD),
    ("  Siti   RAHMA ", search.NAME, "siti rahma"),
    ("Pdwi Santoso", search.NAME, "pdwi santoso"),
])
def test_a_term_is_read_by_its_shape(typed, kind, term):
    found = search.parse(typed)
    assert (found.kind, found.term) == (kind, term)


@pytest.mark.parametrize("typed, reason", [("ab", "short"), ("12", "short"), ("+62 12", "phone"), ("+1", "short")])
def test_terms_that_cannot_be_searched_say_why(typed, reason):
    with pytest.raises(search.Unsearchable) as raised:
        search.parse(typed)
    assert raised.value.reason == reason


def test_empty_term_is_no_search():
    assert search.parse("") is None and search.parse("   ") is None and search.parse(None) is None


@pytest.mark.parametrize("typed, raw", [(NIK, NIK), (CARD, CARD), ("Siti Rahmawati", "Rahmawati"),
                                        ("0812 3456 7890", "3456"), ("PDW-20261204-0001", "20261204")])
def test_the_audit_detail_never_holds_the_term(typed, raw):
    found = search.parse(typed)
    assert raw not in found.audit_detail and found.audit_detail.startswith(found.kind + " ")


def test_waiting_time_in_words():
    now = datetime(2026, 12, 4, 10, 0, tzinfo=timezone.utc)
    assert waiting_words(now - timedelta(minutes=12, seconds=40), now) == "menunggu 12 menit"
    assert waiting_words(now - timedelta(hours=2, minutes=5), now) == "menunggu 2 jam 5 menit"
    assert waiting_words(now - timedelta(hours=3), now) == "menunggu 3 jam"
    assert waiting_words(now - timedelta(days=1, hours=4, minutes=9), now) == "menunggu 1 hari 4 jam"
    assert waiting_words(now - timedelta(seconds=20), now) == "menunggu kurang dari 1 menit"


# --- search in the queue (SQL, on PostgreSQL and SQLite) -------------------------------------------------

@pytest.fixture
def two_cases(app):
    first = make_case(app, "PDW-20261204-0001",
                      fields={"card_number": CARD, "nik": NIK, "member_name": "Siti Rahmawati"},
                      phone=PHONE, profile="Ibu Sari", age=timedelta(hours=3))
    second = make_case(app, "PDW-20261205-0002", service="change_phone",
                       fields={"card_number": "0009876543210", "member_name": "Joko Santoso", "new_phone": NEW_PHONE},
                       phone="+6281298765432", profile="Pak Joko", age=timedelta(hours=2))
    third = make_case(app, "PDW-20261205-0003", service="complaint",
                      fields={"participant": {"id_number": "3174015505900001"}, "category": "obat"},
                      profile="Wati_100%", age=timedelta(hours=1))
    return first, second, third


SEARCHES = [  # (what is typed, the tickets found)
    ("PDW-20261204-0001", ["PDW-20261204-0001"]),
    ("pdw-20261205", ["PDW-20261205-0002", "PDW-20261205-0003"]),
    ("-0002", ["PDW-20261205-0002"]),
    (NIK, ["PDW-20261204-0001"]),
    ("3201-2345-0586-0003", ["PDW-20261204-0001"]),
    ("3174015505900001", ["PDW-20261205-0003"]),    # nested in the complaint's participant
    (CARD, ["PDW-20261204-0001"]),
    ("0001234567891", []),                          # one digit off: nothing
    ("0812-3456-7890", ["PDW-20261204-0001"]),
    ("6281234567890", ["PDW-20261204-0001"]),
    ("+62 812-3456-7890", ["PDW-20261204-0001"]),
    ("0813 1111 2222", ["PDW-20261205-0002"]),      # the new number asked for in the fields
    ("siti", ["PDW-20261204-0001"]),                # member_name
    ("RAHMAWATI", ["PDW-20261204-0001"]),
    ("pak joko", ["PDW-20261205-0002"]),            # the WhatsApp profile name
    ("santoso", ["PDW-20261205-0002"]),
    ("s_ti", []),                                   # LIKE wildcards are plain characters
    ("ti_100%", ["PDW-20261205-0003"]),
]


def test_search_by_each_key(app, two_cases):
    """One app for every term (each on both databases): the SQL of every kind of key, not the set-up."""
    client = logged_in(app, "sri")
    found = {term: rows(client, q=term) for term, _ in SEARCHES}
    assert found == dict(SEARCHES)


def test_search_keeps_the_other_filters_and_can_look_in_every_status(app, two_cases):
    with app.app_context():
        db.session().get(Case, two_cases[0]).status = CaseStatus.CLOSED
        db.session().commit()
    client = logged_in(app, "sri")
    assert rows(client, q=NIK) == []
    page = client.get("/console/", query_string={"q": NIK}).get_data(as_text=True)
    assert "Hasil pencarian NIK" in page and "Cari di semua status" in page
    assert rows(client, q=NIK, status="all") == ["PDW-20261204-0001"]
    assert rows(client, q="pdw-2026", service="complaint") == ["PDW-20261205-0003"]


def test_a_search_is_audited_with_the_term_masked(app, two_cases):
    client = logged_in(app, "ani")
    assert "PDW-20261204-0001" in client.get("/console/", query_string={"q": NIK}).get_data(as_text=True)
    client.get("/console/", query_string={"q": "Siti Rahmawati"})
    # the page's refresh repeats the same search without a new row — decided by the server, so a
    # request without the refresh header is no way round it; another search is audited
    client.get("/console/queue/rows", query_string={"q": NIK}, headers={"X-Auto-Refresh": "1"})
    client.get("/console/queue/rows", query_string={"q": NIK})
    client.get("/console/queue/rows", query_string={"q": "0812-3456-7890"})
    with app.app_context():
        audits = db.session().execute(select(AuditLog.staff_id, AuditLog.detail)
                                      .where(AuditLog.action == "search").order_by(AuditLog.id)).all()
        ani = staff_id("ani")
    assert [staff for staff, _ in audits] == [ani, ani, ani]
    details = [detail for _, detail in audits]
    assert details == ["nik ••••••••••••0003", "name S*** R********", "phone +62*******7890"]
    assert not any(raw in detail for detail in details for raw in (NIK, "Siti", "Rahmawati", "81234567890"))


def test_an_agent_finds_by_personal_keys_only_cases_they_hold_or_may_claim(app, two_cases):
    with app.app_context():
        session = db.session()
        session.get(Case, two_cases[0]).assigned_to = staff_id("budi")
        session.commit()
    ani, sri = logged_in(app, "ani"), logged_in(app, "sri")
    for term in (NIK, "Siti Rahmawati", "0812-3456-7890"):
        assert "PDW-20261204-0001" not in ani.get("/console/", query_string={"q": term}).get_data(as_text=True)
        assert "PDW-20261204-0001" in sri.get("/console/", query_string={"q": term}).get_data(as_text=True)
    assert "PDW-20261204-0001" in ani.get("/console/", query_string={"q": "PDW-20261204-0001"}).get_data(as_text=True)


def test_an_unsearchable_term_says_why_and_is_not_audited(app, two_cases):
    client = logged_in(app, "ani")
    page = client.get("/console/", query_string={"q": "+62 12"}).get_data(as_text=True)
    assert "Nomor HP itu belum lengkap" in page and 'data-ticket="' not in page
    with app.app_context():
        assert db.session().scalar(select(AuditLog.id).where(AuditLog.action == "search")) is None


def test_only_staff_search(app, two_cases):
    anonymous = app.test_client()
    response = anonymous.get("/console/queue/rows", query_string={"q": NIK})
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]
    assert "PDW-20261204-0001" not in response.get_data(as_text=True)
    with app.app_context():
        assert db.session().scalar(select(AuditLog.id).where(AuditLog.action == "search")) is None


# --- rows, flags and filters ----------------------------------------------------------------------------

def test_names_are_masked_for_an_agent_who_does_not_hold_the_case(app, two_cases):
    ani = logged_in(app, "ani")
    page = ani.get("/console/queue/rows").get_data(as_text=True)
    assert "S*** R********" in page and "Siti Rahmawati" not in page
    assert "W********" in page and "Wati_100%" not in page  # no member_name: the WhatsApp profile name
    assert "Siti Rahmawati" in logged_in(app, "sri").get("/console/queue/rows").get_data(as_text=True)
    with app.app_context():
        case = db.session().get(Case, two_cases[0])
        case.assigned_to, case.status = staff_id("ani"), CaseStatus.IN_REVIEW
        db.session().commit()
    page = ani.get("/console/queue/rows").get_data(as_text=True)
    assert "Siti Rahmawati" in page and "J*** S******" in page  # hers whole, the others' still masked


def test_handoffs_come_first_with_their_waiting_time_then_oldest_first(app):
    make_case(app, "PDW-20261204-0002", age=timedelta(hours=5))
    make_case(app, "PDW-20261204-0001", age=timedelta(hours=6))
    make_case(app, "PDW-20261204-0009", service="handoff", profile="Ibu Ani", age=timedelta(minutes=12, seconds=30))
    make_case(app, "PDW-20261204-0008", service="handoff", profile="Pak Budi",
              age=timedelta(hours=2, minutes=5, seconds=9))
    client = logged_in(app, "ani")
    response = client.get("/console/queue/rows")
    assert tickets(response) == ["PDW-20261204-0008", "PDW-20261204-0009", "PDW-20261204-0001", "PDW-20261204-0002"]
    page = response.get_data(as_text=True)
    assert "menunggu 12 menit" in page and "menunggu 2 jam 5 menit" in page
    assert re.search(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}\.\d{2} WIB", page)  # dates through local_time


def test_kasus_saya_shows_only_the_cases_the_viewer_holds(app, two_cases):
    make_case(app, "PDW-20261206-0004", holder="ani")
    make_case(app, "PDW-20261206-0005", holder="budi")
    client = logged_in(app, "ani")
    assert rows(client, mine="1") == ["PDW-20261206-0004"]
    assert rows(client, mine="1", status="all") == ["PDW-20261206-0004"]
    assert len(rows(client)) == 5
    assert rows(logged_in(app, "budi"), mine="1") == ["PDW-20261206-0005"]


def test_overdue_filter_follows_the_one_overdue_rule(app):
    past, later = utcnow() - timedelta(hours=1), utcnow() + timedelta(hours=1)
    make_case(app, "PDW-20261204-0001", sla_due_at=past)
    make_case(app, "PDW-20261204-0002", sla_due_at=later)
    make_case(app, "PDW-20261204-0003", sla_due_at=past, status=CaseStatus.NEED_INFO)  # the citizen must act
    make_case(app, "PDW-20261204-0004", sla_due_at=past, holder="budi")
    make_case(app, "PDW-20261204-0005")                                                  # SLA not computed yet
    client = logged_in(app, "ani")
    assert rows(client, overdue="1") == ["PDW-20261204-0001", "PDW-20261204-0004"]
    assert rows(client, overdue="1", mine="1") == []
    with app.app_context():  # the SQL condition and backoffice.overdue() agree on every case
        session, now = db.session(), utcnow()
        flagged = set(session.scalars(select(Case.ticket).where(bo.overdue_condition(now))))
        assert flagged == {case.ticket for case in session.scalars(select(Case)) if bo.overdue(case, now)}


def test_status_filter_open_by_default_each_status_and_all(app):
    make_case(app, "PDW-20261204-0001", age=timedelta(hours=4))
    make_case(app, "PDW-20261204-0002", status=CaseStatus.CLOSED, age=timedelta(hours=3))
    make_case(app, "PDW-20261204-0003", status=CaseStatus.NEED_INFO, age=timedelta(hours=2))
    make_case(app, "PDW-20261204-0004", service="complaint", status=CaseStatus.CLOSED, age=timedelta(hours=1))
    client = logged_in(app, "ani")
    assert rows(client) == ["PDW-20261204-0001", "PDW-20261204-0003"]
    assert rows(client, status="closed") == ["PDW-20261204-0002", "PDW-20261204-0004"]
    assert rows(client, status="all") == ["PDW-20261204-0001", "PDW-20261204-0002", "PDW-20261204-0003",
                                          "PDW-20261204-0004"]
    assert rows(client, status="bogus") == rows(client)
    page = client.get("/console/queue/rows", query_string={"service": "change_nik"}).get_data(as_text=True)
    assert re.search(r'data-status="closed">Selesai: <strong>1</strong>', page)  # counts follow the service


def test_unread_badge_only_when_the_citizen_wrote_since(app, two_cases):
    with app.app_context():
        session = db.session()
        first = session.get(Case, two_cases[0])
        session.add(InboundMessage(message_sid="SM-unread-1", citizen_id=first.citizen_id, sender="whatsapp:" + PHONE,
                                   body="halo", received_at=utcnow() - timedelta(minutes=5)))
        session.add(InboundMessage(message_sid="SM-unread-2", citizen_id=first.citizen_id, sender="whatsapp:" + PHONE,
                                   body="masih menunggu", received_at=utcnow() - timedelta(minutes=1)))
        session.add(InboundMessage(message_sid="SM-old", citizen_id=first.citizen_id, sender="whatsapp:" + PHONE,
                                   body="sebelum kasus", received_at=utcnow() - timedelta(hours=5)))
        session.commit()
    page = logged_in(app, "ani").get("/console/queue/rows").get_data(as_text=True)
    row = re.search(r'<tr[^>]*data-ticket="PDW-20261204-0001".*?</tr>', page, re.S).group()
    assert '<span class="badge unread"' in row and "2 baru" in row
    assert page.count("badge unread") == 1  # the other cases have nothing unread: no badge


def test_a_case_returned_to_the_agent_who_asked_is_flagged_for_them_only(app):
    with app.app_context():
        ani = staff_id("ani")
    make_case(app, "PDW-20261204-0001", holder="ani", need_info_by=ani, updated_by_citizen=True)
    ani_rows = logged_in(app, "ani").get("/console/queue/rows").get_data(as_text=True)
    budi_rows = logged_in(app, "budi").get("/console/queue/rows").get_data(as_text=True)
    assert "dikembalikan ke Anda" in ani_rows and "diperbarui" in ani_rows
    assert "dikembalikan ke Anda" not in budi_rows and "diperbarui" in budi_rows


def test_filters_and_search_are_kept_in_the_url_and_the_refresh(app, two_cases):
    client = logged_in(app, "ani")
    page = client.get("/console/", query_string={"q": "siti", "mine": "1", "overdue": "1", "status": "all",
                                                 "service": "change_nik"}).get_data(as_text=True)
    refresh = re.search(r'data-refresh="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert refresh.startswith("/console/queue/rows?")
    for part in ("s=", "mine=1", "overdue=1", "status=all", "service=change_nik"):
        assert part in refresh
    assert "siti" not in refresh  # the term goes by a name
    assert 'name="mine" value="1" data-autosubmit checked' in page
    assert '<option value="all" selected>Semua status</option>' in page


def test_the_search_box_keeps_the_term_out_of_every_url(app, two_cases):
    client = logged_in(app, "ani")
    token = csrf(client, "/console/")
    answer = client.post("/console/search", data={"q": NIK, "status": "all", "csrf_token": token})
    assert answer.status_code == 302 and NIK not in answer.headers["Location"] and "s=" in answer.headers["Location"]
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "PDW-20261204-0001" in page and "PDW-20261205-0002" not in page
    refresh = re.search(r'data-refresh="([^"]+)"', page).group(1)
    assert NIK not in refresh and "3201" not in refresh
    assert "PDW-20261204-0001" in client.get(refresh.replace("&amp;", "&")).get_data(as_text=True)
    stranger = logged_in(app, "budi")  # the name means nothing in another person's session
    assert "PDW-20261205-0002" in stranger.get(refresh.replace("&amp;", "&")).get_data(as_text=True)
