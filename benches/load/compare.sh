#!/usr/bin/env bash
# Two erpgate builds (or one build under two environments), measured alternately in rounds:
# each round starts a fresh stack (setup.sh) for each side in turn and loads it at full speed
# with run.sh's Basic item, the same item under the redaction rule, and bare Pingora beside
# it. It prints the proxy's CPU per request (and the audit writer's share) per round and the
# medians per side. Alternating rounds (A B, then B A) put both sides through the same moments
# of a noisy machine, which back-to-back runs of run.sh do not. Any failed request or wrong
# status ends it with an error. Do not edit the tree meanwhile: each round runs setup.sh,
# which builds.
#
#   benches/load/compare.sh A B [--rounds 3] [--seconds 5]
#
# A and B are erpgate binaries, or wrappers that set an environment and exec one, e.g.
#   printf '#!/bin/sh\nGLIBC_TUNABLES= exec /path/erpgate "$@"\n' > /tmp/defaults
# (the gateway with glibc's allocator defaults instead of its own settings).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
[ $# -ge 2 ] || { echo "usage: $0 A B [--rounds N] [--seconds S]" >&2; exit 2; }
SIDE_A="$(realpath "$1")"
SIDE_B="$(realpath "$2")"
shift 2
ROUNDS=3
SECONDS_RUN=5
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --seconds) SECONDS_RUN="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
for b in "$SIDE_A" "$SIDE_B"; do
  [ -x "$b" ] || { echo "$b is not an executable" >&2; exit 2; }
done
case "$ROUNDS" in ''|*[!0-9]*|0) echo "--rounds takes a number of rounds, 1 or more" >&2; exit 2 ;; esac
# Each side chooses its own allocator settings (a wrapper may set GLIBC_TUNABLES); one
# inherited from this shell would stop erpgate from applying its own on both sides.
if [ -n "${GLIBC_TUNABLES+set}" ]; then
  echo "note: GLIBC_TUNABLES ($GLIBC_TUNABLES) is unset for the comparison" >&2
  unset GLIBC_TUNABLES
fi

# One side, one round: a fresh stack, then a line per target (side, target, rps, µs).
measure() { # side-label binary
  (
    NO_PEERS=1
    PROXY_WRAP=()
    ERPGATE_BIN="$2"
    # shellcheck source=benches/load/setup.sh
    source "$ROOT/benches/load/setup.sh" >/dev/null
    for t in "basic|$GW_PID|$GW_PORT|$PLAIN_BASIC" "redacted|$GW_PID|$GW_PORT|$MASKED_BASIC" \
      "bare|$BARE_PID|$BARE_PORT|$UPSTREAM_AUTH"; do
      IFS='|' read -r name pid port header <<<"$t"
      before=$(cpu_ticks "$pid"); wbefore=$(thread_ticks "$pid" erpgate-audit)
      r=$("${PIN_LOAD[@]}" "$LOADGEN" --url "http://127.0.0.1:$port$ITEM" --expect 200 --rate 0 \
        --connections 32 --duration "$SECONDS_RUN" --warmup 1 --header "$header")
      after=$(cpu_ticks "$pid"); wafter=$(thread_ticks "$pid" erpgate-audit)
      n=$(field requests <<<"$r"); rps=$(field rps <<<"$r"); errors=$(field errors <<<"$r")
      # A side that fails fast would look cheap: any error ends the comparison.
      if [ "${errors:-1}" != 0 ]; then
        echo "side $1, $name: ${errors:-unknown} errors (a wrong status or a failed request): $r" >&2
        exit 1
      fi
      printf '%s %s %.0f %s %s\n' "$1" "$name" "$rps" "$(us_per_request "$before" "$after" "$n" "$rps")" \
        "$(us_per_request "$wbefore" "$wafter" "$n" "$rps" "%.2f")"
    done
  )
}

# The median of the numbers on standard input (the mean of the middle two for an even count).
median_of() {
  sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1;
    print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

RESULTS="$(mktemp)"
trap 'rm -f "$RESULTS"' EXIT
printf '%-6s %-5s %-9s %10s %16s %12s\n' round side target "req/s" "CPU µs/request" "writer µs"
for round in $(seq "$ROUNDS"); do
  # A then B in odd rounds, B then A in even ones: a drift within a round favours neither.
  order="A B"; [ $((round % 2)) = 0 ] && order="B A"
  for side in $order; do
    bin="$SIDE_A"; [ "$side" = B ] && bin="$SIDE_B"
    measure "$side" "$bin" | tee -a "$RESULTS" |
      awk -v r="$round" '{ printf "%-6s %-5s %-9s %10s %16s %12s\n", r, $1, $2, $3, $4, $5 }'
  done
done
echo
echo "medians over $ROUNDS rounds (A: $SIDE_A, B: $SIDE_B)"
for target in basic redacted bare; do
  for side in A B; do
    m=$(awk -v s="$side" -v t="$target" '$1 == s && $2 == t { print $4 }' "$RESULTS" | median_of)
    printf '%-9s %s: %.1f µs of CPU per request\n' "$target" "$side" "$m"
  done
done
for side in A B; do
  awk -v s="$side" '$1 == s && $2 == "basic" { b[++nb] = $4 } $1 == s && $2 == "bare" { p[++np] = $4 }
    END { n = (nb < np) ? nb : np; for (i = 1; i <= n; i++) print b[i] / p[i] }' "$RESULTS" |
    median_of | awk -v s="$side" '{ printf "%s: erpgate (Basic) / bare Pingora in the same round, median %.2f\n", s, $1 }'
done
