#!/usr/bin/env bash
# The README's first steps, run exactly as a new user runs them: from the
# repository root, with no data directory yet,
#
#   cargo run --release -- --help
#   cargo run --release -- check
#   cargo run --release                  (in the background, until /health answers)
#   every ```sh block of README.md that does not run cargo, in order
#   Ctrl-C (SIGINT), and the server must exit with status 0
#
# Each README block runs in a scratch directory (so `cat > logs.ndjson`
# lands there; ./timberdb-data in it is a link to the server's, and
# `timberdb` is the binary the first command built) with `curl` wrapped to
# fail on an HTTP error status, so an
# example that stops working fails this script. The server's data goes to
# ./timberdb-data, the README's default; the script refuses to start if that
# directory already exists (the first command must meet a fresh clone) and
# removes it at the end.
#
# Usage: scripts/readme-examples.sh   (PORT is the README's 7777)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
health=http://127.0.0.1:7777/health
# The first `cargo run --release` also builds; on a 2-core machine that takes minutes.
build_deadline_s=${BUILD_DEADLINE_S:-2400}

if [[ -e timberdb-data ]]; then
    echo "readme-examples: ./timberdb-data already exists; the README's first command must meet a fresh clone (move it away)" >&2
    exit 1
fi
if curl -s -o /dev/null "$health"; then
    echo "readme-examples: something already answers on 127.0.0.1:7777; stop it first" >&2
    exit 1
fi

scratch=$(mktemp -d)
server_log="$scratch/server.log"
server_pid=
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$repo/timberdb-data" "$scratch"
}
trap cleanup EXIT

echo "== cargo run --release -- --help"
cargo run --release -- --help | head -n 5

echo "== cargo run --release -- check"
cargo run --release -- check

echo "== cargo run --release   (in the background, until /health answers)"
cargo run --release >"$server_log" 2>&1 &
server_pid=$!
started=$SECONDS
until curl -sf -o /dev/null "$health"; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "readme-examples: the README's main command exited before serving; its output:" >&2
        tail -n 20 "$server_log" >&2
        exit 1
    fi
    if (( SECONDS - started > build_deadline_s )); then
        echo "readme-examples: no /health answer within ${build_deadline_s}s" >&2
        tail -n 20 "$server_log" >&2
        exit 1
    fi
    sleep 0.5
done
grep -m1 '^timberdb listening on' "$server_log"
[[ -d timberdb-data ]] || { echo "readme-examples: no ./timberdb-data was created" >&2; exit 1; }

echo "== the README's examples, in order"
# Blocks name the server's data as ./timberdb-data, as a user in the
# repository root would (e.g. a snapshot's directory).
ln -s "$repo/timberdb-data" "$scratch/timberdb-data"
python3 - "$repo/README.md" "$scratch/blocks" <<'PY'
import os, sys
readme, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
blocks, current = [], None
for line in open(readme, encoding="utf-8"):
    if current is None and line.strip() == "```sh":
        current = []
    elif current is not None and line.strip() == "```":
        blocks.append("".join(current))
        current = None
    elif current is not None:
        current.append(line)
kept = [b for b in blocks if "cargo " not in b]
for index, block in enumerate(kept):
    with open(os.path.join(out, f"{index:03}.sh"), "w", encoding="utf-8") as f:
        f.write(block)
print(f"{len(kept)} blocks to run ({len(blocks) - len(kept)} cargo blocks run above)")
PY
for block in "$scratch"/blocks/*.sh; do
    echo "-- $(basename "$block")"
    sed 's/^/   | /' "$block"
    status=0
    (
        cd "$scratch"
        # An HTTP error status fails the block; the body is still shown.
        curl() { command curl --fail-with-body -sS "$@"; echo; }
        # `timberdb` in a block is the binary `cargo run --release` built.
        PATH="$repo/target/release:$PATH"
        set -e
        # shellcheck disable=SC1090
        source "$block"
    ) >"$scratch/block.out" 2>&1 || status=$?
    head -c 3000 "$scratch/block.out"
    if [[ $status -ne 0 ]]; then
        echo "readme-examples: README block $(basename "$block") failed with status $status" >&2
        exit 1
    fi
done

echo "== Ctrl-C (SIGINT): a graceful stop exits with status 0"
kill -INT "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=
if [[ $status -ne 0 ]]; then
    echo "readme-examples: the server exited with status $status after SIGINT" >&2
    tail -n 20 "$server_log" >&2
    exit 1
fi
tail -n 1 "$server_log"
echo "readme-examples: ok"
