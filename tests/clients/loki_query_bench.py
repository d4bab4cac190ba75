"""Rare-word search: Loki query_range against the same native query.

Usage: loki_query_bench.py URL SERVER_PID WORD QUERIES ROUNDS

Alternates rounds of QUERIES queries of each kind, all limit 100 over all
the data, one connection: the native word search (q=WORD, which the word
index answers), the native substring search (message CONTAINS 'WORD', the
same question LogQL's |= asks) and Loki (GET /loki/api/v1/query_range,
{service_name=~".+"} |= "WORD"), and prints per round: the server's CPU-seconds per 1000 queries
(utime+stime from /proc/PID/stat), the median server-side time the answer
reports (native execution_time_ms, Loki stats.summary.execTime) and the
median client latency. Both must find the same lines.
"""

import os
import statistics
import sys
import time

import requests

url, pid, word, queries, rounds = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
ticks = os.sysconf("SC_CLK_TCK")
session = requests.Session()


def cpu_seconds():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks


def native_word():
    r = session.post(f"{url}/api/v1/query/execute", json={"partitions": ["loki"], "q": word, "limit": 100})
    body = r.json()
    return body["execution_time_ms"] / 1000, len(body["entries"])


def native_contains():
    # LogQL's |= is a substring match: this is the same question natively.
    q = f"SELECT * FROM loki WHERE message CONTAINS '{word}' LIMIT 100"
    body = session.post(f"{url}/api/v1/query/execute", json={"q": q}).json()
    return body["execution_time_ms"] / 1000, len(body["entries"])


def loki():
    r = session.get(f"{url}/loki/api/v1/query_range", params={
        "query": f'{{service_name=~".+"}} |= "{word}"', "limit": "100",
        "start": "1", "end": str(int(time.time()) + 3600)})
    data = r.json()["data"]
    return data["stats"]["summary"]["execTime"], sum(len(s["values"]) for s in data["result"])


for round_number in range(rounds):
    for name, run in (("word", native_word), ("contains", native_contains), ("loki", loki)):
        cpu_before = cpu_seconds()
        server_s, client_s, found = [], [], set()
        for _ in range(queries):
            started = time.perf_counter()
            server, count = run()
            client_s.append(time.perf_counter() - started)
            server_s.append(server)
            found.add(count)
        cpu = cpu_seconds() - cpu_before
        print(f"round {round_number + 1} {name:8}: {cpu / queries * 1000:.3f} server CPU-s per 1000 queries, "
              f"median server-side {statistics.median(server_s) * 1000:.3f} ms, "
              f"median client {statistics.median(client_s) * 1000:.3f} ms, lines found {sorted(found)}")
