"""Everything that keeps an admin's edit from being published, in one place: a flow definition, the
bot texts, the product settings (menu, working hours, holidays, quiet hours, SLA hours, reject reasons,
keywords).

The console's editors, the raw YAML view and rollbacks all ask ``problems``; an empty list means the
runtime can run it. Problems name the field (and, for holidays typed in a form, the line).
"""
from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from flows.definition import DEFINITIONS, flow_problems, yaml_error
from handlers.catalog import Catalog
from handlers.product import load_product_raw, product_problems
from handlers.text_keys import REQUIRED_TEXTS

TEXTS, SETTINGS = "texts", "settings"
ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
HH_MM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
TIMEZONES = ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura")  # WIB, WITA, WIT


def flow_ids() -> list[str]:
    return sorted(path.stem for path in DEFINITIONS.glob("*.yml"))


def valid_day(value) -> bool:
    try:
        return isinstance(value, date) or bool(ISO_DAY.match(str(value)) and date.fromisoformat(str(value)))
    except ValueError:
        return False


def problems(kind: str, text: str, config_path: str, catalog: Catalog,
             holiday_lines: list[int] | None = None) -> list[str]:
    """Every problem of this version of ``kind`` (``flow:<id>``, ``texts``, ``settings``)."""
    if kind.startswith("flow:"):
        found = flow_problems(text, catalog, source=kind[5:])
        if not found and (yaml.safe_load(text) or {}).get("id") != kind[5:]:
            found = [f"{kind[5:]}: 'id' harus tetap '{kind[5:]}'"]
        return found
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [f"{kind}: {yaml_error(exc)}"]
    if not isinstance(data, dict):
        return [f"{kind}: isinya harus berupa pasangan nama: nilai"]
    raw = load_product_raw(config_path)
    if kind == TEXTS:
        found = [f"texts: {key} kosong" for key, value in data.items()
                 if isinstance(value, str) and not value.strip() and key not in REQUIRED_TEXTS]
        merged = {**raw, "texts": data}
    else:
        found, data = settings_problems(data, holiday_lines)
        merged = {**raw, **data}
    try:
        product_found = product_problems(merged)
    except (LookupError, AttributeError, TypeError):  # shapes of raw YAML the checks do not expect
        product_found = ["ada bagian yang bentuknya tidak sesuai; periksa di tampilan YAML"]
    found += [p if p.startswith(kind) else f"{kind}: {p}" for p in product_found]
    if kind == SETTINGS and isinstance(merged.get("menu"), list):
        services = [item.get("id") for item in merged["menu"] if isinstance(item, dict)]
        found += [f"settings: layanan menu '{s}' belum punya alur" for s in services if s and s not in flow_ids()]
    return list(dict.fromkeys(found))


def settings_problems(data: dict, holiday_lines: list[int] | None) -> tuple[list[str], dict]:
    """The settings' own checks (saying where), and a copy of ``data`` without those faults, so that
    the product's checks look at the rest without repeating them."""
    found, clean, hours = [], dict(data), data.get("working_hours")
    if isinstance(hours, dict):
        hours = clean["working_hours"] = dict(hours)
        try:
            ZoneInfo(str(hours.get("timezone") or TIMEZONES[0]))
        except (ZoneInfoNotFoundError, ValueError):
            found.append(f"settings: working_hours.timezone '{hours['timezone']}' bukan zona waktu yang dikenal "
                         f"(contoh: {', '.join(TIMEZONES)})")
            hours["timezone"] = TIMEZONES[0]
        for key in ("start", "end"):
            if key in hours and not HH_MM.match(str(hours[key]).strip()):
                found.append(f"settings: working_hours.{key} '{hours[key]}' harus berupa jam seperti 08:00")
                hours[key] = "08:00" if key == "start" else "15:00"
        holidays = hours.get("holidays") or []
        if not isinstance(holidays, list):
            found.append("settings: working_hours.holidays harus berupa daftar tanggal")
            holidays = []
        where = [f"baris {n}" for n in holiday_lines or []] or [f"nomor {i + 1}" for i in range(len(holidays))]
        found += [f"settings: working_hours.holidays {where[i]}: '{day}' bukan tanggal (YYYY-MM-DD)"
                  for i, day in enumerate(holidays) if not valid_day(day)]
        hours["holidays"] = [day for day in holidays if valid_day(day)]
    elif hours is not None:
        found.append("settings: working_hours harus berupa pasangan nama: nilai")
        clean.pop("working_hours")
    mappings = ("sla_hours", "reject_reasons", "keywords", "field_labels")
    for key in mappings:
        if key in data and not isinstance(data[key], dict):
            found.append(f"settings: {key} harus berupa pasangan nama: nilai")
            clean.pop(key)
    sla = data.get("sla_hours") if isinstance(data.get("sla_hours"), dict) else {}
    found += [f"settings: sla_hours.{service} harus berupa jumlah jam lebih dari 0" for service, value in sla.items()
              if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0]
    ids = [item.get("id") for item in data.get("menu") or [] if isinstance(item, dict)]
    found += [f"settings: layanan menu '{s}' tercantum dua kali" for s in sorted({i for i in ids if ids.count(i) > 1})]
    return found, clean
