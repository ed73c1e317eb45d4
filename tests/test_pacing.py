"""Pacing sends to Twilio's limits (bot/pacing.py) and how bot/outbound.py uses it: the limiter on real
Redis shared by processes, the per-sender and account ceilings, bulk's share and replies first, pauses
after Twilio's rate errors, deferred sends that do not count an attempt, inline sends from the inbound
job, the notify queue, the sweeper, and the backlog at /metrics."""
from __future__ import annotations

import multiprocessing
import time
from datetime import timedelta

import pytest
import redis as redis_lib
from rq.registry import ScheduledJobRegistry

from bot import dispatch, metrics, outbound, pacing, queues, sweeper
from bot.outbound import TransientSendError, send_now, send_outbound
from storage import db, keys
from storage.models import Citizen, InboundMessage, OutboundMessage, utcnow
from tests.conftest import wait_for

pytestmark = pytest.mark.one_backend


@pytest.fixture
def env(env):
    """Twilio's own defaults (the suite's env raises them so that other tests do not wait for slots)."""
    return {**env, "OUTBOUND_TEXT_PER_SECOND": "10", "OUTBOUND_MEDIA_PER_SECOND": "1.5"}
US, OTHER = "whatsapp:+14155238886", "whatsapp:+6281100000001"
MICROS = pacing.MICROS


def most_in_a_window(times_us: list[int], window_s: float) -> int:
    """The largest number of events inside any closed window of ``window_s`` seconds."""
    times, best, start = sorted(times_us), 0, 0
    for end, t in enumerate(times):
        while t - times[start] > window_s * MICROS:
            start += 1
        best = max(best, end - start + 1)
    return best


def hammer(redis_url: str, rates: pacing.Rates, seconds: float, sender: str = US, media: bool = False,
           bulk: bool = False, out=None) -> list[int]:
    """Ask for slots as fast as they come for ``seconds``; the Redis times the slots were given at."""
    conn, got = redis_lib.Redis.from_url(redis_url), []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        wait, now = pacing.take(conn, sender, media=media, bulk=bulk, rates=rates)
        if wait == 0:
            got.append(now)
        else:
            time.sleep(min(wait / MICROS, 0.005))  # keep asking: the limiter, not the sleep, must hold the line
    conn.close()
    if out is not None:
        out.put(got)
    return got


def in_processes(redis_url: str, rates: pacing.Rates, seconds: float, *askers: dict) -> list[list[int]]:
    """Each asker (hammer's keyword arguments) in a process of its own, all at the same time; their slots."""
    ctx = multiprocessing.get_context("fork")
    outs = [ctx.Queue() for _ in askers]
    procs = [ctx.Process(target=hammer, args=(redis_url, rates, seconds), kwargs={**kw, "out": out})
             for kw, out in zip(askers, outs)]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 20) for out in outs]
    for p in procs:
        p.join(timeout=10)
    return results


# --- the limiter --------------------------------------------------------------------------------------

def test_two_processes_together_never_exceed_rate_times_t_plus_one_in_any_window(redis_conn, redis_url):
    rates = pacing.Rates(text=20, media=1.5, account=2000, bulk_share=0.8)
    first, second = in_processes(redis_url, rates, 2.0, {}, {})
    both = first + second
    assert first and second  # both processes were given slots
    for window in (0.05, 0.25, 0.5, 1.0, 1.5):
        assert most_in_a_window(both, window) <= 20 * window + 1, window
    gaps = [b - a for a, b in zip(sorted(both), sorted(both)[1:])]
    assert min(gaps) >= MICROS // 20  # two slots of one sender are never closer than one interval
    assert len(both) >= 30  # and the rate is used (41 at most in 2 s), not starved


def test_two_connections_in_threads_share_the_limit_too(redis_conn, redis_url):
    import threading

    rates, results = pacing.Rates(text=50, media=1.5, account=2000, bulk_share=1.0), []
    threads = [threading.Thread(target=lambda: results.append(hammer(redis_url, rates, 1.0))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    both = results[0] + results[1]
    assert most_in_a_window(both, 1.0) <= 51 and most_in_a_window(both, 0.2) <= 11
    assert len(both) >= 30


def test_media_has_its_own_lower_rate_on_top_of_the_text_rate(redis_conn, redis_url):
    rates = pacing.Rates(text=100, media=5, account=1_000_000, bulk_share=1.0)
    media = hammer(redis_url, rates, 1.2, media=True)
    assert most_in_a_window(media, 1.0) <= 6 and len(media) >= 5
    # a media slot also takes a text slot: text right after media waits for the text interval
    redis_conn.flushdb()
    assert pacing.acquire(redis_conn, US, media=True, rates=rates) == 0.0
    assert 0 < pacing.acquire(redis_conn, US, rates=rates) <= 0.01
    assert pacing.acquire(redis_conn, US, media=True, rates=rates) > 0.1  # the media interval is 0.2 s


def test_the_account_ceiling_holds_across_senders(redis_conn):
    rates = pacing.Rates(text=100, media=1.5, account=10, bulk_share=1.0)
    got = {US: [], OTHER: []}
    end, turn = time.monotonic() + 1.5, 0
    while time.monotonic() < end:  # the two senders ask in turn (each first every other time), as fast as they can
        turn += 1
        for sender in ((US, OTHER) if turn % 2 else (OTHER, US)):
            wait, now = pacing.take(redis_conn, sender, rates=rates)
            if wait == 0:
                got[sender].append(now)
        time.sleep(0.002)
    assert got[US] and got[OTHER]
    assert most_in_a_window(got[US] + got[OTHER], 1.0) <= 11  # ten per second for both senders together


def test_bulk_uses_only_its_share_of_the_sender_rate(redis_conn, redis_url):
    rates = pacing.Rates(text=20, media=1.5, account=2000, bulk_share=0.5)
    bulk = hammer(redis_url, rates, 1.5, bulk=True)
    assert most_in_a_window(bulk, 1.0) <= 11 and len(bulk) >= 14  # 10/s, not 20/s
    # replies and bulk together: within the sender's rate, and replies that keep waiting go first
    redis_conn.flushdb()
    bulk, replies = in_processes(redis_url, rates, 1.5, {"bulk": True}, {})
    assert most_in_a_window(bulk + replies, 1.0) <= 21 and most_in_a_window(bulk, 1.0) <= 11
    assert len(replies) >= 15 and len(replies) > 2 * len(bulk)


def test_a_waiting_reply_goes_before_bulk(redis_conn):
    rates = pacing.Rates(text=10, media=1.5, account=1_000_000, bulk_share=1.0)
    assert pacing.acquire(redis_conn, US, rates=rates) == 0.0
    wait = pacing.acquire(redis_conn, US, rates=rates)  # a reply finds no slot: it waits, and says so
    assert 0 < wait <= 0.1
    assert redis_conn.exists(keys.pacing_reply_waiting(US))
    time.sleep(wait + 0.005)
    assert pacing.acquire(redis_conn, US, bulk=True, rates=rates) > 0  # the slot is free, but the reply waits
    assert pacing.acquire(redis_conn, US, rates=rates) == 0.0           # the reply takes it
    assert pacing.acquire(redis_conn, OTHER, bulk=True, rates=rates) == 0.0  # another sender is not held up
    time.sleep(0.1 + pacing.REPLY_MARGIN_MICROS / MICROS + 0.1)
    assert pacing.acquire(redis_conn, US, bulk=True, rates=rates) == 0.0  # once no reply waits, bulk goes


def test_a_pause_is_honoured_never_shortened_and_the_account_pause_stops_every_sender(redis_conn):
    rates = pacing.Rates(text=10, media=1.5, account=1_000_000, bulk_share=1.0)
    assert pacing.slow_down(redis_conn, US, 2.0) == pytest.approx(2.0, abs=0.05)
    assert pacing.slow_down(redis_conn, US, 0.5) > 1.9  # a shorter pause does not cut a longer one
    assert 1.8 < pacing.acquire(redis_conn, US, rates=rates) <= 2.0
    assert 1.8 < pacing.acquire(redis_conn, US, bulk=True, rates=rates) <= 2.2  # (and a reply waits)
    assert pacing.acquire(redis_conn, OTHER, rates=rates) == 0.0
    pacing.slow_down_account(redis_conn, 0.3)
    assert 0.2 < pacing.acquire(redis_conn, OTHER, rates=rates) <= 0.3
    time.sleep(0.35)
    assert pacing.acquire(redis_conn, OTHER, rates=rates) == 0.0
    redis_conn.delete(keys.pacing_pause(US))
    assert pacing.acquire(redis_conn, US, rates=rates) == 0.0


def test_nothing_is_taken_when_a_slot_is_refused(redis_conn):
    rates = pacing.Rates(text=10, media=1.5, account=1000, bulk_share=1.0)
    pacing.slow_down(redis_conn, US, 1.0)
    for _ in range(5):
        assert pacing.acquire(redis_conn, US, media=True, rates=rates) > 0
    assert not redis_conn.exists(keys.pacing_sender(US), keys.pacing_media(US), keys.PACING_ACCOUNT)


# --- sending, paced -----------------------------------------------------------------------------------

def store(app, n=1, reply=True, created_ago=timedelta(0), sender=None, **columns) -> list[int]:
    with app.app_context():
        session = db.session()
        citizen = (session.query(Citizen).filter_by(phone="+6281234567890").one_or_none()
                   or Citizen(phone="+6281234567890"))
        session.add(citizen)
        session.flush()
        inbound = None
        if reply:
            inbound = InboundMessage(message_sid="SM" + str(time.time_ns()), sender="whatsapp:+6281234567890",
                                     citizen_id=citizen.id, body="halo", status="processed")
            session.add(inbound)
            session.flush()
        rows = [OutboundMessage(citizen_id=citizen.id, body=f"Pesan {i}", created_at=utcnow() - created_ago,
                                in_reply_to_id=inbound.id if inbound else None, sender=sender, **columns)
                for i in range(n)]
        session.add_all(rows)
        session.commit()
        return [r.id for r in rows]


def get(app, outbound_id) -> OutboundMessage:
    with app.app_context():
        return db.session().get(OutboundMessage, outbound_id)


def scheduled(app, name) -> list[str]:
    with app.app_context():
        return ScheduledJobRegistry(queue=queues.queue(name)).get_job_ids()


@pytest.mark.parametrize("code, status, paused", [(63018, 400, keys.pacing_pause(US)),
                                                  (20429, 429, keys.pacing_pause(US)),
                                                  (63017, 400, keys.PACING_ACCOUNT_PAUSE)])
def test_rate_errors_are_retried_and_slow_the_sender_or_the_account_down(app, twilio, redis_conn, code, status, paused):
    [reply] = store(app)
    twilio.fail_next(1, status=status, code=code, message="Rate limit exceeded")
    with app.app_context(), pytest.raises(TransientSendError):
        send_outbound(reply)
    row = get(app, reply)
    assert (row.status, row.error_code, row.attempts, row.sender) == ("retrying", str(code), 1, US)
    assert redis_conn.pttl(paused) > 0
    with app.app_context():
        assert metrics.snapshot()["outbound_rate_limited"] == 1
        assert send_outbound(reply) == "deferred"  # paused: given back, not counted, queued for later
    assert (get(app, reply).status, get(app, reply).attempts) == ("retrying", 1)
    assert len(scheduled(app, queues.OUTBOUND)) == 1
    redis_conn.delete(paused)
    with app.app_context():
        assert send_outbound(reply) == "queued"
    assert len(twilio.messages) == 1 and get(app, reply).attempts == 2


def test_a_rate_error_on_the_last_attempt_is_final(app, twilio):
    [reply] = store(app, attempts=app.config["SETTINGS"].outbound_max_attempts - 1, status="retrying")
    twilio.fail_next(1, status=400, code=63018, message="Rate limit exceeded")
    with app.app_context():
        assert send_outbound(reply) == "error"
    assert get(app, reply).status == "error" and twilio.messages == []


def test_a_job_without_a_slot_soon_is_queued_for_later_without_counting_an_attempt(app, twilio, redis_conn):
    [notice] = store(app, reply=False)
    pacing.slow_down(redis_conn, US, 30)
    with app.app_context():
        assert send_outbound(notice) == "deferred"
    row = get(app, notice)
    assert (row.status, row.attempts) == ("pending", 0) and twilio.messages == []
    assert len(scheduled(app, queues.NOTIFY)) == 1 and scheduled(app, queues.OUTBOUND) == []
    with app.app_context():  # the sweeper sees the delayed job waiting and does not queue a second one
        assert sweeper.sweep(utcnow() + timedelta(seconds=60))["outbound"] == 0


def test_a_short_wait_is_slept_and_the_message_sent(app, twilio, redis_conn):
    [reply] = store(app)
    pacing.slow_down(redis_conn, US, 0.4)
    started = time.monotonic()
    with app.app_context():
        assert send_outbound(reply) == "queued"
    assert time.monotonic() - started >= 0.35 and len(twilio.messages) == 1


def test_bulk_goes_to_the_notify_queue_taken_after_everything_else(app):
    [notice], [reply] = store(app, reply=False), store(app)
    with app.app_context():
        assert dispatch.enqueue_outbound(notice, bulk=True) and dispatch.enqueue_outbound(reply)
        assert queues.queue(queues.NOTIFY).count == 1 and queues.queue(queues.OUTBOUND).count == 1
    assert queues.ALL[-1] == queues.NOTIFY and queues.ALL.index(queues.OUTBOUND) == 0
    assert queues.TRAINING not in queues.ALL  # a retraining never holds up a worker that answers citizens


def test_the_sweeper_queues_each_kind_where_it_belongs(app):
    [notice], [reply] = store(app, reply=False), store(app)
    with app.app_context():
        assert sweeper.sweep(utcnow() + timedelta(seconds=60))["outbound"] == 2
        notify, replies = queues.queue(queues.NOTIFY).jobs, queues.queue(queues.OUTBOUND).jobs
        assert [j.args[0] for j in notify] == [notice] and [j.args[0] for j in replies] == [reply]
        assert sweeper.sweep(utcnow() + timedelta(seconds=60))["outbound"] == 0  # already waiting


def test_send_now_sends_replies_inline_in_order(app, twilio):
    ids = store(app, n=3)
    with app.app_context():
        assert send_now(ids) == ids
        assert queues.queue(queues.OUTBOUND).count == 0 and scheduled(app, queues.OUTBOUND) == []
    assert [m["Body"] for m in twilio.messages] == ["Pesan 0", "Pesan 1", "Pesan 2"]
    assert all(get(app, i).status == "queued" for i in ids)


def test_send_now_queues_what_must_wait_and_everything_behind_it(app, twilio, redis_conn):
    ids = store(app, n=3)
    rates = pacing.Rates.of(app.config["SETTINGS"])
    pacing.take(redis_conn, US, rates=rates)  # a slot was just taken: the first reply waits 0.1 s (slept)
    with app.app_context():
        assert send_now(ids[:1]) == ids[:1]
    pacing.slow_down(redis_conn, US, 5)
    with app.app_context():
        assert send_now(ids[1:]) == []
    assert len(scheduled(app, queues.OUTBOUND)) == 2 and len(twilio.messages) == 1
    assert [(get(app, i).status, get(app, i).attempts) for i in ids[1:]] == [("pending", 0)] * 2


def test_a_newer_reply_never_overtakes_an_older_one_still_waiting(app, twilio):
    """Found by bench/scale_out.py: with deferred replies on several workers, a citizen read them out of order."""
    older, newer = store(app, n=2)
    with app.app_context():
        assert send_now([newer]) == []  # the older reply (deferred earlier) has not gone yet
        assert send_outbound(newer) == "deferred"  # nor from the queue: tried again a second later
        assert [j.args[0] for j in queues.queue(queues.OUTBOUND).jobs] == []
        assert send_outbound(older) == "queued"
        # ... or as soon as the older one is gone, not at its next try
        assert [j.args[0] for j in queues.queue(queues.OUTBOUND).jobs] == [newer]
        assert send_outbound(newer) == "queued"
    assert [m["Body"] for m in twilio.messages] == ["Pesan 0", "Pesan 1"]
    assert get(app, newer).attempts == 1


def test_a_reply_behind_a_notification_brings_it_forward_and_follows_it(app, twilio):
    """Found in review: a reply held back by an older notification waiting on the slower notify queue."""
    [notice], [answer] = store(app, reply=False), store(app)
    with app.app_context():
        assert send_now([answer]) == []  # the notification was written first: it goes first ...
        assert [j.args[0] for j in queues.queue(queues.OUTBOUND).jobs] == [notice]  # ... now, not behind the backlog
        assert send_outbound(notice) == "queued"
        assert [j.args[0] for j in queues.queue(queues.OUTBOUND).jobs][-1] == answer  # and the reply right after
        assert send_outbound(answer) == "queued"
    assert [get(app, i).status for i in (notice, answer)] == ["queued", "queued"]
    assert len(twilio.messages) == 2


def test_send_now_never_loses_a_row_when_twilio_or_the_database_fails(app, twilio, monkeypatch):
    ids = store(app, n=2)
    twilio.fail_next(1, status=503, code=20503, message="Service Unavailable")
    with app.app_context():
        assert send_now(ids) == []
    assert get(app, ids[0]).status == "retrying" and get(app, ids[1]).status == "pending"
    assert len(scheduled(app, queues.OUTBOUND)) == 2  # after the backoff, in order

    more = store(app, n=1)

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(outbound, "_claim", broken)
    with app.app_context():
        assert send_now(more) == []
        assert more[0] in {int(j.args[0]) for j in queues.queue(queues.OUTBOUND).jobs}
    assert get(app, more[0]).status == "pending"


@pytest.mark.slow
def test_two_real_workers_send_a_burst_once_each_at_the_configured_rate(app, env, twilio, workers):
    ids = store(app, n=24, reply=False)
    with app.app_context():
        for i in ids:
            assert dispatch.enqueue_outbound(i, bulk=True)
    workers.env = {**env, "OUTBOUND_TEXT_PER_SECOND": "20", "OUTBOUND_BULK_SHARE": "0.5"}  # bulk: 10/s
    workers.start(2, "--no-sweeper")
    wait_for(lambda: len(twilio.messages) >= 24, timeout=40, message=lambda: "all sent\n" + workers.logs())
    time.sleep(0.5)
    assert sorted(m["Body"] for m in twilio.messages) == sorted(f"Pesan {i}" for i in range(24))  # each once
    times = sorted(m["created_at"] for m in twilio.messages)
    # paced: the 24 slots span 2.3 s at 10/s (unpaced, two workers send them in well under a second); the
    # fake sees them a little later than their slots, the first ones most (the client's first connection)
    assert times[-1] - times[0] >= 23 / 10 - 0.4


# --- the backlog --------------------------------------------------------------------------------------

def test_metrics_show_the_backlog_per_sender_and_the_notify_queue(app):
    store(app, n=2, reply=False, created_ago=timedelta(minutes=3))
    store(app, n=1, sender=OTHER, created_ago=timedelta(seconds=30), status="retrying")
    store(app, n=1, status="queued", created_ago=timedelta(hours=1))  # already handed to Twilio: not waiting
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert f'pandawa_outbound_backlog{{sender="{US}"}} 2' in text
    assert f'pandawa_outbound_backlog{{sender="{OTHER}"}} 1' in text
    oldest = {line.split("{")[1].split("}")[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith("pandawa_outbound_backlog_oldest_seconds{")}
    assert 175 <= oldest[f'sender="{US}"'] <= 240 and 25 <= oldest[f'sender="{OTHER}"'] <= 90
    assert "pandawa_queue_notify_length 0" in text
    assert "pandawa_inbound_oldest_waiting_seconds 0.0" in text  # nobody is waiting for an answer


def test_metrics_show_how_long_the_oldest_unanswered_message_has_waited(app):
    with app.app_context():
        session = db.session()
        citizen = Citizen(phone="+6281234567891")
        session.add(citizen)
        session.flush()
        session.add(InboundMessage(message_sid="SMold", sender="whatsapp:+6281234567891", citizen_id=citizen.id,
                                   body="halo", received_at=utcnow() - timedelta(minutes=2)))
        session.commit()
    text = app.test_client().get("/metrics").get_data(as_text=True)
    line = next(x for x in text.splitlines() if x.startswith("pandawa_inbound_oldest_waiting_seconds "))
    assert 115 <= float(line.split()[1]) <= 180
