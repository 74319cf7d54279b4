#!/usr/bin/env bash
# Builds Bulwark in release mode and runs its main job on the embedded
# default: the whole platform on this machine (`bulwark up`: server with the
# dashboard, Workload API, Protect-mode service, eBPF agent), until Ctrl-C.
# First, the software bill of materials of this machine's root filesystem is
# written to DATA_DIR/host-sbom.json (`bulwark scan --sbom` matches it).
# Extra arguments go to `bulwark up`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet -p bulwark
data="${BULWARK_DATA_DIR:-/var/lib/bulwark}"
mkdir -p "$data"
target/release/bulwark sbom / --format json -o "$data/host-sbom.json"
echo "run.sh: SBOM of / written to $data/host-sbom.json"
exec target/release/bulwark up --data-dir "$data" "$@"
