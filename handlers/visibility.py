"""Who sees which cases: agents and supervisors see the cases of the branches they work for; national
supervisors and admins see every branch's. One rule, used by every door (console pages, the API,
documents, search, the dashboard and its exports): a case outside one's branches does not exist for
them (404), it is never shown masked.

``staff`` is a storage.staff.Staff or anything with ``id``, ``role`` and ``national`` (an API token acts
with its own role: a national supervisor's agent token sees only the branches its owner works for).
"""
from __future__ import annotations

from sqlalchemy import select, true

from handlers import branches, routing
from storage.branches import Branch, BranchNumber, StaffBranch
from storage.cases import Case
from storage.staff import Role

EVERY = None  # the scope of national staff: every branch


def scope_of_role(staff) -> frozenset[int] | None:
    """EVERY for admins and national supervisors; an empty set for everyone else (their branches decide)."""
    if staff.role == Role.ADMIN or (getattr(staff, "national", False) and Role.RANK[staff.role] >= Role.RANK[Role.SUPERVISOR]):
        return EVERY
    return frozenset()


def scope(session, staff) -> frozenset[int | None] | None:
    """The ids of the branches whose cases ``staff`` sees; EVERY (None) for national staff and admins.
    A case without a branch (none should be: the migration and every new case give one) is the default
    branch's: the set then holds None too."""
    if scope_of_role(staff) is EVERY:
        return EVERY
    rows = session.execute(select(StaffBranch.branch_id, Branch.is_default).join(Branch, Branch.id == StaffBranch.branch_id)
                           .where(StaffBranch.staff_id == staff.id)).all()
    return frozenset(branch_id for branch_id, _ in rows) | ({None} if any(is_default for _, is_default in rows) else set())


def where(branch_ids: frozenset[int] | None, column=Case.branch_id):
    """A WHERE clause keeping the rows of the branches in scope (true for EVERY)."""
    if branch_ids is EVERY:
        return true()
    found = column.in_(sorted(i for i in branch_ids if i is not None))
    return found | column.is_(None) if None in branch_ids else found


class NotInScope(LookupError):
    """A branch code that names no branch the viewer sees (answered 404: as if it did not exist)."""


def chosen(session, branch_ids: frozenset[int | None] | None, code: str | None) -> Branch | None:
    """The branch a viewer with ``branch_ids`` narrows to with ``?branch=CODE`` (no code: None)."""
    if not (code or "").strip():
        return None
    branch = branches.by_code(session, code)
    if branch is None or (branch_ids is not EVERY and branch.id not in branch_ids):
        raise NotInScope(code)
    return branch


def narrowed(session, branch_ids: frozenset[int | None] | None, code: str | None) -> frozenset[int | None] | None:
    """``branch_ids`` narrowed to the branch ``code`` names (no code: as they are); NotInScope otherwise."""
    branch = chosen(session, branch_ids, code)
    return frozenset({branch.id}) if branch is not None else branch_ids


def sees(session, staff, case: Case) -> bool:
    branch_ids = scope(session, staff)
    return branch_ids is EVERY or case.branch_id in branch_ids


def writes_to(session, branch_ids: frozenset[int | None] | None, citizen_id: int) -> bool:
    """The citizen last wrote to a number of these branches (a number no branch owns: the default one's)."""
    return branch_ids is EVERY or routing.for_citizen(session, citizen_id).id in branch_ids


def branches_in_scope(session, staff) -> list[Branch]:
    """The branches ``staff`` may filter by (all of them for national staff), default branch first."""
    branch_ids = scope(session, staff)
    query = select(Branch).order_by(Branch.is_default.desc(), Branch.code)
    if branch_ids is not EVERY:
        query = query.where(Branch.id.in_(sorted(i for i in branch_ids if i is not None)))
    return list(session.scalars(query))


def staff_ids_of(session, branch_id: int) -> frozenset[int]:
    """Officers who work for this branch (national staff are not listed: they see it anyway)."""
    return frozenset(session.scalars(select(StaffBranch.staff_id).where(StaffBranch.branch_id == branch_id)))


class NumberOwners:
    """Which branch each of our WhatsApp numbers belongs to, read once for many messages (the rule of
    handlers.branches.for_number: a number no branch owns belongs to the default branch)."""

    def __init__(self, session, default_sender: str):
        self.owned = dict(session.execute(select(BranchNumber.number, BranchNumber.branch_id)).all())
        self.default_id = session.scalar(select(Branch.id).where(Branch.is_default.is_(True)))
        self.default_sender = default_sender

    def of_number(self, number: str | None) -> int | None:
        """The branch of a number a citizen wrote to (none known: the default branch)."""
        return self.owned.get(number, self.default_id) if number else self.default_id

    def of_sender(self, sender: str | None) -> int | None:
        """The branch of the number a message goes out from (None: the default sender)."""
        return self.of_number(sender or self.default_sender)

    def condition(self, column, branch_ids: frozenset[int] | None, sent: bool = False):
        """SQL for ``sees``: the messages whose number (``column``: to_number, or sender when ``sent``)
        belongs to ``branch_ids`` — filtered before any LIMIT."""
        if branch_ids is EVERY:
            return true()
        own = [number for number, branch_id in self.owned.items() if branch_id in branch_ids]
        found = column.in_(own)
        if self.default_id in branch_ids:  # numbers no branch owns are the default branch's
            found = found | column.not_in(list(self.owned))
        none_branch = self.of_sender(None) if sent else self.of_number(None)
        return found | column.is_(None) if none_branch in branch_ids else found

    def sees(self, branch_ids: frozenset[int] | None, number: str | None, sent: bool = False) -> bool:
        """Whether staff of ``branch_ids`` see a message to (``sent``: from) this number."""
        branch_id = self.of_sender(number) if sent else self.of_number(number)
        return branch_ids is EVERY or branch_id in branch_ids
