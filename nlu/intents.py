"""The intents the NLU knows (nlu/domain.yml), for the app: what an admin may label a message with."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

DOMAIN = Path(__file__).resolve().parent / "domain.yml"
OUT_OF_SCOPE = "out_of_scope"


@lru_cache(maxsize=1)
def intents() -> tuple[str, ...]:
    """Every intent of the domain, in its order (services first, then small talk)."""
    data = yaml.safe_load(DOMAIN.read_text(encoding="utf-8")) or {}
    return tuple(str(name) for name in data.get("intents") or ())
