#!/usr/bin/env bash
# erpgate load comparison: one command, one run, every target on loopback.
#
#   benches/load/run.sh [--runs 3] [--duration 5] [--connections 32] [--out FILE]
#
# Targets, all serving the same simulated Oracle (`erpgate sim`):
#   direct        the simulator itself (the floor)
#   bare          a bare Pingora passthrough (benches/load/bare_pingora.rs), same crate versions
#   nginx         nginx as a plain reverse proxy, when installed
#   nginx-gateway, haproxy-gateway
#                 nginx and HAProxy configured as security gateways (peers.sh says what they
#                 check and set), when installed
#   erpgate-*     erpgate with every filter on: Basic, x-api-key, gateway bearer token and
#                 an inbound Oracle user JWT (relayed with a tenant-signed assertion), all
#                 cached; audit, policy, schedule, kill switch, injection; with and without
#                 response redaction; and its denial paths (401, 403, 404)
# For each: peak requests/s (closed loop), the proxy's CPU microseconds per request (from
# /proc), then latency percentiles open-loop at half of bare Pingora's peak (corrected for
# coordinated omission: see loadgen.rs), and for bare Pingora and erpgate (Basic) also at half
# of erpgate's own peak, where the filters' added latency shows without queueing. Medians of
# --runs runs. Proxies are pinned to CPU 1, the simulator and the load generator to CPU 0
# (when taskset and 2+ CPUs exist).
# Results: a table on stdout and JSON lines in --out (default benches/load/results/latest.jsonl).
set -euo pipefail

RUNS=3
DURATION=5
CONNECTIONS=32
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="$ROOT/benches/load/results/latest.jsonl"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

PROXY_WRAP=()
# shellcheck source=benches/load/setup.sh
source "$ROOT/benches/load/setup.sh"

# name | pid of the process to charge | port | path | expected status | header (optional)
TARGETS=(
  "direct|$SIM_PID|$SIM_PORT|$ITEM|200|$UPSTREAM_AUTH"
  "bare|$BARE_PID|$BARE_PORT|$ITEM|200|$UPSTREAM_AUTH"
)
add_peer_targets
TARGETS+=(
  "erpgate-basic|$GW_PID|$GW_PORT|$ITEM|200|$PLAIN_BASIC"
  "erpgate-basic-redacted|$GW_PID|$GW_PORT|$ITEM|200|$MASKED_BASIC"
  "erpgate-apikey|$GW_PID|$GW_PORT|$ITEM|200|$PLAIN_KEY"
  "erpgate-bearer|$GW_PID|$GW_PORT|$ITEM|200|$PLAIN_BEARER"
  "erpgate-oracle-jwt|$GW_PID|$GW_PORT|$ITEM|200|$USER_BEARER"
  "bare-collection|$BARE_PID|$BARE_PORT|$COLL|200|$UPSTREAM_AUTH"
  "erpgate-collection|$GW_PID|$GW_PORT|$COLL|200|$PLAIN_BASIC"
  "erpgate-collection-redacted|$GW_PID|$GW_PORT|$COLL|200|$MASKED_BASIC"
  "erpgate-deny-401|$GW_PID|$GW_PORT|$ITEM|401|"
  "erpgate-deny-403|$GW_PID|$GW_PORT|/fscmRestApi/resources/11.13.18.05/externalBankAccounts|403|$PLAIN_BASIC"
  "erpgate-deny-404|$GW_PID|$GW_PORT|/fscmRestApi/resources/11.13.18.05/nothingHere|404|$PLAIN_BASIC"
)

load() { # port path expect header rate connections duration
  local args=(--url "http://127.0.0.1:$1$2" --expect "$3" --rate "$5" --connections "$6" --duration "$7" --warmup 1)
  [ -n "$4" ] && args+=(--header "$4")
  "${PIN_LOAD[@]}" "$LOADGEN" "${args[@]}"
}

mkdir -p "$(dirname "$OUT")"
: >"$OUT"
declare -A PEAK CPU AUDIT P50 P99 P999 ERR
echo "peak throughput, $RUNS run(s) of ${DURATION}s, $CONNECTIONS connections..." >&2
for t in "${TARGETS[@]}"; do
  IFS='|' read -r name pid port path expect header <<<"$t"
  rps_runs=(); cpu_runs=(); audit_runs=(); errs=0
  for _ in $(seq "$RUNS"); do
    before=$(cpu_ticks "$pid"); abefore=$(thread_ticks "$pid" erpgate-audit)
    r=$(load "$port" "$path" "$expect" "$header" 0 "$CONNECTIONS" "$DURATION")
    after=$(cpu_ticks "$pid"); aafter=$(thread_ticks "$pid" erpgate-audit)
    n=$(field requests <<<"$r"); rps=$(field rps <<<"$r"); e=$(field errors <<<"$r")
    errs=$((errs + e))
    rps_runs+=("$rps")
    cpu_runs+=("$(us_per_request "$before" "$after" "$n" "$rps")")
    audit_runs+=("$(us_per_request "$abefore" "$aafter" "$n" "$rps")")
  done
  PEAK[$name]=$(printf '%s\n' "${rps_runs[@]}" | median)
  CPU[$name]=$(printf '%s\n' "${cpu_runs[@]}" | median)
  AUDIT[$name]=$(printf '%s\n' "${audit_runs[@]}" | median)
  ERR[$name]=$errs
  echo "  $name: ${PEAK[$name]} req/s, ${CPU[$name]} CPU us/req (audit writer ${AUDIT[$name]}), errors $errs" >&2
done

RATE=$(awk -v p="${PEAK[bare]}" 'BEGIN { printf "%d", p / 2 }')
echo "latency open-loop at $RATE req/s (half of bare Pingora's peak)..." >&2
for t in "${TARGETS[@]}"; do
  IFS='|' read -r name pid port path expect header <<<"$t"
  p50s=(); p99s=(); p999s=()
  for _ in $(seq "$RUNS"); do
    r=$(load "$port" "$path" "$expect" "$header" "$RATE" "$CONNECTIONS" "$DURATION")
    p50s+=("$(field p50_us <<<"$r")"); p99s+=("$(field p99_us <<<"$r")"); p999s+=("$(field p999_us <<<"$r")")
    ERR[$name]=$((ERR[$name] + $(field errors <<<"$r")))
  done
  P50[$name]=$(printf '%s\n' "${p50s[@]}" | median)
  P99[$name]=$(printf '%s\n' "${p99s[@]}" | median)
  P999[$name]=$(printf '%s\n' "${p999s[@]}" | median)
done

# Half of bare Pingora's peak is most of erpgate's own, so that comparison measures queueing.
# The added latency of the filters themselves shows at a rate both sustain easily: half of
# erpgate's peak, bare Pingora and erpgate (Basic) side by side.
EASY_RATE=$(awk -v p="${PEAK[erpgate-basic]}" 'BEGIN { printf "%d", p / 2 }')
echo "latency open-loop at $EASY_RATE req/s (half of erpgate's peak): bare vs erpgate-basic..." >&2
declare -A EASY50 EASY99
for t in "${TARGETS[@]}"; do
  IFS='|' read -r name pid port path expect header <<<"$t"
  case "$name" in bare|erpgate-basic) ;; *) continue ;; esac
  p50s=(); p99s=()
  for _ in $(seq "$RUNS"); do
    r=$(load "$port" "$path" "$expect" "$header" "$EASY_RATE" "$CONNECTIONS" "$DURATION")
    p50s+=("$(field p50_us <<<"$r")"); p99s+=("$(field p99_us <<<"$r")")
    ERR[$name]=$((ERR[$name] + $(field errors <<<"$r")))
  done
  EASY50[$name]=$(printf '%s\n' "${p50s[@]}" | median)
  EASY99[$name]=$(printf '%s\n' "${p99s[@]}" | median)
done

echo "1000 concurrent keep-alive clients against bare Pingora and erpgate..." >&2
# Both proxies get the same 1,000 clients, so their peak RSS compares like with like.
r=$(load "$BARE_PORT" "$ITEM" 200 "$UPSTREAM_AUTH" 0 1000 "$DURATION")
BARE_C1000_ERR=$(field errors <<<"$r")
r=$(load "$GW_PORT" "$ITEM" 200 "$PLAIN_BASIC" 0 1000 "$DURATION")
C1000_ERR=$(field errors <<<"$r"); C1000_RPS=$(field rps <<<"$r")
GW_RSS=$(peak_rss_kib "$GW_PID")
BARE_RSS=$(peak_rss_kib "$BARE_PID")

printf '\n%-30s %10s %10s %10s %9s %9s %9s %7s\n' target "req/s" "cpu_us/req" "audit_us" "p50_us" "p99_us" "p99.9_us" errors
OVERLOADED=0
for t in "${TARGETS[@]}"; do
  IFS='|' read -r name _ <<<"$t"
  # A target run open-loop at 80 % of its own peak or more was (nearly) saturated there: its
  # latency is mostly the queue that built up, not what its filters add. Marked `*` (and
  # "overloaded" in JSON); the added latency of the filters is the "half of erpgate's peak" line.
  over=$(awk -v p="${PEAK[$name]}" -v r="$RATE" 'BEGIN { print (r >= 0.8 * p) ? "true" : "false" }')
  mark=""; [ "$over" = true ] && { mark="*"; OVERLOADED=1; }
  printf '%-30s %10s %10s %10s %9s %9s %9s %7s\n' "$name" "${PEAK[$name]}" "${CPU[$name]}" "${AUDIT[$name]}" "${P50[$name]}$mark" "${P99[$name]}$mark" "${P999[$name]}$mark" "${ERR[$name]}"
  printf '{"target":"%s","rps":%s,"cpu_us_per_req":%s,"audit_writer_us_per_req":%s,"p50_us":%s,"p99_us":%s,"p999_us":%s,"errors":%s,"open_loop_rate":%s,"overloaded":%s,"runs":%s,"duration_s":%s,"connections":%s}\n' \
    "$name" "${PEAK[$name]}" "${CPU[$name]}" "${AUDIT[$name]}" "${P50[$name]}" "${P99[$name]}" "${P999[$name]}" "${ERR[$name]}" "$RATE" "$over" "$RUNS" "$DURATION" "$CONNECTIONS" >>"$OUT"
done
if [ "$OVERLOADED" = 1 ]; then
  echo "* open-loop at $RATE req/s, 80 % or more of that target's peak: its latency is mostly queueing, not its filters"
fi
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
diff_us() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", a - b }'; }
echo
echo "erpgate-basic / bare:      throughput $(ratio "${PEAK[erpgate-basic]}" "${PEAK[bare]}"), CPU per request $(ratio "${CPU[erpgate-basic]}" "${CPU[bare]}")"
echo "erpgate-basic / direct:    throughput $(ratio "${PEAK[erpgate-basic]}" "${PEAK[direct]}")"
echo "added latency over bare at $RATE req/s: p50 $(diff_us "${P50[erpgate-basic]}" "${P50[bare]}") us, p99 $(diff_us "${P99[erpgate-basic]}" "${P99[bare]}") us"
echo "added latency over bare at $EASY_RATE req/s (half of erpgate's peak): p50 $(diff_us "${EASY50[erpgate-basic]}" "${EASY50[bare]}") us, p99 $(diff_us "${EASY99[erpgate-basic]}" "${EASY99[bare]}") us (bare p50 ${EASY50[bare]}, p99 ${EASY99[bare]})"
for peer in nginx nginx-gateway haproxy-gateway erpgate-basic erpgate-basic-redacted; do
  [ -n "${PEAK[$peer]:-}" ] || continue
  printf '%-24s / bare: throughput %s, CPU per request %s\n' "$peer" "$(ratio "${PEAK[$peer]}" "${PEAK[bare]}")" "$(ratio "${CPU[$peer]}" "${CPU[bare]}")"
done
echo "redaction on / off (item): throughput $(ratio "${PEAK[erpgate-basic-redacted]}" "${PEAK[erpgate-basic]}"), CPU per request $(ratio "${CPU[erpgate-basic-redacted]}" "${CPU[erpgate-basic]}")"
echo "redaction on / off (10-supplier collection): throughput $(ratio "${PEAK[erpgate-collection-redacted]}" "${PEAK[erpgate-collection]}"), CPU per request $(ratio "${CPU[erpgate-collection-redacted]}" "${CPU[erpgate-collection]}")"
echo "denials vs relay (CPU per request): 401 $(ratio "${CPU[erpgate-deny-401]}" "${CPU[erpgate-basic]}"), 403 $(ratio "${CPU[erpgate-deny-403]}" "${CPU[erpgate-basic]}"), 404 $(ratio "${CPU[erpgate-deny-404]}" "${CPU[erpgate-basic]}")"
echo "1000 keep-alive clients: erpgate $C1000_RPS req/s, $C1000_ERR errors (bare Pingora $BARE_C1000_ERR errors); peak RSS erpgate $((GW_RSS / 1024)) MiB, bare Pingora $((BARE_RSS / 1024)) MiB"
printf '{"summary":true,"c1000_rps":%s,"c1000_errors":%s,"erpgate_peak_rss_kib":%s,"bare_peak_rss_kib":%s,"open_loop_rate":%s,"easy_rate":%s,"easy_bare_p50_us":%s,"easy_bare_p99_us":%s,"easy_erpgate_p50_us":%s,"easy_erpgate_p99_us":%s}\n' \
  "$C1000_RPS" "$C1000_ERR" "$GW_RSS" "$BARE_RSS" "$RATE" "$EASY_RATE" "${EASY50[bare]}" "${EASY99[bare]}" "${EASY50[erpgate-basic]}" "${EASY99[erpgate-basic]}" >>"$OUT"
echo "results: $OUT"
