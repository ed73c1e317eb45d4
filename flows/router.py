"""Understanding a citizen's message and deciding the bot's reply.

``understand`` needs no database (it may call the NLU server: the worker calls it with no transaction
open); ``reply_for`` turns the understanding into reply texts and updates the conversation state.
Order: readable input checks → numbered/keyword fast path → NLU (down: menu by numbers).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from handlers.product import SMALL_TALK, Product
from nlu.client import FALLBACK, NLUClient, NLUUnavailable, Parse

READABLE_MEDIA = ("image/", "application/pdf")
_PUNCT = re.compile(r"[\s.!?*,:;()\-]+")


@dataclass
class Understanding:
    kind: str  # service | ambiguous | fallback | nlu_down | too_long | unsupported_media | one of SMALL_TALK
    service: str | None = None
    options: list[str] = field(default_factory=list)
    parse: Parse | None = None
    via: str = "nlu"  # nlu | menu (a number or a menu word) | check


def normalise(text: str) -> str:
    return _PUNCT.sub(" ", text.lower()).strip()


def fast_path(body: str, state: dict, product: Product) -> Understanding | None:
    """Menu numbers and exact menu words select directly, without the NLU."""
    word = normalise(body)
    offered = state.get("offered") or []
    if word.isdigit() and offered and 1 <= int(word) <= len(offered):
        return Understanding("service", service=offered[int(word) - 1], via="menu")
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
        readable = any(m.get("content_type", "").startswith(READABLE_MEDIA) for m in media)
        return Understanding("help" if readable else "unsupported_media", via="check")
    quick = fast_path(body, state, product)
    if quick is not None:
        return quick
    try:
        return from_parse(nlu.parse(body), product)
    except NLUUnavailable:
        return Understanding("nlu_down")


def reply_for(understanding: Understanding, state: dict, product: Product) -> list[str]:
    """Replies outside a flow run; mutates ``state`` (the conversation's JSON state)."""
    state.pop("offered", None)
    kind = understanding.kind
    menu = product.menu_text()
    if kind == "too_long":
        return [product.text("body_too_long")]
    if kind == "unsupported_media":
        return [product.text("unsupported_media") + "\n\n" + menu]
    if kind == "nlu_down":
        return [product.text("nlu_unavailable") + "\n" + menu]
    if kind == "ambiguous":
        state["offered"] = understanding.options
        titles = [product.service(service).title for service in understanding.options]
        return [product.text("ambiguous", first=titles[0], second=titles[1])]
    if kind == "service":
        item = product.service(understanding.service)
        state["service"] = item.id
        return [product.text("service_selected", title=item.title) + "\n" + item.intro]
    if kind == "fallback":
        return [product.text("fallback") + "\n" + menu]
    if kind == "thanks":
        return [product.text("thanks")]
    if kind == "human_agent":
        return [product.text("human_agent")]
    if kind == "cancel":
        state.pop("service", None)
        return [product.text("cancelled") + "\n\n" + menu]
    return [menu]  # greet, help, affirm/deny outside a question, a photo with no question pending
