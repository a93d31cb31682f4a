#!/usr/bin/env bash
# Redaction's cost on a modest-large body: the simulator's 260-invoice collection (≈ 62 KB,
# streamed in two pieces, under the 64 KiB a masked body is held for), relayed by bare Pingora
# and by erpgate three ways: without rules (tenant plain), under a rule that names nothing in it
# (tenant other: the body is held and leaves unparsed, `redact::hold`) and under rules that name
# a field of every invoice (tenant masked: the masker reads it all). Each round loads every
# target in turn (the order alternates between rounds); it prints the proxy's CPU per request
# per round, the medians and the ratios to erpgate without rules.
#
#   benches/load/big.sh [--rounds 3] [--seconds 5]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
ROUNDS=3
SECONDS_RUN=5
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --seconds) SECONDS_RUN="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$ROUNDS" in ''|*[!0-9]*|0) echo "--rounds takes a number of rounds, 1 or more" >&2; exit 2 ;; esac

NO_PEERS=1
PROXY_WRAP=()
# shellcheck source=benches/load/setup.sh
source "$ROOT/benches/load/setup.sh"

# The rules do what the names say, or the comparison means nothing.
body_of() { curl -sS --fail -H "$2" "http://127.0.0.1:$1$BIG"; }
plain=$(body_of "$GW_PORT" "$PLAIN_BASIC")
other=$(body_of "$GW_PORT" "$OTHER_BASIC")
masked=$(body_of "$GW_PORT" "$MASKED_BASIC")
count() { grep -o "$1" <<<"$2" | wc -l; }
[ "$(count '"BankAccountNumber"' "$plain")" -eq 260 ] || { echo "the body is not the 260 invoices expected" >&2; exit 1; }
[ "$other" = "$plain" ] || { echo "a rule naming nothing in the body changed it" >&2; exit 1; }
[ "$(count '"BankAccountNumber"' "$masked")" -eq 0 ] || { echo "tenant masked's rules did not remove the field" >&2; exit 1; }
echo "body: ${#plain} bytes through erpgate, ${#masked} masked" >&2

TARGETS=(
  "bare|$BARE_PID|$BARE_PORT|$UPSTREAM_AUTH"
  "plain|$GW_PID|$GW_PORT|$PLAIN_BASIC"
  "other|$GW_PID|$GW_PORT|$OTHER_BASIC"
  "masked|$GW_PID|$GW_PORT|$MASKED_BASIC"
)
# Bodies that went out unparsed: every request of tenant other's must be one, none of the rest.
unparsed() {
  curl -sS --fail "http://127.0.0.1:$METRICS_PORT/metrics" |
    sed -n 's/^erpgate_redaction_bodies_unparsed_total \([0-9]*\)$/\1/p'
}
declare -A RUNS_OF
RATIOS=()
for round in $(seq "$ROUNDS"); do
  order=("${TARGETS[@]}")
  if [ $((round % 2)) -eq 0 ]; then
    order=("${TARGETS[3]}" "${TARGETS[2]}" "${TARGETS[1]}" "${TARGETS[0]}")
  fi
  line="round $round:"
  declare -A THIS=()
  for t in "${order[@]}"; do
    IFS='|' read -r name pid port header <<<"$t"
    u0=$(unparsed)
    before=$(cpu_ticks "$pid")
    r=$("${PIN_LOAD[@]}" "$LOADGEN" --url "http://127.0.0.1:$port$BIG" --expect 200 --rate 0 \
      --connections 32 --duration "$SECONDS_RUN" --warmup 1 --header "$header")
    after=$(cpu_ticks "$pid")
    n=$(field requests <<<"$r"); rps=$(field rps <<<"$r"); errors=$(field errors <<<"$r")
    if [ "${errors:-1}" != 0 ]; then
      echo "$name: ${errors:-unknown} errors: $r" >&2
      exit 1
    fi
    u=$(( $(unparsed) - u0 ))
    # The load's own count leaves out its warm-up second; the counter does not.
    if { [ "$name" = other ] && [ "$u" -lt "$n" ]; } || { [ "$name" != other ] && [ "$u" -ne 0 ]; }; then
      echo "$name: $u bodies went out unparsed over $n requests" >&2
      exit 1
    fi
    us=$(us_per_request "$before" "$after" "$n" "$rps")
    RUNS_OF[$name]="${RUNS_OF[$name]:-} $us"
    THIS[$name]=$us
    line="$line $name $us"
  done
  RATIOS+=("$(awk -v a="${THIS[other]}" -v b="${THIS[plain]}" 'BEGIN { printf "%.3f", a / b }')")
  echo "$line (CPU us per request; other/plain ${RATIOS[-1]})" >&2
done

declare -A MED
printf '\n%-8s %12s %s\n' target "cpu_us/req" "(median of $ROUNDS rounds)"
for t in "${TARGETS[@]}"; do
  name="${t%%|*}"
  # shellcheck disable=SC2086
  MED[$name]=$(printf '%s\n' ${RUNS_OF[$name]} | median)
  printf '%-8s %12s\n' "$name" "${MED[$name]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "erpgate without rules / bare Pingora: $(ratio "${MED[plain]}" "${MED[bare]}")"
echo "a rule naming nothing in the body / no rules (held, unparsed): $(ratio "${MED[other]}" "${MED[plain]}") (median of the rounds' own ratios: $(printf '%s\n' "${RATIOS[@]}" | median))"
echo "rules naming a field of every invoice / no rules (masked): $(ratio "${MED[masked]}" "${MED[plain]}")"
