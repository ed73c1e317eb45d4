"""The supervisors' dashboard numbers: pure functions of a session and ``now``, returning plain data.

Every function takes ``now`` (timezone-aware) and, where a period applies, the last ``days`` office days
(today included) in the office's timezone ``tz``. Day buckets and medians are computed in Python so the
SQL stays the same on PostgreSQL and SQLite (which returns naive UTC datetimes: see ``as_utc``).

``branch_ids`` keeps the cases of those branches only (handlers.visibility.scope: EVERY, the default,
counts every case); a rating counts for the branch of its case.

The IKM (satisfaction index, PermenPAN-RB 14/2017): answers 1-4, average x 25, graded
A 88.31-100, B 76.61-88.30, C 65.00-76.60, D 25.00-64.99.
"""
from __future__ import annotations

import statistics
from collections import Counter
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from handlers.visibility import EVERY, where
from storage.branches import Branch
from storage.cases import Case, CaseStatus
from storage.models import as_utc
from storage.staff import Satisfaction

DEFAULT_TZ = ZoneInfo("Asia/Jakarta")
AGE_BUCKETS = (  # (label, upper bound in hours, exclusive); open cases by time since created_at
    ("< 4 jam", 4),
    ("4–24 jam", 24),
    ("1–3 hari", 72),
    ("> 3 hari", None),
)
IKM_GRADES = (  # (lowest score, grade, meaning)
    (Decimal("88.31"), "A", "Sangat baik"),
    (Decimal("76.61"), "B", "Baik"),
    (Decimal("65.00"), "C", "Kurang baik"),
    (Decimal("0"), "D", "Tidak baik"),
)


def window(now: datetime, days: int, tz=DEFAULT_TZ) -> tuple[list[date], datetime, datetime]:
    """The office days of the period (oldest first) and its bounds in UTC: [start, end)."""
    today = now.astimezone(tz).date()
    day_list = [today - timedelta(days=i) for i in range(days - 1, -1, -1)]
    start = datetime.combine(day_list[0], time(), tz).astimezone(timezone.utc)
    end = datetime.combine(today + timedelta(days=1), time(), tz).astimezone(timezone.utc)
    return day_list, start, end


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def volume_per_day(session, now: datetime, days: int = 14, tz=DEFAULT_TZ, branch_ids=EVERY) -> dict:
    """New cases per service per office day: ``{"days": [date...], "services": {service: [n per day]},
    "totals": [n per day]}``; services with no case in the period are left out."""
    day_list, start, end = window(now, days, tz)
    index = {d: i for i, d in enumerate(day_list)}
    rows = session.execute(
        select(Case.service, Case.created_at)
        .where(Case.created_at >= start, Case.created_at < end, where(branch_ids))
    ).all()
    services: dict[str, list[int]] = {}
    for service, created_at in rows:
        i = index.get(as_utc(created_at).astimezone(tz).date())
        if i is not None:
            services.setdefault(service, [0] * days)[i] += 1
    totals = [sum(counts[i] for counts in services.values()) for i in range(days)]
    return {"days": day_list, "services": services, "totals": totals}


def open_by_age(session, now: datetime, branch_ids=EVERY) -> list[dict]:
    """Open cases (submitted, in review, waiting for the citizen) by time since they were created."""
    counts = [0] * len(AGE_BUCKETS)
    query = select(Case.created_at).where(Case.status.in_(CaseStatus.OPEN), where(branch_ids))
    for (created_at,) in session.execute(query):
        age = _hours(now - as_utc(created_at))
        for i, (_label, upper) in enumerate(AGE_BUCKETS):
            if upper is None or age < upper:
                counts[i] += 1
                break
    return [{"label": label, "count": n} for (label, _upper), n in zip(AGE_BUCKETS, counts)]


def sla_summary(session, now: datetime, days: int = 14, tz=DEFAULT_TZ, branch_ids=EVERY) -> dict:
    """Cases decided in the period: share decided by their SLA due time, median hours from creation."""
    _days, start, end = window(now, days, tz)
    rows = session.execute(
        select(Case.created_at, Case.decided_at, Case.sla_due_at)
        .where(Case.decided_at.is_not(None), Case.decided_at >= start, Case.decided_at < end, where(branch_ids))
    ).all()
    return sla_of(rows)


def sla_of(rows) -> dict:
    """SLA figures of decided cases given as (created_at, decided_at, sla_due_at) rows.

    ``percent`` counts only decided cases that have a due time (``with_sla``); ``None`` when there is none.
    """
    with_sla = [(as_utc(d), as_utc(due)) for _c, d, due in rows if due is not None]
    met = sum(1 for decided, due in with_sla if decided <= due)
    durations = [_hours(as_utc(decided) - as_utc(created)) for created, decided, _due in rows]
    return {
        "decided": len(rows),
        "with_sla": len(with_sla),
        "met": met,
        "percent": round(100 * met / len(with_sla), 1) if with_sla else None,
        "median_hours": round(statistics.median(durations), 1) if durations else None,
    }


def _round(value: Decimal, places: str) -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_EVEN)


def ikm_grade(score) -> tuple[str, str]:
    """(grade, meaning) of an IKM score 25-100; the score is taken to 2 decimals as the thresholds are."""
    value = _round(Decimal(str(score)), "0.01")
    for lowest, grade, meaning in IKM_GRADES:
        if value >= lowest:
            return grade, meaning
    return IKM_GRADES[-1][1:]


def ikm_score(ratings: list[int]) -> dict:
    """``{"answers", "score" (1 decimal), "exact" (2 decimals), "grade", "meaning"}``; score None if no answer."""
    valid = [int(r) for r in ratings if r is not None and 1 <= int(r) <= 4]
    if not valid:
        return {"answers": 0, "score": None, "exact": None, "grade": None, "meaning": None}
    value = Decimal(sum(valid) * 25) / Decimal(len(valid))
    exact = _round(value, "0.01")
    grade, meaning = ikm_grade(exact)
    return {"answers": len(valid), "score": float(_round(value, "0.1")), "exact": float(exact),
            "grade": grade, "meaning": meaning}


def answered_in(start: datetime, end: datetime) -> tuple:
    """Conditions on Satisfaction: a rating answered in [start, end) (asked_at when the time is missing)."""
    answered = func.coalesce(Satisfaction.answered_at, Satisfaction.asked_at)
    return Satisfaction.rating.is_not(None), answered >= start, answered < end


def ikm(session, now: datetime, days: int = 14, tz=DEFAULT_TZ, branch_ids=EVERY) -> dict:
    """The IKM of the ratings answered in the period."""
    _days, start, end = window(now, days, tz)
    query = select(Satisfaction.rating).where(*answered_in(start, end))
    if branch_ids is not EVERY:
        query = query.join(Case, Case.id == Satisfaction.case_id).where(where(branch_ids))
    return ikm_score(list(session.scalars(query).all()))


def top_complaints(session, now: datetime, days: int = 14, tz=DEFAULT_TZ, titles: dict | None = None,
                   limit: int = 10, branch_ids=EVERY) -> list[dict]:
    """Complaints created in the period by category, most frequent first: ``[{"value", "title", "count"}]``.

    ``titles`` maps option values to the complaint flow's titles; otherwise the case's own
    ``category_title`` (or the value) is shown."""
    _days, start, end = window(now, days, tz)
    counts: Counter[str] = Counter()
    own_titles: dict[str, str] = {}
    for (fields,) in session.execute(
        select(Case.fields).where(Case.service == "complaint", Case.created_at >= start, Case.created_at < end,
                                  where(branch_ids))
    ):
        value = str((fields or {}).get("category") or "other")
        counts[value] += 1
        if (fields or {}).get("category_title"):
            own_titles.setdefault(value, str(fields["category_title"]))
    titles = titles or {}
    items = [{"value": v, "title": titles.get(v) or own_titles.get(v) or v, "count": n} for v, n in counts.items()]
    items.sort(key=lambda item: (-item["count"], item["title"]))
    return items[:limit]


def case_rows(session, now: datetime, days: int = 14, tz=DEFAULT_TZ, branch_ids=EVERY) -> list[dict]:
    """One row per case created in the period, for the CSV export: no personal data (no phone, name, NIK,
    and no free text the citizen wrote); ``branch`` is the code of the case's branch."""
    _days, start, end = window(now, days, tz)
    rows = session.execute(
        select(Case.ticket, Case.service, Case.status, Case.created_at, Case.decided_at, Case.sla_due_at,
               Satisfaction.rating, Branch.code)
        .outerjoin(Satisfaction, Satisfaction.case_id == Case.id)
        .outerjoin(Branch, Branch.id == Case.branch_id)
        .where(Case.created_at >= start, Case.created_at < end, where(branch_ids))
        .order_by(Case.created_at, Case.id)
    ).all()
    out = []
    for ticket, service, status, created_at, decided_at, sla_due_at, rating, branch in rows:
        created = as_utc(created_at)
        decided = as_utc(decided_at) if decided_at else None
        due = as_utc(sla_due_at) if sla_due_at else None
        out.append({
            "ticket": ticket, "service": service, "status": status,
            "created_at": created.astimezone(tz), "decided_at": decided and decided.astimezone(tz),
            "sla_due_at": due and due.astimezone(tz),
            "sla_met": (decided <= due) if decided and due else None,
            "hours_to_decision": round(_hours(decided - created), 1) if decided else None,
            "rating": rating, "branch": branch,
        })
    return out


def dashboard(session, now: datetime, days: int = 14, tz=DEFAULT_TZ, complaint_titles: dict | None = None,
              branch_ids=EVERY) -> dict:
    """Everything the dashboard page shows, for the cases of ``branch_ids``."""
    return {
        "days": days,
        "volume": volume_per_day(session, now, days, tz, branch_ids),
        "open_by_age": open_by_age(session, now, branch_ids),
        "sla": sla_summary(session, now, days, tz, branch_ids),
        "ikm": ikm(session, now, days, tz, branch_ids),
        "complaints": top_complaints(session, now, days, tz, complaint_titles, branch_ids=branch_ids),
    }
