"""The NLU models retrained from admins' labels (storage.nlu.NluModel): asking for a retraining,
its progress, the verdict against the published model, publishing and rollback. Every move is a
compare-and-set on ``status``; the job that trains and the pages that show it are in bot/.

"Not worse" is decided here, once: on every evaluation set, measured in the same run on the same
sets, the new model gets at most MESSAGES_SLACK message fewer right than the model running now, and
its macro-F1 is at most F1_SLACK lower. One message either way is noise (a retraining that teaches the
bot one sentence may move a far-off message across the fallback threshold); more is a regression.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from storage.nlu import ModelStatus, NluModel

MESSAGES_SLACK = 1   # messages of an evaluation set
F1_SLACK = 0.01      # macro-F1


def running(session) -> NluModel | None:
    return session.scalar(select(NluModel).where(NluModel.running.is_(True)))


def published(session) -> NluModel | None:
    return session.scalar(select(NluModel).where(NluModel.status == ModelStatus.PUBLISHED))


def history(session, limit: int = 20) -> list[NluModel]:
    return list(session.scalars(select(NluModel).order_by(NluModel.id.desc()).limit(limit)))


def request(session, staff_id: int | None, now: datetime) -> NluModel | None:
    """A new retraining, queued; None when one is already queued or running (one at a time)."""
    model = NluModel(status=ModelStatus.QUEUED, running=True, progress=0, requested_by=staff_id, created_at=now)
    try:
        with session.begin_nested():
            session.add(model)
    except IntegrityError:
        return None
    return model


def start(session, model_id: int, now: datetime) -> bool:
    """queued → training (the worker that wins runs it)."""
    return _move(session, model_id, (ModelStatus.QUEUED,), status=ModelStatus.TRAINING, started_at=now,
                 progress=1)


def advance(session, model_id: int, progress: int, stage: str | None = None, status: str | None = None) -> bool:
    """Progress of a running model (never backwards); False when it is no longer running."""
    values = {"progress": progress} | ({"stage": stage} if stage else {}) | ({"status": status} if status else {})
    moved = bool(session.execute(
        update(NluModel).where(NluModel.id == model_id, NluModel.running.is_(True), NluModel.progress <= progress)
        .values(**values).execution_options(synchronize_session=False)
    ).rowcount)
    _forget(session, model_id)
    return moved


class _Lost(Exception):
    """A compare-and-set found the row already moved by someone else."""


def not_worse(after: dict, before: dict | None) -> bool:
    """True when, on every evaluation set the running model was scored on, the new one is not worse
    (see above). Without scores of the running model there is nothing to compare with: not known to be."""
    if not before:
        return False
    for name, old in before.items():
        new = after.get(name)
        if new is None or new.get("n") != old.get("n"):
            return False
        if new["correct"] < old["correct"] - MESSAGES_SLACK or new["macro_f1"] < old["macro_f1"] - F1_SLACK:
            return False
    return True


def finish(session, model_id: int, now: datetime, *, path: str, baseline: str | None, after: dict,
           before: dict | None, train_seconds: float, examples: int, digest: str,
           parse_ms: dict | None = None) -> str | None:
    """evaluating → ready or worse; returns the new status (None when it was no longer running)."""
    status = ModelStatus.READY if not_worse(after, before) else ModelStatus.WORSE
    moved = _move(session, model_id, ModelStatus.RUNNING, status=status, running=False, progress=100, stage=None,
                  path=path, baseline=baseline, scores={"after": after, "before": before, "parse_ms": parse_ms},
                  train_seconds=round(train_seconds, 1), examples=examples, data_digest=digest, finished_at=now)
    return status if moved else None


def fail(session, model_id: int, error: str, now: datetime) -> bool:
    """A running retraining failed; ``error`` is a code (handlers.labels.MODEL_ERRORS)."""
    return _move(session, model_id, ModelStatus.RUNNING, status=ModelStatus.FAILED, running=False, stage=None,
                 error=error[:40], finished_at=now)


def fail_stale(session, now: datetime, limit: timedelta) -> int:
    """Retrainings queued, or started, longer than ``limit`` ago (their worker died): failed, so that a new
    one may start. A retraining that waited long in the queue is measured from when it started."""
    return session.execute(
        update(NluModel).where(NluModel.running.is_(True),
                               func.coalesce(NluModel.started_at, NluModel.created_at) < now - limit)
        .values(status=ModelStatus.FAILED, running=False, stage=None, finished_at=now, error="stale")
        .execution_options(synchronize_session=False)
    ).rowcount


def publish(session, model_id: int, staff_id: int | None, now: datetime, live_baseline: str | None) -> bool:
    """ready → published, the published one retiring. Only a model scored against what runs now
    (``live_baseline``: the published model's file, or the repository's) may be published: one scored
    against an older model might be worse than the newer one. False when it may not be published."""
    target = session.get(NluModel, model_id)
    if target is None or target.status != ModelStatus.READY or not target.path or target.baseline != live_baseline:
        return False
    current = published(session)
    try:
        with session.begin_nested():  # both moves or neither
            if current is not None and not _move(session, current.id, (ModelStatus.PUBLISHED,),
                                                 status=ModelStatus.RETIRED):
                raise _Lost
            if not _move(session, model_id, (ModelStatus.READY,), status=ModelStatus.PUBLISHED, published_by=staff_id,
                         published_at=now, replaced_id=current.id if current else None, load_failures=0,
                         load_error=None):
                raise _Lost
    except (IntegrityError, _Lost):  # another admin published or rolled back at the same moment
        _forget(session, model_id)
        return False
    return True


def rollback(session, staff_id: int | None, repository_known: bool,
             expected_id: int) -> tuple[bool, NluModel | None]:
    """The published model — ``expected_id``, the one the admin saw: a second click, or another admin's,
    does not go back one more — retires and the model it replaced comes back (None: the repository's,
    only when it is known); rolling back again goes further back. Returns (done, the model now published)."""
    current = published(session)
    if current is None or current.id != expected_id or (current.replaced_id is None and not repository_known):
        return False, None
    previous = session.get(NluModel, current.replaced_id) if current.replaced_id else None
    if previous is not None and (previous.status != ModelStatus.RETIRED or not previous.path):
        return False, None
    try:
        with session.begin_nested():  # both moves or neither
            if not _move(session, current.id, (ModelStatus.PUBLISHED,), status=ModelStatus.RETIRED):
                raise _Lost
            if previous is not None and not _move(session, previous.id, (ModelStatus.RETIRED,),
                                                  status=ModelStatus.PUBLISHED, published_by=staff_id,
                                                  load_failures=0, load_error=None):
                raise _Lost
    except (IntegrityError, _Lost):
        return False, None
    return True, previous


def load_failed(session, model_id: int, error: str) -> int:
    """The NLU server refused or could not find the published model: counted; returns the count."""
    session.execute(update(NluModel).where(NluModel.id == model_id)
                    .values(load_failures=NluModel.load_failures + 1, load_error=error[:40])
                    .execution_options(synchronize_session=False))
    _forget(session, model_id)
    return session.scalar(select(NluModel.load_failures).where(NluModel.id == model_id)) or 0


def loaded(session, model_id: int) -> None:
    session.execute(update(NluModel).where(NluModel.id == model_id, NluModel.load_failures > 0)
                    .values(load_failures=0, load_error=None).execution_options(synchronize_session=False))
    _forget(session, model_id)


def _move(session, model_id: int, sources: tuple[str, ...], **values) -> bool:
    moved = bool(session.execute(
        update(NluModel).where(NluModel.id == model_id, NluModel.status.in_(sources)).values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount)
    _forget(session, model_id)
    return moved


def _forget(session, model_id: int) -> None:
    """The row changed in the database: a copy held by this session is read again when next used."""
    held = session.identity_map.get(session.identity_key(NluModel, model_id))
    if held is not None:
        session.expire(held)
