"""Flow definitions: YAML files in flows/definitions/, one per service, loaded and checked here.

A flow is a set of named steps starting at ``start``. Step types:

- ``text``: ask, validate with a named validator, save the value, go to ``next``;
- ``choice``: numbered ``options`` (value + title), answered by number or title;
- ``photo``: one photo/PDF of a ``document`` kind (``accept``: image, pdf), ``optional`` may be skipped;
- ``confirm``: show ``summary``, yes → ``next``, no → ``on_no`` (default: cancel);
- ``action``: call a named handler; its outcome picks the next step in ``outcomes``;
- ``message``: say ``text`` and go to ``next`` (or end the run when there is none).

Every text a citizen reads lives in the YAML (Bahasa Indonesia); Python only fills placeholders.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFINITIONS = Path(__file__).resolve().parent / "definitions"
STEP_TYPES = ("text", "choice", "photo", "confirm", "action", "message")
WHATSAPP_MAX = 1600  # Twilio's limit for one WhatsApp message body


class FlowError(ValueError):
    """A flow definition is invalid; the message points at the flow, step and field."""


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


def parse_flow(text: str, validators: set[str], actions: set[str], source: str = "<flow>") -> Flow:
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise FlowError(f"{source}: not valid YAML: {exc}") from exc
    for key in ("id", "title", "start", "steps"):
        if key not in raw:
            raise FlowError(f"{source}: missing '{key}'")
    steps = {}
    for step_id, body in (raw["steps"] or {}).items():
        where = f"{source}: step '{step_id}'"
        if not isinstance(body, dict) or body.get("type") not in STEP_TYPES:
            raise FlowError(f"{where}: 'type' must be one of {', '.join(STEP_TYPES)}")
        step = Step(step_id, body["type"], body)
        text_field = {"message": "text", "confirm": "summary", "action": None}.get(step.type, "ask")
        if text_field and not step.get(text_field):
            raise FlowError(f"{where}: missing text '{text_field}'")
        for key in ("ask", "text", "summary", "retry"):
            if len(str(step.get(key) or "")) > WHATSAPP_MAX:
                raise FlowError(f"{where}: '{key}' is longer than {WHATSAPP_MAX} characters")
        if step.type == "text" and step.get("validator") not in validators:
            raise FlowError(f"{where}: unknown validator '{step.get('validator')}'")
        if step.type == "choice" and not step.get("options"):
            raise FlowError(f"{where}: a choice needs 'options'")
        if step.type == "photo" and not step.get("document"):
            raise FlowError(f"{where}: a photo step needs 'document'")
        if step.type == "action":
            if step.get("handler") not in actions:
                raise FlowError(f"{where}: unknown handler '{step.get('handler')}'")
            if not step.get("outcomes"):
                raise FlowError(f"{where}: an action needs 'outcomes'")
        if step.type in ("text", "choice", "photo", "confirm") and not step.next:
            raise FlowError(f"{where}: no way forward ('next')")
        steps[step_id] = step
    if raw["start"] not in steps:
        raise FlowError(f"{source}: start step '{raw['start']}' does not exist")
    for step in steps.values():
        for target in _targets(step):
            if target not in steps:
                raise FlowError(f"{source}: step '{step.id}' goes to unknown step '{target}'")
    reachable, todo = set(), [raw["start"]]
    while todo:
        current = todo.pop()
        if current not in reachable:
            reachable.add(current)
            todo += _targets(steps[current])
    unreachable = sorted(set(steps) - reachable)
    if unreachable:
        raise FlowError(f"{source}: step(s) {', '.join(unreachable)} cannot be reached from '{raw['start']}'")
    version = hashlib.sha256(text.encode()).hexdigest()[:12]
    return Flow(raw["id"], raw["title"], raw["start"], steps, dict(raw.get("texts") or {}), version)


def load_flows(validators: set[str], actions: set[str], directory: Path = DEFINITIONS) -> dict[str, Flow]:
    flows = {}
    for path in sorted(directory.glob("*.yml")):
        flow = parse_flow(path.read_text(encoding="utf-8"), validators, actions, source=path.name)
        flows[flow.id] = flow
    return flows
