#!/usr/bin/env bash
# Cross-validate every candidate NLU pipeline in nlu/pipelines/ and print a summary table.
#
# Usage: bench/nlu_crossval.sh [pipeline.yml ...]
#   FOLDS=5             number of folds (use 3 if DIET is too slow on the machine)
#   OUT=/tmp/nlu-crossval  where the rasa reports go (never inside the repo)
#   RASA=.venv-rasa/bin/rasa
# For each candidate: `rasa test nlu --cross-validation --folds $FOLDS --nlu nlu/data --config <cfg>`,
# then accuracy and macro-F1 are read from <OUT>/<name>/intent_report.json ("accuracy", "macro avg").
set -euo pipefail
cd "$(dirname "$0")/.."

FOLDS="${FOLDS:-5}"
OUT="${OUT:-/tmp/nlu-crossval}"
RASA="${RASA:-.venv-rasa/bin/rasa}"
PY="${PY:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
export RASA_TELEMETRY_ENABLED=false

if [ "$#" -gt 0 ]; then configs=("$@"); else configs=(nlu/pipelines/*.yml); fi
mkdir -p "$OUT"
summary="$OUT/summary.tsv"
printf "pipeline\tfolds\taccuracy\tmacro_f1\tweighted_f1\twall_s\n" > "$summary"

for cfg in "${configs[@]}"; do
  name="$(basename "$cfg" .yml)"
  dir="$OUT/$name"
  rm -rf "$dir"; mkdir -p "$dir"
  echo ">>> $name: $FOLDS-fold cross-validation (log: $dir.log)" >&2
  start=$(date +%s.%N)
  "$RASA" test nlu --cross-validation --folds "$FOLDS" --nlu nlu/data --config "$cfg" \
      --out "$dir" >"$dir.log" 2>&1
  end=$(date +%s.%N)
  "$PY" - "$dir/intent_report.json" "$name" "$FOLDS" "$start" "$end" >>"$summary" <<'PYEOF'
import json, sys
path, name, folds, start, end = sys.argv[1:6]
r = json.load(open(path))
print(f"{name}\t{folds}\t{r['accuracy']:.4f}\t{r['macro avg']['f1-score']:.4f}\t"
      f"{r['weighted avg']['f1-score']:.4f}\t{float(end) - float(start):.0f}")
PYEOF
done

echo
echo "Cross-validation summary ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
column -t -s $'\t' "$summary"
