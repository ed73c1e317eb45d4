"""A personal-data lifecycle that follows UU 27/2022: kept only as long as configured, erased when the
citizen asks and an officer confirms, exported for the citizen, documents encrypted at rest."""
from __future__ import annotations

import base64
import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from bot import create_app, lifecycle
from bot.accounts import create_staff
from bot.settings import ConfigError
from storage import db
from storage.cases import Case, CaseStatus, Document
from storage.media import MediaKeyError, MediaStore
from storage.migrate import upgrade
from storage.models import Citizen, Conversation, InboundMessage, OutboundMessage, utcnow
from storage.staff import AuditLog, Satisfaction
from tests.helpers import STAFF_PASSWORD, add_staff, Chat, database_at, logged_in, run_jobs, submit_nik_case
from tests.images import document_photo

PASSWORD = STAFF_PASSWORD
KEY_1 = "k1:" + base64.b64encode(b"1" * 32).decode()
KEY_2 = "k2:" + base64.b64encode(b"2" * 32).decode()


pytestmark = pytest.mark.one_backend  # one database is enough here


@pytest.fixture
def app(env):
    app = create_app({"ENV": {**env, "MEDIA_ALLOWED_HOSTS": "localhost"}, "TESTING": True})
    add_staff(app, ("ani", "agent"), ("sri", "supervisor"))
    yield app
    app.extensions["db"].dispose()


def post(client, path, referer, **data):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(referer).get_data(as_text=True)).group(1)
    return client.post(path, data={**data, "csrf_token": token})


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session().scalar(select(func.count()).select_from(model).where(*where))


def age_everything(app, days: int) -> None:
    """As if all of it happened ``days`` ago."""
    then = utcnow() - timedelta(days=days)
    with app.app_context():
        session = db.session()
        session.execute(update(InboundMessage).values(received_at=then))
        session.execute(update(OutboundMessage).values(created_at=then))
        session.execute(update(Document).values(created_at=then))
        session.execute(update(Case).where(Case.status == CaseStatus.CLOSED).values(closed_at=then))
        session.execute(update(Conversation).values(last_activity_at=then))
        session.execute(update(Citizen).values(last_inbound_at=then))
        session.commit()


def closed_case(app, twilio) -> tuple[Chat, str]:
    chat = submit_nik_case(app, twilio)
    with app.app_context():
        ticket = db.session().scalar(select(Case.ticket))
    ani = logged_in(app, "ani")
    page = f"/console/cases/{ticket}"
    post(ani, f"{page}/claim", page)
    post(ani, f"{page}/decision", page, confirmed="1", decision="approve")
    post(ani, f"{page}/close", page)
    chat.replies()
    chat.say("4")
    chat.say("Sangat membantu, terima kasih 081234567890")
    return chat, ticket


def test_nothing_is_purged_before_its_time(app, twilio):
    closed_case(app, twilio)
    with app.app_context():
        assert sum(lifecycle.purge().values()) == 0
    assert count(app, InboundMessage) > 0 and count(app, Document) == 2


def test_past_their_retention_messages_documents_and_personal_data_go_statistics_stay(app, twilio):
    _, ticket = closed_case(app, twilio)
    store = app.config["SETTINGS"].media_store()
    hashes = [d for d in store.stored()]
    assert len(hashes) == 2
    age_everything(app, 800)  # past every period of config.yml's retention
    with app.app_context():
        counts = lifecycle.purge()
    assert counts["messages"] > 0 and counts["documents"] == 2 and counts["files"] == 2 and counts["cases"] == 1
    assert counts["citizens"] == 1
    assert count(app, InboundMessage) == count(app, OutboundMessage) == count(app, Document) == 0
    assert count(app, Citizen) == count(app, Conversation) == 0 and list(store.stored()) == []
    with app.app_context():
        case = db.session().scalar(select(Case))
        assert (case.ticket, case.status, case.service) == (ticket, CaseStatus.CLOSED, "change_nik")  # the statistics
        assert case.fields == {} and case.citizen_id is None
        assert db.session().scalar(select(Satisfaction)).rating == 4
        assert db.session().scalar(select(Satisfaction)).comment is None


def test_photos_of_a_request_never_finished_are_purged(app, twilio):
    chat = Chat(app, twilio)
    for answer in ("1", "0001234567890", "3201234505860003"):
        chat.say(answer)
    chat.photo(document_photo(seed=1))  # then the citizen never came back
    age_everything(app, 31)
    with app.app_context():
        counts = lifecycle.purge()
    assert counts["documents"] == 1 and counts["files"] == 1 and counts["runs"] == 1
    with app.app_context():
        state = db.session().scalar(select(Conversation.state))
    assert "run" not in state and "paused_run" not in state and "3201234505860003" not in json.dumps(state)


def test_a_citizen_asks_to_be_forgotten_and_an_officer_confirms(app, twilio):
    chat, ticket = closed_case(app, twilio)
    [answer] = chat.say("hapus data saya")
    assert "hapus data" in answer.lower() and "tiket" in answer
    with app.app_context():
        erasure = db.session().scalar(select(Case).where(Case.service == "erasure"))
        citizen_id = erasure.citizen_id
    ani = logged_in(app, "ani")
    page = f"/console/cases/{erasure.ticket}"
    assert "Permintaan hapus data pribadi" in ani.get("/console/").get_data(as_text=True)
    post(ani, f"{page}/claim", page)
    post(ani, f"{page}/decision", page, confirmed="1", decision="approve")
    [told] = chat.replies()
    assert "disetujui" in told and "dihapus" in told
    with app.app_context():
        assert lifecycle.erase(citizen_id)["citizens"] == 1  # what the delayed job does
    assert count(app, Citizen) == count(app, InboundMessage) == count(app, OutboundMessage) == count(app, Document) == 0
    assert list(app.config["SETTINGS"].media_store().stored()) == []
    with app.app_context():
        cases = db.session().scalars(select(Case).order_by(Case.id)).all()
    assert [(c.ticket, c.citizen_id, c.fields) for c in cases] == [(ticket, None, {}), (erasure.ticket, None, {})]


def test_erasure_waits_for_the_confirmation_to_leave(app, twilio):
    chat = Chat(app, twilio)
    chat.say("halo")
    with app.app_context():
        session = db.session()
        citizen = session.scalar(select(Citizen))
        session.add(OutboundMessage(citizen_id=citizen.id, body="konfirmasi"))  # still pending
        session.commit()
        with pytest.raises(RuntimeError, match="not left yet"):
            lifecycle.erase(citizen.id)
    assert count(app, Citizen) == 1


def test_a_supervisor_exports_what_is_held_about_one_citizen(app, twilio):
    closed_case(app, twilio)
    sri = logged_in(app, "sri")
    response = post(sri, "/console/privacy/export", "/console/privacy", phone="0812-3456-7890")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    data = json.loads(archive.read("data.json"))
    assert data["citizen"]["phone"] == "+6281234567890" and data["cases"][0]["fields"]["nik"] == "3201234505860003"
    photos = [name for name in archive.namelist() if name.startswith("documents/")]
    assert len(photos) == 2 and archive.read(photos[0]) == document_photo(seed=1)
    with app.app_context():
        assert db.session().scalar(select(AuditLog.action).where(AuditLog.action == "export_citizen"))
    assert logged_in(app, "ani").get("/console/privacy").status_code == 403


def test_documents_are_encrypted_at_rest(app, twilio):
    submit_nik_case(app, twilio)
    store = app.config["SETTINGS"].media_store()
    [first, _] = sorted(store.stored())
    raw = store.path(first).read_bytes()
    assert raw.startswith(b"PDWENC1\n") and document_photo(seed=1) not in raw and b"JFIF" not in raw
    assert store.read(first) in (document_photo(seed=1), document_photo(seed=2))
    stranger = MediaStore(store.root, [("t1", b"x" * 32)])
    with pytest.raises(MediaKeyError):
        stranger.read(first)


def test_key_rotation_re_encrypts_and_old_plain_files_are_read(tmp_path):
    old = MediaStore(tmp_path, [("k1", b"1" * 32)])
    sha, _ = old.save(b"KTP lama")
    plain_sha = MediaStore(tmp_path).save(b"foto sebelum enkripsi")[0]  # written before encryption
    rotated = MediaStore(tmp_path, [("k2", b"2" * 32), ("k1", b"1" * 32)])
    assert rotated.read(sha) == b"KTP lama" and rotated.read(plain_sha) == b"foto sebelum enkripsi"
    assert rotated.rekey() == 2 and rotated.rekey() == 0
    assert rotated.key_of(sha) == rotated.key_of(plain_sha) == "k2"
    only_new = MediaStore(tmp_path, [("k2", b"2" * 32)])
    assert only_new.read(sha) == b"KTP lama"  # the old key can go


def test_media_keys_are_required_with_twilio_credentials_and_rotated_by_the_cli(env):
    with pytest.raises(ConfigError, match="MEDIA_KEYS"):
        create_app({"ENV": {k: v for k, v in env.items() if k != "MEDIA_KEYS"}, "TESTING": True})
    app = create_app({"ENV": {**env, "MEDIA_KEYS": KEY_1}, "TESTING": True})
    sha, _ = app.config["SETTINGS"].media_store().save(b"dokumen")
    app.extensions["db"].dispose()
    rotated = create_app({"ENV": {**env, "MEDIA_KEYS": f"{KEY_2},{KEY_1}"}, "TESTING": True})
    result = rotated.test_cli_runner().invoke(args=["media", "rekey"])
    assert "re-encrypted 1 file(s) under key 'k2'" in result.output
    assert rotated.config["SETTINGS"].media_store().key_of(sha) == "k2"
    rotated.extensions["db"].dispose()


def test_the_purge_runs_once_a_day_from_the_sweeper(app):
    with app.app_context():
        now = utcnow()
        assert lifecycle.purge_due(now) and not lifecycle.purge_due(now)  # once per office day
        assert lifecycle.purge_due(now + timedelta(days=1))


def test_run_jobs_after_erasure_leaves_nothing_waiting(app, twilio):
    """The erasure job is scheduled, not run at once: the confirmation goes out first."""
    chat = Chat(app, twilio)
    chat.say("hapus data saya")
    with app.app_context():
        erasure = db.session().scalar(select(Case).where(Case.service == "erasure"))
    ani = logged_in(app, "ani")
    page = f"/console/cases/{erasure.ticket}"
    post(ani, f"{page}/claim", page)
    post(ani, f"{page}/decision", page, confirmed="1", decision="approve")
    run_jobs(app)
    assert "disetujui" in twilio.messages[-1]["Body"]
    assert count(app, Citizen) == 1  # erased by the scheduled job, half a minute later


def test_decided_cases_are_purged_without_being_closed_and_their_pages_still_open(app, twilio):
    chat = submit_nik_case(app, twilio)
    with app.app_context():
        ticket = db.session().scalar(select(Case.ticket))
    ani = logged_in(app, "ani")
    page = f"/console/cases/{ticket}"
    post(ani, f"{page}/claim", page)
    post(ani, f"{page}/decision", page, confirmed="1", decision="approve")  # decided, never closed
    chat.replies()
    with app.app_context():
        db.session().execute(update(Case).values(decided_at=utcnow() - timedelta(days=800)))
        db.session().commit()
    age_everything(app, 800)
    with app.app_context():
        counts = lifecycle.purge()
    assert counts["cases"] == 1 and counts["documents"] == 2
    assert ani.get(page).status_code == 200  # a de-identified case still opens
    closed = post(ani, f"{page}/close", page)
    assert closed.status_code == 302
    with app.app_context():
        assert db.session().scalar(select(Case.status)) == CaseStatus.CLOSED  # closed, without a survey to send


def test_simulator_uploads_are_encrypted_and_purged(env, tmp_path):
    app = create_app({"ENV": {k: v for k, v in env.items() if not k.startswith("TWILIO_")}, "TESTING": True,
                      "WTF_CSRF_ENABLED": False})
    with app.app_context():
        create_staff(db.session(), "adi", "admin", PASSWORD)
        db.session().commit()
    client = app.test_client()
    client.post("/console/login", data={"name": "adi", "password": PASSWORD})
    number = re.search(r'<option value="([^"]+)"[^>]* selected', client.get("/simulator/").get_data(as_text=True)).group(1)
    photo = document_photo(seed=4)
    client.post("/simulator/send", data={"phone": number, "body": "", "file": (io.BytesIO(photo), "ktp.jpg")},
                content_type="multipart/form-data")
    uploads = list((tmp_path / "instance" / "simulator-media").iterdir())
    assert len(uploads) == 1 and photo not in uploads[0].read_bytes()
    store = app.config["SETTINGS"].media_store()
    assert all(photo not in store.path(digest).read_bytes() for digest in store.stored())
    with app.app_context():
        lifecycle.simulator.purge_uploads(app, older_than_seconds=-1)
    assert list((tmp_path / "instance" / "simulator-media").iterdir()) == []
    app.extensions["db"].dispose()


def test_tokens_issued_before_expiry_existed_get_one(tmp_path):
    url, engine = database_at(tmp_path, "0005",
                              "INSERT INTO staff (name, role, password_hash, active, failed_logins, created_at) "
                              "VALUES ('lama', 'agent', 'x', 1, 0, '2026-01-01')",
                              "INSERT INTO api_tokens (staff_id, token_hash, created_at, revoked) "
                              "VALUES (1, 'h', '2026-01-01', 0)")
    upgrade(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT expires_at FROM api_tokens")).scalar() is not None
    engine.dispose()


def test_a_plain_file_that_was_changed_is_refused(tmp_path):
    store = MediaStore(tmp_path)
    sha, path = store.save(b"foto asli")
    path.write_bytes(b"foto lain")
    with pytest.raises(MediaKeyError):
        store.read(sha)
