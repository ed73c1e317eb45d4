"""RQ jobs for inbound messages. Jobs take ids, reload rows and keep no session open while waiting.

One citizen's messages are handled one at a time and in arrival order, whichever worker runs the
job: the job takes the citizen's Redis lock, then handles every stored, unhandled message of that
citizen oldest first. Other citizens' jobs run in parallel on other workers.
"""
from __future__ import annotations

import functools
import logging
from typing import Callable, TypeVar

from flask import current_app, has_app_context
from redis.exceptions import LockError, LockNotOwnedError
from sqlalchemy import select

from bot import metrics, queues
from flows.context import Context, MediaItem
from nlu.client import NLUClient
from storage import db
from storage.models import Conversation, InboundMessage, InboundStatus, OutboundMessage, utcnow

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable)
MESSAGES_PER_TURN = 5  # then other citizens get a worker before this one continues
_worker_app = None


def in_app_context(func: F) -> F:
    """Run a job inside the app context (the worker command pushes one; a bare `rq worker` does not)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return func(*args, **kwargs)
        global _worker_app
        if _worker_app is None:
            from bot import create_app

            _worker_app = create_app()
        with _worker_app.app_context():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def nlu_client() -> NLUClient:
    app = current_app._get_current_object()
    if "nlu" not in app.extensions:
        timeout = float(app.config["PRODUCT"].nlu["timeout"])
        app.extensions["nlu"] = NLUClient(app.config["SETTINGS"].rasa_url, timeout=timeout)
    return app.extensions["nlu"]


def flows() -> dict:
    """The flow definitions, loaded and checked once per process."""
    app = current_app._get_current_object()
    if "flows" not in app.extensions:
        from flows.definition import load_flows
        from handlers.actions import ACTIONS
        from handlers.inputs import VALIDATORS

        app.extensions["flows"] = load_flows(set(VALIDATORS), set(ACTIONS))
    return app.extensions["flows"]


def check_media(index: int, media: dict, accept: list[str]) -> MediaItem:
    """Download one MediaUrl{N}, check it, store it by content hash (before any transaction)."""
    from handlers.media import fetch_and_check
    from storage.media import MediaStore

    settings = current_app.config["SETTINGS"]
    checked = fetch_and_check(media["url"], media.get("content_type", ""), settings, want=tuple(accept),
                              extra_hosts=settings.media_allowed_hosts)
    item = MediaItem(index, media.get("content_type", ""), ok=checked.ok, problem=checked.problem, kind=checked.kind,
                     content_type=checked.content_type, size=checked.size, width=checked.width,
                     height=checked.height, sharpness=checked.sharpness)
    if checked.ok:
        item.sha256, _ = MediaStore(settings.media_dir).save(checked.content)
    log.info("media index=%d kind=%s ok=%s problem=%s size=%d", index, checked.kind, checked.ok, checked.problem, checked.size)
    return item


def _configuration(session, state: dict, params: dict) -> tuple:
    """The product and flows for this message: the published ones (drafts for a simulator preview),
    with a run in progress kept on the flow version it started with."""
    from bot import live
    from bot.product import ProductConfigError
    from flows.definition import FlowError
    from handlers import versions
    from handlers.actions import ACTIONS
    from handlers.inputs import VALIDATORS

    app = current_app._get_current_object()
    live.refresh(app)  # cheap: one look at a counter in Redis
    product, flow_set = app.config["PRODUCT"], flows()
    if params.get("PandawaPreview") == "1" and app.config["SETTINGS"].simulator_enabled:
        try:
            product, flow_set = live.preview(app)
        except (ProductConfigError, FlowError) as exc:  # a draft with problems: answer with what is published
            log.warning("preview with drafts impossible (%s); the published version answers", type(exc).__name__)
    flow_set = dict(flow_set)
    for run in (state.get("run"), state.get("paused_run")):
        if run and run["flow"] in flow_set and flow_set[run["flow"]].version != run.get("version"):
            pinned = versions.flow_by_digest(session, run["flow"], run.get("version", ""), set(VALIDATORS), set(ACTIONS))
            if pinned is not None:
                flow_set[run["flow"]] = pinned
    return product, flow_set


def _handle(session, message_id: int) -> list[int]:
    """Decide the reply to one message, store it, mark the message processed.

    Phase 1 (NLU, media downloads) runs with no transaction open; phase 2 writes in one transaction.
    """
    from flows.dialogue import prepare, reply
    from handlers.actions import ACTIONS
    from handlers.inputs import VALIDATORS

    message = session.get(InboundMessage, message_id)
    conversation = message.citizen.conversation
    state = dict(conversation.state) if conversation else {}
    body, media, params, profile_name = message.body, list(message.media), dict(message.params), message.citizen.profile_name
    product, flow_set = _configuration(session, state, params)
    session.rollback()  # end the read transaction before the slow calls

    prepared = prepare(state, body, media, params, product, flow_set, VALIDATORS, nlu_client(), check_media)
    if prepared.understanding is not None:
        metrics.incr(f"understood_{prepared.understanding.kind}")
        if prepared.understanding.kind == "nlu_down":
            metrics.incr("nlu_unavailable")

    message = session.get(InboundMessage, message_id)
    if message.status != InboundStatus.RECEIVED:  # handled meanwhile (cannot happen under the lock)
        session.rollback()
        return []
    conversation = message.citizen.conversation
    if conversation is None:
        conversation = Conversation(citizen=message.citizen, state={})
        session.add(conversation)
    ctx = Context(session=session, citizen=message.citizen, conversation=conversation, product=product, flows=flow_set,
                  validators=VALIDATORS, actions=ACTIONS, now=utcnow(), settings=current_app.config["SETTINGS"],
                  redis=queues.redis())
    replies = reply(ctx, state, prepared, message.id, body, profile_name)
    conversation.state = state
    outbound = [OutboundMessage(citizen_id=message.citizen_id, in_reply_to_id=message.id, body=text) for text in replies]
    session.add_all(outbound)
    message.status, message.processed_at = InboundStatus.PROCESSED, utcnow()
    session.commit()
    for callback in ctx.after_commit:
        callback()
    return [row.id for row in outbound]


def _next_pending(session, citizen_id: int) -> int | None:
    return session.scalar(
        select(InboundMessage.id)
        .where(InboundMessage.citizen_id == citizen_id, InboundMessage.status == InboundStatus.RECEIVED)
        .order_by(InboundMessage.id)
        .limit(1)
    )


@in_app_context
def process_inbound(message_id: int) -> int:
    """Handle this citizen's stored messages, oldest first, under the citizen's lock. Returns how many.

    Fair to other citizens: a job handles at most MESSAGES_PER_TURN messages, then puts a job for
    the rest at the back of the queue; and it never waits for a citizen another worker is serving
    (that worker looks for new messages again after releasing the lock, so none is left behind).
    """
    from bot.dispatch import enqueue_inbound, enqueue_outbound, queued_flag

    settings = current_app.config["SETTINGS"]
    session = db.session()
    message = session.get(InboundMessage, message_id)
    if message is None or message.status != InboundStatus.RECEIVED:
        return 0
    citizen_id = message.citizen_id
    session.close()
    queues.redis().delete(queued_flag(citizen_id))  # from now on a new message queues a new job
    handled = 0
    while True:
        lock = queues.redis().lock(f"pandawa:citizen:{citizen_id}", timeout=settings.citizen_lock_timeout)
        if not lock.acquire(blocking=False):
            log.info("citizen_id=%s is being served by another worker; it will take message_id=%s", citizen_id, message_id)
            return handled
        turn = 0
        try:
            while (pending_id := _next_pending(session, citizen_id)) is not None and turn < MESSAGES_PER_TURN:
                for outbound_id in _handle(session, pending_id):
                    enqueue_outbound(outbound_id)
                handled, turn = handled + 1, turn + 1
                lock.reacquire()  # restart the lock's lifetime for the next message
        finally:
            session.close()
            try:
                lock.release()
            except (LockNotOwnedError, LockError):
                log.warning("citizen lock for citizen_id=%s expired before release", citizen_id)
        if pending_id is not None:  # this citizen's turn is over: the rest waits behind other citizens
            enqueue_inbound(pending_id, citizen_id)
            break
        if _next_pending(session, citizen_id) is None:  # nothing arrived while we released the lock
            break
        session.close()
    session.close()
    log.info("inbound message_id=%s: handled %d message(s) for citizen_id=%s", message_id, handled, citizen_id)
    return handled
