"""The back-office JSON API and the staff CLI, on the real stack: PostgreSQL and SQLite, Redis + RQ,
the local Twilio server, and citizens driven through the real flows."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from bot import create_app
from bot.accounts import create_staff, new_token
from handlers.cases import create_case
from storage import db
from storage.cases import Case, Document
from storage.models import Citizen, utcnow
from storage.staff import AuditLog, Staff
from tests.helpers import Chat, complaint_answers, run_jobs
from tests.images import document_photo

PASSWORD = "kata-sandi-yang-panjang"


@pytest.fixture
def app(env):
    app = create_app({"ENV": {**env, "MEDIA_ALLOWED_HOSTS": "localhost"}, "TESTING": True})
    yield app
    app.extensions["db"].dispose()
    app.extensions["redis"].close()


def staff_token(app, name: str, role: str = "agent") -> str:
    with app.app_context():
        session = db.session()
        staff = create_staff(session, name, role, PASSWORD)
        session.flush()
        token = new_token(session, staff)
        session.commit()
        return token


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def direct_case(app, phone: str, service: str = "complaint", fields: dict | None = None) -> str:
    """A case as the flows create it, without the conversation (for the list and the claim race)."""
    with app.app_context():
        session = db.session()
        citizen = session.scalar(select(Citizen).where(Citizen.phone == phone)) or Citizen(phone=phone)
        session.add(citizen)
        session.flush()
        product = app.config["PRODUCT"]
        case = create_case(session, citizen.id, service, fields or {"facility": "RSUD"}, [], "v1", product)
        session.commit()
        return case.ticket


def complaint(app, twilio, phone: str = "+6281234567890") -> tuple[Chat, str]:
    chat = Chat(app, twilio, phone=phone)
    *answers, confirm = complaint_answers()
    for answer in answers:
        chat.say(answer)
    [done] = chat.say(confirm)
    assert "tiket" in done.lower()
    return chat, ticket_of(app, phone)


def change_nik(app, twilio, phone: str = "+6281234567890") -> tuple[Chat, str]:
    chat = Chat(app, twilio, phone=phone)
    for answer in ("1", "0001234567890", "3201234505860003"):
        chat.say(answer)
    chat.photo(document_photo(seed=1))
    chat.photo(document_photo(seed=2))
    chat.say("ya")
    return chat, ticket_of(app, phone)


def ticket_of(app, phone: str) -> str:
    with app.app_context():
        query = select(Case.ticket).join(Citizen, Citizen.id == Case.citizen_id).where(Citizen.phone == phone)
        return db.session().scalars(query.order_by(Case.id)).all()[-1]


def audit_rows(app, action: str) -> list[AuditLog]:
    with app.app_context():
        return db.session().scalars(select(AuditLog).where(AuditLog.action == action)).all()


def messages_to(twilio, phone: str) -> list[str]:
    return [m["Body"] or "" for m in twilio.messages if m["To"] == f"whatsapp:{phone}"]


# ---------------------------------------------------------------- tokens and errors


def test_a_missing_wrong_or_revoked_token_is_refused(app, client, runner):
    token = staff_token(app, "ani")
    for headers in ({}, {"Authorization": "Basic YW5pOnB3"}, {"Authorization": "Bearer "}, auth("pdw_wrong")):
        response = client.get("/api/cases", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.is_json and response.get_json()["error"]
    assert client.get("/api/cases", headers=auth(token)).status_code == 200

    result = runner.invoke(args=["users", "revoke", "ani"])
    assert result.exit_code == 0, result.output
    response = client.get("/api/cases", headers=auth(token))
    assert response.status_code == 401 and "dicabut" in response.get_json()["error"]

    other = staff_token(app, "budi")
    with app.app_context():
        db.session().scalar(select(Staff).where(Staff.name == "budi")).active = False
        db.session().commit()
    assert client.get("/api/cases", headers=auth(other)).status_code == 401


def test_unknown_paths_and_methods_answer_json(app, client):
    token = staff_token(app, "ani")
    response = client.get("/api/nothing-here", headers=auth(token))
    assert response.status_code == 404 and response.is_json
    response = client.delete("/api/cases", headers=auth(token))
    assert response.status_code == 405 and "GET" in response.headers["Allow"] and response.is_json
    response = client.get("/api/cases/PDW-20000101-0001", headers=auth(token))
    assert response.status_code == 404 and "PDW-20000101-0001" in response.get_json()["error"]


# ---------------------------------------------------------------- the queue


def test_list_filters_pages_oldest_first_without_personal_data(app, client):
    token = staff_token(app, "ani")
    first = direct_case(app, "+6281111111111", "complaint", {"facility": "RSUD"})
    second = direct_case(app, "+6282222222222", "change_nik", {"nik": "3201234505860003"})
    third = direct_case(app, "+6283333333333", "complaint", {"facility": "Puskesmas"})
    assert client.post(f"/api/cases/{second}/claim", headers=auth(token)).status_code == 200

    body = client.get("/api/cases", headers=auth(token)).get_json()
    assert body["total"] == 3 and [c["ticket"] for c in body["cases"]] == [first, second, third]
    claimed = body["cases"][1]
    assert claimed["status"] == "in_review" and claimed["assigned_to"] == "ani"
    assert set(claimed) == {"ticket", "branch", "service", "status", "created_at", "sla_due_at", "overdue", "assigned_to",
                            "updated_by_citizen"}
    text = client.get("/api/cases", headers=auth(token)).get_data(as_text=True)
    assert "3201234505860003" not in text and "1111111" not in text and "RSUD" not in text

    def tickets(query):
        response = client.get(f"/api/cases?{query}", headers=auth(token))
        assert response.status_code == 200, response.get_json()
        return [c["ticket"] for c in response.get_json()["cases"]], response.get_json()["total"]

    assert tickets("status=in_review") == ([second], 1)
    assert tickets("service=complaint") == ([first, third], 2)
    assert tickets("service=complaint&status=submitted&limit=1&offset=1") == ([third], 2)
    assert tickets("status=approved") == ([], 0)

    bad = client.get("/api/cases?status=open", headers=auth(token))
    assert bad.status_code == 400 and "submitted" in bad.get_json()["error"] and "need_info" in bad.get_json()["error"]
    bad = client.get("/api/cases?service=pizza", headers=auth(token))
    assert bad.status_code == 400 and "complaint" in bad.get_json()["error"]
    for query in ("limit=abc", "limit=0", "limit=100000", "offset=-1"):
        assert client.get(f"/api/cases?{query}", headers=auth(token)).status_code == 400


def test_overdue_is_flagged_while_the_case_waits_for_an_agent(app, client):
    token = staff_token(app, "ani")
    ticket = direct_case(app, "+6281111111111")
    with app.app_context():
        from datetime import timedelta

        case = db.session().scalar(select(Case).where(Case.ticket == ticket))
        case.sla_due_at = utcnow() - timedelta(hours=1)
        db.session().commit()
    [row] = client.get("/api/cases", headers=auth(token)).get_json()["cases"]
    assert row["overdue"] is True and row["sla_due_at"]


# ---------------------------------------------------------------- one case


def test_case_detail_masks_the_phone_unless_held_and_is_audited(app, client, twilio):
    ani, budi = staff_token(app, "ani"), staff_token(app, "budi")
    _, ticket = complaint(app, twilio)
    run_jobs(app)  # the backoffice job: SLA and queued

    body = client.get(f"/api/cases/{ticket}", headers=auth(ani)).get_json()
    assert body["citizen"]["phone"] == "+62*******7890" and body["citizen"]["phone_masked"] is True
    assert body["fields"]["facility"] == "RSUD Kota" and body["sla_due_at"]
    assert [e["kind"] for e in body["events"]][:2] == ["created", "queued"]

    assert client.post(f"/api/cases/{ticket}/claim", headers=auth(ani)).status_code == 200
    body = client.get(f"/api/cases/{ticket}", headers=auth(ani)).get_json()
    assert body["citizen"]["phone"] == "+6281234567890" and body["assigned_to"] == "ani"
    assert client.get(f"/api/cases/{ticket}", headers=auth(budi)).get_json()["citizen"]["phone"] == "+62*******7890"

    views = audit_rows(app, "view_case")
    assert len(views) == 3 and {v.channel for v in views} == {"api"}
    with app.app_context():
        ids = {name: db.session().scalar(select(Staff.id).where(Staff.name == name)) for name in ("ani", "budi")}
    assert [v.staff_id for v in views] == [ids["ani"], ids["ani"], ids["budi"]]


def test_two_agents_claiming_at_once_exactly_one_wins(app):
    tokens = {"ani": staff_token(app, "ani"), "budi": staff_token(app, "budi")}
    for round_ in range(6):
        ticket = direct_case(app, f"+62812000000{round_:02d}")
        barrier, results = threading.Barrier(2), {}

        def claim(name):
            with app.app_context():
                client = app.test_client()
                barrier.wait()
                response = client.post(f"/api/cases/{ticket}/claim", headers=auth(tokens[name]))
                results[name] = (response.status_code, response.get_json())

        threads = [threading.Thread(target=claim, args=(name,)) for name in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(code for code, _ in results.values()) == [200, 409], results
        [winner] = [name for name, (code, _) in results.items() if code == 200]
        [loser] = [name for name, (code, _) in results.items() if code == 409]
        assert results[winner][1]["assigned_to"] == winner
        assert "sudah diambil petugas lain" in results[loser][1]["error"]
        with app.app_context():
            case = db.session().scalar(select(Case).where(Case.ticket == ticket))
            assert case.status == "in_review" and [e.kind for e in case.events].count("claimed") == 1
            assert db.session().get(Staff, case.assigned_to).name == winner

    client = app.test_client()
    again = client.post(f"/api/cases/{ticket}/claim", headers=auth(tokens[winner]))
    assert again.status_code == 200 and again.get_json()["assigned_to"] == winner  # claiming twice is harmless
    assert client.post(f"/api/cases/{ticket}/claim", headers=auth(tokens[loser])).status_code == 409


def test_approve_reaches_the_citizen_on_whatsapp(app, client, twilio):
    ani, budi = staff_token(app, "ani"), staff_token(app, "budi")
    chat, ticket = complaint(app, twilio)
    decision = {"decision": "approve", "note": "Biaya obat dikembalikan."}
    too_early = client.post(f"/api/cases/{ticket}/decision", json=decision, headers=auth(ani))
    assert too_early.status_code == 409 and "ambil kasus ini dulu" in too_early.get_json()["error"]
    assert client.post(f"/api/cases/{ticket}/claim", headers=auth(ani)).status_code == 200
    not_holder = client.post(f"/api/cases/{ticket}/decision", json=decision, headers=auth(budi))
    assert not_holder.status_code == 403 and not_holder.get_json()["error"]

    response = client.post(f"/api/cases/{ticket}/decision", json=decision, headers=auth(ani))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "approved" and response.get_json()["ticket"] == ticket
    [message] = chat.replies()  # runs the outbound job: the local Twilio server received it
    assert ticket in message and "Biaya obat dikembalikan." in message
    assert "*ditindaklanjuti*" in message and "DISETUJUI" not in message  # a complaint is followed up, not approved
    [row] = audit_rows(app, "decide")
    assert row.channel == "api" and row.detail == "approve"
    again = client.post(f"/api/cases/{ticket}/decision", json=decision, headers=auth(ani))
    assert again.status_code == 409


def test_reject_needs_a_configured_reason_and_a_json_body(app, client, twilio):
    ani = staff_token(app, "ani")
    chat, ticket = complaint(app, twilio)
    assert client.post(f"/api/cases/{ticket}/claim", headers=auth(ani)).status_code == 200
    url = f"/api/cases/{ticket}/decision"
    for body in ({"decision": "reject"}, {"decision": "reject", "reason": "tidak suka"},
                 {"decision": "reject", "reason": ["duplicate"]}):
        response = client.post(url, json=body, headers=auth(ani))
        assert response.status_code == 400, body
    assert "data_mismatch" in client.post(url, json={"decision": "reject"}, headers=auth(ani)).get_json()["error"]
    not_json = client.post(url, data="decision=reject", headers=auth(ani))
    assert not_json.status_code == 400 and "JSON" in not_json.get_json()["error"]
    assert client.post(url, json=["reject"], headers=auth(ani)).status_code == 400
    unknown = client.post(url, json={"decision": "maybe"}, headers=auth(ani))
    assert unknown.status_code == 400 and "need_info" in unknown.get_json()["error"]
    assert client.post(url, json={}, headers=auth(ani)).status_code == 400
    assert chat.replies() == []  # nothing was sent
    with app.app_context():
        assert db.session().scalar(select(Case.status).where(Case.ticket == ticket)) == "in_review"

    response = client.post(url, json={"decision": "reject", "reason": "duplicate"}, headers=auth(ani))
    assert response.status_code == 200 and response.get_json()["status"] == "rejected"
    [message] = chat.replies()
    assert ticket in message and "sudah pernah diajukan" in message


def test_need_info_asks_again_and_the_citizens_photo_returns_the_case(app, client, twilio):
    ani = staff_token(app, "ani")
    chat, ticket = change_nik(app, twilio)
    chat.replies()
    assert client.post(f"/api/cases/{ticket}/claim", headers=auth(ani)).status_code == 200
    url = f"/api/cases/{ticket}/decision"
    bad_item = client.post(url, json={"decision": "need_info", "item": "confirm"}, headers=auth(ani))
    assert bad_item.status_code == 400 and "ktp" in bad_item.get_json()["error"]

    response = client.post(url, json={"decision": "need_info", "item": "ktp", "note": "Foto KTP terpotong."},
                           headers=auth(ani))
    assert response.status_code == 200 and response.get_json()["status"] == "need_info"
    [question] = chat.replies()
    assert ticket in question and "foto KTP" in question and "Foto KTP terpotong." in question

    replies = chat.photo(document_photo(seed=3))
    assert any("sudah kami terima" in r and ticket in r for r in replies), replies
    body = client.get(f"/api/cases/{ticket}", headers=auth(ani)).get_json()
    assert body["status"] == "in_review" and body["updated_by_citizen"] is True and body["assigned_to"] == "ani"
    assert len(body["documents"]) == 3 and body["documents"][-1]["kind"] == "ktp"
    newest = client.get(body["documents"][-1]["url"], headers=auth(ani))
    assert newest.status_code == 200 and newest.data == document_photo(seed=3)
    [listed] = client.get("/api/cases?status=in_review", headers=auth(ani)).get_json()["cases"]
    assert listed["updated_by_citizen"] is True


def test_documents_only_of_that_case_with_the_citizens_bytes(app, client, twilio):
    ani = staff_token(app, "ani")
    _, ticket = change_nik(app, twilio)
    _, other = complaint(app, twilio, phone="+6285555555555")
    body = client.get(f"/api/cases/{ticket}", headers=auth(ani)).get_json()
    assert [d["url"] for d in body["documents"]] == [None, None]  # not for an agent who does not hold the case
    for held in (ticket, other):
        client.post(f"/api/cases/{held}/claim", headers=auth(ani))
    body = client.get(f"/api/cases/{ticket}", headers=auth(ani)).get_json()
    first, second = body["documents"]
    assert (first["kind"], second["kind"]) == ("ktp", "kk")
    assert first["url"] == f"/api/cases/{ticket}/documents/{first['id']}"

    response = client.get(first["url"], headers=auth(ani))
    assert response.status_code == 200 and response.data == document_photo(seed=1)
    assert response.content_type == first["content_type"] == "image/jpeg"
    assert response.headers["Cache-Control"] == "no-store, private" and response.content_length == first["size"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get(second["url"], headers=auth(ani)).data == document_photo(seed=2)
    views = audit_rows(app, "view_document")
    assert len(views) == 2 and {v.channel for v in views} == {"api"}

    assert client.get(f"/api/cases/{other}/documents/{first['id']}", headers=auth(ani)).status_code == 404
    assert client.get(f"/api/cases/{ticket}/documents/999999", headers=auth(ani)).status_code == 404
    assert client.get(first["url"]).status_code == 401
    assert len(audit_rows(app, "view_document")) == 2
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(Document)) == 2


# ---------------------------------------------------------------- the CLI


def test_cli_creates_staff_and_its_token_works_on_the_api(app, runner, client):
    result = runner.invoke(args=["users", "create", "sari", "--role", "supervisor", "--password", PASSWORD])
    assert result.exit_code == 0 and "sari" in result.output, result.output
    duplicate = runner.invoke(args=["users", "create", "sari", "--role", "agent", "--password", PASSWORD])
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output
    bad_role = runner.invoke(args=["users", "create", "tono", "--role", "boss", "--password", PASSWORD])
    assert bad_role.exit_code != 0 and "role must be one of" in bad_role.output
    short = runner.invoke(args=["users", "create", "tono", "--role", "agent", "--password", "pendek"])
    assert short.exit_code != 0 and "minimal 12 karakter" in short.output
    assert runner.invoke(args=["users", "token", "nobody"]).exit_code != 0

    result = runner.invoke(args=["users", "token", "sari"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("pdw_")
    ticket = direct_case(app, "+6281111111111")
    response = client.post(f"/api/cases/{ticket}/claim", headers=auth(token))
    assert response.status_code == 200 and response.get_json()["assigned_to"] == "sari"
    with app.app_context():
        staff = db.session().scalar(select(Staff).where(Staff.name == "sari"))
        assert staff.role == "supervisor" and PASSWORD not in staff.password_hash
        assert db.session().scalar(select(func.count()).select_from(Staff)) == 1


def test_cli_lists_and_unlocks(app, runner):
    from datetime import timedelta

    staff_token(app, "ani")
    with app.app_context():
        staff = db.session().scalar(select(Staff).where(Staff.name == "ani"))
        staff.locked_until, staff.failed_logins = utcnow() + timedelta(minutes=15), 3
        db.session().commit()
    listing = runner.invoke(args=["users", "list"]).output
    [line] = [line for line in listing.splitlines() if line.startswith("ani")]
    assert "agent" in line and "yes" in line and "until" in line
    result = runner.invoke(args=["users", "unlock", "ani"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        staff = db.session().scalar(select(Staff).where(Staff.name == "ani"))
        assert staff.locked_until is None and staff.failed_logins == 0
    [line] = [line for line in runner.invoke(args=["users", "list"]).output.splitlines() if line.startswith("ani")]
    assert line.rstrip().endswith("no")
    assert {row.channel for row in audit_rows(app, "unlock")} == {"cli"}


def test_the_api_needs_no_csrf_token_when_the_console_protects_forms(app, client):
    assert app.config.get("WTF_CSRF_ENABLED", True)  # the console protects its forms
    token = staff_token(app, "ani")
    ticket = direct_case(app, "+6281111111111")
    assert client.post(f"/api/cases/{ticket}/claim", headers=auth(token)).status_code == 200
