"""Finding cases: what an officer types in the queue's search box, turned into one SQL condition.

A term is read as one kind of key, by its shape:

- a ticket, whole or in part: ``PDW-20261204-0001``, ``PDW-202612``, ``20261204-0001``, ``0001``;
- a NIK (16 digits) or a JKN-KIS card number (13 digits), with or without separators: looked for in
  the case's fields (``nik``, ``card_number``, ``id_number``, ``participant``…), a JSON column, as an
  exact value inside its text (portable: PostgreSQL's ``json::text`` and SQLite's stored text alike);
- an Indonesian phone number (``0812…``, ``62812…``, ``+62 812-…``): normalised to E.164 and matched
  against the citizen's WhatsApp number and the numbers in the case's fields (``new_phone``);
- anything with letters: a name, case-insensitive, in the ``member_name`` field or the citizen's
  WhatsApp profile name.

A search is personal data: ``Search.audit_detail`` says what kind of search it was with the term
masked (last four digits, a name's initials), never the term itself.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Text, cast, func, or_

from handlers import phones
from handlers.privacy import mask_digits, mask_name
from handlers.validators import CARD_DIGITS, NIK_DIGITS
from storage.cases import Case
from storage.models import Citizen

TICKET, NIK, CARD, PHONE, NAME = "ticket", "nik", "card", "phone", "name"
KIND_LABELS = {TICKET: "tiket", NIK: "NIK", CARD: "nomor kartu", PHONE: "nomor HP", NAME: "nama"}
PHONE_MIN_DIGITS = 9     # 08 + at least 7: shorter runs of digits are read as part of a ticket
MIN_LENGTH = 3           # shorter terms would match almost every case
MAX_LENGTH = 64          # longer than any key: the rest is cut off
TICKET_PREFIX = "PDW"
_NUMBER = re.compile(r"[\d\s.\-+()]+")          # digits, as people write numbers
_TICKET_PART = re.compile(r"(PDW)?-?[\d-]*")    # after spaces are removed and letters upper-cased
_PHONE_STARTS = ("08", "628")
_LIKE_ESCAPE = "!"


class Unsearchable(ValueError):
    """The term is too short, or a phone number that cannot be one; ``reason`` says which."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Search:
    kind: str    # TICKET, NIK, CARD, PHONE or NAME
    term: str    # normalised: an upper-case ticket part, digits, an E.164 number, a lower-case name
    masked: str  # what the audit log may keep of it

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def audit_detail(self) -> str:
        return f"{self.kind} {self.masked}"

    def condition(self) -> ColumnElement[bool]:
        """The SQL condition on ``Case`` (self-contained: it needs no join)."""
        if self.kind == TICKET:
            return func.upper(Case.ticket).like(f"%{_escape(self.term)}%", escape=_LIKE_ESCAPE)
        if self.kind in (NIK, CARD):
            return _in_fields(self.term)
        if self.kind == PHONE:
            return or_(Case.citizen.has(Citizen.phone == self.term), _in_fields(self.term))
        pattern = f"%{_escape(self.term)}%"
        return or_(
            func.lower(Case.fields["member_name"].as_string()).like(pattern, escape=_LIKE_ESCAPE),
            Case.citizen.has(func.lower(Citizen.profile_name).like(pattern, escape=_LIKE_ESCAPE)),
        )


def parse(raw: str | None) -> Search | None:
    """The search a term asks for; None for an empty term. Raises Unsearchable("short") for a term too
    short to search, Unsearchable("phone") for what looks like a phone number but cannot be one."""
    text = " ".join((raw or "").split())[:MAX_LENGTH]
    if not text:
        return None
    if len(text) < MIN_LENGTH:
        raise Unsearchable("short")
    compact = re.sub(r"\s", "", text).upper()
    if compact.startswith(TICKET_PREFIX) and _TICKET_PART.fullmatch(compact):
        return Search(TICKET, compact, mask_digits(compact))
    if not _NUMBER.fullmatch(text):
        return Search(NAME, text.lower(), mask_name(text))
    digits = re.sub(r"\D", "", text)
    if text.startswith("+") or (digits.startswith(_PHONE_STARTS) and len(digits) >= PHONE_MIN_DIGITS):
        try:
            e164 = phones.to_e164(digits if not text.startswith("+") else "+" + digits)
        except phones.InvalidNumber:
            raise Unsearchable("phone") from None
        return Search(PHONE, e164, phones.mask(e164))
    if len(digits) == NIK_DIGITS:
        return Search(NIK, digits, mask_digits(digits))
    if len(digits) == CARD_DIGITS:
        return Search(CARD, digits, mask_digits(digits))
    part = re.sub(r"[^\d-]", "", text)
    if len(part) < MIN_LENGTH:
        raise Unsearchable("short")
    return Search(TICKET, part, mask_digits(part))


def _in_fields(value: str) -> ColumnElement[bool]:
    """A case whose fields hold exactly this value (a JSON string), under any key, at any depth."""
    return cast(Case.fields, Text).like(f'%"{_escape(value)}"%', escape=_LIKE_ESCAPE)


def _escape(term: str) -> str:
    """A term for LIKE: its own wildcards are plain characters."""
    return term.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2).replace("%", _LIKE_ESCAPE + "%").replace(
        "_", _LIKE_ESCAPE + "_")
