#!/usr/bin/env bash
# Long benign soak of the nano-segmentation scenario suite: the same test CI
# runs (crates/bulwark/tests/nanoseg_scenarios.rs, scenarios/nanoseg/web.yaml),
# with the Monitor phase stretched to SECONDS (default 1800). Prints the
# report: false positives per hour of benign activity, detection rate, time
# from action to alert. Needs root, runc, busybox-static, gcc (static libc).
# Runs under the nextest profile `soak` (.config/nextest.toml): the default
# profile kills a test after 600 s.
#
#   bench/nanoseg-soak.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-1800}"
export NANOSEG_MONITOR_SECONDS="$seconds"
report=target/tmp/nanoseg-scenarios/web.json
rm -f "$report"
cargo nextest run -p bulwark --profile soak -E 'test(web_workload_learned_quiet_in_monitor_and_every_attack_detected)' \
  --no-capture 2>&1 | grep -E '^  |^scenario' || true
[ -f "$report" ] || { echo "no report written: the scenario did not finish" >&2; exit 1; }
python3 - "$report" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"machine: {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}, "
      f"{len([l for l in open('/proc/cpuinfo') if l.startswith('processor')])} cpus")
print(f"benign: learned {r['learn_seconds']:.1f}s + monitor {r['monitor_seconds']}s; "
      f"false positives {len(r['false_positives'])} ({r['false_positives_per_hour']:.2f}/h)")
print(f"attacks: detected {r['detected']}/{r['steps']} ({100*r['detection_rate']:.0f}%); "
      f"action->alert median {r['latency_ms_median']} ms, max {r['latency_ms_max']} ms")
for fp in r['false_positives']:
    print("  FP:", fp)
PY
