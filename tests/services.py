"""What the tests of the three services added in issue 17 share (tests/test_new_services.py,
tests/test_faskes.py): participants of the demo registry, an app whose NLU is the keyword stand-in, and the
officer's approval in the console."""
from __future__ import annotations

import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfWriter
from sqlalchemy import select

from bot import create_app
from handlers.product import load_product
from storage import db
from storage.cases import Case
from storage.membership import Participant
from storage.staff import AuditLog
from tests.helpers import Chat, add_staff, csrf, logged_in
from tests.nlu_double import KeywordNLU

SARI = ("0001234567890", "05-05-1986")     # PBPU class 3, active, Kab. Bogor
ASEP = ("0007108093746", "12-04-1978")     # PBI APBN, active, Kota Bandung
DADANG = ("0008716271838", "17-08-1965")   # PPU class 1, active
NENENG = ("0007097972063", "28-02-1990")   # PBPU class 2, active
WAHYU = ("0006095074992", "29-02-2000")    # PBPU class 1, active
HENDRA = ("0000583154253", "13-07-1984")   # PBPU class 1, inactive for arrears
PRODUCT = load_product("config.yml")


@pytest.fixture
def app(env):
    app = create_app({"ENV": {**env, "MEDIA_ALLOWED_HOSTS": "localhost"}, "TESTING": True})
    app.extensions["nlu"] = KeywordNLU()
    add_staff(app, ("ani", "agent"), ("sri", "supervisor"))
    yield app
    app.extensions["db"].dispose()


@pytest.fixture
def chat(app, twilio) -> Chat:
    return Chat(app, twilio)


def pdf() -> bytes:
    writer, out = PdfWriter(), io.BytesIO()
    writer.add_blank_page(width=595, height=842)
    writer.write(out)
    return out.getvalue()


def office_today() -> date:
    return datetime.now(ZoneInfo("Asia/Jakarta")).date()


def latest_case(app) -> Case | None:
    with app.app_context():
        case = db.session().scalar(select(Case).order_by(Case.id.desc()))
        if case is not None:
            _ = case.documents, case.events
            db.session().expunge(case)
        return case


def participant(app, card: str) -> Participant:
    with app.app_context():
        p = db.session().scalar(select(Participant).where(Participant.card_number == card))
        db.session().expunge(p)
        return p


def set_participant(app, card: str, **values) -> None:
    with app.app_context():
        p = db.session().scalar(select(Participant).where(Participant.card_number == card))
        for key, value in values.items():
            setattr(p, key, value)
        db.session().commit()


def approve(app, ticket: str, note: str = "") -> tuple[str, str]:
    """ani claims the case in the console and approves it: (the confirmation page, the case page after)."""
    ani = logged_in(app, "ani")
    url = f"/console/cases/{ticket}"
    ani.post(f"{url}/claim", data={"csrf_token": csrf(ani, url)})
    confirm = ani.post(f"{url}/decision", data={"decision": "approve", "note": note, "csrf_token": csrf(ani, url)})
    assert confirm.status_code == 200, confirm.get_data(as_text=True)
    done = ani.post(f"{url}/decision", data={"decision": "approve", "note": note, "confirmed": "1",
                                             "csrf_token": csrf(ani, url)})
    assert done.status_code == 302
    return confirm.get_data(as_text=True), ani.get(url).get_data(as_text=True)


def audit_actions(app, case_id: int) -> list[tuple[str, str | None]]:
    with app.app_context():
        return [(a.action, a.detail) for a in db.session().scalars(
            select(AuditLog).where(AuditLog.case_id == case_id).order_by(AuditLog.id))]
