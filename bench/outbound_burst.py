#!/usr/bin/env python3
"""Outbound pacing under a burst: --cases cases decided at once through the console's own code path
(bot.casework.decide, "approve"), so that as many notifications are stored and queued at once, sent by
--workers `flask --app bot worker --no-sweeper` processes, started once all are queued, paced to
OUTBOUND_TEXT_PER_SECOND=--rate (bulk notifications get OUTBOUND_BULK_SHARE of it). Meanwhile --replies
citizens write "menu" (one a second, from --reply-after s after the workers started) and wait for the
bot's answer.

Checked and printed, from the time the local Twilio-compatible server recorded each created message:
every decision notified exactly once (its ticket in one message, none lost, none twice); the most sends
in any sliding 1-s window (all messages of the sender, bulk and replies) against rate + 1; the time the
burst took against N / (rate x share); the replies' latency (webhook POST -> reply recorded), which shows
whether they went ahead of the notifications still waiting.

Same stack as the other benchmarks (bench/benchlib.py): own PostgreSQL database, Redis db --redis-db,
gunicorn with the real app (the citizens' webhooks), FakeTwilio in this process. No Rasa: RASA_URL points at
a closed port, so the bot answers "menu" without the NLU, as it does when Rasa is down.

    .venv/bin/python bench/outbound_burst.py [--cases 1000] [--rate 50] [--workers 2] [--json PATH]
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchdriver import Driver  # noqa: E402
from benchlib import REPO, Stack, git_head, pct, phone, table, write_json  # noqa: E402  (puts REPO on sys.path)

from bot import casework, create_app  # noqa: E402
from bot.accounts import create_staff  # noqa: E402
from storage import db  # noqa: E402
from storage.cases import Case, CaseStatus  # noqa: E402
from storage.models import Citizen, utcnow  # noqa: E402
from storage.staff import Staff  # noqa: E402

US = "whatsapp:+14155238886"
CASE_PHONE_BASE = 81300000000  # the decided cases' citizens (the repliers use benchlib's default base)


def claim_redis_db(wanted: int | None) -> tuple[int, str]:
    """A Redis database no test run and no other benchmark is using: claimed in db 0's registry the way
    tests/conftest.py claims one (SET NX, expires), and empty. Returns (index, registry key)."""
    import redis

    registry = redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=2)
    for index in [wanted] if wanted is not None else [13, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2]:
        key = f"pandawa-tests:db:{index}"
        if registry.set(key, f"outbound_burst {os.getpid()}", nx=True, ex=3600):
            if redis.Redis.from_url(f"redis://127.0.0.1:6379/{index}").dbsize() == 0:
                return index, key
            registry.delete(key)  # empty of claims but in use (another benchmark): leave it
    raise SystemExit(f"no free Redis database ({'db ' + str(wanted) if wanted is not None else 'tried 13..2'})")


def release_redis_db(key: str) -> None:
    import redis

    redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=2).delete(key)


def most_in_window(times: list[float], window: float = 1.0) -> tuple[int, float | None]:
    """The most events inside any closed window of ``window`` s, and where that window starts."""
    times, best, at, start = sorted(times), 0, None, 0
    for end, t in enumerate(times):
        while t - times[start] > window:
            start += 1
        if end - start + 1 > best:
            best, at = end - start + 1, times[start]
    return best, at


def seed_cases(app, n: int) -> tuple[list[int], list[str], int]:
    """n change-NIK cases, each of its own citizen (who wrote within 24 h: free-form messages), held by
    one agent and in review: ready to be decided. Returns (case ids, tickets, staff id)."""
    with app.app_context():
        session = db.session()
        staff = create_staff(session, "bench-agent", "agent", "bench-pass-phrase-123")
        session.flush()
        now = utcnow()
        citizens = [Citizen(phone=phone(i, CASE_PHONE_BASE), profile_name=f"Warga {i}", last_inbound_at=now)
                    for i in range(n)]
        session.add_all(citizens)
        session.flush()
        cases = [Case(ticket=f"PDW-20261206-{i + 1:04d}", service="change_nik", service_title="Ubah / perbaiki NIK",
                      citizen_id=c.id, status=CaseStatus.IN_REVIEW, assigned_to=staff.id, claimed_at=now,
                      fields={"card_number": "0001234567890", "nik": "3201234505860003"}, flow_version="",
                      queued_at=now) for i, c in enumerate(citizens)]
        session.add_all(cases)
        session.commit()
        return [c.id for c in cases], [c.ticket for c in cases], staff.id


def decide_all(env: dict, case_ids: list[int], staff_id: int, out) -> None:
    """Approve every case through bot.casework.decide (what the console's decision form calls): each
    commits the decision and the citizen's notification, then queues it. Runs in a process of its own,
    like the web process it stands for (in this one it would slow the fake Twilio's clock down).
    Puts (start, end) times on ``out``."""
    app = create_app({"ENV": env})
    with app.app_context():
        session = db.session()
        started = time.time()
        for case_id in case_ids:
            staff = session.get(Staff, staff_id)
            casework.decide(session, session.get(Case, case_id), staff, "approve", note="")
            session.expunge_all()  # keep the session small: each decision loads what it needs
        out.put((started, time.time()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=50, help="OUTBOUND_TEXT_PER_SECOND for the workers")
    ap.add_argument("--bulk-share", type=float, default=0.8, help="OUTBOUND_BULK_SHARE")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--replies", type=int, default=8, help="citizens who write during the burst, one a second")
    ap.add_argument("--reply-after", type=float, default=5.0, help="seconds into the sends the first one writes")
    ap.add_argument("--redis-db", type=int, default=None,
                    help="default: a free one, claimed like the tests claim theirs (other benchmarks use 14, 12)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (the processes' logs)")
    ap.add_argument("--json", default=str(REPO / "bench" / "results" / "outbound_burst.json"))
    args = ap.parse_args()
    os.environ.update(OUTBOUND_TEXT_PER_SECOND=str(args.rate), OUTBOUND_BULK_SHARE=str(args.bulk_share),
                      LOG_LEVEL="WARNING")
    redis_db, claim = claim_redis_db(args.redis_db)
    try:
        return run(args, redis_db)
    finally:
        release_redis_db(claim)


def run(args, redis_db: int) -> int:
    bulk_rate = args.rate * args.bulk_share
    expected = (args.cases - 1) / bulk_rate
    with Stack(redis_db=redis_db, keep=args.keep) as stack:
        if args.keep:
            print(f"logs in {stack.log_dir}", flush=True)
        stack.prepare_db()
        driver = Driver(stack, [["menu"] for _ in range(args.replies)], post_threads=4)
        try:
            app = create_app({"ENV": stack.env()})
            case_ids, tickets, staff_id = seed_cases(app, args.cases)
            print(f"{args.cases} cases in review, one citizen each", flush=True)
            stack.start_gunicorn(workers=1, threads=4)
            ctx = multiprocessing.get_context("spawn")
            out = ctx.Queue()
            decider = ctx.Process(target=decide_all, args=(stack.env(), case_ids, staff_id, out))
            decider.start()
            decided_from, decided_to = out.get(timeout=300)
            decider.join(timeout=30)
            queued = stack.queue_lengths().get("notify", 0)
            print(f"{args.cases} decisions committed and queued in {decided_to - decided_from:.1f} s "
                  f"({queued} jobs waiting on the notify queue)", flush=True)
            for i in range(args.workers):
                stack.start_worker(f"worker-{i}")
            stack.wait_workers(args.workers)

            replies: list = []

            def write_during_the_burst() -> None:
                time.sleep(args.reply_after)
                for sender in range(args.replies):
                    replies.append(driver.send(sender, "reply"))
                    time.sleep(1.0)

            writers = threading.Thread(target=write_during_the_burst, daemon=True)
            writers.start()
            deadline = time.monotonic() + expected * 1.2 + 15
            wanted = set(tickets)
            while time.monotonic() < deadline:
                sent = sum(1 for m in driver.fake_messages() if m["To"].startswith("whatsapp:+62813"))
                if sent >= args.cases:
                    break
                time.sleep(0.5)
            writers.join(timeout=args.replies + 30)
            for rec in replies:
                driver.wait_reply(rec, timeout=10)
            time.sleep(2)  # anything sent twice would arrive now
            failed_jobs = stack.failed_jobs()
            backlog = stack.sql("select count(*) from outbound_messages "
                                "where status in ('pending', 'retrying', 'unknown', 'sending')")[0][0]
        finally:
            driver.close()

    messages = driver.fake_messages()
    bulk = [m for m in messages if m["To"].startswith("whatsapp:+62813")]
    per_ticket: dict[str, int] = {}
    for m in bulk:
        for word in (m.get("Body") or "").replace("(", " ").replace(")", " ").split():
            if word in wanted:
                per_ticket[word] = per_ticket.get(word, 0) + 1
    once = sum(1 for t in tickets if per_ticket.get(t) == 1)
    twice = sum(1 for t in tickets if per_ticket.get(t, 0) > 1)
    lost = sum(1 for t in tickets if t not in per_ticket)
    from_us = [m["created_at"] for m in messages if m.get("From") == US]
    worst, worst_at = most_in_window(from_us, 1.0)
    bulk_times = sorted(m["created_at"] for m in bulk)
    took = bulk_times[-1] - bulk_times[0] if bulk_times else None
    latencies = [(r.reply_at - r.t0) * 1000 for r in replies if r.reply_at]
    # How many notifications were still waiting when each reply went out: it went ahead of them.
    ahead = [sum(1 for t in bulk_times if t > r.reply_at) for r in replies if r.reply_at]

    result = {
        "cases": args.cases, "redis_db": redis_db, "rate": args.rate, "bulk_share": args.bulk_share,
        "workers": args.workers, "decide_all_s": decided_to - decided_from, "queued_before_workers": queued,
        "notified_once": once, "notified_twice": twice, "lost": lost,
        "max_sends_in_1s_window": worst, "limit_rate_plus_1": int(args.rate) + 1,
        "max_bulk_in_1s_window": most_in_window(bulk_times, 1.0)[0],
        "burst_s": took, "expected_s": expected, "bulk_msg_per_s": (len(bulk) - 1) / took if took else None,
        "replies_sent": len(replies), "replies_answered": len(latencies),
        "reply_latency_ms": {"p50": pct(latencies, 50), "max": max(latencies, default=None), "all": latencies},
        "notifications_still_waiting_when_each_reply_left": ahead,
        "failed_jobs": failed_jobs, "rows_left_sendable": backlog,
    }
    ok = (once == args.cases and not twice and not lost and worst <= int(args.rate) + 1
          and len(latencies) == len(replies) and not failed_jobs and not backlog)
    print()
    print(table(["cases", "rate/s", "bulk/s", "notified once", "twice", "lost", "max in any 1 s", "limit",
                 "burst s", "N/(rate x share) s", "failed jobs"],
                [[args.cases, args.rate, bulk_rate, once, twice, lost, worst, int(args.rate) + 1, took, expected,
                  failed_jobs]]))
    since = worst_at - min(from_us) if worst_at and from_us else 0
    print(f"busiest 1-s window starts {since:.2f} s after the first send; bulk alone at most "
          f"{result['max_bulk_in_1s_window']} in 1 s; measured bulk rate {result['bulk_msg_per_s'] or 0:.1f}/s")
    print(f"replies during the burst: {len(latencies)}/{len(replies)} answered, latency p50 "
          f"{pct(latencies, 50) or 0:.0f} ms, max {max(latencies, default=0):.0f} ms; notifications still waiting "
          f"when each left: {ahead}")
    print("OK" if ok else "CHECK FAILED")
    write_json(args.json, {"benchmark": "outbound_burst", "date_utc": datetime.now(timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"), "git_commit": git_head(), "cores": os.cpu_count(),
        "python": platform.python_version(), "params": vars(args), "result": result, "ok": ok})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
