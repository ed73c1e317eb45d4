"""Several workers: one citizen's messages in arrival order, others in parallel; nothing lost when
Redis was down or forgot its queues."""
from __future__ import annotations

from collections import defaultdict

from rq import Queue
from sqlalchemy import func, select

from bot import queues
from bot.sweeper import sweep
from storage import db
from storage.models import InboundMessage, InboundStatus, OutboundMessage
from tests.conftest import wait_for
from tests.helpers import inbound_form, post_signed, run_jobs


def processed(app) -> int:
    with app.app_context():
        return db.session().scalar(
            select(func.count()).select_from(InboundMessage).where(InboundMessage.status == InboundStatus.PROCESSED)
        )


def test_burst_from_one_citizen_is_handled_in_order_with_two_workers(app, client, twilio, workers):
    workers.start(2, "--no-sweeper")
    burst = "+6281111111111"
    others = ["+6282222222222", "+6283333333333"]
    for i in range(10):
        post_signed(client, app, "/whatsapp/inbound", inbound_form(phone=burst, body=f"pesan {i}"))
        if i % 3 == 0:
            for phone in others:
                post_signed(client, app, "/whatsapp/inbound", inbound_form(phone=phone, body=f"halo {i}"))
    total = 10 + 4 * len(others)
    wait_for(lambda: processed(app) == total, timeout=60, message=lambda: f"{total} processed\n" + workers.logs())
    wait_for(lambda: len(twilio.messages) == total, timeout=30, message="every reply handed to Twilio")

    with app.app_context():
        session = db.session()
        by_citizen = defaultdict(list)
        for message in session.scalars(select(InboundMessage).order_by(InboundMessage.processed_at, InboundMessage.id)):
            by_citizen[message.citizen.phone].append(message)
        # Handled in arrival order: processing order equals storage order, for each citizen.
        for phone, messages in by_citizen.items():
            assert [m.id for m in messages] == sorted(m.id for m in messages), phone
        burst_bodies = [m.body for m in by_citizen[burst]]
        assert burst_bodies == [f"pesan {i}" for i in range(10)]
        # Replies were created in the same order as the messages they answer, one each.
        replies = session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
        reply_to = [r.in_reply_to_id for r in replies if r.citizen.phone == burst]
        assert reply_to == [m.id for m in by_citizen[burst]]
    # Each reply was handed to Twilio exactly once.
    assert len({m["sid"] for m in twilio.messages}) == total


def test_message_stored_while_redis_was_down_is_swept_and_answered(env, app, twilio):
    from bot import create_app

    down = create_app({"ENV": {**env, "REDIS_URL": "redis://127.0.0.1:1/0"}, "TESTING": True})
    assert post_signed(down.test_client(), down, "/whatsapp/inbound", inbound_form(body="halo")).status_code == 200
    down.extensions["db"].dispose()

    with app.app_context():
        assert Queue(queues.INBOUND, connection=queues.redis()).count == 0
        assert sweep() == {"stuck_sends": 0, "inbound": 1, "outbound": 0, "cases": 0, "readings": 0}
        assert sweep()["inbound"] == 0  # already waiting in the queue: not enqueued twice
        assert Queue(queues.INBOUND, connection=queues.redis()).count == 1
    run_jobs(app)
    assert processed(app) == 1
    assert len(twilio.messages) == 1


def test_queues_lost_in_a_redis_restart_are_rebuilt_by_the_sweeper(app, client, twilio, redis_conn):
    post_signed(client, app, "/whatsapp/inbound", inbound_form(phone="+6284444444444"))
    post_signed(client, app, "/whatsapp/inbound", inbound_form(phone="+6285555555555"))
    redis_conn.flushdb()  # what a restart of a Redis that keeps nothing on disk does
    with app.app_context():
        assert sweep()["inbound"] == 2
    run_jobs(app, [queues.INBOUND])
    assert len(twilio.messages) == 2  # the inbound job hands its replies to Twilio itself
    with app.app_context():  # two more replies stored but not yet sent (their jobs were lost with Redis)
        session = db.session()
        for message in session.scalars(select(InboundMessage)):
            session.add(OutboundMessage(citizen_id=message.citizen_id, in_reply_to_id=message.id, body="lagi"))
        session.commit()
    redis_conn.flushdb()
    with app.app_context():
        assert sweep() == {"stuck_sends": 0, "inbound": 0, "outbound": 2, "cases": 0, "readings": 0}
        assert sweep()["outbound"] == 0  # already waiting in the queue: not enqueued twice
        assert Queue(queues.OUTBOUND, connection=queues.redis()).count == 2
    run_jobs(app)
    assert len(twilio.messages) == 4


def test_sweeper_thread_in_the_worker_finds_what_was_never_enqueued(env, app, twilio, workers):
    from bot import create_app

    down = create_app({"ENV": {**env, "REDIS_URL": "redis://127.0.0.1:1/0"}, "TESTING": True})
    post_signed(down.test_client(), down, "/whatsapp/inbound", inbound_form(body="halo"))
    down.extensions["db"].dispose()
    workers.start(1)  # with its sweeper thread, every SWEEP_INTERVAL=1s
    wait_for(lambda: len(twilio.messages) == 1, timeout=30, message=lambda: "the reply\n" + workers.logs())
    assert processed(app) == 1


def test_a_flood_from_one_number_does_not_starve_other_citizens(app, client, twilio):
    flood, other = "+6281777777777", "+6282888888888"
    for i in range(30):
        post_signed(client, app, "/whatsapp/inbound", inbound_form(phone=flood, body=f"spam {i}"))
    post_signed(client, app, "/whatsapp/inbound", inbound_form(phone=other, body="halo"))
    with app.app_context():
        assert Queue(queues.INBOUND, connection=queues.redis()).count == 2  # one place in line per citizen
    run_jobs(app)
    order = [m["To"] for m in twilio.messages]
    assert len(order) == 31
    assert order.index(f"whatsapp:{other}") <= 5  # served after at most one turn of the flood
    with app.app_context():  # and the flood itself is handled completely, in order
        bodies = [m.body for m in db.session().scalars(
            select(InboundMessage).where(InboundMessage.status == InboundStatus.PROCESSED).order_by(InboundMessage.processed_at, InboundMessage.id))
            if m.body.startswith("spam")]
    assert bodies == [f"spam {i}" for i in range(30)]
