"""Working calendar: opening hours, SLA arithmetic in working hours, Indonesian day names."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.product import Product, ProductConfigError, load_product_raw
from handlers.worktime import Promise, QuietHours, WorkingCalendar, format_day_id, zone_label

WIB = ZoneInfo("Asia/Jakarta")
CONFIG = {"timezone": "Asia/Jakarta", "days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00",
          "end": "15:00", "holidays": ["2026-12-25", "2027-01-01"]}
CAL = WorkingCalendar.from_config(CONFIG)


def wib(*args) -> datetime:
    return datetime(*args, tzinfo=WIB)


# 2026-11-23 is a Monday; 2026-11-27 a Friday; 2026-12-25 (Friday) and 2027-01-01 (Friday) holidays.
@pytest.mark.parametrize("dt, open_, next_open", [
    (wib(2026, 11, 23, 7, 59), False, wib(2026, 11, 23, 8, 0)),
    (wib(2026, 11, 23, 8, 0), True, wib(2026, 11, 23, 8, 0)),
    (wib(2026, 11, 23, 14, 59, 59), True, wib(2026, 11, 23, 14, 59, 59)),
    (wib(2026, 11, 23, 15, 0), False, wib(2026, 11, 24, 8, 0)),
    (wib(2026, 11, 23, 23, 30), False, wib(2026, 11, 24, 8, 0)),
    (wib(2026, 11, 27, 15, 0), False, wib(2026, 11, 30, 8, 0)),      # Friday after closing
    (wib(2026, 11, 28, 10, 0), False, wib(2026, 11, 30, 8, 0)),      # Saturday
    (wib(2026, 11, 29, 7, 0), False, wib(2026, 11, 30, 8, 0)),       # Sunday
    (wib(2026, 12, 25, 9, 0), False, wib(2026, 12, 28, 8, 0)),       # Christmas on a Friday
    (wib(2026, 12, 31, 15, 30), False, wib(2027, 1, 4, 8, 0)),       # New Year's Day, then weekend
    (datetime(2026, 11, 23, 0, 30, tzinfo=timezone.utc), False, wib(2026, 11, 23, 8, 0)),  # 07:30 WIB
    (datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc), True, wib(2026, 11, 23, 8, 0)),    # 08:00 WIB
    (datetime(2026, 11, 22, 23, 0, tzinfo=timezone.utc), False, wib(2026, 11, 23, 8, 0)),  # Mon 06:00 WIB
])
def test_is_open_and_next_opening(dt, open_, next_open):
    assert CAL.is_open(dt) is open_
    got = CAL.next_opening(dt)
    assert got == next_open and got.tzinfo == WIB
    assert CAL.promise(dt) == Promise(open_now=open_, next_open=next_open)


@pytest.mark.parametrize("dt, hours, expected", [
    (wib(2026, 11, 27, 14, 0), 3, wib(2026, 11, 30, 10, 0)),      # Friday 14:00 + 3 h = Monday 10:00
    (wib(2026, 11, 27, 14, 0), 1, wib(2026, 11, 27, 15, 0)),      # ends exactly at closing time
    (wib(2026, 11, 23, 6, 0), 1, wib(2026, 11, 23, 9, 0)),        # before opening
    (wib(2026, 11, 23, 16, 0), 0.5, wib(2026, 11, 24, 8, 30)),    # after closing
    (wib(2026, 11, 28, 12, 0), 2, wib(2026, 11, 30, 10, 0)),      # weekend
    (wib(2026, 11, 23, 8, 0), 21, wib(2026, 11, 25, 15, 0)),      # three full days
    (wib(2026, 11, 23, 8, 0), 21.5, wib(2026, 11, 26, 8, 30)),
    (wib(2026, 11, 23, 10, 0), 7 * 5, wib(2026, 11, 30, 10, 0)),  # one working week
    (wib(2026, 12, 24, 14, 0), 2, wib(2026, 12, 28, 9, 0)),       # over the Christmas holiday
    (wib(2026, 12, 31, 12, 0), 4, wib(2027, 1, 4, 9, 0)),         # over New Year's Day
    (wib(2026, 11, 23, 9, 15), 0, wib(2026, 11, 23, 9, 15)),      # open: zero hours is now
    (wib(2026, 11, 27, 15, 0), 0, wib(2026, 11, 27, 15, 0)),      # closing time stays
    (wib(2026, 11, 28, 9, 0), 0, wib(2026, 11, 30, 8, 0)),        # closed: the next opening
    (datetime(2026, 11, 27, 7, 0, tzinfo=timezone.utc), 3, wib(2026, 11, 30, 10, 0)),  # UTC input
])
def test_add_working_hours(dt, hours, expected):
    got = CAL.add_working_hours(dt, hours)
    assert got == expected and got.tzinfo == WIB


def test_rejects_naive_datetimes_and_negative_hours():
    with pytest.raises(ValueError):
        CAL.is_open(datetime(2026, 11, 23, 9, 0))
    with pytest.raises(ValueError):
        CAL.add_working_hours(wib(2026, 11, 23, 9, 0), -1)


def test_from_config_variants():
    real = yaml.safe_load((Path(__file__).resolve().parent.parent / "config.yml").read_text())["working_hours"]
    cal = WorkingCalendar.from_config(real)
    assert cal.tz == WIB and cal.weekdays == frozenset(range(5))
    assert (cal.start, cal.end) == (time(8), time(15))
    parsed = yaml.safe_load("holidays: [2026-12-25]\ndays: [Mon, Tuesday]\nstart: '07:30'\nend: '16:00'")
    cal = WorkingCalendar.from_config(parsed)
    assert cal.holidays == frozenset({date(2026, 12, 25)}) and cal.weekdays == frozenset({0, 1})
    assert cal.is_open(wib(2026, 11, 24, 15, 30)) and not cal.is_open(wib(2026, 11, 25, 9, 0))
    assert WorkingCalendar.from_config({}).is_open(wib(2026, 11, 23, 8, 0))
    for bad in ({"days": []}, {"days": ["someday"]}, {"start": "15:00", "end": "08:00"}):
        with pytest.raises(ValueError):
            WorkingCalendar.from_config({**CONFIG, **bad})


@pytest.mark.parametrize("d, text", [
    (date(2026, 11, 23), "Senin, 23 November 2026"),
    (date(2026, 11, 24), "Selasa, 24 November 2026"),
    (date(2026, 11, 25), "Rabu, 25 November 2026"),
    (date(2026, 11, 26), "Kamis, 26 November 2026"),
    (date(2026, 11, 27), "Jumat, 27 November 2026"),
    (date(2026, 11, 28), "Sabtu, 28 November 2026"),
    (date(2026, 11, 29), "Minggu, 29 November 2026"),
    (date(2027, 1, 1), "Jumat, 1 Januari 2027"),
    (date(2026, 8, 17), "Senin, 17 Agustus 2026"),
    (date(2026, 2, 2), "Senin, 2 Februari 2026"),
    (date(2026, 12, 31), "Kamis, 31 Desember 2026"),
    (wib(2026, 11, 30, 10, 0), "Senin, 30 November 2026"),
])
def test_format_day_id(d, text):
    assert format_day_id(d) == text


# -- properties ------------------------------------------------------------------------------

moments = st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(timezone.utc))
hours = st.integers(0, 60 * 7 * 15).map(lambda minutes: minutes / 60)  # up to three working weeks


def at_open_or_closing(dt: datetime) -> bool:
    return CAL.is_open(dt) or (CAL.is_working_day(dt.date()) and dt.time() == CAL.end)


@settings(max_examples=300)
@given(moments, hours, hours)
def test_add_working_hours_properties(dt, a, b):
    after_a = CAL.add_working_hours(dt, a)
    after_ab = CAL.add_working_hours(dt, a + b)
    assert after_a.tzinfo == WIB
    assert at_open_or_closing(after_a) and at_open_or_closing(after_ab)
    assert after_a >= dt
    assert after_a <= after_ab                                     # monotonic in the hours
    if b > 0:
        assert after_a < after_ab
    assert CAL.add_working_hours(after_a, b) == after_ab           # additive


@settings(max_examples=200)
@given(moments)
def test_next_opening_properties(dt):
    nxt = CAL.next_opening(dt)
    assert nxt >= dt and CAL.is_open(nxt)
    assert (nxt == dt) is CAL.is_open(dt)


@pytest.mark.parametrize("zone, label", [("Asia/Jakarta", "WIB"), ("Asia/Makassar", "WITA"), ("Asia/Jayapura", "WIT")])
def test_the_promise_names_the_office_s_own_time_zone(zone, label):
    assert zone_label(ZoneInfo(zone)) == label


# -- quiet hours (no reminders) ----------------------------------------------------------------------
NIGHT = QuietHours.from_config({"start": "21:00", "end": "07:00"}, WIB)   # crosses midnight
LUNCH = QuietHours.from_config({"start": "12:00", "end": "13:00"}, WIB)   # within one day


@pytest.mark.parametrize("quiet, dt, is_quiet, ends_at", [
    (NIGHT, wib(2026, 11, 23, 20, 50), False, wib(2026, 11, 23, 20, 50)),
    (NIGHT, wib(2026, 11, 23, 20, 59, 59), False, wib(2026, 11, 23, 20, 59, 59)),
    (NIGHT, wib(2026, 11, 23, 21, 0), True, wib(2026, 11, 24, 7, 0)),      # the start is quiet
    (NIGHT, wib(2026, 11, 23, 23, 48), True, wib(2026, 11, 24, 7, 0)),
    (NIGHT, wib(2026, 11, 24, 0, 0), True, wib(2026, 11, 24, 7, 0)),
    (NIGHT, wib(2026, 11, 24, 0, 17), True, wib(2026, 11, 24, 7, 0)),
    (NIGHT, wib(2026, 11, 24, 6, 59, 59), True, wib(2026, 11, 24, 7, 0)),
    (NIGHT, wib(2026, 11, 24, 7, 0), False, wib(2026, 11, 24, 7, 0)),      # the end is not
    (NIGHT, wib(2026, 11, 30, 23, 0), True, wib(2026, 12, 1, 7, 0)),       # over a month's end
    (NIGHT, datetime(2026, 11, 23, 17, 17, tzinfo=timezone.utc), True, wib(2026, 11, 24, 7, 0)),  # 00:17 WIB
    (NIGHT, datetime(2026, 11, 24, 0, 0, tzinfo=timezone.utc), False, wib(2026, 11, 24, 7, 0)),   # 07:00 WIB
    (LUNCH, wib(2026, 11, 23, 11, 59), False, wib(2026, 11, 23, 11, 59)),
    (LUNCH, wib(2026, 11, 23, 12, 0), True, wib(2026, 11, 23, 13, 0)),
    (LUNCH, wib(2026, 11, 23, 12, 59, 59), True, wib(2026, 11, 23, 13, 0)),
    (LUNCH, wib(2026, 11, 23, 13, 0), False, wib(2026, 11, 23, 13, 0)),
    (LUNCH, wib(2026, 11, 23, 23, 30), False, wib(2026, 11, 23, 23, 30)),
    (LUNCH, wib(2026, 11, 24, 0, 30), False, wib(2026, 11, 24, 0, 30)),
])
def test_quiet_hours_and_when_they_end(quiet, dt, is_quiet, ends_at):
    assert quiet.is_quiet(dt) is is_quiet
    got = quiet.ends_at(dt)
    assert got == ends_at and got.tzinfo == WIB
    assert not quiet.is_quiet(got)


def test_quiet_hours_are_in_the_office_s_own_time_zone():
    wita = QuietHours.from_config({"start": "21:00", "end": "07:00"}, ZoneInfo("Asia/Makassar"))
    at = datetime(2026, 11, 23, 13, 30, tzinfo=timezone.utc)  # 20:30 WIB, 21:30 WITA
    assert not NIGHT.is_quiet(at) and wita.is_quiet(at)


@pytest.mark.parametrize("cfg, problem", [
    ({"start": "21:00", "end": "21:00"}, "jam mulai dan selesai harus berbeda"),
    ({"start": "25:00", "end": "07:00"}, "quiet_hours.start: '25:00' bukan jam"),
    ({"start": "21:00", "end": "7"}, "quiet_hours.end: '7' bukan jam"),
    ({"start": "21:00", "end": "07:00:30"}, "quiet_hours.end"),
    ({"start": "21:00"}, "tepat 'start' dan 'end'"),
    ({"start": "21:00", "end": "07:00", "days": ["sat"]}, "tepat 'start' dan 'end'"),
    ("21:00-07:00", "tepat 'start' dan 'end'"),
    # YAML 1.1 reads an unquoted 21:00 as the number 1260
    (yaml.safe_load("{start: 21:00, end: '07:00'}"), "quiet_hours.start: 1260 bukan jam"),
])
def test_bad_quiet_hours_are_refused_with_what_is_wrong(cfg, problem):
    with pytest.raises(ValueError, match=re.escape(problem)):
        QuietHours.from_config(cfg, WIB)
    raw = {**load_product_raw(Path(__file__).resolve().parent.parent / "config.yml"), "quiet_hours": cfg}
    with pytest.raises(ProductConfigError, match=re.escape(problem)):
        Product.checked(raw)


def test_the_product_reads_quiet_hours_from_config_yml_and_none_means_none():
    raw = load_product_raw(Path(__file__).resolve().parent.parent / "config.yml")
    quiet = Product.checked(raw).quiet_hours
    assert (quiet.start, quiet.end, quiet.tz) == (time(21), time(7), WIB)
    assert Product.checked({**raw, "quiet_hours": None}).quiet_hours is None
    without = {k: v for k, v in raw.items() if k != "quiet_hours"}
    assert Product.checked(without).quiet_hours is None
    makassar = {**raw, "working_hours": {**raw["working_hours"], "timezone": "Asia/Makassar"}}
    assert Product.checked(makassar).quiet_hours.tz == ZoneInfo("Asia/Makassar")
