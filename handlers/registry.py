"""The membership registry adapter: who is a participant, their status, PBI reactivation rules, the
primary care facilities of a regency, and the changes approved cases make (a death, a new facility).

The flows talk to a :class:`MembershipRegistry`. :class:`LocalRegistry` implements it on the local
``participants`` and ``decrees`` tables (storage/membership.py) holding demo data; a real deployment
plugs BPJS Kesehatan's own participant API (and the Ministry of Social Affairs' decree list) behind
the same Protocol, and nothing else changes.

A member is given as they are on the registry's day (the caller's ``today``, else today in Jakarta): an
approved facility change waits in ``next_faskes`` until its first day (the 1st of the next month), and from
that day is the member's ``faskes`` (:meth:`Member.on`). Until then the participant still goes to the old one.

Seed data (``storage/seed/``, loaded by ``flask --app bot registry load``):

- ``decrees.csv``: ``number,deactivated_on,reactivation_deadline``. The five 2022/2023 decrees are
  the ones in DOMAIN.md; the three 2026 decrees (3/HUK/2026, 12/HUK/2026, 45/HUK/2026) are
  fictional demo data, chosen so that on 2026-11-23 some deadlines are past and some are not.
- ``participants.csv``: ``card_number,nik,name,birth_date,sex,segment,care_class,active,
  inactive_reason,decree_number,deactivated_on,faskes,faskes_since,arrears,in_dtks,phone``. Fictional people.
  A participant already in the table is kept as it is (approvals changed it: a death, a new facility)
  unless the loader is asked to update existing rows, which then take every value of the file.
  ``sex`` (F/M) is not stored (the NIK encodes it); it lets the tests check each NIK against it.
  Booleans are ``true``/``false``; empty cells are NULL (a ``nik_invalid`` participant may have no NIK;
  a file without ``faskes_since`` leaves it unknown, which the 3-month rule does not hold against anyone).
- ``facilities.csv``: ``code,name,regency,kind``: fictional primary care facilities (puskesmas, klinik,
  dokter_praktik) for every regency (NIK digits 1-4) of the participants, their current ones included.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.membership import Decree, Facility, FacilityKind, InactiveReason, Participant, Segment

SEED_DIR = Path(__file__).resolve().parent.parent / "storage" / "seed"
PARTICIPANTS_CSV = SEED_DIR / "participants.csv"
DECREES_CSV = SEED_DIR / "decrees.csv"
FACILITIES_CSV = SEED_DIR / "facilities.csv"
REACTIVATION_MONTHS = 6  # Permensos 21/2019 art. 8, used when the decree itself is unknown
REGISTRY_TIMEZONE = ZoneInfo("Asia/Jakarta")  # the registry's day when the caller gives none (BPJS: WIB)


@dataclass(frozen=True)
class Member:
    card_number: str
    nik: str | None
    name: str
    birth_date: date
    segment: str
    care_class: int
    active: bool
    inactive_reason: str | None
    decree_number: str | None
    deactivated_on: date | None
    faskes: str
    arrears: int
    in_dtks: bool
    phone: str | None = None
    faskes_since: date | None = None
    next_faskes: str | None = None       # an approved move, the member's facility from next_faskes_from
    next_faskes_from: date | None = None

    def on(self, day: date) -> Member:
        """The member on ``day``: an approved move whose first day has come is their facility."""
        if self.next_faskes and self.next_faskes_from and self.next_faskes_from <= day:
            return replace(self, faskes=self.next_faskes, faskes_since=self.next_faskes_from, next_faskes=None,
                           next_faskes_from=None)
        return self


@dataclass(frozen=True)
class FacilityInfo:
    code: str
    name: str
    regency: str
    kind: str


@dataclass(frozen=True)
class DecreeInfo:
    number: str
    deactivated_on: date
    reactivation_deadline: date


class MembershipRegistry(Protocol):
    """Members are given as on the registry's day (an approved move applies from its first day)."""

    def by_card(self, card_number: str) -> Member | None: ...

    def by_nik(self, nik: str) -> Member | None: ...

    def decree(self, number: str) -> DecreeInfo | None: ...

    def facilities(self, regency: str) -> list[FacilityInfo]:
        """The primary care facilities of a regency (NIK digits 1-4), puskesmas first, then by name."""
        ...

    def record_death(self, card_number: str, died_on: date) -> bool:
        """The participant died: inactive from ``died_on``. False when the card is unknown."""
        ...

    def change_faskes(self, card_number: str, faskes: str, since: date) -> bool:
        """The participant's primary care facility is ``faskes`` from ``since`` (until then the current one,
        at once when ``since`` has come). False when the card is unknown."""
        ...


def _member(p: Participant) -> Member:
    return Member(
        card_number=p.card_number, nik=p.nik, name=p.name, birth_date=p.birth_date, segment=p.segment,
        care_class=p.care_class, active=p.active, inactive_reason=p.inactive_reason,
        decree_number=p.decree_number, deactivated_on=p.deactivated_on, faskes=p.faskes,
        arrears=p.arrears or 0, in_dtks=bool(p.in_dtks), phone=p.phone, faskes_since=p.faskes_since,
        next_faskes=p.next_faskes, next_faskes_from=p.next_faskes_from,
    )


class LocalRegistry:
    """The registry on this application's own tables, on ``today`` (None: today in Jakarta, at each call)."""

    def __init__(self, session: Session, today: date | None = None):
        self.session = session
        self._today = today

    def today(self) -> date:
        return self._today or datetime.now(REGISTRY_TIMEZONE).date()

    def by_card(self, card_number: str) -> Member | None:
        p = self.session.scalar(select(Participant).where(Participant.card_number == card_number))
        return _member(p).on(self.today()) if p else None

    def by_nik(self, nik: str) -> Member | None:
        p = self.session.scalar(select(Participant).where(Participant.nik == nik))
        return _member(p).on(self.today()) if p else None

    def decree(self, number: str) -> DecreeInfo | None:
        d = self.session.scalar(select(Decree).where(Decree.number == number))
        return DecreeInfo(d.number, d.deactivated_on, d.reactivation_deadline) if d else None

    def facilities(self, regency: str) -> list[FacilityInfo]:
        rows = self.session.scalars(select(Facility).where(Facility.regency == regency))
        order = {kind: i for i, kind in enumerate(FacilityKind.ALL)}
        found = [FacilityInfo(f.code, f.name, f.regency, f.kind) for f in rows]
        return sorted(found, key=lambda f: (order.get(f.kind, len(order)), f.name, f.code))

    def _participant(self, card_number: str) -> Participant | None:
        return self.session.scalar(select(Participant).where(Participant.card_number == card_number))

    def record_death(self, card_number: str, died_on: date) -> bool:
        p = self._participant(card_number)
        if p is None:
            return False
        p.active, p.inactive_reason, p.deactivated_on = False, InactiveReason.DECEASED, died_on
        return True

    def change_faskes(self, card_number: str, faskes: str, since: date) -> bool:
        p = self._participant(card_number)
        if p is None:
            return False
        today = self.today()
        if p.next_faskes and p.next_faskes_from and p.next_faskes_from <= today:  # an earlier move has come
            p.faskes, p.faskes_since = p.next_faskes, p.next_faskes_from
        if since <= today:
            p.faskes, p.faskes_since, p.next_faskes, p.next_faskes_from = faskes, since, None, None
        else:
            p.next_faskes, p.next_faskes_from = faskes, since
        return True


def identify(registry: MembershipRegistry, card_or_nik: str, birth_date: date, sender_phone: str | None) -> Member | None:
    """The member proven by two facts that do not follow from each other: the card number (13 digits)
    and the date of birth; or the NIK (16 digits) and the date of birth *from the phone number the
    member registered*. A NIK holds its owner's date of birth (digits 7-12), so NIK and date alone
    prove nothing: anyone who saw the KTP knows both.

    ``None`` for every failure (no such number, wrong date, another phone): the caller answers them
    all the same way, so that a number alone never reveals whether someone is a participant.
    """
    key = "".join(ch for ch in (card_or_nik or "") if ch not in " .-")
    if not key.isdigit():
        return None
    if len(key) == 13:
        member = registry.by_card(key)
    elif len(key) == 16:
        member = registry.by_nik(key)
        if member is not None and (not sender_phone or member.phone != sender_phone):
            return None
    else:
        return None
    if member is None or member.birth_date != birth_date:
        return None
    return member


# -- PBI reactivation ------------------------------------------------------------------------

class Kind:
    ACTIVE = "active"                    # the card is active: nothing to reactivate
    PBPU_ARREARS = "pbpu_arrears"        # self-paying, inactive for arrears: pay, no case
    WITHIN_DEADLINE = "within_deadline"  # PBI decree, deadline not passed, in DTKS
    NEEDS_SKTM = "needs_sktm"            # PBI decree, past the deadline or not in DTKS
    OTHER_REASON = "other_reason"        # inactive for another reason (e.g. NIK not verified)
    NOT_PBI = "not_pbi"                  # PPU etc.: the employer or the branch handles it


class Doc:
    KIS = "kis"                      # the KIS / JKN card
    KTP = "ktp"                      # identity card (e-KTP)
    KK = "kk"                        # family card (Kartu Keluarga)
    DINSOS_LETTER = "dinsos_letter"  # recommendation letter of the Dinas Sosial
    SKTM = "sktm"                    # certificate of poverty from the village / kelurahan


REACTIVATION_DOCUMENTS = (Doc.KIS, Doc.KTP, Doc.KK, Doc.DINSOS_LETTER)
REACTIVATION_DOCUMENTS_SKTM = REACTIVATION_DOCUMENTS + (Doc.SKTM,)


@dataclass(frozen=True)
class Assessment:
    kind: str
    documents: tuple[str, ...] = ()
    deadline: date | None = None        # last day to ask for reactivation (decree cases)
    decree_number: str | None = None
    arrears: int = 0                    # rupiah (pbpu_arrears)
    past_deadline: bool = False         # needs_sktm because the deadline passed (not only DTKS)


def add_months(d: date, months: int) -> date:
    """The same day ``months`` later (the month's last day when it has no such day: 31 Aug + 6 = 28/29 Feb)."""
    month0 = d.month - 1 + months
    year, month = d.year + month0 // 12, month0 % 12 + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def reactivation(member: Member, today: date, registry: MembershipRegistry) -> Assessment:
    """What reactivating this member's card takes on ``today``."""
    if member.active:
        return Assessment(Kind.ACTIVE)
    reason = member.inactive_reason
    if reason == InactiveReason.NIK_INVALID:
        return Assessment(Kind.OTHER_REASON)
    if member.segment in Segment.PBI:
        if reason != InactiveReason.DECREE:
            return Assessment(Kind.OTHER_REASON)
        info = registry.decree(member.decree_number) if member.decree_number else None
        if info is not None:
            deadline: date | None = info.reactivation_deadline
        elif member.deactivated_on is not None:
            deadline = add_months(member.deactivated_on, REACTIVATION_MONTHS)
        else:
            deadline = None
        past = deadline is None or today > deadline
        if past or not member.in_dtks:
            return Assessment(Kind.NEEDS_SKTM, REACTIVATION_DOCUMENTS_SKTM, deadline,
                              member.decree_number, past_deadline=past)
        return Assessment(Kind.WITHIN_DEADLINE, REACTIVATION_DOCUMENTS, deadline, member.decree_number)
    if member.segment == Segment.PBPU and reason == InactiveReason.ARREARS:
        return Assessment(Kind.PBPU_ARREARS, arrears=member.arrears)
    return Assessment(Kind.NOT_PBI)


# -- loading CSV -----------------------------------------------------------------------------

def _opt(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _bool(value: str | None) -> bool:
    v = (value or "").strip().lower()
    if v in ("true", "1", "yes", "y"):
        return True
    if v in ("false", "0", "no", "n", ""):
        return False
    raise ValueError("not true/false")


def _date(value: str | None) -> date | None:
    value = _opt(value)
    return date.fromisoformat(value) if value else None


def _participant_values(row: dict[str, str], line: int) -> dict:
    try:
        values = dict(
            card_number=row["card_number"].strip(), nik=_opt(row.get("nik")), name=row["name"].strip(),
            birth_date=date.fromisoformat(row["birth_date"].strip()), segment=row["segment"].strip(),
            care_class=int(row["care_class"]), active=_bool(row.get("active")),
            inactive_reason=_opt(row.get("inactive_reason")), decree_number=_opt(row.get("decree_number")),
            deactivated_on=_date(row.get("deactivated_on")), faskes=row["faskes"].strip(),
            faskes_since=_date(row.get("faskes_since")), arrears=int(_opt(row.get("arrears")) or 0),
            in_dtks=_bool(row.get("in_dtks")), phone=_opt(row.get("phone")),
            next_faskes=None, next_faskes_from=None,  # the file's facility holds: no approved move waits
        )
    except KeyError as exc:
        raise ValueError(f"line {line}: missing column {exc}") from None
    except (AttributeError, TypeError):  # a short row: csv fills the missing cells with None
        raise ValueError(f"line {line}: missing values") from None
    except ValueError:  # never echo the value: it is personal data
        raise ValueError(f"line {line}: a value is malformed (dates YYYY-MM-DD, integers, true/false)") from None
    if not (values["card_number"].isdigit() and len(values["card_number"]) == 13):
        raise ValueError(f"line {line}: card_number is not 13 digits")
    if values["nik"] is not None and not (values["nik"].isdigit() and len(values["nik"]) == 16):
        raise ValueError(f"line {line}: nik is not 16 digits")
    if values["segment"] not in Segment.ALL:
        raise ValueError(f"line {line}: unknown segment")
    return values


def _upsert(session: Session, model: type, key: str, values: dict, update_existing: bool) -> bool:
    """Insert the row, or update the one with its key (``update_existing``); True when one was kept as it is."""
    obj = session.scalar(select(model).where(getattr(model, key) == values[key]))
    if obj is None:
        session.add(model(**values))
    elif not update_existing:
        return True
    else:
        for name, value in values.items():
            setattr(obj, name, value)
    return False


def _facility_values(row: dict[str, str], line: int) -> dict:
    try:
        values = dict(code=row["code"].strip(), name=row["name"].strip(), regency=row["regency"].strip(),
                      kind=row["kind"].strip())
    except (KeyError, AttributeError):
        raise ValueError(f"facilities line {line}: expected code, name, regency, kind") from None
    if not (values["regency"].isdigit() and len(values["regency"]) == 4):
        raise ValueError(f"facilities line {line}: regency is not 4 digits (NIK digits 1-4)")
    if values["kind"] not in FacilityKind.ALL:
        raise ValueError(f"facilities line {line}: kind is not one of {', '.join(FacilityKind.ALL)}")
    if not values["code"] or not values["name"] or len(values["code"]) > 16 or len(values["name"]) > 128:
        raise ValueError(f"facilities line {line}: code (at most 16) and name (at most 128) are needed")
    return values


def _decree_values(row: dict[str, str], line: int) -> dict:
    try:
        return dict(number=row["number"].strip(), deactivated_on=date.fromisoformat(row["deactivated_on"].strip()),
                    reactivation_deadline=date.fromisoformat(row["reactivation_deadline"].strip()))
    except (KeyError, AttributeError, ValueError):
        raise ValueError(f"decrees line {line}: expected number, deactivated_on, "
                         "reactivation_deadline (YYYY-MM-DD)") from None


def _load_rows(session: Session, path: str | Path, model: type, key: str, values_of,
               update_existing: bool = True) -> tuple[int, int]:
    """Upsert every row of a CSV file (``values_of(row, line)`` reads one); returns (read, kept as they were)."""
    count = kept = 0
    with open(path, newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            kept += _upsert(session, model, key, values_of(row, line), update_existing)
            count += 1
    session.flush()
    return count, kept


class Loaded(NamedTuple):
    participants: int  # rows read from each file
    decrees: int
    facilities: int
    kept: int          # participants already in the registry, left as they were


def load_csv(session: Session, participants_csv: str | Path | None = None,
             decrees_csv: str | Path | None = None, facilities_csv: str | Path | None = None,
             update_existing: bool = False) -> Loaded:
    """Insert or update decrees (by number) and facilities (by code), insert participants (by card number);
    the caller commits. ``None`` means the seed file.

    A participant already there is kept as it is: approved cases change participants (a death, a facility),
    and reloading the demo data at every start (scripts/run) must not undo them. ``update_existing`` gives
    them the file's values instead (a pending facility change is dropped).
    """
    n_decrees, _ = _load_rows(session, decrees_csv or DECREES_CSV, Decree, "number", _decree_values)
    n_participants, kept = _load_rows(session, participants_csv or PARTICIPANTS_CSV, Participant, "card_number",
                                      _participant_values, update_existing)
    n_facilities, _ = _load_rows(session, facilities_csv or FACILITIES_CSV, Facility, "code", _facility_values)
    return Loaded(n_participants, n_decrees, n_facilities, kept)
