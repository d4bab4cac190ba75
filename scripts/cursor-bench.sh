#!/usr/bin/env bash
# Page 1 against page 1000 of a 2 M line partition, by cursor and by offset.
# Server on core 0 (default configuration, fresh data directory), loadgen and
# the query client on core 1; release binaries.
#   scripts/cursor-bench.sh [SERVER_BIN] [LOADGEN_BIN] [LINES]
set -euo pipefail
server_bin=${1:-target/release/timberdb}
loadgen_bin=${2:-target/release/loadgen}
lines=${3:-2000000}
port=${PORT:-7792}
data_dir=$(mktemp -d /tmp/cursor-bench.XXXXXX)
log="$data_dir.log"
taskset -c 0 "$server_bin" --data-dir "$data_dir" --listen "127.0.0.1:$port" >"$log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null; rm -rf "$data_dir" "$log"' EXIT
for _ in $(seq 200); do
    grep -q "listening on" "$log" && break
    sleep 0.1
done
taskset -c 1 "$loadgen_bin" --target "http://127.0.0.1:$port" --lines "$lines" \
    --warmup 0s --seed 42 --partition bench >/dev/null
echo "loaded $lines lines into partition bench"
taskset -c 1 python3 - "$port" <<'PY'
import http.client, json, statistics, sys, time
port = int(sys.argv[1])
conn = http.client.HTTPConnection("127.0.0.1", port)
LIMIT, DEEP, REPEATS = 1000, 1000, 3

def query(body):
    started = time.perf_counter()
    conn.request("POST", "/api/v1/query", json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    answer = json.loads(response.read())
    wall_ms = (time.perf_counter() - started) * 1000
    assert response.status == 200, answer
    return answer, wall_ms

def timed(body):
    runs = [query(body) for _ in range(REPEATS)]
    answer = runs[-1][0]
    server_ms = statistics.median(a["execution_time_ms"] for a, _ in runs)
    wall_ms = statistics.median(w for _, w in runs)
    return answer, server_ms, wall_ms

def show(order, how, page, answer, server_ms, wall_ms):
    stats = answer["stats"]
    print(f"{order:4} {how:6} page {page:4}: server {server_ms:8.2f} ms  wall {wall_ms:8.2f} ms  "
          f"returned {answer['returned_count']:4}  granules read {stats['granules_scanned']:5}  "
          f"entries scanned {stats['entries_scanned']:8}  first id {answer['entries'][0]['id']}")

for order in ["desc", "asc"]:
    base = {"partitions": ["bench"], "order": order, "limit": LIMIT}
    # By offset: page 1 and page DEEP.
    for page in [1, DEEP]:
        body = dict(base, offset=(page - 1) * LIMIT)
        show(order, "offset", page, *timed(body))
    # By cursor: walk to page DEEP, then time page 1 and page DEEP.
    cursor, deep_ids = None, None
    for page in range(1, DEEP + 1):
        body = dict(base)
        if cursor:
            body["cursor"] = cursor
        if page in (1, DEEP):
            answer, server_ms, wall_ms = timed(body)
            show(order, "cursor", page, answer, server_ms, wall_ms)
        else:
            answer, _ = query(body)
        if page == DEEP:
            deep_ids = [e["id"] for e in answer["entries"]]
        cursor = answer["next"]
    offset_ids = [e["id"] for e in query(dict(base, offset=(DEEP - 1) * LIMIT))[0]["entries"]]
    print(f"{order:4} page {DEEP} by cursor == page {DEEP} by offset: {deep_ids == offset_ids}")
PY
