"""Helpers of tests/clients/es.sh: send with elasticsearch-py, read back."""
import json
import sys
import urllib.request


def stored_messages(server, partition):
    """Every message stored in `partition`, through the query API."""
    body = json.dumps({"partitions": [partition], "q": "*", "limit": 100000}).encode()
    request = urllib.request.Request(
        server + "/api/v1/query", data=body, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return []
        raise
    return [entry["message"] for entry in answer["entries"]]


def check(server, partition, prefix, count):
    """Exits non-zero unless `prefix-0` .. `prefix-(count-1)` are all stored."""
    stored = set(stored_messages(server, partition))
    expected = {f"{prefix}-{i}" for i in range(count)}
    missing = sorted(expected - {m.strip() for m in stored})
    if missing:
        print(f"{partition}: {len(missing)} of {count} lines missing, e.g. {missing[:5]}", file=sys.stderr)
        return False
    print(f"{partition}: all {count} lines of {prefix} read back")
    return True


def send_with_elasticsearch_py(server, partition, prefix, count):
    import elasticsearch
    from elasticsearch import Elasticsearch, helpers

    client = Elasticsearch(server)
    info = client.info()
    assert info["tagline"] == "You Know, for Search", info
    actions = (
        {
            "_op_type": "create" if i % 2 else "index",
            "_index": partition,
            "@timestamp": f"2024-03-15T10:30:{i % 60:02d}Z",
            "message": f"{prefix}-{i}",
            "log": {"level": "info"},
            "host": {"name": "client-host"},
        }
        for i in range(count)
    )
    ok, errors = helpers.bulk(client, actions, chunk_size=100)
    assert ok == count and not errors, (ok, errors)
    print(f"elasticsearch-py {elasticsearch.__versionstr__}: helpers.bulk sent {ok} documents")


if __name__ == "__main__":
    command, server, partition, prefix, count = sys.argv[1:6]
    if command == "send":
        send_with_elasticsearch_py(server, partition, prefix, int(count))
    elif not check(server, partition, prefix, int(count)):
        sys.exit(1)
