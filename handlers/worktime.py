"""The office's clock: working hours (when officers are there, SLA deadlines, what to promise citizens)
and the quiet hours (when the bot starts no conversation).

Built from config.yml's ``working_hours`` and ``quiet_hours``::

    working_hours:
      timezone: "Asia/Jakarta"
      days: [mon, tue, wed, thu, fri]
      start: "08:00"
      end: "15:00"
      holidays: ["2026-12-25"]
    quiet_hours:          # optional; absent or empty: no quiet hours
      start: "21:00"
      end: "07:00"

Every datetime passed in must be timezone-aware (UTC is fine); results are in the office's timezone.
Times are wall-clock times of that timezone (Indonesia has no daylight saving time).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Iterable
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAYS_ID = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
MONTHS_ID = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
             "September", "Oktober", "November", "Desember")
MONTHS_SHORT_ID = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")
_MAX_CLOSED_DAYS = 3660  # a calendar closed this long is a configuration error
HH_MM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@dataclass(frozen=True)
class Promise:
    open_now: bool       # an officer is at work right now
    next_open: datetime  # when an officer will look (the given moment itself when open)


def parse_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        return time.fromisoformat(value.strip())
    raise ValueError(f"working_hours: jam harus ditulis seperti '08:00' (dalam tanda kutip), bukan {type(value).__name__}")


def parse_day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):  # YAML reads unquoted 2026-12-25 as a date
        return value
    return date.fromisoformat(str(value).strip())


@dataclass(frozen=True)
class WorkingCalendar:
    tz: ZoneInfo
    weekdays: frozenset[int]  # 0 = Monday … 6 = Sunday
    start: time
    end: time
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.weekdays:
            raise ValueError("working_hours: tidak ada hari kerja")
        if self.start >= self.end:
            raise ValueError("working_hours: jam mulai harus sebelum jam selesai")

    @classmethod
    def from_config(cls, cfg: dict[str, Any] | None) -> "WorkingCalendar":
        cfg = cfg or {}
        days: Iterable[str] = cfg["days"] if cfg.get("days") is not None else DAY_NAMES[:5]
        try:
            weekdays = frozenset(DAY_NAMES.index(str(d).strip().lower()[:3]) for d in days)
        except ValueError:
            raise ValueError(f"working_hours.days: pakai {', '.join(DAY_NAMES)}") from None
        return cls(
            tz=ZoneInfo(cfg.get("timezone") or "Asia/Jakarta"),
            weekdays=weekdays,
            start=parse_time(cfg.get("start", "08:00")),
            end=parse_time(cfg.get("end", "15:00")),
            holidays=frozenset(parse_day(d) for d in cfg.get("holidays") or ()),
        )

    # -- helpers -------------------------------------------------------------------------------
    def _local(self, dt: datetime) -> datetime:
        return _in_zone(dt, self.tz)

    def _at(self, d: date, t: time) -> datetime:
        return datetime.combine(d, t, tzinfo=self.tz)

    def is_working_day(self, d: date) -> bool:
        return d.weekday() in self.weekdays and d not in self.holidays

    def _is_closing(self, local: datetime) -> bool:
        return self.is_working_day(local.date()) and local.time() == self.end

    # -- public --------------------------------------------------------------------------------
    def is_open(self, dt: datetime) -> bool:
        local = self._local(dt)
        return self.is_working_day(local.date()) and self.start <= local.time() < self.end

    def next_opening(self, dt: datetime) -> datetime:
        """The next moment the office opens, or ``dt`` itself (in office time) when it is open."""
        local = self._local(dt)
        if self.is_open(local):
            return local
        d = local.date()
        if self.is_working_day(d) and local.time() < self.start:
            return self._at(d, self.start)
        for _ in range(_MAX_CLOSED_DAYS):
            d += timedelta(days=1)
            if self.is_working_day(d):
                return self._at(d, self.start)
        raise ValueError("working_hours: tidak ada hari kerja dalam sepuluh tahun")

    def add_working_hours(self, dt: datetime, hours: float) -> datetime:
        """``dt`` plus ``hours`` of open office time (Friday 14:00 + 3 h = Monday 10:00).

        A result that falls exactly on closing time stays there (Friday 14:00 + 1 h = Friday 15:00);
        zero hours from a closed moment gives the next opening.
        """
        if hours < 0:
            raise ValueError("jumlah jam tidak boleh negatif")
        remaining = timedelta(microseconds=round(hours * 3_600_000_000))
        cur = self._local(dt)
        if not remaining and (self.is_open(cur) or self._is_closing(cur)):
            return cur
        while True:
            cur = self.next_opening(cur)
            close = self._at(cur.date(), self.end)
            available = close - cur
            if remaining <= available:
                return cur + remaining
            remaining -= available
            cur = close

    def promise(self, dt: datetime) -> Promise:
        return Promise(open_now=self.is_open(dt), next_open=self.next_opening(dt))


@dataclass(frozen=True)
class QuietHours:
    """A daily window of office time in which the bot starts no conversation (no reminders).

    ``start`` is quiet and ``end`` is not: 21:00-07:00 is quiet from 21:00 until 06:59:59 the next
    morning (a window whose start is after its end crosses midnight); 12:00-13:00 is an ordinary one.
    """

    tz: tzinfo
    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("quiet_hours: jam mulai dan selesai harus berbeda (kosongkan quiet_hours bila tidak ada)")

    @classmethod
    def from_config(cls, cfg: Any, tz: tzinfo) -> "QuietHours | None":
        """``{start: "21:00", end: "07:00"}``; ``None`` (the setting absent or empty) means no quiet hours."""
        if cfg is None:
            return None
        if not isinstance(cfg, dict) or set(cfg) != {"start", "end"}:
            raise ValueError("quiet_hours harus berisi tepat 'start' dan 'end', mis. {start: \"21:00\", end: \"07:00\"} "
                             "(atau dikosongkan bila tidak ada)")
        return cls(tz, _hh_mm(cfg["start"], "quiet_hours.start"), _hh_mm(cfg["end"], "quiet_hours.end"))

    def is_quiet(self, dt: datetime) -> bool:
        t = _in_zone(dt, self.tz).time()
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def ends_at(self, dt: datetime) -> datetime:
        """When the quiet window ``dt`` falls in ends, or ``dt`` itself (in office time) when it is not quiet."""
        local = _in_zone(dt, self.tz)
        if not self.is_quiet(local):
            return local
        day = local.date() + timedelta(days=1 if local.time() >= self.end else 0)  # the evening part: tomorrow
        return datetime.combine(day, self.end, tzinfo=self.tz)


def _in_zone(dt: datetime, tz: tzinfo) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required")
    return dt.astimezone(tz)


def _hh_mm(value: Any, name: str) -> time:
    if not isinstance(value, str) or not HH_MM.match(value.strip()):
        raise ValueError(f"{name}: {value!r} bukan jam seperti \"21:00\" (jam 00-23, menit 00-59, dalam tanda kutip)")
    return time.fromisoformat(value.strip())


ZONE_LABELS = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}


def zone_label(tz: ZoneInfo) -> str:
    """How Indonesians name the office's time zone: WIB, WITA or WIT."""
    return ZONE_LABELS.get(str(tz), str(tz))


def format_day_id(d: date) -> str:
    """``date(2026, 11, 23)`` → ``"Senin, 23 November 2026"`` (a datetime gives its date)."""
    return f"{DAYS_ID[d.weekday()]}, {d.day} {MONTHS_ID[d.month - 1]} {d.year}"


def format_date_short(d: date) -> str:
    """``date(2026, 12, 4)`` → ``"4 Des 2026"`` (a datetime gives its date)."""
    return f"{d.day} {MONTHS_SHORT_ID[d.month - 1]} {d.year}"


def format_month_id(d: date) -> str:
    """A month as people write it: 'Januari 2027'."""
    return f"{MONTHS_ID[d.month - 1]} {d.year}"


def format_moment_id(dt: datetime, tz: ZoneInfo) -> str:
    """A moment in the office's time, as citizens read it: ``"4 Des 2026, 10.15 WIB"``."""
    local = _in_zone(dt, tz)
    return f"{format_date_short(local)}, {local:%H.%M} {zone_label(tz)}"
