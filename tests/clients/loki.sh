#!/usr/bin/env bash
# Real Loki clients against timberdb's POST /loki/api/v1/push:
# - python-logging-loki (JSON push, its v1 emitter), through Python logging;
# - a script that sends snappy protobuf exactly as Promtail does
#   (loki_promtail_push.py: protobuf + cramjam, tenant header).
# Every line is read back through the query API by a label tag and by a word;
# the script exits non-zero if any is missing. Versions:
# requirements-loki.txt.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

clients_venv
start_server
PY="$VENV/bin/python"
PUSH_URL="$SERVER_URL/loki/api/v1/push"
LINES=25
failures=0

expect_count() { # PARTITION QUERY EXPECTED
    local got
    got=$(count_matching "$1" "$2")
    if [[ "$got" != "$3" ]]; then
        echo "FAIL: partition $1, query '$2': $got entries, expected $3" >&2
        failures=$((failures + 1))
    else
        echo "ok: partition $1, query '$2': $got entries"
    fi
}

echo "== python-logging-loki (JSON)"
"$PY" - "$PUSH_URL" "$LINES" <<'PYEOF'
import logging, sys
import logging_loki

url, count = sys.argv[1], int(sys.argv[2])
failed = []
class Handler(logging_loki.LokiHandler):
    def handleError(self, record):
        failed.append(sys.exc_info()[1])
handler = Handler(url=url, tags={"application": "pyclient"}, version="1")
logger = logging.getLogger("loki-client-test")
logger.addHandler(handler)
logger.setLevel(logging.INFO)
for i in range(count):
    logger.error("pyloki json line %d says kumquat", i, extra={"tags": {"request_id": f"r{i}"}})
if failed:
    sys.exit(f"python-logging-loki failed: {failed[0]!r}")
PYEOF
expect_count loki "tags.application:pyclient" "$LINES"
expect_count loki "kumquat" "$LINES"
expect_count loki "level:error AND source:pyclient" "$LINES"
expect_count loki "tags.request_id:r7" 1

echo "== Promtail-style protobuf + snappy"
"$PY" "$CLIENTS_DIR/loki_promtail_push.py" "$PUSH_URL" promtail-tenant persimmon "$LINES"
expect_count promtail-tenant "tags.job:promtail-script" "$LINES"
expect_count promtail-tenant "persimmon" "$LINES"
expect_count promtail-tenant "tags.trace_id:trace-3" 1
expect_count promtail-tenant "level:warn AND source:promtail-script" "$LINES"

if ((failures)); then
    echo "loki clients: $failures checks failed" >&2
    exit 1
fi
echo "loki clients: all lines read back"
