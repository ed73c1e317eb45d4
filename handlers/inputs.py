"""The validators flow steps name (``validator: nik``), registered in one place.

Each takes the citizen's text and the run's values and returns a JSON-safe value (dates as ISO
strings), or raises ``handlers.validators.Invalid`` with a code the flow turns into a text.
"""
from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Callable

from handlers import validators as v
from handlers.validators import Invalid

_LAST_WORDS = {"terakhir", "yang terakhir", "permohonan terakhir", "tiket terakhir", "terbaru"}
_SPACES = re.compile(r"\s+")


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def card_or_nik(text: str, values: dict) -> str:
    digits = re.sub(r"[\s.\-]", "", text)
    if len(digits) == v.NIK_DIGITS:
        return v.nik(digits)
    if len(digits) == v.CARD_DIGITS:
        return v.card_number(digits)
    raise Invalid("card_or_nik")


def new_phone(text: str, values: dict) -> str:
    """A new mobile number, or "1" for the WhatsApp number the citizen writes from."""
    if _clean(text) == "1" and values.get("sender_phone"):
        return values["sender_phone"]
    return v.mobile_phone(text)


_WORDS = re.compile(r"[^\w]+")


def ticket_or_last(text: str, values: dict) -> str:
    """A ticket number, also inside a sentence or copied with WhatsApp's *bold* ("gimana tiket *PDW-…*.");
    or the citizen's latest case ("terakhir", "tiket terakhir dong")."""
    found = v.find_ticket(text)
    if found:
        return v.ticket(found)
    said = _WORDS.sub(" ", text.lower()).strip()
    if any(f" {w} " in f" {said} " for w in _LAST_WORDS):
        return "LAST"
    return v.ticket(text)


# Days before today that words for a recent day mean.
_RECENT_DAYS = {"hari ini": 0, "tadi": 0, "td": 0, "barusan": 0, "kemarin": 1, "kemaren": 1, "kmrn": 1,
                "kemarin lusa": 2, "2 hari lalu": 2, "dua hari lalu": 2, "3 hari lalu": 3, "tiga hari lalu": 3}
EVENT_MAX_AGE_DAYS = 2 * 366  # complaints are about what happened recently


def event_date(text: str, values: dict, today: date | None = None) -> str:
    """The day something happened: a date as people write it, or "hari ini" / "kemarin"."""
    today = today or date.today()
    cleaned = _clean(text).lower().strip(".!")
    if cleaned in _RECENT_DAYS:
        return (today - timedelta(days=_RECENT_DAYS[cleaned])).isoformat()
    day = v.birth_date(cleaned, today)  # the same reading of dates, never after today
    if day < today - timedelta(days=EVENT_MAX_AGE_DAYS):
        raise Invalid("event_too_old")
    return day.isoformat()


def list_number(text: str, values: dict) -> str:
    """The number of an item in a list the question showed ("2", "*2*", "no 2", "nomor 2."): checked
    against the list by the flow's next action (the list is the run's, not the validator's)."""
    cleaned = re.sub(r"^(no|nomor|nmr|angka)\b", "", _clean(text).lower().strip(" *.()")).strip(" *.")
    if not cleaned.isdigit() or not cleaned.isascii() or len(cleaned) > 2 or int(cleaned) < 1:
        raise Invalid("list_number")
    return str(int(cleaned))


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
    "event_date": ("date_invalid", "date_future", "event_too_old"),
    "list_number": ("list_number",),
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
    "event_date": event_date,
    "list_number": list_number,
    "short_text": text_between(3, 200),
    "long_text": text_between(10, 1500),
}
