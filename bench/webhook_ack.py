#!/usr/bin/env python3
"""Webhook acknowledgement benchmark: how fast gunicorn + the real app answers Twilio's signed inbound
webhooks (validate signature, store citizen + message in PostgreSQL, enqueue on Redis/RQ, empty TwiML),
against a bare Flask app (bench/hello_app.py) served the same way (Procfile settings: gthread,
2 workers x 8 threads, timeout 30, access log to a file).

Load: `wrk` (Debian package) from a separate process, closed loop at rising concurrency, replaying
pre-signed requests (signing is the load generator's cost, done before the run) each with a unique
MessageSid, a realistic WhatsApp form and one of --senders distinct citizens. No RQ worker runs: the
inbound jobs pile up in Redis (our own db index), which is part of the ack path being measured.

    .venv/bin/python bench/webhook_ack.py [--concurrency 1,4,16,64] [--duration 8] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchcpu import cpu_share, cpu_snapshot  # noqa: E402
from benchlib import REPO, Signer, Stack, inbound_form, meta, phone, table, write_json  # noqa: E402

LUA = Path(__file__).resolve().parent / "wrk_inbound.lua"
BODIES = ["halo", "1", "5", "saya mau ganti nomor hp", "cek status kepesertaan saya", "ya", "menu",
          "kartu saya tidak aktif, bagaimana cara mengaktifkan kembali?", "terima kasih", "lewati",
          "Saya diminta bayar obat padahal pakai bpjs", "0001234567890"]


def write_requests(path: Path, n: int, signer: Signer, senders: int, rng: random.Random) -> None:
    with path.open("w") as f:
        for _ in range(n):
            i = rng.randrange(senders)
            form = inbound_form(phone(i), rng.choice(BODIES), name=f"Warga {i}")
            body, sig = signer.sign(form)
            f.write(sig + "\t" + body.decode() + "\n")


def run_wrk(url: str, conc: int, duration: float, req_file: Path, threads: int) -> dict:
    argv = ["wrk", "-t", str(min(threads, conc)), "-c", str(conc), "-d", f"{max(1, round(duration))}s", "--timeout", "10s",
            "-s", str(LUA), url, "--", str(req_file)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    r = json.loads(line[len("WRKJSON "):])
    secs = r["duration_us"] / 1e6
    errors = r["err_connect"] + r["err_read"] + r["err_write"] + r["err_status"] + r["err_timeout"]
    return {"concurrency": conc, "requests": r["requests"], "req_s": r["requests"] / secs, "p50_ms": r["p50_us"] / 1000,
            "p90_ms": r["p90_us"] / 1000, "p99_ms": r["p99_us"] / 1000, "max_ms": r["max_us"] / 1000, "errors": errors,
            "errors_detail": {k: r[k] for k in r if k.startswith("err_")}, "wrapped": r["wrapped"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrency", default="1,4,16,64", help="comma-separated wrk connection counts")
    ap.add_argument("--duration", type=float, default=8, help="measured seconds per step")
    ap.add_argument("--warmup", type=float, default=2, help="warm-up seconds per step (not measured)")
    ap.add_argument("--senders", type=int, default=5000, help="distinct citizens")
    ap.add_argument("--max-rate", type=float, default=1500, help="req/s the real app cannot exceed (sizes the pre-signed files)")
    ap.add_argument("--hello-requests", type=int, default=40000, help="pre-signed requests replayed to hello (reuse is fine)")
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--redis-db", type=int, default=14)
    ap.add_argument("--json", default=str(REPO / "bench" / "results" / "webhook_ack.json"))
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2
    levels = [int(c) for c in args.concurrency.split(",")]
    rng = random.Random(42)
    results: dict[str, list[dict]] = {"hello": [], "app": []}
    with Stack(redis_db=args.redis_db) as stack:
        stack.prepare_db()
        signer = Signer(stack.public_base_url, stack.twilio_token)
        url = stack.public_base_url + "/whatsapp/inbound"
        t = time.monotonic()
        hello_file = stack.tmp / "hello.req"
        write_requests(hello_file, args.hello_requests, signer, args.senders, rng)
        per_step = int(args.max_rate * args.duration) + 500
        per_warm = int(args.max_rate * args.warmup) + 200
        app_files = {}
        for c in levels:
            app_files[c] = (stack.tmp / f"app-{c}-warm.req", stack.tmp / f"app-{c}.req")
            write_requests(app_files[c][0], per_warm, signer, args.senders, rng)
            write_requests(app_files[c][1], per_step, signer, args.senders, rng)
        print(f"pre-signed {args.hello_requests + len(levels) * (per_step + per_warm)} requests in {time.monotonic() - t:.1f}s", flush=True)

        for which in ("hello", "app"):
            app = "bench.hello_app:create_app()" if which == "hello" else "bot:create_app()"
            web = stack.start_gunicorn(app, name=f"web-{which}")
            for c in levels:
                warm, meas = (hello_file, hello_file) if which == "hello" else app_files[c]
                run_wrk(url, c, args.warmup, warm, args.wrk_threads)
                c0, t0 = cpu_snapshot(stack), time.monotonic()
                r = run_wrk(url, c, args.duration, meas, args.wrk_threads)
                r["cpu_pct_of_one_core"] = cpu_share(c0, cpu_snapshot(stack), time.monotonic() - t0)
                results[which].append(r)
                print(f"{which:5s} c={c:3d}: {r['req_s']:8.1f} req/s  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
                      f"errors {r['errors']}  wrapped {r['wrapped']}", flush=True)
            stack.stop(web)

        stored = stack.sql("select count(*) from inbound_messages")[0]
        citizens = stack.sql("select count(*) from citizens")[0][0]
        queued = stack.queue_lengths().get("inbound", 0)
        ok_app = sum(r["requests"] - r["errors_detail"]["err_status"] for r in results["app"])
        check = {"inbound_messages_stored": stored[0], "citizens": citizens,
                 "rq_inbound_jobs_queued (at most one waiting per citizen)": queued, "app_2xx_responses_measured": ok_app}

    rows = []
    for h, a in zip(results["hello"], results["app"]):
        rows.append([a["concurrency"], h["req_s"], a["req_s"], a["req_s"] / h["req_s"], h["p50_ms"], a["p50_ms"],
                     h["p99_ms"], a["p99_ms"], a["p99_ms"] / h["p99_ms"], h["errors"], a["errors"]])
    print()
    print(table(["conc", "hello req/s", "app req/s", "app/hello", "hello p50", "app p50", "hello p99", "app p99",
                 "p99 ratio", "hello err", "app err"], rows))
    print(f"(latencies in ms; wrk -t{args.wrk_threads}, {args.duration:g}s per step after {args.warmup:g}s warm-up; "
          f"no RQ worker running)")
    print("check:", check)
    for which in ("hello", "app"):
        top = results[which][-1]
        print(f"CPU, {which} at c={top['concurrency']} (% of one core; 200% = both cores):", top["cpu_pct_of_one_core"])
    write_json(args.json, {"benchmark": "webhook_ack", **meta(), "params": vars(args), "hello": results["hello"],
                           "app": results["app"], "check": check,
                           "ratio_app_to_hello_req_s": {str(r[0]): r[3] for r in rows}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
