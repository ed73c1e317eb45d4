"""Reading a document with OCR in the background: a KK photo, once its case is in (handlers.ocr.READ_LATER).

A KK is a dense table (~90 text boxes on a generated one: median 3.2 s, up to 7.7 s in bench/ocr_nik.py --kk,
and a real KK is denser): read while the citizen waits it would hold their reply, so the ``reader`` process (Procfile) reads it from the ``documents`` queue instead. The
job takes the document's id, reloads it, closes the session before the slow read (the photo is read from
the encrypted store), then writes what was read only if nobody did meanwhile (compare-and-set on
``ocr IS NULL``) and records the case's matches with other cases (handlers.reuse). A read that fails or
overruns is written as such (``failed``/``timeout``) and shown on the case page, never retried.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from bot import dispatch, metrics, queues
from bot.appcontext import in_app_context
from handlers import ocr, reuse
from storage import db
from storage.cases import Case, Document

log = logging.getLogger(__name__)


@in_app_context
def read_document(document_id: int) -> str | None:
    dispatch.started("reading", document_id)
    settings, session = current_app.config["SETTINGS"], db.session()
    doc = session.get(Document, document_id)
    if doc is None or doc.ocr is not None or not settings.ocr_enabled:
        return None
    sha256, kind = doc.sha256, doc.kind
    session.close()  # no connection held during the read
    try:
        content = settings.media_store().read(sha256)
    except (FileNotFoundError, ValueError) as exc:  # purged meanwhile, or its key no longer configured
        log.warning("document id=%s not read: %s", document_id, type(exc).__name__)
        reading = ocr.Reading(ocr.FAILED)  # settled: not queued again on every sweep
    else:
        reading = ocr.reader().read(content, settings.ocr_background_timeout, kind)
    metrics.incr(f"ocr_{reading.status}")
    session = db.session()
    written = session.execute(update(Document).where(Document.id == document_id, Document.ocr.is_(None))
                              .values(ocr=reading.as_json(), ocr_nik=reading.nik if reading.confident else None)
                              .execution_options(synchronize_session=False)).rowcount
    case_id = session.scalar(select(Document.case_id).where(Document.id == document_id))
    case = session.get(Case, case_id) if case_id is not None else None
    if written and case is not None:
        session.expire(case, ["documents"])
        reuse.record_matches(session, case)
    session.commit()
    log.info("document id=%s read: %s", document_id, reading.status)
    return reading.status


def queue_case_documents(case: Case) -> int:
    """Right after a case is queued: its documents to read in the background (the sweeper is the fallback)."""
    if not current_app.config["SETTINGS"].ocr_enabled:
        return 0
    return sum(1 for doc in case.documents if doc.kind in ocr.READ_LATER and doc.ocr is None
               and dispatch.enqueue_reading(doc.id))


def unread_documents(session, older_than: datetime) -> list[int]:
    """Documents of a case waiting to be read in the background (the sweeper queues them)."""
    return list(session.scalars(select(Document.id).where(
        Document.kind.in_(ocr.READ_LATER), Document.ocr.is_(None), Document.case_id.is_not(None),
        Document.created_at < older_than).order_by(Document.id).limit(500)))


def queue_unread(now: datetime) -> int:
    """Put the documents waiting to be read on the ``documents`` queue (once each)."""
    if not current_app.config["SETTINGS"].ocr_enabled:
        return 0
    session = db.session()
    ids = unread_documents(session, now - timedelta(seconds=current_app.config["SETTINGS"].sweep_grace))
    session.close()
    waiting = dispatch.waiting_jobs(queues.DOCUMENTS)
    return sum(1 for i in ids if dispatch.enqueue_reading(i, waiting))
