#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a short, bounded time with a
# fixed seed (CI's smoke run; a long hunt is `cargo +nightly fuzz run NAME`
# in fuzz/ without -max_total_time). A crash fails the run and leaves its
# input in fuzz/artifacts/NAME/.
#
# Usage: scripts/fuzz-smoke.sh [SECONDS_PER_TARGET]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-30}
if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked
fi
cargo +nightly fuzz build
for target in $(cargo +nightly fuzz list); do
    started=$SECONDS
    # grep hides libFuzzer's progress lines; the status kept is fuzz's.
    set +e
    cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -seed=1 2>&1 |
        grep -E "^Done|ERROR|panicked|SUMMARY"
    status=${PIPESTATUS[0]}
    set -e
    if [[ $status -ne 0 ]]; then
        echo "fuzz target $target FAILED; its input is in fuzz/artifacts/$target/"
        exit 1
    fi
    echo "fuzz target $target: no crash in $((SECONDS - started)) s"
done
