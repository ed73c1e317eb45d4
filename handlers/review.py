"""What an officer needs beside a case to decide it: the participant as the registry knows them, with
what the citizen typed that differs highlighted, and the case's documents labelled so that a document
sent again after a request for more information is told apart from the first one."""
from __future__ import annotations

import re
from dataclasses import dataclass

from handlers.registry import Member, MembershipRegistry
from handlers.validators import CARD_DIGITS, NIK_DIGITS
from storage.membership import InactiveReason, Segment

SEGMENT_LABELS = {  # what officers call storage.membership.Segment (citizens read the flows' own segment_* texts)
    Segment.PBI_APBN: "PBI APBN (iuran dibayar pemerintah pusat)",
    Segment.PBI_APBD: "PBI APBD (iuran dibayar pemerintah daerah)",
    Segment.PPU: "Pekerja Penerima Upah (PPU)", Segment.PBPU: "Mandiri / PBPU",
}
INACTIVE_LABELS = {
    InactiveReason.DECREE: "dinonaktifkan SK Mensos", InactiveReason.ARREARS: "menunggak iuran",
    InactiveReason.NIK_INVALID: "NIK belum padan Dukcapil", InactiveReason.DECEASED: "meninggal dunia",
    InactiveReason.OTHER: "alasan lain",
}
# Where a flow keeps a number that names the participant (in this order of trust).
CARD_OR_NIK_FIELDS = ("card_number", "participant", "id_number")
TYPED_NIK_FIELDS = ("nik", "id_number", "participant")
_DIGITS = re.compile(r"\D")


@dataclass(frozen=True)
class Row:
    label: str
    registered: str
    typed: str | None = None  # what the citizen typed for the same thing, when they did
    differs: bool = False


@dataclass(frozen=True)
class RegistryPanel:
    found: bool
    key: str            # what the participant was looked up by, e.g. "Nomor kartu 0001234567890"
    active: bool | None
    rows: tuple[Row, ...] = ()


def _digits(value) -> str:
    return _DIGITS.sub("", str(value or ""))


def find_member(registry: MembershipRegistry, fields: dict) -> tuple[Member | None, str]:
    """The participant a case is about, and the number that found them."""
    for key in CARD_OR_NIK_FIELDS + ("nik",):
        number = _digits(fields.get(key))
        if len(number) == CARD_DIGITS:
            return registry.by_card(number), f"Nomor kartu {number}"
        if len(number) == NIK_DIGITS and key != "nik":
            return registry.by_nik(number), f"NIK {number}"
    return None, ""


def _status(member: Member) -> str:
    if member.active:
        return "Aktif"
    reason = INACTIVE_LABELS.get(member.inactive_reason or "", member.inactive_reason or "")
    return f"Tidak aktif ({reason})" if reason else "Tidak aktif"


def registry_panel(registry: MembershipRegistry, fields: dict) -> RegistryPanel | None:
    """None when the case names no participant (a complaint about a facility, a handoff)."""
    member, key = find_member(registry, fields)
    if not key:
        return None
    if member is None:
        return RegistryPanel(found=False, key=key, active=None)
    typed_nik = next((n for n in (_digits(fields.get(k)) for k in TYPED_NIK_FIELDS) if len(n) == NIK_DIGITS), None)
    typed_phone = fields.get("new_phone")
    rows = [
        Row("Status", _status(member)),
        Row("Nama terdaftar", member.name),
        Row("NIK terdaftar", member.nik or "— (kosong)", typed_nik, bool(typed_nik and typed_nik != member.nik)),
        Row("Nomor kartu", member.card_number),
        Row("Segmen", SEGMENT_LABELS.get(member.segment, member.segment)),
        Row("Kelas rawat", f"Kelas {member.care_class}"),
        Row("Faskes tingkat pertama", member.faskes + (f" (sejak {member.faskes_since:%d-%m-%Y})"
                                                       if member.faskes_since else "")),
        Row("No. HP terdaftar", member.phone or "—", typed_phone, bool(typed_phone and typed_phone != member.phone)),
    ]
    if member.next_faskes and member.next_faskes_from:  # an approved move, not begun yet
        rows.append(Row("Faskes berikutnya", f"{member.next_faskes} (mulai {member.next_faskes_from:%d-%m-%Y})"))
    if member.decree_number:
        rows.append(Row("SK penonaktifan", member.decree_number))
    if member.arrears:
        rows.append(Row("Tunggakan iuran", f"Rp{member.arrears:,}".replace(",", ".")))
    return RegistryPanel(found=True, key=key, active=member.active, rows=tuple(rows))


OCR_STATUS_LABELS = {  # handlers.ocr's statuses, as officers read them
    "read": "NIK terbaca", "not_read": "NIK tidak terbaca dengan pasti", "timeout": "tidak sempat dibaca (waktu habis)",
    "failed": "gagal dibaca (gangguan sistem)", "off": "pembacaan otomatis mati",
}
REUSE_LABELS = {  # handlers.reuse's reasons
    "same_file": "berkas yang sama persis", "same_photo": "foto sangat mirip (bisa foto yang sama dikirim ulang, bisa kartu lain; periksa)",
    "same_nik": "NIK yang sama terbaca di kartu",
}


@dataclass(frozen=True)
class ReadView:
    """What OCR read off a KTP/KK photo, and where it disagrees with the case."""

    status: str
    nik: str | None
    confidence: str          # "99 %"
    name: str | None
    birth_date: str | None
    others: tuple[str, ...]  # other NIKs read (a KK lists the family)
    differs_typed: bool      # the NIK read is not the one the citizen typed
    differs_registered: bool  # nor the registry's for the card
    typed: str | None
    registered: str | None


@dataclass(frozen=True)
class ReuseView:
    other_ticket: str | None
    reason: str
    visible: bool  # the officer may open the other case (same branch, or national)


@dataclass(frozen=True)
class DocumentView:
    id: int
    label: str
    kind: str
    content_type: str
    size_text: str
    dimensions: str  # "1600 × 1200 piksel", or "" for a PDF
    sent_again: bool  # a later copy of a document of the same kind (after a request for more)
    read: ReadView | None = None
    reuses: tuple[ReuseView, ...] = ()


def typed_nik(fields: dict) -> str | None:
    """The NIK the citizen typed on the case, if any."""
    return next((n for key in TYPED_NIK_FIELDS if len(n := _digits(fields.get(key))) == NIK_DIGITS), None)


def read_view(ocr: dict | None, kind: str, typed: str | None, registered: str | None) -> ReadView | None:
    if not ocr:
        return None
    nik, niks = ocr.get("nik"), tuple(ocr.get("niks") or ())
    listed = set(niks) | ({nik} if nik else set())
    # A KTP shows one NIK; a KK lists the family: there the question is whether the person is on it.
    differs = (lambda want: bool(want and nik and want != nik)) if kind == "ktp" else \
        (lambda want: bool(want and listed and want not in listed))
    card = kind == "ktp"  # a KK has no name or date of birth of its own
    return ReadView(OCR_STATUS_LABELS.get(ocr.get("status"), ocr.get("status") or ""), nik,
                    f"{round(float(ocr.get('confidence') or 0) * 100)} %", ocr.get("name") if card else None,
                    ocr.get("birth_date") if card else None,
                    tuple(n for n in niks if n != nik), differs(typed),
                    # the registry's NIK matters where the citizen typed none (a change of NIK means to differ)
                    differs(registered) and not typed, typed, registered)


def size_text(size: int) -> str:
    """Bytes as an officer reads them: '0,4 KB', '56 KB', '1,2 MB'."""
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB".replace(".", ",")
    if size < 10 * 1024:
        return f"{size / 1024:.1f} KB".replace(".", ",")
    return f"{round(size / 1024)} KB"


def document_views(documents, label_of, typed: str | None = None, registered: str | None = None,
                   reuses: dict[int, list[ReuseView]] | None = None) -> list[DocumentView]:
    """The documents in the order they came, each named in words (``label_of(kind)``), the later copies
    of a kind marked as sent again, with what OCR read off it (compared with the NIK ``typed`` on the case
    and the ``registered`` one) and the other cases it was also sent for."""
    seen: set[str] = set()
    views = []
    for doc in documents:
        again = doc.kind in seen
        seen.add(doc.kind)
        dimensions = f"{doc.width} × {doc.height} piksel" if doc.width and doc.height else ""
        views.append(DocumentView(doc.id, label_of(doc.kind), doc.kind, doc.content_type, size_text(doc.size),
                                  dimensions, again, read_view(doc.ocr, doc.kind, typed, registered),
                                  tuple((reuses or {}).get(doc.id, ()))))
    return views
