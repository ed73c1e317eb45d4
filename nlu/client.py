"""HTTP client for the Rasa NLU server's /model/parse, with a short timeout.

Results are logged as intent, confidence and entity *types* only: never the text or entity values
(NIK, card numbers and phone numbers are personal data).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import requests

log = logging.getLogger(__name__)

FALLBACK = "nlu_fallback"


class NLUUnavailable(RuntimeError):
    """The NLU server did not answer in time or answered with an error."""


@dataclass(frozen=True)
class Parse:
    intent: str
    confidence: float
    ranking: list[tuple[str, float]] = field(default_factory=list)
    entities: list[dict] = field(default_factory=list)

    def entity(self, name: str) -> str | None:
        for item in self.entities:
            if item.get("entity") == name:
                return str(item.get("value"))
        return None

    def top(self, exclude: tuple[str, ...] = (FALLBACK,)) -> list[tuple[str, float]]:
        """The ranking without the fallback pseudo-intent, best first."""
        return [(name, conf) for name, conf in self.ranking if name not in exclude]


class NLUClient:
    """``token``: the Rasa server's --auth-token (its HTTP API refuses requests without it)."""

    def __init__(self, url: str, timeout: float = 3.0, session: requests.Session | None = None,
                 token: str | None = None):
        self.url = url.rstrip("/") + "/model/parse"
        self.timeout = timeout
        self.session = session or requests.Session()
        self.params = {"token": token} if token else None

    def parse(self, text: str) -> Parse:
        started = time.monotonic()
        try:
            response = self.session.post(self.url, json={"text": text}, params=self.params, timeout=self.timeout)
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError) as exc:
            log.warning("nlu unavailable after %.0f ms: %s", (time.monotonic() - started) * 1000, type(exc).__name__)
            raise NLUUnavailable(type(exc).__name__) from exc
        intent = data.get("intent") or {}
        result = Parse(
            intent=intent.get("name") or FALLBACK,
            confidence=float(intent.get("confidence") or 0.0),
            ranking=[(r["name"], float(r["confidence"])) for r in data.get("intent_ranking") or []],
            entities=[
                {"entity": e.get("entity"), "value": e.get("value"), "extractor": e.get("extractor")}
                for e in data.get("entities") or []
            ],
        )
        log.info(
            "nlu intent=%s confidence=%.2f entities=%s in %.0f ms",
            result.intent, result.confidence, sorted({e["entity"] for e in result.entities}),
            (time.monotonic() - started) * 1000,
        )
        return result
