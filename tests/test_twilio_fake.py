"""Tests for tests/twilio_fake.py, driven through the real `twilio` client and `requests`."""
import datetime as dt
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from flask import Flask, request
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from werkzeug.serving import make_server

try:
    from tests.twilio_fake import FakeTwilio
except ImportError:  # pytest run without the repo root on sys.path
    from twilio_fake import FakeTwilio

TO = "whatsapp:+6281234567890"
TO2 = "whatsapp:+6289876543210"
FROM = "whatsapp:+14155238886"


class RewritingHttpClient(TwilioHttpClient):
    """Sends the twilio client's https://api.twilio.com requests to the fake instead."""

    def __init__(self, base_url, **kwargs):
        super().__init__(**kwargs)
        self.base_url = base_url
        self.last_response = None

    def request(self, method, url, *args, **kwargs):
        if url.startswith("https://api.twilio.com"):
            url = self.base_url + url[len("https://api.twilio.com"):]
        self.last_response = super().request(method, url, *args, **kwargs)
        return self.last_response


@pytest.fixture
def fake():
    server = FakeTwilio().start()
    yield server
    server.stop()


def make_client(fake, token=None, timeout=None):
    http = RewritingHttpClient(fake.base_url, timeout=timeout)
    return Client(fake.account_sid, token or fake.auth_token, http_client=http)


@pytest.fixture
def client(fake):
    return make_client(fake)


@pytest.fixture
def receiver():
    """A tiny Flask app that records status callbacks and checks their signatures."""
    app, received = Flask("receiver"), []

    @app.post("/status")
    def status():
        received.append({"url": request.url, "form": request.form.to_dict(),
                         "signature": request.headers.get("X-Twilio-Signature")})
        return "", 204

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/status", received
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_create_message(fake, client):
    msg = client.messages.create(to=TO, from_=FROM, body="Halo")
    assert re.fullmatch(r"SM[0-9a-f]{32}", msg.sid)
    assert msg.status == "queued" and msg.direction == "outbound-api"
    assert msg.to == TO and msg.from_ == FROM and msg.body == "Halo"
    assert msg.num_media == "0" and msg.num_segments == "1" and msg.date_sent is None
    assert isinstance(msg.date_created, dt.datetime)  # RFC 2822 parsed by the client
    assert msg.uri == f"/2010-04-01/Accounts/{fake.account_sid}/Messages/{msg.sid}.json"
    stored = fake.wait_for_messages(1)[0]
    assert stored["sid"] == msg.sid and stored["To"] == TO and stored["Body"] == "Halo"
    post = [r for r in fake.requests_log if r["method"] == "POST"][0]
    assert post["path"].endswith("/Messages.json") and post["form"]["To"] == TO


def test_create_with_media_content_and_service(fake, client):
    msg = client.messages.create(to=TO, from_=FROM, media_url=["http://x/a.png", "http://x/b.png"],
                                 status_callback="http://cb/status")
    assert msg.num_media == "2"
    msg2 = client.messages.create(to=TO, messaging_service_sid="MG" + "1" * 32,
                                  content_sid="HX" + "2" * 32, content_variables='{"1": "Budi"}')
    assert msg2.status == "accepted" and msg2.from_ is None
    first, second = fake.wait_for_messages(2)
    assert first["MediaUrl"] == ["http://x/a.png", "http://x/b.png"]
    assert first["StatusCallback"] == "http://cb/status"
    assert second["ContentVariables"] == '{"1": "Budi"}' and second["MediaUrl"] == []


def test_wrong_token_is_401(fake):
    with pytest.raises(TwilioRestException) as info:
        make_client(fake, token="wrong" * 6).messages.create(to=TO, from_=FROM, body="Halo")
    assert info.value.status == 401 and info.value.code == 20003
    assert fake.messages == []
    # the raw error JSON has Twilio's shape
    r = requests.post(f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json",
                      data={"To": TO, "From": FROM, "Body": "x"})
    assert r.status_code == 401
    assert r.json() == {"code": 20003, "message": "Authenticate",
                        "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401,
                        "detail": "Your AccountSid or AuthToken was incorrect."}


def test_validation_errors(fake, client):
    with pytest.raises(TwilioRestException) as info:
        client.messages.create(to=TO, from_=FROM)
    assert info.value.status == 400 and info.value.code == 21602
    assert "Message body is required." in info.value.msg
    url = f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    auth = (fake.account_sid, fake.auth_token)
    cases = [({"From": FROM, "Body": "x"}, 21604), ({"To": TO, "Body": "x"}, 21603),
             ({"To": TO, "From": FROM, "Body": "x" * 1601}, 21617)]
    for form, code in cases:
        r = requests.post(url, data=form, auth=auth)
        assert (r.status_code, r.json()["code"], r.json()["status"]) == (400, code, 400)
    assert fake.messages == []
    client.messages.create(to=TO, from_=FROM, body="x" * 1600)  # the limit itself is fine


def test_fail_next_then_success(fake, client):
    fake.fail_next(2)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as info:
            client.messages.create(to=TO, from_=FROM, body="Halo")
        assert info.value.status == 500 and info.value.code == 20500
    assert fake.messages == []
    assert client.messages.create(to=TO, from_=FROM, body="Halo").status == "queued"
    assert len(fake.messages) == 1


def test_throttle_next(fake, client):
    fake.throttle_next()
    with pytest.raises(TwilioRestException) as info:
        client.messages.create(to=TO, from_=FROM, body="Halo")
    assert info.value.status == 429 and info.value.code == 20429
    assert client.http_client.last_response.headers["Retry-After"] == "1"
    assert fake.messages == []
    client.messages.create(to=TO, from_=FROM, body="Halo")
    assert len(fake.messages) == 1


def test_delay_next_client_times_out_but_message_created(fake):
    fake.delay_next(seconds=3.0)
    client = make_client(fake, timeout=0.3)
    with pytest.raises(requests.exceptions.Timeout):
        client.messages.create(to=TO, from_=FROM, body="ambiguous")
    created = fake.wait_for_messages(1, timeout=2)[0]
    # reconciliation: the message can be found through the list API
    listed = make_client(fake).messages.list(to=TO, date_sent_after=dt.datetime.now(dt.timezone.utc).date())
    assert [m.sid for m in listed] == [created["sid"]] and listed[0].body == "ambiguous"


def test_delay_next_without_create(fake):
    fake.delay_next(seconds=0.2, create=False)
    with pytest.raises(TwilioRestException) as info:
        make_client(fake).messages.create(to=TO, from_=FROM, body="lost")
    assert info.value.status == 500 and fake.messages == []


def test_wait_for_messages_reports_what_arrived(fake, client):
    client.messages.create(to=TO, from_=FROM, body="one")
    with pytest.raises(AssertionError, match="got 1.*one"):
        fake.wait_for_messages(2, timeout=0.2)


def test_list_filters_and_fetch(fake, client):
    sids = [client.messages.create(to=to, from_=FROM, body=f"m{i}").sid
            for i, to in enumerate([TO, TO2, TO])]
    today = dt.datetime.now(dt.timezone.utc).date()
    to_first = client.messages.list(to=TO, date_sent_after=today)
    assert {m.sid for m in to_first} == {sids[0], sids[2]}
    assert to_first[0].sid == sids[2]  # newest first
    assert client.messages.list(date_sent_after=today + dt.timedelta(days=1)) == []
    assert len(client.messages.list(date_sent=today)) == 3
    assert len(client.messages.list(page_size=2)) == 3  # follows next_page_uri
    raw = requests.get(f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json",
                       params={"To": TO2, "DateSent>": today.isoformat(), "PageSize": 20},
                       auth=(fake.account_sid, fake.auth_token)).json()
    assert [m["sid"] for m in raw["messages"]] == [sids[1]]
    assert raw["page"] == 0 and raw["page_size"] == 20 and raw["next_page_uri"] is None
    assert set(raw["messages"][0]) >= {"account_sid", "api_version", "date_created", "date_sent",
                                       "date_updated", "error_code", "error_message", "price",
                                       "price_unit", "subresource_uris", "uri"}
    assert client.messages(sids[1]).fetch().to == TO2
    with pytest.raises(TwilioRestException) as info:
        client.messages("SM" + "0" * 32).fetch()
    assert info.value.status == 404 and info.value.code == 20404


def test_media_auth_not_ready_redirect_and_no_auth_leak(fake):
    content = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    url = fake.add_media(content, "image/png", not_found_first=1)
    assert re.fullmatch(re.escape(fake.base_url) + r"/2010-04-01/Accounts/AC\w+/Messages/MM[0-9a-f]{32}"
                        r"/Media/ME[0-9a-f]{32}", url)
    auth = (fake.account_sid, fake.auth_token)
    r = requests.get(url)
    assert r.status_code == 401 and r.json()["code"] == 20003
    assert requests.get(url, auth=(fake.account_sid, "bad")).status_code == 401
    r = requests.get(url, auth=auth)
    assert r.status_code == 404 and r.json()["code"] == 20404  # not ready yet
    r = requests.get(url, auth=auth, allow_redirects=False)
    assert r.status_code == 307 and r.headers["Location"].startswith(fake.cdn_base_url + "/cdn/")
    assert fake.cdn_base_url != fake.base_url
    r = requests.get(url, auth=auth)
    assert r.status_code == 200 and r.content == content
    assert r.headers["Content-Type"] == "image/png" and [h.status_code for h in r.history] == [307]
    with requests.Session() as session:  # session-level auth is dropped on the redirect as well
        session.auth = auth
        assert session.get(url).content == content
    assert fake.cdn_auth_headers_seen == []
    # sanity check that the CDN really notices a leaked Authorization header
    location = requests.get(url, auth=auth, allow_redirects=False).headers["Location"]
    assert requests.get(location, auth=auth).status_code == 200
    assert len(fake.cdn_auth_headers_seen) == 1


def test_status_callback_is_signed(fake, client, receiver):
    callback_url, received = receiver
    msg = client.messages.create(to=TO, from_=FROM, body="Halo", status_callback=callback_url)
    assert fake.send_status_callback(msg.sid, "delivered") == 204
    got = received[-1]
    assert got["url"] == callback_url
    assert got["form"] == {"MessageSid": msg.sid, "MessageStatus": "delivered", "SmsSid": msg.sid,
                           "SmsStatus": "delivered", "AccountSid": fake.account_sid, "From": FROM,
                           "To": TO, "ApiVersion": "2010-04-01"}
    assert RequestValidator(fake.auth_token).validate(got["url"], got["form"], got["signature"])
    assert not RequestValidator("other" * 6).validate(got["url"], got["form"], got["signature"])
    fetched = client.messages(msg.sid).fetch()
    assert fetched.status == "delivered" and fetched.date_sent is not None

    assert fake.send_status_callback(msg.sid, "undelivered", url=callback_url + "?x=1",
                                     error_code=63016) == 204
    got = received[-1]
    assert got["form"]["ErrorCode"] == "63016" and got["url"].endswith("?x=1")
    assert RequestValidator(fake.auth_token).validate(got["url"], got["form"], got["signature"])
    assert client.messages(msg.sid).fetch().error_code == 63016


def test_unknown_route_and_method(fake):
    auth = (fake.account_sid, fake.auth_token)
    r = requests.get(f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/Calls.json", auth=auth)
    assert r.status_code == 404 and r.json()["code"] == 20404
    r = requests.delete(f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json", auth=auth)
    assert r.status_code == 405


def test_standalone_cli():
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "tests.twilio_fake", "--port", "0",
                             "--account-sid", "AC" + "a" * 32, "--auth-token", "t" * 32],
                            cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        base_url = re.search(r"(http://127\.0\.0\.1:\d+)", line).group(1)
        r = requests.get(f"{base_url}/2010-04-01/Accounts/{'AC' + 'a' * 32}/Messages.json",
                         auth=("AC" + "a" * 32, "t" * 32), timeout=5)
        assert r.status_code == 200 and r.json()["messages"] == []
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()
