"""Helpers for tests: Twilio-signed webhook requests, running queued jobs with a real RQ worker."""
from __future__ import annotations

import itertools
import re
import secrets
import textwrap
from datetime import datetime, timezone

from rq import SimpleWorker
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator

from bot import queues
from bot.accounts import create_staff
from storage import db
from storage.migrate import upgrade
from storage.models import utcnow
from tests.images import document_photo

_counter = itertools.count(1)


def inbound_form(phone: str = "+6281234567890", body: str = "halo", **extra: str) -> dict[str, str]:
    sid = "SM" + secrets.token_hex(16)
    form = {
        "SmsMessageSid": sid, "MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32,
        "From": f"whatsapp:{phone}", "To": "whatsapp:+14155238886", "Body": body, "NumMedia": "0",
        "NumSegments": "1", "ProfileName": "Ibu Sari", "WaId": phone.lstrip("+"), "SmsStatus": "received",
        "ApiVersion": "2010-04-01", "MessageType": "text",
    }
    form.update(extra)
    return form


def sign(app, path: str, form: dict[str, str], token: str | None = None) -> str:
    s = app.config["SETTINGS"]
    return RequestValidator(token or s.twilio_auth_token).compute_signature(s.public_base_url + path, form)


def post_signed(client, app, path: str, form: dict[str, str], **kw):
    return client.post(path, data=form, headers={"X-Twilio-Signature": sign(app, path, form)}, **kw)


def awake(app) -> datetime:
    """Now, or the end of the quiet hours when it is quiet now (UTC): a moment the sweeper may remind,
    so that tests about reminders pass at any time of day."""
    quiet = app.config["PRODUCT"].quiet_hours
    now = utcnow()
    return quiet.ends_at(now).astimezone(timezone.utc) if quiet else now


def database_at(tmp_path, revision: str, *statements: str):
    """A SQLite database migrated up to ``revision`` holding the rows ``statements`` insert: an install
    from before a migration, to upgrade in a test. Returns (url, engine)."""
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    upgrade(url, revision)
    engine = create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    return url, engine


def run_jobs(app, names=queues.ALL) -> None:
    """Run every queued job with a real RQ worker in this process until the queues are empty."""
    with app.app_context():
        worker = SimpleWorker([queues.queue(n) for n in names], connection=queues.redis())
        worker.work(burst=True)


class Chat:
    """A citizen on WhatsApp: signed webhooks in, the real RQ worker, replies read back from the
    local Twilio server (which also serves the citizen's photos like Twilio's media host)."""

    def __init__(self, app, twilio, phone: str = "+6281234567890", name: str = "Ibu Sari",
                 to: str = "whatsapp:+14155238886"):
        self.app, self.twilio, self.phone, self.name, self.to = app, twilio, phone, name, to  # to: the number written to
        self.client = app.test_client()
        self.seen = 0

    def send(self, body: str = "", media: list[tuple[bytes, str]] = (), run: bool = True) -> list[str]:
        return self.send_urls([(self.twilio.add_media(content, content_type), content_type)
                               for content, content_type in media], body, run)

    def send_urls(self, media: list[tuple[str, str]], body: str = "", run: bool = True) -> list[str]:
        """Send media already registered with the local Twilio server (e.g. one that stalls)."""
        extra = {"ProfileName": self.name, "NumMedia": str(len(media)), "To": self.to}
        for i, (url, content_type) in enumerate(media):
            extra[f"MediaUrl{i}"] = url
            extra[f"MediaContentType{i}"] = content_type
        response = post_signed(self.client, self.app, "/whatsapp/inbound", inbound_form(self.phone, body, **extra))
        assert response.status_code == 200, response.get_data(as_text=True)
        return self.replies() if run else []

    def send_extra(self, body: str = "", **params: str) -> list[str]:
        """A message with other Twilio parameters (a location's Latitude/Longitude, a button's payload)."""
        form = inbound_form(self.phone, body, **{"ProfileName": self.name, "To": self.to, **params})
        response = post_signed(self.client, self.app, "/whatsapp/inbound", form)
        assert response.status_code == 200, response.get_data(as_text=True)
        return self.replies()

    def say(self, body: str) -> list[str]:
        return self.send(body)

    def photo(self, content: bytes, content_type: str = "image/jpeg") -> list[str]:
        return self.send("", [(content, content_type)])

    def replies(self) -> list[str]:
        """Run the queued jobs; return the replies handed to Twilio for this citizen since last time."""
        run_jobs(self.app)
        mine = [m["Body"] for m in self.twilio.messages if m["To"] == f"whatsapp:{self.phone}"]
        new, self.seen = mine[self.seen:], len(mine)
        return new

    def last(self, body: str) -> str:
        """Say something and return the one reply (fails when there are several or none)."""
        replies = self.say(body)
        assert len(replies) == 1, replies
        return replies[0]


def submit_nik_case(app, twilio, phone: str = "+6281234567890", to: str = "whatsapp:+14155238886",
                    nik: str = "3201234505860003", place: str | None = None) -> Chat:
    """A citizen submits a change-NIK case with two document photos (menu numbers only: no NLU); asked
    where they live (on a shared number, a NIK no branch serves), they answer ``place``."""
    chat = Chat(app, twilio, phone=phone, to=to)
    for answer in ("1", "0001234567890", nik):
        chat.say(answer)
    chat.photo(document_photo(seed=1))
    chat.photo(document_photo(seed=2))
    if place is not None:
        chat.say(place)
    chat.say("ya")
    return chat


def complaint_answers(category: str = "1", facility: str = "RSUD Kota",
                      description: str = "Saya diminta bayar obat padahal pakai bpjs") -> list[str]:
    """What a citizen types for a complaint from the menu (no participant number, no photo), up to "ya"."""
    return ["5", category, "lewati", "kemarin", facility, description, "lewati", "ya"]


PHONE_WIDTH = 38  # characters a line of a WhatsApp bubble holds on a small phone


def phone_lines(message: str) -> int:
    """Lines the message takes on a small phone (WhatsApp hides the *bold*, _italic_ and ~strike~ markers)."""
    visible = re.sub(r"([*_~])(\S[^\n]*?)\1", r"\2", message)
    return sum(len(textwrap.wrap(line, PHONE_WIDTH)) or 1 for line in visible.split("\n"))


STAFF_PASSWORD = "rahasia-kuat-123"  # every test's staff: long enough for the password rules


def add_staff(app, *people: tuple[str, str], password: str = STAFF_PASSWORD) -> None:
    """Staff accounts ``(name, role)`` with the tests' password."""
    with app.app_context():
        for name, role in people:
            create_staff(db.session(), name, role, password)
        db.session().commit()


def csrf(client, path: str = "/console/login") -> str:
    """The CSRF token of a console page's form."""
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def login(client, name: str, password: str = STAFF_PASSWORD):
    """Log in at the console's login form; the response (302 when it worked)."""
    return client.post("/console/login", data={"name": name, "password": password, "csrf_token": csrf(client)})


def logged_in(app, name: str = "adi", password: str = STAFF_PASSWORD):
    """A test client with ``name`` logged in."""
    client = app.test_client()
    response = login(client, name, password)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client
