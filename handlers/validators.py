"""Validators for what citizens type: NIK, KK, card number, phone, date of birth, ticket number.

Each function returns the normalised value or raises :class:`Invalid` with a ``code``; the flows map
codes to the texts the citizen reads. Messages never contain the value itself (it is personal data).

Error codes:

- ``nik_length``    NIK is not 16 digits long (after removing spaces, dots and dashes)
- ``nik_digits``    NIK contains something other than digits
- ``nik_region``    digits 1-2 are not a province code, or digits 3-4 (regency/city) or 5-6
                    (district) are 00
- ``nik_date``      digits 7-12 are not a date of birth DDMMYY (day 01-31, or 41-71 for women) that
                    exists in the 1900s or 2000s and is not in the future
- ``nik_sequence``  digits 13-16 are 0000
- ``kk_length``, ``kk_digits``, ``kk_region``, ``kk_sequence``  the same for the family card (No. KK)
- ``card_length``   JKN-KIS card number is not 13 digits long
- ``card_digits``   card number contains something other than digits
- ``phone_invalid``     not a valid phone number
- ``phone_not_mobile``  a valid number, but not an Indonesian mobile number (+628…)
- ``date_invalid``  not a date in a format we read, not a calendar date, or more than 120 years ago
- ``date_future``   the date is after today
- ``ticket_invalid``  not a ticket number PDW-YYYYMMDD-NNNN
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import phonenumbers

from handlers.phones import InvalidNumber, to_e164

NIK_DIGITS = 16   # a NIK, and a family card (KK) number
CARD_DIGITS = 13  # a JKN-KIS card number

MAX_AGE_YEARS = 120

# Province codes of Kemendagri (the codes NIKs are built on), including the four Papua provinces
# created in 2022 (Kepmendagri 100.1.1-6117/2022). BPS uses other codes for Papua (e.g. 97), NIKs do not.
PROVINCES: dict[str, str] = {
    "11": "Aceh", "12": "Sumatera Utara", "13": "Sumatera Barat", "14": "Riau", "15": "Jambi",
    "16": "Sumatera Selatan", "17": "Bengkulu", "18": "Lampung", "19": "Kepulauan Bangka Belitung",
    "21": "Kepulauan Riau",
    "31": "DKI Jakarta", "32": "Jawa Barat", "33": "Jawa Tengah", "34": "DI Yogyakarta",
    "35": "Jawa Timur", "36": "Banten",
    "51": "Bali", "52": "Nusa Tenggara Barat", "53": "Nusa Tenggara Timur",
    "61": "Kalimantan Barat", "62": "Kalimantan Tengah", "63": "Kalimantan Selatan",
    "64": "Kalimantan Timur", "65": "Kalimantan Utara",
    "71": "Sulawesi Utara", "72": "Sulawesi Tengah", "73": "Sulawesi Selatan",
    "74": "Sulawesi Tenggara", "75": "Gorontalo", "76": "Sulawesi Barat",
    "81": "Maluku", "82": "Maluku Utara",
    "91": "Papua", "92": "Papua Barat", "93": "Papua Selatan", "94": "Papua Tengah",
    "95": "Papua Pegunungan", "96": "Papua Barat Daya",
}

MONTHS: dict[str, int] = {
    "januari": 1, "jan": 1, "january": 1,
    "februari": 2, "pebruari": 2, "feb": 2, "peb": 2, "february": 2,
    "maret": 3, "mar": 3, "march": 3,
    "april": 4, "apr": 4,
    "mei": 5, "may": 5,
    "juni": 6, "jun": 6, "june": 6,
    "juli": 7, "jul": 7, "july": 7,
    "agustus": 8, "agu": 8, "agt": 8, "ags": 8, "agus": 8, "aug": 8, "august": 8,
    "september": 9, "sep": 9, "sept": 9,
    "oktober": 10, "okt": 10, "oct": 10, "october": 10,
    "november": 11, "nopember": 11, "nov": 11, "nop": 11,
    "desember": 12, "des": 12, "dec": 12, "december": 12,
}

_SEPARATORS = re.compile(r"[\s.\-]")
_NUMERIC_DATE = re.compile(r"(\d{1,2})\s*[-/.\s]\s*(\d{1,2})\s*[-/.\s]\s*(\d{4}|\d{2})")
_ISO_DATE = re.compile(r"(\d{4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})")
_WORD_DATE = re.compile(r"(\d{1,2})[\s\-/.,]*([a-z]+)\.?[\s\-/.,]*(\d{4}|\d{2})")
_TICKET = re.compile(r"PDW-?(\d{8})-?(\d{4})")
_TICKET_INSIDE = re.compile(r"\bPDW\s*-?\s*(\d{8})\s*-?\s*(\d{4})\b", re.IGNORECASE)


class Invalid(ValueError):
    """The value is not acceptable; ``code`` says why (see the module docstring)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class NikInfo:
    province: str      # two-digit code, see PROVINCES
    regency: str       # four digits: province + regency/city
    district: str      # six digits: province + regency + district
    birth_date: date
    female: bool


def _today(today: date | None) -> date:
    return today or date.today()


def _real_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _years_before(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


def _two_digit_year(yy: int, month: int, day: int, today: date) -> date | None:
    """The latest real date with this day, month and two-digit year that is not after ``today``."""
    for century in (2000, 1900):
        d = _real_date(century + yy, month, day)
        if d is not None and d <= today:
            return d
    return None


def _digits(text: str, length: int, prefix: str) -> str:
    value = _SEPARATORS.sub("", text or "")
    if not value.isdigit() or not value.isascii():
        raise Invalid(f"{prefix}_digits")
    if len(value) != length:
        raise Invalid(f"{prefix}_length")
    return value


def _check_region(value: str, prefix: str) -> None:
    if value[:2] not in PROVINCES or value[2:4] == "00" or value[4:6] == "00":
        raise Invalid(f"{prefix}_region")


def _nik_birth(value: str, today: date) -> tuple[date, bool]:
    day, month, yy = int(value[6:8]), int(value[8:10]), int(value[10:12])
    female = day > 40
    if female:
        day -= 40
    if not 1 <= day <= 31:
        raise Invalid("nik_date")
    born = _two_digit_year(yy, month, day, today) if 1 <= month <= 12 else None
    if born is None:
        raise Invalid("nik_date")
    return born, female


def nik(text: str, today: date | None = None) -> str:
    """A 16-digit NIK, checked for region, date of birth and sequence (see the codes above)."""
    value = _digits(text, NIK_DIGITS, "nik")
    _check_region(value, "nik")
    _nik_birth(value, _today(today))
    if value[12:] == "0000":
        raise Invalid("nik_sequence")
    return value


def nik_info(value: str, today: date | None = None) -> NikInfo:
    """Region, date of birth and sex encoded in a NIK (validated first)."""
    value = nik(value, today)
    born, female = _nik_birth(value, _today(today))
    return NikInfo(value[:2], value[:4], value[:6], born, female)


def birth_date_matches_nik(nik_value: str, born: date) -> bool:
    try:
        return nik_info(nik_value).birth_date == born
    except Invalid:
        return False


def kk(text: str) -> str:
    """A 16-digit family card number (No. KK): region prefix as in a NIK, last four not 0000."""
    value = _digits(text, NIK_DIGITS, "kk")
    _check_region(value, "kk")
    if value[12:] == "0000":
        raise Invalid("kk_sequence")
    return value


def card_number(text: str) -> str:
    """A 13-digit JKN-KIS card number."""
    return _digits(text, CARD_DIGITS, "card")


def mobile_phone(text: str) -> str:
    """An Indonesian mobile number (08…, 628…, +62 8…) in E.164: ``+628…``."""
    cleaned = re.sub(r"[\s.\-()]", "", text or "")
    try:
        e164 = to_e164(cleaned, "ID")
    except InvalidNumber:
        raise Invalid("phone_invalid") from None
    parsed = phonenumbers.parse(e164)
    if not phonenumbers.is_valid_number(parsed):
        raise Invalid("phone_invalid")
    mobile = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    if not e164.startswith("+628") or phonenumbers.number_type(parsed) not in mobile:
        raise Invalid("phone_not_mobile")
    return e164


def _parse_date(text: str, today: date) -> date | None:
    def full(year: str, month: int, day: str) -> date | None:
        if len(year) == 2:
            return _two_digit_year(int(year), month, int(day), today) if 1 <= month <= 12 else None
        return _real_date(int(year), month, int(day))

    if m := _ISO_DATE.fullmatch(text):
        return _real_date(int(m[1]), int(m[2]), int(m[3]))
    if m := _NUMERIC_DATE.fullmatch(text):
        return full(m[3], int(m[2]), m[1])
    if m := _WORD_DATE.fullmatch(text):
        month = MONTHS.get(m[2])
        return full(m[3], month, m[1]) if month else None
    if text.isdigit() and len(text) == 8:  # DDMMYYYY, else YYYYMMDD
        return _real_date(int(text[4:]), int(text[2:4]), int(text[:2])) or _real_date(
            int(text[:4]), int(text[4:6]), int(text[6:]))
    if text.isdigit() and len(text) == 6:  # DDMMYY
        return full(text[4:], int(text[2:4]), text[:2])
    return None


def birth_date(text: str, today: date | None = None) -> date:
    """A date of birth as people write it: 17-08-1965, 17/08/65, 17 Agustus 1965, 1965-08-17, 17081965…

    Two-digit years resolve to the latest century that does not put the date in the future.
    """
    today = _today(today)
    value = re.sub(r"\s+", " ", (text or "").strip().lower())
    born = _parse_date(value, today) if value.isascii() else None
    if born is None or born < _years_before(today, MAX_AGE_YEARS):
        raise Invalid("date_invalid")
    if born > today:
        raise Invalid("date_future")
    return born


def find_ticket(text: str) -> str | None:
    """A ticket number anywhere in a sentence ("gimana tiket *PDW-20261204-0003*." as copied), in its
    written form ``PDW-YYYYMMDD-NNNN``; not checked yet (``ticket`` does that)."""
    match = _TICKET_INSIDE.search(text or "")
    return f"PDW-{match[1]}-{match[2]}" if match else None


def ticket(text: str) -> str:
    """A ticket number ``PDW-YYYYMMDD-NNNN`` (case, spaces and missing dashes forgiven)."""
    value = re.sub(r"\s+", "", (text or "").upper())
    m = _TICKET.fullmatch(value)
    if not m or _real_date(int(m[1][:4]), int(m[1][4:6]), int(m[1][6:])) is None:
        raise Invalid("ticket_invalid")
    return f"PDW-{m[1]}-{m[2]}"
