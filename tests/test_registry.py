"""The membership registry on the real database (PostgreSQL and SQLite): seed loading, identification,
PBI reactivation assessment, and the `registry load` command."""
from __future__ import annotations

import csv
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import func, select

from handlers import validators
from handlers.registry import (
    DECREES_CSV, FACILITIES_CSV, PARTICIPANTS_CSV, REACTIVATION_DOCUMENTS, REACTIVATION_DOCUMENTS_SKTM, DecreeInfo, Kind,
    LocalRegistry, Member, identify, load_csv, reactivation,
)
from bot.registry_cli import registry_cli
from storage import db
from storage.membership import Decree, InactiveReason, Participant, Segment

TODAY = date(2026, 11, 23)


def seed_rows() -> list[dict[str, str]]:
    with open(PARTICIPANTS_CSV, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def facility_rows() -> list[dict[str, str]]:
    with open(FACILITIES_CSV, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_seed_data_is_consistent():
    rows = seed_rows()
    assert 40 <= len(rows) <= 60
    assert len({r["card_number"] for r in rows}) == len(rows)
    niks = [r["nik"] for r in rows if r["nik"]]
    assert len(set(niks)) == len(niks) and len(niks) >= len(rows) - 3
    for r in rows:
        assert validators.card_number(r["card_number"]) == r["card_number"]
        if r["nik"]:
            info = validators.nik_info(r["nik"], today=TODAY)
            assert info.birth_date == date.fromisoformat(r["birth_date"])
            assert info.female == (r["sex"] == "F")
        if r["phone"]:
            assert validators.mobile_phone(r["phone"]) == r["phone"]
    assert {r["segment"] for r in rows} == set(Segment.ALL)
    reasons = {r["inactive_reason"] for r in rows if r["active"] == "false"}
    assert reasons == {InactiveReason.DECREE, InactiveReason.ARREARS, InactiveReason.NIK_INVALID,
                       InactiveReason.OTHER}
    with open(DECREES_CSV, newline="", encoding="utf-8") as f:
        decrees = {d["number"]: d for d in csv.DictReader(f)}
    assert len(decrees) == 8
    assert {r["decree_number"] for r in rows if r["decree_number"]} == set(decrees)
    for r in rows:
        if r["decree_number"]:
            assert r["deactivated_on"] == decrees[r["decree_number"]]["deactivated_on"]


@pytest.fixture
def session(app):
    with app.app_context():
        s = db.session()
        load_csv(s)
        s.commit()
        yield s


def counts(s) -> tuple[int, int]:
    return s.scalar(select(func.count(Participant.id))), s.scalar(select(func.count(Decree.id)))


def test_load_is_idempotent_and_updates_existing_participants_only_when_asked(session, tmp_path):
    rows = seed_rows()
    assert counts(session) == (len(rows), 8)
    assert load_csv(session) == (len(rows), 8, len(facility_rows()), len(rows))  # every participant kept
    session.commit()
    assert counts(session) == (len(rows), 8)

    changed = dict(rows[0], name="Nama Baru", arrears="0")
    path = tmp_path / "p.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerow(changed)
    assert load_csv(session, participants_csv=path) == (1, 8, len(facility_rows()), 1)
    session.commit()
    assert LocalRegistry(session).by_card(rows[0]["card_number"]).name == rows[0]["name"]  # kept as it was
    assert load_csv(session, participants_csv=path, update_existing=True) == (1, 8, len(facility_rows()), 0)
    session.commit()
    assert counts(session) == (len(rows), 8)
    assert LocalRegistry(session).by_card(rows[0]["card_number"]).name == "Nama Baru"


def test_identify_by_card_and_nik(session):
    registry = LocalRegistry(session)
    p = session.scalars(select(Participant).where(Participant.nik.is_not(None), Participant.phone.is_not(None))
                        .order_by(Participant.id)).first()
    spaced_card = f"{p.card_number[:4]} {p.card_number[4:8]} {p.card_number[8:]}"
    for key in (p.card_number, p.nik, spaced_card):
        member = identify(registry, key, p.birth_date, p.phone)
        assert member is not None and member.card_number == p.card_number and member.nik == p.nik
        other_day = date(p.birth_date.year, p.birth_date.month, 1 if p.birth_date.day > 1 else 2)
        assert identify(registry, key, other_day, p.phone) is None
    assert identify(registry, "9" * 13, p.birth_date, p.phone) is None
    assert identify(registry, "3273151204780001", p.birth_date, p.phone) is None
    assert identify(registry, "12345", p.birth_date, p.phone) is None
    assert identify(registry, "", p.birth_date, p.phone) is None


def test_a_nik_and_the_birth_date_it_holds_prove_nothing_from_another_phone(session):
    """Digits 7-12 of a NIK are its owner's date of birth: whoever saw the KTP knows both."""
    registry = LocalRegistry(session)
    p = session.scalars(select(Participant).where(Participant.nik.is_not(None), Participant.phone.is_not(None))
                        .order_by(Participant.id)).first()
    assert validators.nik_info(p.nik).birth_date == p.birth_date  # derivable, so not a second fact
    assert identify(registry, p.nik, p.birth_date, "+6281311112222") is None
    assert identify(registry, p.nik, p.birth_date, None) is None
    assert identify(registry, p.card_number, p.birth_date, "+6281311112222") is not None  # the card is
    assert registry.decree("12/HUK/2026") == DecreeInfo("12/HUK/2026", date(2026, 7, 1), date(2026, 12, 31))
    assert registry.decree("1/HUK/1999") is None


def test_member_without_nik_is_found_by_card(session):
    registry = LocalRegistry(session)
    p = session.scalars(select(Participant).where(Participant.nik.is_(None))).first()
    assert p is not None and p.inactive_reason == InactiveReason.NIK_INVALID
    assert identify(registry, p.card_number, p.birth_date, None).nik is None


def members(session, *where) -> list[Member]:
    registry = LocalRegistry(session)
    rows = session.scalars(select(Participant).where(*where).order_by(Participant.id)).all()
    assert rows, "the seed data has no participant for this case"
    return [registry.by_card(p.card_number) for p in rows]


def test_assessment_kinds_from_seeded_members(session):
    registry = LocalRegistry(session)
    decree_pbi = (Participant.segment.in_(Segment.PBI), Participant.active.is_(False),
                  Participant.inactive_reason == InactiveReason.DECREE)
    deadline_ok = Participant.decree_number.in_(
        select(Decree.number).where(Decree.reactivation_deadline >= TODAY).scalar_subquery())

    for m in members(session, Participant.active.is_(True)):
        assert reactivation(m, TODAY, registry).kind == Kind.ACTIVE

    for m in members(session, Participant.segment == Segment.PBPU, Participant.active.is_(False),
                     Participant.inactive_reason == InactiveReason.ARREARS):
        a = reactivation(m, TODAY, registry)
        assert (a.kind, a.arrears, a.documents) == (Kind.PBPU_ARREARS, m.arrears, ())
        assert a.arrears > 0

    for m in members(session, *decree_pbi, deadline_ok, Participant.in_dtks.is_(True)):
        a = reactivation(m, TODAY, registry)
        assert a.kind == Kind.WITHIN_DEADLINE and a.documents == ("kis", "ktp", "kk", "dinsos_letter")
        assert a.decree_number == m.decree_number and a.deadline >= TODAY and not a.past_deadline

    for m in members(session, *decree_pbi, deadline_ok, Participant.in_dtks.is_(False)):
        a = reactivation(m, TODAY, registry)
        assert (a.kind, a.documents, a.past_deadline) == (Kind.NEEDS_SKTM, REACTIVATION_DOCUMENTS_SKTM, False)

    for m in members(session, *decree_pbi, ~deadline_ok):
        a = reactivation(m, TODAY, registry)
        assert a.kind == Kind.NEEDS_SKTM and "sktm" in a.documents and a.past_deadline
        assert a.deadline == registry.decree(m.decree_number).reactivation_deadline < TODAY

    for m in members(session, Participant.active.is_(False), Participant.inactive_reason == InactiveReason.NIK_INVALID):
        assert reactivation(m, TODAY, registry).kind == Kind.OTHER_REASON

    for m in members(session, Participant.active.is_(False), Participant.segment.in_(Segment.PBI),
                     Participant.inactive_reason == InactiveReason.OTHER):
        assert reactivation(m, TODAY, registry).kind == Kind.OTHER_REASON

    for m in members(session, Participant.active.is_(False), Participant.segment.not_in(Segment.PBI),
                     Participant.inactive_reason == InactiveReason.OTHER):
        assert reactivation(m, TODAY, registry).kind == Kind.NOT_PBI


def test_deadline_day_itself_counts_and_the_day_after_does_not(session):
    registry = LocalRegistry(session)
    m = members(session, Participant.decree_number == "12/HUK/2026", Participant.in_dtks.is_(True))[0]
    assert reactivation(m, date(2026, 12, 31), registry).kind == Kind.WITHIN_DEADLINE
    assert reactivation(m, date(2027, 1, 1), registry).kind == Kind.NEEDS_SKTM


class NoDecrees:
    """Another registry behind the same Protocol (as BPJS's API would be): here without decree data."""

    def by_card(self, card_number):
        return None

    def by_nik(self, nik):
        return None

    def decree(self, number):
        return None


def test_unknown_decree_falls_back_to_six_months():
    m = Member("0001234567890", "3273151204780001", "Demo", date(1978, 4, 12), Segment.PBI_APBN, 3, False,
               InactiveReason.DECREE, "999/HUK/2026", date(2026, 8, 31), "Puskesmas Demo", 0, True)
    a = reactivation(m, TODAY, NoDecrees())
    assert (a.kind, a.deadline, a.documents) == (Kind.WITHIN_DEADLINE, date(2027, 2, 28), REACTIVATION_DOCUMENTS)
    assert reactivation(replace(m, deactivated_on=None), TODAY, NoDecrees()).kind == Kind.NEEDS_SKTM
    assert reactivation(replace(m, segment=Segment.PPU), TODAY, NoDecrees()).kind == Kind.NOT_PBI
    assert reactivation(replace(m, segment=Segment.PBPU, inactive_reason=None), TODAY, NoDecrees()).kind == Kind.NOT_PBI


def cli_runner(app):
    if "registry" not in app.cli.commands:
        app.cli.add_command(registry_cli)
    return app.test_cli_runner()


def test_cli_load(app, tmp_path):
    runner = cli_runner(app)
    n = len(seed_rows())
    for _ in range(2):
        result = runner.invoke(args=["registry", "load"])
        assert result.exit_code == 0, result.output
        assert f"loaded {n} participants, 8 decrees, {len(facility_rows())} facilities" in result.output
    with app.app_context():
        assert counts(db.session()) == (n, 8)

    decrees = tmp_path / "d.csv"
    decrees.write_text("number,deactivated_on,reactivation_deadline\n99/HUK/2026,2026-10-01,2027-03-31\n")
    result = runner.invoke(args=["registry", "load", "--decrees", str(decrees), "--participants", str(PARTICIPANTS_CSV)])
    assert result.exit_code == 0 and "8 decrees" not in result.output and "1 decrees" in result.output
    with app.app_context():
        assert counts(db.session()) == (n, 9)


def test_cli_keeps_what_approvals_changed_unless_asked_to_update_existing_participants(app):
    """scripts/run loads the demo registry at every start: an approved death stays recorded."""
    runner = cli_runner(app)
    row = seed_rows()[0]
    with app.app_context():
        LocalRegistry(db.session()).record_death(row["card_number"], date(2026, 11, 1))
        db.session().commit()
    result = runner.invoke(args=["registry", "load"])
    assert result.exit_code == 0 and f"{len(seed_rows())} participants already in the registry kept" in result.output
    with app.app_context():
        assert LocalRegistry(db.session()).by_card(row["card_number"]).inactive_reason == InactiveReason.DECEASED
    result = runner.invoke(args=["registry", "load", "--update-existing"])
    assert result.exit_code == 0 and "kept" not in result.output
    with app.app_context():
        member = LocalRegistry(db.session()).by_card(row["card_number"])
        assert (member.active, member.inactive_reason) == (row["active"] == "true", row["inactive_reason"] or None)


def test_an_approved_facility_applies_from_its_first_day(session):
    p = session.scalars(select(Participant).where(Participant.active.is_(True)).order_by(Participant.id)).first()
    old, since = p.faskes, p.faskes_since
    assert LocalRegistry(session, date(2026, 12, 6)).change_faskes(p.card_number, "Puskesmas Baru", date(2027, 1, 1))
    before = LocalRegistry(session, date(2026, 12, 31)).by_card(p.card_number)
    assert (before.faskes, before.faskes_since) == (old, since)
    assert (before.next_faskes, before.next_faskes_from) == ("Puskesmas Baru", date(2027, 1, 1))
    after = LocalRegistry(session, date(2027, 1, 1)).by_card(p.card_number)
    assert (after.faskes, after.faskes_since, after.next_faskes, after.next_faskes_from) == (
        "Puskesmas Baru", date(2027, 1, 1), None, None)
    assert before.on(date(2027, 1, 1)) == after

    # The next move, once the first began: the first is the facility until the next one's first day.
    LocalRegistry(session, date(2027, 4, 2)).change_faskes(p.card_number, "Klinik Lain", date(2027, 5, 1))
    session.flush()
    session.refresh(p)
    assert (p.faskes, p.faskes_since, p.next_faskes, p.next_faskes_from) == (
        "Puskesmas Baru", date(2027, 1, 1), "Klinik Lain", date(2027, 5, 1))
    # A change from a day that has come applies at once.
    LocalRegistry(session, date(2027, 8, 1)).change_faskes(p.card_number, "Klinik Ketiga", date(2027, 8, 1))
    session.flush()
    session.refresh(p)
    assert (p.faskes, p.faskes_since, p.next_faskes, p.next_faskes_from) == (
        "Klinik Ketiga", date(2027, 8, 1), None, None)
    session.rollback()


def test_cli_rejects_a_malformed_file_without_echoing_it(app, tmp_path):
    runner = cli_runner(app)
    with app.app_context():
        before = counts(db.session())  # the demo registry every test database starts with
    bad = tmp_path / "bad.csv"
    row = seed_rows()[0]
    bad.write_text(",".join(row) + "\n" + ",".join(dict(row, birth_date="17-08-1965").values()) + "\n")
    result = runner.invoke(args=["registry", "load", "--participants", str(bad)])
    assert result.exit_code != 0 and "line 2" in result.output
    assert row["nik"] not in result.output and "17-08-1965" not in result.output
    with app.app_context():
        assert counts(db.session()) == before  # nothing half-loaded
