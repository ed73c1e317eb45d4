#!/usr/bin/env python3
"""Scale-out benchmark: throughput with more and more RQ SimpleWorker processes on one stack (one
PostgreSQL database, one Redis, the real Rasa server, gunicorn with the Procfile's settings, the fake
Twilio in this process), to see where throughput stops growing and whether the machine's CPU is then
spent; with the delivery check (exactly once, per-citizen order) at every step.

Steps (--workers 1,2,3,4,6,8): closed loop with --per-worker citizens in flight per worker (at least
--min-concurrency), the end-to-end message mix (bench/end_to_end.py), --duration s each, the first
--warmup s not measured. Reported per step: msg/s (replies/s), x the 1-worker figure, p50/p99
latency (POST -> reply recorded by the fake Twilio), CPU ms per message per component and in total
(bench/benchcpu.py), machine busy (% of one core: 100 x cores = every core busy), and the check.

Burst steps (--burst-workers, default 8): few citizens (--burst-citizens) each sending --burst-size
messages back to back (each POST after the previous one's answer, before any reply), then waiting for
their replies, again and again: many workers against few citizens, to stress per-citizen ordering.
One step per --burst-pacing entry: `raised` (replies handed to Twilio as fast as the app can, as in
the other steps: benchlib raises the app's per-sender pace, OUTBOUND_TEXT_PER_SECOND) and `app` (the
app's own pace, Twilio's 10 msg/s per WhatsApp sender by default: sends wait for a slot, so the
workers' jobs overtake each other more).

    .venv/bin/python bench/scale_out.py [--workers 1,2,3,4,6,8] [--duration 20] [--json PATH]

Exit status 1 when any delivery check fails (bench/benchcheck.py).
"""
from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchcheck import DeliveryCheck, all_ok  # noqa: E402
from benchcpu import APP_COMPONENTS, DRIVER  # noqa: E402
from benchlib import REPO, fmt, meta, table, write_json  # noqa: E402
from benchrun import describe_cpu, measured_load, running_app, worker_pool  # noqa: E402
from end_to_end import make_scripts  # noqa: E402


def run_step(stack, driver, label: str, workers: int, senders: list[int], concurrency: int, args, burst: int = 1,
             app_pacing: bool = False) -> dict:
    """One load run with `workers` fresh workers, then the delivery check (before they stop)."""
    with worker_pool(stack, label, workers, app_pacing=app_pacing):
        check = DeliveryCheck(stack, driver, label)
        run = measured_load(stack, driver, label, senders, args.duration, args.warmup, concurrency=concurrency,
                            burst=burst)
        verdict = check.finish()
    print(f"{label}: {run['throughput_msg_s']:.1f} msg/s with {concurrency} citizens in flight"
          f"{f' ({burst} messages each)' if burst > 1 else ''}; p50 {fmt(run['p50_ms'], 0)} ms, p99 {fmt(run['p99_ms'], 0)} ms; "
          f"errors {run['errors']}, no reply {run['no_reply']}", flush=True)
    print(describe_cpu(label, run), flush=True)
    return {"label": label, "workers": workers, "concurrency": concurrency, "burst": burst, "app_pacing": app_pacing,
            "run": run, "check": verdict}


def plateau(steps: list[dict], tolerance: float, cores: int) -> dict:
    """Where throughput stops growing: the fewest workers within `tolerance` of the best throughput."""
    best = max(steps, key=lambda s: s["run"]["throughput_msg_s"])
    peak = best["run"]["throughput_msg_s"]
    knee = next(s for s in steps if s["run"]["throughput_msg_s"] >= (1 - tolerance) * peak)
    busy = knee["run"]["machine_busy_pct"]
    return {"peak_msg_s": peak, "peak_workers": best["workers"], "stops_growing_at_workers": knee["workers"],
            "tolerance": tolerance, "machine_busy_pct_there": busy, "machine_capacity_pct": 100 * cores,
            "cpu_bound": busy >= 0.9 * 100 * cores, "still_growing_at_last_step": knee is steps[-1] and len(steps) > 1}


def report(steps: list[dict], bursts: list[dict], flat: dict | None) -> None:
    base = next((s for s in steps if s["workers"] == 1), steps[0] if steps else None)
    base_msg_s = base["run"]["throughput_msg_s"] if base else 0
    rows = []
    for s in steps + bursts:
        r, c = s["run"], s["check"]
        rows.append([s["label"], s["workers"], s["concurrency"] * s["burst"], r["throughput_msg_s"],
                     r["throughput_msg_s"] / base_msg_s if base_msg_s and s["burst"] == 1 else None,
                     r["p50_ms"], r["p99_ms"], (r["cpu_ms_per_message"] or {}).get("app_total"), r["machine_busy_pct"],
                     "OK" if c["exactly_once_ok"] else "NO", "OK" if c["order_ok"] else "NO"])
    print()
    print(table(["step", "workers", "msgs in flight", "msg/s", "x 1 worker", "p50 ms", "p99 ms", "CPU ms/msg",
                 "machine busy %", "exactly-once", "order"], rows))
    print("(CPU ms/msg: the app's components, driver excluded; machine busy in % of one core, other people's "
          "processes included)")
    print()
    print(table(["step", *[f"{k} ms/msg" for k in (*APP_COMPONENTS, DRIVER)]],
                [[s["label"], *[(s["run"]["cpu_ms_per_message"] or {}).get(k) for k in (*APP_COMPONENTS, DRIVER)]]
                 for s in steps + bursts]))
    if flat and flat["still_growing_at_last_step"]:
        print(f"\nthroughput still grows at the last step ({flat['stops_growing_at_workers']} workers, "
              f"{flat['peak_msg_s']:.1f} msg/s; machine busy {flat['machine_busy_pct_there']:.0f} % of "
              f"{flat['machine_capacity_pct']} %): more workers would show where it stops")
    elif flat:
        print(f"\nthroughput stops growing at {flat['stops_growing_at_workers']} workers (within "
              f"{100 * flat['tolerance']:.0f} % of the best, {flat['peak_msg_s']:.1f} msg/s with {flat['peak_workers']}); "
              f"machine busy there {flat['machine_busy_pct_there']:.0f} % of {flat['machine_capacity_pct']} %: "
              + ("the CPU is spent" if flat["cpu_bound"] else "the CPU is NOT spent: the limit is elsewhere"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="1,2,3,4,6,8", help="SimpleWorker process counts, one step each")
    ap.add_argument("--per-worker", type=int, default=8, help="citizens in flight per worker")
    ap.add_argument("--min-concurrency", type=int, default=16, help="citizens in flight at least")
    ap.add_argument("--senders", type=int, default=600, help="distinct citizens")
    ap.add_argument("--duration", type=float, default=20, help="seconds per step")
    ap.add_argument("--warmup", type=float, default=4, help="seconds at the start of each step not measured")
    ap.add_argument("--burst-workers", type=int, default=8, help="workers in the burst step (0: no burst step)")
    ap.add_argument("--burst-citizens", type=int, default=4, help="citizens writing bursts, all at the same time")
    ap.add_argument("--burst-size", type=int, default=4, help="messages per burst")
    ap.add_argument("--burst-pacing", default="raised,app", help="one burst step each: raised and/or app (see above)")
    ap.add_argument("--plateau", type=float, default=0.05, help="'stops growing': within this fraction of the best")
    ap.add_argument("--redis-db", type=int, default=14)
    ap.add_argument("--json", default=str(REPO / "bench" / "results" / "scale_out.json"))
    args = ap.parse_args()
    if set(args.burst_pacing.split(",")) - {"raised", "app", ""}:
        ap.error("--burst-pacing: raised and/or app")
    counts = [int(x) for x in args.workers.split(",") if x]
    people = list(range(args.senders))
    random.Random(1).shuffle(people)
    bursty, senders = people[:args.burst_citizens], people[args.burst_citizens:]
    steps: list[dict] = []
    bursts: list[dict] = []

    with running_app(make_scripts(args.senders), args.redis_db) as (stack, driver):
        for n in counts:
            steps.append(run_step(stack, driver, f"workers-{n}", n, senders,
                                  max(args.min_concurrency, args.per_worker * n), args))
        for pacing in [p for p in args.burst_pacing.split(",") if p] if args.burst_workers and args.burst_citizens else []:
            label = f"burst-{args.burst_workers}" + ("-app-pacing" if pacing == "app" else "")
            bursts.append(run_step(stack, driver, label, args.burst_workers, bursty, args.burst_citizens, args,
                                   burst=args.burst_size, app_pacing=pacing == "app"))

    flat = plateau(steps, args.plateau, os.cpu_count() or 1) if steps else None
    report(steps, bursts, flat)
    checks = [s["check"] for s in steps + bursts]
    ok = all_ok(checks)
    print(f"delivery checks: {sum(c['ok'] for c in checks)} of {len(checks)} OK"
          + ("" if ok else " -- VIOLATIONS above: exit status 1"))
    write_json(args.json, {"benchmark": "scale_out", **meta(), "params": vars(args), "steps": steps, "bursts": bursts,
                           "plateau": flat, "checks_ok": ok})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
