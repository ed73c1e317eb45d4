"""Runs a flow from the conversation state: no state in memory between messages, so a worker
restart or a second worker changes nothing.

The run lives in ``conversation.state["run"]``::

    {"flow": "change_nik", "version": "ab12…", "step": "nik", "values": {...},
     "docs": {"ktp": [12]}, "failures": 0, "pending_cancel": false}

``start`` enters a flow; ``handle`` consumes one citizen input at the current step. Both return the
reply texts. Global inputs (cancel, help, officer) work at every step. Only the flow package
changes a conversation's state (the dialogue for messages, ``flows.conversation`` for everyone else).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flows.definition import Flow, FlowError, Step
from flows.router import normalise
from handlers.cases import attach_update, need_info_abandoned, open_erasure_case, open_handoff_case
from handlers.context import Context, MediaItem
from handlers.phones import mask
from handlers.product import Product
from handlers.texts import display, render
from handlers.validators import Invalid
from storage.cases import Document

MAX_FAILURES = 3
MAX_AUTOMATIC_STEPS = 50  # actions and messages in a row; more means a loop in the definition


@dataclass
class Input:
    message_id: int
    body: str
    kind: str = "answer"  # answer | cancel | help | human_agent | affirm | deny (see flows.dialogue.prepare)
    media: list[MediaItem] = field(default_factory=list)


def text(product: Product, flow: Flow | None, key: str, values: dict | None = None) -> str:
    """A text from the flow's own ``texts``, else from config.yml's texts."""
    template = (flow.texts.get(key) if flow else None) or product.texts.get(key)
    if template is None:
        return product.text(key)  # raises: a required text is missing
    return render(template, values or {})


def new_run(flow: Flow, step_id: str, values: dict, **extra) -> dict:
    return {"flow": flow.id, "version": flow.version, "step": step_id, "values": values, "docs": {},
            "failures": 0, "pending_cancel": False, **extra}


def base_values(product: Product, phone: str | None) -> dict:
    """What every run starts with: the number the citizen writes from (none for a WhatsApp user id)."""
    masked = mask(phone) if phone else ""
    option = product.text("use_sender_number", masked=masked) if phone else ""
    return {"sender_phone": phone, "sender_masked": masked, "sender_option": option}


def current(ctx: Context, state: dict) -> tuple[dict, Flow, Step]:
    run = state["run"]
    flow = ctx.flows[run["flow"]]
    return run, flow, flow.step(run["step"])


def runnable(flows: dict, run: dict | None) -> bool:
    """The run's flow is loaded and still has the step the run waits at."""
    return bool(run) and run.get("flow") in flows and run.get("step") in flows[run["flow"]].steps


def prompt(product: Product, flow: Flow, step: Step, run: dict) -> str:
    values = run["values"]
    if step.type == "choice":
        options = "\n".join(f"*{i}*. {o['title']}" for i, o in enumerate(step.get("options"), start=1))
        return render(step.get("ask"), values) + "\n" + options
    if step.type == "confirm":
        return render(step.get("summary"), values) + "\n" + text(product, flow, "confirm_hint")
    ask = render(step.get("ask"), values).rstrip()  # a value left empty leaves no blank line behind
    if step.type == "photo" and step.get("optional"):
        ask += "\n" + text(product, flow, "photo_optional_hint")
    return ask


def abandon(session, run: dict | None) -> None:
    """A run is dropped. If an officer was waiting for its answer, the case goes back to the agents."""
    if run and run.get("need_info_case"):
        need_info_abandoned(session, run["need_info_case"])
    for waiting in (run or {}).get("waiting", []):
        abandon(session, waiting)


def park(session, state: dict, run: dict) -> None:
    """Put a run aside (offered back later); a run already put aside is dropped."""
    abandon(session, state.get("paused_run"))
    state["paused_run"] = run
    state.pop("resume_offered", None)


def drop_paused(session, state: dict) -> None:
    abandon(session, state.pop("paused_run", None))
    state.pop("resume_offered", None)


def start(ctx: Context, state: dict, flow_id: str) -> list[str]:
    flow = ctx.flows[flow_id]
    state["run"] = new_run(flow, flow.start, base_values(ctx.product, ctx.citizen.phone))
    drop_paused(ctx.session, state)
    ctx.conversation.active_flow = flow.id
    ctx.conversation.last_activity_at, ctx.conversation.reminded_at = ctx.now, None
    return enter(ctx, state, flow.start)


def finish(ctx: Context, state: dict, answered: bool = False) -> None:
    """End the run; the values it collected (personal data) go with it. A run an officer was waiting
    for that ends unanswered (cancelled) sends its case back to the agents."""
    run = state.pop("run", None)
    if not answered:
        abandon(ctx.session, run)
    ctx.conversation.active_flow = None


def enter(ctx: Context, state: dict, step_id: str) -> list[str]:
    """Go to a step, running actions and messages until a step waits for the citizen."""
    replies: list[str] = []
    if state["run"].get("need_info_case") and step_id != state["run"]["step"]:
        return _need_info_done(ctx, state)  # the one item the officer asked for has been answered
    for _ in range(MAX_AUTOMATIC_STEPS):
        run = state["run"]
        flow = ctx.flows[run["flow"]]
        step = flow.step(step_id)
        run["step"] = step_id
        if step.type == "message":
            replies.append(render(step.get("text"), run["values"]))
            if not step.next:
                finish(ctx, state)
                return replies
            step_id = step.next
        elif step.type == "action":
            outcome = ctx.actions[step.get("handler")].run(ctx, run)
            outcomes = step.get("outcomes")
            step_id = outcomes.get(outcome) or outcomes.get("default")
            if step_id is None:
                raise FlowError(f"{flow.id}: step '{step.id}' has no outcome '{outcome}'")
        else:
            replies.append(prompt(ctx.product, flow, step, run))
            return replies
    raise FlowError(f"{state['run']['flow']}: more than {MAX_AUTOMATIC_STEPS} automatic steps in a row")


def request_officer(ctx: Context, flow: Flow | None) -> list[str]:
    """The citizen asks for a person: the bot goes quiet and the agents' queue gets a handoff case
    (unless one is already open), so an officer sees it and answers from the console."""
    ctx.conversation.handoff_since = ctx.now
    open_handoff_case(ctx, ctx.conversation.active_flow)
    return [text(ctx.product, flow, "handoff_started")]


def request_erasure(ctx: Context) -> list[str]:
    """'Hapus data saya': a case an officer confirms; the run in progress, if any, goes on meanwhile."""
    case = open_erasure_case(ctx)
    return [ctx.product.text("erasure_requested", ticket=case.ticket)]


def _need_info_done(ctx: Context, state: dict) -> list[str]:
    """The officer's item was sent: attach it to the case; then the next officer's request waiting for
    this citizen, else the run that was in progress before."""
    run = state["run"]
    case = attach_update(ctx.session, run["need_info_case"], run)
    waiting = run.get("waiting", [])
    finish(ctx, state, answered=True)
    received = text(ctx.product, None, "need_info_received", {"ticket": case.ticket})
    if waiting:
        state["run"] = {**waiting[0], "waiting": waiting[1:]}
        ctx.conversation.active_flow = state["run"]["flow"]
        flow = ctx.flows.get(state["run"]["flow"])
        if flow is not None and state["run"]["step"] in flow.steps:
            return [received + "\n\n" + prompt(ctx.product, flow, flow.step(state["run"]["step"]), state["run"])]
        return [received]
    if state.get("paused_run"):
        state["run"] = state.pop("paused_run")
        ctx.conversation.active_flow = state["run"]["flow"]
    return [received]


def fail(ctx: Context, flow: Flow, step: Step, run: dict, code: str) -> list[str]:
    """Repeat the question with one line saying what is expected; after 3 failures offer a way out."""
    run["failures"] = run.get("failures", 0) + 1
    if run["failures"] >= MAX_FAILURES:
        run["failures"] = 0
        return [text(ctx.product, flow, "too_many_failures")]
    errors = step.get("errors") or {}
    line = render(errors[code], run["values"]) if code in errors else text(ctx.product, flow, f"error_{code}")
    return [line + "\n\n" + prompt(ctx.product, flow, step, run)]


def handle(ctx: Context, state: dict, inp: Input) -> list[str]:
    run, flow, step = current(ctx, state)
    ctx.conversation.last_activity_at, ctx.conversation.reminded_at = ctx.now, None
    if run.get("pending_cancel"):
        run["pending_cancel"] = False
        if inp.kind in ("affirm", "cancel"):
            finish(ctx, state)
            return [text(ctx.product, flow, "cancelled") + "\n\n" + ctx.product.menu_text()]
        if inp.kind == "deny":
            return [text(ctx.product, flow, "not_cancelled") + "\n\n" + prompt(ctx.product, flow, step, run)]
    if inp.kind == "cancel":
        run["pending_cancel"] = True
        return [text(ctx.product, flow, "cancel_confirm", {"title": flow.title})]
    if inp.kind == "help":
        return [text(ctx.product, flow, "help_in_flow") + "\n\n" + prompt(ctx.product, flow, step, run)]
    if inp.kind == "human_agent":
        return request_officer(ctx, flow)
    if inp.kind == "erase_data":
        return request_erasure(ctx) + [prompt(ctx.product, flow, step, run)]
    consume = {"text": _text, "choice": _choice, "photo": _photo, "confirm": _confirm}[step.type]
    return consume(ctx, state, flow, step, run, inp)


def _text(ctx, state, flow, step, run, inp) -> list[str]:
    if inp.media and not inp.body.strip():
        return [text(ctx.product, flow, "no_photo_needed") + "\n\n" + prompt(ctx.product, flow, step, run)]
    try:
        value = ctx.validators[step.get("validator")](inp.body, run["values"])
    except Invalid as exc:
        return fail(ctx, flow, step, run, exc.code)
    key = step.get("save_as", step.id)
    run["values"][key], run["values"][key + "_text"] = value, display(value)
    run["failures"] = 0
    return enter(ctx, state, step.next)


def choice_value(step: Step, body: str) -> str | None:
    word = normalise(body)
    for i, option in enumerate(step.get("options"), start=1):
        if word in (str(i), normalise(str(option["title"])), normalise(str(option["value"]))):
            return option["value"]
    return None


def _choice(ctx, state, flow, step, run, inp) -> list[str]:
    value = choice_value(step, inp.body)
    if value is None:
        return fail(ctx, flow, step, run, "choice")
    option = next(o for o in step.get("options") if o["value"] == value)
    run["values"][step.get("save_as", step.id)] = value
    run["values"][step.get("save_as", step.id) + "_title"] = option["title"]
    run["failures"] = 0
    return enter(ctx, state, step.next)


def _confirm(ctx, state, flow, step, run, inp) -> list[str]:
    if inp.kind == "affirm":
        run["failures"] = 0
        return enter(ctx, state, step.next)
    if inp.kind == "deny":
        if step.get("on_no"):
            return enter(ctx, state, step.get("on_no"))
        finish(ctx, state)
        return [text(ctx.product, flow, "cancelled") + "\n\n" + ctx.product.menu_text()]
    return fail(ctx, flow, step, run, "confirm")


def _store_document(ctx: Context, run: dict, step: Step, item: MediaItem, message_id: int) -> None:
    document = Document(
        citizen_id=ctx.citizen.id, inbound_message_id=message_id, media_index=item.index, kind=step.get("document"),
        content_type=item.content_type, size=item.size, sha256=item.sha256, width=item.width, height=item.height,
        sharpness=item.sharpness,
    )
    ctx.session.add(document)
    ctx.session.flush()
    run["docs"].setdefault(step.get("document"), []).append(document.id)
    run.setdefault("shas", []).append(item.sha256)
    run["values"]["doc_" + step.get("document")] = "✅"


def _photo(ctx, state, flow, step, run, inp) -> list[str]:
    if not inp.media:
        if step.get("optional") and normalise(inp.body) in ctx.product.words("skip"):
            return enter(ctx, state, step.next)
        return fail(ctx, flow, step, run, "photo_expected")
    received: list[str] = []
    for position, item in enumerate(inp.media):  # several photos in one message fill the waiting steps in order
        if item.problem == "not_needed":  # not fetched: more photos than steps waiting for one
            return _joined(received + [text(ctx.product, flow, "extra_photos_ignored")],
                           [prompt(ctx.product, flow, step, run)])
        accept = step.get("accept") or ["image"]
        if not item.ok or item.kind not in accept:
            problem = item.problem if not item.ok else "not_a_photo"
            if problem == "not_a_photo" and "pdf" in accept:
                problem = "not_a_document"
            return _joined(received, [text(ctx.product, flow, f"photo_{problem}") + "\n\n"
                                      + prompt(ctx.product, flow, step, run)])
        if item.sha256 in run.get("shas", []):
            return _joined(received, [text(ctx.product, flow, "photo_duplicate") + "\n\n"
                                      + prompt(ctx.product, flow, step, run)])
        _store_document(ctx, run, step, item, inp.message_id)
        run["failures"] = 0
        if step.get("received"):
            received.append(render(step.get("received"), run["values"]))
        next_prompts = enter(ctx, state, step.next)
        if position == len(inp.media) - 1:
            return _joined(received, next_prompts)
        if "run" not in state or current(ctx, state)[2].type != "photo":
            return _joined(received + [text(ctx.product, flow, "extra_photos_ignored")], next_prompts)
        run, flow, step = current(ctx, state)
    return received


def photo_steps_ahead(flow: Flow, step_id: str) -> int:
    """How many photos the run can take from one message, from this step on (consecutive photo steps)."""
    count, seen = 0, set()
    while step_id and step_id in flow.steps and step_id not in seen:
        seen.add(step_id)
        step = flow.step(step_id)
        if step.type != "photo":
            break
        count += 1
        step_id = step.next
    return count


def _joined(received: list[str], prompts: list[str]) -> list[str]:
    """'Photo received' lines go in front of the next question, as one message."""
    if received and prompts:
        return ["\n".join(received) + "\n\n" + prompts[0]] + prompts[1:]
    return received + prompts
