"""The dashboard by branch office: the comparison of the branches a viewer sees (volume, SLA met, median
time to decision, IKM, open cases), and the message figures (failures, send backlog) of those branches.

The comparison takes four grouped queries whatever the number of branches; SLA and median are computed in
Python from the decided rows (no portable median in SQL), with the same rules as bot.console.stats.

A message belongs to the branch of our number it went to or came from (handlers.routing): a number no
branch owns is the default branch's, and an outbound message not yet given a sender goes from the
default sender.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from bot.console import stats
from handlers.visibility import EVERY, NumberOwners, where
from storage.branches import Branch
from storage.cases import Case, CaseStatus
from storage.models import InboundMessage, InboundStatus, OutboundMessage, OutboundStatus
from storage.staff import Satisfaction

NO_BRANCH = None  # the key of cases without a branch (from before branches; national viewers only)


def _row(branch: Branch | None, volume: int, open_cases: int, decided: list, ratings: list[int]) -> dict:
    return {
        "branch": branch,
        "volume": volume,
        "open": open_cases,
        "sla": stats.sla_of(decided),
        "ikm": stats.ikm_score(ratings),
    }


def comparison(session, now: datetime, days: int, tz, branches: list[Branch], branch_ids=EVERY) -> dict:
    """One row per branch of ``branches`` (in that order), a row for cases without a branch when a national
    viewer has any, and the total of the rows: ``{"rows": [...], "total": {...}}``; each row has
    ``branch``, ``volume`` (created in the period), ``open`` (now), ``sla`` (stats.sla_of of the cases
    decided in the period) and ``ikm`` (stats.ikm_score of the ratings answered in the period)."""
    _days, start, end = stats.window(now, days, tz)
    in_scope = where(branch_ids)
    volume = dict(session.execute(
        select(Case.branch_id, func.count()).where(Case.created_at >= start, Case.created_at < end, in_scope)
        .group_by(Case.branch_id)
    ).all())
    open_cases = dict(session.execute(
        select(Case.branch_id, func.count()).where(Case.status.in_(CaseStatus.OPEN), in_scope)
        .group_by(Case.branch_id)
    ).all())
    decided: dict[int | None, list] = {}
    for branch_id, *times in session.execute(
        select(Case.branch_id, Case.created_at, Case.decided_at, Case.sla_due_at)
        .where(Case.decided_at.is_not(None), Case.decided_at >= start, Case.decided_at < end, in_scope)
    ):
        decided.setdefault(branch_id, []).append(tuple(times))
    ratings: dict[int | None, list[int]] = {}
    for branch_id, rating in session.execute(
        select(Case.branch_id, Satisfaction.rating).join(Case, Case.id == Satisfaction.case_id)
        .where(*stats.answered_in(start, end), in_scope)
    ):
        ratings.setdefault(branch_id, []).append(rating)

    keys: list[int | None] = [b.id for b in branches]
    if branch_ids is EVERY and any(NO_BRANCH in d for d in (volume, open_cases, decided, ratings)):
        keys.append(NO_BRANCH)
    by_id = {b.id: b for b in branches}
    rows = [_row(by_id.get(key), volume.get(key, 0), open_cases.get(key, 0), decided.get(key, []),
                 ratings.get(key, [])) for key in keys]
    total = _row(None, sum(volume.get(k, 0) for k in keys), sum(open_cases.get(k, 0) for k in keys),
                 [r for k in keys for r in decided.get(k, [])], [r for k in keys for r in ratings.get(k, [])])
    return {"rows": rows, "total": total}


# --- messages -----------------------------------------------------------------------------------------

def failure_counts(session, owners: NumberOwners, branch_ids) -> dict[str, int]:
    """bot.metrics.failure_counts for the messages of ``branch_ids``: citizens' messages set aside (by the
    number they wrote to) and replies that never reached the citizen (by the number they went from)."""
    inbound = session.execute(
        select(InboundMessage.to_number, func.count()).where(InboundMessage.status == InboundStatus.FAILED)
        .group_by(InboundMessage.to_number)
    ).all()
    outbound = session.execute(
        select(OutboundMessage.sender, func.count())
        .where(OutboundMessage.status.in_(OutboundStatus.NOT_DELIVERED)).group_by(OutboundMessage.sender)
    ).all()
    return {
        "inbound_failed": sum(n for number, n in inbound if owners.sees(branch_ids, number)),
        "outbound_not_delivered": sum(n for sender, n in outbound if owners.sees(branch_ids, sender, sent=True)),
    }


def backlog_in_scope(rows: list[dict], owners: NumberOwners, branch_ids) -> list[dict]:
    """The rows of bot.metrics.outbound_backlog whose sender belongs to ``branch_ids``."""
    return [row for row in rows if owners.sees(branch_ids, row["sender"], sent=True)]
