"""The queue: requests to talk with an officer on top with how long they have waited, then cases oldest
first; SLA due time with overdue highlighted, filters, a search box, counts per status.

Filters and the search live in the URL (a link or a reload keeps them); the rows refresh every few
seconds without a full reload (a fragment fetched by queue.js, at a URL carrying the same filters).
Every search is audited, with the term masked (handlers.search); the same search again within
SEARCH_AUDIT_EVERY (the automatic refresh) is not written twice, whatever the browser sends.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from dataclasses import dataclass
from datetime import datetime

from flask import abort, current_app, redirect, render_template, request, session, url_for
from redis.exceptions import RedisError
from sqlalchemy import and_, func, or_, select
from sqlalchemy import case as when

from bot.console import bp
from bot.console.auth import me, role_required
from handlers import backoffice as bo
from handlers import inbox, privacy, search, visibility
from handlers.cases import HANDOFF
from handlers.labels import STATUS_LABELS
from storage import db, keys
from storage.cases import Case, CaseStatus
from storage.models import Citizen, as_utc, utcnow
from storage.staff import Role, Staff

STATUSES = (CaseStatus.SUBMITTED, CaseStatus.IN_REVIEW, CaseStatus.NEED_INFO, CaseStatus.APPROVED,
            CaseStatus.REJECTED, CaseStatus.CLOSED)
ALL_STATUSES = "all"  # the status filter's "Semua status"
LIMIT = 200
SEARCH_AUDIT_EVERY = 600  # seconds: the same search (same person, term, filters) is audited once in this time
SEARCHES_KEY, SEARCHES_KEPT = "searches", 5  # in the Flask session: the last searches by their URL name
SEARCH_PROBLEMS = {
    "short": "Ketik minimal 3 karakter: nomor tiket, NIK, nomor kartu, nomor HP atau nama.",
    "phone": "Nomor HP itu belum lengkap atau tidak valid. Contoh: 0812 3456 7890.",
}


@dataclass(frozen=True)
class Filters:
    status: str = ""      # "" (open cases), a status, or ALL_STATUSES
    service: str = ""
    mine: bool = False    # "Kasus saya": held by the viewer
    overdue: bool = False
    q: str = ""           # the search term as typed
    s: str = ""           # the URL's name for it: the term itself stays out of URLs (and proxies' logs)
    branch: str = ""      # a branch's code ("": every branch the viewer sees)

    @classmethod
    def from_args(cls, args) -> "Filters":
        status = args.get("status") or ""
        term = (args.get("q") or _searches().get(args.get("s") or "") or "").strip()[:search.MAX_LENGTH]
        return cls(status=status if status in STATUSES or status == ALL_STATUSES else "",
                   service=args.get("service") or "", mine=args.get("mine") == "1",
                   overdue=args.get("overdue") == "1", q=term, s=_remember(term) if term else "",
                   branch=(args.get("branch") or "").strip().upper()[:16])

    @property
    def statuses(self) -> tuple[str, ...] | None:
        """The statuses shown; None for every status."""
        if self.status == ALL_STATUSES:
            return None
        return (self.status,) if self.status else CaseStatus.OPEN

    def args(self, **changes) -> dict[str, str]:
        """The URL parameters of these filters (with some changed), leaving out the defaults."""
        values = {"status": self.status, "service": self.service, "mine": "1" if self.mine else "",
                  "overdue": "1" if self.overdue else "", "s": self.s, "branch": self.branch, **changes}
        return {key: value for key, value in values.items() if value}


def _searches() -> dict[str, str]:
    return session.get(SEARCHES_KEY) or {}


def _remember(term: str) -> str:
    """The search's name in URLs: kept in this staff member's own session cookie (the last few)."""
    kept = _searches()
    name = next((key for key, value in kept.items() if value == term), None) or secrets.token_urlsafe(6)
    if list(kept)[-1:] == [name]:
        return name  # already the newest: the 5-second refresh does not rewrite the cookie
    session[SEARCHES_KEY] = dict(list({k: v for k, v in kept.items() if k != name}.items())[-(SEARCHES_KEPT - 1):]
                                 + [(name, term)])
    return name


def age_words(seconds: float) -> str:
    """An age as staff say it: 'kurang dari 1 menit', '3 menit', '2 jam 5 menit', '1 hari 3 jam'."""
    minutes = max(int(seconds // 60), 0)
    if minutes < 1:
        return "kurang dari 1 menit"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} hari"] if days else []
    parts += [f"{hours} jam"] if hours else []
    parts += [f"{minutes} menit"] if minutes and not days else []
    return " ".join(parts)


def waiting_words(since: datetime, now: datetime) -> str:
    """How long someone has waited, as officers say it: 'menunggu 12 menit', 'menunggu 2 jam 5 menit'."""
    return "menunggu " + age_words((now - as_utc(since)).total_seconds())


def branch_scope(filters: Filters, viewer: Staff) -> frozenset[int] | None:
    """The branches shown: the viewer's (handlers.visibility), narrowed to the filter's; 404 for a branch
    the viewer does not see (or that does not exist)."""
    session = db.session()
    try:
        return visibility.narrowed(session, visibility.scope(session, viewer), filters.branch)
    except visibility.NotInScope:
        abort(404)


def queue_rows(filters: Filters, viewer: Staff, shown: frozenset[int] | None, found: search.Search | None = None,
               limit: int = LIMIT) -> list[dict]:
    """The rows of the cases of the branches ``shown`` (branch_scope) that the filters and search keep."""
    session = db.session()
    now = utcnow()
    query = (select(Case, Staff.name, Citizen.profile_name)
             .outerjoin(Staff, Staff.id == Case.assigned_to).outerjoin(Citizen, Citizen.id == Case.citizen_id)
             .where(visibility.where(shown)))
    if filters.statuses is not None:
        query = query.where(Case.status.in_(filters.statuses))
    if filters.service:
        query = query.where(Case.service == filters.service)
    if filters.mine:
        query = query.where(Case.assigned_to == viewer.id)
    if filters.overdue:
        query = query.where(bo.overdue_condition(now))
    if found is not None:
        query = query.where(found.condition())
        if found.kind != search.TICKET and not viewer.at_least(Role.SUPERVISOR):
            # Personal keys find, for an agent, only what they hold or may claim: no probing who else is served.
            query = query.where(or_(Case.assigned_to == viewer.id, Case.assigned_to.is_(None)))
    waiting_handoff = and_(Case.service == HANDOFF, Case.status.in_(CaseStatus.OPEN))
    query = query.order_by(when((waiting_handoff, 0), else_=1), Case.created_at, Case.id).limit(limit)
    product = current_app.config["PRODUCT"]
    results = session.execute(query).all()
    unread = inbox.unread_counts(session, [case.id for case, _, _ in results])
    rows = []
    for case, holder, profile_name in results:
        handoff = case.service == HANDOFF and case.status in CaseStatus.OPEN
        name = (case.fields or {}).get("member_name") or profile_name
        rows.append({
            "ticket": case.ticket, "id": case.id, "service": bo.title(case, product),
            "status": case.status, "status_label": STATUS_LABELS.get(case.status, case.status),
            "created_at": as_utc(case.created_at), "due": as_utc(case.sla_due_at) if case.sla_due_at else None,
            "overdue": bo.overdue(case, now), "agent": holder, "updated": case.updated_by_citizen,
            "handoff": handoff,
            "waiting": waiting_words(case.queued_at or case.created_at, now)
            if handoff and case.status == CaseStatus.SUBMITTED else None,
            "citizen": (name or "—") if bo.may_see(case, viewer) else privacy.mask_name(name),
            "unread": unread.get(case.id, 0),
            "returned": case.updated_by_citizen and case.need_info_by == viewer.id == case.assigned_to,
            "branch": case.branch.name if case.branch is not None else "—",
        })
    return rows


def status_counts(service: str | None, scope: frozenset[int] | None) -> dict[str, int]:
    query = select(Case.status, func.count()).where(visibility.where(scope)).group_by(Case.status)
    if service:
        query = query.where(Case.service == service)
    counts = dict(db.session().execute(query).all())
    return {status: counts.get(status, 0) for status in STATUSES}


def _first_look(viewer: Staff, filters: Filters) -> bool:
    """Whether this search is new for this staff member: audited once per SEARCH_AUDIT_EVERY, however
    often the page refreshes (decided here, not by anything the browser sends). Without Redis, always."""
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), repr((viewer.id, filters.q, sorted(filters.args(s="").items())))
                      .encode(), hashlib.sha256).hexdigest()[:32]
    try:
        return bool(current_app.extensions["redis"].set(keys.search_audited(digest), 1, nx=True,
                                                        ex=SEARCH_AUDIT_EVERY))
    except RedisError:
        return True


def _context() -> dict:
    """What the page and its fragment show."""
    filters, viewer = Filters.from_args(request.args), me()
    found, problem = None, None
    try:
        found = search.parse(filters.q)
    except search.Unsearchable as exc:
        problem = SEARCH_PROBLEMS[exc.reason]
    if found is not None and _first_look(viewer, filters):
        session = db.session()
        bo.audit(session, viewer, "search", detail=found.audit_detail)
        session.commit()
    shown = branch_scope(filters, viewer)
    rows = [] if problem else queue_rows(filters, viewer, shown, found)
    in_scope = visibility.branches_in_scope(db.session(), viewer)
    return {
        "rows": rows, "counts": status_counts(filters.service, shown), "labels": STATUS_LABELS,
        "filters": filters, "branches": in_scope if len(in_scope) > 1 else [],
        "found": found, "search_problem": problem, "limited": len(rows) >= LIMIT, "all_statuses": ALL_STATUSES,
        "refresh_url": url_for("console.queue_fragment", **filters.args()),
    }


@bp.get("/")
@role_required(Role.AGENT)
def queue():
    return render_template("queue.html", menu=current_app.config["PRODUCT"].menu, **_context())


@bp.post("/search")
@role_required(Role.AGENT)
def search_cases():
    """The search box posts here, so the term never travels in a URL; the queue shows it by name."""
    form = request.form
    term = (form.get("q") or "").strip()[:search.MAX_LENGTH]
    filters = Filters.from_args({key: form.get(key, "") for key in ("status", "service", "mine", "overdue", "branch")} |
                                {"q": term})
    return redirect(url_for("console.queue", **filters.args()))


@bp.get("/queue/rows")
@role_required(Role.AGENT)
def queue_fragment():
    return render_template("_queue_rows.html", **_context())
