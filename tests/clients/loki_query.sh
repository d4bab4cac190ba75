#!/usr/bin/env bash
# The Loki query API, driven the way Grafana's Loki data source drives it in
# Explore (Grafana itself is in neither Debian's nor PyPI's registries, so a
# Python script makes its exact calls: buildinfo, the health check, labels,
# label values, series, a logs query_range and a count_over_time graph) and
# checks every answer. Exits non-zero if any expected line or sample is
# missing.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
clients_venv
start_server
"$VENV/bin/python" "$CLIENTS_DIR/loki_query_grafana.py" "$SERVER_URL"
echo "loki_query: OK"
