"""What an officer's approval does beyond the decision, per service: the change it makes in the membership
registry (through the registry adapter, so BPJS's own API can stand behind it), the reason it cannot be
made (the officer is told before anything is sent; checked on the participant as the registry holds them on
the decision's day, not as they were when the citizen asked), and the values the service's own decision text
tells the citizen (``decision_approved_<service>``: the new facility and when it applies, what follows a
death for the family, who registers a new family member).

The participant is looked up again at decision time by the number the citizen typed (``Approval.number``),
never by what the flow's lookup copied beside it: an officer who asked for the number again (need_info)
approves for the number given last, and the registry's segment and class are today's.

Services without an entry here change nothing in the registry on approval (the officer does it in BPJS's
own system), and their decision text has only the usual {title}, {ticket} and {note}.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Callable

from handlers import deaths, family, faskes
from handlers.registry import Member, MembershipRegistry
from handlers.validators import CARD_DIGITS, NIK_DIGITS


@dataclass(frozen=True)
class Approval:
    number: str  # the case field with the participant's card number or NIK, as the citizen typed it
    problem: Callable[[Member | None, dict, date], str | None]              # why not (officer's words)
    apply: Callable[[MembershipRegistry, Member, dict, date], str | None]   # the change; what changed (audit)
    values: Callable[[Member | None, dict, object, date], dict]             # extra values of the decision text


APPROVALS: dict[str, Approval] = {
    deaths.SERVICE: Approval("participant", deaths.problem, deaths.apply, deaths.decision_values),
    family.SERVICE: Approval("card_number", family.problem, family.apply, family.decision_values),
    faskes.SERVICE: Approval("card_number", faskes.problem, faskes.apply, faskes.decision_values),
}


def member(registry: MembershipRegistry | None, service: str, fields: dict) -> Member | None:
    """The participant the case is about, as the registry knows them now (None: unknown, or no registry)."""
    approval = APPROVALS.get(service)
    number = str((fields or {}).get(approval.number) or "") if approval else ""
    if registry is None or not number.isdigit():
        return None
    if len(number) == CARD_DIGITS:
        return registry.by_card(number)
    return registry.by_nik(number) if len(number) == NIK_DIGITS else None


def problem(registry: MembershipRegistry, service: str, fields: dict, today: date) -> str | None:
    approval = APPROVALS.get(service)
    return approval.problem(member(registry, service, fields), fields or {}, today) if approval else None


def apply(registry: MembershipRegistry, service: str, fields: dict, today: date) -> str | None:
    """Make the approved change (``problem`` said yes); None when the service changes nothing in the registry."""
    approval = APPROVALS.get(service)
    found = member(registry, service, fields) if approval else None
    return approval.apply(registry, found, fields or {}, today) if found is not None else None


def decision_values(registry: MembershipRegistry | None, service: str, fields: dict, product, today: date) -> dict:
    """Without a registry (a case not in a session) the values the case itself holds are used."""
    approval = APPROVALS.get(service)
    return approval.values(member(registry, service, fields), fields or {}, product, today) if approval else {}
