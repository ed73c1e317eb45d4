#!/usr/bin/env python3
"""End-to-end benchmark: signed webhook -> gunicorn (real app, Procfile settings) -> PostgreSQL -> RQ
(Redis) -> worker(s) -> Rasa NLU (real server, real model) -> reply -> RQ outbound -> Twilio REST call
to a local Twilio-compatible server (tests/twilio_fake.FakeTwilio, in this process). Latency = time from
the POST to the moment the fake records the reply (its `created_at`).

Citizens (--senders, distinct numbers) each wait for the answer before writing again; their messages are
realistic Indonesian sentences from nlu/tests/heldout.yml (every intent but human_agent, which would
hand the citizen to an officer and silence the bot), cancellations and menu numbers, cycling:
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

    .venv/bin/python bench/end_to_end.py [--workers 1,2,4] [--duration 20] [--profile] [--json PATH]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import REPO, Driver, Stack, cpu_share, cpu_snapshot, meta, table, write_json  # noqa: E402
from nlu_bench import load_utterances  # noqa: E402


def make_scripts(n: int, seed: int = 7) -> list[list[str]]:
    rng = random.Random(seed)
    sentences = [t for t, intent in load_utterances(REPO / "nlu" / "tests" / "heldout.yml") if intent != "human_agent"]
    return [[rng.choice(sentences), "batal", "ya", str(rng.randint(2, 6)), rng.choice(sentences), "batal", "ya"]
            for _ in range(n)]


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

    with Stack(redis_db=args.redis_db) as stack:
        stack.prepare_db()
        stack.start_rasa()
        driver = Driver(stack, make_scripts(args.senders), post_threads=24)
        try:
            stack.start_gunicorn("bot:create_app()", name="web")

            def run_config(label: str, n: int, worker_class: str, rate: float | None, do_latency: bool = True) -> dict:
                procs = [stack.start_worker(f"worker-{label}-{i}", worker_class) for i in range(n)]
                stack.wait_workers(n)
                c0, t0 = cpu_snapshot(stack), time.monotonic()
                cap = driver.run_load(f"{label}-capacity", senders, args.duration, args.warmup, concurrency=args.concurrency)
                cap["cpu_pct_of_one_core"] = cpu_share(c0, cpu_snapshot(stack), time.monotonic() - t0)
                lat = None
                if do_latency:
                    lat = driver.run_load(f"{label}-latency", senders, args.duration, args.warmup,
                                          rate=rate or cap["throughput_msg_s"] * args.load_factor)
                for p in procs:
                    stack.stop(p)
                row = {"label": label, "workers": n, "worker_class": worker_class, "capacity": cap, "latency": lat,
                       "failed_jobs_total": stack.failed_jobs()}
                print(f"{label}: capacity {cap['throughput_msg_s']:.1f} msg/s (p50 {cap['p50_ms']} ms at saturation, "
                      f"no_reply {cap['no_reply']}, errors {cap['errors']})"
                      + (f"; at {lat['rate']:.1f} msg/s: p50 {lat['p50_ms']:.0f} p95 {lat['p95_ms']:.0f} "
                         f"p99 {lat['p99_ms']:.0f} ms" if lat and lat['p50_ms'] else ""), flush=True)
                return row

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
                out = Path(args.profile_out)
                out.parent.mkdir(parents=True, exist_ok=True)
                session = stack.tmp / "worker_profile.pyisession"  # ~70 MB: left in the temp dir, removed
                proc = stack.start_worker("worker-profiled", "simple", profile_to=str(session))
                stack.wait_workers(1)
                before = len(driver.done)
                cap = driver.run_load("profile", senders, args.profile_duration, 0, concurrency=args.concurrency)
                replied = sum(1 for r in driver.done[before:] if r.reply_at)
                stack.stop(proc, timeout=60)  # SIGTERM: RQ's warm shutdown, then pyinstrument writes the session
                if session.exists():
                    profile = summarise_profile(session, replied)
                    profile["throughput_msg_s_under_profiler"] = cap["throughput_msg_s"]
                    import subprocess

                    from benchlib import VENV

                    txt = subprocess.run([str(VENV / "pyinstrument"), "--load", str(session), "-r", "text",
                                          "--no-color", "--no-unicode"], capture_output=True, text=True, timeout=120)
                    out.with_suffix(".txt").write_text(txt.stdout)
                    profile["text_report"] = str(out.with_suffix(".txt"))
                else:
                    print("profile: no session written\n" + stack.log_tail("worker-profiled"), file=sys.stderr)
        finally:
            driver.close()

    rows = []
    for r in results:
        c, lat = r["capacity"], r["latency"] or {}
        base = next(x for x in results if x["worker_class"] == "simple")["capacity"]["throughput_msg_s"]
        rows.append([r["label"], c["throughput_msg_s"], c["throughput_msg_s"] / base, c["p50_ms"], c["p99_ms"],
                     lat.get("rate"), lat.get("p50_ms"), lat.get("p95_ms"), lat.get("p99_ms"),
                     c["errors"] + lat.get("errors", 0), c["no_reply"] + lat.get("no_reply", 0),
                     lat.get("skipped_no_idle_sender")])
    print()
    print(table(["config", "capacity msg/s", "x 1 worker", "sat. p50 ms", "sat. p99 ms", "open rate msg/s",
                 "p50 ms", "p95 ms", "p99 ms", "errors", "no reply", "skipped"], rows))
    print(f"(capacity: closed loop, {args.concurrency} citizens in flight; latency: open loop at a fixed rate; "
          f"{args.duration:g}s runs, first {args.warmup:g}s not measured)")
    if profile:
        print(f"\nprofile of one SimpleWorker ({profile['messages_replied']} messages replied, "
              f"{profile['throughput_msg_s_under_profiler']:.1f} msg/s under the profiler, wall {profile['wall_s']:.1f}s, "
              f"cpu {profile['cpu_time_s'] or 0:.1f}s):")
        print(table(["where", "s", "% wall", "% busy"],
                    [[k, profile["seconds"][k], profile["pct_of_wall"][k], profile["pct_of_busy"].get(k)] for k in CATEGORIES]))
        print("top self time:", "; ".join(f"{t['function']} {t['pct_of_wall']:.0f}%" for t in profile["top_self_time"][:6]))
    for r in results:
        print(f"CPU during {r['label']} capacity run (% of one core; 200% = both cores):", r["capacity"]["cpu_pct_of_one_core"])
    write_json(args.json, {"benchmark": "end_to_end", **meta(), "params": vars(args), "results": results,
                           "profile": profile})
    return 0


if __name__ == "__main__":
    sys.exit(main())
