#!/usr/bin/env python3
"""What the bot does with each evaluation message, against its gold intent.

The model's accuracy (nlu/evaluate.py) is what Rasa says; the citizen meets flows.router.understand:
menu words and tickets first, complaint signals (config.yml) before the NLU, "ubah data" without saying
which, then the NLU's answer with the fallback, ambiguity and confirmation rules. Each message ends up:
right (the right service or small talk started; an out-of-scope message gets the menu), asked with the
right option offered (two close services, or "Maksud Anda …?"), asked again / menu, a wrong service,
or another wrong answer. The JSON also has the outcomes per gold intent (by_gold).

    .venv/bin/python bench/nlu_bot_level.py --url http://127.0.0.1:5161 [--url …] [--json out.json]
(Rasa servers started with `rasa run --enable-api -m MODEL -p PORT` from the repository root.)
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows.router import understand  # noqa: E402
from handlers.product import load_product  # noqa: E402
from nlu.client import NLUClient  # noqa: E402
from nlu.examples import examples  # noqa: E402

SERVICES = {"change_nik", "change_phone", "check_status", "reactivation", "complaint", "case_status",
            "report_death", "add_family_member", "change_faskes"}


def load(name: str) -> list[tuple[str, str]]:
    return examples(ROOT / "nlu" / "tests" / f"{name}.yml")


def outcome(understanding, gold: str) -> str:
    kind = understanding.kind
    got = understanding.service if kind in ("service", "confirm") else kind
    if gold == "out_of_scope" and kind == "fallback":
        got = gold  # the bot's answer to it: "not something we do here" and the menu
    if got == gold:
        return "asked, right option offered" if kind == "confirm" else "right"
    if kind in ("ambiguous", "choose") and gold in (understanding.options or []):
        return "asked, right option offered"
    if kind in ("fallback", "ambiguous", "choose"):
        return "asked again / menu"
    return "wrong service" if got in SERVICES else "other wrong"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", action="append", required=True, help="a Rasa server; repeatable")
    parser.add_argument("--json", dest="json_out", type=Path)
    args = parser.parse_args(argv)
    product = load_product(ROOT / "config.yml")
    results = {}
    for url in args.url:
        nlu = NLUClient(url, timeout=10)
        for name in ("heldout", "realistic"):
            items = load(name)
            outcomes = [(gold, outcome(understand(text, [], {}, {}, product, nlu), gold)) for text, gold in items]
            counts = Counter(result for _, result in outcomes)
            by_gold: dict[str, Counter] = {}
            for gold, result in outcomes:
                by_gold.setdefault(gold, Counter())[result] += 1
            results[f"{url} {name}"] = {"n": len(items), **counts,
                                        "right_share": round(counts["right"] / len(items), 4),
                                        "by_gold": {gold: dict(c) for gold, c in sorted(by_gold.items())}}
            print(url, name, json.dumps({k: v for k, v in results[f"{url} {name}"].items() if k != "by_gold"},
                                        ensure_ascii=False))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
