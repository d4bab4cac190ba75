#!/usr/bin/env python3
"""Holds N live tails (/api/v1/tail) open against a TimberDB server and reads
them until SIGTERM or SIGINT, then prints what each kind of filter received.

Usage: tail-clients.py PORT COUNT

The filters cycle through a mix of what people tail: a level, a level and a
source, a level and a word of the message, a word alone (no level: the
costliest for the server, a message scan per batch). Prints "ready" once every
tail answered 200, so a script can start the load then.
"""
import selectors
import signal
import socket
import sys
import urllib.parse

FILTERS = [
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
    selector = selectors.DefaultSelector()
    received = {}
    for i in range(count):
        q = FILTERS[i % len(FILTERS)]
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
