#!/usr/bin/env bash
# Live tail cost on the ingest path: the same ingest run with no tail open (A)
# and with TAILS live tails open (B), alternating, ROUNDS times each, so a
# machine that slows down or speeds up during the run affects both alike.
# Prints each run's durable lines/s per server core and the server's CPU time
# per ingested line, then per side the median and the range, and B's medians
# against A's. The CPU per line is the cost on the ingest path; lines/s also
# falls when the tail readers slow the client core that loadgen shares.
#
# Each run: a fresh data directory, the release `timberdb --shards 1` on core
# 0 with the default configuration; on core 1 the tail clients
# (scripts/tail-clients.py: TAILS tails, filters per MIX) and
# then loadgen: LINES lines of the generator corpus, closed loop, 8
# connections, batches of 1000, 64 request bodies encoded once and sent in
# turn (--reuse-bodies: line generation would otherwise compete with the
# tail clients for core 1 and measure the client, not the server); then a
# graceful stop.
#
# Usage: scripts/tail-ab.sh
# Environment: ROUNDS (3), TAILS (100), MIX (distinct or broad, see
# tail-clients.py), LINES (2000000), PORT (7893),
# TIMBERDB (target/release/timberdb), LOADGEN (target/release/loadgen).
set -euo pipefail

rounds=${ROUNDS:-3}
tails=${TAILS:-100}
mix=${MIX:-distinct}
lines=${LINES:-2000000}
port=${PORT:-7893}
timberdb=${TIMBERDB:-target/release/timberdb}
loadgen=${LOADGEN:-target/release/loadgen}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/timberdb-tail-ab.XXXXXX)
results="$work/results"
server_pid=
clients_pid=
cleanup() {
    if [[ -n "$clients_pid" ]]; then
        kill -TERM "$clients_pid" 2>/dev/null || true
        wait "$clients_pid" 2>/dev/null || true
    fi
    if [[ -n "$server_pid" ]]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf -- "$work"
}
trap cleanup EXIT

# utime + stime of the server, in clock ticks (fields 14 and 15 of
# /proc/PID/stat; the command name in field 2 has no spaces here).
server_cpu_ticks() {
    awk '{print $14 + $15}' "/proc/$server_pid/stat"
}

run_once() {
    local side=$1 tail_count=$2
    rm -rf -- "$work/data"
    taskset -c 0 "$timberdb" --shards 1 --data-dir "$work/data" \
        --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 300); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
        sleep 0.1
    done
    # loadgen creates the partition; create it first so the tails see it.
    curl -sf -XPOST "http://127.0.0.1:$port/api/v1/partitions/create" \
        -H 'content-type: application/json' -d '{"name":"ab"}' >/dev/null
    if [[ $tail_count -gt 0 ]]; then
        coproc CLIENTS { exec taskset -c 1 python3 "$here/tail-clients.py" "$port" "$tail_count" "$mix" 2>"$work/clients.log"; }
        clients_pid=$CLIENTS_PID
        read -r ready <&"${CLIENTS[0]}"
        [[ $ready == ready ]] || { echo "tail clients did not start" >&2; exit 1; }
    fi
    local subscribers
    subscribers=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^timberdb_tail_subscribers/ {s+=$2} END {print s+0}')
    local cpu_before
    cpu_before=$(server_cpu_ticks)
    taskset -c 1 "$loadgen" --target "http://127.0.0.1:$port" --partition ab --seed 42 \
        --lines "$lines" --batch 1000 --connections 8 --warmup 0s --cpus 1 --reuse-bodies 64 \
        --quiet --json "$work/run.json" >/dev/null
    local cpu_ticks=$(( $(server_cpu_ticks) - cpu_before ))
    local rate
    rate=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(round(r['results']['lines_per_sec_per_server_core']))" "$work/run.json")
    local metrics
    metrics=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^timberdb_tail_entries_(sent|dropped)_total/ {split($1, n, "{"); printf "%s=%s ", n[1], $2}')
    if [[ -n "$clients_pid" ]]; then
        kill -TERM "$clients_pid"
        wait "$clients_pid" || true
        clients_pid=
    fi
    kill -TERM "$server_pid"
    wait "$server_pid" || true
    server_pid=
    # Server CPU per ingested line (user + system, all its threads), which a
    # client core slowed by the tail readers does not change.
    local ns_per_line=$(( cpu_ticks * (1000000000 / $(getconf CLK_TCK)) / lines ))
    echo "$side $rate $ns_per_line subscribers=$subscribers $metrics" | tee -a "$results"
}

for round in $(seq "$rounds"); do
    run_once A 0
    run_once B "$tails"
done

echo "== median [min-max] lines/s per server core, $rounds runs each; A: no tail, B: $tails tails ($mix filters)"
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
    print(f"{side}: {statistics.median(rates):.0f} [{min(rates)}-{max(rates)}] lines/s; "
          f"server CPU {statistics.median(costs)} [{min(costs)}-{max(costs)}] ns per line")
a, b = statistics.median(runs["A"]), statistics.median(runs["B"])
print(f"B/A = {b / a:.3f} (cost of the tails in lines/s: {100 * (1 - b / a):.1f}%)")
ca, cb = statistics.median(cpu["A"]), statistics.median(cpu["B"])
print(f"server CPU per line B/A = {cb / ca:.3f} (cost of the tails in server CPU: {100 * (cb / ca - 1):.1f}%)")
PY
