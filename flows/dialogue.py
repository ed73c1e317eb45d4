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

from flows import answers, engine, learning
from flows.definition import WHATSAPP_MAX, Flow
from flows.router import (Understanding, fast_path, media_kind, mentions, normalise, numbers_in, reply_for,
                          understand)
from handlers.cases import withdraw_handoff
from handlers.context import Context, MediaItem
from handlers.validators import find_ticket
from nlu.client import NLUClient, NLUUnavailable
from storage.models import as_utc
from storage.staff import Satisfaction

# Exact words that mean the same at every step of a run (config.yml keywords).
IN_FLOW_KEYWORDS = ("cancel", "help", "menu", "human_agent", "erase_data", "thanks", "greet")
# What the NLU may recognise inside a run, when the message does not answer the step.
IN_FLOW_INTENTS = ("cancel", "help", "human_agent", "erase_data", "thanks", "greet", "out_of_scope")
NLU_MIN_CONFIDENCE_IN_FLOW = 0.6
SURVEY_RATINGS = ("1", "2", "3", "4")
OFFICER_WAIT_REPEAT = timedelta(minutes=15)  # "still waiting for an officer" at most this often


@dataclass
class Prepared:
    understanding: Understanding | None = None  # outside a flow
    kind: str = "answer"                        # inside a flow: see flows.engine.Input.kind
    media: list[MediaItem] = field(default_factory=list)
    media_kind: str | None = None               # voice, sticker, location… (flows.router.media_kind)
    answer: str | None = None                   # the part of the message that answers (a number in a sentence)


def _media_placeholders(media: list[dict], start: int = 0) -> list[MediaItem]:
    return [MediaItem(i, m.get("content_type", ""), ok=False, problem="not_needed")
            for i, m in enumerate(media) if i >= start]


def prepare(state: dict, body: str, media: list[dict], params: dict, product, flows: dict[str, Flow],
            validators: dict, nlu: NLUClient, check_media: Callable[..., MediaItem]) -> Prepared:
    run = state.get("run")
    kind_of_media = media_kind(media, params)
    survey_answer = state.get("survey") and normalise(body) in SURVEY_RATINGS
    if survey_answer or not engine.runnable(flows, run):
        return Prepared(understand(body, media, params, state, product, nlu), media=_media_placeholders(media),
                        media_kind=kind_of_media)

    flow = flows[run["flow"]]
    step = flow.step(run["step"])
    word = normalise(body)
    keyword = product.keywords.get(word)
    if keyword in IN_FLOW_KEYWORDS:
        return Prepared(kind=keyword)
    if run.get("nik_check") and answers.answers_nik_check(run, body):
        return Prepared(kind="answer")  # "1"/"2" to "which NIK is right", whatever step waits behind it
    asked_yes_no = run.get("pending_cancel") or run.get("offered_switch")
    if step.type == "confirm" and word.isdigit() and not asked_yes_no:
        return Prepared(kind="answer")  # the number of an answer to change (not "1" for yes)
    if run.get("offered_switch") and not run.get("pending_cancel") and step.type != "confirm" \
            and answers.answers_step(step, run, body, product, validators):
        return Prepared(kind="answer")  # "Pindah ke …?" answered with an answer to the question itself
    if asked_yes_no or step.type == "confirm":
        if word in product.words("yes"):
            return Prepared(kind="affirm")
        if word in product.words("no"):
            return Prepared(kind="deny")
    if step.type == "photo" and media and kind_of_media in ("photo", "document"):
        accept = step.get("accept") or ["image"]
        documents = answers.photo_documents_ahead(flow, step.id)  # the photos this message can fill, no more
        wanted = max(1, len(documents))
        checked = [check_media(i, m, accept, documents[i] if i < len(documents) else None)
                   for i, m in enumerate(media[:wanted])]
        return Prepared(kind="answer", media=checked + _media_placeholders(media, start=wanted))
    if answers.takes_nik_photo(flow, step) and media and kind_of_media == "photo":
        # A KTP photo where the NIK is asked: read the NIK off it (and keep it for the KTP step ahead).
        return Prepared(kind="answer", media=[check_media(0, media[0], ["image"], "ktp")]
                        + _media_placeholders(media, start=1))
    placeholders = _media_placeholders(media)
    if not body.strip():
        return Prepared(kind="answer", media=placeholders, media_kind=kind_of_media)
    if answers.answers_step(step, run, body, product, validators) or (
            step.type == "confirm" and answers.change_target(product, flow, run, body) is not None):
        return Prepared(kind="answer", media=placeholders)
    if learning.not_this(product, run, body):
        return Prepared(kind="not_this", media=placeholders)
    return _not_an_answer(flow, step, run, body, product, validators, nlu, placeholders)


def _not_an_answer(flow: Flow, step, run: dict, body: str, product, validators, nlu: NLUClient,
                   placeholders: list[MediaItem]) -> Prepared:
    """The message does not answer the question: a number inside a sentence that does, a ticket, a
    complaint, another request or small talk ("terima kasih", "mau daftar bpjs baru")? Else a wrong answer."""
    if step.type == "text":
        fitting = next((n for n in numbers_in(body) if answers.answers_step(step, run, n, product, validators)), None)
        if fitting is not None:
            return Prepared(kind="answer", answer=fitting, media=placeholders)
    ticket = find_ticket(body)
    if ticket is not None and flow.id != "case_status":
        return Prepared(kind="status", answer=ticket, media=placeholders)
    services = {item.id for item in product.menu}
    if flow.id != "complaint" and "complaint" in services and mentions(body, product.complaint_signals):
        return Prepared(kind="service:complaint", media=placeholders)
    try:  # maybe "saya mau bicara dengan petugas", "gak jadi", "maksudnya apa", "nomor hp saya hilang"
        parse = nlu.parse(body)
    except NLUUnavailable:
        return Prepared(kind="answer", media=placeholders)
    if parse.confidence < NLU_MIN_CONFIDENCE_IN_FLOW:
        return Prepared(kind="answer", media=placeholders)
    wanted = IN_FLOW_INTENTS + (("affirm", "deny") if step.type == "confirm" or run.get("pending_cancel") else ())
    if parse.intent in wanted:
        return Prepared(kind=parse.intent, media=placeholders)
    if parse.intent in services and parse.intent != flow.id:
        return Prepared(kind=f"service:{parse.intent}", media=placeholders)
    return Prepared(kind="answer", media=placeholders)


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
    """A run put aside (24 h without an answer, ``menu`` inside it, another service chosen meanwhile):
    LANJUT (or choosing that service again) resumes it; choosing another service keeps it aside (offered
    again when that one ends); *batal* lets it go. After ``menu`` or another service it stays kept
    whatever else is said; after 24 h idle it is offered once, and anything else then lets it go."""
    while state.get("paused_run") and not engine.runnable(ctx.flows, state["paused_run"]):
        engine.drop_paused(ctx.session, state)  # its flow or step is gone: nothing to come back to
    paused = state.get("paused_run")
    if not paused:
        return None
    offered = state.get("resume_offered")
    understanding = prepared.understanding
    kind = understanding.kind if understanding is not None else None
    chosen = understanding.service if kind == "service" else None
    if chosen and chosen != paused["flow"] and chosen in (state.get("offered") or ()):
        return None  # "ya" or a letter to the bot's own question: that service first, the kept one later
    if (offered and _says_resume(ctx, body, digits=offered != "menu")) or chosen == paused["flow"]:
        return _resume(ctx, state)
    if chosen:
        return None  # another service first; the kept request is offered back when it ends
    if kind == "cancel" and offered:
        engine.drop_paused(ctx.session, state)
        return None  # "batal": the kept request goes ("permintaan dibatalkan")
    if offered in ("menu", "ended"):
        return None  # answered as usual; the request stays kept (``_kept_note``)
    if offered:
        engine.drop_paused(ctx.session, state)
        return None  # offered once after a long silence, and not taken
    state["resume_offered"] = True
    flow = ctx.flows[paused["flow"]]
    return [engine.text(ctx.product, flow, "resume_offer", {"title": flow.title})]


def _says_resume(ctx: Context, body: str, digits: bool) -> bool:
    """LANJUT, "lanjut ya", "ok lanjutkan" (a bare "1" only where no menu was just shown)."""
    words = tuple(w for w in ctx.product.words("resume") if digits or not w.isdigit())
    return normalise(body) in words or mentions(body, tuple(w for w in words if not w.isdigit() and len(w) > 2))


def _resume(ctx: Context, state: dict) -> list[str]:
    run = state["run"] = engine.unpark(state)
    flow = ctx.flows[run["flow"]]
    ctx.conversation.active_flow = run["flow"]
    ctx.conversation.last_activity_at, ctx.conversation.reminded_at = ctx.now, None
    return [engine.text(ctx.product, flow, "resumed") + "\n\n" + engine.prompt(ctx.product, flow, flow.step(run["step"]), run)]


def _kept_note(ctx: Context, state: dict) -> str | None:
    """A reminder that a request is kept, under an answer given outside it."""
    paused = state.get("paused_run")
    if "run" in state or not state.get("resume_offered") or not engine.runnable(ctx.flows, paused):
        return None
    flow = ctx.flows[paused["flow"]]
    return engine.text(ctx.product, flow, "kept_for_later", {"title": flow.title})


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
            return _awaiting_officer(ctx, state, body) if state.get("awaiting_officer") else []
        conversation.handoff_since = None  # nobody answered in time: the bot speaks again
        engine.stop_awaiting_officer(state)

    first_contact = not state.get("greeted")
    state["greeted"] = True
    outside = False  # answered outside a run: only there may a question the bot asked be answered
    replies = _survey(ctx, state, body, received_at) if state.get("survey") or state.get("survey_comment") else None
    if replies is None:
        run = state.get("run")
        if engine.runnable(ctx.flows, run):
            replies = learning.in_flow(ctx, state, prepared.kind) or answers.handle(
                ctx, state, engine.Input(message_id, prepared.answer or body, prepared.kind, prepared.media,
                                         prepared.media_kind))
        elif run:
            replies = _gone(ctx, state)
        else:
            replies = _resume_offer(ctx, state, body, prepared)
            if replies is None:
                outside = True
                replies = _outside_flow(ctx, state, prepared, message_id, body)
                note = _kept_note(ctx, state) if conversation.handoff_since is None else None
                if note and replies:
                    replies[-1] += "\n\n" + note
    if not outside:
        learning.forget_offer(state)
    if first_contact and replies:
        greeting = ctx.product.text("greeting", name=f" {profile_name}" if profile_name else "")
        replies[0] = greeting + "\n" + replies[0]
    return _bundle(replies)


def _awaiting_officer(ctx: Context, state: dict, body: str) -> list[str]:
    """The citizen asked for an officer and none has written yet: the bot is not silent. ``batal`` takes
    the request back, ``menu`` shows the menu (the request stays), anything else ("halo? ada orang?")
    hears when an officer will read it — at most every quarter of an hour, not after every line."""
    keyword = ctx.product.keywords.get(normalise(body))
    promise = engine.office_promise(ctx)
    run = state.get("run")
    if keyword in ("cancel", "menu", "help"):
        ctx.conversation.handoff_since = None
        engine.stop_awaiting_officer(state)
        if keyword == "cancel":
            withdraw_handoff(ctx.session, ctx.citizen.id)
            reply = ctx.product.text("officer_request_withdrawn")
        else:
            reply = ctx.product.text("officer_request_kept", promise=promise)
        if engine.runnable(ctx.flows, run) and keyword == "menu":
            return [reply + "\n\n" + answers.show_menu(ctx, state)]  # the request in progress is kept
        if engine.runnable(ctx.flows, run):
            flow = ctx.flows[run["flow"]]
            return [reply + "\n\n" + engine.prompt(ctx.product, flow, flow.step(run["step"]), run)]
        return [reply + "\n\n" + ctx.product.menu_text()]
    told = state.get("officer_told_at")
    if told and ctx.now - datetime.fromisoformat(told) < OFFICER_WAIT_REPEAT:
        return []
    state["officer_told_at"] = ctx.now.isoformat()
    return [ctx.product.text("officer_waiting", promise=promise)]


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


def _outside_flow(ctx: Context, state: dict, prepared: Prepared, message_id: int, body: str) -> list[str]:
    understanding = prepared.understanding
    if understanding is None:  # prepared for a run that has since ended
        understanding = fast_path("menu", state, ctx.product) or Understanding("help")
    learning.outside_flow(ctx, state, understanding, message_id, body)
    if understanding.kind == "service" and understanding.service in ctx.flows:
        state.pop("offered", None)
        item = ctx.product.service(understanding.service)
        selected = ctx.product.text("service_selected", title=item.title)
        replies = engine.start(ctx, state, understanding.service)
        filled = answers.prefill(ctx, state, message_id, understanding.candidates)
        learning.started(state, understanding, message_id)
        if filled:  # the message already answered the first question(s): no need to say what to prepare
            return [selected + "\n" + filled[0]] + filled[1:]
        intro = selected + (" " + item.intro if item.intro else "")
        return [intro + "\n\n" + replies[0]] + replies[1:]
    if understanding.kind == "human_agent":
        return engine.request_officer(ctx, state, None)
    if understanding.kind == "erase_data":
        return engine.request_erasure(ctx)
    return reply_for(understanding, state, ctx.product)
