"""What agents do to cases, for the console and the API alike: one function per action.

Each checks the rule (handlers.backoffice), asks the flow engine for any change to the citizen's
conversation (flows.conversation: reopen a step, ask the survey, take over, hand back), stores the
messages to the citizen, commits — again from the start if the citizen's conversation changed in
between (compare-and-set) — and only then queues the messages. Documents are served here too, with
the same headers and the same audit row from either door.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from flask import Response, current_app

from bot import dispatch, lifecycle, live
from flows import conversation
from handlers import backoffice as bo
from handlers import branches, routing
from handlers.cases import ERASURE
from handlers.notify import free_form, notify
from storage.branches import Branch
from storage.cases import Case, CaseStatus, Document
from storage.models import utcnow
from storage.staff import Staff

log = logging.getLogger(__name__)


@dataclass
class Done:
    case: Case
    outbound_ids: list[int] = field(default_factory=list)


def _product():
    return current_app.config["PRODUCT"]


def _run(session, case: Case, operation: Callable[[], list[int]], bulk: bool = True) -> Done:
    """Run, commit (again on fresh state after a conflicting write), then queue the messages: ``bulk``
    notifications (decisions, surveys) behind replies; an agent's own message with the replies."""
    outbound_ids = conversation.retrying(session, operation)
    for outbound_id in outbound_ids:
        dispatch.enqueue_outbound(outbound_id, bulk=bulk)
    return Done(case, outbound_ids)


def _reachable(case: Case) -> None:
    if case.citizen is None:
        raise bo.BackofficeError("data pribadi warga ini sudah dihapus: tidak ada yang bisa dikirim kepadanya", 409)


def _tell(session, case: Case, text: str, template: str, status_word: str | None = None,
          agent: Staff | None = None, sender: str | None = None) -> int:
    """Store a message to the citizen, from the case's number (handlers.routing) unless ``sender`` says;
    outside that number's 24-hour window it goes as ``template``, whose variables are the ticket and
    ``status_word`` (Indonesian, from config.yml: the citizen reads it)."""
    _reachable(case)
    variables = {"ticket": case.ticket} | ({"status": status_word} if status_word else {})
    now = utcnow()
    row = notify(session, case.citizen, text, _product(), now, template, variables,
                 sender or routing.sender_for_case(session, case, now))
    row.agent_id = agent.id if agent else None
    session.flush()
    return row.id


def case_flow(session, case: Case):
    """The case's flow, in the version the case was made with when it is still known."""
    app = current_app._get_current_object()
    run = {"flow": case.service, "version": case.flow_version or ""}
    return live.pinned(app, session, live.flows(app), [run]).get(case.service)


def claim(session, case: Case, staff: Staff, channel: str = "console") -> Done:
    return _run(session, case, lambda: bo.claim(session, case, staff, channel) or [])


def release(session, case: Case, staff: Staff, channel: str = "console") -> Done:
    return _run(session, case, lambda: bo.release(session, case, staff, channel) or [])


def reassign(session, case: Case, staff: Staff, to: Staff, channel: str = "console") -> Done:
    return _run(session, case, lambda: bo.reassign(session, case, staff, to, channel) or [])


def decide(session, case: Case, staff: Staff, decision: str, note: str = "", reason: str | None = None,
           item: str | None = None, channel: str = "console") -> Done:
    product = _product()

    def operation() -> list[int]:
        flow = case_flow(session, case)
        result = bo.decide(session, case, staff, decision, product, flow, note, reason, item, channel)
        text = result.text
        if result.reopen:
            _reachable(case)
            text += "\n\n" + conversation.reopen_at(session, case.citizen, flow, result.reopen, case.id, product,
                                                    utcnow())
        return [_tell(session, case, text, "case_update", result.status_word)]

    done = _run(session, case, operation)
    if case.service == ERASURE and case.status == CaseStatus.APPROVED:
        lifecycle.erase_later(case.citizen_id)  # once the confirmation has left, everything about them goes
    return done


@dataclass
class Preview:
    """What the citizen will receive if a decision is sent: ``text``, or — outside WhatsApp's 24-hour
    window — the ``case_update`` template with the ticket and ``status_word`` instead of the text."""

    text: str
    by_template: bool
    status_word: str
    item_label: str | None = None  # the item asked again, as the agent chose it


def preview_decision(session, case: Case, staff: Staff, decision: str, note: str = "", reason: str | None = None,
                     item: str | None = None) -> Preview:
    """For the confirmation an agent reads before sending (nothing is changed)."""
    product, flow = _product(), case_flow(session, case)
    bo.check_decision(case, staff, decision, product, flow, reason, item)
    _reachable(case)
    result = bo.decision_message(case, decision, product, note, reason, item)
    text = result.text
    if result.reopen:
        text += "\n\n" + conversation.reopen_question(case.citizen, flow, result.reopen, product)
    now = utcnow()
    by_template = not free_form(session, case.citizen, now, routing.sender_for_case(session, case, now))
    return Preview(text, by_template, result.status_word,
                   dict(askable_items(flow)).get(item or ""))


def askable_items(flow) -> list[tuple[str, str]]:
    """What an agent may ask the citizen again, ``(step id, label)``."""
    product = _product()
    return [(step.id, product.step_label(step)) for step in bo.askable_steps(flow)]


def close(session, case: Case, staff: Staff, channel: str = "console") -> Done:
    def operation() -> list[int]:
        question = bo.close(session, case, staff, _product(), channel)
        if case.citizen is None:  # erased (on request, or by retention): closed without a survey
            return []
        conversation.ask_survey(session, case.citizen, case.id, utcnow())
        return [_tell(session, case, question, "satisfaction")]

    return _run(session, case, operation)


def message(session, case: Case, staff: Staff, text: str, channel: str = "console") -> Done:
    """An agent writes to the citizen (the bot is silent meanwhile)."""
    def operation() -> list[int]:
        bo.holder_or_supervisor(case, staff)
        outbound_id = _tell(session, case, bo.message_text(text), "case_update",
                            _product().text("case_update_message"), agent=staff)
        _take_over(session, case, staff, channel)
        bo.audit(session, staff, "message", case.id, channel=channel)
        return [outbound_id]

    return _run(session, case, operation, bulk=False)


def _take_over(session, case: Case, staff: Staff, channel: str) -> None:
    _reachable(case)
    if conversation.take_over(session, case.citizen, utcnow()):
        bo.event(session, case, "handoff", staff)
        bo.audit(session, staff, "take_over", case.id, channel=channel)


def take_over(session, case: Case, staff: Staff, channel: str = "console") -> Done:
    def operation() -> list[int]:
        bo.holder_or_supervisor(case, staff)
        _take_over(session, case, staff, channel)
        return []

    return _run(session, case, operation)


def hand_back(session, case: Case, staff: Staff, channel: str = "console") -> Done:
    def operation() -> list[int]:
        bo.holder_or_supervisor(case, staff)
        _reachable(case)
        if not conversation.hand_back(session, case.citizen, utcnow()):
            raise bo.BackofficeError("bot tidak sedang dihentikan untuk warga ini")
        bo.event(session, case, "handback", staff)
        bo.audit(session, staff, "hand_back", case.id, channel=channel)
        product = _product()
        return [_tell(session, case, product.text("handback"), "case_update", product.text("case_update_handback"))]

    return _run(session, case, operation)


def transfer(session, case: Case, staff: Staff, to: Branch, reason: str, channel: str = "console") -> Done:
    """Move the case to another branch; the citizen hears it from the number they have been writing to
    (the next messages come from the new branch's own number, when it has one)."""
    def operation() -> list[int]:
        bo.transfer(session, case, staff, to, reason, channel)
        if case.citizen is None:
            return []
        product = _product()
        text = product.text("case_transferred", ticket=case.ticket, branch=to.name)
        if to.contact:
            text += "\n" + product.text("branch_contact", branch=to.name, contact=to.contact)
        return [_tell(session, case, text, "case_update", product.text("case_update_transferred"),
                      sender=branches.last_number(session, case.citizen_id))]

    return _run(session, case, operation)


def document(session, case: Case, document_id: int, staff: Staff, channel: str = "console") -> Response:
    """A document of this case, to its holder or a supervisor only: audited, never cached, never
    sniffed into another type."""
    if not bo.may_see(case, staff):
        raise bo.BackofficeError("dokumen hanya untuk petugas yang memegang kasus ini (atau supervisor)", 403)
    doc = session.get(Document, document_id)
    if doc is None or doc.case_id != case.id:
        raise bo.BackofficeError(f"kasus {case.ticket} tidak punya dokumen {document_id}", 404)
    try:
        content = current_app.config["SETTINGS"].media_store().read(doc.sha256)
    except (FileNotFoundError, ValueError):  # a missing file, or one that does not decrypt (MediaKeyError)
        log.error("document id=%s: stored file is missing", doc.id)
        raise bo.BackofficeError(f"berkas dokumen {document_id} tidak ada di penyimpanan", 404) from None
    bo.audit(session, staff, "view_document", case.id, detail=f"dokumen {doc.id}", channel=channel)
    session.commit()
    response = Response(content, mimetype=doc.content_type)
    response.headers["Cache-Control"] = "no-store, private"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = f'inline; filename="{case.ticket}-{doc.kind}-{doc.id}"'
    return response
