#!/usr/bin/env bash
# Ingest over TLS against plain HTTP on one core: the same release binary,
# the same load, alternating A (plain) and B (TLS 1.3, the default a rustls
# client negotiates) ROUNDS times, so a machine that drifts affects both.
# Prints each run's durable lines/s per server core and the server's CPU
# time per line (user + system of every thread, from /proc/PID/stat), then
# the medians and ranges.
#
# Each run: a fresh data directory, `timberdb --shards 1` on core 0 with the
# default configuration (B adds TIMBERDB_TLS_CERT_FILE/KEY_FILE), loadgen on
# core 1: LINES lines of the generator corpus, closed loop, 8 keep-alive
# connections, batches of 1000, 64 request bodies encoded once and reused
# (--reuse-bodies, so line generation does not limit the client core, which
# also encrypts for B). The certificate is a throwaway RSA 2048 one made with
# openssl for this run.
#
# Usage: scripts/tls-ab.sh
# Environment: ROUNDS (3), LINES (1000000), PORT (7896),
# TIMBERDB (target/release/timberdb), LOADGEN (target/release/loadgen).
set -euo pipefail

rounds=${ROUNDS:-3}
lines=${LINES:-1000000}
port=${PORT:-7896}
timberdb=${TIMBERDB:-target/release/timberdb}
loadgen=${LOADGEN:-target/release/loadgen}
work=$(mktemp -d /tmp/timberdb-tls-ab.XXXXXX)
results="$work/results"
server_pid=
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf -- "$work"
}
trap cleanup EXIT

make_certificate() {
    (
        cd "$work"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
            -subj "/CN=tls-ab CA" 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
            -subj "/CN=localhost" 2>/dev/null
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >ext.cnf
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -out server.crt -days 2 -extfile ext.cnf 2>/dev/null
    )
}

run_once() {
    local side=$1 scheme=$2
    rm -rf -- "$work/data"
    if [[ $scheme == https ]]; then
        TIMBERDB_TLS_CERT_FILE="$work/server.crt" TIMBERDB_TLS_KEY_FILE="$work/server.key" \
            taskset -c 0 "$timberdb" --shards 1 --data-dir "$work/data" \
            --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
    else
        taskset -c 0 "$timberdb" --shards 1 --data-dir "$work/data" \
            --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
    fi
    server_pid=$!
    for _ in $(seq 300); do
        grep -q "listening on" "$work/server.log" && break
        sleep 0.1
    done
    local cpu_before
    cpu_before=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
    taskset -c 1 "$loadgen" --target "$scheme://localhost:$port" --tls-ca-file "$work/ca.crt" \
        --partition ab --seed 42 --lines "$lines" --batch 1000 --connections 8 --warmup 0s \
        --cpus 1 --reuse-bodies 64 --quiet --json "$work/run.json" >/dev/null
    local cpu_ticks=$(( $(awk '{print $14 + $15}' "/proc/$server_pid/stat") - cpu_before ))
    local rate
    rate=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(round(r['results']['lines_per_sec_per_server_core']))" "$work/run.json")
    kill -TERM "$server_pid"
    wait "$server_pid" || true
    server_pid=
    local ns_per_line=$(( cpu_ticks * (1000000000 / $(getconf CLK_TCK)) / lines ))
    echo "$side $rate $ns_per_line" | tee -a "$results"
}

make_certificate
for _ in $(seq "$rounds"); do
    run_once A http
    run_once B https
done

echo "== median [min-max], $rounds runs each; A: plain HTTP, B: TLS"
python3 - "$results" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
cpu = collections.defaultdict(list)
for line in open(sys.argv[1]):
    side, rate, ns_per_line = line.split()[:3]
    runs[side].append(int(rate))
    cpu[side].append(int(ns_per_line))
for side in sorted(runs):
    rates, costs = runs[side], cpu[side]
    print(f"{side}: {statistics.median(rates):.0f} [{min(rates)}-{max(rates)}] lines/s per server core; "
          f"server CPU {statistics.median(costs)} [{min(costs)}-{max(costs)}] ns per line")
a, b = statistics.median(runs["A"]), statistics.median(runs["B"])
print(f"B/A = {b / a:.3f} (cost of TLS in lines/s: {100 * (1 - b / a):.1f}%)")
ca, cb = statistics.median(cpu["A"]), statistics.median(cpu["B"])
print(f"server CPU per line B/A = {cb / ca:.3f} (cost of TLS in server CPU: {100 * (cb / ca - 1):.1f}%)")
PY
