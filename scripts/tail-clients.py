#!/usr/bin/env python3
"""Holds N live tails (/api/v1/tail) open against a TimberDB server and reads
them until SIGTERM or SIGINT, then prints what each kind of filter received.

Usage: tail-clients.py PORT COUNT [MIX]

MIX "distinct" (the default): every tail has its own filter, as when many
people each follow one service's problems: errors, warnings or fatals of one
of loadgen's 11 services, errors of a service that mention a word, and a few
word-only filters (no level: the costliest for the server, a message scan per
batch). Each ingested line then goes to about 0.2 tails.
MIX "broad": eight filters shared by all tails, among them whole levels
(`level:warn`, 8% of the lines) and words alone: each line goes to about 2
tails, so the server writes twice the ingested volume to the tails.
Prints "ready" once every tail answered 200, so a script can start the load.
"""
import selectors
import signal
import socket
import sys
import urllib.parse

SERVICES = ["api-gateway", "auth", "billing", "checkout", "search", "inventory",
            "notifications", "payments", "user-profile", "recommendations", "shipping"]
WORDS = ["timeout", "refused", "deadlock", "expired", "invalid", "denied"]


def distinct_filters(count):
    filters = [f"level:{level} AND source:{service}"
               for level in ("error", "warn", "fatal") for service in SERVICES]
    filters += [f"level:error AND source:{service} AND {word}"
                for word in WORDS for service in SERVICES]
    filters = filters[:count - len(WORDS)] + WORDS
    assert len(set(filters)) == len(filters) == count, "COUNT up to 105"
    return filters


BROAD_FILTERS = [
    "level:error",
    "level:warn AND source:billing",
    "level:error AND timeout",
    "level:fatal",
    "source:checkout AND level:error",
    "(level:error OR level:fatal) AND refused",
    "level:warn",
    "timeout",
]


def open_tail(port, q):
    sock = socket.create_connection(("127.0.0.1", port))
    path = "/api/v1/tail?q=" + urllib.parse.quote(q)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(4096)
        if not data:
            raise SystemExit(f"tail {q!r}: connection closed before the answer")
        head += data
    status = head.split(b" ", 2)[1]
    if status != b"200":
        raise SystemExit(f"tail {q!r}: status {status.decode()}: {head!r}")
    sock.setblocking(False)
    return sock, len(head.split(b"\r\n\r\n", 1)[1])


def main():
    port, count = int(sys.argv[1]), int(sys.argv[2])
    mix = sys.argv[3] if len(sys.argv) > 3 else "distinct"
    if mix == "distinct":
        filters = distinct_filters(count)
    else:
        filters = [BROAD_FILTERS[i % len(BROAD_FILTERS)] for i in range(count)]
    selector = selectors.DefaultSelector()
    received = {}
    for i in range(count):
        q = filters[i]
        sock, initial = open_tail(port, q)
        selector.register(sock, selectors.EVENT_READ, q)
        received[q] = received.get(q, 0) + initial
    print("ready", flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    while not stop:
        for key, _ in selector.select(timeout=0.5):
            try:
                data = key.fileobj.recv(1 << 20)
            except BlockingIOError:
                continue
            if not data:
                selector.unregister(key.fileobj)
                continue
            received[key.data] += len(data)
    for q, byte_count in sorted(received.items()):
        print(f"{byte_count:>12} bytes  {q}", file=sys.stderr)


if __name__ == "__main__":
    main()
