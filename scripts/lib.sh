# Shared set-up steps for scripts/run and scripts/test. Each step is quick when already done.
# Each prints one short line ("• app environment (.venv) (0.1 s)"); what the tools say (pip, apt, Rasa)
# goes to a log (.logs/<script>.log, git-ignored; PANDAWA_LOG to choose another file). A step that fails
# prints the log's last lines (all of it when CI is set) and its path, and the script exits non-zero.
# shellcheck shell=bash
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${PANDAWA_CACHE:-$HOME/.cache/pandawa}"
mkdir -p "$CACHE"
cd "$ROOT"

LOG_DIR="$ROOT/.logs"
mkdir -p "$LOG_DIR"
[ -f "$LOG_DIR/.gitignore" ] || printf '# written by scripts/lib.sh: logs stay local\n*\n' >"$LOG_DIR/.gitignore"
SETUP_LOG="${PANDAWA_LOG:-$LOG_DIR/$(basename "$0" .sh).log}"
mkdir -p "$(dirname "$SETUP_LOG")"
printf '=== %s %s\n' "$(date '+%F %T')" "$0" >"$SETUP_LOG"  # one run per log: its tail is this run's
LOG_TAIL_LINES=30

say() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

now_us() { local t="$EPOCHREALTIME"; echo "${t/[.,]/}"; }  # microseconds (the separator follows the locale)

elapsed() {  # elapsed START (from now_us) -> "2.1 s", "3 min 12 s"
  local tenths=$(( ($(now_us) - $1 + 50000) / 100000 ))
  if [ "$tenths" -lt 600 ]; then echo "$((tenths / 10)).$((tenths % 10)) s"; else echo "$((tenths / 600)) min $((tenths / 10 % 60)) s"; fi
}

show_log() {  # the log's tail (all of it on CI, where the file is gone after the job) and its path
  if [ "${CI:-}" = "true" ]; then
    say "---- $SETUP_LOG ----"; cat "$SETUP_LOG" >&2
  else
    say "---- last $LOG_TAIL_LINES lines of $SETUP_LOG ----"; tail -n "$LOG_TAIL_LINES" "$SETUP_LOG" >&2
  fi
  say "----"
  say "full log: $SETUP_LOG"
}

step() {  # step "what" COMMAND [ARGS...]: COMMAND's output to the log; one line, or the log's tail and exit
  local what="$1" start rc=0
  start="$(now_us)"
  shift
  [ -t 2 ] && printf '  %s …' "$what" >&2
  printf '\n=== %s: %s\n' "$(date '+%T')" "$what" >>"$SETUP_LOG"
  # A subshell outside any `if`/`||`, so that `set -e` still stops COMMAND at its first failing line.
  set +e
  (set -e; "$@") >>"$SETUP_LOG" 2>&1 </dev/null
  rc=$?
  set -e
  [ -t 2 ] && printf '\r\033[K' >&2
  if [ "$rc" -ne 0 ]; then
    say "✗ $what failed (exit $rc, after $(elapsed "$start"))"
    show_log
    exit "$rc"
  fi
  say "• $what ($(elapsed "$start"))"
}

sha_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

find_python() {  # find_python 3.11 -> path of an interpreter of that version
  local want="$1" candidate
  for candidate in "$(command -v "python$want" 2>/dev/null || true)" \
                   "$(command -v pyenv >/dev/null 2>&1 && pyenv root 2>/dev/null)"/versions/"$want"*/bin/"python$want" \
                   /root/.pyenv/versions/"$want"*/bin/"python$want" /usr/local/bin/"python$want" /usr/bin/"python$want"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c "import sys; assert sys.version.startswith('$want')" 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

_app_venv() {
  # Installs the hash-locked pins (requirements*.lock, made from requirements*.txt; see docs/dependencies.md).
  local stamp=".venv/.lock-$(sha_of requirements.lock requirements-dev.lock)"
  [ -f "$stamp" ] && { echo "up to date ($stamp)"; return 0; }
  local py; py="$(find_python 3.11)" || die "Python 3.11 is needed for the app (.venv); install it (e.g. pyenv install 3.11)"
  echo "app environment (.venv, $("$py" --version))"
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  .venv/bin/pip install --disable-pip-version-check --require-hashes -r requirements-dev.lock
  rm -f .venv/.requirements-* .venv/.lock-*; touch "$stamp"
}

ensure_app_venv() { step "app environment (.venv)" _app_venv; }

_rasa_venv() {
  # Rasa 3.6.21 needs Python 3.10; its ~2.7 GB environment is cached outside the checkout, keyed on its pins.
  local venv="$1"
  if [ ! -f "$venv/.complete" ]; then
    local py; py="$(find_python 3.10)" || die "Rasa 3.6.21 needs Python 3.10, and no python3.10 was found (looked on PATH and in pyenv). Install it, e.g. 'pyenv install 3.10.13'."
    echo "Rasa environment ($venv, $("$py" --version))"
    rm -rf "$venv"; "$py" -m venv "$venv"
    "$venv/bin/pip" install --disable-pip-version-check --upgrade pip wheel 'setuptools<70.4'
    "$venv/bin/pip" install --disable-pip-version-check -r nlu/requirements.txt
    touch "$venv/.complete"
  fi
  ln -sfn "$venv" .venv-rasa
}

ensure_rasa_venv() {
  local venv="$CACHE/rasa-venv-$(sha_of nlu/requirements.txt)"
  if [ -f "$venv/.complete" ]; then
    step "Rasa environment (.venv-rasa)" _rasa_venv "$venv"
  else
    step "Rasa environment (.venv-rasa; first time: a few minutes)" _rasa_venv "$venv"
  fi
}

_train_nlu() {
  mkdir -p "$CACHE/models"
  .venv-rasa/bin/rasa train nlu --config nlu/config.yml --nlu nlu/data --domain nlu/domain.yml \
    --out "$CACHE/models" --fixed-model-name "$(basename "$NLU_MODEL" .tar.gz)"
  [ -f "$NLU_MODEL" ] || die "rasa did not write $NLU_MODEL"
}

ensure_nlu_model() {
  # Trains the NLU model when its training data or config changed (keyed on their hash); exports NLU_MODEL.
  # (the pipeline's own components in nlu/components are part of the model too)
  local key; key="$(sha_of nlu/config.yml nlu/domain.yml $(find nlu/data nlu/components -type f -name '*.y*ml' -o -type f -name '*.py' | sort))"
  NLU_MODEL="$CACHE/models/nlu-$key.tar.gz"
  export NLU_MODEL
  if [ -f "$NLU_MODEL" ]; then
    step "NLU model (nlu-$key, cached)" true
  else
    step "training the NLU model (nlu-$key)" _train_nlu
  fi
}

redis_answers() { .venv/bin/python -c "import redis,sys; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()" "$1" >/dev/null 2>&1; }

_apt_install() { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; }

_start_redis() {
  local port="$1" url="redis://127.0.0.1:$1/0"
  mkdir -p instance
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
    --dir "$ROOT/instance" --logfile "$ROOT/instance/redis-$port.log" --pidfile "$ROOT/instance/redis-$port.pid"
  for _ in $(seq 50); do redis_answers "$url" && return 0; sleep 0.1; done
  die "the local Redis did not start (see instance/redis-$port.log)"
}

ensure_redis() {
  # Uses REDIS_URL when a Redis answers there; otherwise starts a local one (installing Debian's redis-server if needed).
  local url="${REDIS_URL:-redis://127.0.0.1:6379/0}"
  if redis_answers "$url"; then step "Redis at $url" true; export REDIS_URL="$url"; return 0; fi
  if ! command -v redis-server >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "no Redis answers at $url and redis-server is not installed"
    step "installing Debian's redis-server" _apt_install redis-server
  fi
  local port="${PANDAWA_REDIS_PORT:-6390}"
  url="redis://127.0.0.1:$port/0"
  if redis_answers "$url"; then
    step "Redis at $url" true
  else
    step "local Redis started on port $port" _start_redis "$port"
  fi
  export REDIS_URL="$url"
}

ensure_chromium() {
  # Browser tests drive Debian's Chromium with Playwright (Playwright's own browser download is not used).
  if [ -x /usr/bin/chromium ]; then step "Chromium for the browser tests" true; return 0; fi
  command -v apt-get >/dev/null 2>&1 || die "browser tests need Chromium at /usr/bin/chromium"
  step "installing Debian's chromium for the browser tests" _apt_install chromium
}

ensure_secret_key() {
  if [ -z "${SECRET_KEY:-}" ]; then
    mkdir -p instance
    [ -s instance/secret_key ] || (umask 077; .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(48))" > instance/secret_key)
    SECRET_KEY="$(cat instance/secret_key)"
    export SECRET_KEY
  fi
}
