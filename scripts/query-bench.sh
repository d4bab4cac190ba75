#!/usr/bin/env bash
# Query benchmark: 2 million generated lines, then each kind of query of
# `loadgen query` on its own, closed loop, one connection, with p50/p99
# latency, the fraction of blocks not read and the entries scanned.
#
# Why it is shaped this way:
# - The server runs on core 0 and loadgen on core 1, so the client never
#   steals the server's core (the machine of docs/BENCHMARKS.md has 2).
# - Lines are loaded at a fixed rate, so the corpus spans a known time
#   (2 000 000 / 100 000 = 20 s) and a 1 s window is 5% of it on any
#   machine; a closed-loop load would make the span, and so what a window
#   skips, depend on the machine's ingest speed.
# - The server is stopped with SIGTERM and started again after the load:
#   a graceful shutdown seals every active block (docs/API.md, Durability),
#   and there is no flush endpoint. Queries then run over sealed blocks
#   only, as they would over a corpus loaded long ago.
# - Windows end at the newest line (`--time-base data`), not at now, so
#   the queries ask the same questions however long after the load they run.
# - Blocks rotate at 1 MiB of entries (BLOCK_ROTATION), not at the
#   server's default of 8 MiB: 2 M lines of 240 bytes fill about 334 blocks
#   of 1 MiB (measured) but only about 42 of 8 MiB, and with 42 blocks no
#   query can skip more than 98% of them, which would make the issue's goal
#   (over 99% skipped) unmeasurable.
# - The data directory (about 330 MB) is a fresh temporary directory,
#   removed on exit, unless DATA_DIR names one; a DATA_DIR is left in place.
#
# Usage: scripts/query-bench.sh [OUT_DIR]   (default: query-bench-out)
# Environment overrides: LINES, RATE, BLOCK_ROTATION, WINDOW, QUERIES,
# DURATION, PORT, DATA_DIR, CARGO_TARGET_DIR.
set -euo pipefail

out_dir=${1:-query-bench-out}
lines=${LINES:-2000000}
rate=${RATE:-100000}
block_rotation=${BLOCK_ROTATION:-size:1048576}
window=${WINDOW:-1s}
queries=${QUERIES:-200}
duration=${DURATION:-60s}
port=${PORT:-7880}
target_dir=${CARGO_TARGET_DIR:-target}
kinds=(needle level tag range count regex)

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
mkdir -p "$out_dir"
if [[ -n "${DATA_DIR:-}" ]]; then
    data_dir=$DATA_DIR
    remove_data_dir=
else
    data_dir=$(mktemp -d /tmp/timberdb-query-bench.XXXXXX)
    remove_data_dir=1
fi
# Created now, so the setup notes can name its filesystem.
mkdir -p "$data_dir"
target="http://127.0.0.1:$port"
server_pid=

stop_server() {
    if [[ -n "$server_pid" ]]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" || true
        server_pid=
    fi
}

# The server stops first, so nothing writes into the directory being removed.
cleanup() {
    stop_server
    if [[ -n "$remove_data_dir" ]]; then
        rm -rf -- "$data_dir"
    fi
}
trap cleanup EXIT

start_server() {
    TIMBERDB_BLOCK_ROTATION="$block_rotation" taskset -c 0 \
        "$target_dir/release/timberdb" --shards 1 --data-dir "$data_dir" \
        --listen "127.0.0.1:$port" >>"$out_dir/server.log" 2>&1 &
    server_pid=$!
    # Poll with a deadline: a restart replays the WAL before it answers.
    for _ in $(seq 600); do
        if curl -sf "$target/health" >/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "timberdb did not answer /health within 60 s; see $out_dir/server.log" >&2
    exit 1
}

echo "== build"
cargo build --release --workspace
loadgen="$target_dir/release/loadgen"
{
    echo "revision: $(git rev-parse HEAD)"
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
    echo "data: $data_dir ($(findmnt -T "$data_dir" -no FSTYPE))"
    echo "block_rotation: $block_rotation; lines: $lines at $rate lines/s"
} | tee "$out_dir/setup.txt"

echo "== load $lines lines"
start_server
taskset -c 1 "$loadgen" --target "$target" --partition bench --seed 42 \
    --lines "$lines" --rate "$rate" --batch 1000 --warmup 0s --cpus 1 --quiet \
    --json "$out_dir/load.json" | tee "$out_dir/load.txt"

echo "== seal every block: graceful restart"
stop_server
start_server
curl -s "$target/api/v1/partitions/bench" | tee "$out_dir/partition.json"
echo

echo "== warm-up: each kind twice, not recorded"
taskset -c 1 "$loadgen" query --target "$target" --partition bench --seed 42 \
    --mix "$(IFS=,; echo "${kinds[*]}")" --queries 12 --connections 1 \
    --time-base data --window "$window" --cpus 1 --quiet >/dev/null

for kind in "${kinds[@]}"; do
    echo "== $kind"
    taskset -c 1 "$loadgen" query --target "$target" --partition bench --seed 42 \
        --mix "$kind" --connections 1 --queries "$queries" --duration "$duration" \
        --time-base data --window "$window" --cpus 1 --quiet \
        --json "$out_dir/query-$kind.json" | tee "$out_dir/query-$kind.txt"
done

echo "== summary ($lines lines, block rotation $block_rotation, window $window)"
grep -h -m1 '^| kind ' "$out_dir/query-${kinds[0]}.txt"
grep -h -m1 '^|---' "$out_dir/query-${kinds[0]}.txt"
for kind in "${kinds[@]}"; do
    grep -h "^| $kind |" "$out_dir/query-$kind.txt"
done
