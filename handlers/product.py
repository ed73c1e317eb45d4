"""Product settings and citizen-facing texts from config.yml (never hard-coded in Python).

``Product`` is the only reader of the raw settings: everything else asks its typed accessors.
Texts are filled by ``handlers.texts.render``, which never raises; which texts must exist and which
placeholders each may use is declared in ``handlers.text_keys`` and checked when an admin saves
(``Product.checked``).
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
from handlers.text_keys import REQUIRED_TEXTS, SMALL_TALK, TEMPLATE_WORDS, text_placeholders
from handlers.worktime import QuietHours, WorkingCalendar


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
    # A sender of another WhatsApp Business Account has its own approval of the template (its own SID):
    # config.yml ``templates.<name>.senders: {"whatsapp:+62…": "HX…"}``.
    by_sender: tuple[tuple[str, str], ...] = ()

    def sid_for(self, sender: str | None) -> str:
        return dict(self.by_sender).get(sender or "", self.content_sid)


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
    confirm_below: float = 0.0  # a service recognised below this confidence is asked about first (0: never)


CONTENT_SID = re.compile(r"^HX[0-9a-f]{32}$")
CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # reject reason codes: stored in cases.decision_reason (64)
TITLE_MAX = 128  # cases.service_title
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
        raise ProductConfigError(f"layanan {service_id!r} tidak ada di menu")

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

    @cached_property
    def complaint_signals(self) -> tuple[str, ...]:
        """Words that make a message a complaint whatever service it names ("calo", "pungli")."""
        return tuple(str(w).lower() for w in self.raw.get("complaint_signals") or ())

    @cached_property
    def data_change(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(words, services): "ubah data" without saying which data offers each data-change service."""
        cfg = self.raw.get("data_change") or {}
        return (tuple(str(w).lower() for w in cfg.get("words") or ()),
                tuple(str(s) for s in cfg.get("services") or ()))

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
                           float(cfg.get("ambiguity_min", defaults.ambiguity_min)),
                           float(cfg.get("confirm_below", defaults.confirm_below)))

    # ------------------------------------------------------------------ the office
    @cached_property
    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar.from_config(self.raw["working_hours"])

    @property
    def timezone(self) -> ZoneInfo:
        return self.calendar.tz

    @cached_property
    def quiet_hours(self) -> QuietHours | None:
        """When the bot starts no conversation (office time); None: no quiet hours."""
        return QuietHours.from_config(self.raw.get("quiet_hours"), self.timezone)

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

    def field_label(self, key: str) -> str:
        """What a collected value or document is called (``field_labels``, else its name)."""
        return self.field_labels.get(key) or key.replace("_", " ").capitalize()

    def step_label(self, step) -> str:
        """What a flow step asks for: its own ``label``, else the label of the value it saves."""
        return str(step.get("label") or self.field_label(str(step.get("save_as", step.id))))

    def template(self, name: str) -> Template:
        spec = (self.raw.get("templates") or {})[name]
        return Template(name, str(spec["content_sid"]), tuple(spec.get("variables") or ()),
                        tuple((str(k), str(v)) for k, v in (spec.get("senders") or {}).items()))

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
            raise ProductConfigError(f"teks {key!r} tidak ada di config.yml") from exc
        return tpl.render(template, values)

    def service_text(self, key: str, service: str, **values: Any) -> str:
        """The service's own version of a text when there is one (``service_key``), else the general one."""
        return self.text(tpl.service_key(self.texts, key, service), **values)

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
        return ["'texts' harus berisi nama teks beserta isinya"]
    found = []
    missing = [key for key in REQUIRED_TEXTS if not str(texts.get(key) or "").strip()]
    if missing:
        found.append(f"texts belum diisi: {', '.join(missing)}")
    long = [key for key, value in texts.items() if len(str(value)) > 1600]
    if long:
        found.append(f"texts lebih dari 1600 karakter (batas WhatsApp): {', '.join(long)}")
    broken = [key for key, value in texts.items() if str(key).startswith(TEMPLATE_WORDS) and re.search(r"[\n\t]", str(value))]
    if broken:
        found.append(f"texts untuk template WhatsApp harus satu baris: {', '.join(broken)}")
    for key, value in texts.items():
        found += tpl.problems(value, text_placeholders(key), f"texts: {key}")
    found += _menu_problems(raw)
    hours = raw.get("working_hours") or {}
    needed = [key for key in ("timezone", "days", "start", "end") if key not in hours]
    found += [f"working_hours: '{key}' belum diisi" for key in needed]
    if not needed:
        try:
            WorkingCalendar.from_config(hours)
        except (ValueError, TypeError, KeyError, AttributeError, ZoneInfoNotFoundError) as exc:
            found.append(f"working_hours: {exc}")
    try:
        QuietHours.from_config(raw.get("quiet_hours"), ZoneInfo("UTC"))  # its own checks: any zone will do
    except ValueError as exc:
        found.append(str(exc))
    reasons = raw.get("reject_reasons") or {}
    if not isinstance(reasons, dict):
        found.append("reject_reasons harus berupa pasangan kode: alasan")
    else:
        found += [f"reject_reasons: kode '{code}' harus huruf kecil, angka atau _ (paling banyak 64)"
                  for code in reasons if not CODE.match(str(code))]
    retention = raw.get("retention") or {}
    if not isinstance(retention, dict) or any(isinstance(v, bool) or not isinstance(v, int) or v < 1
                                              for v in retention.values()):
        found.append("retention: setiap masa simpan harus bilangan bulat hari, paling sedikit 1")
    found += _nlu_problems(raw.get("nlu"))
    for name, spec in (raw.get("templates") or {}).items():
        if not isinstance(spec, dict) or not isinstance(spec.get("variables", []), list):
            found.append(f"templates: {name} wajib punya content_sid dan daftar variables")
        elif not isinstance(spec.get("senders") or {}, dict) or any(
                not str(number).startswith("whatsapp:+") or not CONTENT_SID.match(str(sid))
                for number, sid in (spec.get("senders") or {}).items()):
            found.append(f"templates: {name}.senders ditulis \"whatsapp:+62…\": \"HX…\" (SID templat per nomor)")
    return found


def _nlu_problems(cfg) -> list[str]:
    """``nlu``: a timeout in seconds, and shares of confidence between 0 and 1."""
    if cfg is None:
        return []
    if not isinstance(cfg, dict):
        return ["nlu harus berisi timeout, ambiguity_margin, ambiguity_min, confirm_below"]
    found = []
    for key, value in cfg.items():
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if key == "timeout" and not (ok and 0 < value <= 10):
            found.append("nlu: timeout harus angka detik antara 0 dan 10")
        elif key in ("ambiguity_margin", "ambiguity_min", "confirm_below") and not (ok and 0 <= value <= 1):
            found.append(f"nlu: {key} harus angka antara 0 dan 1")
        elif key not in ("timeout", "ambiguity_margin", "ambiguity_min", "confirm_below"):
            found.append(f"nlu: '{key}' tidak dikenal")
    return found


def _is_text_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def _menu_problems(raw: dict) -> list[str]:
    menu, found = raw.get("menu"), []
    if not menu or not isinstance(menu, list):
        return ["menu kosong (harus berupa daftar layanan)"]
    for i, item in enumerate(menu, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("title"), str) \
                or not item["id"].strip() or not item["title"].strip():
            found.append(f"menu nomor {i} wajib punya 'id' dan 'title' (teks)")
            continue
        if len(item["title"]) > TITLE_MAX:
            found.append(f"menu nomor {i}: 'title' lebih dari {TITLE_MAX} karakter")
        if not isinstance(item.get("intro", ""), str):
            found.append(f"menu nomor {i}: 'intro' harus berupa teks")
        if not _is_text_list(item.get("keywords", [])):
            found.append(f"menu nomor {i}: 'keywords' harus berupa daftar kata (teks)")
    services = {item.get("id") for item in menu if isinstance(item, dict)}
    keywords = raw.get("keywords") or {}
    if isinstance(keywords, dict):
        for word, target in keywords.items():
            if target not in services and target not in SMALL_TALK:
                found.append(f"keywords: '{word}' menuju '{target}', yang bukan layanan menu "
                             f"dan bukan salah satu dari: {', '.join(SMALL_TALK)}")
    signals = raw.get("complaint_signals", [])
    if not _is_text_list(signals):
        found.append("complaint_signals harus berupa daftar kata (teks)")
    change = raw.get("data_change") or {}
    if not isinstance(change, dict) or not _is_text_list(change.get("words", [])) \
            or not isinstance(change.get("services", []), list):
        found.append("data_change wajib punya 'words' (daftar kata) dan 'services' (daftar layanan menu)")
    else:
        found += [f"data_change: '{s}' bukan layanan menu" for s in change.get("services", []) if s not in services]
    words = raw.get("words") or {}
    if not isinstance(words, dict) or not all(_is_text_list([str(w) for w in v]) if isinstance(v, list) else False
                                              for v in words.values()):
        found.append("words: masing-masing harus berupa daftar jawaban")
    return found


def placeholder_content_sids(product: Product) -> list[str]:
    """Templates whose Content SID is not a real one (missing, malformed, or the HX000… placeholder)."""
    bad = []
    for template in product.templates:
        for sid in (template.content_sid, *dict(template.by_sender).values()):
            if not CONTENT_SID.match(sid) or int(sid[2:], 16) < 16 ** 4:
                bad.append(template.name)
                break
    return bad


def load_product_raw(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def load_product(path: str | Path) -> Product:
    try:
        return Product.checked(load_product_raw(path))
    except ProductConfigError as exc:
        raise ProductConfigError(f"{path}: {exc}") from exc
