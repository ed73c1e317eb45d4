"""A requested data change checked against the membership registry before any photo is asked for:
the card must be one the registry knows, and the new value must differ from the registered one. A
citizen who typed a wrong card number, or asks to "change" the NIK to the one already on the card,
hears it at once instead of days later from an officer.

A card the registry does not know counts against the sender's hourly lookup limit (handlers.lookups).
"""
from __future__ import annotations

import logging

from handlers import lookups
from handlers import registry as reg
from handlers.context import Context
from handlers.privacy import mask_name

log = logging.getLogger(__name__)
OUTCOMES = ("ok", "unknown_card", "same_value", "rate_limited")


def _check(ctx: Context, run: dict, new_value: str | None, registered) -> str:
    if lookups.over_limit(ctx):
        log.info("change check refused: citizen_id=%s over the lookup limit", ctx.citizen.id)
        return "rate_limited"
    member = reg.LocalRegistry(ctx.session).by_card(run["values"]["card_number"])
    if member is None:
        lookups.count_failure(ctx)
        return "unknown_card"
    run["values"]["member_name"] = mask_name(member.name)
    if new_value and new_value == registered(member):
        return "same_value"
    return "ok"


def check_new_nik(ctx: Context, run: dict) -> str:
    """Change NIK: a known card, and a NIK other than the one it carries."""
    return _check(ctx, run, run["values"].get("nik"), lambda member: member.nik)


def check_new_phone(ctx: Context, run: dict) -> str:
    """Change phone: a known card, and a number other than the one registered for it."""
    return _check(ctx, run, run["values"].get("new_phone"), lambda member: member.phone)
