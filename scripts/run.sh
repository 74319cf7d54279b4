#!/usr/bin/env bash
# Builds Bulwark in release mode and runs its main job on the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet -p bulwark
exec target/release/bulwark version
