"""The back-office JSON API (``/api``): bearer tokens of staff members, every rule in handlers.backoffice.

Answers are JSON only; errors are ``{"error": "..."}`` with the matching status. Every view of a
case's personal data or a document writes an audit row (channel ``api``). Logs carry ids, never
personal data.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request, url_for
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule

from bot import accounts, casework, live
from bot.console.auth import csrf
from handlers import backoffice as bo
from handlers import branches, privacy, reuse, visibility
from handlers.backoffice import BackofficeError
from handlers.labels import http_error
from handlers.phones import mask
from storage import db
from storage.cases import Case, CaseStatus
from storage.models import as_utc, utcnow
from storage.staff import Staff

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api")

STATUSES = (CaseStatus.SUBMITTED, CaseStatus.IN_REVIEW, CaseStatus.NEED_INFO, CaseStatus.APPROVED,
            CaseStatus.REJECTED, CaseStatus.CLOSED)
DEFAULT_LIMIT, MAX_LIMIT = 50, 200


class ApiError(Exception):
    def __init__(self, message: str, status: int = 400, headers: dict | None = None):
        super().__init__(message)
        self.message, self.status, self.headers = message, status, headers or {}


def error(message: str, status: int, headers: dict | None = None) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    response.headers.update(headers or {})
    return response


@bp.errorhandler(ApiError)
@bp.errorhandler(BackofficeError)
def _rule_error(exc: ApiError | BackofficeError):
    db.session().rollback()
    return error(exc.message, exc.status, getattr(exc, "headers", None))


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    db.session().rollback()
    return error(http_error(exc.code or 500), exc.code or 500)


# ---------------------------------------------------------------- authentication


@bp.before_request
def _authenticate():
    if request.endpoint in (None, "api.unknown"):
        return None  # unknown endpoints answer 404/405 without telling whether a token works
    challenge = {"WWW-Authenticate": 'Bearer realm="pandawa"'}
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError("token tidak ada (kirim 'Authorization: Bearer <token>')", 401, challenge)
    session = db.session()
    row = accounts.token_for(session, token)
    if row is None:
        raise ApiError("token tidak sah, kedaluwarsa atau dicabut", 401,
                       {"WWW-Authenticate": 'Bearer realm="pandawa", error="invalid_token"'})
    session.commit()  # last_used_at
    g.api_staff = accounts.Acting(row.staff.id, row.staff.name, accounts.token_role(row), row.id, row.staff.national)
    return None


def me() -> accounts.Acting:
    """Who calls: the token's owner, acting with the token's role (never above the owner's)."""
    return g.api_staff


# ---------------------------------------------------------------- serialisation


def _iso(value):
    return as_utc(value).isoformat() if value is not None else None


def _staff_names(session, ids) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(ids))).all())


def summary(case: Case, names: dict[int, str], now=None) -> dict:
    """What the queue shows: no personal data."""
    return {
        "ticket": case.ticket,
        "branch": case.branch.code if case.branch is not None else None,
        "service": case.service,
        "status": case.status,
        "created_at": _iso(case.created_at),
        "sla_due_at": _iso(case.sla_due_at),
        "overdue": bo.overdue(case, now),
        "assigned_to": names.get(case.assigned_to),
        "updated_by_citizen": bool(case.updated_by_citizen),
    }


def _summary_of(session, case: Case) -> dict:
    return summary(case, _staff_names(session, [case.assigned_to]))


def detail(session, case: Case, staff) -> dict:
    """A case; personal data, documents' addresses and the decision note only for its holder or a supervisor."""
    held = bo.may_see(case, staff)
    phone = case.citizen.phone if case.citizen else None
    reused: dict[int, list[dict]] = {}
    for found in reuse.reuses_of(session, case.id) if held else ():
        reused.setdefault(found.document_id, []).append({"ticket": found.other_ticket, "reason": found.reason})
    return {
        **_summary_of(session, case),
        **{key: _iso(getattr(case, key)) for key in ("claimed_at", "decided_at", "closed_at")},
        **{key: getattr(case, key) for key in ("decision_reason", "need_info_item")},
        "decision_note": case.decision_note if held else None,
        "fields": dict(case.fields or {}) if held else privacy.mask_fields(case.fields),
        "fields_masked": not held,
        "citizen": {"phone": phone if held else mask(phone), "phone_masked": not held,
                    "whatsapp_user_id": case.citizen.wa_user_id if held and case.citizen else None,
                    "erased": case.citizen is None},
        "documents": [
            {"id": d.id, "kind": d.kind, "content_type": d.content_type, "size": d.size, "created_at": _iso(d.created_at),
             "url": url_for("api.document", ticket=case.ticket, document_id=d.id) if held else None,
             # What OCR read off a KTP (handlers.ocr) and the other cases it was also sent for (handlers.reuse).
             "read": d.ocr if held else None, "also_sent_for": reused.get(d.id, []) if held else None}
            for d in case.documents
        ],
        "events": [{"kind": e.kind, "actor": e.actor, "note": e.note if held else None, "at": _iso(e.at)}
                   for e in case.events],
    }


# ---------------------------------------------------------------- helpers


def _case(session, ticket: str) -> Case:
    """The case, for staff of its branch (national staff: any); 404 for everyone else, as if it did not exist."""
    case = session.scalar(select(Case).where(Case.ticket == ticket))
    if case is None or not visibility.sees(session, me(), case):
        raise ApiError(f"tidak ada kasus dengan tiket {ticket}", 404)
    return case


def _int_arg(name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.args.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(f"{name} harus bilangan bulat") from None
    if value < low or (high is not None and value > high):
        limits = f"antara {low} dan {high}" if high is not None else f"paling sedikit {low}"
        raise ApiError(f"{name} harus {limits}")
    return value


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError("isi permintaan harus objek JSON (Content-Type: application/json)")
    return body


def _text(body: dict, key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise ApiError(f"{key} harus teks")
    return value


# ---------------------------------------------------------------- endpoints


@bp.get("/cases")
def cases():
    session = db.session()
    code = request.args.get("branch", "").strip().upper()
    try:
        shown = visibility.narrowed(session, visibility.scope(session, me()), code)
    except visibility.NotInScope:
        raise ApiError(f"kantor cabang {code!r} tidak dikenal atau di luar kantor cabang Anda", 404) from None
    query = select(Case).where(visibility.where(shown))
    status, service = request.args.get("status", "").strip(), request.args.get("service", "").strip()
    if status:
        if status not in STATUSES:
            raise ApiError(f"status {status!r} tidak dikenal: pakai salah satu dari {', '.join(STATUSES)}")
        query = query.where(Case.status == status)
    if service:
        product = current_app.config["PRODUCT"]  # services that left the menu keep their cases
        services = list(dict.fromkeys([item.id for item in product.menu] + sorted(live.flows(current_app)) +
                                      list(product.case_kinds)))
        if service not in services:
            raise ApiError(f"layanan {service!r} tidak dikenal: pakai salah satu dari {', '.join(services)}")
        query = query.where(Case.service == service)
    limit = _int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int_arg("offset", 0, 0)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = list(session.scalars(query.order_by(Case.created_at, Case.id).limit(limit).offset(offset)))
    names, now = _staff_names(session, [c.assigned_to for c in rows]), utcnow()
    return {"cases": [summary(c, names, now) for c in rows], "total": total, "limit": limit, "offset": offset}


@bp.get("/cases/<ticket>")
def case_detail(ticket: str):
    session, staff = db.session(), me()
    case = _case(session, ticket)
    body = detail(session, case, staff)
    bo.audit(session, staff, "view_case", case.id, channel="api")
    session.commit()
    return body


@bp.post("/cases/<ticket>/claim")
def case_claim(ticket: str):
    session, staff = db.session(), me()
    case = _case(session, ticket)
    casework.claim(session, case, staff, channel="api")  # claiming a case one holds is harmless
    log.info("api claim case_id=%s staff_id=%s", case.id, staff.id)
    return _summary_of(session, case)


@bp.post("/cases/<ticket>/decision")
def case_decision(ticket: str):
    body = _json_body()
    decision, note, reason, item = (_text(body, k) for k in ("decision", "note", "reason", "item"))
    if not decision:
        raise ApiError("decision wajib diisi: approve, reject atau need_info")
    session, staff = db.session(), me()
    case = _case(session, ticket)
    done = casework.decide(session, case, staff, decision, note=note or "", reason=reason, item=item, channel="api")
    log.info("api decision=%s case_id=%s staff_id=%s", decision, case.id, staff.id)
    return _summary_of(session, done.case)


@bp.post("/cases/<ticket>/transfer")
def case_transfer(ticket: str):
    """To another branch: {"branch": "KC-SBY", "reason": "…"}. The answer is the case as it is now (its
    new branch); the caller may not see it any more afterwards."""
    body = _json_body()
    code, reason = _text(body, "branch"), _text(body, "reason")
    if not code:
        raise ApiError("branch wajib diisi: kode kantor cabang tujuan")
    session, staff = db.session(), me()
    case = _case(session, ticket)
    to = branches.by_code(session, code)
    if to is None:
        raise ApiError(f"tidak ada kantor cabang {code!r}", 400)
    casework.transfer(session, case, staff, to, reason or "", channel="api")
    log.info("api transfer case_id=%s staff_id=%s", case.id, staff.id)
    return _summary_of(session, case)


@bp.get("/cases/<ticket>/documents/<int:document_id>")
def document(ticket: str, document_id: int):
    session = db.session()
    return casework.document(session, _case(session, ticket), document_id, me(), channel="api")


# ---------------------------------------------------------------- unknown paths: JSON, not HTML

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@bp.route("/", defaults={"path": ""}, methods=_METHODS)
@bp.route("/<path:path>", methods=_METHODS)
def unknown(path: str):
    known = current_app.extensions["api_routes"].bind("api").allowed_methods(request.path)
    if known:
        raise ApiError(f"{request.method} tidak diizinkan di sini; pakai {', '.join(sorted(known))}", 405,
                       {"Allow": ", ".join(sorted(known))})
    raise ApiError(f"tidak ada endpoint API di {request.path}", 404)


def init_app(app: Flask) -> None:
    csrf.exempt(bp)
    app.register_blueprint(bp)
    # The API's own routes, without the catch-all, to tell 404 from 405 on unknown combinations.
    app.extensions["api_routes"] = Map([
        Rule(rule.rule, endpoint=rule.endpoint, methods=rule.methods)
        for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.") and rule.endpoint != "api.unknown"
    ])
