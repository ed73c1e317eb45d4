"""The flow editor's form applied to a flow's YAML without re-writing the rest of it.

The YAML is read and written with ruamel.yaml's round-trip mode: comments, key order, quoting and
flow-style lists stay as they were, and a field is written only when its value changed, so a one-line
edit in the form is a one-line change in the version's history. The flow engine and the checks still
read the result with PyYAML (``yaml.safe_load``): a new plain value is quoted whenever PyYAML would read
it as something other than the same text (``no``, ``on``, ``12``, ``a: b``).
"""
from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString

from flows.definition import STEP_ID, TEXT_FIELDS, yaml_error

# What the form edits besides the texts: single values, then the step it goes to.
VALUE_FIELDS = ("label", "validator", "document")
TARGET_FIELDS = ("next", "on_no")
NEW_STEP_TYPES = ("photo", "text", "message")


class EditError(ValueError):
    """The form asks for something the editor cannot do (the message is for the admin, in Indonesian)."""


def _yaml() -> YAML:
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 100_000  # never fold a long text over two lines
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def load(text: str) -> CommentedMap:
    try:
        data = _yaml().load(text)
    except YAMLError as exc:
        raise EditError(f"{yaml_error(exc)}.") from exc
    if not isinstance(data, CommentedMap) or not isinstance(data.get("steps"), CommentedMap):
        raise EditError("Alur ini tidak bisa diubah lewat formulir: perbaiki di tampilan YAML.")
    return data


def dump(data: CommentedMap) -> str:
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


def _reads_back(value: str) -> bool:
    """PyYAML reads this plain scalar back as the same text."""
    try:
        return "\n" not in value and yaml.safe_load(value) == value
    except yaml.YAMLError:
        return False


def _scalar(old: Any, value: str, quoted: bool) -> Any:
    """``value`` written in the style of ``old`` (a new text is double-quoted, like the shipped files)."""
    if isinstance(old, ScalarString):
        return type(old)(value)
    if quoted or not _reads_back(value):
        return DoubleQuotedScalarString(value)
    return value


def _set(step: CommentedMap, key: str, value: str, quoted: bool = False) -> None:
    """Set, change or (empty value) remove one field; an unchanged value is left as it is written."""
    if not value:
        step.pop(key, None)
    elif key not in step or str(step[key]).strip() != value:
        step[key] = _scalar(step.get(key), value, quoted)


def _clean(value: str) -> str:
    return value.replace("\r\n", "\n").strip()


def _options(step: CommentedMap, text: str) -> None:
    """Options from the form's lines ``value | title``, edited in place (a flow-style list stays one)."""
    wanted = [(value.strip(), title.strip()) for line in text.splitlines() if "|" in line
              for value, title in [line.split("|", 1)]]
    old = step.get("options")
    if not isinstance(old, CommentedSeq):
        old = step["options"] = CommentedSeq()
    flow_style = bool(old) and isinstance(old[0], CommentedMap) and old[0].fa.flow_style()
    for i, (value, title) in enumerate(wanted):
        if i >= len(old) or not isinstance(old[i], CommentedMap):
            option = CommentedMap()
            if flow_style:
                option.fa.set_flow_style()
            old.append(option) if i >= len(old) else old.__setitem__(i, option)
        _set(old[i], "value", value)
        _set(old[i], "title", title, quoted=True)
    del old[len(wanted):]


def _add_step(steps: CommentedMap, form: Mapping[str, str]) -> None:
    new_id, after = form.get("new_id", "").strip(), form.get("new_after", "")
    if not new_id:
        return
    if not STEP_ID.match(new_id) or not _reads_back(new_id) or new_id in steps:
        raise EditError(f"Langkah baru '{new_id}': pakai nama baru dari huruf kecil, angka dan _ "
                        "(diawali huruf; bukan yes/no/on/off).")
    if after not in steps:
        raise EditError(f"Langkah baru '{new_id}': pilih langkah sebelumnya.")
    kind = form.get("new_type", "photo")
    if kind not in NEW_STEP_TYPES:
        raise EditError(f"Langkah baru '{new_id}': jenis tidak dikenal.")
    step = CommentedMap(type=kind)
    if kind == "photo":
        _set(step, "document", form.get("new_document", "").strip() or new_id)
    elif kind == "text":
        _set(step, "validator", form.get("new_validator", "short_text"))
    _set(step, "text" if kind == "message" else "ask", _clean(form.get("new_ask", "")), quoted=True)
    if steps[after].get("next"):
        step["next"] = steps[after]["next"]
    steps[after]["next"] = new_id
    steps.insert(list(steps).index(after) + 1, new_id, step)


def _remove_steps(data: CommentedMap, removed: Iterable[str]) -> None:
    """Whoever went to a removed step now goes where it went (an outcome with nowhere to go stays, and
    the checks say so)."""
    steps = data["steps"]
    for step_id in removed:
        if step_id not in steps or step_id == data.get("start"):
            raise EditError(f"Langkah '{step_id}' tidak bisa dihapus (langkah pertama atau tidak ada).")
        gone = steps.pop(step_id)
        onward = gone.get("next") if isinstance(gone, dict) else None
        for step in steps.values():
            if not isinstance(step, dict):
                continue
            for key in TARGET_FIELDS:
                if step.get(key) == step_id:
                    _set(step, key, str(onward or ""))
            outcomes = step.get("outcomes")
            for outcome, target in (outcomes.items() if isinstance(outcomes, dict) else []):
                if target == step_id and onward:
                    outcomes[outcome] = onward


def apply_form(text: str, form: Mapping[str, str], removed: Iterable[str] = ()) -> str:
    """The flow's YAML with the form editor's fields applied (keys the form does not show are kept).
    Fields are named ``<step>.<field>``, ``<step>.outcome.<outcome>`` and ``<step>.options``."""
    data = load(text)
    steps = data["steps"]
    if "title" in form:
        _set(data, "title", _clean(form["title"]), quoted=True)
    for step_id, step in steps.items():
        if not isinstance(step, CommentedMap):
            continue
        for key in TEXT_FIELDS:
            if f"{step_id}.{key}" in form:
                _set(step, key, _clean(form[f"{step_id}.{key}"]), quoted=True)
        for key in VALUE_FIELDS:
            if f"{step_id}.{key}" in form:
                _set(step, key, _clean(form[f"{step_id}.{key}"]), quoted=key == "label")
        for key in TARGET_FIELDS:
            if f"{step_id}.{key}" in form:
                _set(step, key, _clean(form[f"{step_id}.{key}"]))
        outcomes = step.get("outcomes")
        for outcome in (list(outcomes) if isinstance(outcomes, CommentedMap) else []):
            target = _clean(form.get(f"{step_id}.outcome.{outcome}", ""))
            if target and str(outcomes[outcome]) != target:
                outcomes[outcome] = target
        if f"{step_id}.options" in form:
            _options(step, form[f"{step_id}.options"])
    _add_step(steps, form)
    _remove_steps(data, [step_id for step_id in removed if step_id])
    return dump(data)
