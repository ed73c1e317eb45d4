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


def _step_problems(step_id: str, body, validators: set[str], actions: set[str], where: str) -> list[str]:
    if not isinstance(body, dict) or body.get("type") not in STEP_TYPES:
        return [f"{where}: 'type' must be one of {', '.join(STEP_TYPES)}"]
    step, found = Step(step_id, body["type"], body), []
    text_field = {"message": "text", "confirm": "summary", "action": None}.get(step.type, "ask")
    if text_field and not str(step.get(text_field) or "").strip():
        found.append(f"{where}: missing text '{text_field}'")
    for key in ("ask", "text", "summary", "received"):
        if len(str(step.get(key) or "")) > WHATSAPP_MAX:
            found.append(f"{where}: '{key}' is longer than WhatsApp's {WHATSAPP_MAX} characters")
    if step.type == "text" and step.get("validator") not in validators:
        found.append(f"{where}: unknown validator '{step.get('validator')}' (known: {', '.join(sorted(validators))})")
    if step.type == "choice":
        options = step.get("options")
        if not options or not isinstance(options, list):
            found.append(f"{where}: a choice needs 'options'")
        elif any(not isinstance(o, dict) or not o.get("value") or not o.get("title") for o in options):
            found.append(f"{where}: every option needs a 'value' and a 'title'")
    if step.type == "photo" and not step.get("document"):
        found.append(f"{where}: a photo step needs 'document'")
    if step.type == "action":
        if step.get("handler") not in actions:
            found.append(f"{where}: unknown handler '{step.get('handler')}'")
        if not step.get("outcomes"):
            found.append(f"{where}: an action needs 'outcomes'")
    if step.type in ("text", "choice", "photo", "confirm") and not step.next:
        found.append(f"{where}: no way forward ('next')")
    return found


def flow_problems(text: str, validators: set[str], actions: set[str], source: str = "<flow>") -> list[str]:
    """Every problem in a flow definition (empty when it can be published)."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        return [f"{source}: not valid YAML: {exc}"]
    if not isinstance(raw, dict):
        return [f"{source}: a flow is a mapping with id, title, start and steps"]
    missing = [f"{source}: missing '{key}'" for key in ("id", "title", "start", "steps") if not raw.get(key)]
    if missing:
        return missing
    if not isinstance(raw["steps"], dict):
        return [f"{source}: 'steps' must map step names to steps"]
    found: list[str] = []
    for step_id, body in raw["steps"].items():
        found += _step_problems(step_id, body, validators, actions, f"{source}: step '{step_id}'")
    if found:
        return found
    steps = {step_id: Step(step_id, body["type"], body) for step_id, body in raw["steps"].items()}
    if raw["start"] not in steps:
        return [f"{source}: start step '{raw['start']}' does not exist"]
    for step in steps.values():
        for target in _targets(step):
            if target not in steps:
                found.append(f"{source}: step '{step.id}' goes to unknown step '{target}'")
    if found:
        return found
    reachable, todo = set(), [raw["start"]]
    while todo:
        current = todo.pop()
        if current not in reachable:
            reachable.add(current)
            todo += _targets(steps[current])
    return [f"{source}: step '{step_id}' cannot be reached from '{raw['start']}'" for step_id in steps if step_id not in reachable]


def parse_flow(text: str, validators: set[str], actions: set[str], source: str = "<flow>") -> Flow:
    problems = flow_problems(text, validators, actions, source)
    if problems:
        raise FlowError(problems)
    raw = yaml.safe_load(text)
    steps = {step_id: Step(step_id, body["type"], body) for step_id, body in raw["steps"].items()}
    return Flow(raw["id"], raw["title"], raw["start"], steps, dict(raw.get("texts") or {}), flow_digest(text))


def flow_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_flows(validators: set[str], actions: set[str], directory: Path = DEFINITIONS) -> dict[str, Flow]:
    flows = {}
    for path in sorted(directory.glob("*.yml")):
        flow = parse_flow(path.read_text(encoding="utf-8"), validators, actions, source=path.name)
        flows[flow.id] = flow
    return flows
