#!/usr/bin/env python3
"""Case-to-queue benchmark: time from the citizen's confirmation ("ya") webhook to the case being
visible in the agents' queue (Case.queued_at, set by the `backoffice` RQ job), over --cases citizens
who each complete a complaint, typing what tests/helpers.complaint_answers() gives (kept in step with
flows/definitions/complaint.yml by the tests: "5", "1", "lewati", "kemarin", "RSUD Kota", "Saya diminta
bayar obat padahal pakai bpjs", "lewati", "ya" today), each message sent after the previous reply
reached the local Twilio server. A complaint that does not end with a ticket makes the exit status 1.

Same stack as bench/end_to_end.py (gunicorn real app, PostgreSQL, Redis/RQ, real Rasa NLU, local
Twilio-compatible server) with --workers SimpleWorkers. Also reported, from the same "ya": the case row
created (Case.created_at) and the ticket reply recorded by the fake Twilio. The baseline is the same
measurement with no other traffic; --background-rates adds passes where other citizens write at a fixed
rate (the end-to-end message mix) while the complaints are confirmed. Each pass ends with the delivery
check (bench/benchcheck.py) of every message sent during it; a violation makes the exit status 1.

    .venv/bin/python bench/case_to_queue.py [--cases 30] [--workers 2] [--background-rates 0,8] [--json PATH]
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchcheck import DeliveryCheck, all_ok, verdict  # noqa: E402
from benchdriver import Driver  # noqa: E402
from benchlib import REPO, meta, pct, table, write_json  # noqa: E402
from benchrun import running_app, worker_pool  # noqa: E402
from end_to_end import make_scripts  # noqa: E402
from tests.helpers import complaint_answers  # noqa: E402

COMPLAINT = complaint_answers()


def converse(driver: Driver, sender: int, phase: str, cooldown: float) -> dict:
    out = {"sender": sender, "ok": False}
    for body in COMPLAINT:
        rec = driver.send(sender, phase)
        if not driver.wait_reply(rec):
            out["failed_at"] = body
            return out
        if body == "ya":
            out.update(t_ya=rec.t0, reply_at=rec.reply_at, ok="PDW-" in (rec.reply_body or ""))
            if not out["ok"]:
                out["reply"] = (rec.reply_body or "")[:200]
        time.sleep(cooldown)
    return out


def wait_queued(stack, phones: list[str], timeout: float) -> list[tuple]:
    """(phone, created_at, queued_at, ticket) of the citizens' cases, once all are queued (or at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = stack.sql(
            "select ci.phone, extract(epoch from c.created_at), extract(epoch from c.queued_at), c.ticket "
            "from cases c join citizens ci on ci.id = c.citizen_id where ci.phone = any(%s)", (phones,))
        if (len(rows) >= len(phones) and all(r[2] is not None for r in rows)) or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def run_pass(stack, driver: Driver, senders: list[int], bg_senders: list[int], rate: float, args) -> dict:
    """The complaints of `senders` (args.concurrency at a time), with background traffic at `rate` msg/s;
    ends with the delivery check of everything sent during the pass."""
    check = DeliveryCheck(stack, driver, f"background {rate:g} msg/s")
    bg, stop, bg_result = None, threading.Event(), {}
    if rate > 0:
        bg = threading.Thread(target=lambda: bg_result.update(driver.run_load(
            f"bg-{rate:g}", bg_senders, 600, 0, rate=rate, drain=20, stop=stop)), daemon=True)
        bg.start()
        time.sleep(2)
    t = time.monotonic()
    with ThreadPoolExecutor(args.concurrency) as pool:
        convs = list(pool.map(lambda s: converse(driver, s, f"case-{rate:g}", 0.3), senders))
    took = time.monotonic() - t
    stop.set()  # background traffic ends with the complaints
    phones = {driver.phones[c["sender"]]: c for c in convs if c.get("t_ya")}
    rows = wait_queued(stack, list(phones), args.wait)
    if bg is not None:
        bg.join(timeout=120)
    queued, created, replied = [], [], []
    for ph, created_at, queued_at, _ticket in rows:
        c = phones[ph]
        created.append((float(created_at) - c["t_ya"]) * 1000)
        if queued_at is not None:
            queued.append((float(queued_at) - c["t_ya"]) * 1000)
        replied.append((c["reply_at"] - c["t_ya"]) * 1000)
    p = {"background_rate": rate, "cases_attempted": len(senders), "conversations_ok": sum(1 for c in convs if c["ok"]),
         "cases_created": len(rows), "cases_queued": len(queued), "complaints_wall_s": took,
         "ya_to_queued_ms": {"p50": pct(queued, 50), "p95": pct(queued, 95), "max": max(queued, default=None)},
         "ya_to_case_row_ms": {"p50": pct(created, 50), "p95": pct(created, 95)},
         "ya_to_ticket_reply_ms": {"p50": pct(replied, 50), "p95": pct(replied, 95)},
         "failures": [c for c in convs if not c["ok"]][:5], "background": bg_result or None, "check": check.finish()}
    print(f"background {rate:g} msg/s: {len(queued)}/{len(senders)} queued; ya->queued p50 "
          f"{p['ya_to_queued_ms']['p50']} p95 {p['ya_to_queued_ms']['p95']} ms", flush=True)
    return p


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=30, help="complaints per pass (>= 30 for the figures)")
    ap.add_argument("--concurrency", type=int, default=4, help="citizens completing a complaint at the same time")
    ap.add_argument("--workers", type=int, default=2, help="SimpleWorker processes (flask --app bot worker --no-sweeper)")
    ap.add_argument("--background-rates", default="0,8", help="msg/s of other traffic per pass (0 = baseline)")
    ap.add_argument("--background-senders", type=int, default=400)
    ap.add_argument("--wait", type=float, default=60, help="max seconds to wait for the last case to be queued")
    ap.add_argument("--redis-db", type=int, default=14)
    ap.add_argument("--json", default=str(REPO / "bench" / "results" / "case_to_queue.json"))
    args = ap.parse_args()
    rates = [float(r) for r in args.background_rates.split(",") if r]
    n_case = args.cases * len(rates)
    scripts = [list(COMPLAINT) for _ in range(n_case)] + make_scripts(args.background_senders)
    passes = []
    with running_app(scripts, args.redis_db) as (stack, driver), worker_pool(stack, "case", args.workers):
        for k, rate in enumerate(rates):
            senders = list(range(k * args.cases, (k + 1) * args.cases))
            passes.append(run_pass(stack, driver, senders, list(range(n_case, n_case + args.background_senders)),
                                   rate, args))
        failed_jobs = stack.failed_jobs()

    print()
    print(table(["background msg/s", "cases queued", "ya->case row p50", "p95", "ya->ticket reply p50", "p95",
                 "ya->queued p50", "p95", "max", "exactly-once / order"],
                [[p["background_rate"], f"{p['cases_queued']}/{p['cases_attempted']}", p["ya_to_case_row_ms"]["p50"],
                  p["ya_to_case_row_ms"]["p95"], p["ya_to_ticket_reply_ms"]["p50"], p["ya_to_ticket_reply_ms"]["p95"],
                  p["ya_to_queued_ms"]["p50"], p["ya_to_queued_ms"]["p95"], p["ya_to_queued_ms"]["max"], verdict(p["check"])]
                 for p in passes]))
    print(f"(ms from the 'ya' POST; {args.workers} SimpleWorkers; {args.concurrency} complaints at a time; "
          f"failed RQ jobs: {failed_jobs})")
    if passes and passes[0]["ya_to_queued_ms"]["p50"]:
        for p in passes[1:]:
            if p["ya_to_queued_ms"]["p50"]:
                print(f"ratio to baseline (p50 ya->queued) at {p['background_rate']:g} msg/s: "
                      f"{p['ya_to_queued_ms']['p50'] / passes[0]['ya_to_queued_ms']['p50']:.1f}x")
    ok = all_ok([p["check"] for p in passes])
    print("delivery checks: " + ("all OK" if ok else "VIOLATIONS above: exit status 1"))
    for p in passes:
        if p["cases_queued"] < p["cases_attempted"]:
            ok = False
            print(f"background {p['background_rate']:g} msg/s: only {p['cases_queued']} of {p['cases_attempted']} cases "
                  f"queued (exit status 1); e.g. {p['failures'][:1]}")
    write_json(args.json, {"benchmark": "case_to_queue", **meta(), "params": vars(args), "passes": passes,
                           "failed_jobs": failed_jobs, "checks_ok": ok})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
