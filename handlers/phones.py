"""WhatsApp addresses and Indonesian numbers.

A WhatsApp sender is ``whatsapp:+<E.164>`` or, for a user who chose a WhatsApp username and hides
their number, a business-scoped user id (BSUID) such as ``whatsapp:US.13491208655302741918``
(two letters, a dot, letters and digits). Twilio may also send the BSUID in ``ExternalUserId`` beside
a phone number.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import phonenumbers

WHATSAPP_PREFIX = "whatsapp:"
BSUID = re.compile(r"^[A-Z]{2}\.[0-9A-Za-z]{1,128}$")
# The numbers the simulator writes as: 0810 is not assigned to any Indonesian operator, so no citizen
# has one. Messages to them never leave the system. Eight random digits: sessions do not meet.
SIMULATOR_PREFIX = "+62810"
SIMULATOR_DIGITS = 8


class NotWhatsApp(ValueError):
    """The address is not a WhatsApp address (SMS, Messenger, …)."""


class InvalidNumber(ValueError):
    """The number cannot be parsed or is not a possible phone number."""


@dataclass(frozen=True)
class Sender:
    """Who wrote: a phone number (E.164), a business-scoped user id, or both."""

    phone: str | None
    user_id: str | None


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


def user_id_of(address: str | None) -> str | None:
    """``whatsapp:US.1234`` → ``US.1234``; None for anything that is not a business-scoped user id."""
    if not address or not address.startswith(WHATSAPP_PREFIX):
        return None
    value = address[len(WHATSAPP_PREFIX):]
    return value if BSUID.match(value) else None


def whatsapp_to_e164(address: str) -> str:
    """``whatsapp:+6281234567890`` → ``+6281234567890``; anything else raises."""
    if not (address or "").startswith(WHATSAPP_PREFIX):
        raise NotWhatsApp("sender is not a WhatsApp address")
    return to_e164(address[len(WHATSAPP_PREFIX):])


def sender(from_: str, external_user_id: str | None = None) -> Sender:
    """The sender of an inbound message from Twilio's ``From`` (and ``ExternalUserId``).

    Raises NotWhatsApp or InvalidNumber when ``From`` is neither a WhatsApp number nor a BSUID."""
    user_id = user_id_of(from_)
    if user_id:
        return Sender(None, user_id)
    return Sender(whatsapp_to_e164(from_), user_id_of(external_user_id))


def simulator_number() -> str:
    """A made-up number in the simulator's reserved range."""
    return SIMULATOR_PREFIX + f"{secrets.randbelow(10 ** SIMULATOR_DIGITS):0{SIMULATOR_DIGITS}d}"


def is_simulated(e164: str | None) -> bool:
    return bool(e164) and e164.startswith(SIMULATOR_PREFIX) and len(e164) == len(SIMULATOR_PREFIX) + SIMULATOR_DIGITS


def e164_to_whatsapp(e164: str) -> str:
    return WHATSAPP_PREFIX + e164


def address(phone: str | None, user_id: str | None) -> str:
    """Where replies go: the number when we know it, else the business-scoped user id."""
    if phone:
        return WHATSAPP_PREFIX + phone
    if user_id:
        return WHATSAPP_PREFIX + user_id
    raise ValueError("a citizen needs a phone number or a WhatsApp user id")


def mask(e164: str | None) -> str:
    """+6281234567890 → +62*******7890: the country code and the last four digits only (enough to tell
    two numbers apart on a staff screen, not to call the citizen)."""
    if not e164:
        return "—"
    if len(e164) <= 8:
        return "*" * len(e164)
    return e164[:3] + "*" * (len(e164) - 7) + e164[-4:]
