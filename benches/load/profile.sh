#!/usr/bin/env bash
# Native profile of erpgate and bare Pingora under the load of run.sh, with `perf`: where a
# request's CPU goes on the real CPU, kernel and allocator included (instructions.sh counts
# user-space instructions under callgrind, which hides the CPU's SHA extensions, the kernel's
# wake-ups and the allocator's cache misses).
#
#   benches/load/profile.sh [--seconds N] [--rate R] [--out DIR]
#
# For bare Pingora, erpgate (Basic) and erpgate with the redaction rule (the item of run.sh):
# runs the load for N seconds (default 6) at R requests per second (default 0: as fast as the
# proxy answers), samples the proxy's process with `perf record -F 2999 -g` (kernel call
# chains; erpgate's own frames are not walked), and prints per target the requests per second,
# the CPU per request charged to each thread, and the CPU per request by part: erpgate's or
# Pingora's code, the kernel, libc (the allocator and memcpy), and the heaviest symbols. The
# perf data stays in DIR (default: a temporary directory, removed) for `perf report -i`.
# Needs `perf` (Debian: linux-perf) and kernel.perf_event_paranoid ≤ 1 or root.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SECONDS_RUN=6
RATE=0
OUTDIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_RUN="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --out) OUTDIR="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v perf >/dev/null || { echo "perf is not installed (Debian: apt-get install linux-perf)" >&2; exit 1; }

NO_PEERS=1
PROXY_WRAP=()
# shellcheck source=benches/load/setup.sh
source "$ROOT/benches/load/setup.sh"
KEEP="${OUTDIR:-$WORK/perf}"
mkdir -p "$KEEP"

load() { # port header duration
  "${PIN_LOAD[@]}" "$LOADGEN" --url "http://127.0.0.1:$1$ITEM" --expect 200 --rate "$RATE" \
    --connections 32 --duration "$3" --warmup 1 --header "$2"
}
for t in "bare|$BARE_PID|$BARE_PORT|$UPSTREAM_AUTH" "erpgate-basic|$GW_PID|$GW_PORT|$PLAIN_BASIC" \
  "erpgate-basic-redacted|$GW_PID|$GW_PORT|$MASKED_BASIC"; do
  IFS='|' read -r name pid port header <<<"$t"
  load "$port" "$header" 2 >/dev/null
  before=$(cpu_ticks "$pid"); abefore=$(thread_ticks "$pid" erpgate-audit)
  perf record -q -g -F 2999 -p "$pid" -o "$KEEP/$name.data" -- sleep "$SECONDS_RUN" 2>/dev/null &
  recorder=$!
  r=$(load "$port" "$header" "$((SECONDS_RUN + 1))")
  wait "$recorder" || true
  after=$(cpu_ticks "$pid"); aafter=$(thread_ticks "$pid" erpgate-audit)
  n=$(field requests <<<"$r"); rps=$(field rps <<<"$r")
  cpu=$(us_per_request "$before" "$after" "$n" "$rps")
  writer=$(us_per_request "$abefore" "$aafter" "$n" "$rps" "%.2f")
  echo "== $name: $rps req/s, $cpu µs of CPU per request (audit writer $writer)"
  # Shares of the samples by thread and part, turned into µs per request.
  perf report -i "$KEEP/$name.data" -g none --no-children --sort comm,dso --stdio 2>/dev/null |
    awk -v cpu="$cpu" '/^ *[0-9.]+%/ { p = $1; sub("%", "", p); $1 = ""; if (p >= 0.5) printf "   %6.2f µs  %s\n", p * cpu / 100, $0 }' || true
  echo "   heaviest symbols (µs per request):"
  { perf report -i "$KEEP/$name.data" -g none --no-children --sort sym --stdio 2>/dev/null |
    awk -v cpu="$cpu" '/^ *[0-9.]+%/ { p = $1; sub("%", "", p); $1 = ""; printf "   %6.2f  %s\n", p * cpu / 100, substr($0, 1, 110) }' | head -15; } || true
done
