"""Sends Loki protobuf pushes exactly as Promtail does: a logproto.PushRequest
(Loki's pkg/push/push.proto, built here from a descriptor, no protoc), labels
as Prometheus' labels.String() selector text, compressed with snappy's block
format, POSTed as application/x-protobuf with Promtail's User-Agent and an
X-Scope-OrgID tenant. Exits non-zero unless every push is answered 204.

usage: loki_promtail_push.py URL TENANT WORD COUNT
"""
import sys
import time

import cramjam
import requests
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf import timestamp_pb2  # noqa: F401  (registers Timestamp)

F = descriptor_pb2.FieldDescriptorProto


def push_request_class():
    proto = descriptor_pb2.FileDescriptorProto(
        name="pkg/push/push.proto", package="logproto", syntax="proto3",
        dependency=["google/protobuf/timestamp.proto"])

    def message(name, fields):
        m = proto.message_type.add(name=name)
        for number, (field_name, kind, label, type_name) in enumerate(fields, 1):
            f = m.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                f.type_name = type_name

    one, many = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    message("PushRequest", [("streams", F.TYPE_MESSAGE, many, ".logproto.StreamAdapter")])
    message("StreamAdapter", [("labels", F.TYPE_STRING, one, None),
                              ("entries", F.TYPE_MESSAGE, many, ".logproto.EntryAdapter"),
                              ("hash", F.TYPE_UINT64, one, None)])
    message("EntryAdapter", [("timestamp", F.TYPE_MESSAGE, one, ".google.protobuf.Timestamp"),
                             ("line", F.TYPE_STRING, one, None),
                             ("structuredMetadata", F.TYPE_MESSAGE, many, ".logproto.LabelPairAdapter")])
    message("LabelPairAdapter", [("name", F.TYPE_STRING, one, None),
                                 ("value", F.TYPE_STRING, one, None)])
    pool = descriptor_pool.Default()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("logproto.PushRequest"))


def go_quote(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def main():
    url, tenant, word, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    PushRequest = push_request_class()
    labels = {"job": "promtail-script", "env": "ci", "level": "warn", "path": 'C:\\logs\\"q"'}
    selector = "{" + ", ".join(f"{k}={go_quote(v)}" for k, v in sorted(labels.items())) + "}"
    request = PushRequest()
    stream = request.streams.add(labels=selector)
    now = time.time_ns()
    for i in range(count):
        entry = stream.entries.add(line=f"{word} protobuf line {i} with ünïcode")
        entry.timestamp.FromNanoseconds(now + i)
        meta = entry.structuredMetadata.add(name="trace_id", value=f"trace-{i}")
    body = bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
    response = requests.post(url, data=body, timeout=30, headers={
        "Content-Type": "application/x-protobuf",
        "User-Agent": "promtail/3.0.0",
        "X-Scope-OrgID": tenant,
    })
    if response.status_code != 204:
        print(f"push answered {response.status_code}: {response.text}", file=sys.stderr)
        return 1
    # A body Loki refuses must come back as a plain-text 400.
    bad = requests.post(url, data=b"not snappy", timeout=30,
                        headers={"Content-Type": "application/x-protobuf"})
    if bad.status_code != 400 or "snappy" not in bad.text:
        print(f"bad push answered {bad.status_code}: {bad.text}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
