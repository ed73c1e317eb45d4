"""What admins edit, versioned: each flow, the bot texts, the product settings (menu, working hours
and holidays, quiet hours, SLA hours, reject reasons, keywords).

The repository's files are the versions before any edit (version 0). ``save_draft`` keeps a draft;
``publish`` makes it live (refused while flows.checks finds problems); ``rollback`` publishes an old
version (or the file version) again as a new one. Which versions are live is decided by the
database: ``published_marker`` changes with every publish, and every process compares it with the one
it loaded (bot.live; a Redis counter only makes them look sooner). Flow runs remember the digest of
the version they started on and finish on it (``pinned``).
"""
from __future__ import annotations

import difflib
from pathlib import Path

import yaml
from sqlalchemy import func, select

from flows.checks import SETTINGS, TEXTS, flow_ids, problems
from flows.definition import DEFINITIONS, Flow, FlowError, flow_digest, parse_flow
from handlers.catalog import Catalog
from handlers.product import Product, load_product_raw
from handlers.text_keys import known_text
from storage.config_versions import ConfigVersion, VersionStatus
from storage.models import utcnow

SETTINGS_KEYS = ("menu", "working_hours", "quiet_hours", "sla_hours", "reject_reasons", "keywords", "field_labels")
BASE = 0  # the "version id" of the repository's files, for a rollback to them

__all__ = ["TEXTS", "SETTINGS", "flow_ids", "problems"]


class VersionError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def flow_kind(flow_id: str) -> str:
    return f"flow:{flow_id}"


def kinds() -> list[str]:
    return [flow_kind(f) for f in flow_ids()] + [TEXTS, SETTINGS]


def dump(data) -> str:
    """YAML as every stored version of texts and settings is written (so a one-line edit diffs as one line)."""
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000)


def base_content(kind: str, config_path: str) -> str:
    """The version in the repository's files."""
    if kind.startswith("flow:"):
        return (DEFINITIONS / f"{kind[5:]}.yml").read_text(encoding="utf-8")
    raw = load_product_raw(config_path)
    if kind == TEXTS:
        return dump(raw["texts"])
    return dump({key: raw[key] for key in SETTINGS_KEYS if key in raw})


def latest(session, kind: str, status: str) -> ConfigVersion | None:
    return session.scalar(select(ConfigVersion).where(ConfigVersion.kind == kind, ConfigVersion.status == status)
                          .order_by(ConfigVersion.number.desc()).limit(1))


def content(session, kind: str, config_path: str, draft: bool = False) -> str:
    version = (latest(session, kind, VersionStatus.DRAFT) if draft else None) or latest(session, kind, VersionStatus.PUBLISHED)
    if version is None:
        return base_content(kind, config_path)
    return _upgraded_texts(version.content, config_path) if kind == TEXTS else version.content


def _upgraded_texts(text: str, config_path: str) -> str:
    """Texts an admin saved, read by a newer release: a text the release added comes from config.yml until
    an admin edits it, and a text it no longer uses is left out (it could no longer be checked)."""
    try:
        published = yaml.safe_load(text)
    except yaml.YAMLError:
        return text  # a draft saved with broken YAML: the checks say so
    if not isinstance(published, dict):
        return text  # not texts at all: the checks say so
    shipped = load_product_raw(config_path)["texts"]
    kept = {key: value for key, value in published.items() if key in shipped or known_text(str(key))}
    return dump({**shipped, **kept})


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
        raise VersionError([f"{kind}: belum ada draf untuk diterbitkan"])
    if found:
        raise VersionError(found)
    for old in session.scalars(select(ConfigVersion).where(ConfigVersion.kind == kind,
                                                           ConfigVersion.status == VersionStatus.PUBLISHED)):
        old.status = VersionStatus.SUPERSEDED
    draft.status, draft.published_at, draft.author_id = VersionStatus.PUBLISHED, utcnow(), staff_id
    return draft


def rollback(session, kind: str, version_id: int, staff_id: int | None, config_path: str,
             catalog: Catalog) -> ConfigVersion:
    """Publish an old version (``BASE``: the repository's file) again as a new version, in the caller's
    transaction: a version that no longer fits the code or the other settings is refused."""
    if version_id == BASE:
        old_content, label = base_content(kind, config_path), "versi asli"
    else:
        old = session.get(ConfigVersion, version_id)
        if old is None or old.kind != kind or old.status == VersionStatus.DRAFT:
            raise VersionError([f"{kind}: versi {version_id} tidak ada atau belum pernah diterbitkan"])
        old_content, label = old.content, f"versi {old.number}"
    found = problems(kind, old_content, config_path, catalog)
    if found:
        raise VersionError(found)
    existing = latest(session, kind, VersionStatus.DRAFT)
    if existing is not None:
        session.delete(existing)
        session.flush()
    save_draft(session, kind, old_content, staff_id, note=f"dikembalikan ke {label}")
    return publish(session, kind, staff_id, [])


def history(session, kind: str) -> list[ConfigVersion]:
    return list(session.scalars(select(ConfigVersion).where(ConfigVersion.kind == kind).order_by(ConfigVersion.number.desc())))


def diff(old: str, new: str, old_name: str = "before", new_name: str = "after") -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name))


def published_marker(session) -> tuple[int, int]:
    """Changes with every publish and rollback (the set of live versions): processes compare it with
    the one they loaded, so a publish takes effect even when the signal through Redis was lost."""
    count, total = session.execute(select(func.count(), func.coalesce(func.sum(ConfigVersion.id), 0))
                                   .where(ConfigVersion.status == VersionStatus.PUBLISHED)).one()
    return int(count), int(total)


def compose(session, config_path: str, catalog: Catalog, draft: bool = False) -> tuple[Product, dict[str, Flow]]:
    """The product and flows as published (or with drafts, for a preview)."""
    raw = load_product_raw(config_path)
    raw["texts"] = yaml.safe_load(content(session, TEXTS, config_path, draft))
    raw.update(yaml.safe_load(content(session, SETTINGS, config_path, draft)) or {})
    product = Product.checked(raw)
    flows = {}
    for flow_id in flow_ids():
        flows[flow_id] = parse_flow(content(session, flow_kind(flow_id), config_path, draft), catalog, flow_id)
    return product, flows


def flow_by_digest(session, flow_id: str, digest: str, catalog: Catalog) -> Flow | None:
    """The exact version a run started on, to finish it there (None when it is gone or no longer loads)."""
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
        return parse_flow(text, catalog, flow_id)
    except FlowError:
        return None


def pinned(session, flows: dict[str, Flow], runs, catalog: Catalog, cache: dict | None = None) -> dict[str, Flow]:
    """``flows`` with each run's flow replaced by the version that run started on (when it differs)."""
    result = dict(flows)
    for run in runs:
        if not run or run.get("flow") not in result or result[run["flow"]].version == run.get("version"):
            continue
        key = (run["flow"], run.get("version", ""))
        if cache is not None and key in cache:
            found = cache[key]
        else:
            found = flow_by_digest(session, run["flow"], run.get("version", ""), catalog)
            if cache is not None:
                cache[key] = found
        if found is not None:
            result[run["flow"]] = found
    return result
