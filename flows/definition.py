"""Flow definitions: YAML files in flows/definitions/, one per service, loaded and checked here.

A flow is a set of named steps starting at ``start``. Step types:

- ``text``: ask, validate with a named validator, save the value, go to ``next`` (``optional``: "lewati" skips);
- ``choice``: numbered ``options`` (value + title), answered by number or title;
- ``photo``: one photo/PDF of a ``document`` kind (``accept``: image, pdf), ``optional`` may be skipped;
- ``confirm``: show ``summary`` and every answer given, numbered; yes → ``next``, a number or an answer's
  name → ask that one again and come back, no → ``on_no`` (default: ask which answer to change);

Steps that take an answer may have a ``label``: how the confirmation (and the agents) name the answer.
- ``action``: call a named handler; its outcome picks the next step in ``outcomes``;
- ``message``: say ``text`` and go to ``next`` (or end the run when there is none).

Every text a citizen reads lives in the YAML (Bahasa Indonesia); Python only fills placeholders.
A definition is checked against the catalog of validators and actions (handlers.catalog) before it
can be loaded or published: what validates here is what the engine can run — names fit their
columns, every placeholder is a value the flow fills, every outcome an action can give has a step.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from handlers import texts as tpl
from handlers.catalog import Catalog
from handlers.text_keys import text_placeholders

DEFINITIONS = Path(__file__).resolve().parent / "definitions"
STEP_TYPES = ("text", "choice", "photo", "confirm", "action", "message")
WHATSAPP_MAX = 1600  # Twilio's limit for one WhatsApp message body
STEP_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")    # cases.need_info_item is 32 characters
DOCUMENT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")   # documents.kind is 64 characters
VALUE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
ACCEPT = ("image", "pdf")
TEXT_FIELDS = ("ask", "text", "summary", "received")
LABEL_MAX = 40  # a line of the confirmation: "*2*. NIK baru: 3201…"


def yaml_error(exc: Exception) -> str:
    """Where a YAML text cannot be read, in the admin's words (the parser's own message is English)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" di baris {mark.line + 1}, kolom {mark.column + 1}" if mark is not None else ""
    tab = " (jangan pakai tab; pakai spasi)" if "\\t" in str(getattr(exc, "problem", "")) else ""
    return f"YAML tidak terbaca{where}{tab}"


class FlowError(ValueError):
    """A flow definition is invalid; ``problems`` lists each one, pointing at the step and field."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Step:
    id: str
    type: str
    raw: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)

    @property
    def next(self) -> str | None:
        return self.raw.get("next")


@dataclass(frozen=True)
class Flow:
    id: str
    title: str
    start: str
    steps: dict[str, Step]
    texts: dict[str, str] = field(default_factory=dict)  # flow-wide texts (errors, summaries)
    version: str = ""  # content hash: a run keeps the version it started with

    def step(self, step_id: str) -> Step:
        return self.steps[step_id]


def _targets(step: Step) -> list[str]:
    targets = [t for t in (step.get("next"), step.get("on_no")) if t]
    targets += [t for t in (step.get("outcomes") or {}).values() if t]
    return targets


def _step_problems(step_id: str, body, catalog: Catalog, where: str) -> list[str]:
    if not STEP_ID.match(str(step_id)):
        return [f"{where}: nama langkah harus 1-32 huruf kecil, angka atau _, diawali huruf"]
    if not isinstance(body, dict) or body.get("type") not in STEP_TYPES:
        return [f"{where}: 'type' harus salah satu dari: {', '.join(STEP_TYPES)}"]
    step, found = Step(step_id, body["type"], body), []
    text_field = {"message": "text", "confirm": "summary", "action": None}.get(step.type, "ask")
    if text_field and not str(step.get(text_field) or "").strip():
        found.append(f"{where}: teks '{text_field}' belum diisi")
    for key in TEXT_FIELDS:
        if len(str(step.get(key) or "")) > WHATSAPP_MAX:
            found.append(f"{where}: '{key}' lebih dari {WHATSAPP_MAX} karakter (batas WhatsApp)")
    if step.type == "text" and step.get("validator") not in catalog.validators:
        found.append(f"{where}: validator '{step.get('validator')}' tidak dikenal "
                     f"(pilihan: {', '.join(sorted(catalog.validators))})")
    if step.get("save_as") is not None and not VALUE_NAME.match(str(step.get("save_as"))):
        found.append(f"{where}: 'save_as' harus nama dari huruf kecil, angka atau _")
    if step.type == "choice":
        options = step.get("options")
        if not options or not isinstance(options, list):
            found.append(f"{where}: langkah pilihan wajib punya 'options'")
        elif any(not isinstance(o, dict) or not o.get("value") or not o.get("title") for o in options):
            found.append(f"{where}: setiap pilihan di 'options' wajib punya 'value' dan 'title'")
        elif len({str(o["value"]) for o in options}) != len(options):
            found.append(f"{where}: dua pilihan punya 'value' yang sama")
    if step.type == "photo":
        if not step.get("document"):
            found.append(f"{where}: langkah foto wajib punya 'document'")
        elif not DOCUMENT.match(str(step.get("document"))):
            found.append(f"{where}: 'document' harus 1-64 huruf kecil, angka atau _ (contoh: ktp, kk)")
        accept = step.get("accept", ["image"])
        if not isinstance(accept, list) or not accept or any(a not in ACCEPT for a in accept):
            found.append(f"{where}: 'accept' hanya boleh berisi image dan/atau pdf")
    if step.type == "action":
        action = catalog.actions.get(step.get("handler"))
        outcomes = step.get("outcomes")
        if action is None:
            found.append(f"{where}: handler '{step.get('handler')}' tidak dikenal "
                         f"(pilihan: {', '.join(sorted(catalog.actions))})")
        if not outcomes or not isinstance(outcomes, dict):
            found.append(f"{where}: langkah tindakan wajib punya 'outcomes'")
        elif action is not None:
            named = {str(k) for k in outcomes}
            unknown = sorted(named - set(action.outcomes) - {"default"})
            if unknown:
                found.append(f"{where}: '{step.get('handler')}' tidak pernah menghasilkan {', '.join(unknown)} "
                             f"(hasilnya: {', '.join(action.outcomes)})")
            missing = [o for o in action.outcomes if o not in named]
            if missing and "default" not in named:
                found.append(f"{where}: belum ada langkah untuk hasil {', '.join(missing)} "
                             f"dari '{step.get('handler')}' (tambahkan di 'outcomes', atau pakai 'default')")
    label = step.get("label")
    if label is not None and (not isinstance(label, str) or not label.strip() or len(label) > LABEL_MAX
                              or "{" in label or "\n" in label):
        found.append(f"{where}: 'label' harus satu baris teks, paling banyak {LABEL_MAX} karakter, tanpa {{isian}}")
    if step.get("optional") is not None and (not isinstance(step.get("optional"), bool)
                                             or step.type not in ("text", "photo")):
        found.append(f"{where}: 'optional' harus true atau false, dan hanya untuk langkah text dan photo")
    errors = step.get("errors")
    if errors is not None and not isinstance(errors, dict):
        found.append(f"{where}: 'errors' harus berisi kode error beserta teksnya")
    if step.type in ("text", "choice", "photo", "confirm") and not step.next:
        found.append(f"{where}: belum ada langkah berikutnya ('next')")
    return found


def flow_values(steps: dict[str, Step], catalog: Catalog) -> set[str]:
    """Every value a run of this flow can hold: what its texts may use as {placeholders}."""
    names = set(catalog.base_values)
    for step in steps.values():
        key = str(step.get("save_as", step.id))
        if step.type == "text":
            names |= {key, key + "_text"}
        elif step.type == "choice":
            names |= {key, key + "_title"}
        elif step.type == "photo":
            names.add("doc_" + str(step.get("document")))
        elif step.type == "action" and step.get("handler") in catalog.actions:
            names |= set(catalog.actions[step.get("handler")].provides)
    return names


def _text_problems(raw: dict, steps: dict[str, Step], catalog: Catalog, source: str) -> list[str]:
    known, found = flow_values(steps, catalog), []
    for step in steps.values():
        where = f"{source}: langkah '{step.id}'"
        for key in TEXT_FIELDS:
            if step.get(key) is not None:
                found += tpl.problems(step.get(key), known, f"{where}, teks '{key}'")
        for code, message in (step.get("errors") or {}).items():
            found += tpl.problems(message, known, f"{where}, teks error '{code}'")
        for option in step.get("options") or []:
            found += tpl.problems(option.get("title"), set(), f"{where}, pilihan '{option.get('value')}'")
    texts = raw.get("texts") or {}
    if not isinstance(texts, dict):
        return found + [f"{source}: 'texts' harus berisi nama teks beserta isinya"]
    for key, value in texts.items():
        found += tpl.problems(value, known | text_placeholders(str(key)), f"{source}: teks '{key}'")
    return found


def flow_problems(text: str, catalog: Catalog, source: str = "<flow>") -> list[str]:
    """Every problem in a flow definition (empty when it can be published)."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        return [f"{source}: {yaml_error(exc)}"]
    if not isinstance(raw, dict):
        return [f"{source}: alur harus berisi id, title, start dan steps"]
    missing = [f"{source}: '{key}' belum diisi" for key in ("id", "title", "start", "steps") if not raw.get(key)]
    if missing:
        return missing
    if not isinstance(raw["steps"], dict):
        return [f"{source}: 'steps' harus berisi nama langkah beserta isinya"]
    found: list[str] = []
    for step_id, body in raw["steps"].items():
        found += _step_problems(step_id, body, catalog, f"{source}: langkah '{step_id}'")
    if found:
        return found
    steps = {step_id: Step(step_id, body["type"], body) for step_id, body in raw["steps"].items()}
    if raw["start"] not in steps:
        return [f"{source}: 'start' menunjuk langkah '{raw['start']}' yang tidak ada"]
    for step in steps.values():
        for target in _targets(step):
            if target not in steps:
                found.append(f"{source}: langkah '{step.id}' menuju langkah '{target}' yang tidak ada")
    if found:
        return found
    reachable, todo = set(), [raw["start"]]
    while todo:
        current = todo.pop()
        if current not in reachable:
            reachable.add(current)
            todo += _targets(steps[current])
    found = [f"{source}: langkah '{step_id}' tidak bisa dicapai dari '{raw['start']}'"
             for step_id in steps if step_id not in reachable]
    return found + _loop_problems(steps, source) + _text_problems(raw, steps, catalog, source)


AUTOMATIC = ("message", "action")  # steps that go on by themselves, without waiting for the citizen


def _loop_problems(steps: dict[str, Step], source: str) -> list[str]:
    """Messages and actions that lead back to themselves without a question in between never end."""
    graph = {step_id: [t for t in _targets(step) if t in steps and steps[t].type in AUTOMATIC]
             for step_id, step in steps.items() if step.type in AUTOMATIC}
    seen: dict[str, str] = {}
    found: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        seen[node] = "open"
        for target in graph[node]:
            if seen.get(target) == "open":
                loop = " -> ".join(path[path.index(target):] + [target])
                found.append(f"{source}: langkah {loop} berputar terus tanpa pertanyaan di antaranya")
            elif target not in seen:
                visit(target, path + [target])
        seen[node] = "done"

    for node in graph:
        if node not in seen:
            visit(node, [node])
    return found


def parse_flow(text: str, catalog: Catalog, source: str = "<flow>") -> Flow:
    problems = flow_problems(text, catalog, source)
    if problems:
        raise FlowError(problems)
    raw = yaml.safe_load(text)
    steps = {step_id: Step(step_id, body["type"], body) for step_id, body in raw["steps"].items()}
    return Flow(raw["id"], raw["title"], raw["start"], steps, dict(raw.get("texts") or {}), flow_digest(text))


def flow_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_flows(catalog: Catalog, directory: Path = DEFINITIONS) -> dict[str, Flow]:
    flows = {}
    for path in sorted(directory.glob("*.yml")):
        flow = parse_flow(path.read_text(encoding="utf-8"), catalog, source=path.name)
        flows[flow.id] = flow
    return flows
