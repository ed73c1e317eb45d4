"""Phone numbers: WhatsApp addresses (``whatsapp:+62…``) and Indonesian numbers to E.164."""
from __future__ import annotations

import phonenumbers

WHATSAPP_PREFIX = "whatsapp:"


class NotWhatsApp(ValueError):
    """The address is not a WhatsApp address (SMS, Messenger, …)."""


class InvalidNumber(ValueError):
    """The number cannot be parsed or is not a possible phone number."""


def to_e164(raw: str, region: str = "ID") -> str:
    """Normalise a number written by a person or a system (08…, 628…, +62 8…) to E.164."""
    text = (raw or "").strip()
    if text.isdigit() and text.startswith("62") and len(text) > 9:
        text = "+" + text  # 628123… written without the plus
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(str(exc)) from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidNumber("not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def whatsapp_to_e164(address: str) -> str:
    """``whatsapp:+6281234567890`` → ``+6281234567890``; anything else raises."""
    if not (address or "").startswith(WHATSAPP_PREFIX):
        raise NotWhatsApp("sender is not a WhatsApp address")
    return to_e164(address[len(WHATSAPP_PREFIX):])


def e164_to_whatsapp(e164: str) -> str:
    return WHATSAPP_PREFIX + e164


def mask(e164: str) -> str:
    """+6281234567890 → +62812****7890 (for staff screens that may not see the whole number)."""
    if len(e164) <= 8:
        return "*" * len(e164)
    return e164[:6] + "*" * (len(e164) - 10) + e164[-4:]
