#!/usr/bin/env bash
# Runs every system benchmark in sequence (about 15 minutes on 2 cores) and leaves their output (*.txt)
# and JSON in bench/results/. Each benchmark creates and drops its own PostgreSQL database, uses Redis db
# ${BENCH_REDIS_DB:-14} only (flushed before and after) and stops every process it started.
# A benchmark that fails (e.g. a delivery check: a message not answered exactly once, replies out of
# order) does not stop the others; the exit status is then 1.
# Per-benchmark flags through variables:
#   WEBHOOK_ARGS="--duration 8"  E2E_ARGS="--workers 1,2,4"  CASE_ARGS="--cases 30"  SCALE_ARGS="--workers 1,2,4,8"  bench/run_all.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DB="--redis-db ${BENCH_REDIS_DB:-14}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 2; }
[ -x .venv/bin/pyinstrument ] || { echo "pyinstrument is needed: .venv/bin/pip install pyinstrument==5.1.3" >&2; exit 2; }
mkdir -p bench/results
start=$(date +%s)
status=0
run() {  # run NAME ARGS...: bench/NAME.py, output to the terminal and bench/results/NAME.txt
    local name=$1; shift
    $PY "bench/$name.py" $DB "$@" | tee "bench/results/$name.txt" || { status=1; echo "== $name FAILED" >&2; }
}
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD), $(nproc) cores"
echo "== 1/4 webhook_ack";   run webhook_ack   ${WEBHOOK_ARGS:-}
echo "== 2/4 end_to_end";    run end_to_end    ${E2E_ARGS:-}
echo "== 3/4 case_to_queue"; run case_to_queue ${CASE_ARGS:-}
echo "== 4/4 scale_out";     run scale_out     ${SCALE_ARGS:-}
echo "== done in $(( $(date +%s) - start ))s; results in bench/results/"
exit $status
