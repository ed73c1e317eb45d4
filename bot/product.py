"""Product settings and citizen-facing texts from config.yml (never hard-coded in Python)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class ProductConfigError(ValueError):
    pass


@dataclass(frozen=True)
class MenuItem:
    number: int
    id: str
    title: str
    intro: str
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class Product:
    raw: dict[str, Any]

    @property
    def menu(self) -> list[MenuItem]:
        return [
            MenuItem(i, item["id"], item["title"], item.get("intro", ""), tuple(item.get("keywords", ())))
            for i, item in enumerate(self.raw["menu"], start=1)
        ]

    def service(self, service_id: str) -> MenuItem:
        for item in self.menu:
            if item.id == service_id:
                return item
        extra = (self.raw.get("case_kinds") or {}).get(service_id)
        if extra:  # cases that are not a menu service, e.g. a request to talk with an officer
            return MenuItem(0, service_id, extra, "", ())
        raise ProductConfigError(f"service {service_id!r} is not in the menu")

    @property
    def keywords(self) -> dict[str, str]:
        """Exact words (lower case) that select a service or a small-talk action without the NLU."""
        words = {str(k).lower(): v for k, v in (self.raw.get("keywords") or {}).items()}
        for item in self.menu:
            words.update({k.lower(): item.id for k in item.keywords})
        return words

    def words(self, name: str) -> set[str]:
        """Exact answers (lower case) meaning yes / no / skip / resume."""
        return {str(w).lower() for w in (self.raw.get("words") or {}).get(name, ())}

    def sla_hours(self, service: str) -> float:
        sla = self.raw.get("sla_hours") or {}
        return float(sla.get(service, sla.get("default", 8)))

    @property
    def handoff_timeout_hours(self) -> float:
        return float(self.raw.get("limits", {}).get("handoff_timeout_hours", 24))

    @property
    def inactivity(self) -> tuple[int, int]:
        """(minutes until the reminder, hours until the run expires)."""
        limits = self.raw.get("limits", {})
        return int(limits.get("reminder_after_minutes", 30)), int(limits.get("run_expires_after_hours", 24))

    @property
    def nlu(self) -> dict[str, float]:
        cfg = {"ambiguity_margin": 0.2, "ambiguity_min": 0.2, "timeout": 3.0}
        cfg.update(self.raw.get("nlu") or {})
        return cfg

    def text(self, key: str, **values: Any) -> str:
        try:
            template = self.raw["texts"][key]
        except KeyError as exc:
            raise ProductConfigError(f"text {key!r} is missing from config.yml") from exc
        return template.format(**values) if values else template

    @property
    def body_max_chars(self) -> int:
        return int(self.raw.get("limits", {}).get("body_max_chars", 4096))

    @classmethod
    def checked(cls, raw: dict) -> "Product":
        """A product from settings that are complete enough to run the bot on."""
        texts = raw.get("texts")
        if not isinstance(texts, dict):
            raise ProductConfigError("'texts' must map names to texts")
        missing = [key for key in REQUIRED_TEXTS if not str(texts.get(key) or "").strip()]
        if missing:
            raise ProductConfigError(f"texts missing: {', '.join(missing)}")
        long = [key for key, value in texts.items() if len(str(value)) > 1600]
        if long:
            raise ProductConfigError(f"texts longer than WhatsApp's 1600 characters: {', '.join(long)}")
        menu = raw.get("menu")
        if not menu or not isinstance(menu, list):
            raise ProductConfigError("the menu is empty")
        for i, item in enumerate(menu, start=1):
            if not isinstance(item, dict) or not item.get("id") or not item.get("title"):
                raise ProductConfigError(f"menu item {i} needs an 'id' and a 'title'")
        hours = raw.get("working_hours") or {}
        for key in ("timezone", "days", "start", "end"):
            if key not in hours:
                raise ProductConfigError(f"working_hours needs '{key}'")
        return cls(raw)

    def menu_text(self) -> str:
        lines = [self.text("menu_intro")]
        lines += [f"*{item.number}*. {item.title}" for item in self.menu]
        lines.append(self.text("menu_footer"))
        return "\n".join(lines)


REQUIRED_TEXTS = (
    "greeting", "menu_intro", "menu_footer", "body_too_long", "unsupported_media", "nlu_unavailable",
    "fallback", "ambiguous", "service_selected", "thanks", "human_agent", "cancelled", "not_cancelled",
    "cancel_confirm", "confirm_hint", "photo_optional_hint", "too_many_failures", "help_in_flow", "handoff_started",
    "no_photo_needed", "extra_photos_ignored", "photo_duplicate", "resume_offer", "resumed", "promise_open",
    "promise_closed", "reminder", "decision_approved", "decision_rejected", "decision_need_info",
    "need_info_received", "handback", "survey_question", "survey_comment", "survey_thanks",
)


def load_product_raw(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def load_product(path: str | Path) -> Product:
    try:
        return Product.checked(load_product_raw(path))
    except ProductConfigError as exc:
        raise ProductConfigError(f"{path}: {exc}") from exc
