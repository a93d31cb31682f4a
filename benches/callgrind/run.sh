#!/usr/bin/env bash
# Instructions per request-side chain (warm Basic path), counted by callgrind: stable on a
# noisy machine, so a change can be compared with `git stash` before and after.
#
#   benches/callgrind/run.sh [N]      (needs valgrind)
set -euo pipefail
N="${1:-2000}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
cargo build --release --quiet --example chain_iterations
BIN="$ROOT/target/release/examples/chain_iterations"
count() {
  local out
  out="$(mktemp)"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN" "$1" >/dev/null 2>&1
  awk '/^summary:/ {print $2}' "$out"
  rm -f "$out"
}
base=$(count 0)
total=$(count "$N")
echo "chain/basic_warm: $(( (total - base) / N )) instructions per request ($N iterations; setup $base subtracted)"
