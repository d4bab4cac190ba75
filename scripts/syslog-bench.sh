#!/usr/bin/env bash
# Server CPU-seconds per million lines: syslog over TCP (scripts/syslog-load.py)
# against native HTTP ingest (loadgen), alternating, release build, one
# shard, server on CPU 0 and the sender on CPU 1.
#   scripts/syslog-bench.sh [LINES] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${1:-1000000}
ROUNDS=${2:-2}
WORK=$(mktemp -d)
HTTP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SYSLOG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TIMBERDB_SYSLOG_TCP_LISTEN="127.0.0.1:$SYSLOG_PORT" taskset -c 0 ./target/release/timberdb \
    --data-dir "$WORK/data" --listen "127.0.0.1:$HTTP_PORT" --shards 1 >"$WORK/server.log" 2>&1 &
PID=$!
trap 'kill $PID; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
until curl -fsS "http://127.0.0.1:$HTTP_PORT/health" >/dev/null 2>&1; do sleep 0.1; done
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
TICKS=$(getconf CLK_TCK)
for round in $(seq 1 "$ROUNDS"); do
    before=$(cpu)
    taskset -c 1 ./target/release/loadgen --target "http://127.0.0.1:$HTTP_PORT" --protocol native \
        --lines "$LINES" --warmup 0s --connections 2 --batch 1000 >"$WORK/native.txt" 2>&1
    after=$(cpu)
    echo "round $round native: $(python3 -c "print(f'server {($after-$before)/$TICKS:.2f} CPU-s for $LINES lines = {($after-$before)/$TICKS/$LINES*1e6:.3f} CPU-s per million')") $(grep -m1 -i 'lines/s' "$WORK/native.txt" || true)"
    echo "round $round syslog: $(taskset -c 1 python3 scripts/syslog-load.py --addr "127.0.0.1:$SYSLOG_PORT" \
        --metrics "http://127.0.0.1:$HTTP_PORT/metrics" --lines "$LINES" --connections 2 --server-pid $PID)"
done
