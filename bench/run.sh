#!/usr/bin/env bash
# Runs the side-by-side benchmark (docs/benchmarks.md): builds the servers and the load
# generator in release mode, installs the Node peer when missing, then runs every server
# and scenario, and writes the tables and the SVG charts (docs/benchmarks/ for a full run).
# Arguments go to `sio-bench run` (--quick, --runs N, --servers, --scenarios, --out FILE,
# --charts DIR, --full-size, --extra-ours label=path).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for tool in taskset node npm cargo; do
  command -v "$tool" >/dev/null || { echo "bench/run.sh needs $tool" >&2; exit 1; }
done
if [ "$(nproc)" -lt 2 ]; then
  echo "bench/run.sh needs 2 cores (server on one, load on the other)" >&2
  exit 1
fi

cargo build --release --example bench_server -p tower-socketio
cargo build --release -p tower-socketio-bench

stamp=bench/node/node_modules/.installed-lock
if [ ! -f "$stamp" ] || ! cmp -s bench/node/package-lock.json "$stamp"; then
  (cd bench/node && npm ci --no-audit --no-fund)
  cp bench/node/package-lock.json "$stamp"
fi

# 100 000 clients need as many descriptors on each side (the load generator and the
# server are separate processes, each with its own limit).
want=262144
hard="$(ulimit -Hn)"
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
  # Root may raise the hard limit too (up to fs.nr_open).
  ulimit -Hn "$want" 2>/dev/null || want="$hard"
fi
ulimit -n "$want"
exec target/release/sio-bench run "$@"
