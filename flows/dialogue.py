"""One inbound message → the bot's replies, around the flow engine.

Two phases, so that no database transaction is open during slow calls:

1. ``prepare`` (no transaction): works out what the message is — an answer to the waiting step, a
   global request (cancel, help, officer), or, outside a flow, a service choice or small talk (menu
   fast path, then the NLU) — and downloads and checks the photos the waiting steps need (no more).
2. ``reply`` (in the transaction): applies it to the conversation state and returns the reply texts.

The caller reads the state with ``flows.conversation.state_of`` before phase 1 and writes it with
``flows.conversation.save`` after phase 2: if anyone changed the conversation in between, the write
fails (compare-and-set) and the message is decided again on the fresh state.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import select

from flows import engine
from flows.definition import WHATSAPP_MAX, Flow
from flows.router import Understanding, fast_path, normalise, reply_for, understand
from handlers.context import Context, MediaItem
from handlers.validators import Invalid
from nlu.client import NLUClient, NLUUnavailable
from storage.models import as_utc
from storage.staff import Satisfaction

GLOBAL_IN_FLOW = ("cancel", "help", "human_agent", "erase_data")
NLU_MIN_CONFIDENCE_IN_FLOW = 0.6
SURVEY_RATINGS = ("1", "2", "3", "4")


@dataclass
class Prepared:
    understanding: Understanding | None = None  # outside a flow
    kind: str = "answer"                        # inside a flow: answer | cancel | help | human_agent | affirm | deny
    media: list[MediaItem] = field(default_factory=list)


def _media_placeholders(media: list[dict], start: int = 0) -> list[MediaItem]:
    return [MediaItem(i, m.get("content_type", ""), ok=False, problem="not_needed")
            for i, m in enumerate(media) if i >= start]


def _answers_step(step, run: dict, body: str, product, validators) -> bool:
    if step.type == "text":
        try:
            validators[step.get("validator")](body, run["values"])
            return True
        except Invalid:
            return False
    if step.type == "choice":
        return engine.choice_value(step, body) is not None
    if step.type == "photo":
        return bool(step.get("optional")) and normalise(body) in product.words("skip")
    return False


def prepare(state: dict, body: str, media: list[dict], params: dict, product, flows: dict[str, Flow],
            validators: dict, nlu: NLUClient, check_media: Callable[[int, dict, list[str]], MediaItem]) -> Prepared:
    run = state.get("run")
    survey_answer = state.get("survey") and normalise(body) in SURVEY_RATINGS
    if survey_answer or not engine.runnable(flows, run):
        if media and any(m.get("content_type", "").startswith("image/") for m in media) and not body.strip():
            return Prepared(Understanding("help", via="check"), media=_media_placeholders(media))
        return Prepared(understand(body, media, params, state, product, nlu), media=_media_placeholders(media))

    flow = flows[run["flow"]]
    step = flow.step(run["step"])
    word = normalise(body)
    keyword = product.keywords.get(word)
    if keyword in GLOBAL_IN_FLOW:
        return Prepared(kind=keyword)
    if run.get("pending_cancel") or step.type == "confirm":
        if word in product.words("yes"):
            return Prepared(kind="affirm")
        if word in product.words("no"):
            return Prepared(kind="deny")
    if step.type == "photo" and media:
        accept = step.get("accept") or ["image"]
        wanted = max(1, engine.photo_steps_ahead(flow, step.id))  # the photos this message can fill, no more
        checked = [check_media(i, m, accept) for i, m in enumerate(media[:wanted])]
        return Prepared(kind="answer", media=checked + _media_placeholders(media, start=wanted))
    if not body.strip() or _answers_step(step, run, body, product, validators):
        return Prepared(kind="answer", media=_media_placeholders(media))
    try:  # not an answer: maybe "saya mau bicara dengan petugas", "gak jadi", "maksudnya apa"
        parse = nlu.parse(body)
    except NLUUnavailable:
        return Prepared(kind="answer", media=_media_placeholders(media))
    wanted_kinds = GLOBAL_IN_FLOW + (("affirm", "deny") if step.type == "confirm" or run.get("pending_cancel") else ())
    if parse.intent in wanted_kinds and parse.confidence >= NLU_MIN_CONFIDENCE_IN_FLOW:
        return Prepared(kind=parse.intent, media=_media_placeholders(media))
    return Prepared(kind="answer", media=_media_placeholders(media))


def _survey(ctx: Context, state: dict, body: str, received_at: datetime | None) -> list[str] | None:
    """The satisfaction question after a case is closed: a rating 1-4 (IKM scale), then a comment.
    It comes before a run in progress: the question was the last thing the citizen was asked. A
    message the citizen sent before the question was asked is not an answer to it."""
    word = normalise(body)
    asked = state.get("survey_asked_at")
    if asked and received_at is not None and as_utc(received_at) < datetime.fromisoformat(asked):
        return None
    if state.get("survey"):
        case_id = state.pop("survey")
        if word in SURVEY_RATINGS:
            rating = ctx.session.scalar(select(Satisfaction).where(Satisfaction.case_id == case_id))
            if rating is not None:
                rating.rating, rating.answered_at = int(word), ctx.now
            state["survey_comment"] = case_id
            return [ctx.product.text("survey_comment")]
        return None  # anything else: the question is dropped, the message handled as usual
    if state.get("survey_comment"):
        case_id = state.pop("survey_comment")
        state.pop("survey_asked_at", None)
        if word not in ctx.product.words("skip"):
            rating = ctx.session.scalar(select(Satisfaction).where(Satisfaction.case_id == case_id))
            if rating is not None:
                rating.comment = body.strip()[:1000]
        return [ctx.product.text("survey_thanks")]
    return None


def _resume_offer(ctx: Context, state: dict, body: str, prepared: Prepared) -> list[str] | None:
    """A run that was put aside (24 h without an answer, or a message that could not be handled) is
    offered back once; a citizen who picks from the menu ("menu", a number, a service word) starts anew."""
    paused = state.get("paused_run")
    chose = prepared.understanding is not None and prepared.understanding.via == "menu"
    if not paused or not engine.runnable(ctx.flows, paused) or (chose and not state.get("resume_offered")):
        engine.drop_paused(ctx.session, state)
        return None
    flow = ctx.flows[paused["flow"]]
    if not state.pop("resume_offered", False):
        state["resume_offered"] = True
        return [engine.text(ctx.product, flow, "resume_offer", {"title": flow.title})]
    if normalise(body) not in ctx.product.words("resume"):
        engine.drop_paused(ctx.session, state)
        return None  # anything else: a fresh start, handled as usual
    state["run"] = state.pop("paused_run")
    ctx.conversation.active_flow = paused["flow"]
    ctx.conversation.last_activity_at, ctx.conversation.reminded_at = ctx.now, None
    step = flow.step(paused["step"])
    return [engine.text(ctx.product, flow, "resumed") + "\n\n" + engine.prompt(ctx.product, flow, step, paused)]


def _gone(ctx: Context, state: dict) -> list[str]:
    """The run's flow version or step no longer exists (an admin removed it): start again from the menu."""
    run = state.pop("run")
    engine.abandon(ctx.session, run)
    ctx.conversation.active_flow = None
    title = ctx.product.title_of(run.get("flow", ""))
    return [ctx.product.text("flow_changed", title=title) + "\n\n" + ctx.product.menu_text()]


def reply(ctx: Context, state: dict, prepared: Prepared, message_id: int, body: str, profile_name: str | None,
          received_at: datetime | None = None) -> list[str]:
    conversation = ctx.conversation
    if conversation.handoff_since is not None:
        timeout = timedelta(hours=ctx.product.handoff_timeout_hours)
        if ctx.now - as_utc(conversation.handoff_since) < timeout:
            return []  # an officer is talking with the citizen: the bot stays silent
        conversation.handoff_since = None

    first_contact = not state.get("greeted")
    state["greeted"] = True
    replies = _survey(ctx, state, body, received_at) if state.get("survey") or state.get("survey_comment") else None
    if replies is None:
        run = state.get("run")
        if engine.runnable(ctx.flows, run):
            replies = engine.handle(ctx, state, engine.Input(message_id, body, prepared.kind, prepared.media))
        elif run:
            replies = _gone(ctx, state)
        else:
            replies = _resume_offer(ctx, state, body, prepared) or _outside_flow(ctx, state, prepared)
    if first_contact and replies:
        greeting = ctx.product.text("greeting", name=f" {profile_name}" if profile_name else "")
        replies[0] = greeting + "\n" + replies[0]
    return _bundle(replies)


def _bundle(replies: list[str]) -> list[str]:
    """One WhatsApp message per answer where it fits: fewer notifications, less data on slow phones.
    An answer longer than one WhatsApp message (a summary quoting a long description) is split at
    line breaks, so that Twilio never refuses it."""
    bundled: list[str] = []
    for part in (piece for reply_text in replies for piece in split_long(reply_text)):
        if bundled and len(bundled[-1]) + 2 + len(part) <= WHATSAPP_MAX:
            bundled[-1] += "\n\n" + part
        else:
            bundled.append(part)
    return bundled


def split_long(text: str, limit: int = WHATSAPP_MAX) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at line breaks, else at spaces."""
    pieces, rest = [], text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return pieces + [rest]


def _outside_flow(ctx: Context, state: dict, prepared: Prepared) -> list[str]:
    understanding = prepared.understanding
    if understanding is None:  # prepared for a run that has since ended
        understanding = fast_path("menu", state, ctx.product) or Understanding("help")
    if understanding.kind == "service" and understanding.service in ctx.flows:
        state.pop("offered", None)
        item = ctx.product.service(understanding.service)
        intro = ctx.product.text("service_selected", title=item.title) + "\n" + item.intro
        replies = engine.start(ctx, state, understanding.service)
        replies[0] = intro + "\n\n" + replies[0]
        return replies
    if understanding.kind == "human_agent":
        return engine.request_officer(ctx, None)
    if understanding.kind == "erase_data":
        return engine.request_erasure(ctx)
    return reply_for(understanding, state, ctx.product)
