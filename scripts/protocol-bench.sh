#!/usr/bin/env bash
# Server CPU per line of every shipper protocol against the native ingest,
# the same lines (loadgen's generator, seed 1) through each protocol's body.
# Per run: a fresh release server with --shards 1 pinned to core 0, loadgen
# pinned to core 1, LINES lines in batches of 1000 over 4 connections; the
# server's utime+stime from /proc/PID/stat before and after is the measure
# (wall-clock rates are printed too). Protocols alternate within a round.
#
# Usage: scripts/protocol-bench.sh [LINES] [ROUNDS] [PROTOCOL...]
#   default: 1000000 lines, 2 rounds, native es-bulk jsonline otlp-proto otlp loki-proto loki
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-1000000}
rounds=${2:-2}
shift $(( $# >= 2 ? 2 : $# ))
protocols=("$@")
if ((${#protocols[@]} == 0)); then
    protocols=(native es-bulk jsonline otlp-proto otlp loki-proto loki)
fi
cargo build --release --locked -p timberdb --bin timberdb -p loadgen --bin loadgen >/dev/null 2>&1
hz=$(getconf CLK_TCK)
work=$(mktemp -d /tmp/protocol-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

run_one() {
    local protocol=$1 round=$2
    local data="$work/data-$protocol-$round"
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    taskset -c 0 ./target/release/timberdb --data-dir "$data" --listen "127.0.0.1:$port" --shards 1 \
        >"$work/server.log" 2>&1 &
    local pid=$!
    until curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; do sleep 0.05; done
    local before after
    before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    taskset -c 1 ./target/release/loadgen --target "http://127.0.0.1:$port" --protocol "$protocol" \
        --lines "$lines" --warmup 0s --connections 4 --batch 1000 --seed 1 --quiet \
        --json "$work/run.json" >/dev/null
    after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -rf "$data"
    python3 - "$work/run.json" "$protocol" "$round" "$before" "$after" "$hz" "$lines" <<'PY'
import json, sys
path, protocol, round_, before, after, hz, lines = sys.argv[1:]
def find(o, k):
    if isinstance(o, dict):
        if k in o: return o[k]
        for v in o.values():
            r = find(v, k)
            if r is not None: return r
report = json.load(open(path))
cpu = (float(after) - float(before)) / float(hz)
per_million = cpu / (int(lines) / 1e6)
print(f"round {round_} {protocol:11} server {cpu:6.2f} CPU-s = {per_million:.3f} CPU-s per M lines"
      f" ({1/per_million*1e6/1e3:7.1f} k lines per CPU-s); wall {find(report, 'lines_per_sec'):,.0f} lines/s,"
      f" failed requests {find(report, 'requests_failed')}")
PY
}

for round in $(seq 1 "$rounds"); do
    for protocol in "${protocols[@]}"; do
        run_one "$protocol" "$round"
    done
done
