"""The validators flow steps name (``validator: nik``), registered in one place.

Each takes the citizen's text and the run's values and returns a JSON-safe value (dates as ISO
strings), or raises ``handlers.validators.Invalid`` with a code the flow turns into a text.
"""
from __future__ import annotations

import re
from typing import Callable

from handlers import validators as v
from handlers.validators import Invalid

_LAST_WORDS = {"terakhir", "yang terakhir", "permohonan terakhir", "tiket terakhir", "terbaru"}
_SPACES = re.compile(r"\s+")


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def card_or_nik(text: str, values: dict) -> str:
    digits = re.sub(r"[\s.\-]", "", text)
    if len(digits) == 16:
        return v.nik(digits)
    if len(digits) == 13:
        return v.card_number(digits)
    raise Invalid("card_or_nik")


def new_phone(text: str, values: dict) -> str:
    """A new mobile number, or "1" for the WhatsApp number the citizen writes from."""
    if _clean(text) == "1" and values.get("sender_phone"):
        return values["sender_phone"]
    return v.mobile_phone(text)


def ticket_or_last(text: str, values: dict) -> str:
    if _clean(text).lower() in _LAST_WORDS:
        return "LAST"
    return v.ticket(text)


def text_between(shortest: int, longest: int) -> Callable[[str, dict], str]:
    """Free text of a sensible length (spaces tidied)."""

    def check(text: str, values: dict) -> str:
        cleaned = _clean(text)
        if len(cleaned) < shortest:
            raise Invalid("text_too_short")
        if len(cleaned) > longest:
            raise Invalid("text_too_long")
        return cleaned

    return check


NIK_CODES = ("nik_length", "nik_digits", "nik_region", "nik_date", "nik_sequence")
CARD_CODES = ("card_length", "card_digits")
PHONE_CODES = ("phone_invalid", "phone_not_mobile")
TEXT_CODES = ("text_too_short", "text_too_long")

# The error codes each validator can raise: each needs a text (``error_<code>``) the citizen reads.
ERROR_CODES: dict[str, tuple[str, ...]] = {
    "card_number": CARD_CODES,
    "nik": NIK_CODES,
    "kk": ("kk_length", "kk_digits", "kk_region", "kk_sequence"),
    "mobile_phone": PHONE_CODES,
    "birth_date": ("date_invalid", "date_future"),
    "card_or_nik": ("card_or_nik",) + NIK_CODES + CARD_CODES,
    "new_phone": PHONE_CODES,
    "ticket_or_last": ("ticket_invalid",),
    "short_text": TEXT_CODES,
    "long_text": TEXT_CODES,
}

VALIDATORS: dict[str, Callable[[str, dict], str]] = {
    "card_number": lambda text, values: v.card_number(text),
    "nik": lambda text, values: v.nik(text),
    "kk": lambda text, values: v.kk(text),
    "mobile_phone": lambda text, values: v.mobile_phone(text),
    "birth_date": lambda text, values: v.birth_date(text).isoformat(),
    "card_or_nik": card_or_nik,
    "new_phone": new_phone,
    "ticket_or_last": ticket_or_last,
    "short_text": text_between(3, 200),
    "long_text": text_between(10, 1500),
}
