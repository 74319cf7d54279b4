#!/usr/bin/env bash
# Walk-only benchmark for bulwark-image: wall time and peak RSS of
# `bulwark image-walk` (decompress + tar walk + both digests) against a
# baseline measured in the same run: `gzip -dc | tar -t` (GNU tar listing the
# same layer blobs). Images:
#   many-files  one gzip layer with 300,000 small files (bench/gen_many_files_image.py),
#               to show RSS does not grow with the number of entries
#   tiny        three small files (the RSS floor)
#   debian      the bookworm image of bulwark-sbom's fixtures (6 layers), if
#               DEBIAN_IMAGE points at its OCI layout or
#               crates/bulwark-sbom/tests/fixtures/build-images.sh can build it
# Fixtures are cached in target/bench-fixtures. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/target/bench-fixtures
mkdir -p "$out"
RUNS=${RUNS:-3}

cargo build --release --quiet -p bulwark
bin=$root/target/release/bulwark

if [ ! -f "$out/many-files/index.json" ]; then
    rm -rf "$out/many-files"
    python3 bench/gen_many_files_image.py "$out/many-files" 300000
fi
if [ ! -f "$out/tiny/index.json" ]; then
    rm -rf "$out/tiny"
    python3 bench/gen_many_files_image.py "$out/tiny" 3
fi
debian=${DEBIAN_IMAGE:-$root/target/sbom-fixtures/oci}
if [ ! -f "$debian/index.json" ] && [ -z "${DEBIAN_IMAGE:-}" ]; then
    crates/bulwark-sbom/tests/fixtures/build-images.sh >&2 || echo "image-walk: Debian fixture unavailable, skipped" >&2
fi

# Median of RUNS runs of a command: "seconds max_rss_kib".
measure() {
    local results=()
    for _ in $(seq "$RUNS"); do
        results+=("$(/usr/bin/time -f '%e %M' "$@" 2>&1 >/dev/null | tail -1)")
    done
    printf '%s\n' "${results[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
}

# The layer blobs of a layout's first image, one path a line.
layer_blobs() {
    python3 - "$1" <<'PY'
import json, os, sys
layout = sys.argv[1]
def blob(d): return os.path.join(layout, "blobs", *d["digest"].split(":"))
m = json.load(open(os.path.join(layout, "index.json")))["manifests"][0]
m = json.load(open(blob(m)))
if "manifests" in m:
    m = json.load(open(blob(m["manifests"][0])))
for layer in m["layers"]:
    print(blob(layer))
PY
}

# Baseline: decompress and list every layer blob with GNU tar.
cat > "$out/baseline.sh" <<'SH'
while read -r blob; do
    case $(head -c4 "$blob" | od -An -tx1 | tr -d ' ') in
        1f8b*) gzip -dc "$blob" | tar -tf - >/dev/null ;;
        28b52ffd) zstd -dc "$blob" | tar -tf - >/dev/null ;;
        *) tar -tf "$blob" >/dev/null ;;
    esac
done < "$1"
SH

echo "| image | entries | uncompressed | bulwark image-walk (s) | gzip -dc \| tar -t (s) | ratio | peak RSS (MiB) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for name in tiny many-files debian; do
    layout=$out/$name
    [ "$name" = debian ] && layout=$debian
    [ -f "$layout/index.json" ] || continue
    summary=$("$bin" image-walk "$layout")
    entries=$(echo "$summary" | python3 -c 'import json,sys; print(json.load(sys.stdin)["entries"])')
    bytes=$(echo "$summary" | python3 -c 'import json,sys; print(json.load(sys.stdin)["uncompressed_bytes"] // 1048576)')
    read -r walk_s walk_kib <<<"$(measure "$bin" image-walk "$layout")"
    layer_blobs "$layout" > "$out/$name.blobs"
    read -r base_s _ <<<"$(measure bash "$out/baseline.sh" "$out/$name.blobs")"
    ratio=$(python3 -c "print(f'{$walk_s / $base_s:.2f}' if $base_s >= 0.05 else '-')")
    echo "| $name | $entries | ${bytes} MiB | $walk_s | $base_s | $ratio | $(( walk_kib / 1024 )) |"
done
