"""Decides the bot's reply to one inbound message, from the conversation state and config texts."""
from __future__ import annotations

from bot.product import Product
from storage.models import Conversation, InboundMessage

READABLE_MEDIA = ("image/", "application/pdf")


def respond(message: InboundMessage, conversation: Conversation, product: Product) -> list[str]:
    """The replies (texts) to send for this message, in order; updates ``conversation.state``."""
    if len(message.body) > product.body_max_chars:
        return [product.text("body_too_long")]
    if not message.body.strip() and message.media and not any(
        m["content_type"].startswith(READABLE_MEDIA) for m in message.media
    ):
        return [product.text("unsupported_media"), product.menu_text()]
    if not message.body.strip() and not message.media and message.params.get("Latitude"):
        return [product.text("unsupported_media"), product.menu_text()]

    state = dict(conversation.state or {})
    first_contact = not state.get("greeted")
    state["greeted"] = True
    conversation.state = state
    name = message.citizen.profile_name if message.citizen else None
    greeting = product.text("greeting", name=f" {name}" if name else "")
    if first_contact:
        return [greeting + "\n" + product.menu_text()]
    return [product.menu_text()]

