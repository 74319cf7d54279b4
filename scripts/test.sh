#!/usr/bin/env bash
# Runs the whole test suite: installs what it needs, then every unit,
# integration and end-to-end test of the workspace. Needs root (eBPF, runc,
# fanotify and network namespaces are exercised for real).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="$PWD/.cache/venv/bin:$PATH"
cargo nextest run --workspace --profile ci --no-tests=warn
cargo test --workspace --doc --quiet
