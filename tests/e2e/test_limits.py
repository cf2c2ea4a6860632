"""Running out of file descriptors (research/security.md §6 item 21 at its
limit): gen-server started with a descriptor limit of 64 is sent 150
connections. libevent's listener alone would retry accept() at once, forever
(a busy loop writing a warning each time); the server must instead pause
accepting, use little CPU, log a bounded number of lines, and serve the
connections waiting in the backlog as soon as descriptors free up.
"""
import os
import socket
import time

import requests

from conftest import BIN, FAST_ITER, ROOT, Proc, free_port


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_descriptor_exhaustion_pauses_accepting(database, tmpdir_module):
    port = free_port()
    env = dict(os.environ, GEN_DATABASE_URL=database, GEN_PBKDF2_ITERATIONS=FAST_ITER)
    p = Proc(["prlimit", "--nofile=64:64", os.path.join(BIN, "gen-server"), "--port", str(port),
              "--forms-dir", os.path.join(ROOT, "forms"),
              "--receipt-key", os.path.join(tmpdir_module, "rk.pem"),
              "--pseudonym-key", os.path.join(tmpdir_module, "pk")],
             env, os.path.join(tmpdir_module, "server-fd.log"))
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 20
        while True:
            try:
                if requests.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.time() < deadline, p.log()
            time.sleep(0.05)
        socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(150)]
        cpu0 = cpu_seconds(p.p.pid)
        time.sleep(2)
        used = cpu_seconds(p.p.pid) - cpu0
        assert used < 0.5, f"{used:.2f} s of CPU in 2 s while out of descriptors"
        assert p.p.poll() is None
        # The last connections wait in the backlog; once the first ones
        # close, they are accepted and served.
        late = socks[-1]
        for s in socks[:100]:
            s.close()
        late.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        late.settimeout(10)
        assert late.recv(4096).startswith(b"HTTP/1.1 200 ")
        for s in socks[100:]:
            s.close()
        assert requests.get(url + "/healthz", timeout=5).status_code == 200
        lines = p.log().splitlines()
        assert sum("Error from accept" in line for line in lines) == 0
        assert 0 < sum("event=accept_paused" in line for line in lines) <= 40, len(lines)
    finally:
        p.stop()
