#!/usr/bin/env bash
# Real clients of the Elasticsearch `_bulk` and JSON lines endpoints, each
# sending known lines to a real timberdb and reading them back through the
# query API; exits non-zero if any line is missing:
#   - elasticsearch-py 8.x and 9.x `helpers.bulk` (two virtual environments),
#   - rsyslog's omelasticsearch (imtcp input), run as a daemon from the
#     unpacked Debian packages,
#   - syslog-ng's http() destination posting to /insert/jsonline (network
#     input), also from the unpacked Debian packages.
# Needs the release binary (cargo build --release). Run as root (apt-get).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LINES=200
clients_venv
VENV9="$CLIENTS_WORK/venv-es9"
if [[ ! -x "$VENV9/bin/python" ]]; then
    python3 -m venv "$VENV9"
fi
"$VENV9/bin/pip" install --quiet --disable-pip-version-check -r "$CLIENTS_DIR/es9.requirements"
unpack_debs rsyslog rsyslog-elasticsearch syslog-ng-core syslog-ng-mod-http

start_server
CHECK="$CLIENTS_DIR/es_check.py"
RUN="run$$"
failed=0
DAEMON_PIDS=()
stop_all() {
    local pid
    for pid in "${DAEMON_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    stop_server
}
trap stop_all EXIT

# Polls until every line is read back (daemons flush on their own clock).
expect_lines() {
    local partition=$1 prefix=$2 count=$3
    local i
    for i in $(seq 1 60); do
        if python3 "$CHECK" check "$SERVER_URL" "$partition" "$prefix" "$count" 2>/dev/null; then
            return 0
        fi
        sleep 0.5
    done
    python3 "$CHECK" check "$SERVER_URL" "$partition" "$prefix" "$count" || failed=1
}

# Sends LINES syslog lines "<prefix>-i" over TCP to port $1.
send_syslog_tcp() {
    python3 - "$1" "$2" "$LINES" <<'PY'
import socket, sys
port, prefix, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
with socket.create_connection(("127.0.0.1", port)) as conn:
    for i in range(count):
        conn.sendall(f"<13>Mar 15 10:30:00 client-host app[42]: {prefix}-{i}\n".encode())
PY
}

echo "== elasticsearch-py 8 and 9 helpers.bulk"
"$VENV/bin/python" "$CHECK" send "$SERVER_URL" pyes8 "py8-$RUN" "$LINES" || failed=1
expect_lines pyes8 "py8-$RUN" "$LINES"
"$VENV9/bin/python" "$CHECK" send "$SERVER_URL" pyes9 "py9-$RUN" "$LINES" || failed=1
expect_lines pyes9 "py9-$RUN" "$LINES"

echo "== rsyslog omelasticsearch"
RSYSLOG_DIR=$(mktemp -d "$CLIENTS_WORK/rsyslog.XXXXXX")
RSYSLOG_PORT=$(free_port)
cat >"$RSYSLOG_DIR/rsyslog.conf" <<CONF
global(workDirectory="$RSYSLOG_DIR")
module(load="imtcp")
module(load="omelasticsearch")
input(type="imtcp" address="127.0.0.1" port="$RSYSLOG_PORT" ruleset="to_timberdb")
template(name="ecs" type="list" option.jsonf="on") {
    property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
    property(outname="message" name="msg" format="jsonf" droplastlf="on")
    property(outname="host.name" name="hostname" format="jsonf")
    property(outname="log.level" name="syslogseverity-text" format="jsonf")
    property(outname="process.name" name="programname" format="jsonf")
}
ruleset(name="to_timberdb") {
    action(type="omelasticsearch" server="127.0.0.1" serverport="$SERVER_PORT"
           searchIndex="rsyslog" searchType="_doc" template="ecs" bulkmode="on"
           errorFile="$RSYSLOG_DIR/es-errors.json"
           queue.type="linkedlist" queue.timeoutenqueue="0" action.resumeRetryCount="-1")
}
CONF
"$CLIENTS_ROOT/usr/sbin/rsyslogd" -n -f "$RSYSLOG_DIR/rsyslog.conf" -i "$RSYSLOG_DIR/rsyslogd.pid" \
    -M "$CLIENTS_ROOT/usr/lib/x86_64-linux-gnu/rsyslog" >"$RSYSLOG_DIR/rsyslogd.log" 2>&1 &
DAEMON_PIDS+=($!)
for i in $(seq 1 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $RSYSLOG_PORT)).close()" 2>/dev/null && break
    sleep 0.1
done
send_syslog_tcp "$RSYSLOG_PORT" "rsyslog-$RUN"
expect_lines rsyslog "rsyslog-$RUN" "$LINES"
if [[ -s "$RSYSLOG_DIR/es-errors.json" ]]; then
    echo "rsyslog reported errors:" >&2
    cat "$RSYSLOG_DIR/es-errors.json" >&2
    failed=1
fi

echo "== syslog-ng http() to /insert/jsonline"
SYSLOG_NG_DIR=$(mktemp -d "$CLIENTS_WORK/syslog-ng.XXXXXX")
SYSLOG_NG_PORT=$(free_port)
cat >"$SYSLOG_NG_DIR/syslog-ng.conf" <<CONF
@version: 3.38
options { stats_freq(0); };
source s_tcp { network(transport("tcp") ip("127.0.0.1") port($SYSLOG_NG_PORT)); };
destination d_timberdb {
    http(url("$SERVER_URL/insert/jsonline?partition=syslogng&_stream_fields=host,app")
         method("POST")
         headers("Content-Type: application/stream+json")
         body("\$(format-json --scope none _msg=\$MESSAGE _time=\$ISODATE host=\$HOST app=\$PROGRAM level=\$LEVEL)")
         body-suffix("\n")
         batch-lines(50) batch-timeout(200));
};
log { source(s_tcp); destination(d_timberdb); };
CONF
LD_LIBRARY_PATH="$CLIENTS_ROOT/usr/lib/syslog-ng" "$CLIENTS_ROOT/usr/sbin/syslog-ng" -F --no-caps \
    -f "$SYSLOG_NG_DIR/syslog-ng.conf" --module-path="$CLIENTS_ROOT/usr/lib/syslog-ng/3.38" \
    -p "$SYSLOG_NG_DIR/syslog-ng.pid" -R "$SYSLOG_NG_DIR/syslog-ng.persist" -c "$SYSLOG_NG_DIR/syslog-ng.ctl" \
    >"$SYSLOG_NG_DIR/syslog-ng.log" 2>&1 &
DAEMON_PIDS+=($!)
for i in $(seq 1 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $SYSLOG_NG_PORT)).close()" 2>/dev/null && break
    sleep 0.1
done
send_syslog_tcp "$SYSLOG_NG_PORT" "syslogng-$RUN"
expect_lines syslogng "syslogng-$RUN" "$LINES"

if ((failed)); then
    echo "FAILED; daemon logs: $RSYSLOG_DIR $SYSLOG_NG_DIR; server log: $SERVER_DATA/server.log" >&2
    exit 1
fi
echo "all Elasticsearch and JSON lines clients read back"
