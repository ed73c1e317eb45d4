"""Filling flow texts: {placeholders} from the run's values; unknown ones stay visible, never crash."""
from __future__ import annotations

import string


class _Values(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, values: dict) -> str:
    formatter = string.Formatter()
    return formatter.vformat(template, (), _Values({k: "" if v is None else v for k, v in values.items()}))


def display(value) -> str:
    """How a stored value is shown back to the citizen: ISO dates as DD-MM-YYYY."""
    text = str(value)
    if len(text) == 10 and text[4] == "-" and text[7] == "-" and text.replace("-", "").isdigit():
        return f"{text[8:10]}-{text[5:7]}-{text[0:4]}"
    return text
