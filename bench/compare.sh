#!/bin/bash
# Before and after in one sitting: BASE (a commit, checked out in a temporary git worktree that shares this
# checkout's virtualenvs) and this checkout, measured one after the other with THIS checkout's benchmark
# scripts (so both are measured the same way), then the scale-out and outbound-burst benchmarks on this
# checkout. Outputs (*.txt, *.json) and a log with the start time and load of each step go to OUT.
#   bench/compare.sh e7de4b2 [OUT]        (about 10 minutes on 2 cores)
set -u
base=${1:?usage: bench/compare.sh BASE_COMMIT [OUT_DIR]}
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${2:-$here/bench/results/compare}")
tree=$(mktemp -d /tmp/pandawa-base-XXXXXX)
mkdir -p "$out"
git -C "$here" worktree add -q --detach "$tree" "$base" || exit 1
trap 'git -C "$here" worktree remove --force "$tree"' EXIT
ln -s "$here/.venv" "$tree/.venv" && ln -s "$here/.venv-rasa" "$tree/.venv-rasa"
rm -rf "$tree/bench" && cp -r "$here/bench" "$tree/bench"
export BENCH_NO_GIT=1
run() { # NAME DIR SCRIPT ARGS...
  local name=$1 dir=$2; shift 2
  echo "== $name $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out/log"
  (cd "$dir" && .venv/bin/python "$@" --json "$out/$name.json" > "$out/$name.txt" 2>&1; echo "rc=$?" >> "$out/$name.txt")
}
run before_ack "$tree" bench/webhook_ack.py --concurrency 1,16 --duration 6
run after_ack "$here" bench/webhook_ack.py --concurrency 1,16 --duration 6
run before_e2e "$tree" bench/end_to_end.py --workers 2,4 --duration 15 --no-profile --worker-classes simple
run after_e2e "$here" bench/end_to_end.py --workers 2,4 --duration 15 --no-profile --worker-classes simple
run before_case "$tree" bench/case_to_queue.py --background-rates 0,28
run after_case "$here" bench/case_to_queue.py --background-rates 0,28
run after_scale "$here" bench/scale_out.py --workers 1,2,4,6 --duration 10
run after_burst "$here" bench/outbound_burst.py --cases 1000 --rate 50
echo "== done $(date -u +%H:%M:%S)" | tee -a "$out/log"
