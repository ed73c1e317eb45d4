# Shared set-up steps for scripts/run and scripts/test. Each step is quick when already done.
# shellcheck shell=bash
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${PANDAWA_CACHE:-$HOME/.cache/pandawa}"
mkdir -p "$CACHE"
cd "$ROOT"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

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

ensure_app_venv() {
  # Installs the hash-locked pins (requirements*.lock, made from requirements*.txt; see docs/dependencies.md).
  local stamp=".venv/.lock-$(sha_of requirements.lock requirements-dev.lock)"
  [ -f "$stamp" ] && return 0
  local py; py="$(find_python 3.11)" || die "Python 3.11 is needed for the app (.venv); install it (e.g. pyenv install 3.11)"
  say "app environment (.venv, $("$py" --version))"
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check --require-hashes -r requirements-dev.lock
  rm -f .venv/.requirements-* .venv/.lock-*; touch "$stamp"
}

ensure_rasa_venv() {
  # Rasa 3.6.21 needs Python 3.10; its ~2.7 GB environment is cached outside the checkout, keyed on its pins.
  local venv="$CACHE/rasa-venv-$(sha_of nlu/requirements.txt)"
  if [ ! -f "$venv/.complete" ]; then
    local py; py="$(find_python 3.10)" || die "Rasa 3.6.21 needs Python 3.10, and no python3.10 was found (looked on PATH and in pyenv). Install it, e.g. 'pyenv install 3.10.13'."
    say "Rasa environment ($venv, $("$py" --version); takes a few minutes the first time)"
    rm -rf "$venv"; "$py" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --upgrade pip wheel 'setuptools<70.4'
    "$venv/bin/pip" install -q --disable-pip-version-check -r nlu/requirements.txt
    touch "$venv/.complete"
  fi
  ln -sfn "$venv" .venv-rasa
}

ensure_nlu_model() {
  # Trains the NLU model when its training data or config changed (keyed on their hash); exports NLU_MODEL.
  local key; key="$(sha_of nlu/config.yml nlu/domain.yml $(find nlu/data -type f | sort))"
  NLU_MODEL="$CACHE/models/nlu-$key.tar.gz"
  if [ ! -f "$NLU_MODEL" ]; then
    say "training the NLU model (nlu-$key)"
    mkdir -p "$CACHE/models"
    .venv-rasa/bin/rasa train nlu --config nlu/config.yml --nlu nlu/data --domain nlu/domain.yml \
      --out "$CACHE/models" --fixed-model-name "nlu-$key" >"$CACHE/models/nlu-$key.log" 2>&1 \
      || { tail -30 "$CACHE/models/nlu-$key.log" >&2; die "NLU training failed (log: $CACHE/models/nlu-$key.log)"; }
  fi
  export NLU_MODEL
}

redis_answers() { .venv/bin/python -c "import redis,sys; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()" "$1" >/dev/null 2>&1; }

ensure_redis() {
  # Uses REDIS_URL when a Redis answers there; otherwise starts a local one (installing Debian's redis-server if needed).
  local url="${REDIS_URL:-redis://127.0.0.1:6379/0}"
  if redis_answers "$url"; then export REDIS_URL="$url"; return 0; fi
  if ! command -v redis-server >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "no Redis answers at $url and redis-server is not installed"
    say "installing Debian's redis-server"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  local port="${PANDAWA_REDIS_PORT:-6390}"
  url="redis://127.0.0.1:$port/0"
  if ! redis_answers "$url"; then
    say "starting a local Redis on port $port"
    mkdir -p instance
    redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
      --dir "$ROOT/instance" --logfile "$ROOT/instance/redis-$port.log" --pidfile "$ROOT/instance/redis-$port.pid"
    for _ in $(seq 50); do redis_answers "$url" && break; sleep 0.1; done
    redis_answers "$url" || die "the local Redis did not start (see instance/redis-$port.log)"
  fi
  export REDIS_URL="$url"
}

ensure_chromium() {
  # Browser tests drive Debian's Chromium with Playwright (Playwright's own browser download is not used).
  [ -x /usr/bin/chromium ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "browser tests need Chromium at /usr/bin/chromium"
  say "installing Debian's chromium for the browser tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}

ensure_secret_key() {
  if [ -z "${SECRET_KEY:-}" ]; then
    mkdir -p instance
    [ -s instance/secret_key ] || (umask 077; .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(48))" > instance/secret_key)
    SECRET_KEY="$(cat instance/secret_key)"
    export SECRET_KEY
  fi
}
