"""The NLU through the real Rasa server on the trained model, and the bot's use of it."""
from __future__ import annotations

import re
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot import create_app, metrics
from flows.router import Understanding, from_parse
from nlu.client import NLUClient, NLUUnavailable, Parse
from nlu.trainer import Server, same_model
from tests.conftest import RASA_TOKEN, _nlu_model
from storage import db
from storage.models import InboundMessage, InboundStatus, OutboundMessage
from tests.helpers import inbound_form, post_signed, run_jobs

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {"change_nik", "change_phone", "check_status", "reactivation", "complaint", "case_status",
            "report_death", "add_family_member", "change_faskes"}
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]+\)|\{[^}]+\})")


def heldout(name: str = "heldout") -> list[tuple[str, str]]:
    """An evaluation set: ``heldout`` (short messages) or ``realistic`` (long, story-first ones)."""
    data = yaml.safe_load((ROOT / f"nlu/tests/{name}.yml").read_text())
    items = []
    for block in data["nlu"]:
        for line in block["examples"].splitlines():
            if line.strip().startswith("- "):
                items.append((_ANNOTATION.sub(r"\1", line.strip()[2:]), block["intent"]))
    return items


def training_texts() -> set[str]:
    texts = set()
    for path in (ROOT / "nlu/data").glob("*.yml"):
        for block in (yaml.safe_load(path.read_text()) or {}).get("nlu", []):
            if "intent" in block:
                for line in block["examples"].splitlines():
                    if line.strip().startswith("- "):
                        texts.add(" ".join(_ANNOTATION.sub(r"\1", line.strip()[2:]).lower().split()))
    return texts


@pytest.fixture(scope="module")
def nlu(rasa_url) -> NLUClient:
    return NLUClient(rasa_url, timeout=10, token=RASA_TOKEN)


def test_the_service_intents_are_the_menus_services():
    """The intent that wins names the flow the router starts (flows.router.from_parse): the NLU domain's
    service intents and the menu's ids must be the same, or a service is never started from free text."""
    from handlers.product import load_product
    from nlu.intents import intents

    assert {item.id for item in load_product(ROOT / "config.yml").menu} == SERVICES
    assert SERVICES <= set(intents())


@pytest.mark.parametrize("name, size, per_service", [("heldout", 100, 10), ("realistic", 200, 20)])
def test_evaluation_sets_are_separate_from_the_training_data_and_big_enough(name, size, per_service):
    items = heldout(name)
    assert len(items) >= size
    overlap = [text for text, _ in items if " ".join(text.lower().split()) in training_texts()]
    assert overlap == []
    per_intent = Counter(intent for _, intent in items)
    assert all(per_intent[s] >= per_service for s in SERVICES), per_intent


def test_the_realistic_set_is_long_story_first_messages():
    words = sorted(len(text.split()) for text, _ in heldout("realistic"))
    assert words[len(words) // 2] >= 20, f"median {words[len(words) // 2]} words"


# The accuracy each set reached when its threshold was last raised (docs/nlu-benchmark.md), with a
# margin of about one message; a wrong service is worse than a question back, so it must stay rare.
# With report_death, add_family_member and change_faskes (2026-12-06; 187 and 309 messages) the model reached
# 0.973 / 0.016 and 0.942 / 0.023: the thresholds were kept.
MINIMUM = {"heldout": (0.965, 0.02), "realistic": (0.93, 0.03)}  # reached before: 0.974 / 0.013, 0.934 / 0.020


@pytest.mark.parametrize("name", ["heldout", "realistic"])
def test_intent_accuracy_on_the_evaluation_sets(nlu, name):
    items = heldout(name)
    least, wrong_service_share = MINIMUM[name]
    wrong, wrong_service = [], []
    for text, expected in items:
        got = nlu.parse(text).intent
        if got != expected:
            wrong.append((expected, got, text))
            if got in SERVICES:
                wrong_service.append((expected, got, text))
    accuracy = 1 - len(wrong) / len(items)
    report = "\n".join(f"  {e} -> {g}: {t}" for e, g, t in wrong)
    assert accuracy >= least, f"accuracy {accuracy:.3f} on {len(items)} {name} utterances\n{report}"
    assert len(wrong_service) / len(items) <= wrong_service_share, f"{len(wrong_service)} sent to a wrong service\n{report}"


@pytest.mark.parametrize(
    "text, entity, value",
    [
        ("nik saya yang benar 3201234505860003 min", "nik", "3201234505860003"),
        ("no kartu 0001234567890 kok tidak aktif", "card_number", "0001234567890"),
        ("tiket PDW-20261120-0012 gimana kak", "ticket", "PDW-20261120-0012"),
        ("ganti nomor hp ke 081298765432", "phone", "081298765432"),
        ("tgl lahir 17-08-1965", "date", "17-08-1965"),
    ],
)
def test_entities_are_extracted(nlu, text, entity, value):
    assert nlu.parse(text).entity(entity) == value


@pytest.mark.parametrize("nonsense", ["asdfgh qwerty", "🙏🙏🙏", "xyz 123 lorem ipsum", "kkkkkkkk", "zzzz blah"])
def test_nonsense_goes_to_fallback_never_to_a_service(nlu, nonsense):
    assert nlu.parse(nonsense).intent in {"nlu_fallback", "out_of_scope"}


def test_nlu_client_raises_when_the_server_is_not_there():
    with pytest.raises(NLUUnavailable):
        NLUClient("http://127.0.0.1:1", timeout=0.5).parse("halo")


@pytest.fixture
def nlu_app(env, rasa_url):
    app = create_app({"ENV": {**env, "RASA_URL": rasa_url, "RASA_TOKEN": RASA_TOKEN}, "TESTING": True})
    yield app
    app.extensions["db"].dispose()


@pytest.fixture
def no_nlu_app(env):
    app = create_app({"ENV": {**env, "RASA_URL": "http://127.0.0.1:1"}, "TESTING": True})
    yield app
    app.extensions["db"].dispose()


def converse(app, *bodies: str, phone: str = "+6281234567890") -> list[str]:
    """Send messages through the signed webhook and the real worker; return all reply texts."""
    client = app.test_client()
    for body in bodies:
        assert post_signed(client, app, "/whatsapp/inbound", inbound_form(phone=phone, body=body)).status_code == 200
        run_jobs(app)
    with app.app_context():
        return [r.body for r in db.session().scalars(select(OutboundMessage).order_by(OutboundMessage.id))]


@pytest.mark.parametrize(
    "text, title",
    [
        ("min nik di kartu saya beda sama ktp", "Ubah / perbaiki NIK"),
        ("kartu pbi ibu saya dinonaktifkan, mau diaktifkan lagi", "Aktifkan kembali kartu PBI"),
        ("di rs saya disuruh bayar obat padahal pakai bpjs", "Pengaduan layanan"),
    ],
)
def test_a_citizen_sentence_starts_the_right_service_through_the_real_nlu(nlu_app, twilio, text, title):
    [reply] = converse(nlu_app, text)
    assert f"*{title}*" in reply
    assert len(twilio.messages) == 1


def test_nonsense_gets_a_polite_answer_with_what_the_service_does_and_the_menu(nlu_app, twilio):
    [reply] = converse(nlu_app, "asdfgh qwerty")
    assert "belum memahami" in reply and "*1*." in reply


@pytest.mark.parametrize("body, title", [("1", "Ubah / perbaiki NIK"), ("2", "Ganti nomor HP"), ("Tiket", "Cek status permohonan"),
                                          ("cek status!", "Cek status kepesertaan")])
def test_menu_numbers_and_words_work_without_the_nlu(no_nlu_app, twilio, body, title):
    [reply] = converse(no_nlu_app, body)
    assert f"*{title}" in reply
    with no_nlu_app.app_context():
        assert "nlu_unavailable" not in metrics.snapshot()


def test_nlu_down_the_citizen_gets_the_menu_and_can_go_on_with_numbers(no_nlu_app, twilio):
    replies = converse(no_nlu_app, "mau ganti nik", "1")
    assert "angka" in replies[0] and "*1*. Ubah / perbaiki NIK" in replies[0]
    assert "*Ubah / perbaiki NIK*" in replies[1]
    with no_nlu_app.app_context():
        assert metrics.snapshot()["nlu_unavailable"] == 1
        assert all(m.status == InboundStatus.PROCESSED for m in db.session().scalars(select(InboundMessage)))
        metrics_text = no_nlu_app.test_client().get("/metrics").get_data(as_text=True)
    assert "pandawa_nlu_unavailable_total 1" in metrics_text


def test_two_close_services_get_one_question_offering_both(app):
    product = app.config["PRODUCT"]
    parse = Parse("nlu_fallback", 0.5, [("nlu_fallback", 0.5), ("change_phone", 0.41), ("change_nik", 0.38), ("greet", 0.1)])
    understanding = from_parse(parse, product)
    assert understanding.kind == "ambiguous" and understanding.options == ["change_phone", "change_nik"]
    far_apart = Parse("nlu_fallback", 0.5, [("nlu_fallback", 0.5), ("change_phone", 0.45), ("change_nik", 0.05)])
    assert from_parse(far_apart, product).kind == "fallback"
    assert from_parse(Parse("complaint", 0.93, [("complaint", 0.93)]), product) == Understanding("service", service="complaint", parse=Parse("complaint", 0.93, [("complaint", 0.93)]))


def test_the_answer_to_the_question_picks_the_offered_option(app):
    from flows.router import fast_path, reply_for

    product = app.config["PRODUCT"]
    state: dict = {"greeted": True}
    [question] = reply_for(Understanding("ambiguous", options=["change_phone", "change_nik"]), state, product)
    assert "*A*. Ganti nomor HP" in question and "*B*. Ubah / perbaiki NIK" in question  # letters: not the menu's
    assert fast_path("1", state, product).service == "change_nik"  # a number is still the menu
    picked = fast_path("b", state, product)
    assert picked.service == "change_nik"
    reply_for(picked, state, product)
    assert "offered" not in state and fast_path("b", state, product) is None  # nothing offered any more


def test_the_nlu_server_loads_another_model_while_it_keeps_answering_within_the_bots_deadline(rasa_url, tmp_path):
    """Publishing a retrained model (bot.nlu_training.sync_model) is Rasa's PUT /model: no parse in the
    meantime may miss the bot's 3-second deadline (it would show the menu instead of understanding)."""
    base = Path(_nlu_model())
    other = tmp_path / "nlu-reloaded.tar.gz"
    shutil.copy(base, other)
    server, bot_client = Server(rasa_url, RASA_TOKEN), NLUClient(rasa_url, timeout=3.0, token=RASA_TOKEN)
    answered, failed, stop = [], [], threading.Event()

    def keep_parsing():
        while not stop.is_set():
            try:
                answered.append(bot_client.parse("nik di kartu saya salah").intent)
            except NLUUnavailable:
                failed.append(1)

    threads = [threading.Thread(target=keep_parsing) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        server.load(other)
        assert same_model(server.model_file(), other)
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        server.load(base)
    assert failed == [] and len(answered) > 10 and set(answered) == {"change_nik"}
    assert same_model(server.model_file(), base)
