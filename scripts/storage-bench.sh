#!/usr/bin/env bash
# Storage benchmark (format v3): for each corpus, load LINES lines into a
# fresh server with the DEFAULT configuration, stop it gracefully, and
# report ingest lines/s, disk used per line (du of the data directory, WAL
# included), where those bytes go (examples/storage_breakdown.rs), the
# latency of the corpus's queries, and the server's RSS after them.
#
# Why it is shaped this way:
# - One shard on core 0, loadgen on core 1, so the client never steals the
#   server's core (the machine of docs/BENCHMARKS.md has 2); figures are per
#   server core.
# - The default configuration: no block size, codec or cache is tuned, so
#   what is measured is what a new user gets. The corpora are three shapes
#   nobody tuned the format to alone: loadgen's generator (JSON fields, six
#   tags, templated messages), the access-log workload (one unique request
#   id per line, numbers in every message) and plain text lines (Debian
#   changelogs of this machine's packages, no fields or tags).
# - Ingest is closed loop (as fast as the server acknowledges), durable
#   (sync_writes = true, the default), 8 connections, batches of 1000.
# - The server is stopped with SIGTERM after the load: a graceful stop seals
#   every block and removes the WAL, so du counts what stays; it is started
#   again for the queries, which then read sealed blocks only.
# - Queries run closed loop on one connection, QUERIES of each kind after a
#   warm-up of each kind twice (so granule filters are in the cache, as on
#   a server that has been answering queries).
#
# Usage: scripts/storage-bench.sh [OUT_DIR]   (default: storage-bench-out)
# Environment: LINES (2000000), CORPORA ("generator access-log plain"),
# QUERIES (100), PORT (7890), DATA_ROOT (a temporary directory, removed on
# exit), PLAIN_FILE (built from /usr/share/doc/*/changelog*.gz if absent),
# CARGO_TARGET_DIR.
set -euo pipefail

out_dir=${1:-storage-bench-out}
lines=${LINES:-2000000}
read -r -a corpora <<<"${CORPORA:-generator access-log plain}"
queries=${QUERIES:-100}
port=${PORT:-7890}
target_dir=${CARGO_TARGET_DIR:-target}

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
if [[ -n "${DATA_ROOT:-}" ]]; then
    data_root=$DATA_ROOT
    remove_data_root=
else
    data_root=$(mktemp -d /tmp/timberdb-storage-bench.XXXXXX)
    remove_data_root=1
fi
mkdir -p "$data_root"
target="http://127.0.0.1:$port"
server_pid=

stop_server() {
    if [[ -n "$server_pid" ]]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" || true
        server_pid=
    fi
}
cleanup() {
    stop_server
    if [[ -n "$remove_data_root" ]]; then
        rm -rf -- "$data_root"
    fi
}
trap cleanup EXIT

start_server() {
    local data_dir=$1
    taskset -c 0 "$target_dir/release/timberdb" --shards 1 --data-dir "$data_dir" \
        --listen "127.0.0.1:$port" >>"$out_dir/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 600); do
        if curl -sf "$target/health" >/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "timberdb did not answer /health within 60 s; see $out_dir/server.log" >&2
    exit 1
}

# Plain text lines: every changelog of the installed packages, leading
# blanks dropped, repeated until there are enough.
plain_file() {
    local file=${PLAIN_FILE:-$data_root/plain.txt}
    if [[ ! -s "$file" ]]; then
        local source="$data_root/changelogs.txt"
        zcat -f /usr/share/doc/*/changelog*.gz 2>/dev/null |
            sed 's/^[[:space:]]*//' | grep -v '^$' >"$source" || true
        if [[ ! -s "$source" ]]; then
            echo "no changelogs under /usr/share/doc to build the plain corpus from; set PLAIN_FILE" >&2
            exit 1
        fi
        while [[ $(wc -l <"$file" 2>/dev/null || echo 0) -lt $lines ]]; do
            cat "$source" >>"$file"
        done
    fi
    echo "$file"
}

# Query kinds per corpus: `loadgen query` options.
query_args() {
    case $1 in
    generator)
        echo "--mix needle,level,tag,range,count,regex --time-base data --window 1s"
        ;;
    access-log)
        # The issue's six questions (docs/BENCHMARKS.md, "Storage v3").
        printf '%s\n' \
            '--body' 'rare={"q":"zebracorn","limit":100}' \
            '--body' "level_count={\"q\":\"SELECT count(*) WHERE level = 'error'\"}" \
            '--body' "phrase_by_source={\"q\":\"SELECT source, count(*) WHERE SEARCH('\\\"status=500\\\"') GROUP BY source\"}" \
            '--body' 'count_by_level={"q":"SELECT level, count(*) GROUP BY level"}' \
            '--body' 'tag_word={"q":"component:billing user4999","limit":10}' \
            '--body' "regex_count={\"q\":\"SELECT count(*) WHERE message MATCHES 'in [0-9]{4}ms status=5'\"}"
        ;;
    plain)
        printf '%s\n' \
            '--body' 'absent_word={"q":"zebracorn","limit":100}' \
            '--body' 'word_limit={"q":"security","limit":100}' \
            "--body" "word_count={\"q\":\"SELECT count(*) WHERE SEARCH('urgency')\"}" \
            "--body" "phrase_count={\"q\":\"SELECT count(*) WHERE SEARCH('\\\"new upstream release\\\"')\"}" \
            "--body" "regex_count={\"q\":\"SELECT count(*) WHERE message MATCHES 'CVE-20[0-9]{2}-[0-9]{4,}'\"}"
        ;;
    esac
}

echo "== build"
cargo build --release --workspace --bins --example storage_breakdown
loadgen="$target_dir/release/loadgen"
{
    echo "revision: $(git rev-parse HEAD)"
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
    echo "data: $data_root ($(findmnt -T "$data_root" -no FSTYPE))"
    echo "lines: $lines per corpus; default configuration, 1 shard on core 0, loadgen on core 1"
} | tee "$out_dir/setup.txt"

for corpus in "${corpora[@]}"; do
    data_dir="$data_root/$corpus"
    rm -rf -- "$data_dir"
    case $corpus in
    plain) workload=(--replay "$(plain_file)") ;;
    *) workload=(--workload "$corpus") ;;
    esac
    echo "== $corpus: load $lines lines"
    start_server "$data_dir"
    taskset -c 1 "$loadgen" --target "$target" --partition bench --seed 42 "${workload[@]}" \
        --lines "$lines" --batch 1000 --connections 8 --warmup 0s --cpus 1 --quiet \
        --json "$out_dir/$corpus-load.json" | tee "$out_dir/$corpus-load.txt"
    stop_server
    bytes=$(du -sb "$data_dir" | cut -f1)
    allocated=$(($(du -sk "$data_dir" | cut -f1) * 1024))
    echo "du: $bytes bytes ($(awk "BEGIN {printf \"%.2f\", $bytes / $lines}") B/line), allocated $allocated ($(awk "BEGIN {printf \"%.2f\", $allocated / $lines}") B/line)" |
        tee "$out_dir/$corpus-disk.txt"
    "$target_dir/release/examples/storage_breakdown" "$data_dir" | tee -a "$out_dir/$corpus-disk.txt"

    echo "== $corpus: queries"
    start_server "$data_dir"
    mapfile -t args < <(query_args "$corpus")
    # shellcheck disable=SC2206 # the generator's options are plain words
    [[ $corpus == generator ]] && args=(${args[0]})
    taskset -c 1 "$loadgen" query --target "$target" --partition bench --seed 42 \
        "${args[@]}" --connections 1 --queries 12 --cpus 1 --quiet >/dev/null
    kinds=$(grep -c -- '^--body$' < <(printf '%s\n' "${args[@]}") || true)
    [[ $kinds -eq 0 ]] && kinds=6
    taskset -c 1 "$loadgen" query --target "$target" --partition bench --seed 42 \
        "${args[@]}" --connections 1 --queries "$((queries * kinds))" --duration 300s \
        --cpus 1 --quiet --json "$out_dir/$corpus-query.json" | tee "$out_dir/$corpus-query.txt"
    grep VmRSS "/proc/$server_pid/status" | tee -a "$out_dir/$corpus-query.txt"
    stop_server
done

echo "== summary"
for corpus in "${corpora[@]}"; do
    echo "-- $corpus"
    grep -h "lines/s per server core" "$out_dir/$corpus-load.txt" || true
    head -1 "$out_dir/$corpus-disk.txt"
    grep -h '^| ' "$out_dir/$corpus-query.txt" || true
    grep -h VmRSS "$out_dir/$corpus-query.txt"
done
