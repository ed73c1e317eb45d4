"""Product settings and citizen-facing texts from config.yml (never hard-coded in Python).

``Product`` is the only reader of the raw settings: everything else asks its typed accessors.
Texts are filled by ``handlers.texts.render``, which never raises; which placeholders each text may
use is declared in ``TEXT_PLACEHOLDERS`` and checked when an admin saves (``Product.checked``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from handlers import texts as tpl
from handlers.inputs import ERROR_CODES
from handlers.worktime import WorkingCalendar


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
class Template:
    """An approved WhatsApp template (Twilio Content SID) and the names of its numbered variables."""

    name: str
    content_sid: str
    variables: tuple[str, ...]


@dataclass(frozen=True)
class Retention:
    """Days each kind of personal data is kept (config.yml ``retention``)."""

    message_days: int = 90
    document_days: int = 365
    closed_case_days: int = 730
    abandoned_run_days: int = 30


@dataclass(frozen=True)
class NluSettings:
    timeout: float = 3.0
    ambiguity_margin: float = 0.2
    ambiguity_min: float = 0.2


CONTENT_SID = re.compile(r"^HX[0-9a-f]{32}$")
CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # reject reason codes: stored in cases.decision_reason (64)
TITLE_MAX = 128  # cases.service_title
# Small-talk actions a keyword (or the NLU) may pick besides a service.
SMALL_TALK = ("greet", "thanks", "help", "human_agent", "cancel", "affirm", "deny", "erase_data")
# What a photo can be refused for (handlers.media's problems): each needs a ``photo_<problem>`` text.
PHOTO_PROBLEMS = ("not_a_photo", "not_a_document", "unsupported_type", "too_large", "unreadable", "too_small",
                  "too_blurry", "not_found", "host_not_allowed", "download_failed", "duplicate")

REQUIRED_TEXTS = (
    "greeting", "menu_intro", "menu_footer", "body_too_long", "unsupported_media", "nlu_unavailable",
    "fallback", "ambiguous", "service_selected", "thanks", "human_agent", "cancelled", "not_cancelled",
    "cancel_confirm", "confirm_hint", "photo_optional_hint", "too_many_failures", "help_in_flow", "handoff_started",
    "no_photo_needed", "extra_photos_ignored", "photo_duplicate", "resume_offer", "resumed", "promise_open",
    "promise_closed", "reminder", "decision_approved", "decision_rejected", "decision_need_info",
    "need_info_received", "handback", "survey_question", "survey_comment", "survey_thanks", "message_failed",
    "flow_changed", "use_sender_number", "error_choice", "error_confirm", "error_photo_expected",
    "erasure_requested", "erasure_approved",
    *(f"photo_{problem}" for problem in PHOTO_PROBLEMS),
    *sorted({f"error_{code}" for codes in ERROR_CODES.values() for code in codes}),
)

# The placeholders the bot fills in each text; every other text is sent as written.
TEXT_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "greeting": frozenset({"name"}),
    "ambiguous": frozenset({"first", "second"}),
    "service_selected": frozenset({"title"}),
    "cancel_confirm": frozenset({"title"}),
    "resume_offer": frozenset({"title"}),
    "reminder": frozenset({"title"}),
    "flow_changed": frozenset({"title"}),
    "use_sender_number": frozenset({"masked"}),
    "promise_open": frozenset({"hours"}),
    "promise_closed": frozenset({"day", "time", "zone"}),
    "decision_approved": frozenset({"title", "ticket", "note"}),
    "decision_rejected": frozenset({"title", "ticket", "note", "reason"}),
    "decision_need_info": frozenset({"title", "ticket", "note"}),
    "need_info_received": frozenset({"ticket"}),
    "survey_question": frozenset({"ticket"}),
    "erasure_requested": frozenset({"ticket"}),
    "erasure_approved": frozenset({"ticket"}),
}


def text_placeholders(key: str) -> frozenset[str]:
    return TEXT_PLACEHOLDERS.get(key, frozenset())


@dataclass(frozen=True)
class Product:
    raw: dict[str, Any]

    # ------------------------------------------------------------------ the menu and services
    @cached_property
    def menu(self) -> list[MenuItem]:
        return [
            MenuItem(i, str(item["id"]), str(item["title"]), str(item.get("intro") or ""),
                     tuple(str(k) for k in item.get("keywords") or ()))
            for i, item in enumerate(self.raw["menu"], start=1)
        ]

    def service(self, service_id: str) -> MenuItem:
        for item in self.menu:
            if item.id == service_id:
                return item
        extra = self.case_kinds.get(service_id)
        if extra:  # cases that are not a menu service, e.g. a request to talk with an officer
            return MenuItem(0, service_id, extra, "", ())
        raise ProductConfigError(f"service {service_id!r} is not in the menu")

    def title_of(self, service_id: str, default: str | None = None) -> str:
        """The service's title; never raises (a service that left the menu keeps ``default``)."""
        try:
            return self.service(service_id).title
        except ProductConfigError:
            return default or service_id

    @property
    def case_kinds(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self.raw.get("case_kinds") or {}).items()}

    @cached_property
    def keywords(self) -> dict[str, str]:
        """Exact words (lower case) that select a service or a small-talk action without the NLU."""
        words = {str(k).lower(): str(v) for k, v in (self.raw.get("keywords") or {}).items()}
        for item in self.menu:
            words.update({k.lower(): item.id for k in item.keywords})
        return words

    def words(self, name: str) -> set[str]:
        """Exact answers (lower case) meaning yes / no / skip / resume."""
        return {str(w).lower() for w in (self.raw.get("words") or {}).get(name, ())}

    # ------------------------------------------------------------------ service levels and limits
    def sla_hours(self, service: str) -> float:
        sla = self.raw.get("sla_hours") or {}
        return float(sla.get(service, sla.get("default", 8)))

    def _limit(self, name: str, default: float) -> float:
        return float((self.raw.get("limits") or {}).get(name, default))

    @property
    def handoff_timeout_hours(self) -> float:
        return self._limit("handoff_timeout_hours", 24)

    @property
    def reminder_after_minutes(self) -> int:
        return int(self._limit("reminder_after_minutes", 30))

    @property
    def run_expires_after_hours(self) -> int:
        return int(self._limit("run_expires_after_hours", 24))

    @property
    def lookup_failures_per_hour(self) -> int:
        return int(self._limit("lookup_failures_per_hour", 5))

    @property
    def body_max_chars(self) -> int:
        return int(self._limit("body_max_chars", 4096))

    @cached_property
    def nlu(self) -> NluSettings:
        cfg = self.raw.get("nlu") or {}
        defaults = NluSettings()
        return NluSettings(float(cfg.get("timeout", defaults.timeout)),
                           float(cfg.get("ambiguity_margin", defaults.ambiguity_margin)),
                           float(cfg.get("ambiguity_min", defaults.ambiguity_min)))

    # ------------------------------------------------------------------ the office
    @cached_property
    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar.from_config(self.raw["working_hours"])

    @property
    def timezone(self) -> ZoneInfo:
        return self.calendar.tz

    @cached_property
    def retention(self) -> Retention:
        cfg, defaults = self.raw.get("retention") or {}, Retention()
        return Retention(**{name: int(cfg.get(name, getattr(defaults, name))) for name in Retention.__dataclass_fields__})

    @property
    def reject_reasons(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self.raw.get("reject_reasons") or {}).items()}

    @property
    def field_labels(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self.raw.get("field_labels") or {}).items()}

    def template(self, name: str) -> Template:
        spec = (self.raw.get("templates") or {})[name]
        return Template(name, str(spec["content_sid"]), tuple(spec.get("variables") or ()))

    @property
    def templates(self) -> list[Template]:
        return [self.template(name) for name in (self.raw.get("templates") or {})]

    def with_content_sids(self, sids: dict[str, str]) -> "Product":
        """The same product with the deployment's own template SIDs (each Twilio account has its own)."""
        if not sids:
            return self
        templates = {name: dict(spec) for name, spec in (self.raw.get("templates") or {}).items()}
        for name, sid in sids.items():
            templates.setdefault(name, {"variables": []})["content_sid"] = sid
        return Product({**self.raw, "templates": templates})

    # ------------------------------------------------------------------ texts
    @cached_property
    def texts(self) -> dict[str, str]:
        """Every text by key (read-only: edits go through flows.versions)."""
        return {str(k): str(v) for k, v in (self.raw.get("texts") or {}).items()}

    def text(self, key: str, **values: Any) -> str:
        """A text filled with ``values``; never raises for a text that is there."""
        try:
            template = self.texts[key]
        except KeyError as exc:
            raise ProductConfigError(f"text {key!r} is missing from config.yml") from exc
        return tpl.render(template, values)

    def menu_text(self) -> str:
        lines = [self.text("menu_intro")]
        lines += [f"*{item.number}*. {item.title}" for item in self.menu]
        lines.append(self.text("menu_footer"))
        return "\n".join(lines)

    # ------------------------------------------------------------------ validation
    @classmethod
    def checked(cls, raw: dict) -> "Product":
        """A product from settings that are complete enough to run the bot on."""
        problems = product_problems(raw)
        if problems:
            raise ProductConfigError("; ".join(problems))
        return cls(raw)


def product_problems(raw: dict) -> list[str]:
    """Everything that would make the bot fail later with these settings (empty when it can run)."""
    texts = raw.get("texts")
    if not isinstance(texts, dict):
        return ["'texts' must map names to texts"]
    found = []
    missing = [key for key in REQUIRED_TEXTS if not str(texts.get(key) or "").strip()]
    if missing:
        found.append(f"texts missing: {', '.join(missing)}")
    long = [key for key, value in texts.items() if len(str(value)) > 1600]
    if long:
        found.append(f"texts longer than WhatsApp's 1600 characters: {', '.join(long)}")
    for key, value in texts.items():
        found += tpl.problems(value, text_placeholders(key), f"texts: {key}")
    found += _menu_problems(raw)
    hours = raw.get("working_hours") or {}
    needed = [key for key in ("timezone", "days", "start", "end") if key not in hours]
    found += [f"working_hours needs '{key}'" for key in needed]
    if not needed:
        try:
            WorkingCalendar.from_config(hours)
        except (ValueError, TypeError, KeyError, AttributeError, ZoneInfoNotFoundError) as exc:
            found.append(f"working_hours: {exc}")
    reasons = raw.get("reject_reasons") or {}
    if not isinstance(reasons, dict):
        found.append("reject_reasons must be a mapping")
    else:
        found += [f"reject_reasons: code '{code}' must be lower-case letters, digits and _ (at most 64)"
                  for code in reasons if not CODE.match(str(code))]
    retention = raw.get("retention") or {}
    if not isinstance(retention, dict) or any(isinstance(v, bool) or not isinstance(v, int) or v < 1
                                              for v in retention.values()):
        found.append("retention: every period must be a whole number of days, at least 1")
    for name, spec in (raw.get("templates") or {}).items():
        if not isinstance(spec, dict) or not isinstance(spec.get("variables", []), list):
            found.append(f"templates: {name} needs a content_sid and a list of variables")
    return found


def _is_text_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def _menu_problems(raw: dict) -> list[str]:
    menu, found = raw.get("menu"), []
    if not menu or not isinstance(menu, list):
        return ["the menu is empty"]
    for i, item in enumerate(menu, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("title"), str) \
                or not item["id"].strip() or not item["title"].strip():
            found.append(f"menu item {i} needs an 'id' and a 'title' (text)")
            continue
        if len(item["title"]) > TITLE_MAX:
            found.append(f"menu item {i}: the title is longer than {TITLE_MAX} characters")
        if not isinstance(item.get("intro", ""), str):
            found.append(f"menu item {i}: 'intro' must be text")
        if not _is_text_list(item.get("keywords", [])):
            found.append(f"menu item {i}: 'keywords' must be a list of words (text)")
    services = {item.get("id") for item in menu if isinstance(item, dict)}
    keywords = raw.get("keywords") or {}
    if isinstance(keywords, dict):
        for word, target in keywords.items():
            if target not in services and target not in SMALL_TALK:
                found.append(f"keywords: '{word}' goes to '{target}', which is neither a menu service nor one of "
                             f"{', '.join(SMALL_TALK)}")
    words = raw.get("words") or {}
    if not isinstance(words, dict) or not all(_is_text_list([str(w) for w in v]) if isinstance(v, list) else False
                                              for v in words.values()):
        found.append("words: each must be a list of answers")
    return found


def placeholder_content_sids(product: Product) -> list[str]:
    """Templates whose Content SID is not a real one (missing, malformed, or the HX000… placeholder)."""
    bad = []
    for template in product.templates:
        sid = template.content_sid
        if not CONTENT_SID.match(sid) or int(sid[2:], 16) < 16 ** 4:
            bad.append(template.name)
    return bad


def load_product_raw(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def load_product(path: str | Path) -> Product:
    try:
        return Product.checked(load_product_raw(path))
    except ProductConfigError as exc:
        raise ProductConfigError(f"{path}: {exc}") from exc
