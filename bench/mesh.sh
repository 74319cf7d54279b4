#!/usr/bin/env bash
# Added latency and CPU of the bulwark proxy pair at a fixed rate, against a
# direct connection and against nginx configured as an mTLS reverse-proxy
# pair, in one run on this machine; then SVID issuance rate (cargo bench
# -p bulwark-identity --bench issuance, against P-256 key generation alone)
# and the time from a new registration entry to the workload holding its SVID.
# Needs root, nginx (Debian), python3 and the py-spiffe venv of
# scripts/install-deps.sh.
#
#   bench/mesh.sh [RPS] [SECONDS] [ROUNDS]    (defaults: 1000 requests/s, 5 s, 7 rounds)
#   BULWARK_BIN=... MESH_LOAD=...  bench/mesh.sh   (skip the release builds)
#
# Topology (loopback), each path carrying the same `GET /` to one upstream:
#   direct:       load -> upstream nginx :18080
#   bulwark:      load -> proxy outbound :18001 -mTLS 1.3-> proxy inbound :18443 -> :18080   (TCP)
#   bulwark-http: load -> proxy outbound :18003 -mTLS 1.3-> proxy inbound :18445 -> :18080   (--http:
#                 both proxies parse and authorise every request)
#   nginx:        load -> nginx :18002 -mTLS 1.3 (proxy_ssl_certificate)-> nginx :18444
#                 (ssl_verify_client) -> :18080
# The machine is shared: every round runs every path once, in a rotated
# order, and the summary takes medians over rounds of per-round values, so
# a burst of someone else's load hits all paths alike. Each run records the
# 1-minute load average and how busy the whole machine was (/proc/stat).
# Load: `mesh_load` (crates/bulwark-mesh/examples), 8 keep-alive
# connections, latency from each request's scheduled send time.
# CPU: user+system time of the proxy processes over the run (nginx: the
# mTLS instance's workers).
set -euo pipefail
cd "$(dirname "$0")/.."
RPS=${1:-1000}
SECS=${2:-5}
ROUNDS=${3:-7}
CONNS=8
command -v nginx >/dev/null || { echo "bench: nginx is missing (scripts/install-deps.sh installs nginx)" >&2; exit 1; }
if [ -z "${BULWARK_BIN:-}" ] || [ -z "${MESH_LOAD:-}" ]; then
  cargo build --release --quiet -p bulwark --bin bulwark
  cargo build --release --quiet -p bulwark-mesh --example mesh_load
fi
B=${BULWARK_BIN:-$PWD/target/release/bulwark}
LOAD=${MESH_LOAD:-$PWD/target/release/examples/mesh_load}
T=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  nginx -p "$T/up" -c nginx.conf -s stop 2>/dev/null || true
  nginx -p "$T/mtls" -c nginx.conf -s stop 2>/dev/null || true
  rm -rf "$T"
}
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

proxy() { # side extra-args...
  local side=$1; shift
  $B proxy --svid "$T/$side/svid.pem" --svid-key "$T/$side/svid.key" --bundle "$T/$side/bundle.pem" \
    --policy "$T/policy.yaml" "$@" 2>/dev/null &
  pids+=($!)
}
proxy api --inbound 127.0.0.1:18443=127.0.0.1:18080 --decision-log "$T/api.log"
tcp_pids="$!"
proxy web --outbound 127.0.0.1:18001=127.0.0.1:18443@spiffe://example.org/api --decision-log "$T/web.log"
tcp_pids="$tcp_pids $!"
proxy api --http --inbound 127.0.0.1:18445=127.0.0.1:18080 --decision-log "$T/api-http.log"
http_pids="$!"
proxy web --http --outbound 127.0.0.1:18003=127.0.0.1:18445@spiffe://example.org/api --decision-log "$T/web-http.log"
http_pids="$http_pids $!"
master=$(cat "$T/mtls/nginx.pid")
nginx_pids=$(pgrep -P "$master" | tr '\n' ' ')
sleep 1

cpu_ticks() { local t=0 f; for p in "$@"; do read -r -a f < <(sed 's/.*) //' "/proc/$p/stat"); t=$((t + f[11] + f[12])); done; echo "$t"; }
sys_ticks() { awk '/^cpu /{busy=$2+$3+$4+$7+$8+$9; print busy, busy+$5+$6}' /proc/stat; }
hz=$(getconf CLK_TCK)
run() { # round path port pids...
  local round=$1 path=$2 port=$3; shift 3
  local c0 c1 s0 s1 out load
  c0=$(cpu_ticks "$@"); s0=$(sys_ticks)
  out=$("$LOAD" "127.0.0.1:$port" "$RPS" "$SECS" "$CONNS")
  c1=$(cpu_ticks "$@"); s1=$(sys_ticks)
  load=$(cut -d' ' -f1 /proc/loadavg)
  python3 - "$out" "$round" "$path" "$c0" "$c1" "$hz" "$s0" "$s1" "$load" "$RPS" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
c0, c1, hz = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
b0, t0 = map(int, sys.argv[7].split()); b1, t1 = map(int, sys.argv[8].split())
d.update(round=int(sys.argv[2]), path=sys.argv[3], proxy_cpu_s=round((c1 - c0) / hz, 3),
         machine_busy=round((b1 - b0) / max(1, t1 - t0), 3), loadavg1=float(sys.argv[9]), rps=int(sys.argv[10]))
print(json.dumps(d))
PY
}
results="$T/results.jsonl"
paths=("direct 18080 $$" "bulwark 18001 $tcp_pids" "bulwark-http 18003 $http_pids" "nginx 18002 $nginx_pids")
for round in $(seq 1 "$ROUNDS"); do
  for i in "${!paths[@]}"; do
    # shellcheck disable=SC2086
    run "$round" ${paths[$(( (i + round) % ${#paths[@]} ))]} | tee -a "$results"
  done
done
echo "machine: nproc=$(nproc) cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\" kernel=$(uname -r)"
python3 bench/mesh_summary.py "$results" "$SECS"

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
"$VENV_PY" bench/entry_latency.py "$B" "$T/data" "$T/wl.sock" 20

# SVID issuance rate (divan: time per issuance; rate = 1 / median).
echo "SVID issuance (cargo bench -p bulwark-identity --bench issuance):"
cargo bench --quiet -p bulwark-identity --bench issuance
