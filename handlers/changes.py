"""A requested data change checked against the membership registry before any photo is asked for:
the card must be one the registry knows, and the new value must differ from the registered one. A
citizen who typed a wrong card number, or asks to "change" the NIK to the one already on the card,
hears it at once instead of days later from an officer.

A card the registry does not know counts against the sender's hourly lookup limit (the same limit as
status checks), so these questions cannot be used to find out which card numbers exist.
"""
from __future__ import annotations

import logging

from handlers import registry as reg
from handlers.context import Context
from handlers.privacy import mask_name
from storage import keys

log = logging.getLogger(__name__)
OUTCOMES = ("ok", "unknown_card", "same_value", "rate_limited")
LOOKUP_WINDOW_SECONDS = 3600


def over_limit(ctx: Context) -> bool:
    """The sender's lookups that found nobody reached the hourly limit."""
    return int(ctx.redis.get(keys.lookup_failures(ctx.citizen.id)) or 0) >= ctx.product.lookup_failures_per_hour


def count_failure(ctx: Context) -> None:
    key = keys.lookup_failures(ctx.citizen.id)
    pipe = ctx.redis.pipeline()
    pipe.incr(key)
    pipe.expire(key, LOOKUP_WINDOW_SECONDS)
    pipe.execute()


def clear_failures(ctx: Context) -> None:
    ctx.redis.delete(keys.lookup_failures(ctx.citizen.id))


def _check(ctx: Context, run: dict, new_value: str | None, registered) -> str:
    if over_limit(ctx):
        log.info("change check refused: citizen_id=%s over the lookup limit", ctx.citizen.id)
        return "rate_limited"
    member = reg.LocalRegistry(ctx.session).by_card(run["values"]["card_number"])
    if member is None:
        count_failure(ctx)
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
