"""Reading Rasa NLU YAML files (training data, evaluation sets) as (text, intent) pairs, entity markup
removed: one reader for the app, nlu/evaluate.py (Rasa's environment) and the benchmarks."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]+\})")


def examples(path: str | Path) -> list[tuple[str, str]]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    items = []
    for block in data.get("nlu") or []:
        if "intent" not in block:
            continue
        for line in str(block.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- "):
                items.append((_ANNOTATION.sub(r"\1", line[2:]).strip(), block["intent"]))
    return items
