"""What an inbound job takes from outside our process: the NLU server's client (one per process, it keeps
its connections) and the photos' downloads and checks, within the message's deadline."""
from __future__ import annotations

import hashlib
import logging
from typing import Callable

from flask import current_app

from bot import metrics
from handlers import ocr, reuse
from handlers.context import MediaItem
from handlers.media import Deadline, fetch_and_check
from nlu.client import NLUClient

log = logging.getLogger(__name__)


def nlu_client() -> NLUClient:
    app = current_app._get_current_object()
    if "nlu" not in app.extensions:
        timeout = app.config["PRODUCT"].nlu.timeout
        settings = app.config["SETTINGS"]
        app.extensions["nlu"] = NLUClient(settings.rasa_url, timeout=timeout, token=settings.rasa_token)
    return app.extensions["nlu"]


def media_checker(deadline: Deadline, cache: dict) -> Callable[..., MediaItem]:
    """Download and check one MediaUrl{N} (before any transaction), within the message's
    deadline; each item is fetched once per message, even when the message is decided again. A photo
    gets its perceptual hash; a photo for a ``document`` with a NIK printed on it (KTP, KK) is read by
    OCR too, within what is left of the deadline."""
    settings = current_app.config["SETTINGS"]

    def check(index: int, media: dict, accept: list[str], document: str | None = None) -> MediaItem:
        key = (index, tuple(accept), document)
        if key not in cache:
            one = Deadline(min(settings.media_timeout, max(deadline.left(), 0.0)))
            checked = fetch_and_check(media["url"], media.get("content_type", ""), settings, want=tuple(accept),
                                      extra_hosts=settings.media_allowed_hosts, deadline=one)
            item = MediaItem(index, media.get("content_type", ""), ok=checked.ok, problem=checked.problem,
                             kind=checked.kind, content_type=checked.content_type, size=checked.size,
                             width=checked.width, height=checked.height, sharpness=checked.sharpness)
            if checked.ok:
                item.sha256, item.content = hashlib.sha256(checked.content).hexdigest(), checked.content
            if checked.ok and checked.kind == "image":
                item.phash = reuse.hash_of(checked.content)
                if document in ocr.READABLE and settings.ocr_enabled:
                    timeout = min(settings.ocr_timeout, max(deadline.left(), 0.0))
                    item.ocr = ocr.reader().read(checked.content, timeout).as_json()
                    metrics.incr(f"ocr_{item.ocr['status']}")  # ocr_read, ocr_not_read, ocr_timeout, ocr_failed
            log.info("media index=%d kind=%s ok=%s problem=%s size=%d", index, checked.kind, checked.ok,
                     checked.problem, checked.size)
            cache[key] = item
        return cache[key]

    return check
