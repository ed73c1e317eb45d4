"""The three services added after the first six, end to end on the real stack (signed webhook, real worker,
local Twilio, real database): a family reports a death, a family adds a member, a participant changes their
primary care facility (tests/test_faskes.py). Each goes from the conversation to a case, an officer claims
and approves it in the console, the citizen hears it in the service's own words, and what the approval
changes in the membership registry is there."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from handlers import backoffice as bo
from handlers.deaths import billing_stops
from handlers.worktime import format_date_short, format_month_id
from storage import db
from storage.cases import Case, CaseEvent, CaseStatus
from storage.membership import InactiveReason
from tests.helpers import Chat, csrf, logged_in, phone_lines
from tests.images import document_photo
from tests.services import (  # noqa: F401  (fixtures)
    ASEP, DADANG, HENDRA, NENENG, PRODUCT, SARI, WAHYU, app, approve, audit_actions, chat, latest_case, office_today,
    participant, pdf, set_participant,
)

pytestmark = pytest.mark.one_backend  # one database is enough here


# ---------------------------------------------------------------------------------------------- report_death
def test_a_death_is_reported_approved_and_the_participant_deactivated(app, chat):
    died = office_today() - timedelta(days=10)
    first = chat.last("7")
    assert "Lapor peserta meninggal" in first and "Turut berduka" in first and "*2*. Anak" in first
    asked = chat.last("2")
    assert "NIK" in asked and "peserta yang meninggal" in asked
    asked = chat.last(SARI[0])
    assert "S*** W********" in asked and "Kapan meninggalnya" in asked  # found: the masked name confirms who
    assert "tidak boleh setelah hari ini" in chat.last((office_today() + timedelta(days=3)).strftime("%d-%m-%Y"))
    assert "akta kematian" in chat.last(died.strftime("%d-%m-%Y"))
    [summary] = chat.photo(pdf(), "application/pdf")  # a PDF is accepted for this document
    assert "Akta / surat kematian diterima" in summary and "Hubungan pelapor: Anak" in summary
    assert f"Tanggal meninggal: {died:%d-%m-%Y}" in summary and "Akta / surat kematian: ✅" in summary
    done = chat.last("ya")
    case = latest_case(app)
    assert case.ticket in done and case.service == "report_death" and case.status == CaseStatus.SUBMITTED
    assert case.fields["participant"] == SARI[0] and case.fields["death_date"] == died.isoformat()
    assert case.fields["relation"] == "child" and case.fields["segment"] == "PBPU"
    assert [(d.kind, d.content_type) for d in case.documents] == [("death_certificate", "application/pdf")]
    assert participant(app, SARI[0]).active  # nothing changes before an officer decides

    confirm, page = approve(app, case.ticket)
    billing = format_month_id(billing_stops(died))
    assert f"berhenti ditagih mulai {billing}" in confirm  # the officer reads what the family will read
    [told] = chat.replies()
    assert case.ticket in told and "Turut berduka" in told and format_date_short(died) in told
    assert f"berhenti ditagih mulai {billing}" in told and "Kartu keluarga lain tetap aktif" in told
    assert "iuran keluarga untuk mereka saja" in told and "DISETUJUI" not in told
    assert phone_lines(told) <= 6, told
    p = participant(app, SARI[0])
    assert (p.active, p.inactive_reason, p.deactivated_on) == (False, InactiveReason.DECEASED, died)
    assert ("registry_update", "peserta dinonaktifkan di data kepesertaan: meninggal dunia") in audit_actions(app, case.id)
    assert "Data kepesertaan diperbarui" in page and "Tidak aktif (meninggal dunia)" in page

    chat.say("tiket")  # the ticket's status in the service's own words, never "disetujui"
    assert "sudah *diproses*, kepesertaannya dinonaktifkan" in chat.last("terakhir")
    # The family's later status check says so kindly, and the death cannot be reported twice.
    for answer in ("cek status", SARI[0]):
        chat.say(answer)
    assert "meninggal dunia" in chat.last(SARI[1])
    for answer in ("lapor meninggal", "1"):
        chat.say(answer)
    assert "sudah tercatat nonaktif karena meninggal" in chat.last(SARI[0])


def test_an_unknown_card_or_nik_is_said_at_once_and_asked_again(app, chat):
    for answer in ("lapor meninggal", "3"):
        chat.say(answer)
    replies = chat.say("9999999999999")
    assert "9999999999999 tidak kami temukan" in replies[0] and "peserta yang meninggal" in replies[-1]
    replies = chat.say("3273151204780001")  # a valid NIK the registry does not hold
    assert "tidak kami temukan" in replies[0]
    asked = chat.last("3273151204789433")  # Asep's NIK
    assert "A*** S*******" in asked and "Kapan meninggalnya" in asked
    assert latest_case(app) is None


@pytest.mark.parametrize("segment, says, never", [
    ("PBPU", ["berhenti ditagih mulai Januari 2027", "Kartu keluarga lain tetap aktif", "untuk mereka saja"], "SDM"),
    ("PPU", ["Kartu keluarga lain tetap aktif", "SDM pemberi kerja"], "ditagih"),
    ("PBI_APBN", ["Kartu keluarga lain tetap aktif", "dibayar pemerintah"], "ditagih"),
])
def test_the_death_decision_says_what_follows_for_the_segment(segment, says, never):
    case = Case(ticket="PDW-20261206-0001", service="report_death", service_title="Lapor peserta meninggal",
                fields={"participant": SARI[0], "death_date": "2026-12-02", "segment": segment})
    text = bo.decision_message(case, "approve", PRODUCT, note="").text
    assert all(part in text for part in says) and never not in text, text
    assert "2 Des 2026" in text and phone_lines(text) <= 6, text
    assert bo.decision_message(case, "approve", PRODUCT).status_word == "selesai diproses"


def test_billing_stops_the_month_after_the_death():
    assert billing_stops(date(2026, 12, 31)) == date(2027, 1, 1)
    assert billing_stops(date(2026, 1, 1)) == date(2026, 2, 1)
    assert billing_stops(date(2026, 11, 30)) == date(2026, 12, 1)


# ---------------------------------------------------------------------------------------------- add_family_member
def start_family(chat, card_and_birth) -> tuple[str, str]:
    """From the menu up to the segment's rule and the relation question (one message): (rule, question)."""
    chat.say("8")
    chat.say(card_and_birth[0])
    reply = chat.last(card_and_birth[1])
    rule, question = reply.split("Siapa yang ingin ditambahkan")
    return rule.strip(), question


def test_a_newborn_without_nik_is_added_with_the_birth_certificate_and_approved(app, chat):
    rule, relation = start_family(chat, SARI)
    assert "Mandiri kelas 3" in rule and "*Rp35.000*" in rule and "Rp42.000" in rule and "Rp7.000" in rule
    assert "*1*. Bayi baru lahir" in relation
    asked = chat.last("1")
    assert "NIK anggota baru" in asked and "lewati" in asked
    assert "Kartu Keluarga" in chat.last("lewati")
    [asked] = chat.photo(document_photo(seed=1))
    assert "akta kelahiran" in asked and "surat keterangan lahir" in asked
    refused = chat.last("lewati")  # the birth certificate cannot be skipped: it is what names the baby
    assert "foto" in refused and "akta kelahiran" in refused
    [summary] = chat.photo(document_photo(seed=2))
    assert "Anggota baru: Bayi baru lahir" in summary and "NIK anggota baru: —" in summary
    assert "Akta / surat lahir: ✅" in summary and "Foto KK: ✅" in summary
    done = chat.last("ya")
    case = latest_case(app)
    assert case.ticket in done and case.service == "add_family_member"
    assert case.fields["member_nik"] == "" and case.fields["relation"] == "newborn"
    assert case.fields["card_number"] == SARI[0] and case.fields["fee"] == "Rp35.000"
    assert sorted(d.kind for d in case.documents) == ["birth_certificate", "kk"]

    confirm, _ = approve(app, case.ticket)
    [told] = chat.replies()
    assert "tambah anggota keluarga" in told and "DISETUJUI" in told and "Iuran keluarga bertambah Rp35.000" in told
    assert "Iuran keluarga bertambah Rp35.000" in confirm and phone_lines(told) <= 6


def test_only_a_newborn_may_come_without_nik_and_a_spouse_sends_the_marriage_certificate(app, chat):
    start_family(chat, SARI)
    chat.say("2")  # suami / istri
    replies = chat.say("lewati")
    assert "NIK wajib diisi" in replies[0] and "NIK anggota baru" in replies[-1]
    assert "16 angka" in chat.last("12345")
    assert "Kartu Keluarga" in chat.last("3201234505860003")
    [asked] = chat.photo(document_photo(seed=1))
    assert "buku nikah" in asked and "akta kelahiran" not in asked
    [summary] = chat.photo(document_photo(seed=2))
    assert "NIK anggota baru: 3201234505860003" in summary and "Buku nikah / akta kawin: ✅" in summary
    chat.say("ya")
    case = latest_case(app)
    assert case.fields["member_nik"] == "3201234505860003"
    assert sorted(d.kind for d in case.documents) == ["kk", "marriage_certificate"]


def test_a_child_with_nik_needs_only_the_family_card(app, chat):
    start_family(chat, SARI)
    chat.say("3")
    chat.say("3201234505860003")
    [summary] = chat.photo(document_photo(seed=1))
    assert "Mohon periksa permohonan tambah anggota keluarga" in summary and "Anggota baru: Anak" in summary


@pytest.mark.parametrize("who, says", [
    (ASEP, ["PBI", "*Dinas Sosial*", "meneruskan"]),
    (DADANG, ["(PPU)", "*bagian SDM pemberi kerja*", "4 anggota keluarga", "+1% gaji"]),
    (NENENG, ["Mandiri kelas 2", "*Rp100.000*"]),
    (WAHYU, ["Mandiri kelas 1", "*Rp150.000*"]),
    (SARI, ["Mandiri kelas 3", "*Rp35.000*", "Rp42.000", "Rp7.000 dibayar pemerintah"]),
])
def test_the_family_hears_who_registers_and_pays_before_the_confirmation(chat, who, says):
    rule, relation = start_family(chat, who)
    assert all(part in rule for part in says), rule
    assert phone_lines(rule) <= 6 and "*1*. Bayi baru lahir" in relation


@pytest.mark.parametrize("segment, care_class, says", [
    ("PBI_APBD", 3, "Dinas Sosial"), ("PPU", 1, "SDM pemberi kerja"),
    ("PBPU", 2, "bertambah Rp100.000"), ("PBPU", 3, "bertambah Rp35.000"),
])
def test_the_family_decision_says_what_follows_for_the_segment(segment, care_class, says):
    case = Case(ticket="PDW-20261206-0002", service="add_family_member", service_title="Tambah anggota keluarga",
                fields={"segment": segment, "care_class": care_class})
    text = bo.decision_message(case, "approve", PRODUCT, note="Selamat.").text
    assert says in text and "Selamat." in text and phone_lines(text) <= 6, text


def test_an_unknown_head_of_family_or_an_inactive_card_makes_no_case(app, twilio):
    chat = Chat(app, twilio)
    chat.say("tambah anggota")
    chat.say("9999999999999")
    assert "data yang cocok tidak ditemukan" in chat.last(SARI[1])
    chat.say("tambah anggota")
    chat.say(HENDRA[0])
    arrears = chat.last(HENDRA[1])
    assert "tunggakan *Rp1.250.000*" in arrears and "Lunasi" in arrears
    assert latest_case(app) is None


# ---------------------------------------------------------------------------------------------- officers' side
def test_officers_may_ask_again_for_what_the_new_services_collect(app):
    flows = app.extensions["flows"]
    asks = {flow_id: [step.id for step in bo.askable_steps(flows[flow_id])]
            for flow_id in ("report_death", "add_family_member", "change_faskes")}
    assert asks["report_death"] == ["participant", "death_date", "certificate"]
    assert asks["add_family_member"] == ["card_number", "birth_date", "member_nik", "kk", "birth_certificate",
                                         "marriage_certificate"]
    # the facility number only means something next to the list it was picked from: never asked alone
    assert asks["change_faskes"] == ["card_number", "birth_date"]


def test_a_death_certificate_asked_again_comes_back_to_the_officer(app, chat):
    for answer in ("7", "1", SARI[0], (office_today() - timedelta(days=2)).strftime("%d-%m-%Y")):
        chat.say(answer)
    chat.photo(document_photo(seed=3))
    chat.say("ya")
    case = latest_case(app)
    ani = logged_in(app, "ani")
    url = f"/console/cases/{case.ticket}"
    ani.post(f"{url}/claim", data={"csrf_token": csrf(ani, url)})
    page = ani.get(url).get_data(as_text=True)
    for label in ("Hubungan keluarga", "Tanggal meninggal", "Akta / surat kematian", "Suami / istri"):
        assert label in page, label
    assert ">spouse<" not in page  # the raw choice is shown by its title only
    ani.post(f"{url}/decision", data={"decision": "need_info", "item": "certificate", "note": "Foto buram.",
                                      "confirmed": "1", "csrf_token": csrf(ani, url)})
    [asked] = chat.replies()
    assert "Foto buram." in asked and "akta kematian" in asked
    chat.photo(document_photo(seed=4))
    case = latest_case(app)
    assert case.status == CaseStatus.IN_REVIEW and case.updated_by_citizen
    assert [d.kind for d in case.documents] == ["death_certificate", "death_certificate"]


def test_an_approval_the_registry_cannot_take_is_refused_before_anything_is_sent(app, chat):
    for answer in ("7", "1", SARI[0], (office_today() - timedelta(days=2)).strftime("%d-%m-%Y")):
        chat.say(answer)
    chat.photo(document_photo(seed=3))
    chat.say("ya")
    case = latest_case(app)
    set_participant(app, SARI[0], birth_date=office_today())  # the registry now says born after the death
    ani = logged_in(app, "ani")
    url = f"/console/cases/{case.ticket}"
    ani.post(f"{url}/claim", data={"csrf_token": csrf(ani, url)})
    ani.post(f"{url}/decision", data={"decision": "approve", "confirmed": "1", "csrf_token": csrf(ani, url)})
    assert latest_case(app).status == CaseStatus.IN_REVIEW and chat.replies() == []
    assert "sebelum tanggal lahir" in ani.get(url).get_data(as_text=True)
    assert participant(app, SARI[0]).active
    set_participant(app, SARI[0], birth_date=date(1986, 5, 5), active=False, inactive_reason="deceased")
    ani.post(f"{url}/decision", data={"decision": "approve", "csrf_token": csrf(ani, url)})  # the confirmation page
    assert "tolak sebagai duplikat" in ani.get(url).get_data(as_text=True)  # another report was approved first
    with app.app_context():
        assert not db.session().scalars(select(CaseEvent).where(CaseEvent.kind == "registry_updated")).all()


def test_a_number_given_again_is_the_one_the_approval_deactivates(app, chat):
    """The officer asks again for the card/NIK (the first was a relative's): the approval is for the new one."""
    for answer in ("7", "2", ASEP[0], (office_today() - timedelta(days=3)).strftime("%d-%m-%Y")):
        chat.say(answer)
    chat.photo(document_photo(seed=5))
    chat.say("ya")
    ticket = latest_case(app).ticket
    ani = logged_in(app, "ani")
    url = f"/console/cases/{ticket}"
    ani.post(f"{url}/claim", data={"csrf_token": csrf(ani, url)})
    ani.post(f"{url}/decision", data={"decision": "need_info", "item": "participant", "confirmed": "1",
                                      "csrf_token": csrf(ani, url)})
    [asked] = chat.replies()
    assert "peserta yang meninggal" in asked
    chat.say(SARI[0])
    assert latest_case(app).fields["participant"] == SARI[0]
    approve(app, ticket)
    [told] = chat.replies()
    assert "berhenti ditagih" in told  # Sari's segment (PBPU) today, not Asep's (PBI) from the first lookup
    assert not participant(app, SARI[0]).active and participant(app, ASEP[0]).active
