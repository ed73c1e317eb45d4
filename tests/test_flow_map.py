"""The flow editor's map and plain labels: every way on of every shipped flow (next, on_no, each outcome
of an action) is drawn as an arrow between boxes that link to their step's part of the form, boxes do not
overlap, loops are drawn as ways back, and every name the catalog knows has an Indonesian label."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import yaml

from bot import create_app
from flows import flow_labels, flow_map
from flows.definition import DEFINITIONS, STEP_TYPES
from handlers.catalog import catalog
from tests.helpers import add_staff, logged_in


pytestmark = pytest.mark.one_backend  # one database is enough here


SHIPPED = sorted(path.stem for path in DEFINITIONS.glob("*.yml"))


def shipped(flow_id: str) -> dict:
    return yaml.safe_load((DEFINITIONS / f"{flow_id}.yml").read_text(encoding="utf-8"))


def expected_edges(raw: dict) -> set[tuple[str, str, str]]:
    """Read straight from the YAML, independently of flows.flow_map."""
    edges = set()
    for step_id, step in raw["steps"].items():
        for key in ("next", "on_no"):
            if step.get(key):
                edges.add((step_id, step[key], key))
        for outcome, target in (step.get("outcomes") or {}).items():
            edges.add((step_id, target, f"outcome:{outcome}"))
    return edges


class MapReader(HTMLParser):
    """The arrows (<g class="edge">), boxes (<a class="box">) and form parts (<details id="step-…">) of a page."""

    def __init__(self):
        super().__init__()
        self.edges, self.boxes, self.parts = set(), {}, set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "g" and "edge" in a.get("class", "").split():
            self.edges |= {(a["data-from"], a["data-to"], key) for key in a["data-keys"].split()}
        if tag == "a" and "box" in a.get("class", "").split():
            self.boxes[a["data-step"]] = a["href"]
        if tag == "details" and a.get("id", "").startswith("step-"):
            self.parts.add(a["id"][5:])


@pytest.fixture
def app(env):
    app = create_app({"ENV": env, "TESTING": True})
    add_staff(app, ("adi", "admin"))
    yield app
    app.extensions["db"].dispose()


@pytest.mark.parametrize("flow_id", SHIPPED)
def test_every_way_of_every_shipped_flow_is_an_arrow(flow_id):
    raw = shipped(flow_id)
    drawn = flow_map.build(raw)
    assert {(a.source, a.target, key) for a in drawn.arrows for key in a.keys} == expected_edges(raw)
    assert [b.id for b in drawn.boxes] == flow_map.step_order(raw) and len(drawn.boxes) == len(raw["steps"])
    for arrow in drawn.arrows:
        assert arrow.path.startswith("M") and len(re.findall(r"-?\d+\.\d", arrow.path)) >= 4
    action_arrows = [a for a in drawn.arrows if any(k.startswith("outcome:") for k in a.keys)]
    assert action_arrows and all(a.labels for a in action_arrows)  # every outcome says which one it is


@pytest.mark.parametrize("flow_id", SHIPPED)
def test_boxes_do_not_overlap_and_fit_the_drawing(flow_id):
    drawn = flow_map.build(shipped(flow_id))
    for i, a in enumerate(drawn.boxes):
        assert 0 <= a.x and a.x + drawn.box_w <= drawn.width and 0 <= a.y and a.y + drawn.box_h <= drawn.height
        for b in drawn.boxes[i + 1:]:
            apart = (a.x + drawn.box_w <= b.x or b.x + drawn.box_w <= a.x or
                     a.y + drawn.box_h <= b.y or b.y + drawn.box_h <= a.y)
            assert apart, (a.id, b.id)


def test_ways_back_and_a_confirmation_s_no_are_drawn():
    raw = shipped("change_nik")
    raw["steps"]["confirm"]["on_no"] = "nik"
    drawn = flow_map.build(raw)
    arrows = {(a.source, a.target): a for a in drawn.arrows}
    assert arrows[("confirm", "nik")].back and arrows[("confirm", "nik")].labels == ["tidak"]
    assert arrows[("confirm", "submit")].labels == ["ya"] and not arrows[("confirm", "submit")].back
    assert arrows[("unknown_card", "card_number")].back and not arrows[("card_number", "nik")].back
    assert ("confirm", "nik", "on_no") in {(a.source, a.target, k) for a in drawn.arrows for k in a.keys}


def test_a_broken_draft_still_draws_what_it_can():
    raw = {"start": "a", "steps": {"a": {"type": "text", "next": "gone"}, "b": "not a step",
                                   "c": {"type": "action", "outcomes": {"x": "a"}}}}
    drawn = flow_map.build(raw)
    assert [b.id for b in drawn.boxes] == ["a", "b", "c"]
    assert [(a.source, a.target) for a in drawn.arrows] == [("c", "a")]


@pytest.mark.parametrize("flow_id", SHIPPED)
def test_the_flow_page_draws_every_way_and_links_every_box_to_its_step(app, flow_id):
    page = logged_in(app).get(f"/console/admin/flows/{flow_id}")
    assert page.status_code == 200
    reader = MapReader()
    reader.feed(page.get_data(as_text=True))
    raw = shipped(flow_id)
    assert reader.edges == expected_edges(raw)
    assert reader.boxes == {step: f"#step-{step}" for step in raw["steps"]}
    assert reader.parts == set(raw["steps"])


def test_the_form_speaks_indonesian(app):
    html = logged_in(app).get("/console/admin/flows/change_nik").get_data(as_text=True)
    assert ">NIK 16 digit (dicek kode wilayah dan tanggal lahir)</option>" in html
    assert "Pertanyaan teks" in html and "Konfirmasi ya/tidak" in html and "Pesan · Selesai" in html
    assert "Balasan setelah foto diterima" in html and "dikirim ke peserta saat langkah ini dimulai" in html
    assert "Periksa kartu dan NIK baru" in html and "kartu tidak ditemukan" in html
    assert 'type="radio"' not in html and 'type="checkbox" name="remove" value="nik"' in html
    assert 'name="remove" value="card_number"' not in html  # the first step cannot be removed


def test_every_name_of_the_catalog_has_a_label():
    cat = catalog()
    assert set(flow_labels.VALIDATOR_LABELS) == set(cat.validators)
    assert set(flow_labels.HANDLER_LABELS) == set(cat.actions)
    outcomes = {str(o) for action in cat.actions.values() for o in action.outcomes}
    assert outcomes <= set(flow_labels.OUTCOME_LABELS), outcomes - set(flow_labels.OUTCOME_LABELS)
    assert set(flow_labels.STEP_TYPE_LABELS) == set(STEP_TYPES)
    for name in ("ask", "text", "summary", "received", "validator", "document", "next", "on_no", "label"):
        assert flow_labels.field_label(name) != name and flow_labels.field_hint(name)
