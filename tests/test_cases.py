"""Cases and messages the bot starts: unique tickets under concurrency, the agents' queue job,
templates outside the 24-hour window, refused media hosts, a worker killed mid-flow."""
from __future__ import annotations

import json
import signal
import threading
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from handlers.notify import notify
from bot.jobs import queue_case
from handlers.cases import create_case, next_ticket
from storage import db
from storage.cases import Case
from storage.models import Citizen, InboundMessage, OutboundMessage, as_utc, utcnow
from tests.conftest import wait_for
from tests.helpers import Chat, run_jobs


def test_tickets_stay_unique_when_many_workers_confirm_at_once(app, backend):
    day, taken, errors = date(2026, 11, 23), [], []

    def take():
        with app.app_context():
            session = db.session()
            try:
                for _ in range(5):
                    taken.append(next_ticket(session, day))
                    session.commit()
            except Exception as exc:  # collected and asserted below: a failure must not pass silently
                errors.append(exc)
                session.rollback()

    threads = [threading.Thread(target=take) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(taken) == [f"PDW-20261123-{n:04d}" for n in range(1, 31)]
    with app.app_context():
        assert next_ticket(db.session(), date(2026, 11, 24)) == "PDW-20261124-0001"


def test_backoffice_job_sets_the_sla_in_working_hours(app):
    with app.app_context():
        session = db.session()
        citizen = Citizen(phone="+6281234567890")
        session.add(citizen)
        session.flush()
        case = create_case(session, citizen.id, "complaint", {"facility": "RSUD"}, [], "v1", app.config["PRODUCT"])
        case.created_at = utcnow().replace(year=2026, month=11, day=27, hour=6, minute=0)  # Friday 13:00 in Jakarta
        session.commit()
        assert queue_case(case.id) == case.ticket
        assert queue_case(case.id) is None  # queued once
        session.expire_all()
        case = session.get(Case, case.id)
        due = as_utc(case.sla_due_at).astimezone(ZoneInfo("Asia/Jakarta"))
        # 8 working hours from Friday 13:00 (2 h left that day) end on Monday at 14:00.
        assert (due.weekday(), due.hour, due.minute) == (0, 14, 0)


def test_outside_the_24_hour_window_a_template_is_sent_never_free_text(app, twilio):
    with app.app_context():
        session = db.session()
        recent = Citizen(phone="+6281111111111", last_inbound_at=utcnow() - timedelta(hours=2))
        old = Citizen(phone="+6282222222222", last_inbound_at=utcnow() - timedelta(hours=25))
        session.add_all([recent, old])
        session.flush()
        product = app.config["PRODUCT"]
        inside = notify(session, recent, "Tiket PDW-1 disetujui", product, utcnow(), "case_update", {"ticket": "PDW-1", "status": "disetujui"})
        outside = notify(session, old, "Tiket PDW-2 disetujui", product, utcnow(), "case_update", {"ticket": "PDW-2", "status": "disetujui"})
        session.commit()
        assert inside.content_sid is None and outside.content_sid.startswith("HX")
        from bot.dispatch import enqueue_outbound

        enqueue_outbound(inside.id)
        enqueue_outbound(outside.id)
    run_jobs(app)
    by_to = {m["To"]: m for m in twilio.messages}
    assert by_to["whatsapp:+6281111111111"]["Body"] == "Tiket PDW-1 disetujui"
    template = by_to["whatsapp:+6282222222222"]
    assert template["Body"] is None and template["ContentSid"].startswith("HX")
    assert json.loads(template["ContentVariables"]) == {"1": "PDW-2", "2": "disetujui"}


def test_media_on_a_host_that_is_not_twilio_is_never_fetched(app, twilio, caplog):
    chat = Chat(app, twilio)
    for answer in ("1", "0001234567890", "3201234505860003"):
        chat.say(answer)
    from tests.helpers import inbound_form, post_signed

    form = inbound_form(body="", NumMedia="1", MediaUrl0="http://169.254.169.254/latest/meta-data/x.jpg",
                        MediaContentType0="image/jpeg")
    post_signed(app.test_client(), app, "/whatsapp/inbound", form)
    [reply] = chat.replies()
    assert "tidak bisa kami terima" in reply and "foto KTP" in reply
    assert any("host_not_allowed" in r.getMessage() or "not allowed" in r.getMessage() for r in caplog.records)


def test_a_worker_killed_mid_flow_loses_nothing(app, twilio, workers, env):
    chat = Chat(app, twilio)
    workers.start(1, "--no-sweeper")
    sent = lambda: len([m for m in twilio.messages if m["To"] == "whatsapp:+6281234567890"])  # noqa: E731
    chat.send("1", run=False)
    wait_for(lambda: sent() == 1, timeout=30, message=lambda: workers.logs())
    chat.send("0001234567890", run=False)
    wait_for(lambda: sent() == 2, timeout=30, message=lambda: workers.logs())
    workers.procs[0].send_signal(signal.SIGKILL)
    workers.procs[0].wait()
    chat.send("3201234505860003", run=False)  # stored while no worker runs
    workers.start(1)  # a new worker, with the sweeper
    wait_for(lambda: sent() == 3, timeout=60, message=lambda: workers.logs())
    last = [m["Body"] for m in twilio.messages][-1]
    assert "foto KTP" in last
    with app.app_context():
        assert {m.status for m in db.session().scalars(select(InboundMessage))} == {"processed"}
        assert len(db.session().scalars(select(OutboundMessage)).all()) == 3
