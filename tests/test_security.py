"""Personal data that stays protected: logins that hold, sessions that end, staff who act and see only
what their cases need, tokens with a role and an expiry, security headers, a small surface."""
from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from redis.exceptions import ConnectionError as RedisDown
from sqlalchemy import func, select, update

from bot import accounts, create_app
from bot.accounts import create_staff, new_token
from handlers.privacy import mask_value
from handlers.registry import load_csv
from storage import db
from storage.cases import Case
from storage.membership import Participant
from storage.models import utcnow
from storage.staff import ApiToken, AuditLog, Staff, StaffSession
from tests.conftest import ROOT
from tests.helpers import STAFF_PASSWORD, add_staff, Chat, csrf, logged_in, login, submit_nik_case

PASSWORD = STAFF_PASSWORD


pytestmark = pytest.mark.one_backend  # one database is enough here


@pytest.fixture
def app(env):
    app = create_app({"ENV": {**env, "MEDIA_ALLOWED_HOSTS": "localhost"}, "TESTING": True})
    add_staff(app, ("ani", "agent"), ("budi", "agent"), ("sri", "supervisor"), ("adi", "admin"))
    yield app
    app.extensions["db"].dispose()


def post(client, path, referer, **data):
    return client.post(path, data={**data, "csrf_token": csrf(client, referer)})


def audit_actions(app, **where) -> list[str]:
    with app.app_context():
        query = select(AuditLog.action).order_by(AuditLog.id)
        for key, value in where.items():
            query = query.where(getattr(AuditLog, key) == value)
        return list(db.session().scalars(query))


# ----------------------------------------------------------------------------------------------- login
def test_an_unknown_name_is_answered_like_a_real_one_and_checks_a_password_too(app, monkeypatch):
    checked = []
    real = accounts.check_password_hash
    monkeypatch.setattr(accounts, "check_password_hash", lambda h, p: checked.append(h) or real(h, p))
    known, unknown = app.test_client(), app.test_client()
    first = login(known, "ani", "salah-sandi-xx1")
    second = login(unknown, "tidak-ada", "salah-sandi-xx1")
    assert first.status_code == second.status_code == 401
    assert first.get_data(as_text=True).count("Nama atau kata sandi salah") == 1
    assert len(checked) == 2  # the unknown name cost a password check too (same time)
    for _ in range(5):
        login(known, "ani", "salah-sandi-xx1")
        login(unknown, "tidak-ada", "salah-sandi-xx1")
    assert login(known, "ani", "salah-sandi-xx1").status_code == login(unknown, "tidak-ada", "x").status_code == 429


def test_parallel_wrong_passwords_are_all_counted_and_lock_the_account(app):
    barrier, results = threading.Barrier(30), []

    def attempt(i):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.0.{i // 200}.{i % 200 + 1}"  # from many addresses
        token = csrf(client)
        barrier.wait()
        results.append(client.post("/console/login", data={"name": "budi", "password": f"salah-{i}-sandi",
                                                            "csrf_token": token}).status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(set(results)) == [401]
    with app.app_context():
        budi = db.session().scalar(select(Staff).where(Staff.name == "budi"))
        assert budi.locked_until is not None
    assert "login_locked" in audit_actions(app)
    assert login(app.test_client(), "budi").status_code == 429  # even the right password, from anywhere


def test_logins_failures_and_logouts_are_audited(app):
    client = app.test_client()
    login(client, "ani", "salah-sandi-xx1")
    login(client, "ani")
    post(client, "/console/logout", "/console/")
    login(app.test_client(), "siapa-ini", "salah-sandi-xx1")
    assert audit_actions(app) == ["login_failed", "login", "logout", "login_failed"]


def test_logout_ends_every_copy_of_the_session(app):
    client = logged_in(app, "ani")
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    assert copy.get("/console/").status_code == 200
    post(client, "/console/logout", "/console/")
    assert copy.get("/console/").status_code == 302  # the copied cookie no longer works


def test_a_password_change_ends_the_other_sessions(app):
    desk, phone = logged_in(app, "ani"), logged_in(app, "ani")
    weak = post(desk, "/console/password", "/console/password", current=PASSWORD, new="pendek", repeat="pendek")
    assert weak.status_code == 400 and "minimal 12 karakter" in weak.get_data(as_text=True)
    post(desk, "/console/password", "/console/password", current=PASSWORD, new="sandi-baru-yang-kuat-9",
         repeat="sandi-baru-yang-kuat-9")
    assert desk.get("/console/").status_code == 200  # this one starts anew
    assert phone.get("/console/").status_code == 302
    assert login(app.test_client(), "ani").status_code == 401
    assert login(app.test_client(), "ani", "sandi-baru-yang-kuat-9").status_code == 302
    assert "password_changed" in audit_actions(app)


def test_an_idle_session_ends_and_automatic_refreshes_do_not_keep_it_alive(app):
    client = logged_in(app, "ani")
    with app.app_context():
        db.session().execute(update(StaffSession).values(last_seen_at=utcnow() - timedelta(minutes=20)))
        db.session().commit()
    assert client.get("/console/queue/rows", headers={"X-Auto-Refresh": "1"}).status_code == 200
    with app.app_context():
        seen = db.session().scalar(select(StaffSession.last_seen_at))
        db.session().execute(update(StaffSession).values(last_seen_at=seen - timedelta(minutes=11)))
        db.session().commit()
    assert client.get("/console/queue/rows", headers={"X-Auto-Refresh": "1"}).status_code == 302  # 31 min idle


def test_admins_reset_a_password_and_the_person_s_sessions_end(app):
    victim = logged_in(app, "budi")
    admin = logged_in(app, "adi")
    with app.app_context():
        budi_id = db.session().scalar(select(Staff.id).where(Staff.name == "budi"))
    page = admin.post(f"/console/admin/staff/{budi_id}/reset", data={"csrf_token": csrf(admin, "/console/admin/staff")},
                      follow_redirects=True).get_data(as_text=True)
    temporary = re.search(r"<strong>(\S+)</strong>", page).group(1)
    assert victim.get("/console/").status_code == 302
    assert login(app.test_client(), "budi", temporary).status_code == 302
    assert logged_in(app, "ani").get("/console/admin/staff").status_code == 403


def test_cookies_csrf_and_security_headers(env):
    app = create_app({"ENV": {**env, "PUBLIC_BASE_URL": "https://pandawa.example"}, "TESTING": True})
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_HTTPONLY"]
    assert app.config["SESSION_COOKIE_SAMESITE"] in ("Lax", "Strict")
    assert app.config["WTF_CSRF_TIME_LIMIT"] == app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
    response = app.test_client().get("/console/login")
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "script-src 'self'" in headers["Content-Security-Policy"] and "Strict-Transport-Security" in headers
    app.extensions["db"].dispose()


@pytest.mark.parametrize("path", [
    "/console/logout", "/console/password", "/console/cases/PDW-X/claim", "/console/cases/PDW-X/decision",
    "/console/cases/PDW-X/message", "/console/cases/PDW-X/takeover", "/console/cases/PDW-X/handback",
    "/console/cases/PDW-X/close", "/console/admin/texts", "/console/admin/settings", "/console/admin/decrees",
    "/console/admin/staff/1/reset", "/console/failures/inbound/1/retry", "/console/privacy/export",
])
def test_every_form_needs_its_csrf_token(app, path):
    client = logged_in(app, "adi")
    assert client.post(path, data={"text": "x", "decision": "approve"}).status_code == 400


# ------------------------------------------------------------------------------------- least privilege
def held_by_ani(app, twilio) -> tuple[Chat, str]:
    chat = submit_nik_case(app, twilio)
    with app.app_context():
        ticket = db.session().scalar(select(Case.ticket))
    ani = logged_in(app, "ani")
    post(ani, f"/console/cases/{ticket}/claim", f"/console/cases/{ticket}")
    return chat, ticket


def test_only_the_holder_acts_and_the_others_are_told_who_holds_the_case(app, twilio):
    chat, ticket = held_by_ani(app, twilio)
    page = f"/console/cases/{ticket}"
    budi = logged_in(app, "budi")
    for action, data in (("message", {"text": "Halo Bu"}), ("takeover", {}), ("handback", {}), ("close", {}),
                         ("decision", {"decision": "approve"})):
        answer = budi.post(f"{page}/{action}", data={**data, "csrf_token": csrf(budi, page)}, follow_redirects=True)
        assert "kasus ini dipegang ani" in answer.get_data(as_text=True), action
    assert chat.replies() == []  # nothing reached the citizen, the bot was not silenced
    sri = logged_in(app, "sri")
    post(sri, f"{page}/takeover", page)  # a supervisor may
    assert "take_over" in audit_actions(app)


def test_non_holders_see_personal_data_masked_and_no_transcript(app, twilio):
    _, ticket = held_by_ani(app, twilio)
    page = f"/console/cases/{ticket}"
    budi = logged_in(app, "budi").get(page).get_data(as_text=True)
    for secret in ("3201234505860003", "0001234567890", "+6281234567890", "Ibu Sari"):
        assert secret not in budi
    assert "••••••••••••0003" in budi and "data-no-transcript" in budi and "data-masked" in budi
    assert "/documents/" not in budi
    ani = logged_in(app, "ani").get(page).get_data(as_text=True)
    assert "3201234505860003" in ani and "+6281234567890" in ani and "data-no-transcript" not in ani
    sri = logged_in(app, "sri").get(page).get_data(as_text=True)
    assert 'id="audit-trail"' in sri and "Mengambil kasus" in sri and 'id="audit-trail"' not in ani


def test_api_tokens_have_a_role_an_expiry_and_are_revoked_one_by_one(app, twilio):
    _, ticket = held_by_ani(app, twilio)
    with app.app_context():
        session = db.session()
        sri = session.scalar(select(Staff).where(Staff.name == "sri"))
        ani = session.scalar(select(Staff).where(Staff.name == "ani"))
        as_agent = new_token(session, sri, role="agent", label="integrasi")
        as_supervisor = new_token(session, sri)
        expired = new_token(session, ani, days=1)
        with pytest.raises(accounts.AccountError):
            new_token(session, ani, role="admin")  # never above the owner's role
        session.commit()
        session.execute(update(ApiToken).where(ApiToken.staff_id == ani.id).values(expires_at=utcnow() - timedelta(1)))
        session.commit()
    client = app.test_client()
    bearer = lambda token: {"Authorization": f"Bearer {token}"}  # noqa: E731
    agent_view = client.get(f"/api/cases/{ticket}", headers=bearer(as_agent)).get_json()
    assert agent_view["fields_masked"] and "3201234505860003" not in str(agent_view)
    supervisor_view = client.get(f"/api/cases/{ticket}", headers=bearer(as_supervisor)).get_json()
    assert supervisor_view["fields"]["nik"] == "3201234505860003"
    assert client.get("/api/cases", headers=bearer(expired)).status_code == 401
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["users", "tokens", "sri"]).output
    assert "integrasi" in listed and "agent" in listed
    token_id = re.search(r"^\s*(\d+)\s+integrasi", listed, re.M).group(1)
    runner.invoke(args=["users", "revoke", "sri", "--token", token_id])
    assert client.get("/api/cases", headers=bearer(as_agent)).status_code == 401
    assert client.get("/api/cases", headers=bearer(as_supervisor)).status_code == 200  # the other one still works
    assert audit_actions(app, channel="api").count("view_case") == 2


# ------------------------------------------------------------------------------------- identity proof
def test_a_nik_proves_nothing_without_the_registered_phone(app, twilio):
    with app.app_context():
        load_csv(db.session())
        db.session().commit()
        p = db.session().scalars(select(Participant).where(Participant.nik.is_not(None), Participant.phone.is_not(None),
                                                           Participant.active.is_(True))).first()
        nik, phone, born, faskes = p.nik, p.phone, p.birth_date.strftime("%d-%m-%Y"), p.faskes
    stranger = Chat(app, twilio, phone="+6281311112222")
    stranger.say("3")
    stranger.say(nik)
    assert "tidak ditemukan" in stranger.last(born)  # knowing the KTP (NIK and the date in it) is not enough
    owner = Chat(app, twilio, phone=phone)
    owner.say("3")
    owner.say(nik)
    assert faskes in owner.last(born)


# ------------------------------------------------------------------------------------- smaller surface
def test_metrics_answer_loopback_or_the_token(env):
    app = create_app({"ENV": {**env, "METRICS_TOKEN": "rahasia-metrik"}, "TESTING": True})
    client = app.test_client()
    assert client.get("/metrics").status_code == 200  # loopback
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", environ_base=outside).status_code == 403
    assert client.get("/metrics", environ_base=outside, headers={"Authorization": "Bearer salah"}).status_code == 403
    assert client.get("/metrics", environ_base=outside,
                      headers={"Authorization": "Bearer rahasia-metrik"}).status_code == 200
    app.extensions["db"].dispose()


def test_rasa_runs_on_loopback_with_a_token():
    procfile = (ROOT / "Procfile").read_text()
    nlu = next(line for line in procfile.splitlines() if line.startswith("nlu:"))
    assert "--interface 127.0.0.1" in nlu and "--auth-token" in nlu


def test_the_session_table_keeps_only_token_hashes(app):
    client = logged_in(app, "ani")
    cookie = client.get_cookie("session").value
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(StaffSession)) == 1
        stored = db.session().scalar(select(StaffSession.token_hash))
    assert len(stored) == 64 and stored not in cookie


# ------------------------------------------------------------------------------------- from the review
def test_behind_a_proxy_the_client_s_address_counts_and_metrics_need_the_token(env):
    app = create_app({"ENV": {**env, "TRUSTED_PROXIES": "1", "METRICS_TOKEN": "rahasia-metrik"}, "TESTING": True})
    with app.app_context():
        create_staff(db.session(), "ani", "agent", PASSWORD)
        db.session().commit()
    for i in range(6):  # one attacker's address, seen through the proxy
        client = app.test_client()
        client.post("/console/login", data={"name": f"tebak{i}", "password": "x" * 12, "csrf_token": csrf(client)},
                    headers={"X-Forwarded-For": "203.0.113.66"})
    for i in range(50):
        with app.app_context():
            accounts.attempt(f"nama{i}", "203.0.113.66")
    honest = app.test_client()
    ok = honest.post("/console/login", data={"name": "ani", "password": PASSWORD, "csrf_token": csrf(honest)},
                     headers={"X-Forwarded-For": "198.51.100.7"})
    assert ok.status_code == 302  # the attacker's failures are theirs, not the whole site's
    assert app.test_client().get("/metrics").status_code == 403  # loopback is the proxy, not the operator
    assert app.test_client().get("/metrics", headers={"Authorization": "Bearer rahasia-metrik"}).status_code == 200
    app.extensions["db"].dispose()


def test_parallel_guesses_from_one_address_are_all_counted_before_the_password_check(app, monkeypatch):
    checked, real = [], accounts.check_password_hash
    monkeypatch.setattr(accounts, "check_password_hash", lambda h, p: checked.append(1) or real(h, p))
    barrier, results = threading.Barrier(40), []

    def attempt(i):
        client = app.test_client()
        token = csrf(client)
        barrier.wait()
        results.append(client.post("/console/login", data={"name": "budi", "password": f"salah-{i}-sandi",
                                                            "csrf_token": token}).status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results.count(401) == 5 and results.count(429) == 35


def test_with_redis_away_the_database_still_locks_the_account(app, monkeypatch):
    def down(*_args, **_kwargs):
        raise RedisDown("Redis is away")

    monkeypatch.setattr(accounts.queues, "redis", down)
    client = app.test_client()
    for _ in range(accounts.PER_NAME[0]):
        login(client, "budi", "salah-sandi-xx1")
    with app.app_context():
        assert db.session().scalar(select(Staff.locked_until).where(Staff.name == "budi")) is not None
    assert login(client, "budi").status_code == 429


def test_an_admin_s_unlock_really_unlocks(app):
    for i in range(accounts.PER_NAME[0]):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.9.0.{i + 1}"
        login(client, "budi", "salah-sandi-xx1")
    assert login(app.test_client(), "budi").status_code == 429
    runner = app.test_cli_runner()
    assert "unlocked" in runner.invoke(args=["users", "unlock", "budi"]).output
    assert login(app.test_client(), "budi").status_code == 302


def test_the_current_password_cannot_be_guessed_from_a_stolen_session(app):
    client = logged_in(app, "ani")
    answers = [post(client, "/console/password", "/console/password", current=f"tebakan-{i}-salah", new="x",
                    repeat="x").status_code for i in range(8)]
    assert answers[:5] == [400] * 5 and set(answers[5:]) == {429}
    assert audit_actions(app).count("password_change_failed") == 5


def test_a_temporary_password_must_be_changed_first(app):
    admin = logged_in(app, "adi")
    with app.app_context():
        budi_id = db.session().scalar(select(Staff.id).where(Staff.name == "budi"))
    page = admin.post(f"/console/admin/staff/{budi_id}/reset",
                      data={"csrf_token": csrf(admin, "/console/admin/staff")}).get_data(as_text=True)
    temporary = re.search(r"<strong>(\S+)</strong>", page).group(1)
    budi = app.test_client()
    assert login(budi, "budi", temporary).headers["Location"].endswith("/console/password")
    assert budi.get("/console/").headers["Location"].endswith("/console/password")
    post(budi, "/console/password", "/console/password", current=temporary, new="kata-sandi-baru-kuat-1",
         repeat="kata-sandi-baru-kuat-1")
    assert budi.get("/console/").status_code == 200


def test_non_holders_see_no_decision_notes_and_no_dates_of_birth(app, twilio):
    _, ticket = held_by_ani(app, twilio)
    ani = logged_in(app, "ani")
    page = f"/console/cases/{ticket}"
    post(ani, f"{page}/decision", page, confirmed="1", decision="need_info", item="kk", note="NIK 3201234505860003 Ibu Sari Rahayu")
    budi = logged_in(app, "budi").get(page).get_data(as_text=True)
    assert "Sari Rahayu" not in budi and "3201234505860003" not in budi
    assert mask_value("birth_date", "1990-01-02") == mask_value("tanggal", "02-01-1990") == "•••"


def test_login_never_redirects_outside_the_console(app):
    client = app.test_client()
    for target in ("//evil.example/console/", "/console/\\\\evil.example", "https://evil.example/"):
        response = client.post(f"/console/login?next={target}",
                               data={"name": "ani", "password": PASSWORD, "csrf_token": csrf(client)})
        assert response.headers["Location"] in ("/console/", "http://localhost/console/")
        client = app.test_client()
