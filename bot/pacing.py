"""Pacing sends to Twilio's limits, shared by every process through Redis.

A WhatsApp sender takes 10 text messages per second by default (50 on request) and 1.5 media messages
per second; what goes faster waits in Twilio's queue (at most 4 hours, then fails), and the whole
account takes 2,000 per second. So every send first asks ``acquire`` for a slot.

Each limit is a GCRA bucket with a burst of 1: the bucket holds the earliest time its next message may
go (Redis' clock, µs) and a slot moves it on by one interval (1 / rate). Two slots of one bucket are
therefore at least one interval apart, and in any window of T seconds a sender sends at most
rate × T + 1 messages, however many processes share it. One Lua script checks and takes every bucket a
message needs at once (all or nothing):

- the sender, every message (the text rate);
- the sender's media messages (the media rate, on top);
- the sender's bulk notifications (``OUTBOUND_BULK_SHARE`` of the text rate: replies keep the rest);
- the account (its ceiling);

and honours pauses (``slow_down`` after Twilio said 429 / 63018 for a sender, ``slow_down_account``
after 63017). A reply to a citizen that finds no free slot leaves a short-lived marker: while it lives
no bulk notification gets a slot, so replies to people who are waiting go first.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from flask import current_app
from redis import Redis

from storage import keys

MICROS = 1_000_000
# How long a sender (or the account) is paused after Twilio said to slow down (429 / 63018, resp. 63017).
SENDER_PAUSE_SECONDS = 5.0
ACCOUNT_PAUSE_SECONDS = 2.0
# How long a waiting reply keeps bulk notifications out beyond its own wait (then it renews it).
REPLY_MARGIN_MICROS = 50_000

_ACQUIRE = """
-- KEYS: 1 sender, 2 sender media, 3 sender bulk, 4 account, 5 sender pause, 6 account pause, 7 reply waiting
-- ARGV: intervals (µs) 1 text, 2 media, 3 bulk, 4 account; 5 media (0/1); 6 bulk (0/1); 7 reply margin (µs)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local media, bulk = ARGV[5] == '1', ARGV[6] == '1'
local buckets = {{KEYS[1], tonumber(ARGV[1])}, {KEYS[4], tonumber(ARGV[4])}}
if media then buckets[#buckets + 1] = {KEYS[2], tonumber(ARGV[2])} end
if bulk then buckets[#buckets + 1] = {KEYS[3], tonumber(ARGV[3])} end
local wait = 0
local holds = {KEYS[5], KEYS[6]}
if bulk then holds[3] = KEYS[7] end
for _, key in ipairs(holds) do
  local left = redis.call('PTTL', key)
  if left > 0 then wait = math.max(wait, left * 1000) end
end
local due = {}
for i, bucket in ipairs(buckets) do
  due[i] = tonumber(redis.call('GET', bucket[1]) or '0')
  if due[i] > now then wait = math.max(wait, due[i] - now) end
end
if wait > 0 then
  if not bulk then
    local ms = math.ceil((wait + tonumber(ARGV[7])) / 1000)
    if redis.call('PTTL', KEYS[7]) < ms then redis.call('SET', KEYS[7], '1', 'PX', ms) end
  end
  return {wait, now}
end
for i, bucket in ipairs(buckets) do
  local next_at = math.max(due[i], now) + bucket[2]
  redis.call('SET', bucket[1], string.format('%d', next_at), 'PX', math.ceil((next_at - now) / 1000) + 1000)
end
return {0, now}
"""

# Lengthen a pause, never shorten one.
_PAUSE = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
return redis.call('PTTL', KEYS[1])
"""


@dataclass(frozen=True)
class Rates:
    """Messages per second: per sender (all, media), the account, and bulk's share of a sender's rate."""

    text: float
    media: float
    account: float
    bulk_share: float

    @classmethod
    def of(cls, settings) -> "Rates":
        return cls(settings.outbound_text_per_second, settings.outbound_media_per_second,
                   settings.outbound_account_per_second, settings.outbound_bulk_share)

    def intervals(self) -> tuple[int, int, int, int]:
        """µs between two slots (rounded up: never faster than the rate): text, media, bulk, account."""
        return tuple(math.ceil(MICROS / rate) for rate in
                     (self.text, self.media, self.text * self.bulk_share, self.account))


def _rates(rates: Rates | None) -> Rates:
    return rates if rates is not None else Rates.of(current_app.config["SETTINGS"])


def take(redis: Redis, sender: str, media: bool = False, bulk: bool = False,
         rates: Rates | None = None) -> tuple[int, int]:
    """``acquire``, in Redis' terms: (µs to wait, 0 when the slot was taken; Redis' clock then, µs)."""
    text, media_interval, bulk_interval, account = _rates(rates).intervals()
    waited, now = redis.register_script(_ACQUIRE)(
        keys=[keys.pacing_sender(sender), keys.pacing_media(sender), keys.pacing_bulk(sender), keys.PACING_ACCOUNT,
              keys.pacing_pause(sender), keys.PACING_ACCOUNT_PAUSE, keys.pacing_reply_waiting(sender)],
        args=[text, media_interval, bulk_interval, account, int(media), int(bulk), text + REPLY_MARGIN_MICROS],
    )
    return int(waited), int(now)


def acquire(redis: Redis, sender: str, media: bool = False, bulk: bool = False, rates: Rates | None = None) -> float:
    """Take a slot for one message from ``sender`` (our number): 0.0 when it may go now; otherwise the
    seconds until one may be free, and nothing is taken. ``bulk``: a notification the bot starts (it
    gets its share of the rate, and nothing while a reply waits). ``rates``: the settings' when not given."""
    return take(redis, sender, media, bulk, rates)[0] / MICROS


def _pause(redis: Redis, key: str, seconds: float) -> float:
    left = redis.register_script(_PAUSE)(keys=[key], args=[max(1, math.ceil(seconds * 1000))])
    return max(int(left), 0) / 1000


def slow_down(redis: Redis, sender: str, seconds: float) -> float:
    """Nothing goes from ``sender`` for ``seconds`` (a longer pause already set is kept). Returns the
    pause now in force, in seconds."""
    return _pause(redis, keys.pacing_pause(sender), seconds)


def slow_down_account(redis: Redis, seconds: float) -> float:
    """Nothing goes from any sender for ``seconds`` (Twilio's account ceiling was hit)."""
    return _pause(redis, keys.PACING_ACCOUNT_PAUSE, seconds)
