#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a short, bounded time with a
# fixed seed (CI's smoke run; a long hunt is in docs/FUZZING.md). The
# targets are built once, then the total budget is shared between them, so
# the stage stays bounded however many targets there are. Each starts from
# its committed corpus and regressions (read only: new inputs go to a
# scratch directory, so the working tree stays clean). A crash, a hang
# (10 s) or more than 2 GiB of memory fails the run and leaves the input in
# fuzz/artifacts/NAME/.
#
# Usage: scripts/fuzz-smoke.sh [TOTAL_SECONDS]   (default 240, at least 5 s a target)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
total_seconds=${1:-240}
if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked
fi
cargo +nightly fuzz build
mapfile -t targets < <(cargo +nightly fuzz list)
seconds=$((total_seconds / ${#targets[@]}))
if ((seconds < 5)); then
    seconds=5
fi
echo "fuzzing ${#targets[@]} targets for $seconds s each"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
    started=$SECONDS
    mkdir -p "$scratch/$target"
    inputs=("$scratch/$target")
    for dir in "corpus/$target" "regressions/$target"; do
        if [[ -d $dir ]]; then
            inputs+=("$dir")
        fi
    done
    options=(-max_total_time="$seconds" -seed=1 -timeout=10 -rss_limit_mb=2048)
    if [[ -f dict/$target.dict ]]; then
        options+=(-dict="dict/$target.dict")
    fi
    # grep hides libFuzzer's progress lines; the status kept is fuzz's.
    set +e
    cargo +nightly fuzz run "$target" "${inputs[@]}" -- "${options[@]}" 2>&1 |
        grep -E "^Done|ERROR|panicked|SUMMARY"
    status=${PIPESTATUS[0]}
    set -e
    if [[ $status -ne 0 ]]; then
        echo "fuzz target $target FAILED; its input is in fuzz/artifacts/$target/"
        exit 1
    fi
    echo "fuzz target $target: no crash in $((SECONDS - started)) s"
done
