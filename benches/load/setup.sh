# Shared by run.sh and instructions.sh (sourced, not run): builds the binaries and starts the
# simulated Oracle, bare Pingora, the peers of peers.sh (nginx and HAProxy, when installed and
# NO_PEERS is unset) and erpgate with
# every filter on, then warms erpgate's credential caches. Expects ROOT; PROXY_WRAP (an array,
# e.g. a valgrind command line) prefixes the bare Pingora and erpgate processes, WAIT_TRIES
# (tenths of a second) bounds how long each may take to listen, AUDIT_LINGER_MS sets
# gateway.audit_linger_ms (unset: the gateway's default), ERPGATE_BIN runs another erpgate
# binary (an older build, for a before/after comparison). Leaves SIM_PID, BARE_PID, METRICS_PORT
# (erpgate's metrics listener),
# the peers' pids and ports (peers.sh), GW_PID and the ports, headers and paths the measurements use; every
# process is stopped and the work directory removed on exit.
cd "$ROOT"
echo "building (release)..." >&2
cargo build --release --quiet --bin erpgate --example bare_pingora --example loadgen --example mint_jwt
BIN="${ERPGATE_BIN:-$ROOT/target/release/erpgate}"
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

# Worker threads of bare Pingora and erpgate (PROXY_THREADS, default 1: the proxies are pinned
# to one core, where a second worker only adds switches; nginx and HAProxy run one as well).
PROXY_THREADS="${PROXY_THREADS:-1}"
PIN_PROXY=()
PIN_LOAD=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  PIN_PROXY=(taskset -c 1)
  PIN_LOAD=(taskset -c 0)
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }
wait_port() {
  for _ in $(seq "${WAIT_TRIES:-100}"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  exit 1
}
field() { sed -n "s/.*\"$1\":\\([0-9.]*\\).*/\\1/p"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print 0; else print a[int((NR+1)/2)]}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)
# CPU µs per request between two tick readings (cpu_ticks, thread_ticks) around one load:
# ticks are 1/CLK_TCK s, and the load's warm-up second is charged too, so its requests (about
# one second's rate) count. The fifth argument is the printf format (default %.1f).
us_per_request() { # before after requests rps [format]
  awk -v b="$1" -v a="$2" -v n="$3" -v r="$4" -v t="$CLK_TCK" -v f="${5:-%.1f}" \
    'BEGIN { total = n + r; if (total > 0) printf f, (a - b) / t * 1e6 / total; else print 0 }'
}
peak_rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
# CPU ticks of one named thread of a process (0 when it has none): the audit writer's share.
thread_ticks() {
  local t
  for t in /proc/"$1"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = "$2" ] && { awk '{print $14 + $15}' "$t/stat"; return; }
  done
  echo 0
}

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
"${PIN_PROXY[@]}" "${PROXY_WRAP[@]}" "$BARE" "127.0.0.1:$BARE_PORT" "127.0.0.1:$SIM_PORT" "$PROXY_THREADS" 2>"$WORK/bare.log" &
BARE_PID=$!; PIDS+=("$BARE_PID")
wait_port "$BARE_PORT"

# --- nginx and HAProxy (optional: when installed and NO_PEERS is unset) -------------------
# shellcheck source=benches/load/peers.sh
source "$ROOT/benches/load/peers.sh"

# --- erpgate --------------------------------------------------------------------------------
GW_PORT=$(free_port)
METRICS_PORT=$(free_port)
cat >"$WORK/erpgate.toml" <<EOF
[gateway]
listen = "127.0.0.1:$GW_PORT"
database = "erpgate.db"
threads = $PROXY_THREADS
metrics_listen = "127.0.0.1:$METRICS_PORT"
dangerous_allow_insecure_upstream = true
${AUDIT_LINGER_MS:+audit_linger_ms = $AUDIT_LINGER_MS}
[schedule]
timezone = "Asia/Karachi"
[[schedule.window]]
days = ["daily"]
start = "00:00"
end = "24:00"
[tenants.plain]
upstream = "http://127.0.0.1:$SIM_PORT"
unknown_query_parameters = "allow"
[tenants.plain.upstream_auth]
mode = "basic"
username = "FIN_INTEGRATION"
secret = "sim-password"
[tenants.masked]
upstream = "http://127.0.0.1:$SIM_PORT"
unknown_query_parameters = "allow"
[tenants.masked.upstream_auth]
mode = "basic"
username = "FIN_INTEGRATION"
secret = "sim-password"
[tenants.other]
upstream = "http://127.0.0.1:$SIM_PORT"
unknown_query_parameters = "allow"
[tenants.other.upstream_auth]
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
audience = "erpgate-load"
[[tenants.masked.redact]]
path = "items[].TaxpayerId"
action = "last4"
[[tenants.masked.redact]]
path = "**.TaxRegistrationNumber"
action = "mask"
[[tenants.masked.redact]]
path = "**.BankAccountNumber"
action = "remove"
[[tenants.other.redact]]
path = "**.TaxpayerId"
action = "remove"
[[endpoint]]
name = "invoices.item"
path = "/fscmRestApi/resources/{version}/invoices/{id}"
methods = ["GET"]
[[endpoint]]
name = "invoices.collection"
path = "/fscmRestApi/resources/{version}/invoices"
methods = ["POST"]
[[endpoint]]
name = "suppliers.collection"
path = "/fscmRestApi/resources/{version}/suppliers"
methods = ["GET"]
[[endpoint]]
name = "externalBankAccounts.collection"
path = "/fscmRestApi/resources/{version}/externalBankAccounts"
methods = ["GET"]
[[endpoint]]
name = "sim.big"
path = "/__sim/big"
methods = ["GET"]
[[policy]]
name = "load"
subjects = ["account:load-plain", "account:load-masked", "account:load-other", "user:LOAD.USER"]
  [[policy.rule]]
  endpoints = ["invoices.item", "suppliers.collection", "sim.big"]
  methods = ["GET"]
  [[policy.rule]]
  endpoints = ["invoices.collection"]
  methods = ["POST"]
  headers = ["Upsert-Mode"]
EOF
export ERPGATE_APP_KEY
ERPGATE_APP_KEY="$("$BIN" keygen)"
export ERPGATE_CONFIG="$WORK/erpgate.toml"
gw() { "$BIN" "$@"; }
gw migrate >/dev/null
gw account create --name load-plain --tenant plain >/dev/null
gw account create --name load-masked --tenant masked >/dev/null
gw account create --name load-other --tenant other >/dev/null
for t in plain masked other; do
  printf '%s' "$SIM_PW" | gw secret set --tenant "$t" --name sim-password >/dev/null
done
gw tenant import-key --tenant jwt --key "$WORK/tenant-key.pem" --cert "$WORK/tenant-cert.pem" >/dev/null
json_str() { sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p"; }
PLAIN_JSON="$(gw credential issue --account load-plain --json)"
MASKED_JSON="$(gw credential issue --account load-masked --json)"
PLAIN_BASIC="Authorization: Basic $(printf '%s:%s' "$(json_str username <<<"$PLAIN_JSON")" "$(json_str password <<<"$PLAIN_JSON")" | base64 -w0)"
PLAIN_KEY="x-api-key: $(json_str api_key <<<"$PLAIN_JSON")"
MASKED_BASIC="Authorization: Basic $(printf '%s:%s' "$(json_str username <<<"$MASKED_JSON")" "$(json_str password <<<"$MASKED_JSON")" | base64 -w0)"
OTHER_JSON="$(gw credential issue --account load-other --json)"
OTHER_BASIC="Authorization: Basic $(printf '%s:%s' "$(json_str username <<<"$OTHER_JSON")" "$(json_str password <<<"$OTHER_JSON")" | base64 -w0)"
# Default log level (info: one line per request), as operators run it; glibc's mmap threshold
# fixed as the shipped systemd unit and image fix it (MALLOC_MMAP_THRESHOLD_, 4 MiB, and
# MALLOC_TRIM_THRESHOLD_, 8 MiB).
MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-4194304}" MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-8388608}" \
  "${PIN_PROXY[@]}" "${PROXY_WRAP[@]}" "$BIN" serve 2>"$WORK/erpgate.log" &
GW_PID=$!; PIDS+=("$GW_PID")
wait_port "$GW_PORT"

ITEM="/fscmRestApi/resources/11.13.18.05/invoices/300100"
# An upload (syscalls.sh): a 16,370-byte JSON body upserted into that invoice, so however many
# are sent the simulator keeps one invoice for them (made 16 KiB larger by the first).
INVOICES="/fscmRestApi/resources/11.13.18.05/invoices"
UPLOAD="$WORK/upload.json"
{ printf '{"InvoiceId": 300100, "Description": "'; head -c 16330 /dev/zero | tr '\0' x; printf '"}'; } >"$UPLOAD"
COLL="/fscmRestApi/resources/11.13.18.05/suppliers?limit=10"
# A 260-invoice collection (≈ 62 KB, under the 64 KiB a masked body is held for), streamed by
# the simulator in two pieces; each invoice has a BankAccountNumber, which tenant masked's
# rules remove and tenant other's rule (**.TaxpayerId) does not name (big.sh).
BIG="/__sim/big?items=260"
GATEWAY_TOKEN="$(curl -s -X POST -H "$PLAIN_BASIC" "http://127.0.0.1:$GW_PORT/gateway/token" | json_str access_token)"
[ -n "$GATEWAY_TOKEN" ] || { echo "no gateway token" >&2; exit 1; }
PLAIN_BEARER="Authorization: Bearer $GATEWAY_TOKEN"
USER_BEARER="Authorization: Bearer $USER_JWT"
# Warm the credential caches (argon2 runs once per credential; RSA once per token and user).
for h in "$PLAIN_BASIC" "$MASKED_BASIC" "$OTHER_BASIC" "$PLAIN_KEY" "$PLAIN_BEARER" "$USER_BEARER"; do
  curl -s -o /dev/null -H "$h" "http://127.0.0.1:$GW_PORT$ITEM" || true
done

# The same erpgate behind TLS (memory.sh and syscalls.sh with --tls): a second process on its
# own port and upgrade socket, with the same store and accounts, and a self-signed certificate
# made by openssl (IP SAN 127.0.0.1). Leaves TLS_PORT, TLS_PID and TLS_CA (the certificate the
# load generator trusts).
start_tls_gateway() {
  TLS_PORT=$(free_port)
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=erpgate-load -addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE \
    -keyout "$WORK/tls-key.pem" -out "$WORK/tls-cert.pem" 2>/dev/null
  sed -e "s/^listen = .*/listen = \"127.0.0.1:$TLS_PORT\"\nupgrade_socket = \"erpgate-tls-upgrade.sock\"/" \
    "$WORK/erpgate.toml" >"$WORK/erpgate-tls.toml"
  printf '[gateway.tls]\ncert_file = "tls-cert.pem"\nkey_file = "tls-key.pem"\n' >>"$WORK/erpgate-tls.toml"
  chmod 600 "$WORK/tls-key.pem"
  MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-4194304}" MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-8388608}" ERPGATE_CONFIG="$WORK/erpgate-tls.toml" \
    "${PIN_PROXY[@]}" "${PROXY_WRAP[@]}" "$BIN" serve 2>"$WORK/erpgate-tls.log" &
  TLS_PID=$!; PIDS+=("$TLS_PID")
  wait_port "$TLS_PORT"
  curl -sS --fail -o /dev/null --cacert "$WORK/tls-cert.pem" -H "$PLAIN_BASIC" "https://127.0.0.1:$TLS_PORT$ITEM" \
    || { echo "the TLS gateway did not answer (log: $WORK/erpgate-tls.log)" >&2; cat "$WORK/erpgate-tls.log" >&2; exit 1; }
  TLS_CA="$WORK/tls-cert.pem"
}
