"""The one owner of a citizen's conversation state: everyone else asks here.

The worker changes the state through ``flows.dialogue`` (one message at a time); the console, the API
and the sweeper call the operations below. Each operation reads the row, changes a copy of the state
and writes it back; the row's ``version`` makes the write a compare-and-set (``Conversation`` maps it
as SQLAlchemy's version counter), so a writer that read an older version fails with ``StaleDataError``
at flush or commit, and ``retrying`` runs the whole operation again on fresh state.

What a conversation can be doing::

            ┌────────────── start (menu, sentence) ──────────────┐
            │                                                    v
          idle <──── finish / cancel / set_aside ───────── in a run (state["run"]) ──┐
            ^                                                    │  ^                │ 24 h idle
            │            LANJUT ────────────────────────────────────┘                │ (expire)
            └──── anything else ──── run paused (state["paused_run"]) <──────────────┘
    any ── officer asked / take_over ──> handoff (bot silent) ── hand_back / case closed / timeout ──> as before
    any ── reopen_at (agent needs one item) ──> a run at that one step; the run in progress is paused
    any ── ask_survey (case closed) ──> survey pending: the next "1"-"4" is the rating, then a comment
"""
from __future__ import annotations

import copy
import logging
import time
from datetime import datetime, timedelta
from typing import Callable, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.exc import StaleDataError

from flows import engine
from flows.definition import Flow
from handlers.product import Product
from storage.cases import Case
from storage.models import Citizen, Conversation, as_utc

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_CONFLICTS = 5


class Conflict(RuntimeError):
    """The conversation changed between reading it and writing it: decide again on fresh state."""


def get(session, citizen_id: int) -> Conversation:
    """The citizen's conversation row as it is in the database now (even when the session already holds
    an older copy of it), created when missing (safe when two writers race to create it)."""
    found = session.scalar(select(Conversation).where(Conversation.citizen_id == citizen_id)
                           .execution_options(populate_existing=True))
    if found is not None:
        return found
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(Conversation).values(citizen_id=citizen_id, state={}, version=1)
                    .on_conflict_do_nothing(index_elements=[Conversation.citizen_id]))
    return session.scalar(select(Conversation).where(Conversation.citizen_id == citizen_id))


def state_of(conversation: Conversation) -> dict:
    """A private copy of the state, safe to change (nested values included)."""
    return copy.deepcopy(conversation.state or {})


def save(conversation: Conversation, state: dict, now: datetime, **columns) -> None:
    """Write the new state (compare-and-set on ``version`` at flush, even when nothing else changed)."""
    conversation.state = state
    conversation.updated_at = now
    for name, value in columns.items():
        setattr(conversation, name, value)


def retrying(session, operation: Callable[[], T], attempts: int = MAX_CONFLICTS) -> T:
    """Run ``operation`` and commit; on a conflicting write, roll back and run it again on fresh state."""
    for attempt in range(1, attempts + 1):
        try:
            result = operation()
            session.commit()
            return result
        except (StaleDataError, Conflict):
            session.rollback()
            if attempt == attempts:
                raise
            log.info("conversation changed meanwhile; deciding again (attempt %d)", attempt + 1)
            time.sleep(0.01 * attempt)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------- asked by the back office
def reopen_at(session, citizen: Citizen, flow: Flow, step_id: str, case_id: int, product: Product,
              now: datetime) -> str:
    """An officer needs one item again: a run of the case's flow at just that step (the run in
    progress, if any, waits until it is answered). The bot speaks again to collect it. Returns the question."""
    conversation = get(session, citizen.id)
    state = state_of(conversation)
    office = session.scalar(select(Case).where(Case.id == case_id)).branch
    run = engine.new_run(flow, step_id, engine.base_values(product, citizen.phone, office), need_info_case=case_id)
    current = state.pop("run", None)
    if current and current.get("need_info_case"):  # another request waits for the citizen: it comes next
        run["waiting"] = [{**current, "waiting": []}] + current.get("waiting", [])
    elif current:
        engine.park(session, state, current)
    state["run"] = run
    save(conversation, state, now, active_flow=flow.id, last_activity_at=now, reminded_at=None, handoff_since=None)
    return engine.prompt(product, flow, flow.step(step_id), run)


def reopen_question(citizen: Citizen | None, flow: Flow, step_id: str, product: Product) -> str:
    """The question ``reopen_at`` will ask, without asking it (for the officer's confirmation)."""
    run = engine.new_run(flow, step_id, engine.base_values(product, citizen.phone if citizen else None))
    return engine.prompt(product, flow, flow.step(step_id), run)


def ask_survey(session, citizen: Citizen, case_id: int, now: datetime) -> None:
    """The case is closed: the next answer 1-4 is the satisfaction rating. Closing also ends a chat
    with an officer, so the bot hears the answer."""
    conversation = get(session, citizen.id)
    state = state_of(conversation)
    state["survey"], state["survey_asked_at"] = case_id, now.isoformat()
    state.pop("survey_comment", None)
    save(conversation, state, now, handoff_since=None)


def take_over(session, citizen: Citizen, now: datetime) -> bool:
    """An officer talks with the citizen: the bot stays silent. False when it already was."""
    conversation = get(session, citizen.id)
    state = state_of(conversation)
    waiting = engine.stop_awaiting_officer(state)  # the citizen asked for an officer: one has now written
    if conversation.handoff_since is not None:
        if waiting:
            save(conversation, state, now)
        return False
    save(conversation, state, now, handoff_since=now)
    return True


def hand_back(session, citizen: Citizen, now: datetime) -> bool:
    """The bot answers again. False when it was not silent."""
    conversation = get(session, citizen.id)
    if conversation.handoff_since is None:
        return False
    state = state_of(conversation)
    engine.stop_awaiting_officer(state)
    save(conversation, state, now, handoff_since=None)
    return True


def is_silent(conversation: Conversation | None) -> bool:
    return conversation is not None and conversation.handoff_since is not None


# ---------------------------------------------------------------------------- asked by the worker and the sweeper
def set_aside(session, citizen_id: int, now: datetime) -> None:
    """A message of this citizen could not be handled: the run it was in is put aside (offered back
    later), so that the next message starts from a clean state instead of failing the same way."""
    conversation = get(session, citizen_id)
    state = state_of(conversation)
    run = state.pop("run", None)
    if run:
        engine.park(session, state, run)  # an officer's request too: offered back, or sent back to the agents
    for key in ("offered", "survey", "survey_comment", "survey_asked_at"):
        state.pop(key, None)
    save(conversation, state, now, active_flow=None, reminded_at=None)


def forget(session, citizen_ids: list[int]) -> int:
    """The conversations of citizens whose data is erased (retention, or their own request)."""
    if not citizen_ids:
        return 0
    return session.execute(delete(Conversation).where(Conversation.citizen_id.in_(citizen_ids))).rowcount


def reset(session, citizen_id: int) -> bool:
    """Start a (test) conversation afresh: every run is dropped, requests an officer was waiting for go
    back to the agents, then the conversation itself goes. False when there was none."""
    row = session.scalar(select(Conversation).where(Conversation.citizen_id == citizen_id))
    if row is None:
        return False
    state = state_of(row)
    engine.drop_paused(session, state, everything=True)
    engine.abandon(session, state.pop("run", None))
    session.delete(row)
    return True


def drop_abandoned(session, older_than: datetime, now: datetime, limit: int = 500) -> int:
    """Runs put aside and never resumed: their answers (personal data) are dropped; a request an
    officer was waiting for goes back to the agents."""
    rows = session.scalars(select(Conversation).where(Conversation.last_activity_at < older_than)
                           .order_by(Conversation.id).limit(limit)).all()
    dropped = 0
    for row in rows:
        state = state_of(row)
        dropped += int("paused_run" in state or "run" in state)
        engine.drop_paused(session, state, everything=True)
        engine.abandon(session, state.pop("run", None))
        save(row, state, now, active_flow=None, last_activity_at=None)  # no run left to wait for: not picked again
    return dropped


def idle_since(conversation: Conversation, now: datetime) -> timedelta:
    return now - as_utc(conversation.last_activity_at or now)


def remind_or_expire(session, conversation: Conversation, flows: dict, product: Product,
                     now: datetime) -> tuple[str, str | None]:
    """A run waiting for the citizen: put aside after ``run_expires_after_hours`` (offered back when
    they return), a reminder once after ``reminder_after_minutes``, never in the quiet hours (one that
    falls due then waits for their end, unless the run is put aside first). ``flows`` must hold the
    run's own flow version. Returns ``("expired" | "reminded" | "none", reminder text or None)``."""
    state = state_of(conversation)
    run = state.get("run")
    if conversation.active_flow is None or not run:
        return "none", None
    idle = idle_since(conversation, now)
    if idle >= timedelta(hours=product.run_expires_after_hours) or not engine.runnable(flows, run):
        engine.park(session, state, state.pop("run"))
        save(conversation, state, now, active_flow=None)
        return "expired", None
    if conversation.reminded_at is not None or idle < timedelta(minutes=product.reminder_after_minutes):
        return "none", None
    if product.quiet_hours is not None and product.quiet_hours.is_quiet(now):
        return "none", None  # still due: a later pass sends it once the quiet hours end
    flow = flows[run["flow"]]
    text = (engine.text(product, flow, "reminder", {"title": flow.title}) + "\n\n"
            + engine.prompt(product, flow, flow.step(run["step"]), run))
    save(conversation, state, now, reminded_at=now)
    return "reminded", text
