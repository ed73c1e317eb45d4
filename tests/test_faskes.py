"""Pindah faskes tingkat pertama end to end (real webhook, worker, database; tests/test_new_services.py has the
fixtures): the 3-month rule, the numbered list of the regency's facilities, an officer's approval through
the console and through the API, and the registry holding the new facility from the 1st of next month (the
old one until then).
Also the seed data the list is built from."""
from __future__ import annotations

import csv
from datetime import date, timedelta

import pytest
from sqlalchemy import delete

from bot.accounts import create_staff, new_token
from handlers import validators
from handlers.faskes import LIST_MAX, allowed_from, first_of_next_month
from handlers.registry import FACILITIES_CSV, PARTICIPANTS_CSV, LocalRegistry
from handlers.worktime import format_day_id
from storage import db
from storage.cases import CaseStatus
from storage.membership import Facility, FacilityKind
from tests.helpers import Chat, PHONE_WIDTH, phone_lines
from tests.services import (  # noqa: F401  (fixtures)
    SARI, app, approve, audit_actions, chat, latest_case, office_today, participant, set_participant,
)

pytestmark = pytest.mark.one_backend  # one database is enough here

ROHIMAH = ("0002269441682", "14-06-2012")  # PBI APBD, Jakarta Timur (3172): the regency with the most facilities
BOGOR = ["Puskesmas Ciawi", "Puskesmas Cibinong", "Puskesmas Citeureup", "Klinik Pratama Bogor Raya",
         "Praktik dr. Ahmad Fauzi"]  # Kab. Bogor (3201) without Sari's own Klinik Pratama Sehat Sejahtera


def start(chat, who=SARI) -> str:
    chat.say("9")
    chat.say(who[0])
    return chat.last(who[1])


def listed(question: str) -> list[str]:
    return [line.split(". ", 1)[1] for line in question.split("\n") if line.startswith("*") and "*. " in line]


def test_a_facility_is_chosen_from_the_regency_approved_and_the_registry_changed(app, chat):
    since = office_today() - timedelta(days=400)
    set_participant(app, SARI[0], faskes_since=since)
    question = start(chat)
    assert "Faskes sekarang: Klinik Pratama Sehat Sejahtera" in question
    assert listed(question) == BOGOR  # puskesmas first, the current one left out
    reason = chat.last("3")
    assert "alasan pindah" in reason and "*1*. Pindah domisili" in reason
    summary = chat.last("1")
    assert "Faskes baru: Puskesmas Citeureup" in summary and "Alasan pindah: Pindah domisili" in summary
    done = chat.last("ya")
    case = latest_case(app)
    assert case.ticket in done and case.service == "change_faskes" and case.status == CaseStatus.SUBMITTED
    assert (case.fields["new_faskes"], case.fields["new_faskes_code"]) == ("Puskesmas Citeureup", "3201P002")
    assert case.fields["reason"] == "moved" and "faskes_choice" not in case.fields
    assert "facility_choices" not in case.fields and "facilities_text" not in case.fields

    confirm, page = approve(app, case.ticket, note="Kartu baru bisa dicetak di Mobile JKN.")
    start_day = first_of_next_month(office_today())
    [told] = chat.replies()
    assert "*Puskesmas Citeureup*" in told and f"berlaku mulai {format_day_id(start_day)}" in told
    assert "Kartu baru bisa dicetak" in told and "DISETUJUI" in told
    assert phone_lines(told.replace("Kartu baru bisa dicetak di Mobile JKN.", "")) <= 6  # the officer's note aside
    assert f"berlaku mulai {format_day_id(start_day)}" in confirm
    p = participant(app, SARI[0])  # the old facility until the new one's first day
    assert (p.faskes, p.faskes_since) == ("Klinik Pratama Sehat Sejahtera", since)
    assert (p.next_faskes, p.next_faskes_from) == ("Puskesmas Citeureup", start_day)
    assert any(action == "registry_update" and "3201P002" in detail for action, detail in audit_actions(app, case.id))
    for shown in ("Faskes baru", "Puskesmas Citeureup", "Alasan pindah", "Pindah domisili", "Kode faskes baru"):
        assert shown in page, shown
    assert ">moved<" not in page
    assert f"Puskesmas Citeureup (mulai {start_day:%d-%m-%Y})" in page  # the registry panel: the move to come

    # The status check names the facility of today, and the coming one from its first day.
    status = Chat(app, chat.twilio, phone="+6281211110009")
    for answer in ("3", SARI[0]):
        status.say(answer)
    told = status.last(SARI[1])
    assert "Faskes: Klinik Pratama Sehat Sejahtera\n" in told
    assert f"Faskes baru mulai {format_day_id(start_day)}: *Puskesmas Citeureup*" in told
    assert phone_lines(told) <= 6

    # From now on the 3-month rule counts from the new facility's first day; until then the old one holds.
    question = start(chat)
    assert f"bisa mulai *{format_day_id(allowed_from(start_day))}*" in question
    assert "*Puskesmas Citeureup*" in question and "tetap ke Klinik Pratama Sehat Sejahtera" in question
    assert latest_case(app).ticket == case.ticket  # no new case

    set_participant(app, SARI[0], next_faskes_from=office_today())  # the first day has come
    question = start(chat)
    assert "terdaftar di Puskesmas Citeureup belum 3 bulan" in question
    assert f"bisa mulai *{format_day_id(allowed_from(office_today()))}*" in question
    for answer in ("3", SARI[0]):
        status.say(answer)
    told = status.last(SARI[1])
    assert "Faskes: Puskesmas Citeureup" in told and "Faskes baru" not in told


def test_within_three_months_the_day_it_is_allowed_is_said_and_no_case_is_made(app, chat):
    since = office_today() - timedelta(days=40)
    set_participant(app, SARI[0], faskes_since=since)
    refused = start(chat)
    assert "belum 3 bulan" in refused and f"*{format_day_id(allowed_from(since))}*" in refused
    assert "Klinik Pratama Sehat Sejahtera" in refused and "Pilih *faskes baru*" not in refused
    assert "Ketik *menu*" in chat.last("ya")  # the request ended: "ya" means nothing now
    assert latest_case(app) is None


def test_three_months_to_the_day_is_allowed():
    assert allowed_from(date(2026, 8, 31)) == date(2026, 11, 30)
    assert allowed_from(date(2026, 11, 30)) == date(2027, 2, 28)
    assert allowed_from(None) is None
    assert first_of_next_month(date(2026, 12, 6)) == date(2027, 1, 1)


def test_the_move_is_offered_from_the_day_three_months_are_over(app, twilio):
    since = office_today()
    while allowed_from(since) > office_today():  # the latest start that makes today the first day allowed
        since -= timedelta(days=1)
    set_participant(app, SARI[0], faskes_since=since + timedelta(days=1))
    assert "belum 3 bulan" in start(Chat(app, twilio, phone="+6281211110001"))
    set_participant(app, SARI[0], faskes_since=since)
    assert "Pilih *faskes baru*" in start(Chat(app, twilio, phone="+6281211110002"))


def test_a_number_not_on_the_list_is_said_and_the_list_asked_again(app, chat):
    set_participant(app, SARI[0], faskes_since=date(2020, 1, 1))
    start(chat)
    again = chat.last("6")
    assert "Nomor 6 tidak ada di daftar" in again and "1 sampai 5" in again and listed(again) == BOGOR
    wrong = chat.last("yang dekat rumah")
    assert "angka* faskes dari daftar" in wrong and listed(wrong) == BOGOR
    assert "alasan pindah" in chat.last("nomor 5")
    assert "Faskes baru: Praktik dr. Ahmad Fauzi" in chat.last("4")
    assert latest_case(app) is None


def test_a_regency_without_facilities_is_said_and_an_officer_offered(app, chat):
    set_participant(app, SARI[0], faskes_since=date(2020, 1, 1))
    with app.app_context():
        db.session().execute(delete(Facility).where(Facility.regency == "3201"))
        db.session().commit()
    reply = start(chat)
    assert "daftar faskes di kabupaten/kota Anda belum tersedia" in reply and "*petugas*" in reply
    assert latest_case(app) is None
    assert "petugas" in chat.last("petugas")
    assert latest_case(app).service == "handoff"


def test_at_most_eight_facilities_are_listed_each_on_one_line(app, chat):
    with app.app_context():
        db.session().add(Facility(code="3172K099", name="Klinik Pratama Jatinegara Baru", regency="3172",
                                  kind=FacilityKind.CLINIC))
        db.session().commit()
        offered = [f for f in LocalRegistry(db.session()).facilities("3172")
                   if f.name != "Puskesmas Kecamatan Pulo Gadung"]
    assert len(offered) > LIST_MAX
    set_participant(app, ROHIMAH[0], faskes_since=date(2020, 1, 1))
    question = start(chat, ROHIMAH)
    shown = listed(question)
    assert shown == [f.name for f in offered][:LIST_MAX] and "Puskesmas Kecamatan Pulo Gadung" not in shown
    head, options = question.split("\n*1*", 1)
    assert phone_lines(head.split("Faskes sekarang")[1]) <= 6
    assert all(phone_lines(line) == 1 for line in options.split("\n")), options


def test_an_unknown_card_gets_the_same_answer_as_a_wrong_birth_date(app, chat):
    chat.say("pindah faskes")
    chat.say("9999999999999")
    unknown = chat.last(SARI[1])
    chat.say("pindah faskes")
    chat.say(SARI[0])
    wrong_birth = chat.last("06-05-1986")
    assert "data yang cocok tidak ditemukan" in unknown and unknown == wrong_birth
    assert latest_case(app) is None


def test_an_inactive_card_cannot_move(app, chat):
    set_participant(app, SARI[0], active=False, inactive_reason="arrears", arrears=84000)
    assert "sedang *tidak aktif*" in start(chat)
    assert latest_case(app) is None


def test_the_api_shows_the_new_fields_and_approves_with_the_same_change(app, twilio, chat):
    set_participant(app, SARI[0], faskes_since=date(2020, 1, 1))
    start(chat)
    for answer in ("2", "2", "ya"):
        chat.say(answer)
    ticket = latest_case(app).ticket
    with app.app_context():
        staff = create_staff(db.session(), "api-ani", "agent", "kata-sandi-yang-panjang")
        db.session().flush()
        token = new_token(db.session(), staff)
        db.session().commit()
    client, headers = app.test_client(), {"Authorization": f"Bearer {token}"}
    assert client.post(f"/api/cases/{ticket}/claim", headers=headers).status_code == 200
    detail = client.get(f"/api/cases/{ticket}", headers=headers).get_json()
    assert detail["fields"]["new_faskes"] == "Puskesmas Cibinong" and detail["fields"]["reason"] == "distance"
    response = client.post(f"/api/cases/{ticket}/decision", headers=headers, json={"decision": "approve"})
    assert response.status_code == 200, response.get_json()
    assert participant(app, SARI[0]).next_faskes == "Puskesmas Cibinong"
    [told] = chat.replies()
    assert "*Puskesmas Cibinong*" in told
    assert any(action == "registry_update" for action, _ in audit_actions(app, latest_case(app).id))


# ---------------------------------------------------------------------------------------------- the seed data
def _rows(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_regency_of_the_participants_has_facilities_including_their_own():
    facilities, participants = _rows(FACILITIES_CSV), _rows(PARTICIPANTS_CSV)
    assert len({f["code"] for f in facilities}) == len(facilities)
    assert {f["kind"] for f in facilities} == set(FacilityKind.ALL)
    by_regency: dict[str, set[str]] = {}
    for f in facilities:
        assert f["code"].startswith(f["regency"]) and len(f["code"]) <= 16
        assert len("9. " + f["name"]) <= PHONE_WIDTH, f["name"]  # one line of the numbered list
        by_regency.setdefault(f["regency"], set()).add(f["name"])
    for p in participants:
        assert p["faskes_since"] and date.fromisoformat(p["faskes_since"]) > date.fromisoformat(p["birth_date"])
        if p["nik"]:
            regency = validators.nik_info(p["nik"], today=date(2026, 11, 23)).regency
            assert p["faskes"] in by_regency[regency], (p["card_number"], regency)
            assert len(by_regency[regency] - {p["faskes"]}) >= 2  # always something to choose


def test_the_registry_changes_only_a_card_it_knows(app):
    with app.app_context():
        registry = LocalRegistry(db.session())
        assert registry.record_death("9999999999999", date(2026, 12, 1)) is False
        assert registry.change_faskes("9999999999999", "Puskesmas X", date(2027, 1, 1)) is False
        assert registry.facilities("0000") == []
        assert [f.kind for f in registry.facilities("3201")][:3] == [FacilityKind.PUSKESMAS] * 3
