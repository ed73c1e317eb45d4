"""The one place that says what flow steps may name: validators (``validator: nik``) and action
handlers (``handler: create_case``), with what each action can answer and which values it adds.

Flow definitions are checked against this catalog when an admin saves them, and the engine runs
exactly what it lists, so a flow that validates is a flow the runtime can run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from handlers.actions import ACTIONS, Action
from handlers.inputs import ERROR_CODES, VALIDATORS

# Values every run starts with (see flows.engine.start).
BASE_VALUES = ("sender_phone", "sender_masked", "sender_option", "office", "office_contact")


@dataclass(frozen=True)
class Catalog:
    validators: Mapping[str, Callable[[str, dict], Any]] = field(default_factory=lambda: VALIDATORS)
    actions: Mapping[str, Action] = field(default_factory=lambda: ACTIONS)
    error_codes: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: ERROR_CODES)
    base_values: tuple[str, ...] = BASE_VALUES


def catalog() -> Catalog:
    """The catalog of this code base (the same in every process)."""
    return CATALOG


CATALOG = Catalog()
