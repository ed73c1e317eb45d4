"""The whole learning loop in a browser, on the real Rasa server: the bot misunderstands a citizen, an
admin labels the message, retrains a model (progress bar, scores before and after on both evaluation
sets), publishes it, and the bot then understands the same message — then rolls back."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from sqlalchemy import select

from nlu.trainer import Server, same_model
from storage import db
from storage.nlu import NluModel
from tests.browser import browser_page, console_login, doc_screenshot, live_app, needs_chromium
from tests.conftest import RASA_TOKEN, WorkerProcesses, _nlu_model
from tests.helpers import Chat

pytestmark = [pytest.mark.one_backend, needs_chromium]

# What a citizen wrote that the repository's model does not take for a request for an officer.
MESSAGE = "mbok aku diterke karo wong kantor sing iso ngurusi, aku wegah ngetik terus"
LABEL = "Minta bicara dengan petugas"


@pytest.fixture
def served(rasa_url):
    """The session's Rasa server, put back on the repository's model afterwards (other tests use it)."""
    base = Path(_nlu_model())
    server = Server(rasa_url, RASA_TOKEN)
    yield server, base
    server.load(base)


def test_label_retrain_publish_and_the_bot_understands_then_rollback(env, browser, twilio, served, rasa_url, tmp_path):
    server, base = served
    settings = {"RASA_URL": rasa_url, "RASA_TOKEN": RASA_TOKEN, "NLU_MODEL": str(base),
                "NLU_MODELS_DIR": str(tmp_path / "models")}
    worker = WorkerProcesses({**env, **settings}, tmp_path)
    with live_app(env, ("adi", "admin"), **settings) as (app, url), browser_page(browser) as page:
        chat = Chat(app, twilio)
        [before] = chat.send(MESSAGE)
        assert "Kantor" not in before and "petugas" not in before.split("\n")[0].lower()

        console_login(page, url, "adi")
        page.goto(url + "/console/admin/nlu/")
        card = page.locator("form.nlu-review").filter(has_text="wegah ngetik")
        card.get_by_role("button", name=LABEL).click()
        page.wait_for_url("**/console/admin/nlu/**")
        assert "Tersimpan" in page.content()

        page.goto(url + "/console/admin/nlu/models")
        assert page.locator("#labelled-count").inner_text() == "1"
        page.locator("#train").click()
        page.locator("#training-bar").wait_for()
        worker.start(1, "--queues", "training", "--no-sweeper")  # a real worker takes the retraining
        doc_screenshot(page, "nlu-training.png")
        publish = page.locator("button.publish")
        try:
            publish.wait_for(timeout=180_000)  # the page reloads itself when the retraining ends
        except PlaywrightTimeout:
            with app.app_context():
                model = db.session().scalars(select(NluModel)).one()
                pytest.fail(f"no model to publish: {model.status} {model.error} {model.progress}%\n{worker.logs()[-3000:]}")
        finally:
            worker.stop()
        scores = page.locator("table.scores tr[data-set=long] td")
        assert "%" in scores.nth(1).inner_text() and "%" in scores.nth(2).inner_text()
        doc_screenshot(page, "nlu-models.png", full_page=True)
        publish.click()
        assert "diterbitkan" in page.locator(".flash.ok").inner_text()
        assert Path(server.model_file() or "").name.startswith("nlu-")

        [after] = chat.send(MESSAGE)
        assert "petugas" in after.lower()

        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#rollback").click()
        assert "model bawaan" in page.locator(".flash.ok").inner_text()
        assert same_model(server.model_file(), base)
        assert page.errors == []
