#!/usr/bin/env bash
# The web UI in a real browser: headless Chromium (Debian's `chromium` and
# `chromium-driver`) driven by Selenium against the release binary loaded
# with known data (tests/browser/test_ui.py says what it checks).
#
#   bash tests/browser/run.sh                      # the suite
#   UI_SCREENSHOTS=docs/ui bash tests/browser/run.sh   # and rewrite the README's screenshots
#   TIMBERDB_BIN=target/debug/timberdb bash tests/browser/run.sh
#
# Installs what is missing (apt-get for the browser, a virtual environment
# under target/browser for Selenium), is bounded by BROWSER_SUITE_TIMEOUT
# seconds (default 300) and prints its time.
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$SECONDS

# TIMBERDB_BIN=path runs another build of the server (and skips this one).
if [[ -z "${TIMBERDB_BIN:-}" ]]; then
    cargo build --release --locked --bin timberdb
fi

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    echo "== installing chromium and chromium-driver"
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi

work=target/browser
venv="$work/venv"
mkdir -p "$work"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/browser/requirements.txt

status=0
TIMBERDB_BIN="${TIMBERDB_BIN:-target/release/timberdb}" BROWSER_WORK="$work" \
    timeout --kill-after=10 "${BROWSER_SUITE_TIMEOUT:-300}" \
    "$venv/bin/python" tests/browser/test_ui.py "$@" || status=$?
if ((status == 0)); then
    echo "== web UI browser suite passed in $((SECONDS - started)) s"
else
    echo "== web UI browser suite FAILED (status $status) after $((SECONDS - started)) s"
fi
exit "$status"
