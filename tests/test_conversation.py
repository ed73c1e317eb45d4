"""The citizen's conversation as a patient officer would hold it, read as transcripts: what the citizen
types (``chat.last("…")``) and what they read back. Same stack as test_flows (signed webhook, real
worker and database, local Twilio); the NLU is the keyword double."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from flows.definition import load_flows
from flows.engine import prompt
from handlers.catalog import catalog
from handlers.privacy import mask_name
from handlers.product import load_product
from storage import db
from storage.cases import Case, CaseStatus, Document
from storage.models import Conversation
from tests.helpers import phone_lines
from tests.images import document_photo
from tests.test_flows import app, cases, chat, participant  # noqa: F401  (fixtures)

pytestmark = pytest.mark.one_backend  # as test_flows, whose fixtures these are

CARD, NIK, OTHER_NIK = "0001234567890", "3201234505860003", "3201234505860027"
KTP, KK, NEW_KTP = document_photo(seed=11), document_photo(seed=12), document_photo(seed=13)
VOICE = (b"OggS\x00\x02fake-voice", "audio/ogg")
STICKER = (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp")
VIDEO = (b"\x00\x00\x00\x18ftypmp42", "video/mp4")
CONTACT = (b"BEGIN:VCARD\nVERSION:3.0\nFN:Budi\nEND:VCARD", "text/vcard")


def to_confirmation(chat) -> str:
    for answer in ("1", CARD, NIK):
        chat.say(answer)
    chat.photo(KTP)
    return chat.photo(KK)[0]


def the_case(app) -> Case:
    [case] = [c for c in cases(app) if c.service != "handoff"]
    return case


def state(app) -> dict:
    with app.app_context():
        return dict(db.session().scalar(select(Conversation)).state)


# ---------------------------------------------------------------------------------------------- 1
def test_a_wrong_nik_is_corrected_at_the_confirmation_without_starting_over(app, chat):
    summary = to_confirmation(chat)
    assert f"*2*. NIK baru: {NIK}" in summary and "*3*. Foto KTP: ✅" in summary
    assert "*angka* yang ingin diubah" in summary
    asked = chat.last("salah nik nya")
    assert "ubah *NIK baru*" in asked and "NIK yang benar" in asked
    again = chat.last("3201234505860000")  # validated again
    assert "0000" in again and "NIK yang benar" in again
    summary = chat.last(OTHER_NIK)
    assert f"NIK baru: {OTHER_NIK}" in summary and "Foto KK: ✅" in summary  # photos kept
    assert "tiket" in chat.last("ya").lower()
    case = the_case(app)
    assert case.fields["nik"] == OTHER_NIK and sorted(d.kind for d in case.documents) == ["kk", "ktp"]


def test_no_at_the_confirmation_asks_what_to_change_and_a_photo_can_be_replaced(app, chat):
    to_confirmation(chat)
    which = chat.last("tidak")
    assert "Bagian mana yang salah" in which and "*3*. Foto KTP" in which
    assert "foto KTP" in chat.last("3")
    [summary] = chat.photo(NEW_KTP)
    assert "Foto KTP diterima" in summary and "Mohon periksa" in summary
    chat.say("ya")
    case = the_case(app)
    with app.app_context():
        kept = db.session().scalars(select(Document).where(Document.case_id == case.id)).all()
    assert sorted(d.kind for d in kept) == ["kk", "ktp"]  # the first KTP photo is not on the case


def test_cancelling_at_the_confirmation_still_asks_first(app, chat):
    to_confirmation(chat)
    assert "Yakin" in chat.last("batal")
    assert "Mohon periksa" in chat.last("tidak")
    assert "Yakin" in chat.last("batal")
    assert "dibatalkan" in chat.last("ya")
    assert cases(app) == []


def test_a_changed_card_number_is_checked_again_against_the_registry(app, chat):
    to_confirmation(chat)
    chat.last("1")
    unknown = chat.last("0009999999999")
    assert "tidak kami temukan" in unknown and "nomor kartu JKN-KIS" in unknown


# ---------------------------------------------------------------------------------------------- 2
def test_the_third_wrong_answer_keeps_the_hint_and_adds_the_way_out(chat):
    chat.say("1")
    chat.say(CARD)
    chat.say("3201")
    chat.say("3201")
    third = chat.last("3201234505860000")
    assert "Empat angka terakhir NIK tidak boleh 0000" in third and "NIK yang benar" in third
    assert "petugas" in third and "menu" in third


@pytest.mark.parametrize("media, says", [
    (VOICE, "pesan suara"), (STICKER, "Stiker"), (VIDEO, "video"), (CONTACT, "Kontak"),
])
def test_what_is_not_text_at_a_text_question_is_named_and_the_question_repeated(chat, twilio, media, says):
    chat.say("1")
    [reply] = chat.send("", [media])
    assert says in reply and "nomor kartu JKN-KIS" in reply and "Foto" not in reply
    assert not [r for r in twilio.requests_log if "/Media/" in r["path"]]  # nothing downloaded


def test_a_location_at_a_photo_question_is_named_and_the_photo_asked_again(app, chat):
    for answer in ("1", CARD, NIK):
        chat.say(answer)
    [reply] = chat.send_extra("", Latitude="-6.9147", Longitude="107.6098")
    assert "Lokasi" in reply and "foto KTP" in reply


def test_a_pdf_where_only_a_photo_will_do_asks_for_a_photo(chat):
    for answer in ("1", CARD, NIK):
        chat.say(answer)
    [reply] = chat.send("", [(b"%PDF-1.4\n%%EOF", "application/pdf")])
    assert "bukan PDF" in reply and "foto KTP" in reply


@pytest.mark.parametrize("media, says", [(VOICE, "pesan suara"), (STICKER, "Stiker")])
def test_a_first_message_that_is_not_text_gets_a_useful_answer(chat, media, says):
    [reply] = chat.send("", [media])
    assert says in reply and "*1*. Ubah / perbaiki NIK" in reply


def test_a_photo_as_the_first_message_says_to_choose_the_service_first(chat):
    [reply] = chat.photo(KTP)
    assert "layanannya belum dipilih" in reply and "*2*. Ganti nomor HP" in reply


# ---------------------------------------------------------------------------------------------- 3
def test_thanks_mid_flow_is_answered_and_the_question_repeated(chat):
    chat.say("1")
    reply = chat.last("terima kasih")
    assert "Sama-sama" in reply and "nomor kartu JKN-KIS" in reply and "kesulitan" not in reply


def test_another_service_mid_flow_is_offered_with_one_yes_or_no_and_the_first_kept(app, chat):
    chat.say("1")
    chat.say(CARD)
    offer = chat.last("nomor hp saya hilang, mau ganti")
    assert "Pindah ke layanan *Ganti nomor HP*?" in offer and "*Ubah / perbaiki NIK* disimpan" in offer
    assert "NIK yang benar" in chat.last("tidak")  # stays
    chat.say("nomor hp saya hilang, mau ganti")
    switched = chat.last("ya")
    assert "Ganti nomor HP" in switched and "nomor kartu JKN-KIS" in switched
    assert state(app)["paused_run"]["flow"] == "change_nik"


def test_menu_inside_a_request_shows_the_menu_and_keeps_the_request(chat):
    chat.say("1")
    chat.say(CARD)
    menu = chat.last("menu")
    assert "*3*. Cek status kepesertaan" in menu and "LANJUT" in menu
    assert "NIK yang benar" in chat.last("lanjut")


def test_a_menu_number_after_menu_starts_that_service_and_offers_the_request_back_when_it_ends(app, chat):
    chat.say("1")
    chat.say(CARD)
    chat.say("menu")
    assert "Ketik *nomor tiket*" in chat.last("6")
    status = chat.last("terakhir")
    assert "tidak ditemukan" in status and "Ubah / perbaiki NIK" in status and "LANJUT" in status
    assert "NIK yang benar" in chat.last("lanjut")


def test_a_ticket_inside_a_sentence_goes_straight_to_its_status(app, chat, twilio):
    to_confirmation(chat)
    chat.say("ya")
    ticket = the_case(app).ticket
    status = chat.last(f"gimana tiket {ticket} saya")
    assert ticket in status and "menunggu diperiksa" in status


def test_a_ticket_inside_a_sentence_mid_flow_answers_and_keeps_the_request(app, chat):
    to_confirmation(chat)
    chat.say("ya")
    ticket = the_case(app).ticket
    chat.say("2")
    status = chat.last(f"btw tiket {ticket.lower()} gimana ya")
    assert ticket in status and "Ganti nomor HP" in status and "LANJUT" in status
    assert "nomor kartu JKN-KIS" in chat.last("lanjut")


def test_a_card_number_in_the_first_message_fills_the_first_question(chat):
    reply = chat.last(f"mau ganti nik, no kartu saya {CARD[:4]} {CARD[4:8]} {CARD[8:]}")
    assert "Ubah / perbaiki NIK" in reply and "NIK yang benar" in reply and "Siapkan" not in reply


def test_something_we_do_not_serve_mid_flow_is_said_and_the_question_repeated(chat):
    chat.say("1")
    reply = chat.last("mau daftar bpjs baru")
    assert "belum bisa kami layani" in reply and "nomor kartu JKN-KIS" in reply


# ---------------------------------------------------------------------------------------------- 4
def test_waiting_for_an_officer_the_bot_still_answers_menu_and_batal(app, chat):
    handoff = chat.last("petugas")
    assert "teruskan ke petugas" in handoff
    assert "Kantor tutup" in handoff or "hari ini" in handoff
    waiting = chat.last("halo? ada orang?")
    assert "sudah kami terima" in waiting and "*batal*" in waiting
    menu = chat.last("menu")
    assert "tetap tercatat" in menu and "*1*. Ubah / perbaiki NIK" in menu
    chat.say("petugas")
    assert "dibatalkan" in chat.last("batal")
    handoffs = [c for c in cases(app) if c.service == "handoff"]
    assert [c.status for c in handoffs] == [CaseStatus.CLOSED]  # withdrawn before anyone took it


# ---------------------------------------------------------------------------------------------- 7, 8
def test_the_member_name_is_masked_by_the_one_rule(app, chat):
    reply = to_confirmation(chat)
    assert f"({mask_name('Sari Wulandari')})" in reply and "Sari" not in reply


@pytest.mark.parametrize("sentence", [
    "sy dimintai uang sm calo katanya bs aktifin kis",
    "di puskesmas diminta bayar 200rb padahal pake bpjs",
    "ditolak rumah sakit katanya kartu tidak aktif",
])
def test_complaint_words_win_over_the_service_they_mention(chat, sentence):
    reply = chat.last(sentence)
    assert "Pengaduan layanan" in reply and "Apa yang ingin Anda adukan" in reply


def test_ubah_data_offers_every_data_change_service_with_letters(chat):
    offer = chat.last("mau ubah data bpjs")
    assert "*A*. Ubah / perbaiki NIK" in offer and "*B*. Ganti nomor HP" in offer and "*1*." not in offer
    started = chat.last("b")
    assert "Ganti nomor HP" in started and "nomor kartu JKN-KIS" in started


def test_a_menu_number_after_the_letters_is_still_the_menu(chat):
    chat.say("mau ubah data bpjs")
    assert "Cek status kepesertaan" in chat.last("3")


def test_a_complaint_asks_who_and_when_and_both_reach_the_case(app, chat):
    chat.say("pengaduan")
    who = chat.last("2")
    assert "peserta yang dirugikan" in who and "lewati" in who
    assert "Kapan" in chat.last(NIK)
    assert "nama faskes" in chat.last("kemarin")
    chat.say("RSUD Kota")
    chat.say("Disuruh bayar obat 300 ribu padahal pakai BPJS")
    summary = chat.last("lewati")
    assert NIK in summary and "Tanggal kejadian" in summary and "Foto bukti: —" in summary
    chat.say("ya")
    case = the_case(app)
    assert case.fields["participant"] == NIK and case.fields["event_date"]


# ---------------------------------------------------------------------------------------------- 5
def test_change_nik_for_a_card_no_registry_knows_is_answered_at_once(chat):
    chat.say("1")
    chat.say("0009999999999")
    reply = chat.last(NIK)
    assert "tidak kami temukan" in reply and "nomor kartu JKN-KIS" in reply


def test_change_nik_to_the_nik_already_registered_is_answered_at_once(app, chat):
    member = participant(app, card_number=CARD)
    chat.say("1")
    chat.say(CARD)
    reply = chat.last(member.nik)
    assert "sudah sama" in reply and "NIK yang benar" in reply


def test_change_phone_to_the_number_already_registered_is_answered_at_once(app, chat):
    member = participant(app, card_number=CARD)
    for answer in ("2", CARD, NIK):
        chat.say(answer)
    reply = chat.last("0" + member.phone[3:])
    assert "sudah tercatat" in reply and "nomor HP baru" in reply


def test_the_reactivation_summary_lists_every_document_sent(app, chat):
    member = participant(app, active=False, inactive_reason="decree", decree_number="188/HUK/2022")
    chat.say("4")
    chat.say(member.card_number)
    chat.say(member.birth_date.strftime("%d-%m-%Y"))
    for seed in range(21, 26):
        last = chat.photo(document_photo(seed=seed))
    summary = last[0]
    for label in ("Foto kartu KIS: ✅", "Foto KTP: ✅", "Foto KK: ✅", "Surat Dinas Sosial: ✅", "SKTM: ✅"):
        assert label in summary


# ---------------------------------------------------------------------------------------------- 6
def test_every_question_fits_a_phone_screen():
    flows = load_flows(catalog())
    product = load_product("config.yml")
    run = {"values": {"sender_option": "Atau balas *1* untuk memakai nomor WhatsApp ini (+62*******7890).",
                      "member_name": "S*** W********"}, "docs": {}, "path": []}
    for flow in flows.values():
        for step in flow.steps.values():
            if step.type in ("text", "photo", "choice"):
                asked, *options = prompt(product, flow, step, run).split("\n*1*")
                assert phone_lines(asked) <= 6, (flow.id, step.id, asked)
                assert all(phone_lines(line) == 1 for line in "".join(options).split("\n")), (flow.id, step.id)
    for item in product.menu:  # choosing a service: what to prepare (said once, briefly) and the first question
        start = product.text("service_selected", title=item.title) + " " + item.intro
        first = flows[item.id].step(flows[item.id].start)
        asked = prompt(product, flows[item.id], first, run).split("\n*1*")[0]
        assert phone_lines(start.strip() + "\n\n" + asked) <= 7, item.id


# ---------------------------------------------------------------------------------------------- found by a hostile tester
def test_a_failed_check_on_a_changed_answer_asks_it_again_and_keeps_the_photos(app, chat):
    member = participant(app, active=False, inactive_reason="decree", decree_number="188/HUK/2022")
    for answer in ("4", member.card_number, member.birth_date.strftime("%d-%m-%Y")):
        chat.say(answer)
    for seed in range(31, 36):
        chat.photo(document_photo(seed=seed))
    chat.last("1")
    again = chat.last("0009999999999")
    assert "tidak ditemukan" in again and "nomor kartu KIS" in again  # asked again, not ended
    summary = chat.last(member.card_number)
    assert "SKTM: ✅" in summary and "Foto KTP: ✅" in summary
    chat.say("ya")
    assert len(the_case(app).documents) == 5


@pytest.mark.parametrize("after_menu", ["halo", "terima kasih", "ok"])
def test_a_request_kept_by_menu_survives_small_talk_and_lanjut_ya_resumes_it(chat, after_menu):
    for answer in ("1", CARD, NIK):
        chat.say(answer)
    chat.photo(KTP)
    chat.say("menu")
    assert "LANJUT" in chat.last(after_menu)  # still kept, and said so
    assert "Kartu Keluarga" in chat.last("Lanjut ya")


def test_choosing_the_kept_service_again_resumes_it(chat):
    chat.say("1")
    chat.say(CARD)
    chat.say("menu")
    assert "NIK yang benar" in chat.last("1")


def test_two_requests_put_aside_are_both_offered_back_in_turn(app, chat):
    chat.say("1")
    chat.say(CARD)
    chat.say("saya mau cek status kartu")
    chat.say("ya")  # change NIK put aside
    chat.say("menu")  # check status put aside too
    assert "Ketik *nomor kartu JKN-KIS*" in chat.last("lanjut")
    chat.say("0009999999999")
    ended = chat.last("01-01-1970")
    assert "tidak ditemukan" in ended and "Ubah / perbaiki NIK" in ended and "LANJUT" in ended
    assert "NIK yang benar" in chat.last("lanjut")


@pytest.mark.parametrize("typed", ["gimana tiket {t} saya", "{t}.", "*{t}*", "tiket terakhir dong"])
def test_the_ticket_question_takes_a_ticket_however_it_is_typed(app, chat, typed):
    to_confirmation(chat)
    chat.say("ya")
    ticket = the_case(app).ticket
    chat.say("tiket")
    status = chat.last(typed.format(t=ticket))
    assert ticket in status and "menunggu diperiksa" in status


def test_a_phone_number_in_the_first_message_is_not_taken_as_a_card_number(chat):
    reply = chat.last("mau ganti nomor hp saya jadi 0812 3456 78901")
    assert "Ganti nomor HP" in reply and "nomor kartu JKN-KIS" in reply


def test_naming_the_family_card_changes_the_kk_photo(chat):
    to_confirmation(chat)
    assert "ubah *Foto KK*" in chat.last("foto kartu keluarga nya buram")


def test_an_answer_to_the_question_after_a_switch_offer_is_taken_as_that_answer(app, chat):
    chat.say("5")
    chat.say("saya mau cek status kartu")
    assert "peserta yang dirugikan" in chat.last("1")  # category 1, not "yes, switch"
    assert "Ubah" not in str(state(app).get("paused_run"))


def test_tidak_tahu_skips_an_optional_question(chat):
    chat.say("5")
    chat.say("1")
    assert "Kapan" in chat.last("tidak tahu")


def test_a_voice_note_at_the_confirmation_is_named(chat):
    to_confirmation(chat)
    [reply] = chat.send("", [VOICE])
    assert "pesan suara" in reply and "Mohon periksa" in reply


def test_menu_while_waiting_for_an_officer_in_a_request_shows_the_menu(chat):
    chat.say("1")
    chat.say("petugas")
    reply = chat.last("menu")
    assert "tetap tercatat" in reply and "*2*. Ganti nomor HP" in reply and "LANJUT" in reply


def test_after_batal_at_the_confirmation_a_number_is_yes_or_no(app, chat):
    to_confirmation(chat)
    chat.say("batal")
    assert "Mohon periksa" in chat.last("2")  # "no, do not cancel": the confirmation again
    assert cases(app) == []


def test_ya_after_everything_is_done_is_not_misunderstood(chat):
    to_confirmation(chat)
    chat.say("ya")
    reply = chat.last("ya")
    assert "belum memahami" not in reply and "menu" in reply


def test_a_photo_already_sent_is_refused_when_changing_another(chat):
    to_confirmation(chat)
    chat.say("3")
    [reply] = chat.photo(KK)  # the KK photo again, as the new KTP
    assert "sama dengan" in reply and "foto KTP" in reply
