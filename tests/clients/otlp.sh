#!/usr/bin/env bash
# Real client: the OpenTelemetry Python SDK (LoggingHandler, the OTLP/HTTP
# protobuf exporter, plain and gzip) against /v1/logs. Every line sent must
# be found through the query API, with its source, level, attributes and
# trace context; exits non-zero if any is missing.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LINES_PER_MODE=20
clients_venv
start_server

RUN_ID="run$RANDOM$RANDOM"
SENT=$("$VENV/bin/python" "$CLIENTS_DIR/otlp_client.py" "$SERVER_URL" "$RUN_ID" "$LINES_PER_MODE")
echo "sent: $SENT"

failures=0
expect() { # expect WHAT EXPECTED ACTUAL
    if [[ "$2" != "$3" ]]; then
        echo "FAIL: $1: expected $2, found $3" >&2
        failures=$((failures + 1))
    else
        echo "ok: $1 ($3)"
    fi
}

for mode in plain gzip; do
    expect "$mode lines" "$LINES_PER_MODE" \
        "$(count_matching otlp "SELECT * WHERE message CONTAINS '$RUN_ID $mode line'")"
    for index in $(seq 0 $((LINES_PER_MODE - 1))); do
        found=$(count_matching otlp "SELECT * WHERE message = 'otlpclient $RUN_ID $mode line $index' AND source = 'otlp-client-test' AND fields.request_id = '$RUN_ID-$mode-$index'")
        [[ "$found" == 1 ]] || { echo "FAIL: $mode line $index: found $found" >&2; failures=$((failures + 1)); }
    done
    expect "$mode warnings (logged in a span)" $((LINES_PER_MODE / 2)) \
        "$(count_matching otlp "SELECT * WHERE message CONTAINS '$RUN_ID $mode' AND level = 'warn' AND EXISTS(tags.span_id)")"
    expect "$mode infos" $((LINES_PER_MODE / 2)) \
        "$(count_matching otlp "SELECT * WHERE message CONTAINS '$RUN_ID $mode' AND level = 'info'")"
    for trace_id in $(echo "$SENT" | python3 -c "import json,sys; print(*json.load(sys.stdin)['trace_ids']['$mode'])"); do
        found=$(count_matching otlp "SELECT * WHERE tags.trace_id = '$trace_id'")
        [[ "$found" == 1 ]] || { echo "FAIL: trace_id $trace_id: found $found" >&2; failures=$((failures + 1)); }
    done
done
expect "resource attribute deployment.environment.name as a tag" $((2 * LINES_PER_MODE)) \
    "$(count_matching otlp "SELECT * WHERE message CONTAINS '$RUN_ID' AND tags.deployment.environment.name = 'ci'")"

if ((failures)); then
    echo "otlp: $failures check(s) failed; server log: $SERVER_DATA/server.log" >&2
    exit 1
fi
echo "otlp: all $((2 * LINES_PER_MODE)) lines found, with their trace ids"
