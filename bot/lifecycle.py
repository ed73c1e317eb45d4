"""Personal data kept only as long as needed (UU 27/2022), erased on request, exported on request.

- ``purge``: every day (the sweeper runs it once a day; ``flask --app bot purge`` runs it now) messages,
  documents (rows and files), closed cases' personal data, abandoned runs and citizens with nothing
  left are removed after the periods in config.yml ``retention``; statistics stay, de-identified.
- ``erase``: a citizen's request ("hapus data saya") becomes a case; when an officer approves it, the
  citizen is told, and once that last message has left, everything about them is erased.
- ``export``: a supervisor downloads what is held about one citizen (the right of access), audited.
"""
from __future__ import annotations

import io
import json
import logging
import zipfile
from datetime import datetime, timedelta

from flask import current_app
from rq import Retry
from sqlalchemy import false, select

from bot import queues, simulator
from bot.appcontext import in_app_context
from flows import conversation
from handlers import lifecycle, visibility
from storage import db, keys
from storage.cases import Case, Document
from storage.models import Citizen, Conversation, InboundMessage, OutboundMessage, as_utc, utcnow
from storage.nlu import NluReview
from storage.staff import Satisfaction

log = logging.getLogger(__name__)
ERASE_DELAY = timedelta(seconds=30)  # the officer's confirmation leaves before the data goes
ERASE_RETRY = (10, 30, 60, 300)


def _delete_files(session, hashes: list[str]) -> int:
    store = current_app.config["SETTINGS"].media_store()
    return sum(1 for digest in lifecycle.orphan_files(session, hashes) if store.delete(digest))


def purge(now: datetime | None = None) -> dict[str, int]:
    """One purge of everything past its retention. Each kind in its own transactions, in batches."""
    now, session = now or utcnow(), db.session()
    retention = current_app.config["PRODUCT"].retention
    counts = {"messages": 0, "documents": 0, "files": 0, "cases": 0, "runs": 0, "citizens": 0}
    while (n := lifecycle.old_messages(session, now, retention)):
        session.commit()
        counts["messages"] += n
    while (hashes := lifecycle.old_documents(session, now, retention)):
        session.commit()
        counts["documents"] += len(hashes)
        counts["files"] += _delete_files(session, hashes)
    while (n := lifecycle.old_cases(session, now, retention)):
        session.commit()
        counts["cases"] += n
    older = now - timedelta(days=retention.abandoned_run_days)
    counts["runs"] = conversation.retrying(session, lambda: conversation.drop_abandoned(session, older, now))
    while (ids := lifecycle.forgotten_citizens(session, now, retention)):
        conversation.forget(session, ids)
        counts["citizens"] += lifecycle.delete_citizens(session, ids)
        session.commit()
    counts["files"] += _delete_files(session, simulator.purge_uploads(current_app._get_current_object()))
    session.close()
    log.info("purge: %s", " ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


def purge_due(now: datetime) -> bool:
    """True once a day (office date), for the sweeper: the first worker to ask runs the purge."""
    day = now.astimezone(current_app.config["PRODUCT"].timezone).date().isoformat()
    return bool(queues.redis().set(keys.purge_day(day), 1, nx=True, ex=2 * 86400))


def erase_later(citizen_id: int) -> None:
    """After an officer approved an erasure: the job waits for the confirmation to leave."""
    queues.queue(queues.BACKOFFICE).enqueue_in(ERASE_DELAY, "bot.lifecycle.erase", citizen_id, job_timeout=300,
                                               retry=Retry(max=len(ERASE_RETRY), interval=list(ERASE_RETRY)),
                                               description=f"erase citizen {citizen_id}")


@in_app_context
def erase(citizen_id: int) -> dict[str, int]:
    """The RQ job: erase everything about one citizen (retried while their last message is on its way)."""
    session = db.session()
    if session.get(Citizen, citizen_id) is None:
        return {"citizens": 0}
    if lifecycle.pending_replies(session, citizen_id):
        session.close()
        raise RuntimeError("the citizen's last message has not left yet; erasing later")
    hashes = lifecycle.erase_citizen_data(session, citizen_id)
    conversation.forget(session, [citizen_id])
    lifecycle.delete_citizens(session, [citizen_id])
    session.commit()
    files = _delete_files(session, hashes)
    session.close()
    log.info("citizen_id=%s erased on request (%d documents, %d files)", citizen_id, len(hashes), files)
    return {"citizens": 1, "documents": len(hashes), "files": files}


def _iso(value) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def _satisfaction(session, case_id: int) -> dict | None:
    row = session.scalar(select(Satisfaction).where(Satisfaction.case_id == case_id))
    return {"rating": row.rating, "comment": row.comment} if row else None


def export(citizen: Citizen, branch_ids: frozenset[int] | None = visibility.EVERY) -> bytes:
    """A zip of what is held about one citizen: data.json (the citizen, conversation, messages, cases)
    and their documents' files, decrypted. ``branch_ids``: a branch's supervisor exports what their
    branches hold (cases, their documents, the messages on their numbers); national staff everything."""
    session, store = db.session(), current_app.config["SETTINGS"].media_store()
    owners = visibility.NumberOwners(session, current_app.config["SETTINGS"].twilio_whatsapp_number)
    ours = visibility.writes_to(session, branch_ids, citizen.id)
    state = session.scalar(select(Conversation.state).where(Conversation.citizen_id == citizen.id)) if ours else None
    cases = session.scalars(select(Case).where(Case.citizen_id == citizen.id, visibility.where(branch_ids))
                            .order_by(Case.id)).all()
    in_scope_cases = select(Case.id).where(Case.citizen_id == citizen.id, visibility.where(branch_ids))
    unfiled = Document.case_id.is_(None) if ours else false()  # a run's photos, not yet a case
    documents = session.scalars(select(Document).where(Document.citizen_id == citizen.id,
                                                       Document.case_id.in_(in_scope_cases) | unfiled)
                                .order_by(Document.id)).all()
    data = {
        "citizen": {"phone": citizen.phone, "whatsapp_user_id": citizen.wa_user_id, "profile_name": citizen.profile_name,
                    "first_contact": _iso(citizen.created_at), "last_message": _iso(citizen.last_inbound_at)},
        "conversation_state": state or {},
        "messages_received": [{"at": _iso(m.received_at), "body": m.body, "media": len(m.media), "status": m.status}
                              for m in session.scalars(select(InboundMessage).where(
                                  InboundMessage.citizen_id == citizen.id,
                                  owners.condition(InboundMessage.to_number, branch_ids)).order_by(InboundMessage.id))],
        "messages_sent": [{"at": _iso(m.created_at), "body": m.body, "status": m.status}
                          for m in session.scalars(select(OutboundMessage).where(
                              OutboundMessage.citizen_id == citizen.id,
                              owners.condition(OutboundMessage.sender, branch_ids, sent=True)).order_by(OutboundMessage.id))],
        "cases": [{"ticket": c.ticket, "service": c.service_title or c.service, "status": c.status,
                   "created_at": _iso(c.created_at), "fields": c.fields, "decision_note": c.decision_note,
                   "satisfaction": _satisfaction(session, c.id)} for c in cases],
        "documents": [{"id": d.id, "kind": d.kind, "content_type": d.content_type, "size": d.size,
                       "case": d.case.ticket if d.case else None, "created_at": _iso(d.created_at),
                       "read_off_the_photo": d.ocr} for d in documents],
        # Messages kept to teach the bot (numbers masked), with the intent an admin gave them.
        "kept_for_the_bots_training": [{"at": _iso(r.created_at), "text": r.text, "status": r.status, "label": r.label}
                                       for r in session.scalars(select(NluReview).where(
                                           NluReview.citizen_id == citizen.id).order_by(NluReview.id))] if ours else [],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2, default=str))
        for d in documents:
            try:
                content = store.read(d.sha256)
            except (FileNotFoundError, ValueError):
                continue  # purged or unreadable: the data.json entry says it existed
            extension = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "application/pdf": "pdf"}
            archive.writestr(f"documents/{d.id}-{d.kind}.{extension.get(d.content_type, 'bin')}", content)
    return buffer.getvalue()
