#!/usr/bin/env bash
# Times loadgen --verify's read-back of N lines (default 2.4 M), with the
# server on core 0 and loadgen on core 1, default configuration, a fresh
# data directory, a fixed seed and run id (so two builds see the same data).
# Prints loadgen's report, the CPU time of loadgen and of the server over
# the whole run (ingest and read-back), and the read-back's wall time.
#   scripts/verify-bench.sh SERVER_BIN LOADGEN_BIN [LINES]
set -euo pipefail
server_bin=${1:?server binary}
loadgen_bin=${2:?loadgen binary}
lines=${3:-2400000}
port=${PORT:-7791}
data_dir=$(mktemp -d /tmp/verify-bench.XXXXXX)
log="$data_dir.log"
taskset -c 0 "$server_bin" --data-dir "$data_dir" --listen "127.0.0.1:$port" >"$log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null; rm -rf "$data_dir" "$log"' EXIT
for _ in $(seq 200); do
    grep -q "listening on" "$log" && break
    sleep 0.1
done
# CPU seconds (user + system) of a process, from /proc: on a shared
# machine the wall clock depends on the neighbours, CPU time much less.
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"
}
server_cpu_before=$(cpu_seconds "$server_pid")
/usr/bin/time -f "loadgen CPU %U s user + %S s system, %e s wall" \
    taskset -c 1 "$loadgen_bin" --target "http://127.0.0.1:$port" --lines "$lines" \
    --warmup 0s --seed 42 --run-id verify-bench --verify
server_cpu_after=$(cpu_seconds "$server_pid")
echo "server CPU during the run (ingest + read-back): $(awk -v a="$server_cpu_after" -v b="$server_cpu_before" 'BEGIN {printf "%.2f", a - b}') s"
