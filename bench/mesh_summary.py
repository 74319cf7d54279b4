"""Summarises bench/mesh.sh runs (JSON lines, one per path per round).

Usage: mesh_summary.py RESULTS.jsonl SECONDS

Per path: medians over rounds of p50/p90/p99/p99.9, of the latency added
over the direct path in the same round, of proxy CPU as vCPU per 1,000
requests/s, and of the per-round ratio of added p50/p99 to nginx's. Also
the machine's load while measuring. Prints a Markdown table.
"""

import json
import statistics
import sys
from collections import defaultdict


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, unit=""):
    return "-" if x is None else f"{x:,.0f}{unit}" if abs(x) >= 100 else f"{x:.1f}{unit}" if abs(x) >= 1 else f"{x:.3f}{unit}"


def main():
    path, secs = sys.argv[1], float(sys.argv[2])
    runs = [json.loads(line) for line in open(path) if line.strip()]
    by_round = defaultdict(dict)
    for r in runs:
        by_round[r["round"]][r["path"]] = r
    paths = [p for p in ["direct", "bulwark", "bulwark-http", "nginx"] if any(p in rd for rd in by_round.values())]
    pcts = ["p50_us", "p90_us", "p99_us", "p999_us"]
    added = defaultdict(lambda: defaultdict(list))
    ratio = defaultdict(lambda: defaultdict(list))
    for rd in by_round.values():
        if "direct" not in rd:
            continue
        for p in paths:
            if p not in rd:
                continue
            for k in pcts:
                added[p][k].append(rd[p][k] - rd["direct"][k])
        if "nginx" in rd:
            for p in paths:
                for k in ["p50_us", "p99_us"]:
                    a = rd.get(p, {}).get(k)
                    n = rd["nginx"][k] - rd["direct"][k]
                    if a is not None and n > 0:
                        ratio[p][k].append((a - rd["direct"][k]) / n)
    print(f"rounds: {len(by_round)}, {secs:g} s per path per round, "
          f"rate {runs[0]['rps']} requests/s, errors: {sum(r['errors'] for r in runs)}")
    print(f"machine while measuring: load average (1 min) median {median([r['loadavg1'] for r in runs]):.2f} "
          f"(min {min(r['loadavg1'] for r in runs):.2f}, max {max(r['loadavg1'] for r in runs):.2f}); "
          f"whole-machine CPU busy median {100 * median([r['machine_busy'] for r in runs]):.0f} %")
    print()
    print("| path | p50 | p90 | p99 | p99.9 | added p50 | added p90 | added p99 | added p99.9 "
          "| vCPU per 1,000 rps | added p50 / nginx's | added p99 / nginx's |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for p in paths:
        rows = [rd[p] for rd in by_round.values() if p in rd]
        lat = [fmt(median([r[k] for r in rows]), " µs") for k in pcts]
        add = ["-" if p == "direct" else fmt(median(added[p][k]), " µs") for k in pcts]
        vcpu = median([r["proxy_cpu_s"] / secs * 1000.0 / r["rps"] for r in rows])
        vcpu_s = "-" if p == "direct" else f"{vcpu:.3f}"
        rat = ["-" if p in ("direct", "nginx") else fmt(median(ratio[p][k])) for k in ["p50_us", "p99_us"]]
        print(f"| {p} | " + " | ".join(lat + add + [vcpu_s] + rat) + " |")


if __name__ == "__main__":
    main()
