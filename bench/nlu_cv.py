"""Stratified k-fold cross-validation of NLU pipelines on the TRAINING data only (nlu/data/*.yml).

Why: the NLU pipeline (candidate pipelines in nlu/pipelines/, and the C / request_weight / char n-gram /
temperature of nlu/pipelines/tfidf.yml) is chosen by cross-validation on the training data; the
evaluation sets in nlu/tests/ are only scored afterwards (bench/nlu_candidates.sh) and never read here.
Folds are stratified by intent, shuffled with --seed, so runs with the same data are comparable.

Run from the repository root with the Rasa venv:
  .venv-rasa/bin/python bench/nlu_cv.py --config nlu/pipelines/logreg.yml --json out.json
      Rasa-pipeline mode: trains a Rasa model per fold (in-process), parses the held-out fold.
  .venv-rasa/bin/python bench/nlu_cv.py --grid --json out.json
      TextIntentModel (nlu/components/classifier.py) fitted directly per fold, for every combination of
      C x request_weight x char n-grams (GRID below); --grid-only '{"C": 100, "request_weight": 0.5,
      "char_ngrams": [2, 5]}' evaluates only that combination; --params sets the other hyperparameters.
  .venv-rasa/bin/python bench/nlu_cv.py --calibrate '{"C": 100, "request_weight": 0.5}'
      temperature minimising the out-of-fold log-loss; figures at T=1 and at the fitted T.
Other options: --data FILE (extra training file, repeatable), --folds (5), --seed (42).
Reported: accuracy and macro-F1 overall and on the long.yml rows (per-intent F1 in the JSON), and the
fallback effect at threshold 0.3 / ambiguity 0.15 (correct answers lost, wrong service intents kept).
"""
import argparse
import asyncio
import contextlib
import glob
import itertools
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("RASA_MAX_CACHE_SIZE", "0")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import structlog  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

SERVICES = {"change_nik", "change_phone", "check_status", "reactivation", "complaint", "case_status",
            "report_death", "add_family_member", "change_faskes"}
FALLBACK_THRESHOLD, AMBIGUITY_THRESHOLD = 0.3, 0.15
GRID = {"C": [3, 10, 30, 100], "request_weight": [0.0, 0.5, 1.0], "char_ngrams": [[2, 5], [3, 5]]}
TEMPERATURES = np.round(np.arange(0.2, 2.01, 0.05), 2)


def _no_warning(*args, **kwargs) -> None:
    return None


def quiet() -> None:
    """Silence Rasa's structlog debug output, stdlib logging below ERROR and Python warnings."""
    warnings.filterwarnings("ignore")
    warnings.showwarning = _no_warning  # Rasa re-adds warning filters of its own
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.disable(logging.WARNING)


def load(files):
    """Merged Rasa TrainingData and, per intent example, the file name it came from."""
    from rasa.shared.nlu.training_data.loading import load_data
    parts = [(os.path.basename(f), load_data(f)) for f in files]
    merged = parts[0][1].merge(*[td for _, td in parts[1:]])
    origin = {}
    for name, td in parts:
        for example in td.intent_examples:
            origin.setdefault((example.get("text"), example.get("intent")), name)
    source = [origin[(e.get("text"), e.get("intent"))] for e in merged.intent_examples]
    return merged, source


def summarize(y, pred, conf, gap, source):
    """Accuracy / macro-F1 overall and on long.yml, and the fallback effect at 0.3 / 0.15."""
    y, pred = np.array(y), np.array(pred)
    ok = y == pred
    res = {"n": len(y), "accuracy": round(ok.mean(), 4), "macro_f1": round(f1_score(y, pred, average="macro"), 4)}
    labels = sorted(set(y))
    per_intent = f1_score(y, pred, labels=labels, average=None)
    res["per_intent_f1"] = {label: round(float(f), 4) for label, f in zip(labels, per_intent)}
    long_rows = np.array([s == "long.yml" for s in source])
    if long_rows.any():
        res["long_n"] = int(long_rows.sum())
        res["long_acc"] = round(ok[long_rows].mean(), 4)
        res["long_macro_f1"] = round(f1_score(y[long_rows], pred[long_rows], average="macro"), 4)
        res["short_acc"] = round(ok[~long_rows].mean(), 4)
    fallback = (np.array(conf) < FALLBACK_THRESHOLD) | (np.array(gap) < AMBIGUITY_THRESHOLD)
    res["correct_lost_fb"] = int((ok & fallback).sum())
    res["wrong_service_kept_fb"] = int((~ok & ~fallback & np.isin(pred, list(SERVICES))).sum())
    res["acc_with_fb"] = round((ok & ~fallback).mean(), 4)
    if long_rows.any():
        res["long_acc_with_fb"] = round((ok & ~fallback)[long_rows].mean(), 4)
    return {k: float(v) if isinstance(v, np.floating) else v for k, v in res.items()}  # per_intent_f1: JSON only


def top2(proba, classes):
    """Predicted label, top confidence and top-2 gap for each row of a probability matrix."""
    order = np.argsort(-proba, axis=1)
    rows = np.arange(len(proba))
    conf = proba[rows, order[:, 0]]
    return [classes[i] for i in order[:, 0]], conf, conf - proba[rows, order[:, 1]]


def rasa_fold(config, td, train_idx, test_idx):
    """Train the Rasa pipeline on the training fold, parse the held-out fold: (intent, conf, gap)."""
    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu
    from rasa.shared.nlu.training_data.training_data import TrainingData
    examples = td.intent_examples
    train = TrainingData(training_examples=[examples[i] for i in train_idx], regex_features=td.regex_features,
                         lookup_tables=td.lookup_tables, entity_synonyms=td.entity_synonyms)
    out = []
    with tempfile.TemporaryDirectory(prefix="nlu_cv_") as tmp, open(os.devnull, "w") as devnull:
        path = os.path.join(tmp, "train.yml")
        Path(path).write_text(train.nlu_as_yaml(), encoding="utf-8")
        with contextlib.redirect_stdout(devnull):  # Rasa prints its progress to stdout
            model = train_nlu(config, path, os.path.join(tmp, "model"), domain=str(ROOT / "nlu/domain.yml"),
                              fixed_model_name="fold")
            agent = Agent.load(model)
            quiet()
            loop = asyncio.new_event_loop()
            for i in test_idx:
                parsed = loop.run_until_complete(agent.parse_message(examples[i].get("text")))
                ranking = parsed.get("intent_ranking") or [parsed["intent"]]
                first = ranking[0]["confidence"]
                second = ranking[1]["confidence"] if len(ranking) > 1 else 0.0
                out.append((parsed["intent"]["name"], first, first - second))
            loop.close()
    return out


def oof_proba(cfg, texts, y, folds):
    """Out-of-fold class probabilities of TextIntentModel with hyperparameters `cfg`."""
    from nlu.components.classifier import TextIntentModel
    classes = sorted(set(y))
    proba = np.zeros((len(y), len(classes)))
    for train_idx, test_idx in folds:
        model = TextIntentModel(cfg).fit([texts[i] for i in train_idx], [y[i] for i in train_idx])
        if model.classes != classes:
            raise SystemExit("a training fold lacks an intent: use fewer --folds")
        proba[test_idx] = model.predict_proba([texts[i] for i in test_idx])
    return proba, classes


def run_rasa(args, td, y, source, folds):
    config = str(Path(args.config).resolve())
    pred, conf, gap = [None] * len(y), [0.0] * len(y), [0.0] * len(y)
    start = time.time()
    for number, (train_idx, test_idx) in enumerate(folds, 1):
        print(f"fold {number}/{len(folds)}", file=sys.stderr, flush=True)
        for i, (p, c, g) in zip(test_idx, rasa_fold(config, td, train_idx, test_idx)):
            pred[i], conf[i], gap[i] = p, c, g
    res = summarize(y, pred, conf, gap, source)
    return [{**res, "config": args.config, "wall_s": round(time.time() - start)}]


def run_grid(args, base, texts, y, source, folds):
    combos = [dict(zip(GRID, values)) for values in itertools.product(*GRID.values())]
    if args.grid_only:
        combos = [json.loads(args.grid_only)]
    results = []
    for params in combos:
        start = time.time()
        proba, classes = oof_proba({**base, **params}, texts, y, folds)
        res = summarize(y, *top2(proba, classes), source)
        results.append({**res, "params": params, "wall_s": round(time.time() - start, 1)})
        print(f"{len(results)}/{len(combos)} {json.dumps(params)}: acc {res['accuracy']}", file=sys.stderr, flush=True)
    return results


def run_calibrate(args, base, texts, y, source, folds):
    params = json.loads(args.calibrate)
    logp, classes = oof_proba({**base, **params, "temperature": 1.0}, texts, y, folds)
    logp = np.log(logp + 1e-12)
    gold = np.array([classes.index(label) for label in y])

    def probs(temperature):
        z = logp / temperature
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    nll = {float(t): float(-np.log(probs(t)[np.arange(len(y)), gold] + 1e-12).mean()) for t in TEMPERATURES}
    best = min(nll, key=nll.get)
    results = []
    for temperature in (1.0, best):
        res = summarize(y, *top2(probs(temperature), classes), source)
        results.append({"params": params, "T": temperature, "nll": round(nll[temperature], 4), **res})
    return results


def print_table(results):
    cols = ["run", "acc", "mF1", "long acc", "long mF1", "short acc", "fb lost", "svc kept", "acc+fb", "s"]
    keys = ["accuracy", "macro_f1", "long_acc", "long_macro_f1", "short_acc", "correct_lost_fb",
            "wrong_service_kept_fb", "acc_with_fb", "wall_s"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in results:
        label = r.get("config") or json.dumps(r.get("params"))
        if "T" in r:
            label += f" T={r['T']} nll={r['nll']}"
        print("| " + " | ".join([label] + [str(r.get(k, "-")) for k in keys]) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--config", help="Rasa pipeline YAML: train a Rasa model per fold")
    mode.add_argument("--grid", action="store_true", help="TextIntentModel hyperparameter grid")
    mode.add_argument("--grid-only", metavar="JSON", help="grid mode, this one combination only")
    mode.add_argument("--calibrate", metavar="JSON", help="temperature by out-of-fold log-loss")
    ap.add_argument("--params", default="{}", help="JSON overrides of the TextIntentModel defaults")
    ap.add_argument("--data", action="append", default=[], help="extra training file (repeatable)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", help="write all results to this file")
    args = ap.parse_args()

    files = sorted(glob.glob(str(ROOT / "nlu/data/*.yml"))) + args.data
    for f in files:
        if (ROOT / "nlu/tests") in Path(f).resolve().parents:
            ap.error(f"{f}: nlu/tests/ is evaluation data, never used for cross-validation")
    quiet()
    td, source = load(files)
    y = [e.get("intent") for e in td.intent_examples]
    texts = [e.get("text") for e in td.intent_examples]
    folds = list(StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed).split(texts, y))

    if args.config:
        results = run_rasa(args, td, y, source, folds)
    else:
        from nlu.components.classifier import TfidfIntentClassifier
        base = {**TfidfIntentClassifier.get_default_config(), **json.loads(args.params)}
        if args.calibrate:
            results = run_calibrate(args, base, texts, y, source, folds)
        else:
            results = run_grid(args, base, texts, y, source, folds)
            results.sort(key=lambda r: -r["accuracy"])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    print_table(results)


if __name__ == "__main__":
    main()
