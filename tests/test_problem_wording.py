"""Every problem an admin reads in the console is in Indonesian: deliberately broken flows, texts and
settings are posted through the editors' YAML view, and the problems the page shows carry no common
English words (the names they point at — steps, YAML keys, values — stay as written)."""
from __future__ import annotations

import re
from html import unescape

import pytest
import yaml

from bot import create_app
from flows import versions, yaml_edit
from flows.definition import DEFINITIONS
from storage import db
from tests.helpers import add_staff, csrf, logged_in


pytestmark = pytest.mark.one_backend  # one database is enough here


ENGLISH = re.compile(r"\b(must|unknown|missing|needs|never|is not|longer than|goes to|cannot|does not|which|"
                     r"available|empty|twice|line|entry|expected|should|found)\b", re.I)
PROBLEMS = re.compile(r'class="[^"]*problems[^"]*"[^>]*>(.*?)</(?:ul|div)>', re.S)
BASE = (DEFINITIONS / "change_nik.yml").read_text()


@pytest.fixture
def app(env):
    app = create_app({"ENV": env, "TESTING": True})
    add_staff(app, ("adi", "admin"))
    yield app
    app.extensions["db"].dispose()


def flow(change) -> str:
    raw = yaml.safe_load(BASE)
    change(raw)
    return yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)


def broken_steps(raw):
    steps = raw["steps"]
    steps["nik"].update(ask="", validator="nik_magic", label="x" * 41, optional="ya", errors=["salah"],
                        save_as="Nama Baru")
    steps["nik"].pop("next")
    steps["ktp"].update(document="KTP Asli", accept=["video"], ask="x" * 1601)
    steps["submit"]["outcomes"] = {"made": "done"}
    steps["kind"] = {"type": "choice", "ask": "Pilih", "next": "kk"}
    steps["kembar"] = {"type": "choice", "ask": "Pilih", "next": "kk",
                      "options": [{"value": "a", "title": "A"}, {"value": "a", "title": "B"}]}
    steps["half"] = {"type": "choice", "ask": "Pilih", "next": "kk", "options": [{"value": "a"}]}
    steps["snap"] = {"type": "photo", "ask": "Foto", "next": "kk"}
    steps["act"] = {"type": "action", "handler": "nope"}
    steps["Bad Step"] = {"type": "message", "text": "hai"}
    steps["video"] = {"type": "video"}


def broken_graph(raw):
    raw["steps"]["nik"]["next"] = "nowhere"
    raw["steps"]["orphan"] = {"type": "message", "text": "hai"}


def broken_texts(raw):
    steps = raw["steps"]
    steps["done"]["next"] = "again"
    steps["again"] = {"type": "message", "text": "Sekali lagi", "next": "done"}
    steps["nik"]["ask"] = "Ketik {x.y} {nik!r} {nik:>5000} {nama_peserta}"
    steps["kk"]["ask"] = "Ketik {card_number"
    steps["nik"]["errors"] = {"nik_length": 42}
    raw.setdefault("texts", {}).update(cancel_confirm="Batal {judul}?")
    raw["texts"]["resume_prompt"] = ["bukan", "teks"]


FLOWS = [
    flow(broken_steps), flow(broken_graph), flow(broken_texts), flow(lambda r: r.update(start="ghost")),
    flow(lambda r: r.update(id="other")), flow(lambda r: r.update(steps=["a"])), flow(lambda r: r.pop("title")),
    flow(lambda r: r.update(texts=["a"])), "steps: [x", "steps:\n\tnik: 1\n", "- a\n",
]


def broken_settings(raw):
    hours = raw["working_hours"]
    hours.update(timezone="Asia/Bandung", start="8 pagi", holidays=["2026-12-25", "2026-13-01", "kemarin"])
    raw["sla_hours"] = {"default": "delapan", "change_nik": -1}
    raw["menu"] += [dict(raw["menu"][0]), {"id": "pindah_faskes", "title": "Pindah faskes"}, {"id": "x"},
                    {"id": "y", "title": "x" * 129, "intro": 42, "keywords": "nik"}]
    raw["keywords"] = {"halo": "layanan_baru"}
    raw["reject_reasons"] = {"Bad Code": "Alasan"}
    raw["field_labels"] = ["nik"]


def broken_texts_doc(texts):
    texts.update(greeting="", thanks="x" * 1601, case_update_rejected="ditolak\nmaaf", reminder="Halo {nama}",
                 menu_footer="{x.y}", resume_prompt=42, menu_intro="{menu")
    texts["old_note"] = " "


def post_raw(client, path: str, text: str) -> list[str]:
    token = csrf(client, path)
    page = client.post(path + "?raw=1", data={"csrf_token": token, "action": "publish", "yaml": text})
    html = page.get_data(as_text=True)
    return [unescape(re.sub(r"<[^>]+>", "", item)).strip()
            for block in PROBLEMS.findall(html) for item in re.findall(r"<li>(.*?)</li>", block, re.S)]


def test_every_problem_an_admin_reads_is_in_indonesian(app):
    client = logged_in(app)
    shown: list[str] = []
    for text in FLOWS:
        found = post_raw(client, "/console/admin/flows/change_nik", text)
        assert found, text  # every broken flow is refused, with its problems on the page
        shown += found
    settings = yaml.safe_load(versions.base_content(versions.SETTINGS, app.config["SETTINGS"].product_config))
    broken_settings(settings)
    texts = dict(app.config["PRODUCT"].texts)
    broken_texts_doc(texts)
    for path, text in [("/console/admin/settings", yaml.safe_dump(settings, allow_unicode=True)),
                       ("/console/admin/settings", yaml.safe_dump({"working_hours": "senin", "menu": "x"})),
                       ("/console/admin/texts", yaml.safe_dump(texts, allow_unicode=True)),
                       ("/console/admin/texts", "greeting: [x"), ("/console/admin/texts", "- a\n")]:
        found = post_raw(client, path, text)
        assert found, text
        shown += found
    with app.app_context():
        with pytest.raises(versions.VersionError) as no_draft:
            untouched = next(f for f in versions.flow_ids() if f != "change_nik")
            versions.publish(db.session(), versions.flow_kind(untouched), None, [])
        shown += no_draft.value.problems
    for text in ("steps: [x", "- a\n"):
        with pytest.raises(yaml_edit.EditError) as refused:
            yaml_edit.load(text)
        shown.append(str(refused.value))

    assert len(shown) >= 60, shown
    english = [p for p in shown if ENGLISH.search(p)]
    assert not english, "\n".join(english)
    # The names stay precise: the flow, the step, the field, the line and the value.
    assert "change_nik: langkah 'nik': validator 'nik_magic' tidak dikenal (pilihan: " in "\n".join(shown)
    assert "settings: working_hours.holidays nomor 2: '2026-13-01' bukan tanggal (YYYY-MM-DD)" in shown
    assert "change_nik: YAML tidak terbaca di baris 2, kolom 1 (jangan pakai tab; pakai spasi)" in shown
