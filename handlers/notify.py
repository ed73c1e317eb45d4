"""Messages the bot starts (not replies): reminders, case updates, apologies.

WhatsApp allows free-form messages only within 24 hours of the citizen's last message to that same
number; after that, or from another number (a case transferred to another branch), an approved template
(Twilio Content SID + variables, from config.yml ``templates``, the sender's own SID when it has one) is used.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from handlers import branches
from handlers.product import Product
from storage.models import Citizen, OutboundMessage, as_utc

WINDOW = timedelta(hours=24)


def in_window(citizen: Citizen, now: datetime) -> bool:
    return citizen.last_inbound_at is not None and now - as_utc(citizen.last_inbound_at) < WINDOW


def _free_form(citizen: Citizen, now: datetime, sender: str | None, last_to: str | None) -> bool:
    return in_window(citizen, now) and (last_to is None or sender is None or sender == last_to)


def free_form(session, citizen: Citizen, now: datetime, sender: str | None) -> bool:
    """Whether a message from ``sender`` (None: the number they last wrote to) may be free-form: inside
    the window of the number the citizen last wrote to, from that number."""
    return _free_form(citizen, now, sender, branches.last_number(session, citizen.id))


def notify(session, citizen: Citizen, text: str, product: Product, now: datetime, template: str,
           variables: dict[str, str], sender: str | None = None) -> OutboundMessage:
    """Store a message to the citizen from ``sender`` (None: the number they last wrote to): free-form
    inside that number's window, the named template outside it."""
    last_to = branches.last_number(session, citizen.id)
    sender = sender or last_to
    if _free_form(citizen, now, sender, last_to):
        row = OutboundMessage(citizen_id=citizen.id, body=text, sender=sender)
    else:
        spec = product.template(template)
        numbered = {str(i): str(variables.get(name, "-")) for i, name in enumerate(spec.variables, start=1)}
        row = OutboundMessage(citizen_id=citizen.id, body=text, content_sid=spec.sid_for(sender),
                              content_variables=numbered, sender=sender)
    session.add(row)
    return row
