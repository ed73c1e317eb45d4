"""Retrained NLU models: one retraining at a time, compare-and-set moves, "not worse" decided once,
publishing and rollback (further back each time), a retraining that lost its worker fails, one that
Redis forgot is queued again, and a failing retraining is recorded with its reason, never retried."""
from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask import current_app

from bot import create_app, nlu_training, queues
from handlers import nlu_models
from nlu.trainer import Toolchain, TrainingError, _run, training_yaml
from storage import db
from storage.models import utcnow
from storage.nlu import ModelStatus, NluModel
from tests.helpers import add_staff, csrf, logged_in, run_jobs

pytestmark = pytest.mark.one_backend

def scores(short: int, long: int, short_f1: float = 0.95, long_f1: float = 0.88) -> dict:
    """Scores on the two evaluation sets (154 and 244 messages), by how many were right."""
    return {"short": {"n": 154, "correct": short, "accuracy": round(short / 154, 4), "macro_f1": short_f1},
            "long": {"n": 244, "correct": long, "accuracy": round(long / 244, 4), "macro_f1": long_f1}}


SCORES = scores(148, 220)


@pytest.fixture
def app(env, tmp_path):
    base = tmp_path / "repository.tar.gz"
    base.write_bytes(b"not a model: no NLU server reads it here")
    app = create_app({"ENV": {**env, "RASA_URL": "http://127.0.0.1:1", "NLU_MODEL": str(base)}, "TESTING": True})
    add_staff(app, ("adi", "admin"))
    yield app
    app.extensions["db"].dispose()


def base() -> str:
    """The repository's model of the app in context (its NLU_MODEL)."""
    return current_app.config["SETTINGS"].nlu_base_model


def trained(session, after=SCORES, before=SCORES, path="/tmp/m.tar.gz", baseline=None) -> NluModel:
    """A retraining that ended: scored against ``baseline`` (default: the repository's model)."""
    baseline = baseline or base()
    model = nlu_models.request(session, None, utcnow())
    assert nlu_models.start(session, model.id, utcnow())
    nlu_models.finish(session, model.id, utcnow(), path=path, baseline=baseline, after=after, before=before,
                      train_seconds=12.0, examples=3, digest="abc")
    session.commit()
    return session.get(NluModel, model.id)


def test_one_retraining_at_a_time_and_each_move_once(app):
    with app.app_context():
        session = db.session()
        first = nlu_models.request(session, None, utcnow())
        assert first is not None and nlu_models.request(session, None, utcnow()) is None
        session.commit()
        assert nlu_models.start(session, first.id, utcnow()) and not nlu_models.start(session, first.id, utcnow())
        assert nlu_models.advance(session, first.id, 40) and not nlu_models.advance(session, first.id, 30)
        nlu_models.fail(session, first.id, "boom", utcnow())
        session.commit()
        assert nlu_models.request(session, None, utcnow()) is not None  # the failed one no longer blocks


@pytest.mark.parametrize("after, verdict", [
    (SCORES, ModelStatus.READY),
    (scores(150, 225, 0.96, 0.90), ModelStatus.READY),
    (scores(147, 219, 0.945, 0.875), ModelStatus.READY),  # one message and less than 0.01 of F1: noise
    (scores(146, 240, 0.99, 0.99), ModelStatus.WORSE),    # two messages fewer on the short set
    (scores(148, 218), ModelStatus.WORSE),
    (scores(149, 221, 0.95, 0.869), ModelStatus.WORSE),   # a small intent much worse: macro-F1 down 0.011
    ({"short": scores(154, 244)["short"]}, ModelStatus.WORSE),  # a set not scored is not "not worse"
])
def test_a_model_is_ready_only_when_not_worse_on_every_set_and_measure(app, after, verdict):
    with app.app_context():
        assert trained(db.session(), after=after).status == verdict


def test_without_scores_of_the_running_model_a_new_one_is_not_known_to_be_not_worse(app):
    with app.app_context():
        assert trained(db.session(), before=None).status == ModelStatus.WORSE


def test_publish_retires_the_published_one_and_rollback_goes_back_along_what_each_replaced(app):
    with app.app_context():
        session = db.session()
        a = trained(session, path="/tmp/a.tar.gz")
        worse = trained(session, after=scores(15, 24, 0.1, 0.1))
        assert not nlu_models.publish(session, worse.id, None, utcnow(), base())
        assert not nlu_models.publish(session, a.id, None, utcnow(), "/tmp/other.tar.gz")  # scored against another
        assert nlu_models.publish(session, a.id, None, utcnow(), base())
        session.commit()
        b = trained(session, path="/tmp/b.tar.gz", baseline="/tmp/a.tar.gz")
        assert nlu_models.publish(session, b.id, None, utcnow(), "/tmp/a.tar.gz")
        session.commit()
        assert not nlu_models.publish(session, b.id, None, utcnow(), "/tmp/b.tar.gz")  # already published
        assert [m.status for m in (session.get(NluModel, a.id), session.get(NluModel, b.id))] == ["retired", "published"]
        assert nlu_models.rollback(session, None, True, a.id) == (False, None)  # the page showed another model
        done, now_published = nlu_models.rollback(session, None, True, b.id)
        session.commit()
        assert done and now_published.id == a.id
        assert nlu_models.rollback(session, None, True, b.id) == (False, None)  # a second click: not one more back
        c = trained(session, path="/tmp/c.tar.gz", baseline="/tmp/a.tar.gz")
        assert nlu_models.publish(session, c.id, None, utcnow(), "/tmp/a.tar.gz")
        session.commit()
        done, now_published = nlu_models.rollback(session, None, True, c.id)
        session.commit()
        assert done and now_published.id == a.id  # what C replaced, not B (rolled back from before)
        assert nlu_models.rollback(session, None, False, a.id) == (False, None)  # the repository's: unknown
        done, now_published = nlu_models.rollback(session, None, True, a.id)
        session.commit()
        assert done and now_published is None and nlu_models.published(session) is None  # the repository's model
        assert nlu_models.rollback(session, None, True, a.id) == (False, None)


def test_a_retraining_that_lost_its_worker_fails_and_one_redis_forgot_is_queued_again(app):
    with app.app_context():
        session = db.session()
        model = nlu_models.request(session, None, utcnow() - timedelta(hours=2))
        session.commit()
        assert nlu_training.sweep(utcnow()) >= 1
        session.expire_all()
        assert session.get(NluModel, model.id).status == ModelStatus.FAILED
        fresh = nlu_models.request(session, None, utcnow())
        session.commit()
        queues.redis().flushdb()  # Redis forgot the queue
        nlu_training.sweep(utcnow())
        assert queues.queue(queues.TRAINING).count == 1 and fresh.status == ModelStatus.QUEUED


def test_a_retraining_that_fails_is_recorded_with_its_reason_and_not_retried(env, tmp_path):
    app = create_app({"ENV": {**env, "RASA_BIN": str(tmp_path / "no-rasa"), "NLU_MODELS_DIR": str(tmp_path)},
                      "TESTING": True})
    add_staff(app, ("adi", "admin"))
    client = logged_in(app, "adi")
    page = client.get("/console/admin/nlu/models").get_data(as_text=True)
    assert "Pelatihan tidak tersedia" in page
    with app.app_context():
        model = nlu_training.request(None)
    run_jobs(app, (queues.TRAINING,))
    with app.app_context():
        failed = db.session().get(NluModel, model.id)
        assert failed.status == ModelStatus.FAILED and failed.error == "missing_tools" and not failed.running
        assert queues.queue(queues.TRAINING).count == 0
    page = client.get("/console/admin/nlu/models").get_data(as_text=True)
    assert "Gagal: program Rasa atau data uji tidak ada di server ini." in page and "no-rasa" not in page
    app.extensions["db"].dispose()


def test_a_retraining_started_late_is_measured_from_its_start_and_stops_when_failed(app):
    with app.app_context():
        session = db.session()
        model = nlu_models.request(session, None, utcnow() - timedelta(hours=2))  # waited long in the queue
        assert nlu_models.start(session, model.id, utcnow())
        session.commit()
        assert nlu_models.fail_stale(session, utcnow(), timedelta(minutes=16)) == 0
        assert nlu_models.fail_stale(session, utcnow() + timedelta(minutes=17), timedelta(minutes=16)) == 1
        session.commit()
        tick = nlu_training._progress(model.id, (5, 70), 40.0, "train")
        with pytest.raises(TrainingError, match="no longer running"):
            tick(10.0)  # the program is stopped: a second retraining may run now


def test_a_program_past_its_deadline_is_stopped():
    started = time.monotonic()
    with pytest.raises(TrainingError, match="did not finish in time"):
        _run([sys.executable, "-c", "import time; time.sleep(30)"], time.monotonic() + 1.5, None, "training")
    assert time.monotonic() - started < 10


def test_labelled_examples_become_rasa_training_data_that_rasa_can_read():
    text = training_yaml([("kartu sy mati", "reactivation"), ("kartu  sy mati", "reactivation"), ("halo", "greet"),
                          ("kartu \x07[budi](nama) {x}", "reactivation")])
    assert text.splitlines()[1:] == ['version: "3.1"', "nlu:", "- intent: greet", "  examples: |", "    - halo",
                                     "- intent: reactivation", "  examples: |", "    - kartu sy mati",
                                     "    - kartu (budi)(nama) (x)"]


def test_the_models_page_shows_scores_before_and_after_and_publishes(app, env):
    with app.app_context():
        session = db.session()
        worse = trained(session, after=scores(77, 220, 0.5, 0.88))
        ready = trained(session, after=scores(150, 225), path=base() + ".new")
        old = trained(session, baseline="/models/older.tar.gz")
    client = logged_in(app, "adi")
    page = client.get("/console/admin/nlu/models").get_data(as_text=True)
    assert f"Terbitkan model #{ready.id}" in page and f"Terbitkan model #{worse.id}" not in page
    assert f"Terbitkan model #{old.id}" not in page and "Diuji terhadap model yang kini tidak berlaku" in page
    assert "Lebih buruk" in page and "50,0%" in page and "97,4%" in page and "(+2 pesan)" in page
    token = csrf(client, "/console/admin/nlu/models")
    assert client.post(f"/console/admin/nlu/models/{worse.id}/publish", data={"csrf_token": token}).status_code == 302
    with app.app_context():
        assert nlu_models.published(db.session()) is None
    client.post(f"/console/admin/nlu/models/{ready.id}/publish", data={"csrf_token": token})
    with app.app_context():
        assert nlu_models.published(db.session()).id == ready.id
    # No NLU server answers in this test: the page says it will be loaded, the sweeper keeps trying.
    assert "dimuat otomatis" in client.get("/console/admin/nlu/models").get_data(as_text=True)
    token = csrf(client, "/console/admin/nlu/models")
    for _ in range(2):  # a double submit goes back once
        client.post("/console/admin/nlu/rollback", data={"csrf_token": token, "from_model": str(ready.id)})
    with app.app_context():
        assert nlu_models.published(db.session()) is None
        assert db.session().get(NluModel, ready.id).status == ModelStatus.RETIRED
    assert "sudah berubah" in client.get("/console/admin/nlu/models").get_data(as_text=True)
    assert client.post("/console/admin/nlu/rollback", data={"csrf_token": token}).status_code == 400
    progress = client.get(f"/console/admin/nlu/models/{ready.id}/progress").get_json()
    assert progress == {"status": "retired", "label": "Pernah berlaku", "progress": 100, "stage": "", "running": False}


def test_missing_tools_are_named():
    tools = Toolchain(Path("/nope/rasa"), Path("/nope/config.yml"), Path("/nope/domain.yml"), Path("/nope/data"),
                      (("short", Path("/nope/heldout.yml")),))
    assert len(tools.check()) == 6
