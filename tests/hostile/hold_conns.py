#!/usr/bin/env python3
"""Helper of test_connections.py, run as a child process so that the client
sockets count against this process's descriptor limit, not pytest's.

Usage: hold_conns.py PORT N SOURCE_ADDR
Opens N TCP connections to 127.0.0.1:PORT from SOURCE_ADDR (a 127.x
address, so that the ephemeral ports of 127.0.0.1 are not used up), sends
nothing, prints "open N" (or "failed K: error" and exits 1), then holds them
until a line arrives on stdin. It then reports how many the server had
closed meanwhile ("closed K") and resets them all (SO_LINGER 0: no
TIME_WAIT left behind)."""
import select
import socket
import struct
import sys

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def main():
    port, n, source = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((source, 0))
            s.settimeout(30)
            s.connect(("127.0.0.1", port))
            socks.append(s)
    except OSError as e:
        print(f"failed {len(socks)}: {e}", flush=True)
        return 1
    print(f"open {len(socks)}", flush=True)
    sys.stdin.readline()
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLIN)
    # a connection the server closed is readable (EOF or RST)
    closed = len(poller.poll(0))
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    print(f"closed {closed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
