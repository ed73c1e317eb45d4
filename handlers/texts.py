"""Texts with {placeholders}: what a template may contain, and filling it.

A template may use ``{name}`` (a value the bot fills) and ``{name:spec}`` (a format spec such as
``{hours:g}``); ``{{`` and ``}}`` are literal braces. Attribute or index access (``{x.y}``,
``{x[0]}``), conversions (``{x!r}``), positional fields (``{}``, ``{0}``) and unbalanced braces are
refused when an admin saves a text (``problems``), and ``render`` never raises at run time: a text
that slipped through is sent with the faulty part left as written rather than failing the message.
"""
from __future__ import annotations

import re
import string
from typing import Any, Iterable, Mapping

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Format specs a text may use: alignment, a width below 100, a precision, a number type ({hours:g}, {n:>3}).
SPEC = re.compile(r"^[<>^]?\d{0,2}(\.\d)?[dfg%]?$")
_FORMATTER = string.Formatter()
# What a YAML value that should have been a text is, in the admin's words.
TYPE_NAMES = {"int": "angka", "float": "angka", "bool": "true/false", "list": "daftar",
              "dict": "pasangan nama: nilai", "NoneType": "kosong", "date": "tanggal", "datetime": "tanggal"}


class TemplateError(ValueError):
    """The template cannot be filled safely (the message says why)."""


def fields(template: str) -> list[tuple[str, str]]:
    """``(name, format spec)`` of every placeholder, in order; TemplateError when malformed."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError:
        raise TemplateError("kurung kurawal { } tidak berpasangan; tulis {{ atau }} untuk kurung kurawal "
                            "itu sendiri") from None
    found = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not NAME.match(name):
            raise TemplateError(f"'{{{name}}}' bukan isian yang sah; pakai nama biasa seperti {{ticket}}")
        if conversion:
            raise TemplateError(f"'{{{name}!{conversion}}}' tidak boleh; tulis {{{name}}}")
        if spec and not SPEC.match(spec):
            raise TemplateError(f"'{{{name}:{spec}}}': pakai {{{name}}} saja "
                                f"(atau format angka pendek seperti {{{name}:g}})")
        found.append((name, spec or ""))
    return found


def placeholders(template: str) -> set[str]:
    return {name for name, _ in fields(template)}


def problems(template: Any, allowed: Iterable[str] | None, where: str) -> list[str]:
    """What is wrong with a text an admin wrote: not text, malformed braces, placeholders the bot
    does not fill here (``allowed``; None means any name is accepted)."""
    if not isinstance(template, str):
        kind = TYPE_NAMES.get(type(template).__name__, type(template).__name__)
        return [f"{where} harus berupa teks, bukan {kind}"]
    try:
        used = placeholders(template)
    except TemplateError as exc:
        return [f"{where}: {exc}"]
    if allowed is None:
        return []
    unknown = used - set(allowed)
    if not unknown:
        return []
    offered = ", ".join("{%s}" % n for n in sorted(allowed)) or "tidak ada"
    return [f"{where} memakai {', '.join('{%s}' % n for n in sorted(unknown))}, yang tidak diisi bot di sini "
            f"(yang tersedia: {offered})"]


def _format(value: Any, spec: str) -> str:
    if value is None:
        return ""
    if spec and SPEC.match(spec):
        try:
            return format(value, spec)
        except (ValueError, TypeError, OverflowError):
            pass
    return str(value)


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill the placeholders; a value that is not there becomes empty. Never raises."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError:
        return template  # unbalanced braces: sent as written, never a failed message
    out = []
    for literal, name, spec, conversion in parsed:
        out.append(literal)
        if name is None:
            continue
        if NAME.match(name) and not conversion:
            out.append(_format(values.get(name), spec or ""))
        else:  # {x.y}, {x[0]}, {x!r}, {}: kept as written
            out.append("{" + name + ("!" + conversion if conversion else "") + (":" + spec if spec else "") + "}")
    return "".join(out)


def service_key(texts: Mapping[str, Any], key: str, service: str) -> str:
    """``<key>_<service>`` when ``texts`` has that service's own words (a complaint is "ditindaklanjuti",
    never "disetujui"), else ``key``: the one rule for per-service texts, in config.yml and in flows."""
    own = f"{key}_{service}"
    return own if str(texts.get(own) or "").strip() else key


def display(value) -> str:
    """How a stored value is shown back to the citizen: ISO dates as DD-MM-YYYY."""
    text = str(value)
    if len(text) == 10 and text[4] == "-" and text[7] == "-" and text.replace("-", "").isdigit():
        return f"{text[8:10]}-{text[5:7]}-{text[0:4]}"
    return text


def rupiah(amount: int) -> str:
    """An amount as Indonesians write it: ``Rp1.250.000``."""
    return "Rp" + f"{amount:,}".replace(",", ".")
