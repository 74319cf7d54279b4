#!/usr/bin/env bash
# Runs the whole test suite: installs what it needs, then every unit,
# integration and end-to-end test of the workspace. Needs root (eBPF, runc,
# fanotify and network namespaces are exercised for real).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="$PWD/.cache/venv/bin:$PATH"
# Test artefacts: the dashboard browser test's screenshots stay in the build
# directory; name them at the end, also when a test failed.
shots="${CARGO_TARGET_DIR:-$PWD/target}/dashboard-screenshots"
trap 'ls "$shots"/*.png 2>/dev/null | sed "s|^|test artefact: |" || true' EXIT
cargo nextest run --workspace --profile ci --no-tests=warn
cargo test --workspace --doc --quiet
