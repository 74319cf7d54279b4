#!/usr/bin/env bash
# Builds the npm cross-check's environment of real old package versions in OUT_DIR:
# copies package.json (next to this script) there and runs the real npm client
# against the npm registry, which resolves it to package-lock.json and installs
# node_modules/. Lifecycle scripts are not run (--ignore-scripts): the packages are
# only catalogued, never executed. Origin: registry.npmjs.org, at build time.
set -euo pipefail
out=${1:?usage: build-env.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
cp "$here/package.json" "$out/package.json"
cd "$out"
npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
test -s package-lock.json
