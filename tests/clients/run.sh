#!/usr/bin/env bash
# Runs every real-client test (tests/clients/*.sh but this file and lib.sh)
# against the release binary: real shippers and client libraries, installed
# here from PyPI and Debian's packages, send known lines to a real timberdb
# and each script reads them back through the query API.
#
#   bash tests/clients/run.sh            # all of them
#   bash tests/clients/run.sh es otlp    # some, by name
#
# Each suite is bounded (CLIENT_SUITE_TIMEOUT seconds, default 600) and
# prints its time, so CI's budget stays visible.
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build --release --locked --bin timberdb
timeout_seconds="${CLIENT_SUITE_TIMEOUT:-600}"

suites=("$@")
if ((${#suites[@]} == 0)); then
    for script in tests/clients/*.sh; do
        name=$(basename "$script" .sh)
        [[ "$name" == lib || "$name" == run ]] && continue
        suites+=("$name")
    done
fi

failed=()
for name in "${suites[@]}"; do
    started=$SECONDS
    echo "== client suite $name"
    if timeout --kill-after=10 "$timeout_seconds" bash "tests/clients/$name.sh"; then
        echo "== client suite $name passed in $((SECONDS - started)) s"
    else
        echo "== client suite $name FAILED (status $?) after $((SECONDS - started)) s"
        failed+=("$name")
    fi
done
if ((${#failed[@]})); then
    echo "failed client suites: ${failed[*]}"
    exit 1
fi
echo "all ${#suites[@]} client suites passed"
