#!/usr/bin/env bash
# Added latency and CPU of the bulwark proxy pair at a fixed rate, against a
# direct connection and against nginx configured as an mTLS reverse-proxy
# pair, all in one run on this machine. Needs root, nginx (Debian), python3.
#
#   bench/mesh.sh [RPS] [SECONDS]      (defaults: 1000 requests/s, 10 s)
#   BULWARK_BIN=path/to/bulwark bench/mesh.sh   (skip the release build)
#
# Topology (loopback), each path carrying the same GET / to one upstream:
#   direct:  load -> upstream nginx :18080
#   bulwark: load -> bulwark proxy outbound :18001 -mTLS 1.3-> bulwark proxy inbound :18443 -> :18080
#   nginx:   load -> nginx :18002 -mTLS 1.3 (proxy_ssl_certificate)-> nginx :18444 (ssl_verify_client) -> :18080
# CPU is user+system time of the two proxy processes (for nginx: the mTLS
# instance's master and workers) over the measured window.
set -euo pipefail
cd "$(dirname "$0")/.."
RPS=${1:-1000}
SECS=${2:-10}
CONNS=8
command -v nginx >/dev/null || { echo "bench: nginx is missing (apt-get install nginx)" >&2; exit 1; }
if [ -n "${BULWARK_BIN:-}" ]; then
  B=$BULWARK_BIN
else
  cargo build --release --quiet -p bulwark
  B=$PWD/target/release/bulwark
fi
T=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; nginx -p "$T/up" -c nginx.conf -s stop 2>/dev/null || true; nginx -p "$T/mtls" -c nginx.conf -s stop 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT

$B identity --data-dir "$T/data" ca init --trust-domain example.org >/dev/null
$B identity --data-dir "$T/data" issue --spiffe-id spiffe://example.org/web --out "$T/web" >/dev/null
$B identity --data-dir "$T/data" issue --spiffe-id spiffe://example.org/api --out "$T/api" >/dev/null
cat > "$T/policy.yaml" <<YAML
apiVersion: bulwark.dev/v1alpha1
kind: AccessPolicy
metadata: {name: web-to-api}
spec: {to: spiffe://example.org/api, from: [spiffe://example.org/web]}
YAML

mkdir -p "$T/up/logs" "$T/mtls/logs"
cat > "$T/up/nginx.conf" <<NGX
worker_processes 1; pid $T/up/nginx.pid; error_log $T/up/logs/error.log; daemon on;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:18080; keepalive_requests 1000000; location / { return 200 "ok"; } } }
NGX
cat > "$T/mtls/nginx.conf" <<NGX
worker_processes 2; pid $T/mtls/nginx.pid; error_log $T/mtls/logs/error.log; daemon on;
events { worker_connections 1024; }
http {
  access_log off;
  upstream app { server 127.0.0.1:18080; keepalive 32; }
  upstream peer { server 127.0.0.1:18444; keepalive 32; }
  server {
    listen 127.0.0.1:18444 ssl; keepalive_requests 1000000;
    ssl_protocols TLSv1.3; ssl_certificate $T/api/svid.pem; ssl_certificate_key $T/api/svid.key;
    ssl_client_certificate $T/web/bundle.pem; ssl_verify_client on; ssl_verify_depth 3;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:18002; keepalive_requests 1000000;
    location / {
      proxy_pass https://peer; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_ssl_protocols TLSv1.3; proxy_ssl_certificate $T/web/svid.pem; proxy_ssl_certificate_key $T/web/svid.key;
      proxy_ssl_session_reuse on; proxy_ssl_verify off;
    }
  }
}
NGX
nginx -p "$T/up" -c nginx.conf
nginx -p "$T/mtls" -c nginx.conf

$B proxy --svid "$T/api/svid.pem" --svid-key "$T/api/svid.key" --bundle "$T/api/bundle.pem" \
  --inbound 127.0.0.1:18443=127.0.0.1:18080 --policy "$T/policy.yaml" --decision-log "$T/api.log" 2>/dev/null &
pids+=($!)
$B proxy --svid "$T/web/svid.pem" --svid-key "$T/web/svid.key" --bundle "$T/web/bundle.pem" \
  --outbound 127.0.0.1:18001=127.0.0.1:18443@spiffe://example.org/api --decision-log "$T/web.log" 2>/dev/null &
pids+=($!)
sleep 1

cpu() { local t=0; for p in "$@"; do read -r -a f < "/proc/$p/stat"; t=$((t + f[13] + f[14])); done; echo "$t"; }
nginx_pids() { pgrep -f "nginx: .*$T/mtls" || true; pgrep -P "$(cat "$T/mtls/nginx.pid")" || true; cat "$T/mtls/nginx.pid"; }
hz=$(getconf CLK_TCK)
run() { # name port pids...
  local name=$1 port=$2; shift 2
  local before after
  before=$(cpu "$@")
  local out; out=$(python3 bench/mesh_latency.py "127.0.0.1:$port" "$RPS" "$SECS" "$CONNS")
  after=$(cpu "$@")
  python3 -c "import json,sys; d=json.loads(sys.argv[1]); d['name']=sys.argv[2]; d['cpu_s']=round((int(sys.argv[4])-int(sys.argv[3]))/int(sys.argv[5]),3); print(json.dumps(d))" "$out" "$name" "$before" "$after" "$hz"
}
run direct 18080 "$$"
run bulwark 18001 "${pids[@]}"
mapfile -t npids < <(pgrep -f "nginx: worker process" | while read -r p; do grep -qs "$T/mtls" "/proc/$(ps -o ppid= -p "$p" | tr -d ' ')/cmdline" && echo "$p"; done; cat "$T/mtls/nginx.pid")
run nginx 18002 "${npids[@]}"
echo "machine: nproc=$(nproc) cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\" kernel=$(uname -r)"

# Registration entry -> SVID at the workload (py-spiffe streaming client).
VENV_PY=$PWD/.cache/venv/bin/python3
[ -x "$VENV_PY" ] || { echo "bench: run scripts/install-deps.sh first (py-spiffe)" >&2; exit 1; }
cat > "$T/first.yaml" <<YAML
apiVersion: bulwark.dev/v1alpha1
kind: WorkloadIdentity
metadata: {name: first}
spec: {spiffeId: spiffe://example.org/first, selectors: {uid: 0}}
YAML
$B identity --data-dir "$T/data" entry add "$T/first.yaml" >/dev/null
$B identity --data-dir "$T/data" serve --socket "$T/wl.sock" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -S "$T/wl.sock" ] && break; sleep 0.05; done
"$VENV_PY" bench/entry_latency.py "$B" "$T/data" "$T/wl.sock" 10
