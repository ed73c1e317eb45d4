"""Validators: examples for each function and property tests on generated NIKs, phones and dates."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers import validators as v
from handlers.validators import Invalid

TODAY = date(2026, 11, 23)


def code_of(fn, *args, **kw) -> str:
    with pytest.raises(Invalid) as exc:
        fn(*args, **kw)
    assert isinstance(exc.value, ValueError)
    return exc.value.code


# -- NIK -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("3273151204780001", "3273151204780001"),
    ("3273 1512 0478 0001", "3273151204780001"),
    ("32.73.15.120478.0001", "3273151204780001"),
    ("3273-1512-0478-0001", "3273151204780001"),
    ("3273155204780001", "3273155204780001"),   # woman: day 12 + 40
    ("9501011010880042", "9501011010880042"),   # Papua Pegunungan (2022)
    ("9671010101000001", "9671010101000001"),   # Papua Barat Daya (2022)
    ("3578052902000001", "3578052902000001"),   # 29 Feb 2000
    ("3578056902040001", "3578056902040001"),   # woman, 29 Feb 2004
])
def test_nik_accepts(text, expected):
    assert v.nik(text, today=TODAY) == expected


@pytest.mark.parametrize("text, code", [
    ("327315120478000", "nik_length"),
    ("32731512047800011", "nik_length"),
    ("", "nik_digits"),
    ("3273151204780OO1", "nik_digits"),
    ("32731512047800a1", "nik_digits"),
    ("0073151204780001", "nik_region"),
    ("2073151204780001", "nik_region"),   # 20 is no province
    ("9773151204780001", "nik_region"),   # 97 is a BPS code, not Kemendagri
    ("9973151204780001", "nik_region"),
    ("3200151204780001", "nik_region"),   # regency 00
    ("3273001204780001", "nik_region"),   # district 00
    ("3273150004780001", "nik_date"),     # day 00
    ("3273153204780001", "nik_date"),     # day 32
    ("3273154004780001", "nik_date"),     # day 40
    ("3273157204780001", "nik_date"),     # day 72
    ("3273151213780001", "nik_date"),     # month 13
    ("3273153102780001", "nik_date"),     # 31 February
    ("3273152902010001", "nik_date"),     # 29 Feb 2001 / 1901
    ("3273151204780000", "nik_sequence"),
])
def test_nik_rejects(text, code):
    assert code_of(v.nik, text, today=TODAY) == code


def test_nik_info_century_and_sex():
    info = v.nik_info("3273155204780001", today=TODAY)
    assert info == v.NikInfo("32", "3273", "327315", date(1978, 4, 12), True)
    assert v.nik_info("3273151204260001", today=TODAY).birth_date == date(2026, 4, 12)
    assert v.nik_info("3273151212260001", today=TODAY).birth_date == date(1926, 12, 12)  # 2026-12-12 is future
    assert v.nik_info("3273152902000001", today=TODAY).birth_date == date(2000, 2, 29)
    assert v.PROVINCES[info.province] == "Jawa Barat"


def test_birth_date_matches_nik():
    assert v.birth_date_matches_nik("3273155204780001", date(1978, 4, 12))
    assert not v.birth_date_matches_nik("3273155204780001", date(1978, 4, 13))
    assert not v.birth_date_matches_nik("3273155204780000", date(1978, 4, 12))


PROVINCE_CODES = sorted(v.PROVINCES)
two_digits_not_00 = st.integers(1, 99).map(lambda n: f"{n:02d}")


@st.composite
def valid_niks(draw):
    region = draw(st.sampled_from(PROVINCE_CODES)) + draw(two_digits_not_00) + draw(two_digits_not_00)
    born = draw(st.dates(date(1930, 1, 1), date(2020, 12, 31)))
    female = draw(st.booleans())
    seq = draw(st.integers(1, 9999))
    day = born.day + (40 if female else 0)
    return f"{region}{day:02d}{born:%m%y}{seq:04d}", born, female


@settings(max_examples=300)
@given(valid_niks())
def test_generated_niks_are_accepted_and_decoded(case):
    nik, born, female = case
    assert v.nik(nik, today=TODAY) == nik
    info = v.nik_info(nik, today=TODAY)
    assert (info.birth_date, info.female, info.district) == (born, female, nik[:6])
    assert v.birth_date_matches_nik(nik, born)


@st.composite
def broken_niks(draw):
    nik, _born, _female = draw(valid_niks())
    rule = draw(st.sampled_from(["shorter", "longer", "day", "sequence", "province", "regency", "district"]))
    if rule == "shorter":
        i = draw(st.integers(0, 15))
        return nik[:i] + nik[i + 1:], "nik_length"
    if rule == "longer":
        i = draw(st.integers(0, 16))
        return nik[:i] + draw(st.sampled_from("0123456789")) + nik[i:], "nik_length"
    if rule == "day":
        day = draw(st.one_of(st.integers(32, 40), st.integers(72, 99), st.just(0)))
        return f"{nik[:6]}{day:02d}{nik[8:]}", "nik_date"
    if rule == "sequence":
        return nik[:12] + "0000", "nik_sequence"
    if rule == "province":
        return draw(st.sampled_from(["00", "99", "10", "20", "37", "97"])) + nik[2:], "nik_region"
    if rule == "regency":
        return nik[:2] + "00" + nik[4:], "nik_region"
    return nik[:4] + "00" + nik[6:], "nik_region"


@settings(max_examples=300)
@given(broken_niks())
def test_each_broken_rule_is_rejected_with_its_code(case):
    nik, code = case
    assert code_of(v.nik, nik, today=TODAY) == code


# -- KK and card -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, result", [
    ("3273150101200003", "3273150101200003"),
    ("3273 1501 0120 0003", "3273150101200003"),
    ("327315010120000", "kk_length"),
    ("32731501012000x3", "kk_digits"),
    ("9973150101200003", "kk_region"),
    ("3273000101200003", "kk_region"),
    ("3273150101200000", "kk_sequence"),
])
def test_kk(text, result):
    if result.isdigit():
        assert v.kk(text) == result
    else:
        assert code_of(v.kk, text) == result


@pytest.mark.parametrize("text, result", [
    ("0001234567890", "0001234567890"),
    ("0001 2345 6789 0", "0001234567890"),
    ("0001-2345-67890", "0001234567890"),
    ("000123456789", "card_length"),
    ("00012345678901", "card_length"),
    ("000123456789O", "card_digits"),
    ("", "card_digits"),
])
def test_card_number(text, result):
    if result.isdigit():
        assert v.card_number(text) == result
    else:
        assert code_of(v.card_number, text) == result


# -- phone -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, result", [
    ("081234567890", "+6281234567890"),
    ("0812-3456-7890", "+6281234567890"),
    ("0812 3456 7890", "+6281234567890"),
    ("6281234567890", "+6281234567890"),
    ("+62 812 3456 7890", "+6281234567890"),
    ("62 812-3456-7890", "+6281234567890"),
    ("(0852) 1234 5678", "+6285212345678"),
    ("0895123456789", "+62895123456789"),
    ("halo", "phone_invalid"),
    ("", "phone_invalid"),
    ("0812", "phone_invalid"),
    ("08123456789012345", "phone_invalid"),
    ("021-5551234", "phone_not_mobile"),     # Jakarta landline
    ("+6221 5551 234", "phone_not_mobile"),
    ("+14155238886", "phone_not_mobile"),    # valid, but not Indonesian
    ("+60123456789", "phone_not_mobile"),    # Malaysian mobile
])
def test_mobile_phone(text, result):
    if result.startswith("+"):
        assert v.mobile_phone(text) == result
    else:
        assert code_of(v.mobile_phone, text) == result


OPERATOR_PREFIXES = ["811", "812", "813", "821", "822", "823", "851", "852", "853", "814", "815", "816",
                     "855", "856", "857", "858", "817", "818", "819", "859", "877", "878", "831", "832",
                     "833", "838", "895", "896", "897", "898", "899", "881", "882", "883", "887", "888"]
subscribers = st.builds(lambda p, rest: p + rest, st.sampled_from(OPERATOR_PREFIXES),
                        st.text("0123456789", min_size=7, max_size=8))


@settings(max_examples=200)
@given(subscribers)
def test_phone_spellings_are_equal(subscriber):
    e164 = v.mobile_phone("0" + subscriber)
    assert e164 == "+62" + subscriber
    assert v.mobile_phone("62" + subscriber) == e164
    assert v.mobile_phone("+62" + subscriber) == e164


# -- dates -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "17-08-1965", "17/08/65", "17.08.1965", "17 Agustus 1965", "17 agt 1965", "17 Agu 65",
    "1965-08-17", "17081965", "17-8-1965", " 17  AGUSTUS 1965 ", "17 Aug 1965", "17agustus1965",
    "17 - 08 - 1965", "170865",
])
def test_birth_date_formats(text):
    assert v.birth_date(text, today=TODAY) == date(1965, 8, 17)


@pytest.mark.parametrize("text, result", [
    ("29-02-2000", date(2000, 2, 29)),
    ("29/02/00", date(2000, 2, 29)),
    ("1 Januari 26", date(2026, 1, 1)),
    ("24 Nov 26", date(1926, 11, 24)),       # 2026-11-24 is tomorrow: latest century not in the future
    ("23 Nov 26", date(2026, 11, 23)),
    ("5 Mei 1990", date(1990, 5, 5)),
    ("10 Nopember 1945", date(1945, 11, 10)),
    ("19650817", date(1965, 8, 17)),         # YYYYMMDD when DDMMYYYY is no date
    ("24-11-2026", "date_future"),
    ("2030-01-01", "date_future"),
    ("29-02-2001", "date_invalid"),
    ("31 April 1990", "date_invalid"),
    ("17 Agustusan 1965", "date_invalid"),
    ("1-1-1900", "date_invalid"),            # older than 120 years
    ("22-11-1906", "date_invalid"),
    ("kemarin", "date_invalid"),
    ("", "date_invalid"),
    ("17-13-1965", "date_invalid"),
])
def test_birth_date_cases(text, result):
    if isinstance(result, date):
        assert v.birth_date(text, today=TODAY) == result
    else:
        assert code_of(v.birth_date, text, today=TODAY) == result


def test_birth_date_at_the_limits():
    assert v.birth_date("23-11-1906", today=TODAY) == date(1906, 11, 23)  # exactly 120 years
    assert v.birth_date("23-11-2026", today=TODAY) == TODAY


MONTH_WORDS = {m: [w for w, n in v.MONTHS.items() if n == m] for m in range(1, 13)}
FOUR_DIGIT = [
    lambda d: f"{d:%d-%m-%Y}", lambda d: f"{d:%d/%m/%Y}", lambda d: f"{d:%d.%m.%Y}", lambda d: f"{d:%Y-%m-%d}",
    lambda d: f"{d:%d%m%Y}", lambda d: f"{d.day}-{d.month}-{d.year}",
]
TWO_DIGIT = [lambda d: f"{d:%d-%m-%y}", lambda d: f"{d:%d/%m/%y}", lambda d: f"{d:%d.%m.%y}", lambda d: f"{d:%d%m%y}"]


@settings(max_examples=300)
@given(st.dates(TODAY - timedelta(days=120 * 365), TODAY), st.integers(0, 100), st.booleans())
def test_birth_date_round_trips(d, pick, title):
    for fmt in FOUR_DIGIT:
        assert v.birth_date(fmt(d), today=TODAY) == d
    words = MONTH_WORDS[d.month]
    word = words[pick % len(words)]
    word = word.title() if title else word
    assert v.birth_date(f"{d.day} {word} {d.year}", today=TODAY) == d
    if d > TODAY.replace(year=TODAY.year - 100):  # two-digit years cover the last hundred years
        for fmt in TWO_DIGIT:
            assert v.birth_date(fmt(d), today=TODAY) == d
        assert v.birth_date(f"{d.day} {word} {d:%y}", today=TODAY) == d


# -- ticket ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, result", [
    ("PDW-20261123-0001", "PDW-20261123-0001"),
    ("pdw-20261123-0001", "PDW-20261123-0001"),
    ("PDW 20261123 0001", "PDW-20261123-0001"),
    ("pdw202611230001", "PDW-20261123-0001"),
    (" Pdw - 20261123 - 0042 ", "PDW-20261123-0042"),
    ("PDW-20261123-001", "ticket_invalid"),
    ("PDW-2026112-0001", "ticket_invalid"),
    ("ABC-20261123-0001", "ticket_invalid"),
    ("PDW-20261332-0001", "ticket_invalid"),
    ("", "ticket_invalid"),
])
def test_ticket(text, result):
    if result.startswith("PDW"):
        assert v.ticket(text) == result
    else:
        assert code_of(v.ticket, text) == result
