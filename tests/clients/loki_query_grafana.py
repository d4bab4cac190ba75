"""Grafana's Loki data source in Explore, call by call, against TimberDB.

Ingests known lines through the native API (stamped a few minutes ago, as
live logs are), then makes the requests Grafana's Loki data source makes
(same paths, parameters and headers) and checks each answer's shape and
content. Any mismatch raises, so the script exits non-zero.
"""

import json
import sys
import time

import requests

URL = sys.argv[1]
PARTITION = "loki"  # loki.default_partition: what a request without X-Scope-OrgID reads
# Grafana sends these on every data-source request.
HEADERS = {"X-Query-Tags": "Source=grafana", "X-Grafana-Org-Id": "1"}
NS = 1_000_000_000

now_s = int(time.time()) // 60 * 60  # a whole minute, like Grafana's aligned ranges
base_s = now_s - 600  # the lines are 10 to 3 minutes old


def check(condition, what):
    if not condition:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what}")


def get(path, **params):
    response = requests.get(URL + path, params=params, headers=HEADERS, timeout=30)
    check(response.status_code == 200, f"GET {path} -> {response.status_code} {response.text[:300]}")
    body = response.json()
    check(body.get("status", "success") == "success", f"{path} status success")
    return body


def ingest():
    requests.post(URL + "/api/v1/partitions/create", json={"name": PARTITION}, timeout=30)
    lines = []
    for i in range(30):
        lines.append({"timestamp": base_s + i * 10, "source": "checkout", "level": "info",
                      "message": f"order {i} placed", "tags": {"env": "prod", "region": "eu"}})
    for i in range(6):
        lines.append({"timestamp": base_s + 5 + i * 60, "source": "checkout", "level": "error",
                      "message": f"payment gateway timeout attempt={i}", "tags": {"env": "prod", "region": "us"}})
    body = "\n".join(json.dumps(line) for line in lines) + "\n"
    response = requests.post(f"{URL}/api/v1/partitions/{PARTITION}/logs", data=body,
                             headers={"Content-Type": "application/x-ndjson"}, timeout=30)
    check(response.status_code == 200 and response.json()["accepted"] == 36, "36 lines ingested")


def explore():
    start_ns, end_ns = str((now_s - 3600) * NS), str(now_s * NS)

    info = requests.get(URL + "/loki/api/v1/status/buildinfo", headers=HEADERS, timeout=30).json()
    check("version" in info, f"buildinfo has a version ({info.get('version')})")

    # "Save & test": Grafana's health check query.
    health = get("/loki/api/v1/query", query="vector(1)+vector(1)", time=end_ns)
    check(health["data"]["resultType"] == "vector", "health check is a vector")
    check(health["data"]["result"][0]["value"][1] == "2", "health check answers 2")

    # The label browser.
    labels = get("/loki/api/v1/labels", start=start_ns, end=end_ns)["data"]
    check(labels == ["env", "level", "region", "service_name"], f"labels {labels}")
    values = get("/loki/api/v1/label/region/values", start=start_ns, end=end_ns)["data"]
    check(values == ["eu", "us"], f"region values {values}")
    values = get("/loki/api/v1/label/level/values", start=start_ns, end=end_ns,
                 query='{service_name="checkout"}')["data"]
    check(values == ["error", "info"], f"level values {values}")
    series = get("/loki/api/v1/series", **{"match[]": '{region="us"}'}, start=start_ns, end=end_ns)["data"]
    check(series == [{"env": "prod", "level": "error", "region": "us", "service_name": "checkout"}],
          f"series {series}")

    # Explore's logs query: newest first, limit 1000, step from the range.
    logs = get("/loki/api/v1/query_range", query='{service_name="checkout"} |= "timeout"',
               limit="1000", start=start_ns, end=end_ns, step="2", direction="backward")["data"]
    check(logs["resultType"] == "streams", "logs query answers streams")
    got = [value for stream in logs["result"] for value in stream["values"]]
    expected = [str((base_s + 5 + i * 60) * NS) for i in reversed(range(6))]
    check([ts for ts, _ in got] == expected, "every timeout line, newest first, ns timestamps")
    check(all(line.startswith("payment gateway timeout") for _, line in got), "lines as ingested")
    check(logs["result"][0]["stream"]["region"] == "us", "stream labels")
    all_lines = get("/loki/api/v1/query_range", query='{env="prod"}', limit="1000",
                    start=start_ns, end=end_ns, step="2", direction="backward")["data"]
    count = sum(len(stream["values"]) for stream in all_lines["result"])
    check(count == 36, f"all 36 lines read back ({count})")

    # Explore's log volume histogram and a count_over_time graph.
    volume = get("/loki/api/v1/query_range",
                 query='sum by (level) (count_over_time({env="prod"} | drop __error__ [1m]))',
                 start=str(base_s * NS), end=str((base_s + 600) * NS), step="60")["data"]
    check(volume["resultType"] == "matrix", "log volume is a matrix")
    totals = {s["metric"]["level"]: sum(int(v) for _, v in s["values"]) for s in volume["result"]}
    # Windows [t-1m, t) for t = base+0..base+600 cover lines base+0..base+599.
    check(totals == {"info": 30, "error": 6}, f"log volume totals {totals}")
    graph = get("/loki/api/v1/query_range", query='count_over_time({service_name="checkout", level="error"}[1m])',
                start=str(base_s * NS), end=str((base_s + 600) * NS), step="60")["data"]
    points = graph["result"][0]["values"]
    check([int(t) - base_s for t, _ in points] == [60, 120, 180, 240, 300, 360], f"graph points {points}")
    check(all(v == "1" for _, v in points), "one error per minute")


ingest()
explore()
print("all Grafana Explore calls answered as expected")
