"""What officers read for the words the code uses: case statuses, history events, audit actions,
decisions and the values a flow collected. One place, so the console, the API's messages and the
exports say the same thing."""
from __future__ import annotations

from storage.cases import CaseStatus

STATUS_LABELS = {
    CaseStatus.SUBMITTED: "Baru", CaseStatus.IN_REVIEW: "Diperiksa", CaseStatus.NEED_INFO: "Perlu data",
    CaseStatus.APPROVED: "Disetujui", CaseStatus.REJECTED: "Ditolak", CaseStatus.CLOSED: "Selesai",
}

DECISION_LABELS = {"approve": "Setujui", "reject": "Tolak", "need_info": "Minta data tambahan"}

EVENT_LABELS = {  # storage.cases.CaseEvent.kind
    "created": "Kasus dibuat", "queued": "Masuk antrean", "claimed": "Diambil petugas",
    "released": "Dilepas ke antrean", "reassigned": "Dialihkan", "transferred": "Dipindahkan ke kantor cabang lain", "approve": "Disetujui", "reject": "Ditolak",
    "need_info": "Data tambahan diminta", "updated": "Warga mengirim data tambahan",
    "need_info_abandoned": "Warga tidak melanjutkan permintaan data", "returned": "Dikembalikan ke petugas penanya",
    "closed": "Ditutup", "handoff": "Petugas mengambil alih percakapan", "handback": "Percakapan dikembalikan ke bot",
    "withdrawn": "Dibatalkan warga", "notified": "Warga diberi tahu", "erased": "Data pribadi dihapus",
    "registry_updated": "Data kepesertaan diperbarui",
}

AUDIT_LABELS = {  # storage.staff.AuditLog.action
    "view_case": "Melihat kasus", "view_document": "Melihat dokumen", "claim": "Mengambil kasus",
    "release": "Melepas kasus", "reassign": "Mengalihkan kasus", "transfer": "Memindahkan kasus ke kantor cabang lain", "decide": "Memutuskan", "close": "Menutup kasus",
    "message": "Mengirim pesan", "take_over": "Mengambil alih percakapan", "hand_back": "Mengembalikan ke bot",
    "search": "Mencari kasus", "canned_reply": "Mengubah balasan cepat", "login": "Masuk",
    "login_failed": "Gagal masuk", "login_throttled": "Masuk ditahan (terlalu sering)",
    "login_locked": "Akun dikunci", "logout": "Keluar", "password_change": "Mengganti kata sandi",
    "password_change_failed": "Gagal mengganti kata sandi", "password_change_throttled": "Ganti sandi ditahan",
    "password_reset": "Mengatur ulang kata sandi", "unlock": "Membuka kunci akun", "activate": "Mengaktifkan petugas",
    "deactivate": "Menonaktifkan petugas", "revoke_tokens": "Mencabut token", "new_token": "Membuat token",
    "create_staff": "Membuat akun petugas", "export_citizen": "Mengekspor data warga",
    "config_draft": "Menyimpan draf", "config_publish": "Menerbitkan", "config_rollback": "Mengembalikan versi",
    "nlu_view": "Melihat pesan yang tidak dipahami", "nlu_label": "Memberi label pesan",
    "nlu_undo": "Membatalkan label pesan", "nlu_train": "Melatih ulang model bahasa",
    "nlu_publish": "Menerbitkan model bahasa", "branch_add": "Menambah kantor cabang",
    "branch_edit": "Mengubah kantor cabang", "staff_branches": "Mengatur kantor cabang petugas",
    "nlu_rollback": "Mengembalikan model bahasa sebelumnya",
    "registry_update": "Mengubah data kepesertaan",
}

# What the bot understood (nlu/domain.yml's intents that are not services: those are named by their menu title).
INTENT_LABELS = {
    "greet": "Salam / sapaan", "thanks": "Terima kasih", "help": "Minta bantuan / menu",
    "human_agent": "Minta bicara dengan petugas", "cancel": "Membatalkan", "affirm": "Ya / setuju",
    "deny": "Bukan / tidak", "out_of_scope": "Di luar layanan", "nlu_fallback": "Tidak dipahami",
}
REVIEW_REASON_LABELS = {  # storage.nlu.ReviewReason
    "not_understood": "Tidak dipahami", "ambiguous": "Ragu antara dua layanan",
    "unsure": "Kurang yakin", "corrected": "Dikoreksi warga",
}
REVIEW_STATUS_LABELS = {  # storage.nlu.ReviewStatus
    "open": "Perlu ditinjau", "labelled": "Diberi label", "out_of_scope": "Di luar layanan", "dismissed": "Diabaikan",
}
MODEL_STATUS_LABELS = {  # storage.nlu.ModelStatus
    "queued": "Menunggu", "training": "Dilatih", "evaluating": "Diuji", "ready": "Siap diterbitkan",
    "worse": "Lebih buruk — tidak diterbitkan", "failed": "Gagal", "published": "Berlaku", "retired": "Pernah berlaku",
}
MODEL_ERRORS = {  # nlu.trainer.TrainingError codes, and why a retraining or a model load failed
    "missing_tools": "program Rasa atau data uji tidak ada di server ini",
    "no_baseline": "tidak ada model pembanding (model bawaan NLU_MODEL atau berkas model yang berlaku tidak ada)",
    "timeout": "melewati batas waktu pelatihan (NLU_TRAIN_TIMEOUT)",
    "training_failed": "program pelatihan Rasa berhenti dengan galat (lihat log server)",
    "evaluation_failed": "pengujian model berhenti dengan galat (lihat log server)",
    "disk": "berkas model tidak bisa ditulis (disk penuh atau izin)",
    "stale": "tidak ada pekerja pelatihan yang menyelesaikannya (proses trainer tidak berjalan?)",
    "unexpected": "galat tak terduga (lihat log server)",
    "server_down": "server NLU tidak menjawab",
    "load_timeout": "server NLU terlalu lama memuat model",
    "load_refused": "server NLU menolak model ini",
    "model_missing": "berkas model tidak ditemukan",
}


def model_error(code: str | None) -> str:
    return MODEL_ERRORS.get(code or "", code or "")

CHANNEL_LABELS = {"console": "konsol", "api": "API", "cli": "baris perintah"}

ACTORS = {"system": "sistem", "citizen": "warga"}


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def event_label(kind: str) -> str:
    return EVENT_LABELS.get(kind, kind.replace("_", " "))


def audit_label(action: str) -> str:
    return AUDIT_LABELS.get(action, action.replace("_", " "))


def actor_label(actor: str) -> str:
    return ACTORS.get(actor, actor)


def value_label(value) -> str:
    """A collected value as an officer reads it: yes/no in words, lists joined."""
    if value is True:
        return "Ya"
    if value is False:
        return "Tidak"
    if value is None or value == "":
        return "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(value_label(v) for v in value)
    return str(value)

HTTP_ERRORS = {  # what an HTTP error status says to staff and API clients
    400: "permintaan tidak valid", 401: "harus masuk dulu", 403: "Anda tidak berhak melakukan ini",
    404: "tidak ditemukan", 405: "metode tidak diizinkan", 409: "bentrok dengan perubahan lain",
    413: "kiriman terlalu besar", 415: "jenis isi tidak didukung", 429: "terlalu banyak permintaan; coba lagi sebentar lagi",
    500: "terjadi kesalahan di server", 503: "layanan sedang tidak tersedia",
}


def http_error(code: int) -> str:
    return HTTP_ERRORS.get(code, f"kesalahan {code}")

ROLE_LABELS = {"agent": "petugas", "supervisor": "supervisor", "admin": "admin"}  # storage.staff.Role


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role)
