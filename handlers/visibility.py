"""Who sees which cases: agents and supervisors see the cases of the branches they work for; national
supervisors and admins see every branch's. One rule, used by every door (console pages, the API,
documents, search, the dashboard and its exports): a case outside one's branches does not exist for
them (404), it is never shown masked.

``staff`` is a storage.staff.Staff or anything with ``id``, ``role`` and ``national`` (an API token acts
with its own role: a national supervisor's agent token sees only the branches its owner works for).
"""
from __future__ import annotations

from sqlalchemy import select, true

from storage.branches import Branch, StaffBranch
from storage.cases import Case
from storage.staff import Role

EVERY = None  # the scope of national staff: every branch


def scope(session, staff) -> frozenset[int] | None:
    """The ids of the branches whose cases ``staff`` sees; EVERY (None) for national staff and admins."""
    if staff.role == Role.ADMIN or (getattr(staff, "national", False) and Role.RANK[staff.role] >= Role.RANK[Role.SUPERVISOR]):
        return EVERY
    return frozenset(session.scalars(select(StaffBranch.branch_id).where(StaffBranch.staff_id == staff.id)))


def is_national(session, staff) -> bool:
    return scope(session, staff) is EVERY


def where(branch_ids: frozenset[int] | None, column=Case.branch_id):
    """A WHERE clause keeping the rows of the branches in scope (true for EVERY)."""
    if branch_ids is EVERY:
        return true()
    return column.in_(sorted(branch_ids))


def sees(session, staff, case: Case) -> bool:
    branch_ids = scope(session, staff)
    return branch_ids is EVERY or case.branch_id in branch_ids


def branches_in_scope(session, staff) -> list[Branch]:
    """The branches ``staff`` may filter by (all of them for national staff), default branch first."""
    branch_ids = scope(session, staff)
    query = select(Branch).order_by(Branch.is_default.desc(), Branch.code)
    if branch_ids is not EVERY:
        query = query.where(Branch.id.in_(sorted(branch_ids)))
    return list(session.scalars(query))


def staff_ids_of(session, branch_id: int) -> frozenset[int]:
    """Officers who work for this branch (national staff are not listed: they see it anyway)."""
    return frozenset(session.scalars(select(StaffBranch.staff_id).where(StaffBranch.branch_id == branch_id)))
