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
from handlers.cases import attach_update, need_info_abandoned, open_erasure_case, open_handoff_case, opening
from handlers import routing
from handlers.context import Context, MediaItem
from handlers.phones import mask
from handlers.product import Product
from handlers.texts import render

MAX_FAILURES = 3
MAX_AUTOMATIC_STEPS = 50  # actions and messages in a row; more means a loop in the definition
MAX_PARKED = 3  # requests put aside at once (another service chosen meanwhile, "menu", 24 h idle)
EDITABLE = ("text", "choice", "photo")  # steps that take an answer the citizen may want to change


@dataclass
class Input:
    message_id: int
    body: str
    kind: str = "answer"  # answer | cancel | help | menu | human_agent | affirm | deny | thanks | greet |
    #                       erase_data | service:<id> | status (see flows.dialogue.prepare)
    media: list[MediaItem] = field(default_factory=list)
    media_kind: str | None = None  # what a message that is not text is: voice, sticker, … (flows.router.media_kind)


def text(product: Product, flow: Flow | None, key: str, values: dict | None = None) -> str:
    """A text from the flow's own ``texts``, else from config.yml's texts."""
    template = (flow.texts.get(key) if flow else None) or product.texts.get(key)
    if template is None:
        return product.text(key)  # raises: a required text is missing
    return render(template, values or {})


def new_run(flow: Flow, step_id: str, values: dict, **extra) -> dict:
    return {"flow": flow.id, "version": flow.version, "step": step_id, "values": values, "docs": {},
            "failures": 0, "pending_cancel": False, **extra}


def base_values(product: Product, phone: str | None, office=None) -> dict:
    """What every run starts with: the number the citizen writes from (none for a WhatsApp user id), and
    the branch office that serves them ({office}, {office_contact}: its contact line, else the national one)."""
    masked = mask(phone) if phone else ""
    option = product.text("use_sender_number", masked=masked) if phone else ""
    return {"sender_phone": phone, "sender_masked": masked, "sender_option": option,
            "office": office.name if office is not None and not office.is_default else product.text("office_default"),
            "office_contact": (office.contact if office is not None and office.contact
                               else product.text("office_contact_default"))}


def current(ctx: Context, state: dict) -> tuple[dict, Flow, Step]:
    run = state["run"]
    flow = ctx.flows[run["flow"]]
    return run, flow, flow.step(run["step"])


def runnable(flows: dict, run: dict | None) -> bool:
    """The run's flow is loaded and still has the step the run waits at."""
    return bool(run) and run.get("flow") in flows and run.get("step") in flows[run["flow"]].steps


def skippable(step: Step, run: dict) -> bool:
    """An optional question may be skipped ("lewati") — except when an officer asked for it again."""
    return bool(step.get("optional")) and not run.get("need_info_case")


def prompt(product: Product, flow: Flow, step: Step, run: dict) -> str:
    if run.get("nik_check"):  # the NIK on the KTP photo differs from the one typed: that question first
        return text(product, flow, "nik_mismatch", run["nik_check"])
    values = run["values"]
    if step.type == "choice":
        options = "\n".join(f"*{i}*. {o['title']}" for i, o in enumerate(step.get("options"), start=1))
        return render(step.get("ask"), values) + "\n" + options
    if step.type == "confirm":
        return summary(product, flow, step, run)
    ask = render(step.get("ask"), values).rstrip()  # a value left empty leaves no blank line behind
    if skippable(step, run):
        ask += "\n" + text(product, flow, "photo_optional_hint" if step.type == "photo" else "text_optional_hint")
    return ask


def abandon(session, run: dict | None) -> None:
    """A run is dropped. If an officer was waiting for its answer, the case goes back to the agents."""
    if run and run.get("need_info_case"):
        need_info_abandoned(session, run["need_info_case"])
    for waiting in (run or {}).get("waiting", []):
        abandon(session, waiting)
    older = (run or {}).get("parked_before")
    if older:
        abandon(session, older)


def paused_runs(state: dict) -> list[dict]:
    """The runs put aside, newest first (each keeps the one put aside before it)."""
    runs, run = [], state.get("paused_run")
    while run:
        runs.append(run)
        run = run.get("parked_before")
    return runs


def park(session, state: dict, run: dict) -> None:
    """Put a run aside, to be offered back later. A run already put aside waits behind it (it comes
    back when this one is resumed and ended, or let go); beyond ``MAX_PARKED`` the oldest is dropped."""
    older = state.pop("paused_run", None)
    if older:
        run["parked_before"] = older
        chain = paused_runs({"paused_run": run})
        if len(chain) > MAX_PARKED:
            abandon(session, chain[MAX_PARKED - 1].pop("parked_before"))
    state["paused_run"] = run
    state.pop("resume_offered", None)


def unpark(state: dict) -> dict:
    """Take the newest run put aside back (the one before it, if any, is next in line)."""
    run = state.pop("paused_run")
    older = run.pop("parked_before", None)
    if older:
        state["paused_run"] = older
    state.pop("resume_offered", None)
    return run


def drop_paused(session, state: dict, everything: bool = False) -> None:
    """Let the newest run put aside go (or every one): its answers go, an officer waiting for it is told."""
    while state.get("paused_run"):
        abandon(session, unpark(state))
        if not everything:
            break
    state.pop("resume_offered", None)


def start(ctx: Context, state: dict, flow_id: str) -> list[str]:
    """A new run of ``flow_id``. A run put aside stays aside (it is offered back when this one ends)."""
    flow = ctx.flows[flow_id]
    state["run"] = new_run(flow, flow.start, base_values(ctx.product, ctx.citizen.phone,
                                                         routing.for_citizen(ctx.session, ctx.citizen.id)))
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
            if not step.next and run.get("editing"):
                step_id = _back_to_change(run)  # a check failed on the changed answer: ask it again
                continue
            if not step.next:
                finish(ctx, state)
                return replies + offer_paused(ctx, state)
            step_id = step.next
        elif step.type == "action":
            outcome = ctx.actions[step.get("handler")].run(ctx, run)
            outcomes = step.get("outcomes")
            step_id = outcomes.get(outcome) or outcomes.get("default")
            if step_id is None:
                raise FlowError(f"{flow.id}: step '{step.id}' has no outcome '{outcome}'")
        elif _kept(run, step) or _sent_before(run, step):
            mark_answered(run, step)  # answered already, and not the one being changed: kept
            step_id = step.next
        else:
            if step.type == "confirm":
                run.pop("editing", None)
            replies.append(prompt(ctx.product, flow, step, run))
            return replies
    raise FlowError(f"{state['run']['flow']}: more than {MAX_AUTOMATIC_STEPS} automatic steps in a row")


def _sent_before(run: dict, step: Step) -> bool:
    """A photo step whose document came earlier (a KTP photo sent where the NIK was asked): not asked again."""
    document = step.get("document") if step.type == "photo" else None
    if document and document in run.get("sent_before", ()) and run["docs"].get(document):
        run["sent_before"].remove(document)
        return True
    return False


def _kept(run: dict, step: Step) -> bool:
    """While one answer is changed, the answers after it are kept — each once: a flow that comes back to
    a question (a check sent the citizen back) asks it again."""
    editing = run.get("editing")
    if not editing or step.id not in editing["keep"] or not step.next:
        return False
    skipped = editing.setdefault("skipped", [])
    if step.id in skipped:
        return False
    skipped.append(step.id)
    return True


def _back_to_change(run: dict) -> str:
    """While one answer is changed, a check on it ended the flow (no such card, too many tries): the
    question is asked again instead, and everything else answered stays."""
    editing = run["editing"]
    path = run.setdefault("path", [])
    if editing["target"] in path:
        del path[path.index(editing["target"]):]
    editing["skipped"] = []
    return editing["target"]


def offer_paused(ctx: Context, state: dict) -> list[str]:
    """A run ended while another was put aside (the citizen switched services): offer it back now."""
    paused = state.get("paused_run")
    if not runnable(ctx.flows, paused):
        return []
    state["resume_offered"] = "ended"  # the next message may be LANJUT
    flow = ctx.flows[paused["flow"]]
    return [text(ctx.product, flow, "resume_offer", {"title": flow.title})]


def office_promise(ctx: Context) -> str:
    """When an officer will read the citizen's messages, from the calendar of the branch they wrote to."""
    product = ctx.product
    promise = routing.calendar(product, routing.for_citizen(ctx.session, ctx.citizen.id)).promise(ctx.now)
    if promise.open_now:
        return text(product, None, "officer_soon")
    return text(product, None, "officer_later", opening(product, promise.next_open))


def request_officer(ctx: Context, state: dict, flow: Flow | None) -> list[str]:
    """The citizen asks for a person: the agents' queue gets a handoff case (unless one is open) and
    the citizen is told honestly when an officer will read it. Until an officer writes, the bot still
    answers a few words (menu, batal, "ada orang?") with that promise; then it is silent."""
    ctx.conversation.handoff_since = ctx.now
    state["awaiting_officer"] = True  # until an officer writes (stop_awaiting_officer)
    kept = state.get("paused_run") or {}
    open_handoff_case(ctx, ctx.conversation.active_flow or kept.get("flow"))  # what the citizen was doing
    return [text(ctx.product, flow, "handoff_started", {"promise": office_promise(ctx)})]


def stop_awaiting_officer(state: dict) -> bool:
    """An officer wrote, or the citizen gave up waiting: the bot no longer answers in the officer's place.
    True when the citizen was waiting."""
    state.pop("officer_told_at", None)
    return bool(state.pop("awaiting_officer", None))


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
        state["run"] = unpark(state)
        ctx.conversation.active_flow = state["run"]["flow"]
    return [received]


def fail(ctx: Context, flow: Flow, step: Step, run: dict, code: str) -> list[str]:
    """Repeat the question with one line saying what is expected. After repeated failures the way out
    (an officer, the menu) is added, never put in place of the hint and the question."""
    run["failures"] = run.get("failures", 0) + 1
    errors = step.get("errors") or {}
    line = render(errors[code], run["values"]) if code in errors else text(ctx.product, flow, f"error_{code}")
    reply = line + "\n\n" + prompt(ctx.product, flow, step, run)
    if run["failures"] >= MAX_FAILURES:
        run["failures"] = 0
        reply += "\n\n" + text(ctx.product, flow, "too_many_failures")
    return [reply]


def mark_answered(run: dict, step: Step) -> None:
    """Remember the order of the questions the citizen answered (the confirmation lists them)."""
    path = run.setdefault("path", [])
    if step.id not in path:
        path.append(step.id)


def editable(flow: Flow, run: dict) -> list[Step]:
    """The answers a confirmation offers to change, in the order they were given."""
    return [flow.step(step_id) for step_id in run.get("path", [])
            if step_id in flow.steps and flow.step(step_id).type in EDITABLE]


def _answer_line(product: Product, step: Step, run: dict) -> str:
    values, key = run["values"], str(step.get("save_as", step.id))
    if step.type == "photo":
        shown = "✅" if run["docs"].get(step.get("document")) else "—"
    elif step.type == "choice":
        shown = values.get(key + "_title") or "—"
    else:
        shown = values.get(key + "_text") or values.get(key) or "—"
    return f"{product.step_label(step)}: {shown}"


def summary(product: Product, flow: Flow, step: Step, run: dict) -> str:
    """The confirmation: its header, every answer numbered (to change one by its number), the hint."""
    lines = [render(step.get("summary"), run["values"]).rstrip()]
    lines += [f"*{i}*. {_answer_line(product, answered, run)}" for i, answered in enumerate(editable(flow, run), 1)]
    return "\n".join(lines) + "\n" + text(product, flow, "confirm_hint")


def start_editing(ctx: Context, state: dict, flow: Flow, confirm: Step, target: Step) -> list[str]:
    """Change one answer: ask its question again; the answers after it are kept (asked again only if the
    flow's checks send the citizen back to them), then the confirmation comes back."""
    run = state["run"]
    path = run.get("path", [])
    at = path.index(target.id) if target.id in path else len(path)
    run["editing"] = {"confirm": confirm.id, "target": target.id, "keep": path[at + 1:]}
    run["path"] = path[:at]  # the path is walked again: a changed choice may lead past other questions
    run["step"], run["failures"] = target.id, 0
    return [text(ctx.product, flow, "edit_field", {"field": ctx.product.step_label(target)}) + "\n"
            + prompt(ctx.product, flow, target, run)]
