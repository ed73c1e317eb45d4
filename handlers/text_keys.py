"""Which texts the bot needs (config.yml ``texts``) and which {placeholders} each may use: one list, read
by the product's checks, the admins' texts editor and the flows' validation.
"""
from __future__ import annotations

from handlers.inputs import ERROR_CODES

# Small-talk actions a keyword (or the NLU) may pick besides a service.
SMALL_TALK = ("greet", "thanks", "help", "menu", "human_agent", "cancel", "affirm", "deny", "erase_data")
# What a photo can be refused for (handlers.media's problems): each needs a ``photo_<problem>`` text. The
# description says when (the texts page: "Foto ditolak: <description>").
PHOTO_PROBLEM_DESCRIPTIONS = {
    "not_a_photo": "yang dikirim bukan foto, padahal langkah ini hanya menerima foto",
    "not_a_document": "yang dikirim bukan foto atau PDF, padahal langkah ini menerima keduanya",
    "pdf_not_wanted": "peserta mengirim PDF untuk dokumen yang harus berupa foto",
    "unsupported_type": "jenis berkasnya tidak bisa diterima",
    "too_large": "berkasnya terlalu besar",
    "unreadable": "berkasnya rusak atau tidak bisa dibuka",
    "too_small": "fotonya terlalu kecil untuk dibaca",
    "too_blurry": "fotonya buram",
    "not_found": "foto tidak bisa diunduh dari WhatsApp (sudah tidak ada)",
    "host_not_allowed": "foto datang dari alamat di luar WhatsApp",
    "download_failed": "unduhan foto gagal (gangguan jaringan)",
    "duplicate": "foto yang sama persis sudah dikirim untuk dokumen lain",
}
PHOTO_PROBLEMS = tuple(PHOTO_PROBLEM_DESCRIPTIONS)

# What a message that is not text can be (flows.router.media_kind): each needs a ``media_<kind>`` text.
MEDIA_DESCRIPTIONS = {
    "voice": "pesan suara", "video": "video", "sticker": "stiker", "location": "lokasi", "contact": "kontak",
    "document": "dokumen", "photo": "foto", "other": "pesan lain yang bukan teks",
}
MEDIA_KINDS = tuple(MEDIA_DESCRIPTIONS)

REQUIRED_TEXTS = (
    "greeting", "menu_intro", "menu_footer", "body_too_long", "nlu_unavailable",
    "fallback", "nothing_pending", "ambiguous", "confirm_service", "misunderstood", "data_change_offer", "service_selected", "thanks", "cancelled", "not_cancelled",
    "which_to_change", "edit_field", "text_optional_hint", "thanks_in_flow", "greet_in_flow", "out_of_scope_in_flow",
    "kept_for_later",
    "switch_offer", "officer_soon", "officer_later", "officer_waiting", "officer_request_withdrawn",
    "officer_request_kept", "photo_before_service", *(f"media_{kind}" for kind in MEDIA_KINDS),
    "cancel_confirm", "confirm_hint", "photo_optional_hint", "too_many_failures", "help_in_flow", "handoff_started",
    "extra_photos_ignored", "photo_duplicate", "resume_offer", "resumed", "promise_open",
    "promise_closed", "promise_due", "promise_late", "reminder", "decision_approved", "decision_rejected",
    "decision_need_info", "decision_approved_complaint", "decision_rejected_complaint", "decision_approved_erasure",
    "need_info_received", "handback", "survey_question", "survey_comment", "survey_thanks", "message_failed",
    "flow_changed", "use_sender_number", "error_choice", "error_confirm", "error_photo_expected",
    "erasure_requested",
    "case_update_approved", "case_update_approved_complaint", "case_update_rejected", "case_update_rejected_complaint",
    "case_update_need_info", "case_update_message", "case_update_handback", "case_update_transferred",
    "case_transferred", "branch_contact", "office_default", "office_contact_default",
    "nik_mismatch", "nik_mismatch_kept", "nik_from_photo", "nik_not_read",
    "error_nik_mismatch",
    "death_note_pbpu", "death_note_ppu", "death_note_pbi", "family_note_pbi", "family_note_ppu", "family_note_pbpu",
    *(f"photo_{problem}" for problem in PHOTO_PROBLEMS),
    *sorted({f"error_{code}" for codes in ERROR_CODES.values() for code in codes}),
)

# The placeholders the bot fills in each text; every other text is sent as written.
TEXT_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "greeting": frozenset({"name"}),
    "edit_field": frozenset({"field"}),
    "kept_for_later": frozenset({"title"}),
    "switch_offer": frozenset({"title", "current"}),
    "handoff_started": frozenset({"promise"}),
    "officer_later": frozenset({"day", "time", "zone"}),
    "officer_waiting": frozenset({"promise"}),
    "officer_request_kept": frozenset({"promise"}),
    "service_selected": frozenset({"title"}),
    "confirm_service": frozenset({"title"}),
    "cancel_confirm": frozenset({"title"}),
    "resume_offer": frozenset({"title"}),
    "reminder": frozenset({"title"}),
    "flow_changed": frozenset({"title"}),
    "use_sender_number": frozenset({"masked"}),
    "promise_open": frozenset({"hours"}),
    "promise_closed": frozenset({"day", "time", "zone"}),
    "promise_due": frozenset({"due"}),
    "decision_approved": frozenset({"title", "ticket", "note"}),
    "decision_rejected": frozenset({"title", "ticket", "note", "reason"}),
    "decision_need_info": frozenset({"title", "ticket", "note"}),
    "need_info_received": frozenset({"ticket"}),
    "nik_mismatch": frozenset({"nik_read", "nik_typed"}),
    "nik_mismatch_kept": frozenset({"nik"}),
    "nik_from_photo": frozenset({"nik"}),
    # What an approval changed (handlers.approvals): the services' own decision texts tell more.
    "decision_approved_report_death": frozenset({"title", "ticket", "note", "death_date", "segment_note"}),
    "decision_approved_add_family_member": frozenset({"title", "ticket", "note", "segment_note"}),
    "decision_approved_change_faskes": frozenset({"title", "ticket", "note", "new_faskes", "valid_from"}),
    "death_note_pbpu": frozenset({"billing_from"}),
    "family_note_pbpu": frozenset({"fee"}),
    "survey_question": frozenset({"ticket"}),
    "erasure_requested": frozenset({"ticket"}),
    "case_transferred": frozenset({"ticket", "branch"}),
    "branch_contact": frozenset({"branch", "contact"}),
}
# Texts a service may have its own words for: ``<text>_<service>`` (decision_approved_complaint) is used for
# that service's cases instead of ``<text>``, with the same placeholders (``handlers.texts.service_key``).
PER_SERVICE_TEXTS = ("decision_approved", "decision_rejected", "decision_need_info",
                     "case_update_approved", "case_update_rejected", "case_update_need_info")
# ``case_update_<status>``: the {status} word of the case_update WhatsApp template (one line, no placeholders).
TEMPLATE_WORDS = "case_update_"


def text_placeholders(key: str) -> frozenset[str]:
    if key in TEXT_PLACEHOLDERS:
        return TEXT_PLACEHOLDERS[key]
    base = next((base for base in PER_SERVICE_TEXTS if key.startswith(base + "_")), key)
    return TEXT_PLACEHOLDERS.get(base, frozenset())


def known_text(key: str) -> bool:
    """A text the bot reads: a required one, or a service's own words for one (``decision_approved_complaint``)."""
    return key in REQUIRED_TEXTS or any(key.startswith(base + "_") for base in PER_SERVICE_TEXTS)


def media_text(kind: str | None) -> str:
    """The text naming what a message that is not text was: ``media_<kind>``, else ``media_other``."""
    return f"media_{kind}" if kind in MEDIA_KINDS else "media_other"


# When each text is sent, in the admins' words: the texts page shows it next to the key.
TEXT_DESCRIPTIONS: dict[str, str] = {
    "greeting": "Pesan pertama kepada peserta yang menyapa atau baru pertama menulis; {name} diisi nama WhatsApp-nya.",
    "menu_intro": "Kalimat di atas daftar layanan bernomor (menu).",
    "menu_footer": "Kalimat di bawah daftar layanan (menu).",
    "body_too_long": "Peserta mengirim pesan yang lebih panjang dari batas; pesannya tidak diproses.",
    "nlu_unavailable": "Mesin pemahaman bahasa sedang tidak menjawab; menu dikirim sesudahnya.",
    "fallback": "Bot tidak memahami pesan peserta di luar layanan; menu dikirim sesudahnya.",
    "nothing_pending": "Peserta menjawab YA/TIDAK padahal tidak ada yang sedang ditanyakan.",
    "ambiguous": "Pesan peserta cocok dengan dua layanan; bot menanyakan yang mana (pilihan huruf).",
    "confirm_service": "Bot kurang yakin layanan mana yang dimaksud; ia menanyakannya dulu ({title}: layanan itu).",
    "misunderstood": "Peserta menjawab BUKAN atas layanan yang ditebak bot; menu dikirim sesudahnya.",
    "data_change_offer": "Peserta ingin mengubah data tanpa menyebut data apa; bot menawarkan pilihannya.",
    "service_selected": "Peserta baru memilih layanan; dikirim sebelum pertanyaan pertamanya.",
    "thanks": "Peserta berterima kasih di luar layanan.",
    "cancelled": "Peserta membatalkan permohonan yang sedang diisi (setelah menjawab YA).",
    "not_cancelled": "Peserta menjawab TIDAK saat ditanya yakin membatalkan; pertanyaan terakhir diulang.",
    "which_to_change": "Peserta menjawab TIDAK pada ringkasan; bot menanyakan bagian mana yang salah.",
    "edit_field": "Peserta memilih bagian ringkasan yang ingin diubah; pertanyaannya diulang.",
    "text_optional_hint": "Ditambahkan di bawah pertanyaan teks yang boleh dilewati.",
    "thanks_in_flow": "Peserta berterima kasih di tengah layanan; pertanyaan terakhir diulang.",
    "greet_in_flow": "Peserta menyapa di tengah layanan; pertanyaan terakhir diulang.",
    "out_of_scope_in_flow": "Peserta menanyakan hal di luar layanan WhatsApp ini di tengah layanan.",
    "kept_for_later": "Peserta pindah ke menu atau layanan lain; permohonan yang belum selesai disimpan.",
    "switch_offer": "Peserta menyebut layanan lain di tengah layanan; bot menawarkan pindah.",
    "officer_soon": "Janji kapan petugas membalas, pada jam kerja.",
    "officer_later": "Janji kapan petugas membalas, di luar jam kerja (hari dan jam buka berikutnya).",
    "officer_waiting": "Peserta menulis lagi selagi menunggu petugas.",
    "officer_request_withdrawn": "Peserta membatalkan permintaan bicara dengan petugas.",
    "officer_request_kept": "Peserta menjawab TIDAK saat ditanya membatalkan permintaan bicara dengan petugas.",
    "photo_before_service": "Peserta mengirim foto sebelum memilih layanan.",
    "cancel_confirm": "Peserta mengetik batal di tengah layanan; bot meminta kepastian (YA/TIDAK).",
    "confirm_hint": "Di bawah ringkasan jawaban: cara membenarkan atau mengubah.",
    "photo_optional_hint": "Ditambahkan di bawah permintaan foto yang boleh dilewati.",
    "too_many_failures": "Peserta beberapa kali berturut-turut salah menjawab pertanyaan yang sama.",
    "help_in_flow": "Peserta minta bantuan di tengah layanan; pertanyaan terakhir diulang.",
    "handoff_started": "Peserta minta bicara dengan petugas; percakapan diteruskan ke petugas.",
    "extra_photos_ignored": "Peserta mengirim lebih banyak foto daripada yang diminta.",
    "photo_duplicate": "Peserta mengirim foto yang sama persis dengan foto yang sudah dikirim.",
    "resume_offer": "Peserta kembali dengan permohonan yang belum selesai; bot menawarkan untuk melanjutkan.",
    "resumed": "Peserta membalas LANJUT; pertanyaan terakhir diulang.",
    "promise_open": "Janji waktu pemeriksaan tiket, pada jam kerja ({hours} jam kerja).",
    "promise_closed": "Janji waktu pemeriksaan tiket, di luar jam kerja (hari dan jam buka berikutnya).",
    "promise_due": "Batas waktu kabar dari petugas, saat peserta menanyakan tiketnya.",
    "promise_late": "Tiket sudah melewati waktu yang dijanjikan, saat peserta menanyakannya.",
    "reminder": "Pengingat bila peserta lama tidak menjawab di tengah layanan.",
    "decision_approved": "Petugas menyetujui permohonan.",
    "decision_rejected": "Petugas menolak permohonan; {reason} diisi alasan yang dipilih petugas.",
    "decision_need_info": "Petugas meminta data atau dokumen tambahan untuk tiket.",
    "decision_approved_complaint": "Petugas menyelesaikan pengaduan (pengganti decision_approved untuk pengaduan).",
    "decision_rejected_complaint": "Petugas menolak pengaduan (pengganti decision_rejected untuk pengaduan).",
    "decision_approved_erasure": "Petugas menyetujui permintaan hapus data pribadi; pesan terakhir sebelum data dihapus.",
    "need_info_received": "Peserta sudah mengirim data tambahan yang diminta petugas.",
    "handback": "Petugas mengembalikan percakapan ke bot.",
    "case_transferred": "Petugas memindahkan tiket ke kantor cabang lain; {branch} diisi nama kantor cabang itu.",
    "branch_contact": "Ditambahkan di bawah case_transferred bila kantor cabang tujuan punya baris kontak.",
    "office_default": "Pengisi {office} di teks layanan bila warga menulis ke nomor bersama, bukan nomor kantor cabang.",
    "office_contact_default": "Pengisi {office_contact} di teks layanan bila kantor cabang warga tidak punya baris kontak.",
    "nik_mismatch": "NIK yang terbaca dari foto KTP/KK berbeda dengan yang diketik peserta; peserta memilih yang benar (1/2).",
    "nik_mismatch_kept": "Peserta sudah memilih NIK yang benar setelah NIK di foto berbeda.",
    "nik_from_photo": "Peserta mengirim foto KTP saat diminta mengetik NIK; NIK diisi dari foto.",
    "nik_not_read": "Peserta mengirim foto KTP saat diminta mengetik NIK, tetapi NIK-nya tidak terbaca pasti; diminta mengetik.",
    "error_nik_mismatch": "Jawaban pilihan NIK (foto atau ketikan) bukan 1 atau 2.",
    "death_note_pbpu": ("Laporan meninggal peserta Mandiri disetujui: isi {segment_note} pesan keputusannya; "
                        "{billing_from} diisi bulan setelah meninggal, saat iurannya berhenti ditagih."),
    "death_note_ppu": "Laporan meninggal peserta pekerja (PPU) disetujui: isi {segment_note} pesan keputusannya.",
    "death_note_pbi": "Laporan meninggal peserta PBI disetujui: isi {segment_note} pesan keputusannya.",
    "family_note_pbi": "Tambah anggota keluarga PBI disetujui: isi {segment_note} pesan keputusannya (lewat Dinas Sosial).",
    "family_note_ppu": ("Tambah anggota keluarga pekerja (PPU) disetujui: isi {segment_note} pesan keputusannya "
                        "(lewat pemberi kerja)."),
    "family_note_pbpu": ("Tambah anggota keluarga Mandiri disetujui: isi {segment_note} pesan keputusannya; {fee} diisi "
                         "iuran per bulan anggota baru."),
    "survey_question": "Setelah tiket selesai: pertanyaan penilaian layanan (1–4).",
    "survey_comment": "Peserta sudah memberi nilai; bot meminta saran.",
    "survey_thanks": "Peserta sudah memberi saran atau melewatinya.",
    "message_failed": "Pesan peserta gagal diproses karena gangguan sistem.",
    "flow_changed": "Layanan diubah admin selagi peserta mengisinya; permohonan diulang dari awal.",
    "use_sender_number": "Ditambahkan di bawah pertanyaan nomor HP baru: tawaran memakai nomor WhatsApp ini.",
    "error_choice": "Jawaban pertanyaan pilihan bukan angka atau judul pilihan yang ada.",
    "error_confirm": "Jawaban ringkasan bukan YA, TIDAK, atau angka bagian.",
    "error_photo_expected": "Peserta mengirim teks padahal bot menunggu foto.",
    "erasure_requested": "Peserta meminta data pribadinya dihapus; tiket dibuat.",
    "case_update_approved": "Kata {status} templat WhatsApp (di luar jendela 24 jam): permohonan disetujui.",
    "case_update_approved_complaint": "Kata {status} templat WhatsApp (di luar jendela 24 jam): pengaduan selesai.",
    "case_update_rejected": "Kata {status} templat WhatsApp (di luar jendela 24 jam): permohonan ditolak.",
    "case_update_rejected_complaint": "Kata {status} templat WhatsApp (di luar jendela 24 jam): pengaduan ditolak.",
    "case_update_need_info": "Kata {status} templat WhatsApp (di luar jendela 24 jam): perlu data tambahan.",
    "case_update_message": "Kata {status} templat WhatsApp (di luar jendela 24 jam): petugas mengirim pesan.",
    "case_update_handback": "Kata {status} templat WhatsApp (di luar jendela 24 jam): percakapan petugas selesai.",
    "case_update_transferred": "Kata {status} templat WhatsApp (di luar jendela 24 jam): tiket dipindahkan ke kantor cabang lain.",
}

# ``error_<code>``: an answer a validator refused (handlers.validators' codes).
ERROR_DESCRIPTIONS = {
    "card_length": "nomor kartu tidak 13 angka", "card_digits": "nomor kartu berisi selain angka",
    "card_or_nik": "bukan nomor kartu (13 angka) dan bukan NIK (16 angka)",
    "nik_length": "NIK tidak 16 angka", "nik_digits": "NIK berisi selain angka",
    "nik_region": "kode wilayah NIK tidak dikenal", "nik_date": "tanggal lahir di dalam NIK tidak mungkin",
    "nik_sequence": "empat angka terakhir NIK 0000", "kk_length": "nomor KK tidak 16 angka",
    "kk_digits": "nomor KK berisi selain angka", "kk_region": "kode wilayah nomor KK tidak dikenal",
    "kk_sequence": "empat angka terakhir nomor KK 0000", "phone_invalid": "nomor HP tidak valid",
    "phone_not_mobile": "nomor bukan nomor HP Indonesia", "date_invalid": "tanggal tidak terbaca",
    "date_future": "tanggal setelah hari ini", "event_too_old": "kejadian lebih dari 2 tahun lalu",
    "list_number": "bukan angka dari daftar",
    "ticket_invalid": "bukan nomor tiket PDW-…", "text_too_short": "jawaban terlalu singkat",
    "text_too_long": "jawaban terlalu panjang",
}


def text_description(key: str) -> str:
    """When the bot sends this text, in the admins' words ("" for a text it does not know)."""
    if key in TEXT_DESCRIPTIONS:
        return TEXT_DESCRIPTIONS[key]
    prefix, _, rest = key.partition("_")
    if prefix == "media" and rest in MEDIA_DESCRIPTIONS:
        return (f"Peserta mengirim {MEDIA_DESCRIPTIONS[rest]} padahal bot menunggu teks (atau layanan belum "
                "dipilih); pertanyaan terakhir diulang sesudahnya.")
    if prefix == "photo" and rest in PHOTO_PROBLEM_DESCRIPTIONS:
        return f"Foto ditolak: {PHOTO_PROBLEM_DESCRIPTIONS[rest]}. Peserta diminta mengirim ulang."
    if prefix == "error" and rest in ERROR_DESCRIPTIONS:
        return f"Jawaban ditolak: {ERROR_DESCRIPTIONS[rest]}. Pertanyaannya diulang."
    base = next((base for base in PER_SERVICE_TEXTS if key.startswith(base + "_")), None)
    if base is not None and base in TEXT_DESCRIPTIONS:
        return f"{TEXT_DESCRIPTIONS[base]} Khusus layanan {key[len(base) + 1:]}."
    return ""
