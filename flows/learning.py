"""What a conversation tells the NLU review (handlers.nlu_review): the messages the bot did not
understand, was unsure about or asked between two services on, and those it got wrong — the citizen
answered the service it started with "bukan", cancelled, or asked for an officer, before answering
its first question.

The service the NLU started is remembered in the run (``understood``: the message and the step the
run waited at); once the citizen answers that step, the choice stands and nothing is recorded.
"""
from __future__ import annotations

from flows import engine
from flows.router import Understanding, normalise
from handlers import nlu_review
from nlu.client import FALLBACK, Parse
from storage.nlu import ReviewReason

# An out-of-scope answer the model was sure of is not a misunderstanding (a loan, a job vacancy).
SURE_OUT_OF_SCOPE = 0.6
# What the citizen does right after a service started that says the bot got it wrong.
CORRECTIONS = ("not_this", "cancel", "human_agent")


def _record(ctx, message_id: int, body: str, reason: str, parse: Parse | None) -> None:
    nlu_review.record(ctx.session, message_id=message_id, citizen_id=ctx.citizen.id, text=body, reason=reason,
                      parse=parse, now=ctx.now)


def outside_flow(ctx, state: dict, understanding: Understanding, message_id: int, body: str) -> None:
    """Before the reply outside a run: record what the bot did not understand or was unsure about. The
    answer to its question ("ya", a letter) brings along the numbers the first message had (a NIK…)."""
    pending = state.pop("offered_for", None)
    if understanding.kind == "not_this" and pending:
        corrected(ctx, pending)
        return
    if pending and understanding.kind == "service" and understanding.service in pending.get("options", ()):
        understanding.candidates = understanding.candidates or list(pending.get("candidates") or ())
    parse = understanding.parse
    if understanding.via != "nlu" or parse is None:
        return
    reason = None
    if understanding.kind == "fallback" and (parse.intent == FALLBACK or parse.confidence < SURE_OUT_OF_SCOPE):
        reason = ReviewReason.NOT_UNDERSTOOD
    elif understanding.kind == "ambiguous":
        reason = ReviewReason.AMBIGUOUS
    elif understanding.kind == "confirm":
        reason = ReviewReason.UNSURE
    if reason is not None:
        _record(ctx, message_id, body, reason, parse)
    if understanding.kind in ("ambiguous", "confirm"):
        state["offered_for"] = {"message": message_id, "intent": _guess(parse), "confidence": parse.confidence,
                                "options": list(understanding.options), "candidates": list(understanding.candidates)}


def forget_offer(state: dict) -> None:
    """The message was answered inside a run (or resumed one): a question asked before it is void."""
    state.pop("offered", None)
    state.pop("offered_for", None)


def _guess(parse: Parse) -> str | None:
    """What the bot thought: its best intent (the fallback pseudo-intent left out)."""
    ranked = parse.top()
    return ranked[0][0] if ranked else None


def started(state: dict, understanding: Understanding, message_id: int) -> None:
    """A service the NLU chose has started: remember it until its first question is answered."""
    run = state.get("run")
    if run is None or understanding.via != "nlu" or understanding.parse is None:
        return
    parse = understanding.parse
    run["understood"] = {"message": message_id, "intent": parse.intent, "confidence": parse.confidence,
                         "step": run["step"]}


def not_this(product, run: dict, body: str) -> bool:
    """ "bukan", "salah layanan"… at the question the NLU's choice of service started at."""
    understood = run.get("understood")
    return bool(understood) and understood.get("step") == run.get("step") \
        and normalise(body) in product.words("not_this")


def in_flow(ctx, state: dict, kind: str) -> list[str] | None:
    """Inside a run: a correction right after the NLU chose its service is recorded; "bukan" ends the run
    and shows the menu (nothing was answered yet). None: the message is handled as usual."""
    run = state.get("run") or {}
    understood = run.get("understood")
    if kind not in CORRECTIONS or not understood or understood.get("step") != run.get("step"):
        return None
    run.pop("understood")
    corrected(ctx, understood)
    if kind != "not_this":
        return None  # cancelling or asking for an officer goes on as usual
    engine.finish(ctx, state)
    return [ctx.product.text("misunderstood") + "\n" + ctx.product.menu_text()]


def corrected(ctx, understood: dict) -> None:
    """The citizen said the bot got ``understood`` (its message, intent, confidence) wrong."""
    text = nlu_review.text_of(ctx.session, understood["message"])
    if text is None:
        return
    intent, confidence = understood.get("intent"), float(understood.get("confidence") or 0.0)
    guess = Parse(intent=intent or FALLBACK, confidence=confidence, ranking=[(intent, confidence)] if intent else [])
    _record(ctx, understood["message"], text, ReviewReason.CORRECTED, guess)
