#!/usr/bin/env bash
# erpgate load comparison: one command, one run, every target on loopback.
#
#   benches/load/run.sh [--runs 3] [--duration 5] [--connections 32] [--out FILE]
#
# Targets, all serving the same simulated Oracle (`erpgate sim`):
#   direct        the simulator itself (the floor)
#   bare          a bare Pingora passthrough (benches/load/bare_pingora.rs), same crate versions
#   nginx         nginx as a plain reverse proxy, when installed
#   erpgate-*     erpgate with every filter on: Basic, x-api-key, gateway bearer token and
#                 an inbound Oracle user JWT (relayed with a tenant-signed assertion), all
#                 cached; audit, policy, schedule, kill switch, injection; with and without
#                 response redaction; and its denial paths (401, 403, 404)
# For each: peak requests/s (closed loop), the proxy's CPU microseconds per request (from
# /proc), then latency percentiles open-loop at half of bare Pingora's peak (corrected for
# coordinated omission: see loadgen.rs). Medians of --runs runs. Proxies are pinned to CPU 1,
# the simulator and the load generator to CPU 0 (when taskset and 2+ CPUs exist).
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

cd "$ROOT"
echo "building (release)..." >&2
cargo build --release --quiet --bin erpgate --example bare_pingora --example loadgen --example mint_jwt
BIN="$ROOT/target/release/erpgate"
BARE="$ROOT/target/release/examples/bare_pingora"
LOADGEN="$ROOT/target/release/examples/loadgen"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PIN_PROXY=()
PIN_LOAD=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  PIN_PROXY=(taskset -c 1)
  PIN_LOAD=(taskset -c 0)
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  exit 1
}
field() { sed -n "s/.*\"$1\":\\([0-9.]*\\).*/\\1/p"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print 0; else print a[int((NR+1)/2)]}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
peak_rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

# --- the simulated Oracle -------------------------------------------------------------------
# Key material for the JWT variants: a Fusion certificate the gateway trusts, a tenant key pair
# the simulator trusts, and an Oracle user token.
FUSION_ISS="https://load.fa.oraclecloud.com"
USER_JWT="$("$ROOT/target/release/examples/mint_jwt" "$WORK" LOAD.USER "$FUSION_ISS")"
SIM_PW="load-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SIM_KEY="loadkey-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SIM_PORT=$(free_port)
ERPGATE_SIM_PASSWORD="$SIM_PW" ERPGATE_SIM_API_KEY="$SIM_KEY" \
  "${PIN_LOAD[@]}" "$BIN" sim --listen "127.0.0.1:$SIM_PORT" \
  --jwt-issuer erpgate-load --jwt-cert "$WORK/tenant-cert.pem" 2>"$WORK/sim.log" &
SIM_PID=$!; PIDS+=("$SIM_PID")
wait_port "$SIM_PORT"
UPSTREAM_AUTH="Authorization: Basic $(printf 'FIN_INTEGRATION:%s' "$SIM_PW" | base64 -w0)"

# --- bare Pingora ---------------------------------------------------------------------------
BARE_PORT=$(free_port)
"${PIN_PROXY[@]}" "$BARE" "127.0.0.1:$BARE_PORT" "127.0.0.1:$SIM_PORT" 2 2>"$WORK/bare.log" &
BARE_PID=$!; PIDS+=("$BARE_PID")
wait_port "$BARE_PORT"

# --- nginx (optional) -----------------------------------------------------------------------
NGINX_PORT=""
if command -v nginx >/dev/null; then
  NGINX_PORT=$(free_port)
  mkdir -p "$WORK/nginx"
  cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  upstream sim { server 127.0.0.1:$SIM_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://sim;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host 127.0.0.1:$SIM_PORT;
    }
  }
}
EOF
  "${PIN_PROXY[@]}" nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" 2>"$WORK/nginx.log" &
  NGINX_PID=$!; PIDS+=("$NGINX_PID")
  wait_port "$NGINX_PORT"
  # The master forks one worker; measure the worker.
  sleep 0.3
  NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -1 || true)
  NGINX_PID=${NGINX_WORKER:-$NGINX_PID}
fi

# --- erpgate --------------------------------------------------------------------------------
GW_PORT=$(free_port)
cat >"$WORK/erpgate.toml" <<EOF
[gateway]
listen = "127.0.0.1:$GW_PORT"
database = "erpgate.db"
threads = 2
dangerous_allow_insecure_upstream = true
[schedule]
timezone = "Asia/Karachi"
[[schedule.window]]
days = ["daily"]
start = "00:00"
end = "24:00"
[tenants.plain]
upstream = "http://127.0.0.1:$SIM_PORT"
[tenants.plain.upstream_auth]
mode = "basic"
username = "FIN_INTEGRATION"
secret = "sim-password"
[tenants.masked]
upstream = "http://127.0.0.1:$SIM_PORT"
[tenants.masked.upstream_auth]
mode = "basic"
username = "FIN_INTEGRATION"
secret = "sim-password"
[tenants.jwt]
upstream = "http://127.0.0.1:$SIM_PORT"
[tenants.jwt.upstream_auth]
mode = "jwt"
issuer = "erpgate-load"
[tenants.jwt.inbound_jwt]
issuers = ["$FUSION_ISS"]
certificates = ["$WORK/fusion.pem"]
[[tenants.masked.redact]]
path = "items[].TaxpayerId"
action = "last4"
[[tenants.masked.redact]]
path = "**.TaxRegistrationNumber"
action = "mask"
[[tenants.masked.redact]]
path = "**.BankAccountNumber"
action = "remove"
[[endpoint]]
name = "invoices.item"
path = "/fscmRestApi/resources/{version}/invoices/{id}"
methods = ["GET"]
[[endpoint]]
name = "suppliers.collection"
path = "/fscmRestApi/resources/{version}/suppliers"
methods = ["GET"]
[[endpoint]]
name = "externalBankAccounts.collection"
path = "/fscmRestApi/resources/{version}/externalBankAccounts"
methods = ["GET"]
[[policy]]
name = "load"
subjects = ["account:load-plain", "account:load-masked", "user:LOAD.USER"]
  [[policy.rule]]
  endpoints = ["invoices.item", "suppliers.collection"]
  methods = ["GET"]
EOF
export ERPGATE_APP_KEY
ERPGATE_APP_KEY="$("$BIN" keygen)"
export ERPGATE_CONFIG="$WORK/erpgate.toml"
gw() { "$BIN" "$@"; }
gw migrate >/dev/null
gw account create --name load-plain --tenant plain >/dev/null
gw account create --name load-masked --tenant masked >/dev/null
printf '%s' "$SIM_PW" | gw secret set --tenant plain --name sim-password >/dev/null
printf '%s' "$SIM_PW" | gw secret set --tenant masked --name sim-password >/dev/null
gw tenant import-key --tenant jwt --key "$WORK/tenant-key.pem" --cert "$WORK/tenant-cert.pem" >/dev/null
json_str() { sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p"; }
PLAIN_JSON="$(gw credential issue --account load-plain --json)"
MASKED_JSON="$(gw credential issue --account load-masked --json)"
PLAIN_BASIC="Authorization: Basic $(printf '%s:%s' "$(json_str username <<<"$PLAIN_JSON")" "$(json_str password <<<"$PLAIN_JSON")" | base64 -w0)"
PLAIN_KEY="x-api-key: $(json_str api_key <<<"$PLAIN_JSON")"
MASKED_BASIC="Authorization: Basic $(printf '%s:%s' "$(json_str username <<<"$MASKED_JSON")" "$(json_str password <<<"$MASKED_JSON")" | base64 -w0)"
# Default log level (info: one line per request), as operators run it.
"${PIN_PROXY[@]}" "$BIN" serve 2>"$WORK/erpgate.log" &
GW_PID=$!; PIDS+=("$GW_PID")
wait_port "$GW_PORT"

ITEM="/fscmRestApi/resources/11.13.18.05/invoices/300100"
COLL="/fscmRestApi/resources/11.13.18.05/suppliers?limit=10"
GATEWAY_TOKEN="$(curl -s -X POST -H "$PLAIN_BASIC" "http://127.0.0.1:$GW_PORT/gateway/token" | json_str access_token)"
[ -n "$GATEWAY_TOKEN" ] || { echo "no gateway token" >&2; exit 1; }
PLAIN_BEARER="Authorization: Bearer $GATEWAY_TOKEN"
USER_BEARER="Authorization: Bearer $USER_JWT"
# Warm the credential caches (argon2 runs once per credential; RSA once per token and user).
for h in "$PLAIN_BASIC" "$MASKED_BASIC" "$PLAIN_KEY" "$PLAIN_BEARER" "$USER_BEARER"; do
  curl -s -o /dev/null -H "$h" "http://127.0.0.1:$GW_PORT$ITEM" || true
done

# name | pid of the process to charge | port | path | expected status | header (optional)
TARGETS=(
  "direct|$SIM_PID|$SIM_PORT|$ITEM|200|$UPSTREAM_AUTH"
  "bare|$BARE_PID|$BARE_PORT|$ITEM|200|$UPSTREAM_AUTH"
)
[ -n "$NGINX_PORT" ] && TARGETS+=("nginx|$NGINX_PID|$NGINX_PORT|$ITEM|200|$UPSTREAM_AUTH")
TARGETS+=(
  "erpgate-basic|$GW_PID|$GW_PORT|$ITEM|200|$PLAIN_BASIC"
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
declare -A PEAK CPU P50 P99 P999 ERR
echo "peak throughput, $RUNS run(s) of ${DURATION}s, $CONNECTIONS connections..." >&2
for t in "${TARGETS[@]}"; do
  IFS='|' read -r name pid port path expect header <<<"$t"
  rps_runs=(); cpu_runs=(); errs=0
  for _ in $(seq "$RUNS"); do
    before=$(cpu_ticks "$pid")
    r=$(load "$port" "$path" "$expect" "$header" 0 "$CONNECTIONS" "$DURATION")
    after=$(cpu_ticks "$pid")
    n=$(field requests <<<"$r"); rps=$(field rps <<<"$r"); e=$(field errors <<<"$r")
    errs=$((errs + e))
    rps_runs+=("$rps")
    # ticks are 1/CLK_TCK s; the warm-up second is charged too, so count its requests.
    cpu_runs+=("$(awk -v b="$before" -v a="$after" -v n="$n" -v r="$rps" -v tck="$(getconf CLK_TCK)" \
      'BEGIN { total = n + r; if (total > 0) printf "%.1f", (a - b) / tck * 1e6 / total; else print 0 }')")
  done
  PEAK[$name]=$(printf '%s\n' "${rps_runs[@]}" | median)
  CPU[$name]=$(printf '%s\n' "${cpu_runs[@]}" | median)
  ERR[$name]=$errs
  echo "  $name: ${PEAK[$name]} req/s, ${CPU[$name]} CPU us/req, errors $errs" >&2
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

echo "1000 concurrent keep-alive clients against erpgate..." >&2
r=$(load "$GW_PORT" "$ITEM" 200 "$PLAIN_BASIC" 0 1000 "$DURATION")
C1000_ERR=$(field errors <<<"$r"); C1000_RPS=$(field rps <<<"$r")
GW_RSS=$(peak_rss_kib "$GW_PID")
BARE_RSS=$(peak_rss_kib "$BARE_PID")

printf '\n%-30s %10s %10s %9s %9s %9s %7s\n' target "req/s" "cpu_us/req" "p50_us" "p99_us" "p99.9_us" errors
for t in "${TARGETS[@]}"; do
  IFS='|' read -r name _ <<<"$t"
  printf '%-30s %10s %10s %9s %9s %9s %7s\n' "$name" "${PEAK[$name]}" "${CPU[$name]}" "${P50[$name]}" "${P99[$name]}" "${P999[$name]}" "${ERR[$name]}"
  printf '{"target":"%s","rps":%s,"cpu_us_per_req":%s,"p50_us":%s,"p99_us":%s,"p999_us":%s,"errors":%s,"open_loop_rate":%s,"runs":%s,"duration_s":%s,"connections":%s}\n' \
    "$name" "${PEAK[$name]}" "${CPU[$name]}" "${P50[$name]}" "${P99[$name]}" "${P999[$name]}" "${ERR[$name]}" "$RATE" "$RUNS" "$DURATION" "$CONNECTIONS" >>"$OUT"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
diff_us() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", a - b }'; }
echo
echo "erpgate-basic / bare:      throughput $(ratio "${PEAK[erpgate-basic]}" "${PEAK[bare]}"), CPU per request $(ratio "${CPU[erpgate-basic]}" "${CPU[bare]}")"
echo "erpgate-basic / direct:    throughput $(ratio "${PEAK[erpgate-basic]}" "${PEAK[direct]}")"
echo "added latency over bare at $RATE req/s: p50 $(diff_us "${P50[erpgate-basic]}" "${P50[bare]}") us, p99 $(diff_us "${P99[erpgate-basic]}" "${P99[bare]}") us"
[ -n "$NGINX_PORT" ] && echo "erpgate-basic / nginx:     throughput $(ratio "${PEAK[erpgate-basic]}" "${PEAK[nginx]}"), CPU per request $(ratio "${CPU[erpgate-basic]}" "${CPU[nginx]}")"
echo "redaction on / off (10-supplier collection): throughput $(ratio "${PEAK[erpgate-collection-redacted]}" "${PEAK[erpgate-collection]}"), CPU per request $(ratio "${CPU[erpgate-collection-redacted]}" "${CPU[erpgate-collection]}")"
echo "denials vs relay (CPU per request): 401 $(ratio "${CPU[erpgate-deny-401]}" "${CPU[erpgate-basic]}"), 403 $(ratio "${CPU[erpgate-deny-403]}" "${CPU[erpgate-basic]}"), 404 $(ratio "${CPU[erpgate-deny-404]}" "${CPU[erpgate-basic]}")"
echo "1000 keep-alive clients: $C1000_RPS req/s, $C1000_ERR errors; peak RSS erpgate $((GW_RSS / 1024)) MiB, bare Pingora $((BARE_RSS / 1024)) MiB"
printf '{"summary":true,"c1000_rps":%s,"c1000_errors":%s,"erpgate_peak_rss_kib":%s,"bare_peak_rss_kib":%s,"open_loop_rate":%s}\n' \
  "$C1000_RPS" "$C1000_ERR" "$GW_RSS" "$BARE_RSS" "$RATE" >>"$OUT"
echo "results: $OUT"
