"""Fixed-rate HTTP/1.1 load with latency measured from each request's
scheduled send time (so a slow response delays later sends but is not
hidden: no coordinated omission). Keep-alive connections, round-robin.

Usage: mesh_latency.py HOST:PORT RPS SECONDS CONNECTIONS
Prints one JSON object: count, errors, p50/p90/p99 in microseconds.
"""

import json
import socket
import sys
import time


def read_response(sock, buf):
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        rest += chunk
    return rest[length:]


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    rps, seconds, nconn = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    conns = []
    for _ in range(nconn):
        s = socket.create_connection((host, int(port)))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns.append([s, b""])
    request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    for c in conns:  # warm up every connection (handshakes, upstream keep-alive)
        c[0].sendall(request)
        c[1] = read_response(c[0], c[1])
    total = int(rps * seconds)
    interval = 1.0 / rps
    lat, errors = [], 0
    start = time.perf_counter()
    for i in range(total):
        due = start + i * interval
        while time.perf_counter() < due:
            pass
        c = conns[i % nconn]
        try:
            c[0].sendall(request)
            c[1] = read_response(c[0], c[1])
            lat.append(time.perf_counter() - due)
        except OSError:
            errors += 1
    elapsed = time.perf_counter() - start
    lat.sort()
    pct = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1e6, 1) if lat else None
    print(json.dumps({"count": len(lat), "errors": errors, "seconds": round(elapsed, 3),
                      "p50_us": pct(0.50), "p90_us": pct(0.90), "p99_us": pct(0.99)}))


if __name__ == "__main__":
    main()
