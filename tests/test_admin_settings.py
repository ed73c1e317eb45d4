"""Admins edit the bot texts, working hours / holidays / menu (drafts, validation, publish that reaches
new conversations) and the decree table; agents and supervisors may not; every change is audited."""
from __future__ import annotations

import json
import re
from datetime import date, time
from html import unescape

import pytest
import yaml
from sqlalchemy import func, select

from bot import create_app
from storage import db
from storage.config_versions import ConfigVersion, VersionStatus
from storage.membership import Decree
from storage.staff import AuditLog
from tests.helpers import STAFF_PASSWORD, add_staff, Chat, csrf, logged_in


pytestmark = pytest.mark.one_backend  # one database is enough here


PASSWORD = STAFF_PASSWORD
TEXTS, SETTINGS, DECREES = "/console/admin/texts", "/console/admin/settings", "/console/admin/decrees"


@pytest.fixture
def app(env):
    app = create_app({"ENV": env, "TESTING": True})
    add_staff(app, ("ani", "agent"), ("sri", "supervisor"), ("adi", "admin"))
    yield app
    app.extensions["db"].dispose()


def form_of(client, path) -> dict[str, str]:
    """The fields of the page's editor form as a browser would post them (checked boxes only)."""
    html = client.get(path).get_data(as_text=True)
    form = html[html.index('<form method="post" action="' + path):]
    form = form[:form.index("</form>")]
    fields = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and ('type="checkbox"' not in tag or " checked" in tag):
            fields[name.group(1)] = unescape(value.group(1)) if value else ""
    for name, value in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>\n?(.*?)</textarea>', form, re.S):
        fields[name] = unescape(value)
    return fields


def submit(client, path, action="draft", **changes):
    data = {**form_of(client, path), **changes, "action": action}
    return client.post(path, data=data)


def audit_rows(app, prefix: str) -> list[AuditLog]:
    with app.app_context():
        query = select(AuditLog).where(AuditLog.action.startswith(prefix)).order_by(AuditLog.id)
        return list(db.session().scalars(query))


@pytest.mark.parametrize("path", [TEXTS, SETTINGS, DECREES, TEXTS + "?raw=1", SETTINGS + "?raw=1"])
def test_only_admins_may_open_the_admin_pages(app, path):
    assert app.test_client().get(path).status_code == 302  # to the login page
    for name in ("ani", "sri"):
        assert logged_in(app, name).get(path).status_code == 403
    assert logged_in(app).get(path).status_code == 200


def test_agents_cannot_post_to_the_admin_pages(app):
    client = logged_in(app, "sri")
    token = csrf(client, "/console/")
    assert client.post(TEXTS, data={"csrf_token": token, "yaml": "greeting: x"}).status_code == 403
    assert client.post(DECREES, data={"csrf_token": token, "number": "1/HUK/2026"}).status_code == 403
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(ConfigVersion)) == 0


def test_a_text_over_1600_characters_is_shown_next_to_it_and_not_published(app):
    client = logged_in(app)
    page = client.get(TEXTS).get_data(as_text=True)
    assert 'for="text-menu_intro">menu_intro</label>' in page and "/1600" in page
    response = submit(client, TEXTS, "publish", **{"text.thanks": "x" * 1601})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Tidak diterbitkan" in html
    assert re.search(r'<ul class="problems".*1600 karakter \(batas WhatsApp\): thanks', html, re.S)
    field = html[html.index('data-key="thanks"'):]
    assert "1601/1600" in field[:3000] and 'class="field-problem"' in field[:3000]
    with app.app_context():
        versions = db.session().scalars(select(ConfigVersion)).all()
    assert [(v.kind, v.status) for v in versions] == [("texts", VersionStatus.DRAFT)]  # kept as a draft only
    assert [r.detail for r in audit_rows(app, "config_")] == ["texts v1"]


def test_a_missing_required_text_and_an_unknown_placeholder_are_problems(app):
    client = logged_in(app)
    html = submit(client, TEXTS, "draft", **{"text.greeting": "   "}).get_data(as_text=True)
    assert "texts belum diisi: greeting" in html
    raw = yaml.safe_load(form_of(client, TEXTS + "?raw=1")["yaml"])
    raw.pop("menu_footer")
    raw["reminder"] = "Kami menunggu {nama}"
    token = csrf(client, TEXTS + "?raw=1")
    html = client.post(TEXTS + "?raw=1", data={"csrf_token": token, "action": "publish",
                                               "yaml": yaml.safe_dump(raw, allow_unicode=True)}).get_data(as_text=True)
    assert "Tidak diterbitkan" in html and "menu_footer" in html
    assert "memakai {nama}, yang tidak diisi bot di sini (yang tersedia: {title}" in html
    bad_yaml = client.post(TEXTS + "?raw=1", data={"csrf_token": token, "action": "publish", "yaml": "greeting: [x"})
    assert "texts: YAML tidak terbaca di baris 1" in bad_yaml.get_data(as_text=True)
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(ConfigVersion)
                                   .where(ConfigVersion.status == VersionStatus.PUBLISHED)) == 0


def test_publishing_a_text_reaches_a_new_conversation(app, twilio):
    client = logged_in(app)
    response = submit(client, TEXTS, "publish", **{"text.greeting": "Selamat datang{name} di PANDAWA versi baru."})
    assert response.status_code == 302
    assert "Versi 1 diterbitkan" in client.get(TEXTS).get_data(as_text=True)
    assert [r.detail for r in audit_rows(app, "config_")] == ["texts v1", "texts v1"]
    assert [r.action for r in audit_rows(app, "config_")] == ["config_draft", "config_publish"]
    reply = Chat(app, twilio, phone="+6281300001111", name="Pak Dodi").say("halo")
    assert reply and reply[0].startswith("Selamat datang Pak Dodi di PANDAWA versi baru.")

    submit(client, TEXTS, "draft", **{"text.greeting": "Draf{name} yang belum terbit."})
    reply = Chat(app, twilio, phone="+6281300002222").say("halo")
    assert "versi baru" in reply[0] and "belum terbit" not in reply[0]  # a draft is not live


def test_a_bad_holiday_line_is_reported_by_its_line_number(app):
    client = logged_in(app)
    html = submit(client, SETTINGS, "publish", holidays="2026-12-25\n\n2026-13-01\n2026-08-17").get_data(as_text=True)
    assert "working_hours.holidays baris 3: &#39;2026-13-01&#39; bukan tanggal" in html
    field = html[html.index('id="holidays"'):]
    assert 'class="field-problem"' in field[:600]  # next to the text area, too
    assert "2026-13-01" in form_of(client, SETTINGS)["holidays"]  # kept in the draft, to fix
    html = submit(client, SETTINGS, "publish", holidays="2026-12-25\n2026-08-17", start="16:00", end="15:00")
    html = html.get_data(as_text=True)
    assert "jam mulai harus sebelum jam selesai" in html
    assert submit(client, SETTINGS, "publish", holidays="2026-12-25\n2026-08-17", start="08:00").status_code == 302
    with app.app_context():
        assert app.config["PRODUCT"].raw["working_hours"]["holidays"] == ["2026-12-25", "2026-08-17"]
    assert [r.detail for r in audit_rows(app, "config_publish")] == ["settings v1"]


def test_quiet_hours_are_edited_in_the_form_and_bad_ones_are_refused(app):
    client = logged_in(app)
    fields = form_of(client, SETTINGS)
    assert (fields["quiet_start"], fields["quiet_end"]) == ("21:00", "07:00")  # config.yml's
    html = submit(client, SETTINGS, "publish", quiet_start="22:00", quiet_end="22:00").get_data(as_text=True)
    assert "quiet_hours: jam mulai dan selesai harus berbeda" in html
    html = submit(client, SETTINGS, "publish", quiet_start="25:00", quiet_end="07:00").get_data(as_text=True)
    assert "quiet_hours.start: &#39;25:00&#39; bukan jam" in html
    assert 'class="field-problem"' in html[html.index('id="quiet_end"'):][:600]  # next to the fields, too
    html = submit(client, SETTINGS, "publish", quiet_start="21:00", quiet_end="").get_data(as_text=True)
    assert "quiet_hours.end: &#39;&#39; bukan jam" in html
    raw = yaml.safe_load(form_of(client, SETTINGS + "?raw=1")["yaml"])
    raw["quiet_hours"] = "21:00-07:00"
    html = client.post(SETTINGS + "?raw=1", data={"csrf_token": csrf(client, SETTINGS), "action": "publish",
                                                  "yaml": yaml.safe_dump(raw)}).get_data(as_text=True)
    assert "quiet_hours harus berisi tepat &#39;start&#39; dan &#39;end&#39;" in html
    with app.app_context():
        quiet = app.config["PRODUCT"].quiet_hours
        assert (quiet.start, quiet.end) == (time(21), time(7))  # nothing of that went live
    assert not audit_rows(app, "config_publish")

    assert submit(client, SETTINGS, "publish", quiet_start="22:30", quiet_end="06:00").status_code == 302
    with app.app_context():
        quiet = app.config["PRODUCT"].quiet_hours
        assert (quiet.start, quiet.end) == (time(22, 30), time(6))
    assert submit(client, SETTINGS, "publish", quiet_start="", quiet_end="").status_code == 302  # none
    with app.app_context():
        assert app.config["PRODUCT"].quiet_hours is None
    assert (form_of(client, SETTINGS)["quiet_start"], form_of(client, SETTINGS)["quiet_end"]) == ("", "")


def test_working_days_and_timezone_are_validated(app):
    client = logged_in(app)
    fields = {k: v for k, v in form_of(client, SETTINGS).items() if not k.startswith("day.")}
    response = client.post(SETTINGS, data={**fields, "action": "publish", "timezone": "Asia/Bandung"})
    html = response.get_data(as_text=True)
    assert "tidak ada hari kerja" in html and "&#39;Asia/Bandung&#39; bukan zona waktu yang dikenal" in html


def test_reordering_the_menu_changes_the_numbered_menu(app, twilio):
    client = logged_in(app)
    fields = form_of(client, SETTINGS)
    titles = {fields[f"menu.{i}.title"]: i for i in range(6)}
    complaint = titles["Pengaduan layanan"]
    changes = {f"menu.{complaint}.position": "1", f"menu.{complaint}.title": "Pengaduan"}
    changes.update({f"menu.{i}.position": str(i + 2) for i in range(6) if i != complaint})
    assert submit(client, SETTINGS, "publish", **changes).status_code == 302
    reply = Chat(app, twilio, phone="+6281300003333").say("menu")
    text = "\n".join(reply)
    assert "*1*. Pengaduan\n*2*. Ubah / perbaiki NIK" in text
    assert text.index("*1*. Pengaduan") < text.index("Cek status kepesertaan")

    html = submit(client, SETTINGS, "draft", **{"menu.0.position": "satu"}).get_data(as_text=True)
    assert "urutan menu &#39;complaint&#39; harus bilangan bulat mulai dari 1" in html


def test_raw_settings_must_keep_services_that_have_flows(app):
    client = logged_in(app)
    raw = yaml.safe_load(form_of(client, SETTINGS + "?raw=1")["yaml"])
    raw["menu"].append({"id": "pindah_faskes", "title": "Pindah faskes"})
    raw["sla_hours"]["default"] = "delapan"
    html = client.post(SETTINGS + "?raw=1", data={"csrf_token": csrf(client, SETTINGS), "action": "publish",
                                                  "yaml": yaml.safe_dump(raw)}).get_data(as_text=True)
    assert "layanan menu &#39;pindah_faskes&#39; belum punya alur" in html
    assert "sla_hours.default harus berupa jumlah jam lebih dari 0" in html


def decree_post(client, path=DECREES, **data):
    return client.post(path, data={"csrf_token": csrf(client, DECREES), **data})


def test_decrees_add_edit_delete_with_validation_and_audit(app):
    client = logged_in(app)
    added = decree_post(client, number="7/HUK/2026", deactivated_on="2026-03-01", reactivation_deadline="2026-09-01")
    assert added.status_code == 302
    assert "SK 7/HUK/2026 ditambahkan." in client.get(DECREES).get_data(as_text=True)

    twice = decree_post(client, number="7/HUK/2026", deactivated_on="2026-04-01", reactivation_deadline="2026-10-01")
    assert twice.status_code == 400 and "sudah ada" in twice.get_data(as_text=True)
    backwards = decree_post(client, number="8/HUK/2026", deactivated_on="2026-04-01",
                            reactivation_deadline="2026-04-01")
    assert backwards.status_code == 400 and "harus setelah" in backwards.get_data(as_text=True)
    not_a_date = decree_post(client, number="8/HUK/2026", deactivated_on="1 April", reactivation_deadline="2026-10-01")
    assert not_a_date.status_code == 400 and "YYYY-MM-DD" in not_a_date.get_data(as_text=True)

    with app.app_context():
        decree_id = db.session().scalar(select(Decree.id).where(Decree.number == "7/HUK/2026"))
    assert 'value="7/HUK/2026"' in client.get(f"{DECREES}?edit={decree_id}").get_data(as_text=True)
    bad_edit = decree_post(client, f"{DECREES}/{decree_id}", number="7/HUK/2026", deactivated_on="2026-03-01",
                           reactivation_deadline="2026-02-01")
    assert bad_edit.status_code == 400
    edited = decree_post(client, f"{DECREES}/{decree_id}", number="7/HUK/2026", deactivated_on="2026-03-01",
                         reactivation_deadline="2026-09-30")
    assert edited.status_code == 302
    with app.app_context():
        assert db.session().get(Decree, decree_id).reactivation_deadline == date(2026, 9, 30)
    assert decree_post(client, f"{DECREES}/{decree_id}/delete").status_code == 302
    with app.app_context():
        assert db.session().get(Decree, decree_id) is None

    rows = audit_rows(app, "decree_")
    assert [r.action for r in rows] == ["decree_add", "decree_edit", "decree_delete"]
    details = [json.loads(r.detail) for r in rows]
    assert details[0] == {"before": None, "after": {"number": "7/HUK/2026", "deactivated_on": "2026-03-01",
                                                    "reactivation_deadline": "2026-09-01"}}
    assert details[1]["before"]["reactivation_deadline"] == "2026-09-01"
    assert details[1]["after"]["reactivation_deadline"] == "2026-09-30"
    assert details[2]["after"] is None and details[2]["before"]["number"] == "7/HUK/2026"
    assert all(r.staff_id is not None and r.case_id is None for r in rows)


def test_a_complaint_s_own_decision_words_are_offered_checked_and_published(app):
    client = logged_in(app)
    page = client.get(TEXTS).get_data(as_text=True)
    for key in ("decision_approved_complaint", "case_update_approved_complaint", "promise_due"):
        assert f'for="text-{key}">{key}</label>' in page
    refused = submit(client, TEXTS, "publish", **{"text.decision_approved_complaint": "Tiket {ticket}: {reason}"})
    html = refused.get_data(as_text=True)
    assert "Tidak diterbitkan" in html and "decision_approved_complaint memakai {reason}" in html  # not filled here
    edited = "Pengaduan {ticket} sudah kami tindak lanjuti. {note}"
    assert submit(client, TEXTS, "publish", **{"text.decision_approved_complaint": edited}).status_code == 302
    client.get(TEXTS)  # the next request loads what was published
    product = app.config["PRODUCT"]
    assert product.service_text("decision_approved", "complaint", ticket="PDW-1", title="x", note="Obat diganti.") \
        == "Pengaduan PDW-1 sudah kami tindak lanjuti. Obat diganti."
