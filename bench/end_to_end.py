#!/usr/bin/env python3
"""End-to-end benchmark: signed webhook -> gunicorn (real app, Procfile settings) -> PostgreSQL -> RQ
(Redis) -> worker(s) -> Rasa NLU (real server, real model) -> reply -> Twilio REST call (from the
`outbound` job or the inbound job itself) to a local Twilio-compatible server (tests/twilio_fake.FakeTwilio,
in this process). Latency = time from
the POST to the moment the fake records the reply (its `created_at`).

Citizens (--senders, distinct numbers) each wait for the answer before writing again; their messages are
realistic Indonesian sentences from nlu/tests/heldout.yml (every intent but human_agent, which would
hand the citizen to an officer and silence the bot), cancellations and menu numbers, cycling (citizen
i starting at position i, so that every run sees the same mix):
    sentence (NLU) -> "batal" -> "ya" (NLU outside a flow) -> menu number 2-6 -> sentence (in a flow:
    NLU when not an answer) -> "batal" -> "ya"

For each worker count (--workers 1,2,4, `flask --app bot worker --no-sweeper` = RQ SimpleWorker):
  capacity: closed loop, --concurrency citizens in flight -> sustained msg/s (replies/s) and latency
            at saturation;
  latency:  open loop at a fixed --rate msg/s (default: --load-factor x the 1-worker capacity), the
            same for every worker count -> p50/p95/p99.
--worker-classes simple,fork adds RQ's forking Worker (bench/fork_worker.py) at --fork-workers.
--profile runs one SimpleWorker under pyinstrument through a capacity run and summarises where its
time goes (NLU HTTP, DB, Twilio HTTP, Redis, app code, RQ overhead, idle).

Each capacity run also reports CPU milliseconds per message answered for each component (web,
worker, rasa, postgres, redis, the driver + fake Twilio) and their total without the driver
(bench/benchcpu.py). Each configuration ends with the delivery check (bench/benchcheck.py: every
message answered exactly once, replies in each citizen's order); a violation makes the exit status 1.

    .venv/bin/python bench/end_to_end.py [--workers 1,2,4] [--duration 20] [--profile] [--json PATH]
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchcheck import DeliveryCheck, all_ok, verdict  # noqa: E402
from benchcpu import APP_COMPONENTS, DRIVER  # noqa: E402
from benchlib import REPO, VENV, fmt, meta, table, write_json  # noqa: E402
from benchrun import describe_cpu, measured_load, running_app, worker_pool  # noqa: E402
from nlu_bench import load_utterances  # noqa: E402


def make_scripts(n: int, seed: int = 7) -> list[list[str]]:
    """Each citizen's cycle of messages, citizen i starting at position i of it: whichever citizens a
    run reaches, and however many turns each gets, the runs see the same mix of positions (without
    the shift the first run would send only sentences, the next only "batal", ...)."""
    rng = random.Random(seed)
    sentences = [t for t, intent in load_utterances(REPO / "nlu" / "tests" / "heldout.yml") if intent != "human_agent"]
    scripts = []
    for i in range(n):
        cycle = [rng.choice(sentences), "batal", "ya", str(rng.randint(2, 6)), rng.choice(sentences), "batal", "ya"]
        shift = i % len(cycle)
        scripts.append(cycle[shift:] + cycle[:shift])
    return scripts


# ----------------------------------------------------------------------------- profile summary
CATEGORIES = ["NLU HTTP (Rasa /model/parse)", "Twilio HTTP (messages.create)", "DB (SQLAlchemy/psycopg)",
              "Redis in jobs (locks, enqueue)", "app code (flows, handlers)", "RQ job overhead",
              "RQ worker loop (heartbeat, registries, scheduler)", "idle (waiting for a job)"]


def classify(stack: list[str]) -> str:
    """One sample's category, from its call stack (root first); inside a job only the frames below
    the job function count, so RQ's own frames above it do not make everything "Redis"."""
    funcs = [f.split("\x00")[0] for f in stack]
    files = [f.split("\x00")[1] if "\x00" in f else f for f in stack]
    job = next((i for i, fn in enumerate(funcs) if fn in ("process_inbound", "send_outbound", "queue_case")), None)
    if job is None:
        if "perform_job" in funcs or "execute_job" in funcs:
            return "RQ job overhead"
        if any(fn in ("dequeue_any", "dequeue_job_and_maintain_ttl") for fn in funcs):
            return "idle (waiting for a job)"
        return "RQ worker loop (heartbeat, registries, scheduler)"
    below = "\n".join(files[job:])
    if "nlu/client.py" in below:
        return "NLU HTTP (Rasa /model/parse)"
    if "bot/twilio_client.py" in below or "/site-packages/twilio/" in below:
        return "Twilio HTTP (messages.create)"
    if "/sqlalchemy/" in below or "/psycopg" in below:
        return "DB (SQLAlchemy/psycopg)"
    if "/site-packages/redis/" in below or "/site-packages/rq/" in below:
        return "Redis in jobs (locks, enqueue)"
    return "app code (flows, handlers)"


def summarise_profile(path: Path, jobs_done: int) -> dict:
    import json

    data = json.loads(path.read_text())
    totals = {c: 0.0 for c in CATEGORIES}
    funcs: dict[str, float] = {}
    for stack, t in data["frame_records"]:
        totals[classify(stack)] += t
        # self time per leaf function, for a "top functions" list
        leaf = stack[-1].split("\x01")[0].split("\x00")
        key = f"{leaf[0]} ({Path(leaf[1]).parent.name}/{Path(leaf[1]).name}:{leaf[2] if len(leaf) > 2 else ''})" if len(leaf) > 1 else leaf[0]
        funcs[key] = funcs.get(key, 0.0) + t
    wall = sum(totals.values())
    busy = wall - totals["idle (waiting for a job)"]
    top = sorted(funcs.items(), key=lambda kv: -kv[1])[:12]
    return {"wall_s": wall, "busy_s": busy, "cpu_time_s": data.get("cpu_time"), "messages_replied": jobs_done,
            "seconds": totals, "pct_of_wall": {k: 100 * v / wall for k, v in totals.items()},
            "pct_of_busy": {k: 100 * v / busy for k, v in totals.items() if not k.startswith("idle")},
            "top_self_time": [{"function": k, "s": v, "pct_of_wall": 100 * v / wall} for k, v in top]}


def run_profile(stack, driver, senders: list[int], args) -> dict | None:
    """One SimpleWorker under pyinstrument through a capacity run; its text report next to the JSON."""
    import subprocess

    out = Path(args.profile_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    session = stack.tmp / "worker_profile.pyisession"  # ~70 MB: left in the temp dir, removed
    proc = stack.start_worker("worker-profiled", "simple", profile_to=str(session))
    try:
        stack.wait_workers(1, procs=[proc])
        check = DeliveryCheck(stack, driver, "profile")
        cap = driver.run_load("profile", senders, args.profile_duration, 0, concurrency=args.concurrency)
        verdict = check.finish()
    finally:
        stack.stop(proc, timeout=60)  # SIGTERM: RQ's warm shutdown, then pyinstrument writes the session
    if not session.exists():
        print("profile: no session written\n" + stack.log_tail("worker-profiled"), file=sys.stderr)
        return {"check": verdict}
    profile = summarise_profile(session, driver.answered("profile"))
    profile.update(throughput_msg_s_under_profiler=cap["throughput_msg_s"], check=verdict)
    txt = subprocess.run([str(VENV / "pyinstrument"), "--load", str(session), "-r", "text", "--no-color",
                          "--no-unicode"], capture_output=True, text=True, timeout=120)
    out.with_suffix(".txt").write_text(txt.stdout)
    profile["text_report"] = str(out.with_suffix(".txt"))
    return profile


# ----------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="1,2,4", help="worker process counts (SimpleWorker)")
    ap.add_argument("--senders", type=int, default=600, help="distinct citizens")
    ap.add_argument("--concurrency", type=int, default=16, help="citizens in flight in the capacity runs")
    ap.add_argument("--duration", type=float, default=20, help="seconds per capacity run and per latency run")
    ap.add_argument("--warmup", type=float, default=4, help="seconds at the start of each run not measured")
    ap.add_argument("--rate", type=float, default=None, help="open-loop msg/s for the latency runs")
    ap.add_argument("--load-factor", type=float, default=0.6, help="latency rate = this x 1-worker capacity (no --rate)")
    ap.add_argument("--worker-classes", default="simple,fork", help="simple and/or fork (RQ's forking Worker)")
    ap.add_argument("--fork-workers", type=int, default=2, help="worker count for the simple-vs-fork comparison")
    ap.add_argument("--profile", action=argparse.BooleanOptionalAction, default=True,
                    help="profile one SimpleWorker under pyinstrument")
    ap.add_argument("--profile-duration", type=float, default=20)
    ap.add_argument("--redis-db", type=int, default=14)
    ap.add_argument("--json", default=str(REPO / "bench" / "results" / "end_to_end.json"))
    ap.add_argument("--profile-out", default=str(REPO / "bench" / "results" / "worker_profile"),
                    help="path prefix of the profile's text report (.txt)")
    args = ap.parse_args()
    counts = [int(x) for x in args.workers.split(",") if x]
    classes = [c for c in args.worker_classes.split(",") if c]
    senders = list(range(args.senders))
    rng = random.Random(1)
    rng.shuffle(senders)
    results: list[dict] = []
    profile = None

    with running_app(make_scripts(args.senders), args.redis_db) as (stack, driver):
        def run_config(label: str, n: int, worker_class: str, rate: float | None) -> dict:
            with worker_pool(stack, label, n, worker_class):
                check = DeliveryCheck(stack, driver, label)
                cap = measured_load(stack, driver, f"{label}-capacity", senders, args.duration, args.warmup,
                                    concurrency=args.concurrency)
                lat = driver.run_load(f"{label}-latency", senders, args.duration, args.warmup,
                                      rate=rate or cap["throughput_msg_s"] * args.load_factor)
                verdict = check.finish()
            print(f"{label}: capacity {cap['throughput_msg_s']:.1f} msg/s (p50 {fmt(cap['p50_ms'], 0)} ms at saturation, "
                  f"no_reply {cap['no_reply']}, errors {cap['errors']})"
                  + (f"; at {lat['rate']:.1f} msg/s: p50 {lat['p50_ms']:.0f} p95 {lat['p95_ms']:.0f} "
                     f"p99 {lat['p99_ms']:.0f} ms" if lat['p50_ms'] else ""), flush=True)
            print(describe_cpu(f"{label} capacity", cap), flush=True)
            return {"label": label, "workers": n, "worker_class": worker_class, "capacity": cap, "latency": lat,
                    "check": verdict, "failed_jobs_total": stack.failed_jobs()}

        rate = args.rate
        if "simple" in classes:
            for n in counts:
                row = run_config(f"simple-{n}", n, "simple", rate)
                if rate is None:  # fixed from the first (smallest) configuration on
                    rate = row["latency"]["rate"]
                results.append(row)
        if "fork" in classes:
            if not any(r["workers"] == args.fork_workers and r["worker_class"] == "simple" for r in results):
                results.append(run_config(f"simple-{args.fork_workers}", args.fork_workers, "simple", rate))
            results.append(run_config(f"fork-{args.fork_workers}", args.fork_workers, "fork", rate))
        if args.profile:
            profile = run_profile(stack, driver, senders, args)

    ok = report(results, profile, args)
    write_json(args.json, {"benchmark": "end_to_end", **meta(), "params": vars(args), "results": results,
                           "profile": profile, "checks_ok": ok})
    return 0 if ok else 1


def report(results: list[dict], profile: dict | None, args) -> bool:
    """Print the tables; True when every delivery check held."""
    rows = []
    for r in results:
        c, lat = r["capacity"], r["latency"] or {}
        base = next(x for x in results if x["worker_class"] == "simple")["capacity"]["throughput_msg_s"]
        rows.append([r["label"], c["throughput_msg_s"], c["throughput_msg_s"] / base, c["p50_ms"], c["p99_ms"],
                     lat.get("rate"), lat.get("p50_ms"), lat.get("p95_ms"), lat.get("p99_ms"),
                     c["errors"] + lat.get("errors", 0), c["no_reply"] + lat.get("no_reply", 0),
                     lat.get("skipped_no_idle_sender"), verdict(r["check"])])
    print()
    print(table(["config", "capacity msg/s", "x 1 worker", "sat. p50 ms", "sat. p99 ms", "open rate msg/s",
                 "p50 ms", "p95 ms", "p99 ms", "errors", "no reply", "skipped", "exactly-once / order"], rows))
    print(f"(capacity: closed loop, {args.concurrency} citizens in flight; latency: open loop at a fixed rate; "
          f"{args.duration:g}s runs, first {args.warmup:g}s not measured)")
    if profile and "wall_s" in profile:
        print(f"\nprofile of one SimpleWorker ({profile['messages_replied']} messages replied, "
              f"{profile['throughput_msg_s_under_profiler']:.1f} msg/s under the profiler, wall {profile['wall_s']:.1f}s, "
              f"cpu {profile['cpu_time_s'] or 0:.1f}s):")
        print(table(["where", "s", "% wall", "% busy"],
                    [[k, profile["seconds"][k], profile["pct_of_wall"][k], profile["pct_of_busy"].get(k)] for k in CATEGORIES]))
        print("top self time:", "; ".join(f"{t['function']} {t['pct_of_wall']:.0f}%" for t in profile["top_self_time"][:6]))
    print()
    print(table(["config", *[f"{k} ms/msg" for k in APP_COMPONENTS], "app total", DRIVER, "machine busy %"],
                [[r["label"], *[(r["capacity"]["cpu_ms_per_message"] or {}).get(k) for k in (*APP_COMPONENTS, "app_total", DRIVER)],
                  r["capacity"]["machine_busy_pct"]] for r in results]))
    print("(CPU milliseconds per message answered during each capacity run; machine busy in % of one core)")
    for r in results:
        print(f"CPU during {r['label']} capacity run (% of one core; 200% = both cores):", r["capacity"]["cpu_pct_of_one_core"])
    checks = [r["check"] for r in results] + ([profile["check"]] if profile else [])
    ok = all_ok(checks)
    print(f"\ndelivery checks: {sum(c['ok'] for c in checks)} of {len(checks)} OK"
          + ("" if ok else " -- VIOLATIONS above: exit status 1"))
    return ok


if __name__ == "__main__":
    sys.exit(main())
