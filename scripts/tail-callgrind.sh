#!/usr/bin/env bash
# What live tails cost the ingest path, counted in instructions rather than
# seconds: the server runs under valgrind's callgrind, counters are zeroed
# once the tails are open, LINES lines of the generator corpus are ingested
# (the same bodies as scripts/tail-ab.sh), and the counters are dumped.
# Instruction counts repeat for the same binary and input whatever else the
# machine is doing, so A (no tail) against B (TAILS tails) is an A/B that a
# busy machine cannot blur; wall time under callgrind means nothing.
#
# Usage: scripts/tail-callgrind.sh            (prints A, B and B/A)
# Environment: TAILS (100), MIX (distinct), LINES (100000), PORT (7898),
# TIMBERDB (target/release/timberdb), LOADGEN (target/release/loadgen),
# KEEP (a directory to keep the callgrind files in, for callgrind_annotate).
set -euo pipefail

tails=${TAILS:-100}
mix=${MIX:-distinct}
lines=${LINES:-100000}
port=${PORT:-7898}
timberdb=${TIMBERDB:-target/release/timberdb}
loadgen=${LOADGEN:-target/release/loadgen}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/timberdb-tail-callgrind.XXXXXX)
keep=${KEEP:-$work}
trap 'rm -rf -- "$work"' EXIT

# Instructions the server executed while LINES lines went in, with
# $1 tails open; the callgrind file is left as $keep/$2.
count_run() {
    local tail_count=$1 name=$2
    rm -rf -- "$work/data"
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" "$timberdb" --shards 1 \
        --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
    local server_pid=$! clients_pid=
    for _ in $(seq 300); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
        sleep 0.5
    done
    curl -sf -XPOST "http://127.0.0.1:$port/api/v1/partitions/create" \
        -H 'content-type: application/json' -d '{"name":"ab"}' >/dev/null
    if [[ $tail_count -gt 0 ]]; then
        coproc CLIENTS { exec python3 "$here/tail-clients.py" "$port" "$tail_count" "$mix" 2>"$work/clients.log"; }
        clients_pid=$CLIENTS_PID
        read -r ready <&"${CLIENTS[0]}"
        [[ $ready == ready ]] || { echo "tail clients did not start" >&2; exit 1; }
    fi
    callgrind_control -z "$server_pid" >/dev/null
    "$loadgen" --target "http://127.0.0.1:$port" --partition ab --seed 42 --lines "$lines" \
        --batch 1000 --connections 8 --warmup 0s --cpus 1 --reuse-bodies 64 >"$work/loadgen.log" 2>&1
    # Let the last batches reach the tails before the count is taken.
    sleep 2
    callgrind_control -d "$server_pid" >/dev/null
    local sent
    sent=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^timberdb_tail_entries_sent_total/ {s+=$2} END {print s+0}')
    if [[ -n "$clients_pid" ]]; then
        kill "$clients_pid" 2>/dev/null || true
    fi
    kill -TERM "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    local dump
    dump=$(ls -t "$work"/cg."$server_pid".* | head -1)
    [[ "$keep" != "$work" ]] && cp "$dump" "$keep/$name"
    local instructions
    instructions=$(grep -m1 '^summary:' "$dump" | cut -d' ' -f2)
    echo "$name tails=$tail_count entries_sent=$sent instructions=$instructions per_line=$((instructions / lines))" >&2
    echo "$instructions"
}

a=$(count_run 0 A.callgrind)
b=$(count_run "$tails" B.callgrind)
awk -v a="$a" -v b="$b" 'BEGIN {printf "B/A instructions: %.3f (%+.1f%%)\n", b / a, (b / a - 1) * 100}'
