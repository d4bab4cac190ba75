#!/usr/bin/env bash
# Ingest A/B: two or more timberdb binaries, or one binary under several
# environments, loaded in turn with the same corpus, ROUNDS times,
# alternating, so a machine that slows down or speeds up during the run
# affects every side alike. Prints each run's durable lines/s per server
# core, then per side the median and the range.
#
# Each run: a fresh data directory, `timberdb --shards 1` on core 0 with the
# side's environment over the default configuration, loadgen on core 1,
# LINES lines, closed loop, 8 connections, batches of 1000, then a graceful
# stop.
#
# Usage:
#   scripts/ingest-ab.sh NAME=BINARY[,VAR=VALUE...] NAME=BINARY[,VAR=VALUE...] ...
# e.g. the previous release against this build, and this build with LZ4:
#   scripts/ingest-ab.sh old=/tmp/old/timberdb new=target/release/timberdb \
#       lz4=target/release/timberdb,TIMBERDB_COMPRESSION=lz4
# A side whose settings include TIMBERDB_AUTH_ENABLED=true gets an admin key
# made offline before its server starts, and loadgen sends it
# (TIMBERDB_API_KEY): the A/B of the API-key check, e.g.
#   scripts/ingest-ab.sh off=target/release/timberdb \
#       on=target/release/timberdb,TIMBERDB_AUTH_ENABLED=true
# Environment: CORPORA ("access-log generator"; "plain" needs PLAIN_FILE),
# ROUNDS (3), LINES (2000000), PORT (7891), LOADGEN (target/release/loadgen).
set -euo pipefail

read -r -a corpora <<<"${CORPORA:-access-log generator}"
rounds=${ROUNDS:-3}
lines=${LINES:-2000000}
port=${PORT:-7891}
loadgen=${LOADGEN:-target/release/loadgen}
if [[ $# -lt 2 ]]; then
    echo "usage: $0 NAME=BINARY[,VAR=VALUE...] NAME=BINARY[,VAR=VALUE...] ..." >&2
    exit 2
fi
data_dir=$(mktemp -d /tmp/timberdb-ingest-ab.XXXXXX)
results=$(mktemp /tmp/timberdb-ingest-ab-results.XXXXXX)
server_pid=
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" || true
    fi
    rm -rf -- "$data_dir" "$results"
}
trap cleanup EXIT

run_once() {
    local name=$1 spec=$2 corpus=$3
    local binary=${spec%%,*} settings=()
    [[ $spec == *,* ]] && IFS=, read -r -a settings <<<"${spec#*,}"
    rm -rf -- "$data_dir/data"
    local api_key=
    if [[ " ${settings[*]-} " == *" TIMBERDB_AUTH_ENABLED=true "* ]]; then
        api_key=$("$binary" keys create --offline --role admin --data-dir "$data_dir/data" 2>/dev/null)
    fi
    env ${settings[@]+"${settings[@]}"} taskset -c 0 "$binary" --shards 1 \
        --data-dir "$data_dir/data" --listen "127.0.0.1:$port" >"$data_dir/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 300); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
        sleep 0.1
    done
    local workload=(--workload "$corpus")
    [[ $corpus == plain ]] && workload=(--replay "${PLAIN_FILE:?set PLAIN_FILE for the plain corpus}")
    local rate
    rate=$(TIMBERDB_API_KEY="$api_key" taskset -c 1 "$loadgen" --target "http://127.0.0.1:$port" --partition ab --seed 42 \
        "${workload[@]}" --lines "$lines" --batch 1000 --connections 8 --warmup 0s --cpus 1 \
        --quiet --json "$data_dir/run.json" >/dev/null &&
        python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(round(r['results']['lines_per_sec_per_server_core']))" "$data_dir/run.json")
    kill -TERM "$server_pid"
    wait "$server_pid" || true
    server_pid=
    echo "$corpus $name $rate" | tee -a "$results"
}

for round in $(seq "$rounds"); do
    for corpus in "${corpora[@]}"; do
        for side in "$@"; do
            run_once "${side%%=*}" "${side#*=}" "$corpus"
        done
    done
done

echo "== per corpus and side: median [min-max] lines/s per server core, $rounds runs"
python3 - "$results" <<'EOF'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    corpus, name, rate = line.split()
    runs[(corpus, name)].append(int(rate))
for (corpus, name), rates in runs.items():
    print(f"{corpus:12s} {name:10s} {statistics.median(rates)/1000:8.1f}k  [{min(rates)/1000:.1f}k-{max(rates)/1000:.1f}k]")
EOF
