"""What domain logic needs from the world, passed in explicitly (no globals): the database session,
the citizen and conversation, product texts, the loaded flows, validators and action handlers.

The flow engine builds one ``Context`` per message and hands it to the action handlers it calls;
handlers read from it and record what must happen after the commit (e.g. a new case to queue).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping

from handlers.product import Product
from storage.models import Citizen, Conversation


@dataclass
class MediaItem:
    """One MediaUrl{N} of the message, downloaded and checked before the transaction."""

    index: int
    declared_type: str
    ok: bool
    problem: str | None = None
    kind: str | None = None          # image | pdf
    content_type: str | None = None
    sha256: str | None = None
    size: int = 0
    width: int | None = None
    height: int | None = None
    sharpness: float | None = None
    phash: str | None = None          # handlers.reuse.perceptual_hash (photos)
    ocr: dict | None = None           # handlers.ocr.Reading.as_json (KTP/KK photos, when OCR is on)
    # The checked bytes, stored (encrypted, by sha256) only with the document that keeps them
    # (flows.answers): a photo no step keeps leaves nothing on disk.
    content: bytes | None = field(default=None, repr=False)

    @property
    def nik_read(self) -> str | None:
        """The NIK read off the card with confidence, if any."""
        return (self.ocr or {}).get("nik") if (self.ocr or {}).get("status") == "read" else None


@dataclass
class Context:
    session: Any
    citizen: Citizen
    conversation: Conversation
    product: Product
    flows: Mapping[str, Any]  # flow id -> flows.definition.Flow (the versions this message runs on)
    validators: Mapping[str, Callable[[str, dict], Any]]
    actions: Mapping[str, Any]  # name -> handlers.catalog.Action
    now: datetime
    settings: Any = None
    redis: Any = None
    created_cases: list[int] = field(default_factory=list)  # to put in front of agents after the commit
