"""Score NLU models on the evaluation sets, in the Rasa environment (never imported by the app).

    .venv-rasa/bin/python nlu/evaluate.py --model NEW.tar.gz [--model OLD.tar.gz] \
        --set short=nlu/tests/heldout.yml --set long=nlu/tests/realistic.yml [--json out.json] \
        [--without INTENT ...]

For each model and set: accuracy, macro-F1, per-intent precision/recall/F1, the most frequent
confusion pairs, the wrong predictions, and the in-process parse latency (p50/p99, ms). One process
loads TensorFlow once for all models, so that a retraining can compare the new model with the
published one in seconds. Prints one JSON document (the app's retraining job reads it); the texts of
the evaluation sets are written, never the texts of citizens. ``--without INTENT`` (repeatable) also
scores each set NAME as NAME-without: the same predictions, on the messages whose gold intent is none of
those (so that a model trained before an intent existed is compared with a newer one on the intents both
know).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import sys
import time
from collections import Counter

# Run as a script, Python puts nlu/ on the path; the pipeline's components (nlu.components) need the root.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import structlog  # noqa: E402  (the Rasa environment's)

from nlu.examples import examples  # noqa: E402
FALLBACK = "nlu_fallback"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100.0 * len(ordered)) - 1))
    return ordered[k]


def score(items: list[tuple[str, str]], predicted: list[str]) -> dict:
    """Accuracy, macro-F1 over the gold intents, per-intent F1 and the confusion pairs."""
    gold_intents = sorted({gold for _, gold in items})
    per_intent = {}
    for intent in gold_intents:
        tp = sum(1 for (_, g), p in zip(items, predicted) if g == intent and p == intent)
        fp = sum(1 for (_, g), p in zip(items, predicted) if g != intent and p == intent)
        fn = sum(1 for (_, g), p in zip(items, predicted) if g == intent and p != intent)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_intent[intent] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                              "support": tp + fn}
    correct = sum(1 for (_, g), p in zip(items, predicted) if g == p)
    pairs = Counter((g, p) for (_, g), p in zip(items, predicted) if g != p)
    return {
        "n": len(items),
        "correct": correct,
        "accuracy": round(correct / len(items), 4) if items else 0.0,
        "macro_f1": round(sum(v["f1"] for v in per_intent.values()) / len(per_intent), 4) if per_intent else 0.0,
        "fallback": sum(1 for p in predicted if p == FALLBACK),
        "per_intent": per_intent,
        "confusions": [[g, p, n] for (g, p), n in pairs.most_common(12)],
        "errors": [[g, p, text] for (text, g), p in zip(items, predicted) if g != p],
    }


def evaluate(model_path: str, sets: dict[str, list[tuple[str, str]]], without: frozenset[str] = frozenset()) -> dict:
    # Imported here, after main() silenced logging: imported earlier, Rasa prints every parse at debug level.
    from rasa.core.agent import Agent

    started = time.perf_counter()
    agent = Agent.load(model_path)
    load_s = time.perf_counter() - started
    loop = asyncio.new_event_loop()
    latencies: list[float] = []
    result = {"model": model_path, "load_s": round(load_s, 2), "sets": {}}
    loop.run_until_complete(agent.parse_message("halo"))  # warm-up, not timed
    for name, items in sets.items():
        predicted = []
        for text, _ in items:
            t0 = time.perf_counter()
            parsed = loop.run_until_complete(agent.parse_message(text))
            latencies.append((time.perf_counter() - t0) * 1000.0)
            predicted.append(((parsed or {}).get("intent") or {}).get("name") or FALLBACK)
        result["sets"][name] = score(items, predicted)
        if without:
            kept = [(item, p) for item, p in zip(items, predicted) if item[1] not in without]
            result["sets"][f"{name}-without"] = score([item for item, _ in kept], [p for _, p in kept])
    loop.close()
    result["parse_ms"] = {"p50": round(percentile(latencies, 50), 2), "p99": round(percentile(latencies, 99), 2),
                          "n": len(latencies)}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="a trained model (.tar.gz); repeatable")
    parser.add_argument("--set", action="append", required=True, metavar="NAME=PATH",
                        help="an evaluation set in Rasa NLU YAML; repeatable")
    parser.add_argument("--json", dest="json_out", help="also write the result here")
    parser.add_argument("--without", action="append", default=[], metavar="INTENT",
                        help="also score each set without the messages of this gold intent (NAME-without); repeatable")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    # Rasa logs every parse through structlog at debug level unless told otherwise: stdout is the result's.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    sets = {}
    for spec in args.set:
        name, _, path = spec.partition("=")
        if not name or not path:
            parser.error(f"--set wants NAME=PATH, got {spec!r}")
        sets[name] = examples(path)
    without = frozenset(args.without)
    document = {"models": [evaluate(path, sets, without) for path in args.model]}
    if without:
        document["without"] = sorted(without)
    text = json.dumps(document, ensure_ascii=False)
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as handle:
            handle.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
