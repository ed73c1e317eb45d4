"""The NLU through the real Rasa server on the trained model, and the bot's use of it."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot import create_app, metrics
from flows.router import Understanding, from_parse
from nlu.client import NLUClient, NLUUnavailable, Parse
from tests.conftest import RASA_TOKEN
from storage import db
from storage.models import InboundMessage, InboundStatus, OutboundMessage
from tests.helpers import inbound_form, post_signed, run_jobs

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {"change_nik", "change_phone", "check_status", "reactivation", "complaint", "case_status"}
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]+\)|\{[^}]+\})")


def heldout() -> list[tuple[str, str]]:
    data = yaml.safe_load((ROOT / "nlu/tests/heldout.yml").read_text())
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


def test_heldout_file_is_separate_from_the_training_data_and_big_enough():
    items = heldout()
    assert len(items) >= 100
    overlap = [text for text, _ in items if " ".join(text.lower().split()) in training_texts()]
    assert overlap == []
    per_intent = Counter(intent for _, intent in items)
    assert all(per_intent[s] >= 10 for s in SERVICES), per_intent


def test_intent_accuracy_on_heldout_utterances_is_at_least_90_percent(nlu):
    items = heldout()
    wrong, wrong_service = [], []
    for text, expected in items:
        got = nlu.parse(text).intent
        if got != expected:
            wrong.append((expected, got, text))
            if got in SERVICES:
                wrong_service.append((expected, got, text))
    accuracy = 1 - len(wrong) / len(items)
    report = "\n".join(f"  {e} -> {g}: {t}" for e, g, t in wrong)
    assert accuracy >= 0.90, f"accuracy {accuracy:.3f} on {len(items)} held-out utterances\n{report}"
    # A wrong service is worse than a question back: it must stay rare.
    assert len(wrong_service) / len(items) <= 0.03, f"{len(wrong_service)} sent to a wrong service\n{report}"


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
