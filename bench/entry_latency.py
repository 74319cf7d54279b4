"""Time from `bulwark identity entry add` returning to a Workload API client
(py-spiffe, streaming) holding the new identity's SVID.

Usage: entry_latency.py BULWARK_BIN DATA_DIR SOCKET ROUNDS
The caller has an entry for uid 0 already (so the stream is open); each
round adds one more entry for uid 0 and waits for the streamed update.
Prints JSON: the latencies in milliseconds, median and max.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time

from spiffe import WorkloadApiClient

bin_, data, socket, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
seen = {"count": 0}
cond = threading.Condition()


def on_update(ctx):
    with cond:
        seen["count"] = len(ctx.x509_svids)
        cond.notify_all()


client = WorkloadApiClient(socket_path="unix://" + socket)
client.stream_x509_contexts(on_success=on_update, on_error=lambda e: None)
with cond:
    cond.wait_for(lambda: seen["count"] >= 1, timeout=20)
lat = []
for i in range(rounds):
    doc = ("apiVersion: bulwark.dev/v1alpha1\nkind: WorkloadIdentity\nmetadata: {name: extra-%d}\n"
           "spec: {spiffeId: spiffe://example.org/extra-%d, selectors: {uid: 0}}\n" % (i, i))
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(doc)
    want = seen["count"] + 1
    subprocess.run([bin_, "identity", "--data-dir", data, "entry", "add", f.name], check=True, capture_output=True)
    t0 = time.perf_counter()
    with cond:
        ok = cond.wait_for(lambda: seen["count"] >= want, timeout=10)
    if not ok:
        print(json.dumps({"error": "no update within 10 s", "round": i}))
        sys.exit(1)
    lat.append((time.perf_counter() - t0) * 1000)
    os.unlink(f.name)
lat.sort()
print(json.dumps({"rounds": rounds, "median_ms": round(lat[len(lat) // 2], 1), "max_ms": round(lat[-1], 1),
                  "all_ms": [round(x, 1) for x in lat]}))
os._exit(0)
