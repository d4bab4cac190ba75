#!/usr/bin/env python3
"""Write an NDJSON ingest body of N realistic log lines, the same bytes for the same seed.

Each line is one JSON object of about 240-250 bytes (247.0 on average over 65,600 lines
with seed 42), shaped like a production service's log: an RFC 3339 timestamp (UTC,
milliseconds, increasing with jitter, one in ten up to 1 ms late), a source from ten
services, a level skewed towards info (info 70 %, warn 15 %, error 8 %, debug 7 %), a
message from 20 templates filled with ids, paths, durations, addresses and status codes,
and 3-5 tags (env, host, region, half the time request_id, a third of the time version).
Sources, templates and level mix follow the generator of the criterion benches
(benches/common/mod.rs), so the end-to-end runs and the micro benchmarks see the same
kind of data.

Usage: make_body.py LINES OUTPUT [--seed N]
Prints one line to stdout: "<lines> lines <bytes> bytes <average> bytes/line".
"""

import argparse
import json
import random
import sys
from datetime import datetime, timezone

SOURCES = [
    "api-gateway", "auth-service", "billing-worker", "checkout", "inventory-service",
    "search-indexer", "notifications", "user-service", "payments", "scheduler",
]
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"]
TABLES = ["orders", "users", "sessions", "line_items", "invoices"]
WORDS = ["red", "shoes", "laptop", "wireless", "organic", "coffee", "winter", "sale"]
STATUSES = [200, 200, 200, 201, 204, 301, 400, 401, 404, 500, 503]
TEMPLATES = [
    "GET /api/v1/users/{id} completed with status {status} in {ms}ms",
    "POST /api/v1/orders/{id}/items returned {status} after {ms}ms (bytes={count})",
    "user u{id} logged in from {ip} using Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0",
    "cache miss for key session:{hex} in region {region}, fetching from origin",
    "database query on table {table} took {ms}ms, rows={count}",
    "payment pay_{id} for customer cus_{hex} authorised amount={count}.{n} currency=EUR",
    "retrying http://inventory-service:8080/internal/stock (attempt {n}/5) after timeout ({ms}ms)",
    "connection reset by peer while reading from {ip}:{port}",
    "failed to parse payload from client {ip}: unexpected token at line {n} column {n}",
    "job {hex} scheduled for queue emails-{region} with priority {n}",
    "uploaded file /var/data/uploads/{id}/{hex}.jpg ({count} bytes) to bucket media-{region}",
    "rate limit exceeded for api key ak_{hex}: {count} requests in the last 60s",
    "TLS handshake with {ip} completed in {ms}ms (TLSv1.3, TLS_AES_128_GCM_SHA256)",
    "worker {n} processed batch of {count} events in {ms}ms, lag={ms}ms",
    "timeout after {ms}ms waiting for upstream inventory-service at {ip}:8443",
    "order ord_{id} transitioned from PENDING to CONFIRMED by user u{id}",
    "GC pause of {ms}ms, heap used {count} KiB of 4194304 KiB",
    "email notification sent to user u{id} template=order_confirmation id={hex}",
    "search query \"{word} {word}\" returned {count} hits in {ms}ms",
    "unhandled exception in /api/v2/cart/{id}: java.lang.NullPointerException at Cart.java:{n}",
]
START_NS = 1_714_563_200_000_000_000  # 2024-05-01T11:33:20Z


def placeholder(rng, name):
    if name == "id":
        return str(100_000 + rng.randrange(900_000))
    if name == "ms":
        return str(1 + rng.randrange(1500))
    if name == "hex":
        return f"{rng.getrandbits(32):08x}"
    if name == "status":
        return str(rng.choice(STATUSES))
    if name == "ip":
        return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{1 + rng.randrange(254)}"
    if name == "port":
        return str(1024 + rng.randrange(60_000))
    if name == "n":
        return str(rng.randrange(64))
    if name == "count":
        return str(rng.randrange(100_000))
    if name == "region":
        return rng.choice(REGIONS)
    if name == "table":
        return rng.choice(TABLES)
    if name == "word":
        return rng.choice(WORDS)
    raise ValueError(f"unknown placeholder {name}")


def message(rng):
    template = rng.choice(TEMPLATES)
    out = []
    rest = template
    while "{" in rest:
        open_index = rest.index("{")
        close_index = rest.index("}", open_index)
        out.append(rest[:open_index])
        out.append(placeholder(rng, rest[open_index + 1:close_index]))
        rest = rest[close_index + 1:]
    out.append(rest)
    return "".join(out)


def level(rng):
    roll = rng.randrange(100)
    if roll < 70:
        return "info"
    if roll < 85:
        return "warn"
    if roll < 93:
        return "error"
    return "debug"


def rfc3339_millis(timestamp_ns):
    seconds, rest_ns = divmod(timestamp_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{rest_ns // 1_000_000:03d}Z"


def lines(count, seed):
    rng = random.Random(seed)
    timestamp_ns = START_NS
    for _ in range(count):
        timestamp_ns += 20_000 + rng.randrange(200_000)
        late_ns = rng.randrange(1_000_000) if rng.randrange(10) == 0 else 0
        source = rng.choice(SOURCES)
        tags = {
            "env": "prod",
            "host": f"{source[:3]}-{rng.randrange(12)}",
            "region": rng.choice(REGIONS),
        }
        if rng.randrange(2) == 0:
            tags["request_id"] = f"{rng.getrandbits(48):012x}"
        if rng.randrange(3) == 0:
            tags["version"] = f"1.{rng.randrange(4)}.{rng.randrange(20)}"
        entry = {
            "timestamp": rfc3339_millis(timestamp_ns - late_ns),
            "source": source,
            "level": level(rng),
            "message": message(rng),
            "tags": tags,
        }
        yield json.dumps(entry, separators=(",", ":"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lines", type=int, help="number of NDJSON lines")
    parser.add_argument("output", help="file to write")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    args = parser.parse_args()
    if args.lines < 1:
        parser.error("lines must be at least 1")
    body = "".join(line + "\n" for line in lines(args.lines, args.seed)).encode("utf-8")
    with open(args.output, "wb") as output:
        output.write(body)
    print(f"{args.lines} lines {len(body)} bytes {len(body) / args.lines:.1f} bytes/line")
    return 0


if __name__ == "__main__":
    sys.exit(main())
