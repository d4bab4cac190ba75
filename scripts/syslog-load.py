#!/usr/bin/env python3
"""Pushes N syslog lines over TCP to timberdb as fast as the server reads
them, waits until /metrics counts them all as stored, and reports the rate
and (with --server-pid) the server's CPU-seconds per million lines.

    scripts/syslog-load.py --addr 127.0.0.1:5514 --lines 2000000 \
        --metrics http://127.0.0.1:7777/metrics --server-pid $PID

Lines are RFC 5424 (default) or RFC 3164, newline-framed (default) or
octet-counted, about --line-bytes bytes each, varied like production logs
(several hosts, apps, severities and request lines). They are built once
into a block of 10,000 and the block is sent over and over, so the sender
spends its time in the kernel, not in Python. Standard library only.
"""
import argparse
import json
import os
import random
import socket
import threading
import time
import urllib.request

BLOCK_LINES = 10_000
SEND_BYTES = 1 << 20


def build_block(args, rng):
    hosts = [f"web-{i:02d}" for i in range(12)]
    apps = ["nginx", "api", "auth", "billing", "worker"]
    paths = ["/api/v1/users", "/api/v1/orders", "/login", "/static/app.js", "/health"]
    lines = []
    for index in range(BLOCK_LINES):
        pri = 8 * rng.choice([1, 3, 16, 23]) + rng.choice([3, 4, 6, 6, 6, 7])
        host, app = rng.choice(hosts), rng.choice(apps)
        message = (
            f"{rng.choice(['GET', 'POST'])} {rng.choice(paths)}/{rng.randrange(10**6)} "
            f"status={rng.choice([200, 200, 201, 404, 500])} took_ms={rng.randrange(900)} "
            f"user=u{rng.randrange(10**5)} trace={rng.getrandbits(64):016x} "
        )
        if args.format == "5424":
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            head = f"<{pri}>1 {stamp}.{index % 1000:03d}Z {host} {app} {rng.randrange(1, 32768)} - - "
        else:
            head = f"<{pri}>{time.strftime('%b %e %H:%M:%S', time.gmtime())} {host} {app}[{rng.randrange(1, 32768)}]: "
        pad = max(0, args.line_bytes - len(head) - len(message))
        message += "x" * pad
        line = (head + message).encode()
        if args.framing == "octet":
            lines.append(str(len(line)).encode() + b" " + line)
        else:
            lines.append(line + b"\n")
    return b"".join(lines)


def stored_lines(metrics_url):
    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
    return sum(
        int(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("timberdb_syslog_messages_total{")
    )


def cpu_seconds(pid):
    if pid is None:
        return None
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def send(addr, block, blocks):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port))) as sock:
        view = memoryview(block)
        for _ in range(blocks):
            for start in range(0, len(block), SEND_BYTES):
                sock.sendall(view[start : start + SEND_BYTES])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--addr", required=True, help="syslog TCP address, HOST:PORT")
    parser.add_argument("--metrics", required=True, help="timberdb /metrics URL")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--format", choices=["5424", "3164"], default="5424")
    parser.add_argument("--framing", choices=["newline", "octet"], default="newline")
    parser.add_argument("--line-bytes", type=int, default=240)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--server-pid", type=int)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()

    block = build_block(args, random.Random(args.seed))
    blocks_per_connection = max(1, args.lines // (BLOCK_LINES * args.connections))
    total = blocks_per_connection * BLOCK_LINES * args.connections
    before_lines = stored_lines(args.metrics)
    before_cpu = cpu_seconds(args.server_pid)
    started = time.monotonic()
    senders = [
        threading.Thread(target=send, args=(args.addr, block, blocks_per_connection))
        for _ in range(args.connections)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    while stored_lines(args.metrics) - before_lines < total:
        if time.monotonic() - started > args.timeout:
            raise SystemExit(f"only {stored_lines(args.metrics) - before_lines} of {total} lines stored")
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    after_cpu = cpu_seconds(args.server_pid)
    report = {
        "protocol": f"syslog-tcp rfc{args.format} {args.framing}",
        "lines": total,
        "bytes": len(block) * blocks_per_connection * args.connections,
        "elapsed_s": round(elapsed, 3),
        "lines_per_s": round(total / elapsed),
    }
    if before_cpu is not None:
        cpu = after_cpu - before_cpu
        report["server_cpu_s"] = round(cpu, 2)
        report["server_cpu_s_per_million_lines"] = round(cpu / total * 1e6, 3)
        report["lines_per_server_cpu_s"] = round(total / cpu) if cpu > 0 else None
    print(json.dumps(report))


if __name__ == "__main__":
    main()
