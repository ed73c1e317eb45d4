"""What the engine needs from the world, passed in explicitly (no globals): the database session,
the citizen and conversation, product texts, the loaded flows, validators and action handlers."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from bot.product import Product
from flows.definition import Flow
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


@dataclass
class Input:
    message_id: int
    body: str
    kind: str = "answer"  # answer | cancel | help | human_agent | affirm | deny | ... (see flows.prepare)
    media: list[MediaItem] = field(default_factory=list)


@dataclass
class Context:
    session: Any
    citizen: Citizen
    conversation: Conversation
    product: Product
    flows: dict[str, Flow]
    validators: dict[str, Callable[[str], Any]]
    actions: dict[str, Callable[["Context", dict], str]]
    now: datetime
    settings: Any = None
    redis: Any = None
    after_commit: list[Callable[[], None]] = field(default_factory=list)  # e.g. enqueue the new case
