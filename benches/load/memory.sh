#!/usr/bin/env bash
# Peak memory (VmHWM) of bare Pingora and erpgate under many keep-alive clients, in one run.
# Each target gets --connections keep-alive connections, closed loop, for --seconds; its RSS
# before and its own peak (VmHWM, reset through /proc/PID/clear_refs before each target) are
# printed, in KiB. Targets share one process per proxy and run in order.
#
#   benches/load/memory.sh [--connections 1000] [--seconds 5] [--idle 0] [--tls]
#
# --tls adds two rows for a second erpgate process with TLS on its listener (a self-signed
# certificate made by openssl, the clients speaking TLS 1.3 through rustls), on the same store.
# It starts after the --idle waits, so its rows always measure a gateway that keeps its argon2
# area.
#
# --idle S waits S seconds after the credential caches are warmed, before the first target: a
# gateway frees its argon2 work area (19 MiB) at a store poll once no
# password was verified for a minute, so `--idle 125` measures a gateway in its steady state
# rather than one that has just verified passwords (it idles, verifies a fresh credential,
# idles again, then measures: the second release is the one glibc's defaults would defeat).
set -euo pipefail

CONNECTIONS=1000
SECONDS_PER_TARGET=5
IDLE=0
TLS=0
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --seconds) SECONDS_PER_TARGET="$2"; shift 2 ;;
    --idle) IDLE="$2"; shift 2 ;;
    --tls) TLS=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

PROXY_WRAP=()
NO_PEERS=1
# shellcheck source=benches/load/setup.sh
source "$ROOT/benches/load/setup.sh"

# Bare Pingora a second time, without the L4 read buffer, as erpgate's plain-TCP listener:
# the like-for-like baseline for memory (the first keeps Pingora's defaults).
BARE_NB_PORT=$(free_port)
"${PIN_PROXY[@]}" "$BARE" "127.0.0.1:$BARE_NB_PORT" "127.0.0.1:$SIM_PORT" "$PROXY_THREADS" steal nobuffer 2>"$WORK/bare-nobuffer.log" &
BARE_NB_PID=$!; PIDS+=("$BARE_NB_PID")
wait_port "$BARE_NB_PORT"

kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$2/status"; }
rss_now() { kib VmRSS "$GW_PID"; }
if [ "$IDLE" -gt 0 ]; then
  # Twice: glibc by default keeps a second area in the heap after the first is unmapped, so
  # the second release is the one that shows whether memory really goes back.
  echo "idle for $IDLE s (erpgate RSS now $(rss_now) KiB)..." >&2
  sleep "$IDLE"
  FRESH_JSON="$(gw credential issue --account load-plain --json)"
  FRESH_BASIC="Authorization: Basic $(printf '%s:%s' "$(json_str username <<<"$FRESH_JSON")" "$(json_str password <<<"$FRESH_JSON")" | base64 -w0)"
  curl -s -o /dev/null -H "$FRESH_BASIC" "http://127.0.0.1:$GW_PORT$ITEM"
  echo "a second cache miss (erpgate RSS now $(rss_now) KiB); idle for $IDLE s again..." >&2
  sleep "$IDLE"
  echo "erpgate RSS after the second release: $(rss_now) KiB" >&2
fi
TLS_ROWS=()
if [ "$TLS" = 1 ]; then
  start_tls_gateway
  TLS_ROWS=("erpgate-tls|$TLS_PID|$TLS_PORT|$ITEM|$PLAIN_BASIC"
            "erpgate-tls-again|$TLS_PID|$TLS_PORT|$ITEM|$PLAIN_BASIC")
fi

printf '%-18s %10s %14s %14s\n' target requests "rss before KiB" "peak RSS KiB"
# Each proxy takes two bursts: the first lands in fresh memory; the second reuses what the
# first freed, and shows the steady state (Pingora's default 64 KiB read buffer per connection
# held ≈ 150 MiB in erpgate from the second burst on, ≈ 100 MiB in the first).
for spec in "bare|$BARE_PID|$BARE_PORT|$ITEM|$UPSTREAM_AUTH" \
            "bare-again|$BARE_PID|$BARE_PORT|$ITEM|$UPSTREAM_AUTH" \
            "bare-nobuffer|$BARE_NB_PID|$BARE_NB_PORT|$ITEM|$UPSTREAM_AUTH" \
            "bare-nobuffer-again|$BARE_NB_PID|$BARE_NB_PORT|$ITEM|$UPSTREAM_AUTH" \
            "erpgate|$GW_PID|$GW_PORT|$ITEM|$PLAIN_BASIC" \
            "erpgate-again|$GW_PID|$GW_PORT|$ITEM|$PLAIN_BASIC" \
            "erpgate-redacted|$GW_PID|$GW_PORT|$COLL|$MASKED_BASIC" "${TLS_ROWS[@]}"; do
  IFS='|' read -r name pid port path header <<<"$spec"
  scheme=http; ca=()
  case "$name" in erpgate-tls*) scheme=https; ca=(--ca "$TLS_CA") ;; esac
  before=$(kib VmRSS "$pid")
  # Reset the peak (VmHWM) to the current RSS, so each row shows its own burst's peak.
  echo 5 > "/proc/$pid/clear_refs"
  r=$("${PIN_LOAD[@]}" "$LOADGEN" --url "$scheme://127.0.0.1:$port$path" "${ca[@]}" --expect 200 --rate 0 \
      --connections "$CONNECTIONS" --header "$header" --duration "$SECONDS_PER_TARGET" --warmup 0)
  errors=$(field errors <<<"$r")
  [ "$errors" = 0 ] || { echo "$name: $errors errors" >&2; exit 1; }
  printf '%-18s %10s %14s %14s\n' "$name" "$(field requests <<<"$r")" "$before" "$(kib VmHWM "$pid")"
done
