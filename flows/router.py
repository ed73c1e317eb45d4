"""Understanding a citizen's message and deciding the bot's reply outside a flow run.

``understand`` needs no database (it may call the NLU server: the worker calls it with no transaction
open); ``reply_for`` turns the understanding into reply texts and updates the conversation state.
Order: what is not text (a voice note, a photo…) → numbered/keyword fast path → a ticket number in a
sentence → complaint words → NLU (down: menu by numbers) → "ubah data" without saying which.

The readers below (``media_kind``, ``numbers_in``, ``mentions``; tickets: ``handlers.validators.find_ticket``)
are also used inside a flow run (flows.dialogue), so that a message means the same wherever it arrives.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, field

from handlers.product import Product
from handlers.validators import find_ticket
from handlers.text_keys import SMALL_TALK, media_text
from nlu.client import FALLBACK, NLUClient, NLUUnavailable, Parse

_PUNCT = re.compile(r"[\s.!?*,:;()\-]+")
_NUMBER = re.compile(r"(?<![\d+-])\d[\d .\-]{11,22}\d(?!\d)")
_PHONE_START = ("08", "628")  # a mobile number (0812…, 62812…), never a card number or a NIK
LETTERS = string.ascii_uppercase  # options offered outside the menu: letters, so they never clash with its numbers


@dataclass
class Understanding:
    # service | confirm (a service, asked about first) | not_this (the offer was refused) | ambiguous | choose
    # | fallback | nlu_down | too_long | media | one of SMALL_TALK
    kind: str
    service: str | None = None
    options: list[str] = field(default_factory=list)
    parse: Parse | None = None
    via: str = "nlu"  # nlu | menu (a number or a menu word) | check | ticket | signal
    candidates: list[str] = field(default_factory=list)  # numbers in the message that may answer a question
    media_kind: str | None = None


def normalise(text: str) -> str:
    return _PUNCT.sub(" ", text.lower()).strip()


# ------------------------------------------------------------------------------ readers
def media_kind(media: list[dict], params: dict) -> str | None:
    """What a message that carries something besides text is, as the citizen would say it."""
    if params.get("Latitude") and params.get("Longitude"):
        return "location"
    if not media:
        return None
    content_type = str(media[0].get("content_type", "")).lower().split(";")[0].strip()
    if content_type == "image/webp":
        return "sticker"  # WhatsApp sends stickers as WebP; photos arrive as JPEG
    if content_type.startswith("image/"):
        return "photo"
    if content_type.startswith("audio/"):
        return "voice"
    if content_type.startswith("video/"):
        return "video"
    if content_type in ("text/vcard", "text/x-vcard", "text/directory"):
        return "contact"
    if content_type.startswith(("application/", "text/")):
        return "document"
    return "other"


def numbers_in(body: str) -> list[str]:
    """Card numbers (13 digits) and NIKs (16 digits) typed inside a sentence, separators removed; a phone
    number of the same length ("+62 812…", "0812…") is not one of them."""
    found = (re.sub(r"\D", "", m.group()) for m in _NUMBER.finditer(body or ""))
    return [digits for digits in found if len(digits) in (13, 16) and not digits.startswith(_PHONE_START)]


def mentions(body: str, phrases: tuple[str, ...]) -> bool:
    """One of ``phrases`` appears as whole words in the message (case and punctuation ignored)."""
    padded = f" {normalise(body)} "
    return any(f" {normalise(phrase)} " in padded for phrase in phrases if normalise(phrase))


def lettered(product: Product, services: list[str]) -> str:
    return "\n".join(f"*{LETTERS[i]}*. {product.title_of(s)}" for i, s in enumerate(services))


# ------------------------------------------------------------------------------ outside a flow
def fast_path(body: str, state: dict, product: Product) -> Understanding | None:
    """Letters of options just offered, menu numbers and exact menu words select directly, without the NLU."""
    word = normalise(body)
    offered = state.get("offered") or []
    if offered and len(word) == 1 and word.upper() in LETTERS[:len(offered)]:
        return Understanding("service", service=offered[LETTERS.index(word.upper())], via="menu")
    if len(offered) == 1 and word in product.words("yes") and not word.isdigit():  # "Maksud Anda …?" — "ya"
        return Understanding("service", service=offered[0], via="menu")
    if offered and not word.isdigit() and (word in product.words("no") or word in product.words("not_this")):
        return Understanding("not_this", via="menu")
    if word.isdigit() and 1 <= int(word) <= len(product.menu):
        return Understanding("service", service=product.menu[int(word) - 1].id, via="menu")
    keyword = product.keywords.get(word)
    if keyword in SMALL_TALK:
        return Understanding(keyword, via="menu")
    if keyword:
        return Understanding("service", service=keyword, via="menu")
    return None


def from_parse(parse: Parse, product: Product) -> Understanding:
    services = {item.id for item in product.menu}
    if parse.intent in services:
        if parse.confidence < product.nlu.confirm_below:
            return Understanding("confirm", service=parse.intent, options=[parse.intent], parse=parse)
        return Understanding("service", service=parse.intent, parse=parse)
    if parse.intent in SMALL_TALK:
        return Understanding(parse.intent, parse=parse)
    # nlu_fallback (low confidence or two intents too close) or out_of_scope.
    ranked = [(name, conf) for name, conf in parse.top() if name in services]
    cfg = product.nlu
    if (
        parse.intent == FALLBACK
        and len(ranked) >= 2
        and ranked[1][1] >= cfg.ambiguity_min
        and ranked[0][1] - ranked[1][1] <= cfg.ambiguity_margin
    ):
        return Understanding("ambiguous", options=[ranked[0][0], ranked[1][0]], parse=parse)
    return Understanding("fallback", parse=parse)


def understand(body: str, media: list[dict], params: dict, state: dict, product: Product, nlu: NLUClient) -> Understanding:
    if len(body) > product.body_max_chars:
        return Understanding("too_long", via="check")
    if not body.strip():
        return Understanding("media", via="check", media_kind=media_kind(media, params) or "other")
    quick = fast_path(body, state, product)
    if quick is not None:
        return quick
    services = {item.id for item in product.menu}
    ticket = find_ticket(body) or ("terakhir" if mentions(body, ("tiket terakhir", "permohonan terakhir")) else None)
    if ticket and "case_status" in services:
        return Understanding("service", service="case_status", via="ticket", candidates=[ticket])
    candidates = numbers_in(body)
    if "complaint" in services and mentions(body, product.complaint_signals):
        return Understanding("service", service="complaint", via="signal", candidates=candidates)
    try:
        understanding = from_parse(nlu.parse(body), product)
    except NLUUnavailable:
        return Understanding("nlu_down")
    words, data_services = product.data_change
    if mentions(body, words) and not (understanding.kind in ("service", "confirm")
                                      and understanding.service in data_services):
        return Understanding("choose", options=[s for s in data_services if s in services], parse=understanding.parse)
    understanding.candidates = candidates
    return understanding


def reply_for(understanding: Understanding, state: dict, product: Product) -> list[str]:
    """Replies outside a flow run; mutates ``state`` (the conversation's JSON state)."""
    state.pop("offered", None)
    kind = understanding.kind
    menu = product.menu_text()
    if kind == "too_long":
        return [product.text("body_too_long")]
    if kind == "media":
        key = "photo_before_service" if understanding.media_kind == "photo" else media_text(understanding.media_kind)
        return [product.text(key) + "\n\n" + menu]
    if kind == "nlu_down":
        return [product.text("nlu_unavailable") + "\n" + menu]
    if kind == "confirm":
        state["offered"] = understanding.options
        return [product.text("confirm_service", title=product.title_of(understanding.service))]
    if kind == "not_this":
        return [product.text("misunderstood") + "\n" + menu]
    if kind in ("ambiguous", "choose") and understanding.options:
        state["offered"] = understanding.options
        key = "ambiguous" if kind == "ambiguous" else "data_change_offer"
        return [product.text(key) + "\n" + lettered(product, understanding.options)]
    if kind == "fallback" or kind == "choose":
        return [product.text("fallback") + "\n" + menu]
    if kind == "thanks":
        return [product.text("thanks")]
    if kind in ("affirm", "deny"):  # "ya" after everything is done: nothing was asked
        return [product.text("nothing_pending")]
    if kind == "cancel":
        state.pop("service", None)
        return [product.text("cancelled") + "\n\n" + menu]
    return [menu]  # greet, help, menu, affirm/deny outside a question
