#!/usr/bin/env bash
# Runs every system benchmark in sequence (about 8-10 minutes on 2 cores) and leaves their JSON in
# bench/results/. Each benchmark creates and drops its own PostgreSQL database, uses Redis db
# ${BENCH_REDIS_DB:-14} only (flushed before and after) and stops every process it started.
# Per-benchmark flags through variables:
#   WEBHOOK_ARGS="--duration 8"  E2E_ARGS="--workers 1,2,4"  CASE_ARGS="--cases 30"  bench/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DB="--redis-db ${BENCH_REDIS_DB:-14}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 2; }
[ -x .venv/bin/pyinstrument ] || { echo "pyinstrument is needed: .venv/bin/pip install pyinstrument==5.1.3" >&2; exit 2; }
mkdir -p bench/results
start=$(date +%s)
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD), $(nproc) cores"
echo "== 1/3 webhook_ack";  $PY bench/webhook_ack.py  $DB ${WEBHOOK_ARGS:-} | tee bench/results/webhook_ack.txt
echo "== 2/3 end_to_end";   $PY bench/end_to_end.py   $DB ${E2E_ARGS:-}     | tee bench/results/end_to_end.txt
echo "== 3/3 case_to_queue"; $PY bench/case_to_queue.py $DB ${CASE_ARGS:-}  | tee bench/results/case_to_queue.txt
echo "== done in $(( $(date +%s) - start ))s; results in bench/results/"
