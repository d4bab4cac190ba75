#!/usr/bin/env bash
# End-to-end ingest benchmark: the real timberdb server (one shard, pinned to
# one core) takes NDJSON POSTs from wrk (pinned to another core) for a fixed
# time; the script reports lines/s, MB/s and latency, checks that the server
# stores every acknowledged line, stops it gracefully and measures the
# on-disk size of the sealed blocks.
#
# Usage (from anywhere; the script finds the repository from its own path):
#   tuning/wrk-ingest.sh
#   BATCH=10000 CONNECTIONS=8 DURATION=10 tuning/wrk-ingest.sh
#   TIMBERDB_SYNC_WRITES=false TIMBERDB_FSYNC_INTERVAL=1000 tuning/wrk-ingest.sh
#   TIMBERDB_COMPRESSION=zstd tuning/wrk-ingest.sh
#   PERF_OUT=/tmp/perf.data tuning/wrk-ingest.sh     # also profile the server
#
# Settings (environment):
#   BATCH        lines per request (default 1000)
#   CONNECTIONS  wrk connections, i.e. requests in flight (default 8)
#   DURATION     seconds of the measured run (default 10)
#   WARMUP       seconds of an unmeasured wrk run first (default 2; 0 = none)
#   DISTINCT_LINES  distinct lines generated (default 65536, rounded up to a
#                multiple of BATCH); wrk sends them as bodies of BATCH lines
#                round-robin, so a sealed block (8 MiB, ~35k lines) holds
#                distinct data and the compression ratio is not inflated by
#                repeats of one body
#   SEED         seed of the lines (default 42)
#   SERVER_CPU   core the server is pinned to (default 0)
#   WRK_CPU      core wrk is pinned to (default 1)
#   BENCH_DIR    where the data directory is created (default $TMPDIR or /tmp);
#                it must be on the disk you mean to measure, not tmpfs
#   PORT         listen port (default 0: the server picks one)
#   NO_BUILD     1 = do not run cargo build; use the existing binary
#   TIMBERDB_BIN the server binary (default $CARGO_TARGET_DIR/release/timberdb,
#                or target/release/timberdb in the repository)
#   PERF_OUT     when set, `perf record -g` the server for PERF_SECONDS
#                (default 5), starting 1 s into the measured run, into this file;
#                PERF_RECORD_ARGS replaces -g (e.g. "--call-graph dwarf" to see
#                who calls memcpy in a binary without frame pointers)
#   KEEP         1 = keep the data directory and server log afterwards
#   TIMBERDB_*   passed through to the server (see docs/CONFIG.md), e.g.
#                TIMBERDB_SYNC_WRITES, TIMBERDB_FSYNC_INTERVAL, TIMBERDB_COMPRESSION
#
# Needs: cargo, wrk, curl, python3, taskset (util-linux); perf for PERF_OUT.
# Latencies are wrk's closed-loop latencies: they are not corrected for
# coordinated omission.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BATCH=${BATCH:-1000}
CONNECTIONS=${CONNECTIONS:-8}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
DISTINCT_LINES=${DISTINCT_LINES:-65536}
SEED=${SEED:-42}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}}
PORT=${PORT:-0}
PERF_SECONDS=${PERF_SECONDS:-5}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
TIMBERDB_BIN=${TIMBERDB_BIN:-$TARGET_DIR/release/timberdb}

# Design target and parse ceiling the results are stated against (see
# docs/BENCHMARKS.md, "Machine and ceilings").
TARGET_LINES_PER_SEC=1000000
PARSE_CEILING_LINES_PER_SEC=2680000

die() {
    echo "wrk-ingest: $*" >&2
    exit 1
}

for tool in wrk curl python3 taskset; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
[[ $BATCH =~ ^[1-9][0-9]*$ ]] || die "BATCH must be a positive integer, got '$BATCH'"
[[ $CONNECTIONS =~ ^[1-9][0-9]*$ ]] || die "CONNECTIONS must be a positive integer"
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "DURATION must be a positive integer (seconds)"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a whole number of seconds"
[[ $DISTINCT_LINES =~ ^[1-9][0-9]*$ ]] || die "DISTINCT_LINES must be a positive integer"

if [[ ${NO_BUILD:-0} != 1 ]]; then
    echo "== building the release binary (cargo build --release --bin timberdb)"
    (cd "$ROOT" && cargo build --release --bin timberdb)
fi
[[ -x $TIMBERDB_BIN ]] || die "no server binary at $TIMBERDB_BIN"

WORK=$(mktemp -d "$BENCH_DIR/timberdb-wrk.XXXXXX")
DATA_DIR=$WORK/data
BODY_FILE=$WORK/body.ndjson
SERVER_LOG=$WORK/server.log
SERVER_PID=
PERF_PID=

stop_server() {
    # SIGTERM seals every active block and syncs the WAL before exit; allow
    # up to 120 s for that, then kill.
    local pid=$SERVER_PID
    [[ -n $pid ]] || return 0
    SERVER_PID=
    kill -TERM "$pid" 2>/dev/null || return 0
    local deadline=$((SECONDS + 120))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS > deadline)); then
            echo "wrk-ingest: server $pid did not stop within 120 s of SIGTERM; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    local status=0
    wait "$pid" 2>/dev/null || status=$?
    SERVER_STATUS=$status
}

cleanup() {
    [[ -n $PERF_PID ]] && kill -INT "$PERF_PID" 2>/dev/null || true
    stop_server
    if [[ ${KEEP:-0} == 1 ]]; then
        echo "kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

echo "== bodies"
BODY_COUNT=$(((DISTINCT_LINES + BATCH - 1) / BATCH))
LINE_COUNT=$((BODY_COUNT * BATCH))
python3 "$ROOT/tuning/make_body.py" "$LINE_COUNT" "$BODY_FILE" --seed "$SEED"
echo "sent as $BODY_COUNT distinct bodies of $BATCH lines, round-robin"
FILE_BYTES=$(stat -c %s "$BODY_FILE")
LINE_BYTES=$(python3 -c "print(f'{$FILE_BYTES / $LINE_COUNT:.1f}')")

echo "== server"
echo "binary: $TIMBERDB_BIN"
echo "repository revision: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || echo ' (src/ has uncommitted changes)')"
echo "server env: $(env | grep '^TIMBERDB_' | grep -v '^TIMBERDB_BIN=' | sort | tr '\n' ' ')"
taskset -c "$SERVER_CPU" "$TIMBERDB_BIN" --shards 1 --data-dir "$DATA_DIR" \
    --listen "127.0.0.1:$PORT" >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
deadline=$((SECONDS + 60))
ADDR=
until ADDR=$(grep -m1 -o 'timberdb listening on http://[0-9.:]*' "$SERVER_LOG" 2>/dev/null); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        cat "$SERVER_LOG" >&2
        SERVER_PID=
        die "the server exited before it listened"
    fi
    ((SECONDS < deadline)) || die "the server did not print 'timberdb listening on' within 60 s"
    sleep 0.05
done
URL=${ADDR#timberdb listening on }
echo "server pid $SERVER_PID on core $SERVER_CPU at $URL, data in $DATA_DIR"

status=$(curl -sS -o "$WORK/create.json" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' -d '{"name":"bench"}' \
    "$URL/api/v1/partitions/create")
[[ $status == 201 ]] || die "creating partition bench answered $status: $(cat "$WORK/create.json")"

# Runs wrk for $1 seconds; its output goes to $2.
run_wrk() {
    BODY_FILE=$BODY_FILE BATCH=$BATCH PARTITION=bench taskset -c "$WRK_CPU" \
        wrk -t1 -c"$CONNECTIONS" -d"$1"s --latency -s "$ROOT/tuning/post_ndjson.lua" "$URL" >"$2"
}

# Prints field $2 of the "wrk-ingest ..." line in file $1.
wrk_field() {
    grep -m1 '^wrk-ingest ' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# The block device under the data directory, for /proc/diskstats.
DISK=$(basename "$(df --output=source "$BENCH_DIR" | tail -1)")

# One snapshot of the server core's /proc/stat line, the disk's
# /proc/diskstats line and the wrk core's /proc/stat line, to say afterwards
# where each core's time went (steal = time the hypervisor gave to others).
system_snapshot() {
    echo "$(grep "^cpu$SERVER_CPU " /proc/stat)|$(awk -v d="$DISK" '$3 == d' /proc/diskstats)|$(grep "^cpu$WRK_CPU " /proc/stat)"
}

server_cpu_ticks() {
    # utime + stime of the server process, in clock ticks.
    awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"
}

WARMUP_ACCEPTED=0
if ((WARMUP > 0)); then
    echo "== warm-up: ${WARMUP}s, not measured"
    run_wrk "$WARMUP" "$WORK/warmup.txt"
    WARMUP_ACCEPTED=$(wrk_field "$WORK/warmup.txt" accepted)
    echo "warm-up accepted $WARMUP_ACCEPTED lines, non-200 $(wrk_field "$WORK/warmup.txt" non200)"
fi

echo "== measured run: BATCH=$BATCH CONNECTIONS=$CONNECTIONS DURATION=${DURATION}s"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -n ${PERF_OUT:-} ]]; then
    command -v perf >/dev/null || die "PERF_OUT is set but perf is not installed"
    (sleep 1 && exec perf record ${PERF_RECORD_ARGS:--g} -o "$PERF_OUT" -p "$SERVER_PID" -- sleep "$PERF_SECONDS") \
        >"$WORK/perf.txt" 2>&1 &
    PERF_PID=$!
fi
ticks_before=$(server_cpu_ticks)
system_before=$(system_snapshot)
run_wrk "$DURATION" "$WORK/wrk.txt"
ticks_after=$(server_cpu_ticks)
system_after=$(system_snapshot)
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -n $PERF_PID ]]; then
    wait "$PERF_PID" || echo "wrk-ingest: perf record failed: $(cat "$WORK/perf.txt")" >&2
    PERF_PID=
    echo "perf data: $PERF_OUT (perf report -i $PERF_OUT --no-children --percent-limit 2 --stdio)"
fi
sed '/^wrk-ingest /d' "$WORK/wrk.txt"

echo "== results"
CLK_TCK=$(getconf CLK_TCK)
python3 - "$WORK/wrk.txt" "$BATCH" "$LINE_BYTES" "$((ticks_after - ticks_before))" \
    "$CLK_TCK" "$TARGET_LINES_PER_SEC" "$PARSE_CEILING_LINES_PER_SEC" "$system_before" \
    "$system_after" <<'EOF'
import sys
(path, batch, line_bytes, ticks, clk_tck, target, ceiling, system_before,
 system_after) = sys.argv[1:]
fields = {}
for line in open(path):
    if line.startswith("wrk-ingest "):
        fields = dict(item.split("=") for item in line.split()[1:])
seconds = int(fields["duration_us"]) / 1e6
ok, accepted = int(fields["ok"]), int(fields["accepted"])
lines_per_sec = accepted / seconds
mb_per_sec = lines_per_sec * float(line_bytes) / 1e6
cpu_seconds = int(ticks) / int(clk_tck)
server_cores = cpu_seconds / seconds
print(f"requests/s:          {ok / seconds:,.0f} (200s: {ok}, non-200: {fields['non200']}, "
      f"socket errors: {fields['errors']})")
print(f"lines/s:             {lines_per_sec:,.0f}  ({batch} lines of {line_bytes} bytes per request)")
print(f"MB/s of body:        {mb_per_sec:,.1f}")
print(f"server CPU:          {server_cores:.2f} cores busy "
      f"({cpu_seconds:.1f} s user+sys in {seconds:.1f} s)")
if server_cores > 0:
    print(f"lines/s per busy server core: {lines_per_sec / server_cores:,.0f}")
print(f"of the 1 M lines/s/core target: {lines_per_sec / int(target):.1%}")
print(f"of the 2.68 M lines/s parse ceiling: {lines_per_sec / int(ceiling):.1%}")
(cpu_before, disk_before, wrk_before), (cpu_after, disk_after, wrk_after) = (
    snapshot.split("|") for snapshot in (system_before, system_after))

def core_line(role, before, after):
    cpu = [int(b) - int(a) for a, b in zip(before.split()[1:], after.split()[1:])]
    total = sum(cpu) or 1
    print(f"{role} ({before.split()[0]}): user {(cpu[0] + cpu[1]) / total:.0%}, "
          f"system {(cpu[2] + cpu[5] + cpu[6]) / total:.0%}, idle {cpu[3] / total:.0%}, "
          f"iowait {cpu[4] / total:.0%}, steal {cpu[7] / total:.1%}")

core_line("server core", cpu_before, cpu_after)
core_line("wrk core", wrk_before, wrk_after)
if disk_before and disk_after:
    disk = [int(b) - int(a) for a, b in zip(disk_before.split()[3:], disk_after.split()[3:])]
    writes, sectors, write_ms = disk[4], disk[6], disk[7]
    line = f"disk {disk_before.split()[2]}: {writes} writes, {sectors * 512 / 1e6 / seconds:,.1f} MB/s written"
    if writes:
        line += f", {write_ms / writes:.2f} ms per write"
    if len(disk) >= 17 and disk[15]:
        line += f", {disk[15]} flushes, {disk[16] / disk[15]:.2f} ms per flush"
    print(line + " (whole device, all processes)")
print("latency (wrk, closed loop, not corrected for coordinated omission):")
for name in ("p50", "p90", "p99", "p999"):
    print(f"  {name:5} {int(fields[name + '_us']) / 1000:8.2f} ms")
print(f"  max   {int(fields['max_us']) / 1000:8.2f} ms")
EOF
MEASURED_ACCEPTED=$(wrk_field "$WORK/wrk.txt" accepted)
NON200=$(wrk_field "$WORK/wrk.txt" non200)

echo "== stored entries"
ACKED=$((WARMUP_ACCEPTED + MEASURED_ACCEPTED))
curl -sS -X POST -H 'Content-Type: application/json' \
    -d '{"partitions":["bench"],"limit":0}' "$URL/api/v1/query/execute" >"$WORK/query.json"
TOTAL=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['total_count'])" "$WORK/query.json") ||
    die "query failed: $(cat "$WORK/query.json")"
# wrk stops counting at the deadline; requests still in flight then (at most
# CONNECTIONS per wrk run) may be stored without being counted.
SLACK=$((CONNECTIONS * BATCH * (WARMUP > 0 ? 2 : 1)))
echo "acknowledged lines (warm-up + measured): $ACKED; total_count: $TOTAL"
CHECK=OK
if ((TOTAL < ACKED)); then
    CHECK="FAILED: $((ACKED - TOTAL)) acknowledged lines are missing"
elif ((TOTAL > ACKED + SLACK)); then
    CHECK="FAILED: $((TOTAL - ACKED)) more lines stored than acknowledged (in-flight slack $SLACK)"
fi
echo "check total_count >= acknowledged (and at most $SLACK more): $CHECK"

echo "== shutdown (SIGTERM) and on-disk size"
SERVER_STATUS=
stop_server
echo "server exit status: $SERVER_STATUS"
python3 - "$DATA_DIR" "$TOTAL" "$LINE_BYTES" <<'EOF'
import glob, json, os, sys
data_dir, total, line_bytes = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ingested = total * line_bytes
apparent = allocated = committed = 0
for shard in glob.glob(os.path.join(data_dir, "shard-*")):
    for directory, _, files in os.walk(shard):
        for name in files:
            info = os.stat(os.path.join(directory, name))
            apparent += info.st_size
            allocated += info.st_blocks * 512
    manifest = json.load(open(os.path.join(shard, "manifest.json")))
    for slice_ in manifest.get("slices", []):
        committed += sum(segment["committed_bytes"] for segment in slice_.get("segments", []))
wal = 0
for directory, _, files in os.walk(os.path.join(data_dir, "wal")):
    wal += sum(os.stat(os.path.join(directory, name)).st_size for name in files)
print(f"ingested: {total} lines x {line_bytes} bytes = {ingested / 1e6:,.1f} MB of NDJSON")
print(f"blocks published (manifest committed_bytes): {committed / 1e6:,.1f} MB"
      f" -> ratio {ingested / committed:.2f}" if committed else "no blocks published")
print(f"du -sb shard-*/ (apparent, includes 64 MiB segment preallocation): {apparent / 1e6:,.1f} MB"
      f" -> ratio {ingested / apparent:.2f}" if apparent else "shard-*/ is empty")
print(f"allocated on disk (du -s --block-size=1): {allocated / 1e6:,.1f} MB")
print(f"WAL files left (not counted above): {wal / 1e6:,.1f} MB")
EOF
if [[ $SERVER_STATUS != 0 ]]; then
    tail -20 "$SERVER_LOG" >&2
    die "the server exited with status $SERVER_STATUS after SIGTERM"
fi
[[ $CHECK == OK ]] || die "$CHECK"
((NON200 == 0)) || echo "wrk-ingest: warning: $NON200 non-200 responses in the measured run" >&2
