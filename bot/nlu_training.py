"""Retraining the NLU from admins' labels, in the background, and keeping the NLU server on the
published model.

The job (queue ``training``, taken by the ``trainer`` process) takes a model id: it claims the row
(queued → training), writes the repository's training data plus the labelled examples as a new version,
runs ``rasa train nlu``, scores the new model and the one running now on both evaluation sets in the
same run (evaluating), and records the verdict (ready / worse). The session is closed before each slow
step; progress is written about every second for the console's bar (a retraining no longer running —
failed by the sweeper — stops its program). Every step has a deadline (NLU_TRAIN_TIMEOUT); a failure is
recorded with its reason and never retried by itself (an admin asks again).

``sync_model`` makes the NLU server run the published model (or the repository's, once a published
one was rolled back): at once when an admin publishes or rolls back, and by the sweeper every pass, so
a restarted NLU server is back on the published model within seconds. The server loads a model while
it keeps answering with the old one. A model the server refuses or cannot find is retried a few
times, then left with its reason on the console.
"""
from __future__ import annotations

import logging
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from bot import dispatch, metrics, queues
from bot.appcontext import in_app_context
from handlers import nlu_models, nlu_review
from nlu.trainer import (Server, Toolchain, TrainingError, data_digest, eval_texts, evaluate, normalised,
                         prepare_data, same_model, train)
from storage import db
from storage.models import utcnow
from storage.nlu import ModelStatus, NluModel

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
EXPECTED_TRAIN_SECONDS = 40.0  # the progress bar's guess before any retraining was timed here
EVAL_SECONDS = 25.0
# The progress bar: training fills 5 → 70 %, scoring 75 → 95 %.
TRAIN_SPAN, EVAL_SPAN = (5, 70), (75, 95)
STAGES = {"data": "Menyiapkan data latih", "train": "Melatih model", "eval": "Menguji model"}
LOAD_TIMEOUT = 30.0       # the sweeper's wait for the NLU server to load a model (under its lock's 60 s)
LOAD_TIMEOUT_WEB = 10.0   # an admin's click waits less; the sweeper finishes the job
MAX_LOAD_FAILURES = 5     # then the model is left, its reason shown, until an admin publishes or rolls back


def toolchain() -> Toolchain:
    s = current_app.config["SETTINGS"]
    return Toolchain(rasa_bin=Path(s.rasa_bin), config=Path(s.nlu_train_config), domain=ROOT / "nlu" / "domain.yml",
                     data_dir=ROOT / "nlu" / "data",
                     eval_sets=(("short", ROOT / "nlu" / "tests" / "heldout.yml"),
                                ("long", ROOT / "nlu" / "tests" / "realistic.yml")))


def server() -> Server:
    s = current_app.config["SETTINGS"]
    return Server(s.rasa_url, s.rasa_token)


def models_dir() -> Path:
    return Path(current_app.config["SETTINGS"].nlu_models_dir)


def base_model() -> Path | None:
    """The repository's model (NLU_MODEL, a file or, as Rasa takes it, a folder: its newest model)."""
    setting = current_app.config["SETTINGS"].nlu_base_model
    path = Path(setting) if setting else None
    if path is not None and path.is_dir():
        found = sorted(path.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
        path = found[-1] if found else None
    return path if path is not None and path.is_file() else None


def live_model(session) -> Path | None:
    """The model that should run now: the published one, else the repository's."""
    current = nlu_models.published(session)
    return Path(current.path) if current is not None and current.path else base_model()


def job_timeout() -> int:
    return current_app.config["SETTINGS"].nlu_train_timeout + 60


def request(staff_id: int | None) -> NluModel | None:
    """Queue a retraining (committed); None when one is already queued or running."""
    session = db.session()
    model = nlu_models.request(session, staff_id, utcnow())
    if model is None:
        session.rollback()
        return None
    session.commit()
    dispatch.enqueue_training(model.id, job_timeout())
    return model


def _progress(model_id: int, span: tuple[int, int], expected: float, stage: str):
    """A tick for nlu.trainer: the bar moves with the time spent against the time expected, never to the
    end. A retraining that is no longer running (the sweeper failed it) stops here."""
    low, high = span

    def tick(elapsed: float) -> None:
        share = min(elapsed / max(expected, 1.0), 0.95)
        session = db.session()
        try:
            moved = nlu_models.advance(session, model_id, int(low + (high - low) * share), STAGES[stage])
            session.commit()
        finally:
            session.close()
        if not moved and db.session().scalar(select(NluModel.running).where(NluModel.id == model_id)) is False:
            raise TrainingError("stale", "the retraining is no longer running")

    return tick


def _expected_train_seconds(session) -> float:
    last = session.scalar(select(NluModel.train_seconds).where(NluModel.train_seconds.is_not(None))
                          .order_by(NluModel.id.desc()).limit(1))
    return float(last or EXPECTED_TRAIN_SECONDS)


@in_app_context
def train_model(model_id: int) -> str | None:
    """The training job. Returns the verdict (ready / worse / failed), None when not this job's to run."""
    dispatch.started("training", model_id)
    session, s = db.session(), current_app.config["SETTINGS"]
    if not nlu_models.start(session, model_id, utcnow()):
        session.rollback()
        return None
    session.commit()
    deadline = time.monotonic() + s.nlu_train_timeout
    workdir = models_dir() / f"work-{model_id}"
    try:
        return _train(session, model_id, deadline, workdir)
    except (TrainingError, OSError) as exc:  # a deadline, a program that failed, a full disk: shown, not retried
        _failed(session, model_id, getattr(exc, "code", "disk"), exc)
        return ModelStatus.FAILED
    except Exception as exc:  # noqa: BLE001  (recorded as failed and raised again: never left "running")
        _failed(session, model_id, "unexpected", exc)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # the labelled texts are not left on disk
        session.close()


def _failed(session, model_id: int, code: str, exc: BaseException) -> None:
    session.rollback()
    log.warning("nlu model %s failed (%s): %s", model_id, code, type(exc).__name__)
    nlu_models.fail(session, model_id, code, utcnow())
    session.commit()


def _train(session, model_id: int, deadline: float, workdir: Path) -> str | None:
    tools = toolchain()
    if tools.check():
        raise TrainingError("missing_tools", "missing: " + ", ".join(tools.check()))
    baseline = live_model(session)
    if baseline is None or not baseline.is_file():
        raise TrainingError("no_baseline", "no model to compare with (NLU_MODEL, or the published model's file)")
    kept_apart = eval_texts(tools)  # an evaluation set's own sentence is never trained on
    examples = [(text, intent) for text, intent in nlu_review.examples(session) if normalised(text) not in kept_apart]
    expected = _expected_train_seconds(session)
    nlu_models.advance(session, model_id, 3, STAGES["data"])
    session.commit()
    session.close()  # nothing open during the slow steps

    data = prepare_data(tools, workdir, examples)
    started = time.monotonic()
    model = train(tools, data, models_dir(), f"nlu-{model_id}", max(deadline - time.monotonic(), 1.0),
                  _progress(model_id, TRAIN_SPAN, expected, "train"))
    train_seconds = time.monotonic() - started
    nlu_models.advance(session, model_id, EVAL_SPAN[0], STAGES["eval"], status=ModelStatus.EVALUATING)
    session.commit()
    session.close()
    scored = evaluate(tools, [model, baseline], max(deadline - time.monotonic(), 1.0),
                      _progress(model_id, EVAL_SPAN, EVAL_SECONDS * 2, "eval"))
    status = nlu_models.finish(session, model_id, utcnow(), path=str(model), baseline=str(baseline),
                               after=_summary(scored[0]), before=_summary(scored[1]), train_seconds=train_seconds,
                               examples=len(examples), digest=data_digest(examples),
                               parse_ms=scored[0].get("parse_ms"))
    session.commit()
    log.info("nlu model %s: %s (%d labelled examples, %.0f s)", model_id, status, len(examples), train_seconds)
    return status


def _summary(result: dict) -> dict:
    """What the console shows of one model's scores: per set accuracy, macro-F1, per-intent F1 and the
    main confusions (the evaluation sets' own texts are not kept)."""
    return {name: {"n": r["n"], "correct": r["correct"], "accuracy": r["accuracy"], "macro_f1": r["macro_f1"],
                   "per_intent": {k: v["f1"] for k, v in r["per_intent"].items()}, "confusions": r["confusions"][:5]}
            for name, r in result["sets"].items()}


def sync_model(timeout: float = LOAD_TIMEOUT) -> str:
    """Make the NLU server run the published model (none published: the repository's); returns what
    happened. Until a model was ever retrained, the server keeps the model it was started with. A
    model refused or missing MAX_LOAD_FAILURES times is left alone (its reason is on the console)."""
    session = db.session()
    ever = session.scalar(select(NluModel.id).where(NluModel.path.is_not(None)).limit(1)) is not None
    current = nlu_models.published(session)
    wanted = live_model(session) if ever else None
    if wanted is None or (current is not None and current.load_failures >= MAX_LOAD_FAILURES):
        session.close()
        return "no_model" if wanted is None else "given_up"
    try:
        srv = server()
        if same_model(srv.model_file(), wanted):
            return "in_sync"
        if not wanted.is_file():
            raise TrainingError("model_missing", f"the model file is missing: {wanted.name}")
        srv.load(wanted, timeout)
    except TrainingError as exc:
        if current is not None and exc.code != "server_down":
            nlu_models.load_failed(session, current.id, exc.code)
            session.commit()
        raise
    finally:
        session.close()
    if current is not None:
        nlu_models.loaded(session, current.id)
        session.commit()
        session.close()
    return "loaded"


def sweep(now: datetime) -> int:
    """The sweeper's step: retrainings that lost their worker fail, queued ones Redis forgot are queued
    again, and the NLU server is put on the published model. An NLU server that does not answer is
    logged and tried again next pass (it is not work left unqueued)."""
    session = db.session()
    failed = nlu_models.fail_stale(session, now, stale_limit())
    queued = list(session.scalars(select(NluModel.id).where(NluModel.status == ModelStatus.QUEUED)))
    session.commit()
    session.close()
    waiting = dispatch.waiting_jobs(queues.TRAINING) if queued else set()
    requeued = sum(1 for model_id in queued if dispatch.enqueue_training(model_id, job_timeout(), waiting))
    try:
        loaded = sync_model() == "loaded"
    except TrainingError as exc:
        log.warning("nlu server not on the published model yet (%s)", exc.code)
        metrics.incr("nlu_sync_errors")
        loaded = False
    return failed + requeued + int(loaded)


def stale_limit() -> timedelta:
    """A retraining still queued or running after this long has lost its worker (the job's own deadline
    is shorter)."""
    return timedelta(seconds=job_timeout() + current_app.config["SETTINGS"].sweep_grace)
