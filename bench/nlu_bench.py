#!/usr/bin/env python3
"""HTTP latency/throughput benchmark for the Rasa NLU server (POST /model/parse).

Sends realistic utterances taken from nlu/tests/heldout.yml, first sequentially, then with a
thread pool (default concurrency 4), and reports p50/p99 latency (ms) and parses/s as a table and,
optionally, JSON. Also reports how many answers matched the held-out label (a sanity check that the
server runs the expected model, not a replacement for `rasa test nlu`).

Run with the app venv (needs only `requests`; does NOT import rasa):

    .venv/bin/python bench/nlu_bench.py --url http://127.0.0.1:5005 --n 500 --json /tmp/nlu-bench.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
DEFAULT_HELDOUT = REPO / "nlu" / "tests" / "heldout.yml"
ENTITY_RE = re.compile(r"\[([^\]]+)\]\([^)]*\)")


def load_utterances(path: Path) -> list[tuple[str, str]]:
    """Return (text, intent) pairs from a Rasa NLU YAML file, entity markup removed.

    Uses a tiny line parser so PyYAML is not required (the file format is fixed:
    `- intent: name` followed by an `examples: |` block of `- text` lines).
    """
    pairs: list[tuple[str, str]] = []
    intent = None
    in_examples = False
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = re.match(r"^-\s+(intent|regex|synonym|lookup):\s*(.+)$", line)
        if m:
            intent = m.group(2).strip() if m.group(1) == "intent" else None
            in_examples = False
            continue
        if stripped.startswith("examples:"):
            in_examples = True
            continue
        if in_examples and intent and stripped.startswith("- ") and raw.startswith("    "):
            pairs.append((ENTITY_RE.sub(r"\1", stripped[2:]).strip(), intent))
    if not pairs:
        raise SystemExit(f"no utterances found in {path}")
    return pairs


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100.0 * len(s)) - 1))
    return s[k]


_local = threading.local()


def _session() -> requests.Session:
    if not hasattr(_local, "s"):
        _local.s = requests.Session()
    return _local.s


def parse_once(url: str, text: str, timeout: float) -> tuple[float, str | None, bool]:
    """POST one utterance; return (latency ms, predicted intent, ok)."""
    t0 = time.perf_counter()
    try:
        r = _session().post(f"{url}/model/parse", json={"text": text}, timeout=timeout)
        ms = (time.perf_counter() - t0) * 1000.0
        if r.status_code != 200:
            return ms, None, False
        return ms, (r.json().get("intent") or {}).get("name"), True
    except requests.RequestException:
        return (time.perf_counter() - t0) * 1000.0, None, False


def run(url: str, items: list[tuple[str, str]], concurrency: int, timeout: float) -> dict:
    lat: list[float] = []
    errors = 0
    correct = 0
    fallback = 0

    def job(item):
        return item, parse_once(url, item[0], timeout)

    t0 = time.perf_counter()
    if concurrency <= 1:
        results = (job(it) for it in items)
        results = list(results)
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            results = list(pool.map(job, items))
    wall = time.perf_counter() - t0

    for (text, gold), (ms, pred, ok) in results:
        if not ok:
            errors += 1
            continue
        lat.append(ms)
        correct += pred == gold
        fallback += pred == "nlu_fallback"
    ok_n = len(lat)
    return {
        "concurrency": concurrency,
        "requests": len(items),
        "errors": errors,
        "wall_s": round(wall, 3),
        "parses_per_s": round(ok_n / wall, 1) if wall > 0 else 0.0,
        "p50_ms": round(percentile(lat, 50), 1) if lat else None,
        "p90_ms": round(percentile(lat, 90), 1) if lat else None,
        "p99_ms": round(percentile(lat, 99), 1) if lat else None,
        "mean_ms": round(statistics.fmean(lat), 1) if lat else None,
        "max_ms": round(max(lat), 1) if lat else None,
        "label_match": round(correct / ok_n, 4) if ok_n else None,
        "fallback_rate": round(fallback / ok_n, 4) if ok_n else None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:5005", help="Rasa server base URL")
    ap.add_argument("--n", type=int, default=500, help="requests per mode (utterances are cycled)")
    ap.add_argument("--concurrency", type=int, default=4, help="threads for the concurrent run")
    ap.add_argument("--heldout", type=Path, default=DEFAULT_HELDOUT, help="Rasa NLU YAML with utterances")
    ap.add_argument("--warmup", type=int, default=20, help="untimed requests sent first")
    ap.add_argument("--timeout", type=float, default=30.0, help="per-request timeout (s)")
    ap.add_argument("--json", dest="json_out", type=Path, help="write results as JSON here")
    args = ap.parse_args(argv)

    url = args.url.rstrip("/")
    pairs = load_utterances(args.heldout)
    items = [pairs[i % len(pairs)] for i in range(args.n)]

    try:
        status = requests.get(f"{url}/status", timeout=args.timeout).json()
        model = status.get("model_file")
    except (requests.RequestException, ValueError):
        model = None
    for text, _ in pairs[: args.warmup]:
        parse_once(url, text, args.timeout)

    runs = [run(url, items, 1, args.timeout)]
    if args.concurrency > 1:
        runs.append(run(url, items, args.concurrency, args.timeout))

    header = f"{'mode':<14}{'requests':>9}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'parses/s':>10}{'label match':>13}"
    print(f"NLU parse benchmark: {url}/model/parse  model={model}  utterances={len(pairs)} from {args.heldout.name}")
    print(header)
    print("-" * len(header))
    for r in runs:
        mode = "sequential" if r["concurrency"] == 1 else f"concurrency {r['concurrency']}"
        print(f"{mode:<14}{r['requests']:>9}{r['errors']:>8}{r['p50_ms']!s:>9}{r['p99_ms']!s:>9}"
              f"{r['mean_ms']!s:>9}{r['parses_per_s']:>10}{r['label_match']!s:>13}")

    report = {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "url": url,
        "model": model,
        "n": args.n,
        "utterances": len(pairs),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "runs": runs,
    }
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"JSON written to {args.json_out}")
    return 1 if any(r["errors"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
