#!/usr/bin/env bash
# erpgate on SQLite vs erpgate on PostgreSQL, side by side in one run: the same configuration,
# the same simulated Oracle, Basic credentials (cached), every filter and the audit trail on.
# The relay serves warm requests from memory on both; what differs is where the audit records
# are committed (and the change notifications). PostgreSQL runs as a private cluster with its
# default durability (fsync on, synchronous_commit on).
#
#   benches/load/store.sh [--runs 3] [--duration 5] [--connections 32]
#
# Needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin). Prints the median peak
# requests/s and the proxy's CPU microseconds per request of each, and their ratios.
set -euo pipefail

RUNS=3
DURATION=5
CONNECTIONS=32
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }

PROXY_WRAP=()
NO_PEERS=1
# shellcheck source=benches/load/setup.sh
source "$ROOT/benches/load/setup.sh"

# --- a private PostgreSQL cluster (as nobody when run as root: PostgreSQL refuses root) -----
# Its own directory: the work directory is private to this user, and the server runs as another.
PGDIR="$(mktemp -d)"
AS=()
if [ "$(id -u)" = 0 ]; then
  chown nobody "$PGDIR"
  AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
fi
PG_PW="pg-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$PG_PW" >"$WORK/pg.pass"
chmod 600 "$WORK/pg.pass"
cp "$WORK/pg.pass" "$PGDIR/pw"
[ "$(id -u)" = 0 ] && chown nobody "$PGDIR/pw"
PG_PORT=$(free_port)
"${AS[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -U erpgate --pwfile "$PGDIR/pw" \
  --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --no-instructions >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
  -o "-p $PG_PORT -k $PGDIR -c listen_addresses=127.0.0.1" start >/dev/null
stop_pg() { [ -n "${KEEP_LOGS:-}" ] && cp "$WORK/erpgate-pg.log" /tmp/erpgate-pg.log;  "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate -w stop >/dev/null 2>&1 || true; }
trap 'stop_pg; rm -rf "$PGDIR"; cleanup' EXIT

# --- the same gateway on PostgreSQL ---------------------------------------------------------
PG_GW_PORT=$(free_port)
sed -e "s|^listen = .*|listen = \"127.0.0.1:$PG_GW_PORT\"|" \
    -e "s|^database = .*|database = \"postgres://erpgate@127.0.0.1:$PG_PORT/postgres\"\\ndatabase_password_file = \"$WORK/pg.pass\"\\nupgrade_socket = \"$WORK/pg-upgrade.sock\"|" \
    "$WORK/erpgate.toml" >"$WORK/erpgate-pg.toml"
pgw() { ERPGATE_CONFIG="$WORK/erpgate-pg.toml" "$BIN" "$@"; }
pgw migrate >/dev/null
pgw account create --name load-plain --tenant plain >/dev/null
printf '%s' "$SIM_PW" | pgw secret set --tenant plain --name sim-password >/dev/null
printf '%s' "$SIM_PW" | pgw secret set --tenant masked --name sim-password >/dev/null
pgw tenant import-key --tenant jwt --key "$WORK/tenant-key.pem" --cert "$WORK/tenant-cert.pem" >/dev/null
PG_JSON="$(pgw credential issue --account load-plain --json)"
PG_BASIC="Authorization: Basic $(printf '%s:%s' "$(json_str username <<<"$PG_JSON")" "$(json_str password <<<"$PG_JSON")" | base64 -w0)"
ERPGATE_CONFIG="$WORK/erpgate-pg.toml" "${PIN_PROXY[@]}" "$BIN" serve 2>"$WORK/erpgate-pg.log" &
PG_GW_PID=$!; PIDS+=("$PG_GW_PID")
wait_port "$PG_GW_PORT"
curl -s -o /dev/null -H "$PG_BASIC" "http://127.0.0.1:$PG_GW_PORT$ITEM"

load() { # port header
  "${PIN_LOAD[@]}" "$LOADGEN" --url "http://127.0.0.1:$1$ITEM" --expect 200 --rate 0 \
    --connections "$CONNECTIONS" --duration "$DURATION" --warmup 1 --header "$2"
}
declare -A RPS CPUS
for _ in $(seq "$RUNS"); do
  # Alternate, so drift on a shared machine lands on both.
  for target in "sqlite|$GW_PID|$GW_PORT|$PLAIN_BASIC" "postgres|$PG_GW_PID|$PG_GW_PORT|$PG_BASIC"; do
    IFS='|' read -r name pid port header <<<"$target"
    before=$(cpu_ticks "$pid")
    r=$(load "$port" "$header")
    after=$(cpu_ticks "$pid")
    n=$(field requests <<<"$r"); rps=$(field rps <<<"$r"); e=$(field errors <<<"$r")
    [ "$e" = 0 ] || { echo "$name: $e errors" >&2; exit 1; }
    RPS[$name]+="$rps "
    CPUS[$name]+="$(us_per_request "$before" "$after" "$n" "$rps") "
    echo "  $name: $rps req/s" >&2
  done
done
med() { tr ' ' '\n' | grep -v '^$' | median; }
S_RPS=$(med <<<"${RPS[sqlite]}"); P_RPS=$(med <<<"${RPS[postgres]}")
S_CPU=$(med <<<"${CPUS[sqlite]}"); P_CPU=$(med <<<"${CPUS[postgres]}")
printf '\n%-10s %10s %12s\n' store "req/s" "cpu_us/req"
printf '%-10s %10s %12s\n' sqlite "$S_RPS" "$S_CPU" postgres "$P_RPS" "$P_CPU"
echo "postgres / sqlite: throughput $(awk -v a="$P_RPS" -v b="$S_RPS" 'BEGIN { printf "%.2f", a / b }'), CPU per request $(awk -v a="$P_CPU" -v b="$S_CPU" 'BEGIN { printf "%.2f", a / b }') (medians of $RUNS runs of ${DURATION}s, $CONNECTIONS connections)"
audited=$(pgw audit query --json --limit 1000000 | grep -c '"decision":"relayed"' || true)
echo "relayed records in the PostgreSQL trail: $audited; $(pgw audit verify)"
