"""What an admin reads in the flow editor for the names a flow definition uses: step types, fields,
validators, action handlers and their outcomes, in plain Indonesian. Names without a label here are
shown as they are written (the tests keep every name of the catalog labelled)."""
from __future__ import annotations

STEP_TYPE_LABELS = {
    "text": "Pertanyaan teks",
    "choice": "Pilihan",
    "photo": "Minta foto/dokumen",
    "confirm": "Konfirmasi ya/tidak",
    "action": "Tindakan",
    "message": "Pesan",
}
END_LABEL = "Selesai"  # a message with nowhere to go ends the conversation's service

# field -> (label, hint)
FIELD_LABELS = {
    "title": ("Judul layanan", "nama layanan di menu dan di pesan bot"),
    "ask": ("Pertanyaan", "dikirim ke peserta saat langkah ini dimulai"),
    "text": ("Isi pesan", "dikirim ke peserta; lalu alur lanjut sendiri"),
    "summary": ("Kalimat pembuka ringkasan", "di atas daftar jawaban yang diminta untuk diperiksa"),
    "received": ("Balasan setelah foto diterima", "dikirim begitu foto/dokumen diterima"),
    "label": ("Nama jawaban", "cara ringkasan dan petugas menyebut jawaban ini (maks. 40 huruf)"),
    "validator": ("Jawaban yang diterima", "jawaban lain ditolak dengan teks error_… yang sesuai"),
    "document": ("Jenis dokumen", "nama untuk petugas: huruf kecil, angka dan _ (contoh: ktp)"),
    "options": ("Pilihan jawaban", "satu per baris: nilai | judul yang dibaca peserta"),
    "next": ("Lalu ke langkah", "kosong: layanan selesai setelah langkah ini"),
    "on_no": ("Bila dijawab TIDAK, ke langkah", "kosong: peserta ditanya bagian mana yang ingin diubah"),
    "handler": ("Tindakan", "dijalankan sistem, tanpa menunggu peserta"),
    "outcomes": ("Hasil tindakan", "ke langkah mana alur lanjut untuk setiap hasil"),
}

VALIDATOR_LABELS = {
    "card_number": "Nomor kartu JKN-KIS 13 digit",
    "nik": "NIK 16 digit (dicek kode wilayah dan tanggal lahir)",
    "kk": "Nomor KK 16 digit",
    "mobile_phone": "Nomor HP Indonesia (08…)",
    "birth_date": "Tanggal lahir (contoh: 17-08-1965)",
    "card_or_nik": "Nomor kartu 13 digit atau NIK 16 digit",
    "new_phone": "Nomor HP baru, atau 1 untuk nomor WhatsApp ini",
    "ticket_or_last": "Nomor tiket PDW-…, atau kata “terakhir”",
    "event_date": "Tanggal kejadian (paling lama 2 tahun lalu; “kemarin” juga bisa)",
    "short_text": "Teks pendek (3–200 huruf)",
    "long_text": "Teks panjang (10–1.500 huruf)",
    "list_number": "Nomor dari daftar yang ditampilkan (1–99)",
}

HANDLER_LABELS = {
    "identify_member": "Cari peserta dari nomor kartu/NIK dan tanggal lahir",
    "status_outcome": "Tentukan status kartu peserta",
    "assess_reactivation": "Nilai syarat reaktivasi PBI",
    "needs_sktm": "Periksa apakah perlu SKTM",
    "create_case": "Buat tiket permohonan untuk petugas",
    "check_new_nik": "Periksa kartu dan NIK baru",
    "check_new_phone": "Periksa kartu dan nomor HP baru",
    "find_case": "Cari tiket milik peserta",
    "route_branch": "Tentukan kantor cabang (nomor tujuan atau NIK)",
    "choose_branch": "Cari kantor cabang dari kabupaten/kota yang diketik",
    "is_deceased": "Periksa apakah peserta tercatat meninggal",
    "find_deceased": "Cari peserta yang dilaporkan meninggal (nomor kartu/NIK)",
    "family_segment": "Tentukan aturan tambah anggota dari segmen keluarga",
    "check_member_nik": "Periksa NIK anggota baru (hanya bayi boleh tanpa NIK)",
    "family_document": "Tentukan dokumen anggota baru (akta lahir / buku nikah)",
    "assess_faskes_change": "Periksa aturan pindah faskes (kartu aktif, 3 bulan)",
    "list_facilities": "Tampilkan faskes di kabupaten/kota peserta",
    "pick_facility": "Cocokkan nomor pilihan dengan daftar faskes",
    "faskes_pending": "Periksa pindah faskes yang disetujui tapi belum berlaku",
}

OUTCOME_LABELS = {
    "ok": "data cocok", "unknown_card": "kartu tidak ditemukan", "same_value": "sama dengan data tercatat",
    "rate_limited": "terlalu banyak percobaan", "found": "peserta ditemukan", "no_match": "data tidak cocok",
    "active": "kartu aktif", "inactive_pbi": "nonaktif (PBI)", "inactive_arrears": "nonaktif (tunggakan)",
    "inactive_nik": "nonaktif (NIK)", "inactive_other": "nonaktif (lainnya)", "pbpu_arrears": "tunggakan mandiri",
    "within_deadline": "masih dalam batas SK", "needs_sktm": "perlu SKTM", "other_reason": "alasan lain",
    "not_pbi": "bukan PBI", "yes": "ya", "no": "tidak", "created": "tiket dibuat", "submitted": "menunggu diperiksa",
    "in_review": "sedang diperiksa", "need_info": "perlu data tambahan", "approved": "disetujui",
    "rejected": "ditolak", "handled": "selesai ditangani", "not_found": "tiket tidak ditemukan",
    "known": "kantor cabang diketahui", "ask": "tanyakan domisili", "chosen": "kantor cabang ditemukan",
    "unmatched": "kantor cabang tidak ditemukan", "skipped": "dilewati",
    "unknown_participant": "peserta tidak ditemukan", "already_deceased": "sudah tercatat meninggal",
    "pbi": "PBI", "ppu": "pekerja (PPU)", "pbpu": "mandiri (PBPU)", "pbpu_subsidised": "mandiri kelas 3",
    "unknown": "segmen tidak dikenal", "nik_required": "NIK wajib diisi", "birth_certificate": "perlu akta lahir",
    "marriage_certificate": "perlu buku nikah", "none": "tanpa dokumen lain", "allowed": "boleh pindah",
    "too_soon": "belum 3 bulan", "pending": "pindah faskes belum berlaku", "inactive": "kartu tidak aktif",
    "listed": "ada daftar faskes", "no_facilities": "tidak ada faskes", "picked": "faskes dipilih",
    "out_of_range": "nomor di luar daftar",
    "default": "hasil lainnya",
}

# The edges that are not an action's outcome: (step type, field) -> what the citizen did.
EDGE_LABELS = {("confirm", "next"): "ya", ("confirm", "on_no"): "tidak", ("choice", "next"): "dipilih"}


def step_type_label(step_type: str, ends: bool = False) -> str:
    if step_type == "message" and ends:
        return f"{STEP_TYPE_LABELS['message']} · {END_LABEL}"
    return STEP_TYPE_LABELS.get(step_type, step_type)


def validator_label(name: str) -> str:
    return VALIDATOR_LABELS.get(name, name)


def handler_label(name: str) -> str:
    return HANDLER_LABELS.get(name, name)


def outcome_label(name: str) -> str:
    return OUTCOME_LABELS.get(str(name), str(name))


def field_label(field: str) -> str:
    return FIELD_LABELS.get(field, (field, ""))[0]


def field_hint(field: str) -> str:
    return FIELD_LABELS.get(field, (field, ""))[1]
