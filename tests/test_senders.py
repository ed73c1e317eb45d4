"""Every sender is a citizen: Twilio's WhatsApp payloads as they really come — a number, a number with
a business-scoped user id (ExternalUserId), only a user id (a WhatsApp username hides the number),
a quick-reply button — stored, answered at the address they came from, and able to open a case.

The field sets are those of Twilio's WhatsApp webhooks as replayed by RapidPro's courier test suite
(handlers/twiml/testdata/twa_incoming.json), signed with our own credentials."""
from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from sqlalchemy import select

from handlers.phones import mask
from storage import db
from storage.cases import Case
from storage.models import Citizen, InboundMessage
from tests.helpers import complaint_answers, post_signed, run_jobs

# courier's "Receive Valid", "Receive BSUID Valid", "Receive From BSUID with no phone", "Receive Valid with ButtonText"
BASE = ("ToCountry=US&ToState=District+Of+Columbia&SmsMessageSid=SMe287d7109a5a925f182f0e07fe5b223b&NumMedia=0"
        "&ToCity=&FromZip=01022&SmsSid=SMe287d7109a5a925f182f0e07fe5b223b&FromState=MA&SmsStatus=received"
        "&FromCity=CHICOPEE&Body=Msg&FromCountry=US&To=whatsapp:%2B12028831111&ToZip=&NumSegments=1"
        "&MessageSid=SMe287d7109a5a925f182f0e07fe5b223b&AccountSid=acctid&From=whatsapp:%2B14133881111"
        "&ApiVersion=2010-04-01")


def payload(sid: str, **fields: str) -> dict[str, str]:
    form = dict(parse_qsl(BASE, keep_blank_values=True))
    form.update(MessageSid=sid, SmsMessageSid=sid, SmsSid=sid, **fields)
    return form


pytestmark = pytest.mark.one_backend  # one database is enough here


def send(app, twilio, form) -> list[dict]:
    before = len(twilio.messages)
    response = post_signed(app.test_client(), app, "/whatsapp/inbound", form)
    assert response.status_code == 200, response.get_data(as_text=True)
    run_jobs(app)
    return twilio.messages[before:]


def test_a_plain_whatsapp_number(app, twilio):
    [reply] = send(app, twilio, payload("SM1"))
    assert reply["To"] == "whatsapp:+14133881111"


def test_a_number_with_its_business_scoped_user_id(app, twilio):
    [reply] = send(app, twilio, payload("SM2", ExternalUserId="whatsapp:US.1234"))
    assert reply["To"] == "whatsapp:+14133881111"
    with app.app_context():
        citizen = db.session().scalar(select(Citizen))
        assert (citizen.phone, citizen.wa_user_id) == ("+14133881111", "US.1234")


def test_only_a_business_scoped_user_id_is_answered_there_and_can_open_a_case(app, twilio):
    bsuid = {"From": "whatsapp:US.1234", "ExternalUserId": "whatsapp:US.1234"}
    [reply] = send(app, twilio, payload("SM3", **bsuid))
    assert reply["To"] == "whatsapp:US.1234" and "menu" in reply["Body"].lower()
    answers = complaint_answers("1", "RSUD Kota", "Saya ditolak di IGD padahal kartu aktif")
    for i, body in enumerate(answers):
        [reply] = send(app, twilio, payload(f"SM3{i}", Body=body, **bsuid))
    assert "tiket" in reply["Body"].lower()
    with app.app_context():
        citizen = db.session().scalar(select(Citizen))
        assert (citizen.phone, citizen.wa_user_id) == (None, "US.1234")
        case = db.session().scalar(select(Case))
        assert case.citizen_id == citizen.id and case.service == "complaint"


def test_the_same_user_later_showing_their_number_stays_one_citizen(app, twilio):
    send(app, twilio, payload("SM4", From="whatsapp:US.5678", ExternalUserId="whatsapp:US.5678"))
    [reply] = send(app, twilio, payload("SM5", From="whatsapp:+14133881112", ExternalUserId="whatsapp:US.5678"))
    assert reply["To"] == "whatsapp:+14133881112"
    with app.app_context():
        [citizen] = db.session().scalars(select(Citizen)).all()
        assert (citizen.phone, citizen.wa_user_id) == ("+14133881112", "US.5678")


def test_an_invalid_external_user_id_is_ignored(app, twilio):
    [reply] = send(app, twilio, payload("SM6", ExternalUserId="whatsapp:foo_bar"))
    assert reply["To"] == "whatsapp:+14133881111"
    with app.app_context():
        assert db.session().scalar(select(Citizen.wa_user_id)) is None


def test_a_quick_reply_button_is_read_from_its_payload(app, twilio):
    send(app, twilio, payload("SM7", Body="halo"))
    [reply] = send(app, twilio, payload("SM8", Body="Ubah NIK", ButtonText="Ubah NIK", ButtonPayload="1"))
    assert "Ubah / perbaiki NIK" in reply["Body"]  # the payload "1" picked the service
    [reply] = send(app, twilio, payload("SM9", Body="Msg", ButtonText="batal"))
    assert "membatalkan" in reply["Body"]  # courier's shape: the button's text, not the Body
    with app.app_context():
        assert db.session().scalar(select(InboundMessage.body).where(InboundMessage.message_sid == "SM8")) == "Ubah NIK"


def test_change_phone_offers_the_number_only_to_who_has_one(app, twilio):
    bsuid = {"From": "whatsapp:US.4321", "ExternalUserId": "whatsapp:US.4321"}
    send(app, twilio, payload("SMa", **bsuid))
    for i, body in enumerate(("2", "0001234567890")):
        [reply] = send(app, twilio, payload(f"SMb{i}", Body=body, **bsuid))
    [question] = [m["Body"] for m in send(app, twilio, payload("SMc", Body="3201234505860003", **bsuid))]
    assert question.endswith("(contoh: 081234567890).") and "balas *1*" not in question
    send(app, twilio, payload("SMd", Body="2"))
    send(app, twilio, payload("SMe", Body="0001234567890"))
    [question] = [m["Body"] for m in send(app, twilio, payload("SMf", Body="3201234505860003"))]
    assert f"balas *1* untuk memakai nomor WhatsApp ini ({mask('+14133881111')})" in question
