# Peer proxies for the load comparison (sourced by setup.sh, not run): nginx as a plain reverse
# proxy, nginx configured as a security gateway, and HAProxy configured as one, each started
# when its binary is installed (Debian: `nginx-light` or `nginx`, `haproxy`) and NO_PEERS is
# unset. Every peer runs one worker pinned like the other proxies and keeps upstream
# connections alive to the same simulated Oracle.
#
# "Configured as a security gateway" means the per-request work an operator would give them
# to stand where erpgate stands, as far as each can express it:
#   - the caller's Basic credential checked on every request (nginx: a salted SHA-1 entry in
#     an htpasswd file; HAProxy: a userlist entry), 401 without it;
#   - an allowlist of the two measured endpoints and GET only (403 otherwise, 404 for the rest);
#   - the upstream's own credential set in Authorization, the caller's Cookie, Forwarded and
#     X-Forwarded-* headers removed;
#   - the backend's Server and X-Powered-By headers removed and the response security headers
#     set (HSTS, nosniff, frame options, no-referrer, no-store, a CSP);
#   - one JSON access-log line per request (nginx buffered 64 KiB, flushed every second; HAProxy
#     to stdout, written to a file).
# One difference in refusals, none in the measured requests: nginx answers a path off the
# allowlist with 404 before it checks the credential (`return` runs before the access phase);
# HAProxy and erpgate answer 401 first.
# What neither does that erpgate does: a policy engine, a schedule, a kill switch, a credential
# store with revocation, a tamper-evident audit trail, redaction, Oracle's query governance.
# They are the floor of "a proxy that checks a password and sets headers", not equivalents.
#
# Leaves NGINX_PORT/NGINX_PID, NGINX_GW_PORT/NGINX_GW_PID, HAPROXY_PORT/HAPROXY_PID (empty
# ports when not started) and PEER_BASIC, the Authorization header both gateways accept.

NGINX_PORT=""
# PEER_WRAP: a command the peers run under (instructions.sh: callgrind); empty by default.
[ -n "${PEER_WRAP+x}" ] || PEER_WRAP=()
NGINX_GW_PORT=""
HAPROXY_PORT=""
PEER_USER="load-peer"
PEER_PW="peer-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PEER_BASIC="Authorization: Basic $(printf '%s:%s' "$PEER_USER" "$PEER_PW" | base64 -w0)"
PEER_ALLOW='^/fscmRestApi/resources/[^/]+/(invoices/[^/]+|suppliers)$'
PEER_CSP="default-src 'none'; frame-ancestors 'none'; sandbox"

# Starts nginx with DIR/nginx.conf, pinned like the other proxies, waits for PORT and leaves
# in STARTED_PID the worker its master forked (the process to charge CPU to).
start_nginx() { # dir port
  "${PIN_PROXY[@]}" "${PEER_WRAP[@]}" nginx -c "$1/nginx.conf" -p "$1" 2>"$1/stderr.log" &
  local master=$! w
  PIDS+=("$master")
  wait_port "$2"
  sleep 0.3
  w=$(pgrep -P "$master" | head -1 || true)
  STARTED_PID=${w:-$master}
}

# Appends the peers that were started to TARGETS (name|pid|port|path|status|header), each
# on the item request, as run.sh, syscalls.sh and instructions.sh measure them.
add_peer_targets() {
  [ -z "$NGINX_PORT" ] || TARGETS+=("nginx|$NGINX_PID|$NGINX_PORT|$ITEM|200|$UPSTREAM_AUTH")
  [ -z "$NGINX_GW_PORT" ] || TARGETS+=("nginx-gateway|$NGINX_GW_PID|$NGINX_GW_PORT|$ITEM|200|$PEER_BASIC")
  [ -z "$HAPROXY_PORT" ] || TARGETS+=("haproxy-gateway|$HAPROXY_PID|$HAPROXY_PORT|$ITEM|200|$PEER_BASIC")
}

nginx_common() { # dir
  # Run as root (CI), the worker would drop to nobody and could not read the work directory.
  [ "$(id -u)" = 0 ] && echo "user root;"
  # Under PEER_WRAP (callgrind) nginx serves from one process: callgrind_control cannot reach a
  # worker forked by the master.
  [ "${#PEER_WRAP[@]}" -gt 0 ] && echo "master_process off;"
  cat <<EOF
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path $1/body;
  proxy_temp_path $1/proxy;
  fastcgi_temp_path $1/fastcgi;
  uwsgi_temp_path $1/uwsgi;
  scgi_temp_path $1/scgi;
  upstream sim { server 127.0.0.1:$SIM_PORT; keepalive 64; }
EOF
}

if [ -z "${NO_PEERS:-}" ] && command -v nginx >/dev/null; then
  # --- nginx, plain proxy_pass ---
  NGINX_PORT=$(free_port)
  d="$WORK/nginx"; mkdir -p "$d"
  { nginx_common "$d"; cat <<EOF
  access_log off;
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
  } >"$d/nginx.conf"
  start_nginx "$d" "$NGINX_PORT"
  NGINX_PID=$STARTED_PID

  # --- nginx as a security gateway ---
  NGINX_GW_PORT=$(free_port)
  d="$WORK/nginx-gw"; mkdir -p "$d"
  salt="$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  ssha="$( { printf '%s%s' "$PEER_PW" "$salt" | openssl dgst -sha1 -binary; printf '%s' "$salt"; } | base64 -w0)"
  printf '%s:{SSHA}%s\n' "$PEER_USER" "$ssha" >"$d/htpasswd"
  { nginx_common "$d"; cat <<EOF
  log_format gw escape=json '{"ts":"\$time_iso8601","request_id":"\$request_id","user":"\$remote_user",'
    '"addr":"\$remote_addr","method":"\$request_method","path":"\$uri","status":\$status,'
    '"upstream_status":"\$upstream_status","bytes":\$body_bytes_sent,"duration":\$request_time}';
  access_log $d/access.log gw buffer=64k flush=1s;
  server_tokens off;
  server {
    listen 127.0.0.1:$NGINX_GW_PORT;
    auth_basic "erpgate-peer";
    auth_basic_user_file $d/htpasswd;
    add_header Strict-Transport-Security "max-age=31536000" always;
    add_header X-Content-Type-Options nosniff always;
    add_header X-Frame-Options DENY always;
    add_header Referrer-Policy no-referrer always;
    add_header Cache-Control no-store always;
    add_header Content-Security-Policy "$PEER_CSP" always;
    location ~ $PEER_ALLOW {
      limit_except GET { deny all; }
      proxy_pass http://sim;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host 127.0.0.1:$SIM_PORT;
      proxy_set_header Authorization "${UPSTREAM_AUTH#Authorization: }";
      proxy_set_header Cookie "";
      proxy_set_header Forwarded "";
      proxy_set_header X-Forwarded-For "";
      proxy_set_header X-Forwarded-Host "";
      proxy_set_header X-Forwarded-Proto "";
      proxy_hide_header Server;
      proxy_hide_header X-Powered-By;
      proxy_hide_header Cache-Control;
    }
    location / { return 404; }
  }
}
EOF
  } >"$d/nginx.conf"
  start_nginx "$d" "$NGINX_GW_PORT"
  NGINX_GW_PID=$STARTED_PID
fi

if [ -z "${NO_PEERS:-}" ] && command -v haproxy >/dev/null; then
  HAPROXY_PORT=$(free_port)
  d="$WORK/haproxy"; mkdir -p "$d"
  cat >"$d/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4096
  log stdout format raw local0
defaults
  mode http
  log global
  option http-keep-alive
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
userlist peers
  user $PEER_USER insecure-password $PEER_PW
frontend gw
  bind 127.0.0.1:$HAPROXY_PORT
  log-format '{"ts":"%tr","request_id":"%ID","user":"%[var(txn.user)]","addr":"%ci","method":"%HM","path":"%HPO","status":%ST,"bytes":%B,"duration":%Ta}'
  unique-id-format %{+X}o%ci:%cp_%fi:%fp_%Ts_%rt:%pid
  http-request auth realm erpgate-peer unless { http_auth(peers) }
  http-request set-var(txn.user) str($PEER_USER)
  http-request deny deny_status 404 unless { path_reg $PEER_ALLOW }
  http-request deny deny_status 403 unless METH_GET
  http-request set-header Authorization "${UPSTREAM_AUTH#Authorization: }"
  http-request del-header Cookie
  http-request del-header Forwarded
  http-request del-header X-Forwarded-For
  http-request del-header X-Forwarded-Host
  http-request del-header X-Forwarded-Proto
  http-request set-header Host 127.0.0.1:$SIM_PORT
  http-response del-header Server
  http-response del-header X-Powered-By
  http-response set-header Strict-Transport-Security "max-age=31536000"
  http-response set-header X-Content-Type-Options nosniff
  http-response set-header X-Frame-Options DENY
  http-response set-header Referrer-Policy no-referrer
  http-response set-header Cache-Control no-store
  http-response set-header Content-Security-Policy "$PEER_CSP"
  default_backend sim
backend sim
  http-reuse always
  server oracle 127.0.0.1:$SIM_PORT
EOF
  haproxy -c -q -f "$d/haproxy.cfg" || { echo "haproxy rejects its configuration" >&2; exit 1; }
  "${PIN_PROXY[@]}" "${PEER_WRAP[@]}" haproxy -db -f "$d/haproxy.cfg" >"$d/access.log" 2>"$d/stderr.log" &
  HAPROXY_PID=$!; PIDS+=("$HAPROXY_PID")
  wait_port "$HAPROXY_PORT"
fi
