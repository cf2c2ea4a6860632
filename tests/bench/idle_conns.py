#!/usr/bin/env python3
"""Open N keep-alive connections to a server (each sends one request and
keeps the connection open), then report the server process's resident
memory per idle connection. Usage: idle_conns.py PORT PID N"""
import asyncio
import sys


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def read_answer(r):
    head = await r.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit("unexpected answer: " + head.decode(errors="replace")[:300])
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    await r.readexactly(length)


async def main(port, pid, n):
    before = rss_kb(pid)
    conns = []
    for i in range(n):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
        conns.append((r, w))
        if len(conns) % 200 == 0:
            await asyncio.gather(*(read_answer(c[0]) for c in conns[-200:]))
    await asyncio.gather(*(read_answer(c[0]) for c in conns[len(conns) // 200 * 200:]))
    await asyncio.sleep(1)
    after = rss_kb(pid)
    print(f"BENCH idle={n} rss_before_kb={before} rss_after_kb={after} per_conn_bytes={(after - before) * 1024 / n:.0f}")
    for r, w in conns:
        w.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
