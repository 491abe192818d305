#!/usr/bin/env bash
# The whole test suite of tower-socketio: `scripts/test.sh [extra cargo test args]`.
#
# Installs the test peers it needs (idempotent; a no-op when they are already there and
# current), exports where they are for the Rust integration tests, then runs
# `cargo test --all-features` with any extra arguments passed through, e.g.
#   scripts/test.sh --test harness
#   scripts/test.sh -- --nocapture
#
# Peers:
#   tests/js/node_modules   `npm ci` when missing or older than tests/js/package-lock.json
#   .venv                   Python venv with tests/python/requirements.txt
#   .venv-sio4              Python venv with tests/python/requirements-v4.txt (python-socketio
#                           4.x, the Socket.IO 2 protocol; it cannot share a venv with 5.x)
#   redis-server, redis-cli Debian's packages (redis-server, redis-tools), installed with
#                           apt-get only when missing; 7.0 or newer
#   chromium                Debian's package (and fonts-liberation, so pages render text),
#                           installed with apt-get only when missing; playwright-core drives it
#
# Environment exported for the tests (tests/common/mod.rs reads them):
#   TSIO_NODE_MODULES   tests/js/node_modules
#   TSIO_PYTHON         .venv/bin/python
#   TSIO_PYTHON_SIO4    .venv-sio4/bin/python
#   TSIO_REDIS_SERVER   the redis-server binary
#   TSIO_CHROMIUM       the chromium binary (browser tests)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf 'test.sh: %s\n' "$*" >&2; }
die() {
  printf 'test.sh: error: %s\n' "$*" >&2
  exit 1
}

# Runs a command as root: directly when we are root, else through sudo when there is one.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install by hand: $*"
  if [ "$APT_UPDATED" -eq 0 ]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  say "installing with apt-get: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

file_hash() { sha256sum "$1" | cut -d' ' -f1; }

# --- Node.js packages (official clients) ------------------------------------------------
ensure_node_modules() {
  command -v node >/dev/null 2>&1 || die "node not found: install Node.js 20 or newer"
  command -v npm >/dev/null 2>&1 || die "npm not found: install npm"
  local dir="$ROOT/tests/js"
  local stamp="$dir/node_modules/.tsio-lock-hash"
  local want
  want="$(file_hash "$dir/package-lock.json") $(node --version)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    say "tests/js/node_modules: up to date"
  else
    say "installing tests/js/node_modules with npm ci (lockfile changed or first run)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    printf '%s' "$want" >"$stamp"
  fi
  export TSIO_NODE_MODULES="$dir/node_modules"
}

# --- Python venvs (python-socketio clients) ----------------------------------------------
# ensure_python_venv <venv dir> <requirements file>: creates or updates the venv.
ensure_python_venv() {
  local venv="$1"
  local req="$2"
  local stamp="$venv/.tsio-requirements-hash"
  if [ ! -x "$venv/bin/python" ]; then
    command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
    say "creating the Python venv ${venv#"$ROOT"/}"
    if ! python3 -m venv "$venv"; then
      rm -rf "$venv"
      apt_install python3-venv
      python3 -m venv "$venv"
    fi
  fi
  local want
  want="$(file_hash "$req") $("$venv/bin/python" --version 2>&1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    say "${venv#"$ROOT"/}: up to date"
  else
    say "installing ${req#"$ROOT"/} into ${venv#"$ROOT"/}"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    printf '%s' "$want" >"$stamp"
  fi
}

# --- Redis (cluster adapter tests start their own redis-server on a free port) ------------
# Streams need Redis 5, sharded pub/sub and the Redis Cluster tests Redis 7 (Debian 12: 7.0);
# the Redis Cluster tests also need redis-cli (`--cluster create`, in redis-tools).
ensure_redis() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
  if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
  fi
  TSIO_REDIS_SERVER="$(command -v redis-server)" || die "redis-server still not found after installing it"
  command -v redis-cli >/dev/null 2>&1 || die "redis-cli still not found after installing redis-tools"
  export TSIO_REDIS_SERVER
  local version major
  version="$("$TSIO_REDIS_SERVER" --version | head -n1)"
  major="$(printf '%s' "$version" | sed -n 's/.*v=\([0-9]*\)\..*/\1/p')"
  if [ -z "$major" ] || [ "$major" -lt 7 ]; then
    die "redis-server 7 or newer is needed (streams: 5, sharded pub/sub: 7); found: $version"
  fi
  say "redis-server: $version"
}

# --- Chromium (browser tests: the chat example in two browser contexts) ----------------------
# Debian's chromium, driven by playwright-core from tests/js (which downloads no browser).
ensure_chromium() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  if ! dpkg-query -W -f='${Status}' fonts-liberation 2>/dev/null | grep -q "ok installed"; then
    missing+=(fonts-liberation)
  fi
  if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
  fi
  TSIO_CHROMIUM="$(command -v chromium)" || die "chromium still not found after installing it"
  export TSIO_CHROMIUM
  say "chromium: $("$TSIO_CHROMIUM" --version 2>/dev/null | head -n1)"
}

ensure_node_modules
ensure_python_venv "$ROOT/.venv" "$ROOT/tests/python/requirements.txt"
export TSIO_PYTHON="$ROOT/.venv/bin/python"
ensure_python_venv "$ROOT/.venv-sio4" "$ROOT/tests/python/requirements-v4.txt"
export TSIO_PYTHON_SIO4="$ROOT/.venv-sio4/bin/python"
ensure_redis
ensure_chromium

say "TSIO_NODE_MODULES=$TSIO_NODE_MODULES"
say "TSIO_PYTHON=$TSIO_PYTHON"
say "TSIO_PYTHON_SIO4=$TSIO_PYTHON_SIO4"
say "TSIO_REDIS_SERVER=$TSIO_REDIS_SERVER"
say "TSIO_CHROMIUM=$TSIO_CHROMIUM"
say "cargo test --all-features $*"
exec cargo test --all-features "$@"
