"""Admins edit flows: validation that points at the step and field, drafts, publish (live within
seconds, in-flight conversations keep their version), history with diffs and authors, rollback (also to
the original file), roles, audit; the form editor changes only the lines edited (comments and order kept)."""
from __future__ import annotations

import html
import time
from html.parser import HTMLParser

import pytest
import yaml
from sqlalchemy import func, select

from bot import create_app
from flows import versions
from flows.definition import DEFINITIONS
from handlers import phones
from handlers.catalog import catalog
from storage import db
from storage.models import OutboundMessage
from storage.staff import AuditLog
from tests.conftest import wait_for
from tests.helpers import STAFF_PASSWORD, add_staff, Chat, csrf, inbound_form, logged_in, post_signed, run_jobs


pytestmark = pytest.mark.one_backend  # one database is enough here


PASSWORD = STAFF_PASSWORD
NEW_NIK_QUESTION = "Mohon ketik NIK 16 angka yang tertera di KTP terbaru Anda."


@pytest.fixture
def app(env):
    app = create_app({"ENV": env, "TESTING": True})
    add_staff(app, ("adi", "admin"), ("ani", "agent"), ("sri", "supervisor"))
    yield app
    app.extensions["db"].dispose()


def edit(client, flow_id, action="publish", **fields):
    page = f"/console/admin/flows/{flow_id}"
    return client.post(page, data={**fields, "action": action, "csrf_token": csrf(client, page)}, follow_redirects=True)


BASE = (DEFINITIONS / "change_nik.yml").read_text()


def mutate(change) -> str:
    raw = yaml.safe_load(BASE)
    change(raw)
    return yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda r: r["steps"]["nik"].update(next="nowhere"), "langkah 'nik' menuju langkah 'nowhere' yang tidak ada"),
        (lambda r: r["steps"].update(orphan={"type": "message", "text": "hai"}),
         "langkah 'orphan' tidak bisa dicapai dari 'card_number'"),
        (lambda r: r["steps"]["nik"].pop("next"), "langkah 'nik': belum ada langkah berikutnya ('next')"),
        (lambda r: r["steps"]["nik"].update(ask=""), "langkah 'nik': teks 'ask' belum diisi"),
        (lambda r: r["steps"]["nik"].update(validator="nik_magic"),
         "langkah 'nik': validator 'nik_magic' tidak dikenal (pilihan: "),
        (lambda r: r["steps"].update(kind={"type": "choice", "ask": "Pilih", "next": "kk"}) or r["steps"]["ktp"].update(next="kind"),
         "langkah 'kind': langkah pilihan wajib punya 'options'"),
        (lambda r: r["steps"]["ktp"].update(ask="x" * 1601), "langkah 'ktp': 'ask' lebih dari 1600 karakter"),
        (lambda r: r["steps"]["ktp"].update(type="video"), "langkah 'ktp': 'type' harus salah satu dari: text, choice"),
        (lambda r: r.update(id="other"), "'id' harus tetap 'change_nik'"),
    ],
    ids=["unknown-step", "unreachable", "no-way-forward", "missing-text", "unknown-validator", "choice-without-options",
         "too-long", "unknown-type", "renamed"],
)
def test_validation_points_at_the_step_and_field(app, change, expected):
    found = versions.problems("flow:change_nik", mutate(change), app.config["SETTINGS"].product_config, catalog())
    assert any(expected in problem for problem in found), found


def test_the_repository_flows_are_valid(app):
    for kind in versions.kinds():
        text = versions.base_content(kind, app.config["SETTINGS"].product_config)
        assert versions.problems(kind, text, app.config["SETTINGS"].product_config, catalog()) == []


def test_only_admins_edit(app):
    for name in ("ani", "sri"):
        assert logged_in(app, name).get("/console/admin/flows/change_nik").status_code == 403
    assert app.test_client().get("/console/admin/").status_code == 302
    assert "Alur: change_nik" in logged_in(app).get("/console/admin/").get_data(as_text=True)


def test_an_invalid_edit_is_kept_as_a_draft_and_not_published(app):
    client = logged_in(app)
    page = edit(client, "change_nik", **{"nik.ask": "", "nik.validator": "nik"}).get_data(as_text=True)
    assert "Belum bisa diterbitkan" in page and "langkah &#39;nik&#39;: teks &#39;ask&#39; belum diisi" in page
    with app.app_context():
        assert versions.latest(db.session(), "flow:change_nik", "published") is None
        assert versions.latest(db.session(), "flow:change_nik", "draft") is not None


@pytest.mark.parametrize("steps", ["  1:\n    type: message\n    text: x\n", "  yes:\n    type: message\n    text: x\n",
                                   "  broken: just text\n"])
def test_a_draft_the_form_cannot_show_opens_as_yaml_not_as_an_error(app, steps):
    client = logged_in(app)
    text = BASE.replace("steps:\n", "steps:\n" + steps, 1)
    assert edit(client, "change_nik", action="draft", yaml=text).status_code == 200
    page = client.get("/console/admin/flows/change_nik")
    assert page.status_code == 200 and 'name="yaml"' in page.get_data(as_text=True)


def test_publish_reaches_new_conversations_while_one_in_flight_keeps_its_version(app, twilio):
    early, late = Chat(app, twilio, phone="+6281100000001"), Chat(app, twilio, phone="+6281100000002")
    early.say("1")  # started on the repository version, waiting for the card number
    client = logged_in(app)
    page = edit(client, "change_nik", **{"nik.ask": NEW_NIK_QUESTION, "note": "lebih jelas"}).get_data(as_text=True)
    assert "Versi 1 diterbitkan" in page
    time.sleep(1.1)  # processes look at the publish counter at most once a second
    assert "NIK yang benar" in early.last("0001234567890")  # the old question: same version to the end
    late.say("1")
    assert NEW_NIK_QUESTION in late.last("0001234567890")
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "config_publish")) == 1


def test_history_shows_the_diff_and_rollback_restores_the_old_text(app, twilio):
    client = logged_in(app)
    edit(client, "change_nik", **{"nik.ask": NEW_NIK_QUESTION})
    edit(client, "change_nik", **{"nik.ask": "Ketik NIK (versi dua)."})
    history = html.unescape(client.get("/console/admin/history/flow:change_nik").get_data(as_text=True))
    assert "Versi 2" in history and '+    ask: "Ketik NIK (versi dua)."' in history
    with app.app_context():
        first = [v for v in versions.history(db.session(), "flow:change_nik") if v.number == 1][0]
    client.post(f"/console/admin/history/flow:change_nik/rollback/{first.id}",
                data={"csrf_token": csrf(client, "/console/admin/history/flow:change_nik")})
    time.sleep(1.1)
    chat = Chat(app, twilio)
    chat.say("1")
    assert NEW_NIK_QUESTION in chat.last("0001234567890")
    with app.app_context():
        live_version = versions.latest(db.session(), "flow:change_nik", "published")
        assert live_version.number == 3 and "dikembalikan ke versi 1" in live_version.note


def test_adding_a_document_step_in_the_form(app, twilio):
    client = logged_in(app)
    page = edit(client, "change_nik", new_id="buku_nikah", new_type="photo", new_after="kk",
                new_ask="Kirim foto buku nikah (untuk istri/suami).", new_document="buku_nikah").get_data(as_text=True)
    assert "diterbitkan" in page
    with app.app_context():
        text = versions.latest(db.session(), "flow:change_nik", "published").content
    raw = yaml.safe_load(text)
    assert raw["steps"]["kk"]["next"] == "buku_nikah" and raw["steps"]["buku_nikah"]["next"] == "route"


def test_a_running_worker_picks_up_a_publish_without_restart(app, twilio, workers):
    workers.start(1, "--no-sweeper")
    chat = Chat(app, twilio, phone="+6281100000009")
    mine = lambda: [m["Body"] for m in twilio.messages if m["To"] == "whatsapp:+6281100000009"]  # noqa: E731
    chat.send("1", run=False)
    wait_for(lambda: len(mine()) == 1, timeout=30, message=lambda: workers.logs())
    edit(logged_in(app), "change_nik", **{"card_number.ask": "Ketik nomor kartu (versi baru)."})
    other = Chat(app, twilio, phone="+6281100000010")
    other.send("1", run=False)
    got = wait_for(lambda: [m["Body"] for m in twilio.messages if m["To"] == "whatsapp:+6281100000010"],
                   timeout=30, message=lambda: workers.logs())
    assert "versi baru" in got[0]


def test_a_preview_of_a_broken_draft_is_answered_with_the_published_version(env, twilio):
    """The simulator's numbers (an admin's draft preview) get drafts; a broken draft answers with what is live."""
    app = create_app({"ENV": env, "TESTING": True})
    with app.app_context():
        session = db.session()
        broken = versions.base_content("flow:change_nik", app.config["SETTINGS"].product_config).replace(
            "validator: nik\n", "validator: nik_magic\n")
        versions.save_draft(session, "flow:change_nik", broken, None)
        session.commit()
    form = inbound_form(phone=phones.simulator_number(), body="1", PandawaPreview="1")
    assert post_signed(app.test_client(), app, "/whatsapp/inbound", form).status_code == 200
    run_jobs(app)
    with app.app_context():
        [reply] = db.session().scalars(select(OutboundMessage.body)).all()
    assert "nomor kartu JKN-KIS" in reply and twilio.messages == []  # not silence; and it stayed local
    app.extensions["db"].dispose()


def test_rollback_to_a_version_that_no_longer_fits_is_refused(app):
    client = logged_in(app)
    edit(client, "change_nik", **{"nik.ask": NEW_NIK_QUESTION})
    with app.app_context():
        session = db.session()
        first = versions.latest(session, "flow:change_nik", "published")
        first.content = first.content.replace("validator: nik\n", "validator: retired_validator\n")  # the code moved on
        edit_again = versions.save_draft(session, "flow:change_nik", versions.base_content(
            "flow:change_nik", app.config["SETTINGS"].product_config), None)
        versions.publish(session, "flow:change_nik", None, [])
        session.commit()
        first_id, live_number = first.id, edit_again.number
    page = client.post(f"/console/admin/history/flow:change_nik/rollback/{first_id}",
                       data={"csrf_token": csrf(client, "/console/admin/history/flow:change_nik")},
                       follow_redirects=True).get_data(as_text=True)
    assert "retired_validator" in page
    with app.app_context():
        assert versions.latest(db.session(), "flow:change_nik", "published").number == live_number


def test_texts_published_by_an_older_release_still_run_after_an_upgrade(app):
    """An admin published the texts before this release added some and retired others: the new ones come
    from config.yml, the retired ones (which could no longer be checked) are left out, edits are kept."""
    config_path = app.config["SETTINGS"].product_config
    old = yaml.safe_load(versions.base_content(versions.TEXTS, config_path))
    old.pop("switch_offer")  # added by this release
    old["erasure_approved"] = "Data Anda (tiket {ticket}) dihapus."  # retired by it
    old["thanks"] = "Sama-sama, Bu/Pak."  # an admin's own words
    with app.app_context():
        session = db.session()
        versions.save_draft(session, versions.TEXTS, yaml.safe_dump(old, allow_unicode=True), None)
        versions.publish(session, versions.TEXTS, None, [])
        session.commit()
        product, _ = versions.compose(session, config_path, catalog())
    assert product.text("thanks") == "Sama-sama, Bu/Pak."
    assert "Pindah ke layanan" in product.text("switch_offer", title="A", current="B")
    assert "erasure_approved" not in product.texts


# -- the form editor keeps the YAML as written ---------------------------------------------------------
class FormReader(HTMLParser):
    """What a browser posts from the flow form: every named input, textarea and selected option (a
    checkbox only when ticked)."""

    def __init__(self):
        super().__init__()
        self.fields: dict[str, str] = {}
        self.in_form, self.textarea, self.select = False, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == "flow-form":
            self.in_form = True
        if not self.in_form:
            return
        if tag == "input" and a.get("name") and a.get("type") not in ("checkbox", "hidden"):
            self.fields[a["name"]] = a.get("value") or ""
        elif tag == "textarea":
            self.textarea = a["name"]
            self.fields[self.textarea] = ""
        elif tag == "select":
            self.select = a["name"]
        elif tag == "option" and self.select and (self.select not in self.fields or "selected" in a):
            self.fields[self.select] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "textarea":
            self.textarea = None
        elif tag == "select":
            self.select = None
        elif tag == "form":
            self.in_form = False

    def handle_data(self, data):
        if self.textarea:
            self.fields[self.textarea] += data


def form_of(client, flow_id: str) -> dict[str, str]:
    reader = FormReader()
    reader.feed(client.get(f"/console/admin/flows/{flow_id}").get_data(as_text=True))
    assert reader.fields, "the flow form"
    return reader.fields


def post_form(client, flow_id: str, fields: dict, action: str = "publish", **extra):
    page = f"/console/admin/flows/{flow_id}"
    data = {**fields, **extra, "action": action, "csrf_token": csrf(client, page)}
    return client.post(page, data=data, follow_redirects=True)


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    lines = versions.diff(before, after).splitlines()[2:]  # without the ---/+++ header
    return [x for x in lines if x.startswith("-")], [x for x in lines if x.startswith("+")]


def published(app, flow_id: str) -> str:
    with app.app_context():
        return versions.latest(db.session(), f"flow:{flow_id}", "published").content


@pytest.mark.parametrize("flow_id", sorted(path.stem for path in DEFINITIONS.glob("*.yml")))
def test_the_whole_form_posted_unchanged_changes_nothing(app, flow_id):
    client = logged_in(app)
    post_form(client, flow_id, form_of(client, flow_id), action="draft")
    with app.app_context():
        draft = versions.latest(db.session(), f"flow:{flow_id}", "draft").content
    assert draft == (DEFINITIONS / f"{flow_id}.yml").read_text(encoding="utf-8")


def test_a_one_line_edit_in_the_form_is_one_changed_line_and_keeps_the_comments(app):
    client = logged_in(app)
    fields = form_of(client, "change_nik")
    assert fields["nik.ask"] == "Ketik *NIK yang benar* sesuai KTP/KK (16 angka)."
    fields["nik.ask"] = "Ketik *NIK baru* sesuai KTP/KK (16 angka), tanpa spasi."
    page = post_form(client, "change_nik", fields, note="lebih jelas").get_data(as_text=True)
    assert "Versi 1 diterbitkan" in page
    text = published(app, "change_nik")
    removed, added = changed_lines(BASE, text)
    assert removed == ['-    ask: "Ketik *NIK yang benar* sesuai KTP/KK (16 angka)."']
    assert added == ['+    ask: "Ketik *NIK baru* sesuai KTP/KK (16 angka), tanpa spasi."']
    assert text.startswith("# Ubah / perbaiki NIK: the card shows an empty NIK")
    history = client.get("/console/admin/history/flow:change_nik").get_data(as_text=True)
    assert history.count('<span class="line add">') == 1 and history.count('<span class="line del">') == 1


def test_an_option_and_an_outcome_edited_in_the_form_are_one_line_each(app):
    client = logged_in(app)
    fields = form_of(client, "complaint")
    fields["category.options"] = fields["category.options"].replace("Sikap petugas", "Sikap atau perilaku petugas")
    post_form(client, "complaint", fields)
    removed, added = changed_lines((DEFINITIONS / "complaint.yml").read_text(), published(app, "complaint"))
    assert removed == ['-      - {value: staff, title: "Sikap petugas"}']
    assert added == ['+      - {value: staff, title: "Sikap atau perilaku petugas"}']

    fields = form_of(client, "change_nik")
    fields["check.outcome.same_value"] = "nik"
    fields["same_nik.next"] = "card_number"
    post_form(client, "change_nik", fields, action="draft")
    with app.app_context():
        draft = versions.latest(db.session(), "flow:change_nik", "draft").content
    removed, added = changed_lines(BASE, draft)
    assert removed == ["-      same_value: same_nik", "-    next: nik"]
    assert added == ["+      same_value: nik", "+    next: card_number"]


def test_removing_a_step_is_done_only_when_ticked_and_its_way_is_kept(app):
    client = logged_in(app)
    post_form(client, "change_nik", form_of(client, "change_nik"), action="draft")  # nothing ticked
    with app.app_context():
        assert versions.latest(db.session(), "flow:change_nik", "draft").content == BASE
    post_form(client, "change_nik", form_of(client, "change_nik"), remove="ktp")
    raw = yaml.safe_load(published(app, "change_nik"))
    assert "ktp" not in raw["steps"] and raw["steps"]["check"]["outcomes"]["ok"] == "kk"
    assert published(app, "change_nik").startswith("# Ubah / perbaiki NIK")
    page = post_form(client, "change_nik", form_of(client, "change_nik"), remove="card_number")
    assert "tidak bisa dihapus" in page.get_data(as_text=True)


def test_a_new_step_s_names_are_read_back_as_written(app):
    client = logged_in(app)
    page = post_form(client, "change_nik", form_of(client, "change_nik"), new_id="no", new_after="kk",
                     new_type="photo").get_data(as_text=True)
    assert "bukan yes/no/on/off" in html.unescape(page)  # PyYAML would read the step name "no" as false
    post_form(client, "change_nik", form_of(client, "change_nik"), new_id="buku_nikah", new_after="kk",
              new_type="photo", new_document="on", new_ask="Kirim foto buku nikah: halaman pertama.")
    raw = yaml.safe_load(published(app, "change_nik"))
    assert raw["steps"]["buku_nikah"]["document"] == "on"
    assert raw["steps"]["buku_nikah"]["ask"] == "Kirim foto buku nikah: halaman pertama."
    assert list(raw["steps"]).index("buku_nikah") == list(raw["steps"]).index("kk") + 1


def test_history_names_the_author_in_indonesian_and_the_original_comes_back(app):
    client = logged_in(app)
    edit(client, "change_nik", **{"nik.ask": NEW_NIK_QUESTION})
    edit(client, "change_nik", action="draft", **{"nik.ask": "Ketik NIK (draf)."})
    history = client.get("/console/admin/history/flow:change_nik").get_data(as_text=True)
    assert history.count("oleh <strong>adi</strong>") == 2
    assert '<span class="badge status draft">draf</span>' in history
    assert '<span class="badge status published">berlaku</span>' in history
    assert ">published<" not in history and ">superseded<" not in history
    page = "/console/admin/history/flow:change_nik"
    client.post(f"{page}/rollback/0", data={"csrf_token": csrf(client, page)})
    assert published(app, "change_nik") == BASE
    history = client.get(page).get_data(as_text=True)
    assert '<span class="badge status superseded">digantikan</span>' in history
    with app.app_context():
        assert versions.latest(db.session(), "flow:change_nik", "published").note == "dikembalikan ke versi asli"
