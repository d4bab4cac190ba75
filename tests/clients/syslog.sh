#!/usr/bin/env bash
# Real syslog clients against a real timberdb: util-linux `logger`, rsyslog
# `omfwd` and syslog-ng `syslog()` / `network()`, over TCP (newline and
# octet-counting framing) and UDP. rsyslog and syslog-ng come from Debian,
# unpacked (not installed) and run as daemons on loopback with their own
# config, pid and state directories, each fed from a file. Every line sent
# carries a word unique to this run and to its client; the script reads
# each back through the query API and fails if any is missing.
#
# Needs: `cargo build --release`, apt-get (for the two daemons), logger.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

unpack_debs rsyslog syslog-ng-core
WORK=$(mktemp -d "$CLIENTS_WORK/syslog.XXXXXX")
RUN=$(date +%s%N | tail -c 10)
SYSLOG_PORT=$(free_port)
# Until the lead's [syslog] TOML keys are merged, the listeners are set by
# these variables (see docs/integrations/syslog.md).
export TIMBERDB_SYSLOG_TCP_LISTEN="127.0.0.1:$SYSLOG_PORT"
export TIMBERDB_SYSLOG_UDP_LISTEN="127.0.0.1:$SYSLOG_PORT"
start_server

DAEMON_PIDS=()
cleanup() {
    local pid
    for pid in "${DAEMON_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    stop_server
}
trap cleanup EXIT

# EXPECTED holds one word per line sent; each must be found exactly once.
EXPECTED=()
word() { echo "w${RUN}$1"; }

echo "== logger ($(logger --version))"
send_logger() { # NAME ARGS...
    local name=$1
    shift
    local w
    w=$(word "$name")
    logger --server 127.0.0.1 --port "$SYSLOG_PORT" --tag clienttest "$@" "logger line $w"
    EXPECTED+=("$w")
}
send_logger logger3164tcp --tcp --rfc3164
send_logger logger5424tcp --tcp --rfc5424 --sd-id "test@32473" --sd-param 'run="r1"'
send_logger logger3164tcpoctet --tcp --rfc3164 --octet-count
send_logger logger5424tcpoctet --tcp --rfc5424 --octet-count
send_logger logger3164udp --udp --rfc3164
send_logger logger5424udp --udp --rfc5424

echo "== rsyslog omfwd ($("$CLIENTS_ROOT/usr/sbin/rsyslogd" -v | head -1))"
mkdir -p "$WORK/rsyslog-state"
for mode in octet newline udp; do
    for n in 1 2 3; do
        w=$(word "rsyslog${mode}n$n")
        echo "rsyslog $mode line $w" >>"$WORK/rsyslog-$mode.log"
        EXPECTED+=("$w")
    done
done
cat >"$WORK/rsyslog.conf" <<CONF
global(workDirectory="$WORK/rsyslog-state")
module(load="imfile" mode="polling" pollingInterval="1")
input(type="imfile" file="$WORK/rsyslog-octet.log" tag="rsyslogtest:" facility="local3" severity="warning" ruleset="octet")
input(type="imfile" file="$WORK/rsyslog-newline.log" tag="rsyslogtest:" facility="local3" severity="warning" ruleset="newline")
input(type="imfile" file="$WORK/rsyslog-udp.log" tag="rsyslogtest:" facility="local3" severity="warning" ruleset="udp")
ruleset(name="octet") {
    action(type="omfwd" target="127.0.0.1" port="$SYSLOG_PORT" protocol="tcp"
           tcp_framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
}
ruleset(name="newline") {
    action(type="omfwd" target="127.0.0.1" port="$SYSLOG_PORT" protocol="tcp")
}
ruleset(name="udp") {
    action(type="omfwd" target="127.0.0.1" port="$SYSLOG_PORT" protocol="udp")
}
CONF
"$CLIENTS_ROOT/usr/sbin/rsyslogd" -n -f "$WORK/rsyslog.conf" -i "$WORK/rsyslog.pid" \
    -M "$CLIENTS_ROOT/usr/lib/x86_64-linux-gnu/rsyslog" >"$WORK/rsyslog.out" 2>&1 &
DAEMON_PIDS+=($!)

NG_VERSION=$(LD_LIBRARY_PATH="$CLIENTS_ROOT/usr/lib/syslog-ng" "$CLIENTS_ROOT/usr/sbin/syslog-ng" --version | head -1)
echo "== syslog-ng ($NG_VERSION)"
for mode in syslog5424 networktcp networkudp; do
    for n in 1 2 3; do
        w=$(word "ng${mode}n$n")
        echo "syslog-ng $mode line $w" >>"$WORK/ng-$mode.log"
        EXPECTED+=("$w")
    done
done
cat >"$WORK/syslog-ng.conf" <<CONF
@version: 3.38
source s_syslog5424 { file("$WORK/ng-syslog5424.log" follow-freq(1) flags(no-parse) program-override("ngtest")); };
source s_networktcp { file("$WORK/ng-networktcp.log" follow-freq(1) flags(no-parse) program-override("ngtest")); };
source s_networkudp { file("$WORK/ng-networkudp.log" follow-freq(1) flags(no-parse) program-override("ngtest")); };
destination d_syslog5424 { syslog("127.0.0.1" transport("tcp") port($SYSLOG_PORT) persist-name("d_syslog5424")); };
destination d_networktcp { network("127.0.0.1" transport("tcp") port($SYSLOG_PORT) persist-name("d_networktcp")); };
destination d_networkudp { network("127.0.0.1" transport("udp") port($SYSLOG_PORT) persist-name("d_networkudp")); };
log { source(s_syslog5424); destination(d_syslog5424); };
log { source(s_networktcp); destination(d_networktcp); };
log { source(s_networkudp); destination(d_networkudp); };
CONF
LD_LIBRARY_PATH="$CLIENTS_ROOT/usr/lib/syslog-ng" "$CLIENTS_ROOT/usr/sbin/syslog-ng" -F --no-caps \
    -f "$WORK/syslog-ng.conf" -p "$WORK/syslog-ng.pid" -R "$WORK/syslog-ng.persist" \
    -c "$WORK/syslog-ng.ctl" --module-path="$CLIENTS_ROOT/usr/lib/syslog-ng/3.38" \
    >"$WORK/syslog-ng.out" 2>&1 &
DAEMON_PIDS+=($!)

# Poll (one query for the whole partition) until every word has arrived,
# then check each word with a full-text query of its own.
missing_words() {
    curl -fsS "$SERVER_URL/api/v1/query" -H 'content-type: application/json' \
        -d '{"partitions":["syslog"],"limit":10000}' 2>/dev/null |
        python3 -c '
import json, sys
messages = " ".join(e["message"] for e in json.load(sys.stdin)["entries"])
print(" ".join(w for w in sys.argv[1:] if w not in messages))' "${EXPECTED[@]}" ||
        echo "${EXPECTED[@]}"
}
for attempt in $(seq 1 60); do
    [[ -z "$(missing_words)" ]] && break
    sleep 0.5
done
missing=()
for w in "${EXPECTED[@]}"; do
    count=$(count_matching syslog "$w" 2>/dev/null || echo 0)
    if [[ "$count" != 1 ]]; then
        missing+=("$w (found $count)")
    fi
done

# A few mapped fields, beyond presence: the logger RFC 5424 line's app tag,
# structured data and facility; rsyslog's severity.
check_entry() { # WORD PYTHON-EXPRESSION-OVER-e
    curl -fsS "$SERVER_URL/api/v1/query" -H 'content-type: application/json' \
        -d "{\"partitions\":[\"syslog\"],\"q\":\"$1\",\"limit\":1}" |
        python3 -c "import json,sys; e=json.load(sys.stdin)['entries'][0]; sys.exit(0 if ($2) else print('unexpected entry:', json.dumps(e)) or 1)"
}
failed=0
if ((${#missing[@]})); then
    echo "MISSING ${#missing[@]} of ${#EXPECTED[@]} lines:" >&2
    printf '  %s\n' "${missing[@]}" >&2
    echo "--- rsyslog:" >&2; cat "$WORK/rsyslog.out" >&2 || true
    echo "--- syslog-ng:" >&2; cat "$WORK/syslog-ng.out" >&2 || true
    echo "--- timberdb:" >&2; tail -20 "$SERVER_DATA/server.log" >&2 || true
    failed=1
else
    check_entry "$(word logger5424tcp)" "e['tags'].get('app')=='clienttest' and e['fields']['test@32473']['run']=='r1' and e['tags']['facility']=='user'" || failed=1
    check_entry "$(word logger3164udp)" "e['tags'].get('app')=='clienttest' and e['message'].startswith('logger line')" || failed=1
    check_entry "$(word rsyslogoctetn1)" "e['tags']['severity']=='warning' and e['level']=='warn' and e['tags']['facility']=='local3' and e['tags'].get('app')=='rsyslogtest'" || failed=1
    check_entry "$(word rsyslognewlinen1)" "e['tags'].get('app')=='rsyslogtest' and e['message'].startswith('rsyslog newline line')" || failed=1
    check_entry "$(word ngsyslog5424n1)" "e['tags'].get('app')=='ngtest' and e['message'].startswith('syslog-ng syslog5424 line')" || failed=1
    check_entry "$(word ngnetworkudpn1)" "e['tags'].get('app')=='ngtest' and e['message'].startswith('syslog-ng networkudp line')" || failed=1
fi
curl -fsS "$SERVER_URL/metrics" | grep '^timberdb_syslog' | grep -v ' 0$' || true
if ((failed)); then
    echo "FAIL: syslog clients" >&2
    exit 1
fi
echo "OK: all ${#EXPECTED[@]} lines from logger, rsyslog and syslog-ng were found, fields mapped"
