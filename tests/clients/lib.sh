# Shared by the real-client tests (tests/clients/*.sh): one Python virtual
# environment, Debian packages unpacked without installing them (rsyslog and
# syslog-ng conflict as packages but run side by side from their own roots),
# and a real timberdb server on a free loopback port.
#
# Source it from a client test; it expects the release binary built
# (`cargo build --release`) and stops the server on exit.

set -euo pipefail
CLIENTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$CLIENTS_DIR/../.." && pwd)"
CLIENTS_WORK="$REPO_ROOT/target/clients"
CLIENTS_ROOT="$CLIENTS_WORK/root"
VENV="$CLIENTS_WORK/venv"
TIMBERDB_BIN="${TIMBERDB_BIN:-$REPO_ROOT/target/release/timberdb}"
mkdir -p "$CLIENTS_WORK"

# Creates the virtual environment once and installs every
# tests/clients/requirements-*.txt into it; later calls only check.
clients_venv() {
    if [[ ! -x "$VENV/bin/python" ]]; then
        python3 -m venv "$VENV"
    fi
    local req
    for req in "$CLIENTS_DIR"/requirements-*.txt; do
        "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    done
}

# unpack_debs PACKAGE... : downloads the packages with apt-get and unpacks
# them under $CLIENTS_ROOT, so daemons run from there without dpkg
# installing (and starting) them. The shared libraries they depend on are
# installed for real (`lib*` packages in their Depends, and what those
# need): a fresh machine has few of them, and a library starts nothing.
unpack_debs() {
    local debs="$CLIENTS_WORK/debs"
    mkdir -p "$debs" "$CLIENTS_ROOT"
    local missing=()
    local package
    for package in "$@"; do
        if ! ls "$debs/${package}"_*.deb >/dev/null 2>&1; then
            missing+=("$package")
        fi
    done
    if ((${#missing[@]})); then
        apt-get update -qq >/dev/null 2>&1 || true
        (cd "$debs" && apt-get download -qq "${missing[@]}")
    fi
    for package in "$@"; do
        dpkg-deb -x "$debs/${package}"_*.deb "$CLIENTS_ROOT"
    done
    install_library_dependencies "$@"
}

# install_library_dependencies PACKAGE... : the `lib*` packages the
# downloaded PACKAGEs depend on, installed with apt-get where missing.
install_library_dependencies() {
    local debs="$CLIENTS_WORK/debs"
    local package libraries=()
    for package in "$@"; do
        # "libestr0 (>= 0.1.4), libc6 (>= 2.34) | libc6-udeb, ..." -> names
        while read -r library; do
            if ! dpkg -s "$library" >/dev/null 2>&1; then
                libraries+=("$library")
            fi
        done < <(dpkg-deb -f "$debs/${package}"_*.deb Depends | tr ',|' '\n\n' |
            sed -e 's/([^)]*)//g' -e 's/:any//' -e 's/^ *//' -e 's/ *$//' | grep '^lib' | sort -u)
    done
    if ((${#libraries[@]})); then
        echo "== installing libraries the unpacked packages need: ${libraries[*]}"
        apt-get update -qq >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${libraries[@]}" >/dev/null
    fi
}

# A free TCP port on loopback (also free for UDP in practice).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_server [EXTRA ARGS...] : starts timberdb on a free port with a fresh
# data directory; sets SERVER_URL, SERVER_PORT, SERVER_DATA, SERVER_PID and
# waits for /health. Extra arguments go to the server (e.g. --config FILE).
start_server() {
    SERVER_PORT=$(free_port)
    SERVER_DATA=$(mktemp -d "$CLIENTS_WORK/data.XXXXXX")
    SERVER_URL="http://127.0.0.1:$SERVER_PORT"
    "$TIMBERDB_BIN" --data-dir "$SERVER_DATA" --listen "127.0.0.1:$SERVER_PORT" --shards 1 "$@" \
        >"$SERVER_DATA/server.log" 2>&1 &
    SERVER_PID=$!
    trap stop_server EXIT
    local i
    for i in $(seq 1 100); do
        if curl -fsS "$SERVER_URL/health" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    echo "timberdb did not answer /health; its log:" >&2
    cat "$SERVER_DATA/server.log" >&2
    return 1
}

stop_server() {
    if [[ -n "${SERVER_PID:-}" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}

# count_matching PARTITION QUERY : how many entries the query finds.
count_matching() {
    curl -fsS "$SERVER_URL/api/v1/query" -H 'content-type: application/json' \
        -d "{\"partitions\":[\"$1\"],\"q\":\"$2\",\"limit\":0}" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["total_count"])'
}
