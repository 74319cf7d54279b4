#!/usr/bin/env bash
# Installs what building and testing Bulwark needs on Debian 12 (run as root):
# the Debian packages in scripts/apt-packages.txt and the Python packages in
# scripts/python-requirements.txt (into .cache/venv). Idempotent and quiet when
# everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' scripts/apt-packages.txt | grep -v '^$')
missing=()
for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -s scripts/python-requirements.txt ]; then
    venv=.cache/venv
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    stamp="$venv/.requirements.sha256"
    want=$(sha256sum scripts/python-requirements.txt | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        "$venv/bin/pip" install -q --disable-pip-version-check -r scripts/python-requirements.txt
        echo "$want" > "$stamp"
    fi
fi

# Cargo tools the SBOM ground-truth tests need (crates.io): cargo-auditable builds the
# auditable fixture binary, rust-audit-info (its reader) says what the binary embeds.
for spec in cargo-auditable@0.7.7 rust-audit-info@0.5.4; do
    tool=${spec%@*}
    if ! command -v "$tool" >/dev/null; then
        echo "install-deps: cargo install $spec" >&2
        cargo install --locked --quiet "$spec"
    fi
done

# The official SARIF 2.1.0 JSON schema (bulwark-vulndb's scan output test), as shipped in the
# npm package @microsoft/jest-sarif; unpacked into .cache/schemas/.
sarif_schema=.cache/schemas/sarif-2.1.0-rtm.5.json
if [ ! -s "$sarif_schema" ]; then
    echo "install-deps: npm pack @microsoft/jest-sarif@1.0.0-beta.0 (SARIF schema)" >&2
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent @microsoft/jest-sarif@1.0.0-beta.0 >/dev/null)
    tar -xzf "$tmp"/microsoft-jest-sarif-1.0.0-beta.0.tgz -C "$tmp" package/lib/schemas/sarif-2.1.0-rtm.5.json
    mkdir -p .cache/schemas
    cp "$tmp/package/lib/schemas/sarif-2.1.0-rtm.5.json" "$sarif_schema"
    rm -rf "$tmp"
fi

# node-semver, the version ordering npm itself uses: the independent evaluator of
# bulwark-vulndb's npm cross-check (tests/js/semver_osv.js), installed into .cache/node/.
semver_version=7.8.6
semver_dir=.cache/node
if [ "$(node -p "require('./$semver_dir/node_modules/semver/package.json').version" 2>/dev/null)" != "$semver_version" ]; then
    echo "install-deps: npm install semver@$semver_version (into $semver_dir)" >&2
    mkdir -p "$semver_dir"
    npm install --silent --prefix "$semver_dir" --no-audit --no-fund --no-package-lock \
        "semver@$semver_version" >/dev/null
fi
