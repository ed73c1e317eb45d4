"""The sender's hourly limit on registry lookups that found nobody: status checks, reactivation and the
card checks of a data change count against one limit, so no question can be used to find out which card
numbers (or which card and date of birth) exist."""
from __future__ import annotations

from handlers.context import Context
from storage import keys

WINDOW_SECONDS = 3600


def over_limit(ctx: Context) -> bool:
    """The sender's lookups that found nobody reached the hourly limit."""
    return int(ctx.redis.get(keys.lookup_failures(ctx.citizen.id)) or 0) >= ctx.product.lookup_failures_per_hour


def count_failure(ctx: Context) -> None:
    key = keys.lookup_failures(ctx.citizen.id)
    pipe = ctx.redis.pipeline()
    pipe.incr(key)
    pipe.expire(key, WINDOW_SECONDS)
    pipe.execute()


def clear_failures(ctx: Context) -> None:
    ctx.redis.delete(keys.lookup_failures(ctx.citizen.id))
