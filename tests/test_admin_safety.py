"""Admin edits cannot break a live conversation: what validates is what the runtime can run, rendering
never raises, cases keep their service when it leaves the menu, a publish takes effect even when Redis
missed it, a rollback is atomic (to any version, the original file included), and the app refuses to
start with placeholder WhatsApp templates when it talks to the real Twilio."""
from __future__ import annotations


import pytest
import yaml
from sqlalchemy import select

from bot import create_app, live
from bot.accounts import create_staff
from bot.settings import ConfigError
from flows import versions
from flows.definition import DEFINITIONS
from handlers.catalog import catalog
from handlers.texts import render
from storage import db
from storage.cases import Case, Document
from storage.config_versions import ConfigVersion, VersionStatus
from tests.helpers import STAFF_PASSWORD, add_staff, Chat, complaint_answers, csrf, logged_in
from tests.images import document_photo

PASSWORD = STAFF_PASSWORD
CHANGE_NIK = (DEFINITIONS / "change_nik.yml").read_text()


pytestmark = pytest.mark.one_backend  # one database is enough here


@pytest.fixture
def app(env):
    app = create_app({"ENV": {**env, "MEDIA_ALLOWED_HOSTS": "localhost"}, "TESTING": True})
    add_staff(app, ("adi", "admin"), ("ani", "agent"))
    yield app
    app.extensions["db"].dispose()


def flow_problems(app, change) -> list[str]:
    raw = yaml.safe_load(CHANGE_NIK)
    change(raw)
    text = yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)
    return versions.problems("flow:change_nik", text, app.config["SETTINGS"].product_config, catalog())


@pytest.mark.parametrize("change, expected", [
    (lambda r: r["steps"]["nik"].update(ask="Ketik NIK {x.y}"), "'{x.y}' bukan isian yang sah"),
    (lambda r: r["steps"]["nik"].update(ask="Ketik NIK {values[0]}"), "'{values[0]}' bukan isian yang sah"),
    (lambda r: r["steps"]["nik"].update(ask="Ketik NIK {card_number"), "kurung kurawal { } tidak berpasangan"),
    (lambda r: r["steps"]["nik"].update(ask="Ketik NIK } sekarang"),
     "langkah 'nik', teks 'ask': kurung kurawal { } tidak"),
    (lambda r: r["steps"]["done"].update(text="Tiket {ticket} untuk {nama_peserta}"),
     "{nama_peserta}, yang tidak diisi bot"),
    (lambda r: r["steps"]["nik"].update(ask="Ketik NIK {nik!r}"), "'{nik!r}' tidak boleh; tulis {nik}"),
    (lambda r: r["steps"]["ktp"].update(document="x" * 65), "'document' harus 1-64"),
    (lambda r: r["steps"]["ktp"].update(document="KTP Asli"), "langkah 'ktp': 'document' harus 1-64"),
    (lambda r: r["steps"].update({"a" * 33: r["steps"].pop("kk")}), "nama langkah harus 1-32"),
    (lambda r: r["steps"]["submit"].update(outcomes={"made": "done"}), "'create_case' tidak pernah menghasilkan made"),
    (lambda r: r["steps"]["ktp"].update(accept=["video"]), "'accept' hanya boleh berisi image dan/atau pdf"),
    (lambda r: r.setdefault("texts", {}).update(cancel_confirm="Batal {judul}?"),
     "teks 'cancel_confirm' memakai {judul}, yang tidak diisi bot"),
], ids=["attribute", "index", "unclosed", "stray-brace", "unknown-name", "conversion", "long-document",
        "document-with-space", "long-step-id", "unknown-outcome", "accept", "flow-text"])
def test_what_the_runtime_cannot_run_is_refused(app, change, expected):
    found = flow_problems(app, change)
    assert any(expected in problem for problem in found), found


def test_known_placeholders_and_escaped_braces_are_accepted(app):
    ok = flow_problems(app, lambda r: r["steps"]["confirm"].update(
        summary="Periksa {{data}}: kartu {card_number}, NIK {nik_text}, KTP {doc_ktp}, dari {sender_masked}"))
    assert ok == []


@pytest.mark.parametrize("template, expected", [
    ("Halo {x.y}", "Halo {x.y}"), ("Halo {", "Halo {"), ("}{", "}{"), ("{a[0]} {b}", "{a[0]} 2"),
    ("{hours:g} jam", "8 jam"), ("{hours:zz}", "8.0"), ("{missing}!", "!"), ("{{b}}", "{b}"),
])
def test_rendering_never_raises(template, expected):
    assert render(template, {"b": 2, "hours": 8.0}) == expected


def test_a_document_name_longer_than_16_characters_is_stored(app, twilio):
    """documents.kind was String(16): PostgreSQL refused a longer name an admin could publish."""
    client = logged_in(app)
    raw = yaml.safe_load(CHANGE_NIK)
    raw["steps"]["ktp"]["document"] = "ktp_elektronik_pemilik_kartu"
    raw["steps"]["confirm"]["summary"] = raw["steps"]["confirm"]["summary"].replace(
        "{doc_ktp}", "{doc_ktp_elektronik_pemilik_kartu}")
    page = "/console/admin/flows/change_nik?raw=1"
    response = client.post(page, data={"yaml": yaml.safe_dump(raw, allow_unicode=True, sort_keys=False),
                                       "action": "publish", "csrf_token": csrf(client, page)})
    assert response.status_code == 302
    chat = Chat(app, twilio)
    for answer in ("1", "0001234567890", "3201234505860003"):
        chat.say(answer)
    assert "Foto KTP diterima" in chat.photo(document_photo(seed=1))[0]
    with app.app_context():
        assert db.session().scalar(select(Document.kind)) == "ktp_elektronik_pemilik_kartu"


def complaint_case(app, twilio) -> str:
    chat = Chat(app, twilio, phone="+6285555555555")
    for answer in complaint_answers("2", "RSUD Kota", "Diminta bayar obat 500 ribu"):
        chat.say(answer)
    with app.app_context():
        return db.session().scalar(select(Case.ticket))


def test_cases_keep_their_service_when_it_leaves_the_menu(app, twilio):
    ticket = complaint_case(app, twilio)
    client = logged_in(app)
    raw = yaml.safe_load(versions.base_content(versions.SETTINGS, app.config["SETTINGS"].product_config))
    raw["menu"] = [item for item in raw["menu"] if item["id"] != "complaint"]
    page = "/console/admin/settings?raw=1"
    response = client.post(page, data={"yaml": yaml.safe_dump(raw, allow_unicode=True, sort_keys=False),
                                       "action": "publish", "csrf_token": csrf(client, page)})
    assert response.status_code == 302
    assert "Pengaduan" not in app.config["PRODUCT"].menu_text()

    agent = logged_in(app, "ani")
    queue = agent.get("/console/")
    assert queue.status_code == 200 and "Pengaduan layanan" in queue.get_data(as_text=True)
    case_page = f"/console/cases/{ticket}"
    assert agent.get(case_page).status_code == 200
    agent.post(f"{case_page}/claim", data={"csrf_token": csrf(agent, case_page)})
    decided = agent.post(f"{case_page}/decision", data={"decision": "approve", "confirmed": "1", "csrf_token": csrf(agent, case_page)})
    assert decided.status_code == 302
    with app.app_context():
        assert db.session().scalar(select(Case.status)) == "approved"
    told = Chat(app, twilio, phone="+6285555555555").replies()[-1]
    assert ticket in told and "ditindaklanjuti" in told


def test_a_publish_made_while_redis_was_down_still_takes_effect(env, app, monkeypatch):
    monkeypatch.setattr(live, "RECONCILE_EVERY", 0.0)
    with app.app_context():
        live.refresh(app)  # this process has loaded what is live now
    down = create_app({"ENV": {**env, "REDIS_URL": "redis://127.0.0.1:1/0"}, "TESTING": True})
    with down.app_context():
        create_staff(db.session(), "admin2", "admin", PASSWORD)
        db.session().commit()
    client = down.test_client()
    client.post("/console/login", data={"name": "admin2", "password": PASSWORD,
                                        "csrf_token": csrf(client, "/console/login")})
    page = "/console/admin/texts"
    response = client.post(page, data={"text.thanks": "Terima kasih kembali (versi baru).", "action": "publish",
                                       "csrf_token": csrf(client, page)}, follow_redirects=True)
    assert response.status_code == 200 and "Redis tidak menjawab" in response.get_data(as_text=True)
    down.extensions["db"].dispose()

    with app.app_context():  # another process, whose Redis never heard of the publish
        live.refresh(app)
        assert app.config["PRODUCT"].text("thanks") == "Terima kasih kembali (versi baru)."


def test_a_rollback_with_redis_down_is_done_not_an_error(env, app):
    for text in ("Sama-sama, versi satu.", "Sama-sama, versi dua."):
        with app.app_context():
            session = db.session()
            versions.save_draft(session, versions.TEXTS, yaml.safe_dump(
                {**app.config["PRODUCT"].texts, "thanks": text}, allow_unicode=True), None)
            versions.publish(session, versions.TEXTS, None, [])
            session.commit()
    down = create_app({"ENV": {**env, "REDIS_URL": "redis://127.0.0.1:1/0"}, "TESTING": True})
    client = down.test_client()
    client.post("/console/login", data={"name": "adi", "password": PASSWORD, "csrf_token": csrf(client, "/console/login")})
    history = "/console/admin/history/texts"
    with down.app_context():
        first = db.session().scalar(select(ConfigVersion.id).where(ConfigVersion.number == 1))
    response = client.post(f"{history}/rollback/{first}", data={"csrf_token": csrf(client, history)})
    assert response.status_code == 302
    with down.app_context():
        live_now = versions.latest(db.session(), versions.TEXTS, VersionStatus.PUBLISHED)
        assert yaml.safe_load(live_now.content)["thanks"] == "Sama-sama, versi satu."
    down.extensions["db"].dispose()


def test_the_original_file_version_can_be_rolled_back_to(app):
    client = logged_in(app)
    page = "/console/admin/texts"
    client.post(page, data={"text.thanks": "Sudah diubah.", "action": "publish", "csrf_token": csrf(client, page)})
    assert app.config["PRODUCT"].text("thanks") == "Sudah diubah."
    history = "/console/admin/history/texts"
    assert 'id="rollback-original"' in client.get(history).get_data(as_text=True)
    client.post(f"{history}/rollback/0", data={"csrf_token": csrf(client, history)})
    assert app.config["PRODUCT"].text("thanks").startswith("Sama-sama.")
    with app.app_context():
        note = versions.latest(db.session(), versions.TEXTS, VersionStatus.PUBLISHED).note
    assert note == "dikembalikan ke versi asli"


def test_with_twilio_credentials_placeholder_templates_stop_the_start(env):
    without = {k: v for k, v in env.items() if not k.startswith("TWILIO_CONTENT_SID_")}
    with pytest.raises(ConfigError, match="case_update, satisfaction"):
        create_app({"ENV": without, "TESTING": True})
    local = {k: v for k, v in without.items() if not k.startswith(("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"))}
    create_app({"ENV": local, "TESTING": True}).extensions["db"].dispose()  # local mode: the simulator's outbox
    sids = create_app({"ENV": env, "TESTING": True})
    assert sids.config["PRODUCT"].template("case_update").content_sid == env["TWILIO_CONTENT_SID_CASE_UPDATE"]
    sids.extensions["db"].dispose()


def settings_problems(app, change) -> list[str]:
    raw = yaml.safe_load(versions.base_content(versions.SETTINGS, app.config["SETTINGS"].product_config))
    change(raw)
    return versions.problems(versions.SETTINGS, yaml.safe_dump(raw, allow_unicode=True, sort_keys=False),
                             app.config["SETTINGS"].product_config, catalog())


@pytest.mark.parametrize("change, expected", [
    (lambda r: r["menu"][0]["keywords"].append(165), "menu nomor 1: 'keywords' harus berupa daftar kata"),
    (lambda r: r["menu"][0].update(keywords="nik"), "'keywords' harus berupa daftar kata"),
    (lambda r: r["menu"][0].update(intro=42), "'intro' harus berupa teks"),
    (lambda r: r["menu"][0].update(title="x" * 129), "'title' lebih dari 128 karakter"),
    (lambda r: r["keywords"].update(halo="layanan_baru"), "'halo' menuju 'layanan_baru', yang bukan layanan menu"),
], ids=["number-keyword", "keywords-string", "intro-number", "long-title", "keyword-target"])
def test_settings_the_bot_cannot_run_are_refused(app, change, expected):
    found = settings_problems(app, change)
    assert any(expected in problem for problem in found), found


def test_every_text_the_engine_may_send_is_required(app):
    texts = dict(app.config["PRODUCT"].texts)
    texts.pop("error_kk_length")
    texts.pop("photo_too_blurry")
    found = versions.problems(versions.TEXTS, yaml.safe_dump(texts, allow_unicode=True),
                              app.config["SETTINGS"].product_config, catalog())
    assert any("error_kk_length" in p and "photo_too_blurry" in p for p in found), found


@pytest.mark.parametrize("template", ["{nik:>999999999999}", "{nik:=^2000000000}", "{nik:>5000}"])
def test_huge_format_specs_are_refused_and_never_rendered(app, template):
    assert any("pakai {nik} saja" in p for p in flow_problems(app, lambda r: r["steps"]["nik"].update(ask=template)))
    assert render(template, {"nik": "1"}) == "1"


def test_messages_and_actions_going_round_are_refused(app):
    def loop(raw):
        raw["steps"]["done"]["next"] = "again"
        raw["steps"]["again"] = {"type": "message", "text": "Sekali lagi", "next": "done"}

    assert any("berputar terus tanpa pertanyaan" in p for p in flow_problems(app, loop))
