#!/usr/bin/env bash
# Train and evaluate every NLU candidate pipeline, then print one comparison table.
#
# Usage: bench/nlu_candidates.sh [name=config.yml[@nlu_path] ...]
#   default candidates: A (nlu/config.yml retrained = logreg.yml, fallback off), B (keywords + signals lookup), C (request
#   featurizer), D (tf-idf classifier); nlu_path defaults to nlu/data.
#   OUT=/tmp/nlu-candidates   models in $OUT/models, JSON results in $OUT/results
#   SKIP_TRAIN=1              reuse an existing model and its recorded train time
#   HTTP=1                    also serve each model (`rasa run`, port 5151..) and run bench/nlu_bench.py
#   $OUT/cv_<name>.json       cross-validation results (from `bench/nlu_cv.py --json $OUT/cv_<name>.json`)
#                             are shown in the table when present; they are NOT recomputed here.
# Per candidate: `rasa train nlu` wall time (RASA_MAX_CACHE_SIZE=0), model size, nlu/evaluate.py on
# nlu/tests/heldout.yml (short) and nlu/tests/realistic.yml (long), the fallback effect at 0.3/0.15
# (correct predictions whose top confidence < 0.3 or top-2 gap < 0.15), an entity smoke test, and
# the HTTP p50/p99 on the long messages. Evaluation sets are only scored, never trained or tuned on.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${OUT:-/tmp/nlu-candidates}"
RASA="${RASA:-.venv-rasa/bin/rasa}"
RPY="${RPY:-.venv-rasa/bin/python}"
APY="${APY:-.venv/bin/python}"
HTTP="${HTTP:-1}"
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=3
mkdir -p "$OUT/models" "$OUT/results"

if [ "$#" -gt 0 ]; then specs=("$@"); else
  specs=("A=nlu/pipelines/logreg.yml" "B=nlu/pipelines/keywords.yml@$OUT/data_b"
         "C=nlu/pipelines/request.yml" "D=nlu/pipelines/tfidf.yml")
fi
port=5151
for spec in "${specs[@]}"; do
  name="${spec%%=*}"; rest="${spec#*=}"; cfg="${rest%@*}"; data="nlu/data"
  [[ "$rest" == *@* ]] && data="${rest#*@}"
  res="$OUT/results/$name"; model="$OUT/models/$name.tar.gz"
  if [ "${SKIP_TRAIN:-0}" = 1 ] && [ -f "$model" ] && [ -f "$res.train.json" ]; then
    echo ">>> $name: reusing $model" >&2
  else
  rm -f "$res".*
  echo ">>> $name: train $cfg on $data" >&2
  start=$(date +%s.%N)
  RASA_MAX_CACHE_SIZE=0 "$RASA" train nlu --config "$cfg" --nlu "$data" --domain nlu/domain.yml \
      --out "$OUT/models" --fixed-model-name "$name" >"$res.train.log" 2>&1
  end=$(date +%s.%N)
  python3 -c "import json,sys; json.dump({'train_s': round($end-$start,1), 'size_mb': round($(stat -c %s "$model")/1e6,2), 'config': '$cfg', 'data': '$data'}, open('$res.train.json','w'))"
  fi
  echo ">>> $name: evaluate" >&2
  # custom components (nlu.components.*) must be importable: put the repo root on PYTHONPATH
  PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$RPY" nlu/evaluate.py --model "$model" --set short=nlu/tests/heldout.yml --set long=nlu/tests/realistic.yml \
      --json "$res.eval.json" >/dev/null 2>"$res.eval.log"
  PYTHONPATH="$PWD" "$RPY" - "$model" "$res.fb.json" >/dev/null 2>"$res.fb.log" <<'PYEOF'
# Fallback effect at 0.3/0.15 and an entity smoke test (numbers only, no texts written).
import asyncio, json, logging, sys
logging.disable(logging.WARNING)
from rasa.core.agent import Agent
from nlu.evaluate import load_set
agent = Agent.load(sys.argv[1]); loop = asyncio.new_event_loop()
parse = lambda t: loop.run_until_complete(agent.parse_message(t))
SERVICES = {"change_nik", "change_phone", "check_status", "reactivation", "complaint", "case_status",
            "report_death", "add_family_member", "change_faskes"}
out = {}
for name, path in [("short", "nlu/tests/heldout.yml"), ("long", "nlu/tests/realistic.yml")]:
    lost = kept_wrong = caught_wrong = under03 = gap015 = 0
    for text, gold in load_set(path):
        r = parse(text); rank = r.get("intent_ranking") or [r["intent"]]
        c1 = float(rank[0]["confidence"]); c2 = float(rank[1]["confidence"]) if len(rank) > 1 else 0.0
        fb = bool(c1 < 0.3 or c1 - c2 < 0.15)
        if rank[0]["name"] == gold:
            lost += fb; under03 += bool(c1 < 0.3); gap015 += bool((c1 - c2) < 0.15)
        elif fb: caught_wrong += 1
        elif rank[0]["name"] in SERVICES: kept_wrong += 1
    out[name] = {"correct_lost": lost, "correct_conf_lt_0.3": under03, "correct_gap_lt_0.15": gap015,
                 "wrong_caught": caught_wrong, "wrong_service_kept": kept_wrong}
probes = {"nik": "nik saya 3201123456780001 mau ganti", "card_number": "no kartu 0001234567890 cek aktif",
          "phone": "ganti nomor hp jadi 081234567890", "ticket": "status tiket PDW-20261201-0042 gimana",
          "date": "lahir 17-08-1965 cek status"}
ents = {}
for ent, text in probes.items():
    found = [(e["entity"], e["value"]) for e in parse(text).get("entities", [])]
    ents[ent] = bool(any(e == ent for e, _ in found) and all(e in probes for e, _ in found))
out["entities_ok"] = ents
json.dump(out, open(sys.argv[2], "w"))
PYEOF
  if [ "$HTTP" = 1 ]; then
    echo ">>> $name: HTTP bench on port $port" >&2
    "$RASA" run --enable-api -m "$model" -p "$port" >"$res.http.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/status" >/dev/null 2>&1 && break; sleep 1; done
    "$APY" bench/nlu_bench.py --url "http://127.0.0.1:$port" --n 500 --heldout nlu/tests/realistic.yml \
        --json "$res.http.json" >/dev/null 2>>"$res.http.log" || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
    port=$((port + 1))
  fi
done

"$RPY" - "$OUT" "${specs[@]}" <<'PYEOF'
import json, os, sys
out, specs = sys.argv[1], sys.argv[2:]
def load(path):
    return json.load(open(path)) if os.path.exists(path) else None
cols = ["cand", "cv acc/mF1", "cv long acc", "short acc/mF1", "long acc/mF1", "long F1 hum/react/compl/chk",
        "train s", "MB", "inproc p50/p99", "http p50/p99", "fb lost s/l", "ents"]
rows = []
for spec in specs:
    name = spec.split("=")[0]; r = f"{out}/results/{name}"
    tr, ev, fb, http = (load(f"{r}.{k}.json") for k in ("train", "eval", "fb", "http"))
    cv = load(f"{out}/cv_{name}.json"); cv = cv[0] if isinstance(cv, list) else cv
    m = ev["models"][0]; s, l = m["sets"]["short"], m["sets"]["long"]
    f1 = lambda i: f'{l["per_intent"].get(i, {}).get("f1", 0):.2f}'
    seq = (http or {}).get("runs", [{}])[0] if http else {}
    rows.append([name,
                 f'{cv["accuracy"]:.3f}/{cv["macro_f1"]:.3f}' if cv else "-",
                 f'{cv.get("long_acc", 0):.3f}' if cv else "-",
                 f'{s["accuracy"]:.3f}/{s["macro_f1"]:.3f}', f'{l["accuracy"]:.3f}/{l["macro_f1"]:.3f}',
                 "/".join(f1(i) for i in ("human_agent", "reactivation", "complaint", "check_status")),
                 f'{tr["train_s"]:.0f}', f'{tr["size_mb"]:.2f}',
                 f'{m["parse_ms"]["p50"]:.1f}/{m["parse_ms"]["p99"]:.1f}',
                 f'{seq.get("p50_ms")}/{seq.get("p99_ms")}' if seq else "-",
                 f'{fb["short"]["correct_lost"]}/{fb["long"]["correct_lost"]}',
                 "ok" if all(fb["entities_ok"].values()) else str(fb["entities_ok"])])
print("| " + " | ".join(cols) + " |"); print("|" + "---|" * len(cols))
for row in rows:
    print("| " + " | ".join(row) + " |")
print()
for spec in specs:
    name = spec.split("=")[0]; ev = load(f"{out}/results/{name}.eval.json")
    print(name, "long confusions:", ev["models"][0]["sets"]["long"]["confusions"][:6])
PYEOF
