"""Showing personal data only to whom needs it: what staff who do not hold a case see of it.

A case's fields are personal data (UU 27/2022): NIK, KK, card and phone numbers, names, dates of
birth, what happened to the citizen. Staff who do not hold the case see only what tells them what
kind of case it is (the service, a complaint's category and facility, the ticket); every number is
masked but for its last four digits, names keep their initials, and everything else is hidden.
"""
from __future__ import annotations

import re

# Fields that say what the case is about, not who it is about.
OPEN_FIELDS = frozenset({"category", "category_title", "facility", "ticket", "promise", "flow", "decree_number",
                         "assessment", "deadline_text"})
NAME_FIELDS = frozenset({"member_name", "name", "profile_name"})
HIDDEN = "•••"
_DIGITS = re.compile(r"\d[\d .\-]{4,}\d")


def mask_digits(text: str) -> str:
    """Every run of 6+ digits (NIK, KK, card, phone, with or without separators) keeps its last 4."""
    def _mask(match: re.Match) -> str:
        digits = re.sub(r"\D", "", match.group())
        return "•" * (len(digits) - 4) + digits[-4:] if len(digits) >= 6 else match.group()
    return _DIGITS.sub(_mask, text)


def mask_name(name: str | None) -> str:
    """The one way a name is shown to whom may not read it whole, citizens (a card's holder after a status
    check) and staff who do not hold the case alike: every word keeps its first letter and at least three
    stars hide the rest, so a short word's length is not told either.
    'Siti Rahmawati' -> 'S*** R********', 'M Yusuf' -> 'M*** Y****', 'Sukarno' -> 'S******'."""
    words = str(name or "").split()
    if not words:
        return "—"
    return " ".join(word[0] + "*" * max(len(word) - 1, 3) for word in words)


_DATE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}$")


def mask_value(key: str, value) -> str:
    if key in OPEN_FIELDS:
        return "" if value is None else str(value)
    if key in NAME_FIELDS:
        return mask_name(value)
    if key.endswith("date") or _DATE.match(str(value or "")):
        return HIDDEN if value else ""  # no part of a date of birth
    text = "" if value is None else str(value)
    if text and _DIGITS.search(text) and len(re.sub(r"[\d .\-+]", "", text)) == 0:
        return mask_digits(text)  # a number, nothing else: its last digits help to tell cases apart
    return HIDDEN if text else ""


def mask_fields(fields: dict) -> dict:
    return {key: mask_value(key, value) for key, value in (fields or {}).items()}
