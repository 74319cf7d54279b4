#!/usr/bin/env bash
# Builds Bulwark in release mode and runs its main job on the embedded default.
# Interim main job: the software bill of materials of this machine's own root
# filesystem (`/`), as a table (a later issue replaces it with the platform).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet -p bulwark
exec target/release/bulwark sbom / --format table
