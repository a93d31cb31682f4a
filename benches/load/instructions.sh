#!/usr/bin/env bash
# Instructions per request of the whole proxy process, counted by callgrind: bare Pingora and
# erpgate (every filter on) serving the same simulated Oracle, in one run. Unlike CPU time,
# instruction counts do not move with a shared machine's noise, so this is the measurement to
# compare a change with (`git stash`, run, unstash, run). Every thread counts: the relay, the
# audit writer (JSON, MAC, SQLite), the store poller; the kernel's share does not (it is the
# same loopback path for both).
#
#   benches/load/instructions.sh [--seconds 10] [--connections 4]   (needs valgrind)
#
# For each target: counters are zeroed once the caches are warm, the load generator runs
# closed-loop for --seconds, the counters are dumped, and the total is divided by the
# requests answered. Prints a table and the ratios erpgate/bare.
set -euo pipefail

SECONDS_PER_TARGET=10
CONNECTIONS=4
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_TARGET="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null \
  || { echo "valgrind (with callgrind_control) is not installed" >&2; exit 1; }

CG_DIR="$(mktemp -d)"
# Counting starts at zero after warm-up (callgrind_control -z); the dump is read by pid.
# erpgate starts itself once more with its allocator settings (src/allocator.rs): callgrind
# follows it into that start (--trace-children), so what is counted is what it runs with.
PROXY_WRAP=(valgrind --tool=callgrind --quiet --trace-children=yes "--callgrind-out-file=$CG_DIR/cg.%p")
WAIT_TRIES=1200
# Under callgrind erpgate answers ~200 requests/s, so its audit batches would hold a record or
# two, where a loaded gateway writes dozens per batch. The longest linger makes the batches
# (and so the writer's cost per record) closer to a loaded gateway's.
AUDIT_LINGER_MS="${AUDIT_LINGER_MS-100}"
# The peers (nginx, HAProxy, when installed) run under callgrind too; nginx then runs
# without a master process (peers.sh), so the counted process is the one serving.
PEER_WRAP=(valgrind --tool=callgrind --quiet "--callgrind-out-file=$CG_DIR/cg.%p")
# shellcheck source=benches/load/setup.sh
source "$ROOT/benches/load/setup.sh"
# CG_KEEP=DIR keeps the callgrind dumps (for callgrind_annotate); DIR is created if need be.
[ -z "${CG_KEEP:-}" ] || mkdir -p "$CG_KEEP"
trap 'cleanup; [ -z "${CG_KEEP:-}" ] || cp "$CG_DIR"/cg.* "$CG_KEEP"/; rm -rf "$CG_DIR"' EXIT

# name | pid | port | path | expected status | header
TARGETS=(
  "bare|$BARE_PID|$BARE_PORT|$ITEM|200|$UPSTREAM_AUTH"
  "erpgate-basic|$GW_PID|$GW_PORT|$ITEM|200|$PLAIN_BASIC"
  "erpgate-basic-redacted|$GW_PID|$GW_PORT|$ITEM|200|$MASKED_BASIC"
  "erpgate-apikey|$GW_PID|$GW_PORT|$ITEM|200|$PLAIN_KEY"
  "erpgate-bearer|$GW_PID|$GW_PORT|$ITEM|200|$PLAIN_BEARER"
  "erpgate-collection|$GW_PID|$GW_PORT|$COLL|200|$PLAIN_BASIC"
  "erpgate-collection-redacted|$GW_PID|$GW_PORT|$COLL|200|$MASKED_BASIC"
  "erpgate-deny-401|$GW_PID|$GW_PORT|$ITEM|401|"
  "erpgate-deny-403|$GW_PID|$GW_PORT|/fscmRestApi/resources/11.13.18.05/externalBankAccounts|403|$PLAIN_BASIC"
)
add_peer_targets

# Total instructions (Ir) in the newest dump of process $1.
dumped_ir() {
  local f
  f="$(ls -t "$CG_DIR/cg.$1".* 2>/dev/null | head -1)"
  [ -n "$f" ] || { echo "no callgrind dump for pid $1" >&2; exit 1; }
  awk '/^(summary|totals):/ {print $2; exit}' "$f"
}

declare -A IPR
printf '%-28s %10s %16s\n' target requests "instr/request"
for t in "${TARGETS[@]}"; do
  IFS='|' read -r name pid port path expect header <<<"$t"
  args=(--url "http://127.0.0.1:$port$path" --expect "$expect" --rate 0 --connections "$CONNECTIONS")
  [ -n "$header" ] && args+=(--header "$header")
  # A short unmeasured run first, so every connection and cache is warm.
  "$LOADGEN" "${args[@]}" --duration 1 --warmup 0 >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1 \
    || { echo "$name: callgrind_control cannot reach pid $pid" >&2; exit 1; }
  r="$("$LOADGEN" "${args[@]}" --duration "$SECONDS_PER_TARGET" --warmup 0)"
  callgrind_control -d "$pid" >/dev/null 2>&1 \
    || { echo "$name: callgrind_control cannot dump pid $pid" >&2; exit 1; }
  n=$(field requests <<<"$r")
  errors=$(field errors <<<"$r")
  [ "$errors" = 0 ] || { echo "$name: $errors errors" >&2; exit 1; }
  ir=$(dumped_ir "$pid")
  IPR[$name]=$(awk -v i="$ir" -v n="$n" 'BEGIN { printf "%d", i / n }')
  printf '%-28s %10s %16s\n' "$name" "$n" "${IPR[$name]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "erpgate-basic / bare: $(ratio "${IPR[erpgate-basic]}" "${IPR[bare]}") instructions per request"
for peer in nginx nginx-gateway haproxy-gateway; do
  if [ -n "${IPR[$peer]:-}" ]; then
    echo "$peer / bare: $(ratio "${IPR[$peer]}" "${IPR[bare]}") instructions per request"
  fi
done
echo "redaction on / off (item): $(ratio "${IPR[erpgate-basic-redacted]}" "${IPR[erpgate-basic]}") instructions per request"
echo "redaction on / off (10-supplier collection): $(ratio "${IPR[erpgate-collection-redacted]}" "${IPR[erpgate-collection]}") instructions per request"
echo "denials vs relay: 401 $(ratio "${IPR[erpgate-deny-401]}" "${IPR[erpgate-basic]}"), 403 $(ratio "${IPR[erpgate-deny-403]}" "${IPR[erpgate-basic]}")"
