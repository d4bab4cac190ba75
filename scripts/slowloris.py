#!/usr/bin/env python3
"""A slowloris attacker against a TimberDB server it starts itself: opens N
connections that each send half a request head and then nothing, checks that
a normal client can still ingest and query meanwhile, closes them, and prints
the server's resident memory (VmRSS) before, during and after.

Usage: slowloris.py BINARY [CONNECTIONS] [--idle] [KEY=VALUE ...]

BINARY is the timberdb binary (say target/release/timberdb); CONNECTIONS
defaults to 10000; each KEY=VALUE is passed to the server's environment
(TIMBERDB_CONNECTIONS_MAX_PER_ADDRESS=100000, say: every attacking socket
comes from 127.0.0.1, which the per-address cap would otherwise refuse).
With --idle each connection instead sends one whole request, reads its
answer and stays open, idle (a keep-alive client that never comes back).
The server runs pinned to CPU 0 with 1 shard; this script pins itself to CPU 1.
Needs an open-file limit above CONNECTIONS (`ulimit -n`); it raises its own
soft limit to the hard one.
"""
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HALF_HEAD = b"POST /api/v1/partitions/app/logs HTTP/1.1\r\nHost: x\r\nContent-Le"


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def call(base, method, path, body=None, content_type="application/json"):
    request = urllib.request.Request(base + path, data=body, method=method,
                                     headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, response.read()


def normal_client(base, label):
    """Ingests 200 lines and queries them back; the seconds it took."""
    started = time.monotonic()
    lines = "".join(json.dumps({"message": f"{label} line {i}"}) + "\n" for i in range(200))
    status, _ = call(base, "POST", "/api/v1/partitions/app/logs", lines.encode(),
                     "application/x-ndjson")
    assert status == 200, status
    query = json.dumps({"partitions": ["app"], "q": label, "limit": 1000}).encode()
    status, body = call(base, "POST", "/api/v1/query", query)
    returned = json.loads(body)["returned_count"]
    assert status == 200 and returned == 200, (status, returned)
    return time.monotonic() - started


def start_server(binary, data_dir, env):
    process = subprocess.Popen(
        ["taskset", "-c", "0", binary, "--data-dir", data_dir, "--listen", "127.0.0.1:0",
         "--shards", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, **env}, text=True)
    for line in process.stdout:
        if line.startswith("timberdb listening on http://"):
            addr = line.split("://", 1)[1].split()[0]
            return process, addr
    raise RuntimeError("the server did not start")


def main():
    binary = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    idle = "--idle" in sys.argv[3:]
    env = dict(arg.split("=", 1) for arg in sys.argv[3:] if "=" in arg)
    os.sched_setaffinity(0, {1})
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory() as data_dir:
        process, addr = start_server(binary, data_dir, env)
        base = f"http://{addr}"
        try:
            call(base, "POST", "/api/v1/partitions", json.dumps({"name": "app"}).encode())
            normal_client(base, "warmup")
            before = rss_mib(process.pid)
            sockets = []
            refused = 0
            for _ in range(count):
                sock = socket.create_connection(("127.0.0.1", int(addr.rsplit(":", 1)[1])))
                try:
                    if idle:
                        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                        if not sock.recv(4096).startswith(b"HTTP/1.1 200"):
                            refused += 1
                    else:
                        sock.sendall(HALF_HEAD)
                except OSError:
                    refused += 1
                sockets.append(sock)
            time.sleep(2)  # let the server read every half head
            during = rss_mib(process.pid)
            try:
                served = f"served in {normal_client(base, 'during'):.2f} s"
            except Exception as error:  # the point of the test: say what failed
                served = f"FAILED: {error}"
            for sock in sockets:
                sock.close()
            after = during
            for _ in range(30):  # memory is trimmed about 1 s after the closes
                time.sleep(1)
                after = rss_mib(process.pid)
                if after < before + 16:
                    break
            per_connection = (during - before) * 1024 / count
            kind = "idle keep-alive" if idle else "half-open"
            print(f"{count} {kind} connections ({refused} refused or failed): "
                  f"normal client {served}; RSS before {before:.0f} MiB, during {during:.0f} MiB "
                  f"({per_connection:.1f} KiB each), after closing {after:.0f} MiB")
        finally:
            process.terminate()
            process.wait(timeout=60)


if __name__ == "__main__":
    main()
