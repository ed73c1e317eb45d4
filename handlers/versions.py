"""What admins edit, versioned: each flow, the bot texts, the product settings (menu, working hours
and holidays, SLA hours, reject reasons, keywords).

The repository's files are the versions before any edit. ``save_draft`` keeps a draft (validated,
problems returned); ``publish`` makes it live (refused while it has problems); ``rollback`` publishes
an old version again as a new one. Every publish bumps a generation counter in Redis: web and worker
processes reload within a request or a job, without a restart (bot.live). Flow runs remember the
digest of the version they started on and finish on it.
"""
from __future__ import annotations

import difflib
from zoneinfo import ZoneInfoNotFoundError
from pathlib import Path

import yaml
from sqlalchemy import func, select

from bot.product import Product, ProductConfigError, load_product_raw
from handlers.worktime import WorkingCalendar
from flows.definition import DEFINITIONS, Flow, FlowError, flow_digest, flow_problems, parse_flow
from storage.config_versions import ConfigVersion, VersionStatus
from storage.models import utcnow

TEXTS, SETTINGS = "texts", "settings"
SETTINGS_KEYS = ("menu", "working_hours", "sla_hours", "reject_reasons", "keywords", "field_labels")
GENERATION_KEY = "pandawa:config:generation"


class VersionError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def flow_kind(flow_id: str) -> str:
    return f"flow:{flow_id}"


def flow_ids() -> list[str]:
    return sorted(path.stem for path in DEFINITIONS.glob("*.yml"))


def kinds() -> list[str]:
    return [flow_kind(f) for f in flow_ids()] + [TEXTS, SETTINGS]


def _dump(data) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000)


def base_content(kind: str, config_path: str) -> str:
    """The version in the repository's files."""
    if kind.startswith("flow:"):
        return (DEFINITIONS / f"{kind[5:]}.yml").read_text(encoding="utf-8")
    raw = load_product_raw(config_path)
    if kind == TEXTS:
        return _dump(raw["texts"])
    return _dump({key: raw[key] for key in SETTINGS_KEYS if key in raw})


def latest(session, kind: str, status: str) -> ConfigVersion | None:
    return session.scalar(select(ConfigVersion).where(ConfigVersion.kind == kind, ConfigVersion.status == status)
                          .order_by(ConfigVersion.number.desc()).limit(1))


def content(session, kind: str, config_path: str, draft: bool = False) -> str:
    version = (latest(session, kind, VersionStatus.DRAFT) if draft else None) or latest(session, kind, VersionStatus.PUBLISHED)
    return version.content if version else base_content(kind, config_path)


def problems(kind: str, text: str, config_path: str, validators: set[str], actions: set[str]) -> list[str]:
    if kind.startswith("flow:"):
        found = flow_problems(text, validators, actions, source=kind[5:])
        if not found and (yaml.safe_load(text) or {}).get("id") != kind[5:]:
            found = [f"{kind[5:]}: 'id' must stay '{kind[5:]}'"]
        return found
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [f"{kind}: not valid YAML: {exc}"]
    if not isinstance(data, dict):
        return [f"{kind}: must be a mapping"]
    raw = load_product_raw(config_path)
    merged = {**raw, "texts": data} if kind == TEXTS else {**raw, **data}
    try:
        product = Product.checked(merged)
        WorkingCalendar.from_config(product.raw["working_hours"])
    except (ProductConfigError, ValueError, TypeError, ZoneInfoNotFoundError) as exc:
        return [f"{kind}: {exc}"]
    unknown = [item.id for item in product.menu if item.id not in flow_ids()]
    return [f"{kind}: menu service '{service}' has no flow" for service in unknown]


def _next_number(session, kind: str) -> int:
    return (session.scalar(select(func.max(ConfigVersion.number)).where(ConfigVersion.kind == kind)) or 0) + 1


def save_draft(session, kind: str, text: str, staff_id: int | None, note: str = "") -> ConfigVersion:
    """Keep the admin's draft (one per kind), with or without problems."""
    draft = latest(session, kind, VersionStatus.DRAFT)
    if draft is None:
        draft = ConfigVersion(kind=kind, number=_next_number(session, kind), status=VersionStatus.DRAFT)
        session.add(draft)
    draft.content, draft.digest, draft.author_id, draft.note = text, flow_digest(text), staff_id, note or None
    draft.created_at = utcnow()
    return draft


def publish(session, kind: str, staff_id: int | None, found: list[str]) -> ConfigVersion:
    draft = latest(session, kind, VersionStatus.DRAFT)
    if draft is None:
        raise VersionError([f"{kind}: there is no draft to publish"])
    if found:
        raise VersionError(found)
    for old in session.scalars(select(ConfigVersion).where(ConfigVersion.kind == kind,
                                                           ConfigVersion.status == VersionStatus.PUBLISHED)):
        old.status = VersionStatus.SUPERSEDED
    draft.status, draft.published_at, draft.author_id = VersionStatus.PUBLISHED, utcnow(), staff_id
    return draft


def rollback(session, kind: str, version_id: int, staff_id: int | None) -> ConfigVersion:
    old = session.get(ConfigVersion, version_id)
    if old is None or old.kind != kind or old.status == VersionStatus.DRAFT:
        raise VersionError([f"{kind}: no published version {version_id}"])
    existing = latest(session, kind, VersionStatus.DRAFT)
    if existing is not None:
        session.delete(existing)
        session.flush()
    save_draft(session, kind, old.content, staff_id, note=f"rollback to version {old.number}")
    return publish(session, kind, staff_id, [])


def history(session, kind: str) -> list[ConfigVersion]:
    return list(session.scalars(select(ConfigVersion).where(ConfigVersion.kind == kind).order_by(ConfigVersion.number.desc())))


def diff(old: str, new: str, old_name: str = "before", new_name: str = "after") -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name))


def compose(session, config_path: str, validators: set[str], actions: set[str], draft: bool = False) -> tuple[Product, dict[str, Flow]]:
    """The product and flows as published (or with drafts, for a preview)."""
    raw = load_product_raw(config_path)
    raw["texts"] = yaml.safe_load(content(session, TEXTS, config_path, draft))
    raw.update(yaml.safe_load(content(session, SETTINGS, config_path, draft)) or {})
    product = Product.checked(raw)
    flows = {}
    for flow_id in flow_ids():
        flows[flow_id] = parse_flow(content(session, flow_kind(flow_id), config_path, draft), validators, actions, flow_id)
    return product, flows


def flow_by_digest(session, flow_id: str, digest: str, validators: set[str], actions: set[str]) -> Flow | None:
    """The exact version a run started on, to finish it there."""
    version = session.scalar(select(ConfigVersion).where(ConfigVersion.kind == flow_kind(flow_id),
                                                         ConfigVersion.digest == digest).limit(1))
    if version is not None:
        text = version.content
    else:
        path = Path(DEFINITIONS / f"{flow_id}.yml")
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        if flow_digest(text) != digest:
            return None
    try:
        return parse_flow(text, validators, actions, flow_id)
    except FlowError:
        return None
