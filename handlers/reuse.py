"""Spotting a reused document: a KTP/KK photo of one case that is also on another case, sent from another
number or for another participant. Both cases are flagged for the officer, with a link between them.

Three signals, measured on generated cards by bench/photo_reuse.py (docs/photo-reuse.md):

- ``same_file``: the same bytes (SHA-256): a forward of the very file. No false positive possible.
- ``same_nik``: the same NIK read off the card with confidence (handlers.ocr): any copy of the card,
  re-photographed or not, that OCR can read.
- ``same_photo``: identical perceptual hashes (a 64-bit DCT hash, ``perceptual_hash``): the same picture
  re-encoded or rescaled — unless OCR read both and the NIKs differ. The weakest signal: different cards of
  one layout can share a hash too (measured: 2 pairs of 21,315 generated KTPs), so the officer is told it
  is a likeness, not proof. Re-photographed copies are *not* near their original (a global hash sees the
  template and the light, not the text): only the NIK finds those.

A match is information for the officer, never a refusal: a family sharing one KK, or a relative helping
from their own phone, is legitimate and the officer judges it.

Who owns what: this module decides what matches; ``record_matches`` writes the rows (insert-if-absent on a
unique pair) in the caller's transaction, for the documents of one case (bot.jobs runs it when the case is
queued, and again when the citizen sends a document the officer asked for).
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageOps
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from handlers.registry import LocalRegistry, MembershipRegistry
from handlers.validators import CARD_DIGITS, NIK_DIGITS
from storage.cases import Case, Document, DocumentMatch

HASH_SIDE, HASH_KEEP = 32, 8  # 32 x 32 grey pixels, the 8 x 8 lowest frequencies: 64 bits
# Identical hashes only. Different cards of one layout come within 0-2 bits of each other (every hash has 32
# bits set, so distances are even): at <= 2 bits 0.18 % of pairs of different generated KTPs matched, at 0
# bits 2 pairs in 21,315, finding 58 % of forwarded copies (bench/photo_reuse.py, docs/photo-reuse.md).
SAME_PHOTO_BITS = 0
CHECKED_KINDS = ("ktp", "kk")  # documents that identify someone (a receipt or a letter may well be shared)
REASONS = ("same_file", "same_photo", "same_nik")
# Where a case names its participant, most telling first (change_nik: the card, whose holder's NIK it changes).
PARTICIPANT_FIELDS = ("card_number", "participant", "id_number", "nik")


@lru_cache(maxsize=1)
def _cosines() -> tuple[tuple[float, ...], ...]:
    """cos(pi * (2x + 1) * u / 2N) for the kept frequencies u and every pixel x."""
    return tuple(tuple(math.cos(math.pi * (2 * x + 1) * u / (2 * HASH_SIDE)) for x in range(HASH_SIDE))
                 for u in range(HASH_KEEP))


def perceptual_hash(image: Image.Image) -> str:
    """A 64-bit DCT hash of the image as 16 hex digits: each kept frequency above their median is a 1."""
    gray = ImageOps.exif_transpose(image).convert("L").resize((HASH_SIDE, HASH_SIDE), Image.Resampling.LANCZOS)
    pixels = list(gray.tobytes())  # one byte per grey pixel
    cos = _cosines()
    across = [[sum(p * c for p, c in zip(pixels[y * HASH_SIDE:(y + 1) * HASH_SIDE], cos[u])) for u in range(HASH_KEEP)]
              for y in range(HASH_SIDE)]
    coefficients = [sum(across[y][u] * cos[v][y] for y in range(HASH_SIDE))
                    for v in range(HASH_KEEP) for u in range(HASH_KEEP)]
    middle = sorted(coefficients[1:])[len(coefficients[1:]) // 2]
    bits = sum(1 << i for i, value in enumerate(coefficients) if value > middle)
    return f"{bits:016x}"


def hash_of(content: bytes) -> str | None:
    """The perceptual hash of an image's bytes (None when they are not an image Pillow opens)."""
    try:
        with Image.open(io.BytesIO(content)) as img:
            return perceptual_hash(img)
    except (OSError, ValueError, SyntaxError):
        return None


def distance(a: str, b: str) -> int:
    """Differing bits of two hashes."""
    return bin(int(a, 16) ^ int(b, 16)).count("1")


@dataclass(frozen=True)
class Match:
    document_id: int
    other_document_id: int
    reason: str
    distance: int | None = None


def _person(registry: MembershipRegistry, case: Case | None) -> str | None:
    """Who a case is for, as one key: the NIK of the card number or NIK it names (the card number itself when
    the registry does not know it), so that a card number on one case and its holder's NIK on another are
    the same participant. None when the case names nobody."""
    fields = (case.fields or {}) if case else {}
    for key in PARTICIPANT_FIELDS:
        number = "".join(ch for ch in str(fields.get(key) or "") if ch.isdigit())
        if len(number) == CARD_DIGITS:
            member = registry.by_card(number)
            return (member.nik if member and member.nik else None) or number
        if len(number) == NIK_DIGITS:
            return number
    return None


def _reused(registry: MembershipRegistry, doc: Document, case: Case, other: Document, other_case: Case) -> bool:
    """Another number, or another participant: the same citizen sending their own KTP twice is not reuse."""
    if doc.citizen_id != other.citizen_id:
        return True
    mine, theirs = _person(registry, case), _person(registry, other_case)
    return bool(mine and theirs and mine != theirs)


def matches_for(session, case: Case) -> list[Match]:
    """The documents of other cases that match this case's KTP/KK documents."""
    found: list[Match] = []
    registry = LocalRegistry(session)
    for doc in [d for d in case.documents if d.kind in CHECKED_KINDS]:
        near = [Document.sha256 == doc.sha256]
        if doc.ocr_nik:
            near.append(Document.ocr_nik == doc.ocr_nik)
        if doc.phash:
            near.append(Document.phash == doc.phash)
        candidates = session.execute(
            select(Document, Case).join(Case, Document.case_id == Case.id)
            .where(Document.case_id != case.id, Document.kind.in_(CHECKED_KINDS), Document.id != doc.id, or_(*near))
            .order_by(Document.id)).all()
        for other, other_case in candidates:
            match = _match(doc, other)
            if match and _reused(registry, doc, case, other, other_case):
                found.append(match)
    return found


def _match(doc: Document, other: Document) -> Match | None:
    """Why two documents are the same card, strongest reason first. Near perceptual hashes alone are not
    enough where OCR read both cards and the NIKs differ: cards of one template are near each other too."""
    if doc.sha256 == other.sha256:
        return Match(doc.id, other.id, "same_file")
    if doc.ocr_nik and doc.ocr_nik == other.ocr_nik:
        return Match(doc.id, other.id, "same_nik")
    contradicted = bool(doc.ocr_nik and other.ocr_nik)  # both read, and (from above) not the same NIK
    if doc.phash and other.phash and not contradicted and (bits := distance(doc.phash, other.phash)) <= SAME_PHOTO_BITS:
        return Match(doc.id, other.id, "same_photo", bits)
    return None


def record_matches(session, case: Case) -> int:
    """Store this case's matches both ways, once each (two workers queueing two matching cases at the same
    moment both try: the unique pair decides, the loser's insert is dropped); returns how many are new."""
    new = 0
    for match in matches_for(session, case):
        for mine, theirs in ((match.document_id, match.other_document_id), (match.other_document_id, match.document_id)):
            if session.scalar(select(DocumentMatch.id).where(DocumentMatch.document_id == mine,
                                                             DocumentMatch.other_document_id == theirs)) is not None:
                continue
            try:
                with session.begin_nested():
                    session.add(DocumentMatch(document_id=mine, other_document_id=theirs, reason=match.reason,
                                              distance=match.distance))
                new += 1
            except IntegrityError:
                pass  # recorded meanwhile by the other case's job
    return new


@dataclass(frozen=True)
class Reuse:
    """One match as the officer sees it on a case: which of its documents, the other case, and why."""

    document_id: int
    document_kind: str
    other_case_id: int | None
    other_ticket: str | None
    reason: str
    distance: int | None


def reuses_of(session, case_id: int) -> list[Reuse]:
    """The matches of a case's documents, with the other case (the officer's view)."""
    mine = Document.__table__.alias("mine")
    rows = session.execute(
        select(DocumentMatch, mine.c.kind, Document.case_id, Case.ticket)
        .join(mine, DocumentMatch.document_id == mine.c.id)
        .join(Document, DocumentMatch.other_document_id == Document.id)
        .outerjoin(Case, Document.case_id == Case.id)
        .where(mine.c.case_id == case_id).order_by(DocumentMatch.id)).all()
    return [Reuse(m.document_id, kind, other_case, ticket, m.reason, m.distance) for m, kind, other_case, ticket in rows]
