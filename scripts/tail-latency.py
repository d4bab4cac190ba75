#!/usr/bin/env python3
"""How long after its acknowledgement an entry reaches a live tail.

Usage: tail-latency.py PORT [PROBES] [PARTITION]

Opens one tail (`/api/v1/tail?q=latencyprobe`) on a running server, then
sends PROBES single-line ingest requests (default 200), one every 20 ms, each
with a unique message, over one keep-alive connection. For each probe it
notes when the 200 arrived (the acknowledgement) and when the tail delivered
the line, and prints the distribution of (delivered - acknowledged) in
milliseconds. A negative value means the tail had the entry before the
client had its answer (a shard publishes right after the WAL sync, before
the reply travels back). Run it with and without load (scripts/tail-ab.sh
starts loadgen the same way) to see what coalescing and a busy shard add.
"""
import http.client
import json
import socket
import sys
import threading
import time
import urllib.parse
import re

PROBE = re.compile(rb"latencyprobe id(\d+)x")


def main():
    port = int(sys.argv[1])
    probes = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    partition = sys.argv[3] if len(sys.argv) > 3 else "latency"
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("POST", "/api/v1/partitions/create", json.dumps({"name": partition}),
                 {"content-type": "application/json"})
    conn.getresponse().read()
    tail = socket.create_connection(("127.0.0.1", port))
    q = urllib.parse.quote("latencyprobe")
    tail.sendall(f"GET /api/v1/tail?q={q} HTTP/1.1\r\nHost: probe\r\n\r\n".encode())
    arrived = {}
    done = threading.Event()

    def read_tail():
        buffer = b""
        while not done.is_set():
            data = tail.recv(65536)
            if not data:
                return
            now = time.monotonic()
            buffer += data
            for match in PROBE.finditer(buffer):
                arrived.setdefault(int(match.group(1)), now)
            buffer = buffer[-64:]

    reader = threading.Thread(target=read_tail, daemon=True)
    reader.start()
    time.sleep(0.5)
    acked = {}
    for i in range(probes):
        body = json.dumps({"message": f"latencyprobe id{i}x", "level": "info"})
        conn.request("POST", f"/api/v1/partitions/{partition}/logs", body,
                     {"content-type": "application/x-ndjson"})
        response = conn.getresponse()
        response.read()
        acked[i] = time.monotonic()
        if response.status != 200:
            raise SystemExit(f"probe {i}: status {response.status}")
        time.sleep(0.02)
    time.sleep(1.0)
    done.set()
    delays = sorted((arrived[i] - acked[i]) * 1000 for i in acked if i in arrived)
    missing = probes - len(delays)
    if not delays:
        raise SystemExit("no probe reached the tail")

    def pct(p):
        return delays[min(len(delays) - 1, int(p / 100 * len(delays)))]
    print(f"probes {probes} delivered {len(delays)} missing {missing}")
    print(f"tail delay after ack, ms: p50 {pct(50):.1f}  p90 {pct(90):.1f}  "
          f"p99 {pct(99):.1f}  max {delays[-1]:.1f}  min {delays[0]:.1f}")


if __name__ == "__main__":
    main()
