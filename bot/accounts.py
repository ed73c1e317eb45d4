"""Staff accounts: passwords, console sessions, API tokens, and throttling of login attempts.

- Passwords: scrypt hashes (werkzeug), at least 12 characters of two kinds, not the name, not a common
  one. A failed login for a name that does not exist takes as long as for one that does.
- Sessions: a random token in the cookie, its SHA-256 in ``staff_sessions``; logging out, changing a
  password or an admin's reset revokes every copy; idle after ``SESSION_IDLE_MINUTES`` without a page
  the person asked for (automatic refreshes say so and do not count), over 8 hours after login.
- Login throttling, the same for every name whether it exists or not (nothing to learn from the
  answers): failures per client address (50 in 10 minutes), per name and address (5 failures: 15
  minutes' pause), per name from anywhere (an account under attack from many addresses is locked for
  15 minutes and the lock audited). An office behind one address is not stopped by its own logins.
  Counters are Redis INCRs: atomic, however many requests arrive at once.
- API tokens: SHA-256 stored; each has a label, a role never above its owner's and an expiry.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from redis.exceptions import RedisError
from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from bot import queues
from handlers import branches
from storage import keys
from storage.branches import StaffBranch
from storage.models import as_utc, utcnow
from storage.staff import ApiToken, Role, Staff, StaffSession

log = logging.getLogger(__name__)

SESSION_HOURS = 8  # one working day, at the most
PASSWORD_MIN = 12
COMMON_PASSWORDS = frozenset({
    "password1234", "passwordpassword", "123456789012", "qwertyuiop12", "bpjskesehatan", "bpjskesehatan1",
    "pandawa12345", "rahasia12345", "katasandi123", "admin1234567", "indonesia123", "jakarta12345",
})
# Throttles: (what is counted, limit, window in seconds).
PER_ADDRESS = (50, 600)       # failures from one client address, any name
PER_NAME_ADDRESS = (5, 900)   # failures for one name from one address
PER_NAME = (30, 3600)         # failures for one name from anywhere: the account is locked
LOCK_MINUTES = 15
TOKEN_DAYS = 90


class AccountError(ValueError):
    """A rule about accounts says no (the message is for the person, in Indonesian)."""


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# ------------------------------------------------------------------------------------------ passwords
def password_problems(name: str, password: str) -> list[str]:
    found = []
    if len(password) < PASSWORD_MIN:
        found.append(f"Kata sandi minimal {PASSWORD_MIN} karakter.")
    kinds = sum(bool(check) for check in (any(c.isalpha() for c in password), any(c.isdigit() for c in password),
                                          any(not c.isalnum() for c in password)))
    if kinds < 2:
        found.append("Kata sandi harus memuat dua jenis karakter (huruf, angka atau simbol).")
    lowered = password.lower()
    if len(name) >= 3 and name.lower() in lowered:
        found.append("Kata sandi tidak boleh memuat nama pengguna.")
    if lowered in COMMON_PASSWORDS or len(set(password)) <= 3:
        found.append("Kata sandi ini terlalu mudah ditebak.")
    return found


def hash_password(password: str) -> str:
    return generate_password_hash(password)  # scrypt with a random salt


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Checked against when the name does not exist, so that the answer takes as long."""
    return hash_password(secrets.token_urlsafe(16))


def verify(staff: Staff | None, password: str) -> bool:
    if staff is None or not staff.active:
        check_password_hash(_dummy_hash(), password)
        return False
    return check_password_hash(staff.password_hash, password)


def create_staff(session, name: str, role: str, password: str, branch_codes: tuple[str, ...] = (),
                 national: bool = False) -> Staff:
    """A new officer, working for the branches named (none named: the default branch); a national
    supervisor sees every branch's cases."""
    if role not in Role.ALL:
        raise AccountError(f"role must be one of {', '.join(Role.ALL)}")
    if national and role != Role.SUPERVISOR:
        raise AccountError("only a supervisor can be national (admins see every branch anyway)")
    problems = password_problems(name, password)
    if problems:
        raise AccountError(" ".join(problems))
    chosen = [branches.by_code(session, code) for code in branch_codes] or [branches.default(session)]
    unknown = [code for code, branch in zip(branch_codes, chosen) if branch is None]
    if unknown:
        raise AccountError(f"no branch {', '.join(unknown)} (see `flask --app bot branches list`)")
    staff = Staff(name=name, role=role, password_hash=hash_password(password), password_changed_at=utcnow(),
                  national=national)
    session.add(staff)
    session.flush()
    session.add_all(StaffBranch(staff_id=staff.id, branch_id=branch.id) for branch in chosen)
    return staff


def set_password(session, staff: Staff, password: str, temporary: bool = False) -> None:
    """A new password ends every console session of its holder (API tokens stay: revoke them apart)
    and clears the lock. A temporary one (an admin's reset) must be changed at the next login."""
    problems = password_problems(staff.name, password)
    if problems:
        raise AccountError(" ".join(problems))
    staff.password_hash = hash_password(password)
    staff.password_changed_at = None if temporary else utcnow()
    unlock(session, staff)
    end_all_sessions(session, staff.id)


def must_change_password(staff: Staff) -> bool:
    """Set by an admin (a temporary password), or set before the password rules of this version."""
    return staff.password_changed_at is None


# ------------------------------------------------------------------------------------------ sessions
@dataclass
class Login:
    token: str
    session: StaffSession


def start_session(session, staff: Staff) -> Login:
    token, now = secrets.token_urlsafe(32), utcnow()
    row = StaffSession(token_hash=_digest(token), staff_id=staff.id, created_at=now, last_seen_at=now,
                       expires_at=now + timedelta(hours=SESSION_HOURS))
    session.add(row)
    return Login(token, row)


def session_for(session, token: str, idle: timedelta, touch: bool) -> StaffSession | None:
    """The live session of this cookie token; ``touch``: the person asked for a page (not a refresh)."""
    row = session.scalar(select(StaffSession).where(StaffSession.token_hash == _digest(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= now \
            or as_utc(row.last_seen_at) + idle <= now or not row.staff.active:
        return None
    if touch and now - as_utc(row.last_seen_at) > timedelta(seconds=30):  # at most one write per half minute
        row.last_seen_at = now
        session.commit()
    return row


def end_session(session, token: str) -> None:
    session.execute(update(StaffSession).where(StaffSession.token_hash == _digest(token),
                                               StaffSession.revoked_at.is_(None)).values(revoked_at=utcnow()))


def end_all_sessions(session, staff_id: int) -> int:
    return session.execute(update(StaffSession).where(StaffSession.staff_id == staff_id,
                                                      StaffSession.revoked_at.is_(None))
                           .values(revoked_at=utcnow())).rowcount


# ------------------------------------------------------------------------------------------ throttling
def normalised_address(address: str) -> str:
    """IPv6 clients are counted by their /64 network (one host holds a whole /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


def _key_name(name: str) -> str:
    return name.strip().lower()


def attempt(name: str, address: str) -> bool:
    """Count this attempt *before* the password is checked (so that parallel guesses are all counted)
    and say whether it may go on. The same for every name, known or not: nothing to learn."""
    name, address = _key_name(name), normalised_address(address)
    try:
        connection = queues.redis()
        if connection.exists(keys.login_locked(name)):
            return False
        pipe = connection.pipeline()
        for key, (limit, window) in ((keys.login_failures_from(address), PER_ADDRESS),
                                     (keys.login_failures(name, address), PER_NAME_ADDRESS),
                                     (keys.login_failures(name), PER_NAME)):
            pipe.incr(key)
            pipe.expire(key, window, nx=True)
        counts = pipe.execute()[0::2]
    except RedisError as exc:  # the account lock in the database still holds (see failed)
        log.warning("login throttling unavailable (%s)", type(exc).__name__)
        return True
    return counts[0] <= PER_ADDRESS[0] and counts[1] <= PER_NAME_ADDRESS[0] and counts[2] <= PER_NAME[0]


def failed(session, name: str, staff: Staff | None) -> bool:
    """The attempt failed; True when it locked the account (or the name, when it is not an account)
    for LOCK_MINUTES, from everywhere. With Redis away, the database's own count decides."""
    name = _key_name(name)
    try:
        everywhere = int(queues.redis().get(keys.login_failures(name)) or 0)
    except RedisError:
        everywhere = None
    counted = None
    if staff is not None:
        counted = session.execute(update(Staff).where(Staff.id == staff.id)
                                  .values(failed_logins=Staff.failed_logins + 1)
                                  .returning(Staff.failed_logins)).scalar()
    if (everywhere if everywhere is not None else (counted or 0)) < PER_NAME[0]:
        return False
    try:
        queues.redis().set(keys.login_locked(name), 1, ex=LOCK_MINUTES * 60)
        queues.redis().delete(keys.login_failures(name))
    except RedisError:
        log.warning("name lock not kept in Redis (away); the account's lock in the database holds")
    if staff is None:
        return False
    session.execute(update(Staff).where(Staff.id == staff.id)
                    .values(locked_until=utcnow() + timedelta(minutes=LOCK_MINUTES), failed_logins=0))
    return True


def succeeded(session, name: str, address: str, staff: Staff) -> None:
    """A good password: this name's failures from this address are forgiven."""
    session.execute(update(Staff).where(Staff.id == staff.id).values(failed_logins=0, locked_until=None))
    name, address = _key_name(name), normalised_address(address)
    try:
        pipe = queues.redis().pipeline()
        pipe.delete(keys.login_failures(name, address))
        pipe.decr(keys.login_failures(name))
        pipe.decr(keys.login_failures_from(address))
        pipe.execute()
    except RedisError:
        log.warning("login failures for this address not cleared (Redis away); they expire")


def unlock(session, staff: Staff) -> None:
    """An admin opens an account: the database's lock and every count kept for the name."""
    staff.locked_until, staff.failed_logins = None, 0
    name = _key_name(staff.name)
    try:
        connection = queues.redis()
        stale = [keys.login_locked(name), keys.login_failures(name),
                 *connection.scan_iter(match=keys.login_failures(name, "*"), count=200)]
        connection.delete(*stale)
    except RedisError:
        log.warning("login counts of staff_id=%s not cleared (Redis away); they expire", staff.id)


def locked(staff: Staff | None, now: datetime) -> bool:
    return staff is not None and staff.locked_until is not None and as_utc(staff.locked_until) > now


# ------------------------------------------------------------------------------------------ API tokens
@dataclass(frozen=True)
class Acting:
    """A staff member acting through an API token: the token's role, never above the owner's."""

    id: int
    name: str
    role: str
    token_id: int | None = None
    national: bool = False  # the owner is a national supervisor (handlers.visibility)

    def at_least(self, role: str) -> bool:
        return Role.RANK[self.role] >= Role.RANK[role]



def new_token(session, staff: Staff, role: str | None = None, days: int = TOKEN_DAYS, label: str = "") -> str:
    """A new bearer token acting as ``role`` (at most the owner's); only its SHA-256 is stored."""
    role = role or staff.role
    if role not in Role.ALL or Role.RANK[role] > Role.RANK[staff.role]:
        raise AccountError(f"a token's role must be one of {', '.join(Role.ALL)} and not above {staff.role}")
    if not 1 <= days <= 366:
        raise AccountError("a token lives 1 to 366 days")
    token = "pdw_" + secrets.token_urlsafe(32)
    session.add(ApiToken(staff_id=staff.id, token_hash=_digest(token), role=role, label=(label or None),
                         expires_at=utcnow() + timedelta(days=days)))
    return token


def token_for(session, token: str) -> ApiToken | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked.is_(False)))
    now = utcnow()
    if row is None or not row.staff.active or (row.expires_at is not None and as_utc(row.expires_at) <= now):
        return None
    row.last_used_at = now
    return row


def token_role(row: ApiToken) -> str:
    """What the token may do: its own role, never above its owner's present role."""
    role = row.role or row.staff.role
    return role if Role.RANK[role] <= Role.RANK[row.staff.role] else row.staff.role
