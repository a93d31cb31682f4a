#!/usr/bin/env bash
# System calls per request of the whole proxy process, counted by strace: bare Pingora and
# erpgate (every filter on; with and without a response redaction rule) serving the same
# simulated Oracle, in one run. Each extra loopback write with a wake-up costs ~10-20 µs on a
# small machine, so this is the count to compare with bare Pingora's (issue: "syscalls per
# relayed request equal to bare Pingora's").
#
#   benches/load/syscalls.sh [--requests-seconds 5] [--connections 8] [--tls]   (needs strace)
#
# Rows named *-big relay big.sh's 62 KB answer (two pieces from the simulator): without rules,
# held and passed unparsed (tenant other), and masked.
#
# --tls adds rows for the same erpgate behind TLS (setup.sh's start_tls_gateway): the item, the
# collection, the 6 KiB head and the upload. Rows named *-upload POST a 16,370-byte JSON body
# (`Upsert-Mode: true` into one invoice, so the simulator answers 200 with the item).
#
# For each target: a warm-up run, then strace attaches to every thread of the proxy (-c:
# counts only), the load generator runs closed-loop, strace is stopped and its counts are
# divided by the requests answered. strace slows the proxy down a great deal: read the counts,
# not the throughput. Counts every thread: relay workers, the audit writer, the store poller.
set -euo pipefail

SECONDS_PER_TARGET=5
CONNECTIONS=8
TLS=0
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
while [ $# -gt 0 ]; do
  case "$1" in
    --requests-seconds) SECONDS_PER_TARGET="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --tls) TLS=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
command -v strace >/dev/null || { echo "strace is not installed" >&2; exit 1; }

PROXY_WRAP=()
# shellcheck source=benches/load/setup.sh
source "$ROOT/benches/load/setup.sh"

# A request head of ≈ 6 KiB (a long header, as large cookies or tokens make): the gateway reads
# heads 4 KiB at a time, so this row shows what a head beyond that costs in reads.
PAD_HEADER="X-Pad: $(head -c 4500 /dev/zero | base64 -w0)"
# name | pid | port | path | expected status | header [| second header]
TARGETS=(
  "bare|$BARE_PID|$BARE_PORT|$ITEM|200|$UPSTREAM_AUTH"
)
add_peer_targets
TARGETS+=(
  "erpgate-basic|$GW_PID|$GW_PORT|$ITEM|200|$PLAIN_BASIC"
  "erpgate-basic-redacted|$GW_PID|$GW_PORT|$ITEM|200|$MASKED_BASIC"
  "bare-collection|$BARE_PID|$BARE_PORT|$COLL|200|$UPSTREAM_AUTH"
  "erpgate-collection|$GW_PID|$GW_PORT|$COLL|200|$PLAIN_BASIC"
  "erpgate-collection-redacted|$GW_PID|$GW_PORT|$COLL|200|$MASKED_BASIC"
  "erpgate-basic-6k-head|$GW_PID|$GW_PORT|$ITEM|200|$PLAIN_BASIC|$PAD_HEADER"
  "bare-big|$BARE_PID|$BARE_PORT|$BIG|200|$UPSTREAM_AUTH"
  "erpgate-big|$GW_PID|$GW_PORT|$BIG|200|$PLAIN_BASIC"
  "erpgate-big-held|$GW_PID|$GW_PORT|$BIG|200|$OTHER_BASIC"
  "erpgate-big-redacted|$GW_PID|$GW_PORT|$BIG|200|$MASKED_BASIC"
)
if [ "$TLS" = 1 ]; then
  start_tls_gateway
  TARGETS+=(
    "erpgate-tls-basic|$TLS_PID|$TLS_PORT|$ITEM|200|$PLAIN_BASIC"
    "erpgate-tls-collection|$TLS_PID|$TLS_PORT|$COLL|200|$PLAIN_BASIC"
    "erpgate-tls-basic-6k-head|$TLS_PID|$TLS_PORT|$ITEM|200|$PLAIN_BASIC|$PAD_HEADER"
  )
fi
# The uploads last: the first makes the invoice the item rows read 16 KiB larger.
TARGETS+=(
  "bare-upload|$BARE_PID|$BARE_PORT|$INVOICES|200|$UPSTREAM_AUTH"
  "erpgate-upload|$GW_PID|$GW_PORT|$INVOICES|200|$PLAIN_BASIC"
)
if [ "$TLS" = 1 ]; then
  TARGETS+=("erpgate-tls-upload|$TLS_PID|$TLS_PORT|$INVOICES|200|$PLAIN_BASIC")
fi

STRACE_OUT="$WORK/strace"
printf '%-28s %9s %9s  %s\n' target requests "calls/req" "per request, the most frequent"
for t in "${TARGETS[@]}"; do
  IFS='|' read -r name pid port path expect header header2 <<<"$t"
  args=(--url "http://127.0.0.1:$port$path")
  case "$name" in erpgate-tls*) args=(--url "https://127.0.0.1:$port$path" --ca "$TLS_CA") ;; esac
  args+=(--expect "$expect" --rate 0 --connections "$CONNECTIONS")
  [ -n "$header" ] && args+=(--header "$header")
  [ -n "$header2" ] && args+=(--header "$header2")
  case "$name" in *-upload) args+=(--method POST --body-file "$UPLOAD" \
    --header "Content-Type: application/vnd.oracle.adf.resourceitem+json" --header "Upsert-Mode: true") ;; esac
  "$LOADGEN" "${args[@]}" --duration 1 --warmup 0 >/dev/null
  tids=()
  for task in /proc/"$pid"/task/*; do tids+=(-p "${task##*/}"); done
  strace -c -q -o "$STRACE_OUT.$name" "${tids[@]}" &
  STRACE_PID=$!
  sleep 1
  r="$("${PIN_LOAD[@]}" "$LOADGEN" "${args[@]}" --duration "$SECONDS_PER_TARGET" --warmup 0)"
  kill -INT "$STRACE_PID"
  wait "$STRACE_PID" 2>/dev/null || true
  n=$(field requests <<<"$r")
  errors=$(field errors <<<"$r")
  [ "$errors" = 0 ] || { echo "$name: $errors errors" >&2; exit 1; }
  # strace -c rows: "% time  seconds  usecs/call  calls  [errors]  syscall".
  calls=$(awk '/^-/ {next} $NF != "total" && $NF != "syscall" && NF >= 5 {print $4, $NF}' "$STRACE_OUT.$name" \
    | sort -rn | head -6 \
    | awk -v n="$n" '{printf "%s %.2f  ", $2, $1 / n}')
  sum=$(awk '/^-/ {next} $NF != "total" && $NF != "syscall" && NF >= 5 {s += $4} END {print s}' "$STRACE_OUT.$name")
  printf '%-28s %9s %9.2f  %s\n' "$name" "$n" "$(awk -v s="$sum" -v n="$n" 'BEGIN {print s / n}')" "$calls"
done
