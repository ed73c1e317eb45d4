"""What the citizen's answer does at the step the run waits at: validated text, a choice, photos, the
confirmation (yes, or change one answer by its number or its name), and the global requests that work
at every step (cancel, help, menu, officer, thanks, another service).

Every wrong answer is told what to send instead, in the citizen's terms: a voice note, a sticker, a
location, a contact or a video each get their own answer, and a PDF where a photo is needed (and the
reverse) too; the question follows. Changing an answer at the confirmation asks that one question
again and brings the confirmation back.
"""
from __future__ import annotations

from flows import engine
from flows.definition import Flow, Step
from flows.engine import Input, current, enter, fail, prompt, text
from flows.router import normalise
from handlers.context import Context, MediaItem
from handlers.product import Product
from handlers.text_keys import media_text
from handlers.texts import display, render
from handlers.validators import Invalid
from storage.cases import Document


def handle(ctx: Context, state: dict, inp: Input) -> list[str]:
    run, flow, step = current(ctx, state)
    ctx.conversation.last_activity_at, ctx.conversation.reminded_at = ctx.now, None
    if run.get("offered_switch"):
        return _switch(ctx, state, flow, step, run, inp)
    if run.get("pending_cancel"):
        run["pending_cancel"] = False
        if inp.kind in ("affirm", "cancel"):
            engine.finish(ctx, state)
            return [text(ctx.product, flow, "cancelled") + "\n\n" + ctx.product.menu_text()]
        if inp.kind == "deny":
            return [text(ctx.product, flow, "not_cancelled") + "\n\n" + prompt(ctx.product, flow, step, run)]
    if inp.kind == "cancel":
        run["pending_cancel"] = True
        return [text(ctx.product, flow, "cancel_confirm", {"title": flow.title})]
    if inp.kind == "help":
        return [text(ctx.product, flow, "help_in_flow") + "\n\n" + prompt(ctx.product, flow, step, run)]
    if inp.kind == "menu":
        return [show_menu(ctx, state)]
    if inp.kind in ("thanks", "greet", "out_of_scope"):  # answered, and the question asked again
        return [text(ctx.product, flow, f"{inp.kind}_in_flow") + "\n\n" + prompt(ctx.product, flow, step, run)]
    if inp.kind == "human_agent":
        return engine.request_officer(ctx, state, flow)
    if inp.kind == "erase_data":
        return engine.request_erasure(ctx) + [prompt(ctx.product, flow, step, run)]
    if inp.kind.startswith("service:"):
        return _offer_switch(ctx, flow, run, inp.kind.split(":", 1)[1])
    if inp.kind == "status" and "case_status" in ctx.flows and flow.id != "case_status":
        return _status_now(ctx, state, inp)
    if run.get("nik_check") and not (inp.media and step.type == "photo"):  # a photo fills its step; asked after
        return _nik_choice(ctx, state, flow, step, run, inp)
    consume = {"text": _text, "choice": _choice, "photo": _photo, "confirm": _confirm}[step.type]
    return consume(ctx, state, flow, step, run, inp)


# ------------------------------------------------------------------------------ another topic
def show_menu(ctx: Context, state: dict) -> str:
    """'menu' inside a request: the menu, and the request kept to come back to (LANJUT)."""
    run = state.pop("run")
    flow = ctx.flows[run["flow"]]
    engine.park(ctx.session, state, run)
    state["resume_offered"] = "menu"  # the next message may be LANJUT, or a choice from the menu
    ctx.conversation.active_flow = None
    return ctx.product.menu_text() + "\n\n" + text(ctx.product, flow, "kept_for_later", {"title": flow.title})


def _offer_switch(ctx: Context, flow: Flow, run: dict, service: str) -> list[str]:
    if service == flow.id or service not in ctx.flows:
        return [prompt(ctx.product, flow, flow.step(run["step"]), run)]
    run["offered_switch"] = service
    return [text(ctx.product, flow, "switch_offer", {"title": ctx.product.title_of(service), "current": flow.title})]


def _switch(ctx: Context, state: dict, flow: Flow, step: Step, run: dict, inp: Input) -> list[str]:
    service = run.pop("offered_switch")
    if inp.kind == "affirm":
        engine.park(ctx.session, state, state.pop("run"))  # kept: offered back once the new one is done
        item = ctx.product.service(service)
        replies = engine.start(ctx, state, service)
        replies[0] = text(ctx.product, None, "service_selected", {"title": item.title}) + "\n" + replies[0]
        return replies
    if inp.kind in ("deny", "cancel"):
        return [text(ctx.product, flow, "not_cancelled") + "\n\n" + prompt(ctx.product, flow, step, run)]
    return handle(ctx, state, inp)  # neither: an answer to the question that is still open


def _status_now(ctx: Context, state: dict, inp: Input) -> list[str]:
    """A ticket number inside a sentence ("gimana tiket PDW-… saya"): its status at once; the request in
    progress is kept and offered back right after."""
    engine.park(ctx.session, state, state.pop("run"))
    asked = engine.start(ctx, state, "case_status")
    return prefill(ctx, state, inp.message_id, [inp.body]) or asked


def prefill(ctx: Context, state: dict, message_id: int, candidates: list[str]) -> list[str] | None:
    """Numbers the citizen already typed when asking for a service (a card number, a NIK, a ticket) answer
    the questions they fit, in order. The replies after the last one filled, or None when none fit."""
    replies, left = None, list(candidates)
    while left and "run" in state:
        run, flow, step = current(ctx, state)
        if step.type != "text":
            break
        fitting = next((c for c in left if answers_step(step, run, c, ctx.product, ctx.validators)), None)
        if fitting is None:
            break
        left.remove(fitting)
        replies = handle(ctx, state, Input(message_id, fitting))
    return replies


def answers_step(step: Step, run: dict, body: str, product: Product, validators) -> bool:
    """Would ``body`` answer the question ``step`` asks (before anything is changed)?"""
    if step.type == "text":
        if engine.skippable(step, run) and normalise(body) in product.words("skip"):
            return True
        try:
            validators[step.get("validator")](body, run["values"])
            return True
        except Invalid:
            return False
    if step.type == "choice":
        return choice_value(step, body) is not None
    if step.type == "photo":
        return engine.skippable(step, run) and normalise(body) in product.words("skip")
    return False


# ------------------------------------------------------------------------------ answers
def advance(ctx: Context, state: dict, run: dict, step: Step) -> list[str]:
    """The step was answered: on to the next one (or back to the confirmation, when changing one)."""
    engine.mark_answered(run, step)
    run["failures"] = 0
    return enter(ctx, state, step.next)


def _wrong_media(ctx: Context, flow: Flow, step: Step, run: dict, kind: str | None) -> list[str]:
    """Something that is not text where text is wanted: say what it was, and what to send."""
    return [text(ctx.product, flow, media_text(kind)) + "\n\n" + prompt(ctx.product, flow, step, run)]


def _text(ctx, state, flow, step, run, inp) -> list[str]:
    if inp.media and inp.media[0].problem != "not_needed" and takes_nik_photo(flow, step):  # a caption is ignored
        return _nik_from_photo(ctx, state, flow, step, run, inp)
    if (inp.media or inp.media_kind) and not inp.body.strip():
        return _wrong_media(ctx, flow, step, run, inp.media_kind)
    key = step.get("save_as", step.id)
    if engine.skippable(step, run) and normalise(inp.body) in ctx.product.words("skip"):
        run["values"][key], run["values"][key + "_text"] = "", "—"
        return advance(ctx, state, run, step)
    try:
        value = ctx.validators[step.get("validator")](inp.body, run["values"])
    except Invalid as exc:
        return fail(ctx, flow, step, run, exc.code)
    run["values"][key], run["values"][key + "_text"] = value, display(value)
    if takes_nik_photo(flow, step):
        _nik_source(run, key, "diketik warga")
    return advance(ctx, state, run, step)


def choice_value(step: Step, body: str) -> str | None:
    word = normalise(body)
    for i, option in enumerate(step.get("options"), start=1):
        if word in (str(i), normalise(str(option["title"])), normalise(str(option["value"]))):
            return option["value"]
    return None


def _choice(ctx, state, flow, step, run, inp) -> list[str]:
    if (inp.media or inp.media_kind) and not inp.body.strip():
        return _wrong_media(ctx, flow, step, run, inp.media_kind)
    value = choice_value(step, inp.body)
    if value is None:
        return fail(ctx, flow, step, run, "choice")
    option = next(o for o in step.get("options") if o["value"] == value)
    run["values"][step.get("save_as", step.id)] = value
    run["values"][step.get("save_as", step.id) + "_title"] = option["title"]
    return advance(ctx, state, run, step)


# Words too common in labels to tell one answer from another ("nomor kartu", "nomor HP", "foto KTP").
_COMMON_WORDS = frozenset({"nomor", "no", "foto", "yang", "baru", "dan", "atau", "di", "dari", "surat"})
# How citizens name what the labels call otherwise.
_SAID_AS = (("kartu keluarga", "kk"), ("selfie", "swafoto"), ("swa foto", "swafoto"), ("handphone", "hp"),
            ("wa", "hp"), ("tgl", "tanggal"))


def change_target(product: Product, flow: Flow, run: dict, body: str) -> Step | None:
    """The answer the citizen wants to change: by its number in the confirmation, or by naming it
    ("salah NIK nya", "nomor hp nya salah", "ganti foto KTP"): the one answer whose label shares the most
    telling words with the message; none when two are named as much."""
    choices, word = engine.editable(flow, run), normalise(body)
    if word.isdigit():
        return choices[int(word) - 1] if 1 <= int(word) <= len(choices) else None
    said = set(_as_labels(word).split())
    scores = [(len(_telling(product.step_label(s)) & said), s) for s in choices]
    best = max((score for score, _ in scores), default=0)
    named = [s for score, s in scores if score == best]
    return named[0] if best and len(named) == 1 else None


def _as_labels(said: str) -> str:
    said = " ".join(w[:-3] if w.endswith("nya") and len(w) > 5 else w for w in said.split())  # "tanggalnya"
    for spoken, written in _SAID_AS:
        said = f" {said} ".replace(f" {spoken} ", f" {written} ").strip()
    return said


def _telling(label: str) -> set[str]:
    return set(normalise(label).split()) - _COMMON_WORDS


def _confirm(ctx, state, flow, step, run, inp) -> list[str]:
    if inp.media_kind and not inp.body.strip():  # a photo, a voice note… where a yes or a number is wanted
        return _wrong_media(ctx, flow, step, run, inp.media_kind)
    target = change_target(ctx.product, flow, run, inp.body) if inp.kind in ("answer", "deny") else None
    if target is not None:
        return engine.start_editing(ctx, state, flow, step, target)
    if inp.kind == "affirm":
        run["failures"] = 0
        return enter(ctx, state, step.next)
    if inp.kind == "deny":
        if step.get("on_no"):
            return enter(ctx, state, step.get("on_no"))
        return [text(ctx.product, flow, "which_to_change") + "\n\n" + prompt(ctx.product, flow, step, run)]
    return fail(ctx, flow, step, run, "confirm")


# ------------------------------------------------------------------------------ photos
def _store_document(ctx: Context, run: dict, step: Step, item: MediaItem, message_id: int) -> None:
    kind = step.get("document")
    if item.content is not None:  # the file is written with the row that names it (idempotent, by hash)
        ctx.settings.media_store().save(item.content)
    document = Document(
        citizen_id=ctx.citizen.id, inbound_message_id=message_id, media_index=item.index, kind=kind,
        content_type=item.content_type, size=item.size, sha256=item.sha256, width=item.width, height=item.height,
        sharpness=item.sharpness, phash=item.phash, ocr=item.ocr, ocr_nik=item.nik_read,
    )
    ctx.session.add(document)
    ctx.session.flush()
    run["docs"].setdefault(kind, []).append(document.id)
    run.setdefault("shas", []).append(item.sha256)
    run.setdefault("doc_shas", {})[str(document.id)] = item.sha256
    run["values"]["doc_" + kind] = "✅"


def _photo_problem(item: MediaItem, accept: list[str]) -> str:
    problem = item.problem if not item.ok else "not_a_photo"
    is_pdf = item.kind == "pdf" or (item.content_type or item.declared_type or "").endswith("/pdf")
    if problem == "not_a_photo" and is_pdf:
        return "pdf_not_wanted"  # a PDF where only a photo will do
    if problem == "not_a_photo" and "pdf" in accept:
        return "not_a_document"
    return problem


def _replacing(run: dict, step: Step) -> None:
    """Changing a photo at the confirmation: the one sent before no longer counts (nor as a duplicate)."""
    replaced = run["docs"].pop(step.get("document"), [])
    gone = {run.get("doc_shas", {}).pop(str(doc_id), None) for doc_id in replaced}
    run["shas"] = [sha for sha in run.get("shas", []) if sha not in gone]


def _photo(ctx, state, flow, step, run, inp) -> list[str]:
    if inp.media_kind not in (None, "photo", "document"):  # a voice note, a sticker, a location…
        return _wrong_media(ctx, flow, step, run, inp.media_kind)
    if not inp.media:
        if engine.skippable(step, run) and normalise(inp.body) in ctx.product.words("skip"):
            return advance(ctx, state, run, step)
        return fail(ctx, flow, step, run, "photo_expected")
    received: list[str] = []
    for position, item in enumerate(inp.media):  # several photos in one message fill the waiting steps in order
        if item.problem == "not_needed":  # not fetched: more photos than steps waiting for one
            return _joined(received + [text(ctx.product, flow, "extra_photos_ignored")],
                           [prompt(ctx.product, flow, step, run)])
        accept = step.get("accept") or ["image"]
        if not item.ok or item.kind not in accept:
            problem = _photo_problem(item, accept)
            return _joined(received, [text(ctx.product, flow, f"photo_{problem}") + "\n\n"
                                      + prompt(ctx.product, flow, step, run)])
        if run.get("editing") and step.id not in run.get("path", []) and run["docs"].get(step.get("document")):
            _replacing(run, step)
        if item.sha256 in run.get("shas", []):
            return _joined(received, [text(ctx.product, flow, "photo_duplicate") + "\n\n"
                                      + prompt(ctx.product, flow, step, run)])
        _store_document(ctx, run, step, item, inp.message_id)
        _compare_nik(ctx, flow, step, run, item)
        if step.get("received"):
            received.append(render(step.get("received"), run["values"]))
        next_prompts = advance(ctx, state, run, step)
        if position == len(inp.media) - 1:
            return _joined(received, next_prompts)
        if "run" not in state or current(ctx, state)[2].type != "photo":
            return _joined(received + [text(ctx.product, flow, "extra_photos_ignored")], next_prompts)
        run, flow, step = current(ctx, state)
    return received


def photo_documents_ahead(flow: Flow, step_id: str) -> list[str]:
    """The documents of the photos the run can take from one message, from this step on (consecutive
    photo steps), in order."""
    documents, seen = [], set()
    while step_id and step_id in flow.steps and step_id not in seen:
        seen.add(step_id)
        step = flow.step(step_id)
        if step.type != "photo":
            break
        documents.append(step.get("document"))
        step_id = step.next
    return documents


def _joined(received: list[str], prompts: list[str]) -> list[str]:
    """'Photo received' lines go in front of the next question, as one message."""
    if received and prompts:
        return ["\n".join(received) + "\n\n" + prompts[0]] + prompts[1:]
    return received + prompts


# ------------------------------------------------------------------------------ the NIK on the card
NIK_VALIDATOR = "nik"


def takes_nik_photo(flow: Flow, step: Step) -> bool:
    """A question for the NIK: a photo of the KTP answers it too (the NIK is read off the card)."""
    return step.type == "text" and step.get("validator") == NIK_VALIDATOR


def _nik_steps(flow: Flow, run: dict) -> list[Step]:
    return [s for s in flow.steps.values() if takes_nik_photo(flow, s) and s.get("save_as", s.id) in run["values"]]


def _nik_source(run: dict, key: str, source: str) -> None:
    """Where the participant's NIK came from, for the officer (the last answer's: never a stale one)."""
    if key == "nik":
        run["values"]["nik_choice"] = source


def _valid_nik(ctx: Context, run: dict, nik: str) -> bool:
    try:
        ctx.validators[NIK_VALIDATOR](nik, run["values"])
        return True
    except Invalid:
        return False


def _compare_nik(ctx: Context, flow: Flow, step: Step, run: dict, item: MediaItem) -> None:
    """A KTP photo whose NIK, read with confidence, differs from the NIK typed before: ask which is right
    (engine.prompt puts that question before the next one). A KK lists a whole family: not compared here."""
    read = item.nik_read
    if step.get("document") != "ktp" or not read or not _valid_nik(ctx, run, read):
        return
    for nik_step in _nik_steps(flow, run):
        key = nik_step.get("save_as", nik_step.id)
        typed = str(run["values"].get(key) or "")
        if typed and typed != read:
            run["nik_check"] = {"nik_read": read, "nik_typed": typed, "key": key, "step": nik_step.id}
            return


def answers_nik_check(run: dict, body: str) -> str | None:
    """The NIK chosen by an answer to "which NIK is right": 1 (the card's), 2 (the typed one), or either typed."""
    check = run["nik_check"]
    word = normalise(body).replace(" ", "")
    return {"1": check["nik_read"], "2": check["nik_typed"]}.get(word) or (
        word if word in (check["nik_read"], check["nik_typed"]) else None)


def _nik_choice(ctx, state, flow, step, run, inp) -> list[str]:
    check = run["nik_check"]
    chosen = answers_nik_check(run, inp.body)
    if chosen is None:
        return [text(ctx.product, flow, "error_nik_mismatch") + "\n\n" + prompt(ctx.product, flow, step, run)]
    run.pop("nik_check")
    kept = text(ctx.product, flow, "nik_mismatch_kept", {"nik": chosen})
    if chosen == check["nik_typed"]:
        _nik_source(run, check["key"], "sesuai ketikan, beda dengan foto KTP")
        return [kept + "\n\n" + prompt(ctx.product, flow, step, run)]
    # The card's NIK: answered to the NIK question again, so the flow's checks run on it (a NIK the card
    # already has, say); the answers after it are kept and the flow goes on where it was.
    confirm = next((s for s in flow.steps.values() if s.type == "confirm"), None)
    if confirm is not None:
        engine.start_editing(ctx, state, flow, confirm, flow.step(check["step"]))
    else:
        run["step"] = check["step"]
    replies = handle(ctx, state, Input(inp.message_id, chosen))
    if "run" in state and state["run"]["values"].get(check["key"]) == chosen:
        _nik_source(state["run"], check["key"], "sesuai foto KTP")
    return [kept + "\n\n" + replies[0]] + replies[1:] if replies else [kept]


def _nik_from_photo(ctx, state, flow, step, run, inp) -> list[str]:
    """A KTP photo sent where the NIK is asked: kept for the KTP step ahead (not asked again), and the NIK
    read off it answers. A NIK not read with confidence: type it, please."""
    item = inp.media[0]
    if not item.ok or item.kind != "image":
        return [text(ctx.product, flow, f"photo_{_photo_problem(item, ['image'])}") + "\n\n"
                + prompt(ctx.product, flow, step, run)]
    received = []
    ktp_step = next((s for s in flow.steps.values() if s.type == "photo" and s.get("document") == "ktp"), None)
    if ktp_step is not None and not run["docs"].get("ktp") and item.sha256 not in run.get("shas", []):
        _store_document(ctx, run, ktp_step, item, inp.message_id)
        run.setdefault("sent_before", []).append("ktp")
        received = [render(ktp_step.get("received"), run["values"])] if ktp_step.get("received") else []
    read = item.nik_read
    if not read or not _valid_nik(ctx, run, read):
        return _joined(received, [text(ctx.product, flow, "nik_not_read") + "\n\n" + prompt(ctx.product, flow, step, run)])
    key = step.get("save_as", step.id)
    run["values"][key], run["values"][key + "_text"] = read, display(read)
    _nik_source(run, key, "dibaca dari foto KTP")
    return _joined(received + [text(ctx.product, flow, "nik_from_photo", {"nik": read})], advance(ctx, state, run, step))
