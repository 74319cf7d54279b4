#!/usr/bin/env bash
# The full-data runs of bulwark-vulndb's sampled tests: the OSV schema
# agreement over every real record (and every mutation of every 97th), the
# boundary probes of every record, and the PEP 440 cross-check of every
# PyPA record (CI runs a deterministic sample of each; see the tests' docs). Release build: minutes instead of tens of
# minutes. Needs what scripts/install-deps.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
BULWARK_VULNDB_FULL=1 cargo test --release -p bulwark-vulndb \
    --test osv_schema --test real_data --test pypi_crosscheck -- --nocapture \
    validator_agrees_with_the_official_osv_schema boundary_probes_from_every_record_hold \
    pypi_matching_agrees_with_packaging_or_the_difference_is_explained
