"""Messages the bot starts (not replies): reminders, case updates, apologies.

WhatsApp allows free-form messages only within 24 hours of the citizen's last message; after that
an approved template (Twilio Content SID + variables, from config.yml ``templates``) is used.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from handlers.product import Product
from storage.models import Citizen, OutboundMessage, as_utc

WINDOW = timedelta(hours=24)


def in_window(citizen: Citizen, now: datetime) -> bool:
    return citizen.last_inbound_at is not None and now - as_utc(citizen.last_inbound_at) < WINDOW


def notify(session, citizen: Citizen, text: str, product: Product, now: datetime, template: str,
           variables: dict[str, str]) -> OutboundMessage:
    """Store a message to the citizen: free-form inside the window, the named template outside it."""
    if in_window(citizen, now):
        row = OutboundMessage(citizen_id=citizen.id, body=text)
    else:
        spec = product.template(template)
        numbered = {str(i): str(variables.get(name, "-")) for i, name in enumerate(spec.variables, start=1)}
        row = OutboundMessage(citizen_id=citizen.id, body=text, content_sid=spec.content_sid,
                              content_variables=numbered)
    session.add(row)
    return row
