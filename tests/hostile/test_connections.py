"""Hostile inputs, research/security.md §6 item 21: 20,000 idle TCP
connections, against the suite's server (two processes, as deployed).

Each process may hold as many descriptors as RLIMIT_NOFILE allows; on this
machine the hard limit is 20,000, so one process alone could not hold
20,000 connections and still accept others, two can. The connections are
opened by child processes (hold_conns.py, 5,000 each at most) so that the
client side is within the same limit. GEN_TEST_IDLE_CONNS lowers the count
(tests/valgrind.sh does: valgrind runs the server 20-50 times slower).

The other half of item 21, TLS connections that never send a ClientHello,
comes with the TLS front, in test_tls.py."""
import os
import resource
import select
import subprocess
import sys
import time

import pytest
import requests

from conftest import RSS_MEANINGFUL, SLOW, WRAP, Server, wait_for
from gen import auth

from .common import HTTP_TIMEOUT, open_fds, rss_kb, server_pids

N = int(os.environ.get("GEN_TEST_IDLE_CONNS", "20000"))
PER_HOLDER = 5000
HOLD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hold_conns.py")


def read_line(p, deadline):
    """One line of a holder's output, waiting until `deadline` at most."""
    while time.monotonic() < deadline:
        if select.select([p.stdout], [], [], deadline - time.monotonic())[0]:
            return p.stdout.readline().strip()
    raise AssertionError("a connection holder did not answer in time")


def nofile_limits(pid):
    with open(f"/proc/{pid}/limits") as f:
        line = next(ln for ln in f if ln.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    return int(soft), int(hard)


def hold_idle_connections(env, n):
    """Hold n silent connections to the suite's server: check that its
    processes accept them all (their descriptor counts rise by n), that
    others are served at once meanwhile, that none is closed before the
    idle timeout; reset them and wait until the server has let go of all.
    Returns the server's resident memory while they were held (kB)."""
    srv = env["server"]
    kids = env["pids"][1:]
    room = sum(nofile_limits(p)[0] - open_fds(p) for p in kids)
    assert room > n + 100, f"the server processes have room for {room} more descriptors, not {n}"
    base = sum(open_fds(p) for p in kids)
    holders, opened = [], 0
    try:
        for i in range(-(-n // PER_HOLDER)):
            k = min(PER_HOLDER, n - i * PER_HOLDER)
            # each holder connects from its own 127.0.0.x address: the
            # ephemeral ports of 127.0.0.1 stay free for everyone else
            holders.append(subprocess.Popen([sys.executable, HOLD, str(srv.port), str(k), f"127.0.0.{i + 2}"],
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        deadline = time.monotonic() + 120 * SLOW
        for h in holders:
            line = read_line(h, deadline)
            assert line.startswith("open "), line
            opened += int(line.split()[1])
        assert opened == n
        # accepted by the server, not waiting in the listen queue
        wait_for(lambda: sum(open_fds(p) for p in kids) >= base + n, timeout=60,
                 what=f"the server to accept {n} connections")
        held_rss = rss_kb(env["pids"])
        # others are served, at once, over new connections and old
        for _ in range(20):
            t0 = time.monotonic()
            r = requests.get(srv.url + "/healthz", timeout=HTTP_TIMEOUT)
            assert r.status_code == 200 and r.text == "ok\n"
            assert time.monotonic() - t0 < 1.0 * SLOW, time.monotonic() - t0
        with requests.Session() as s:
            for _ in range(20):
                r = s.get(f"{srv.url}/api/v1/applications/{env['tracking']}", headers=auth(env["prov"]),
                          timeout=HTTP_TIMEOUT)
                assert r.status_code == 200 and r.json()["tracking"] == env["tracking"], r.text
        assert server_pids(srv) == env["pids"], srv.log()[-3000:]
        for h in holders:
            h.stdin.write("\n")
            h.stdin.flush()
        closed = 0
        deadline = time.monotonic() + 60 * SLOW
        for h in holders:
            line = read_line(h, deadline)
            assert line.startswith("closed "), line
            closed += int(line.split()[1])
        # idle-timeout is 60 s: the server had no reason to close any yet
        assert closed == 0, f"{closed} idle connections closed by the server before the idle timeout"
    finally:
        for h in holders:
            if h.poll() is None:
                h.kill()
            h.wait()
    # every connection let go of, within seconds
    wait_for(lambda: sum(open_fds(p) for p in kids) <= base + 8, timeout=30,
             what="the server to close the reset connections")
    return held_rss


def test_twenty_thousand_idle_connections(env):
    """N idle connections, twice. The second time the server's memory
    grows no more than 25 % beyond the first time's peak: what one round
    took is reused by the next, none of it is lost per connection (a loss
    of even 2 KB per connection would show as +40 %; the rest is the
    allocator placing the second round differently, seen up to +12 %).
    Whether it is given back once they are gone is test_memory.py's
    question."""
    first = hold_idle_connections(env, N)
    second = hold_idle_connections(env, N)
    env["rss_peak"] = max(env["rss_peak"], first, second)
    print(f"idle connections: {N} held twice; server RSS {env['rss_start']} kB after warm-up, "
          f"{first} kB then {second} kB with them")
    if RSS_MEANINGFUL:
        assert second <= first * 1.25, f"server RSS {first} kB with {N} connections, {second} kB the second time"


@pytest.mark.skipif(bool(WRAP), reason="valgrind manages the descriptor limits of the programs it runs")
def test_server_raises_its_descriptor_limit(hostile_db, hostile_logs):
    """Started with a soft RLIMIT_NOFILE of 1,024 under a higher hard
    limit (a common default), the server raises its soft limit to the hard
    limit itself (security.md §2 "use RLIMIT_NOFILE"): otherwise it stops
    accepting at ~1,000 connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 1024:
        pytest.skip(f"hard descriptor limit {hard}: nothing to raise")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        s = Server(hostile_db, hostile_logs, extra=("--workers", "2"))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        for pid in server_pids(s):
            assert nofile_limits(pid) == (hard, hard), (pid, nofile_limits(pid), "expected", (hard, hard))
    finally:
        s.stop()


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(bool(WRAP), reason="valgrind manages the descriptor limits of the programs it runs")
def test_out_of_descriptors_no_spin_no_log_flood(hostile_db, hostile_logs, env):
    """More connections than a server process has descriptors for (its
    limit lowered to 256 with prlimit, one process): while they are held
    the process stays up, answers on a keep-alive connection it already
    had, does not spin on accept() (under half a CPU second in 3 s) nor
    flood its log (under 100 lines), and once they go it serves new
    clients again. Past its bound a server sheds or waits; it does not
    burn a core and fill the disk."""
    s = Server(hostile_db, hostile_logs, extra=("--workers", "1"))
    holder = None
    try:
        subprocess.run(["prlimit", "--pid", str(s.p.pid), "--nofile=256:256"], check=True)
        with requests.Session() as ka:
            assert ka.get(s.url + "/healthz", timeout=HTTP_TIMEOUT).status_code == 200
            lines = s.log().count("\n")
            holder = subprocess.Popen([sys.executable, HOLD, str(s.port), "400", "127.0.0.250"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert read_line(holder, time.monotonic() + 60 * SLOW) == "open 400"
            wait_for(lambda: open_fds(s.p.pid) >= 250, timeout=20, what="the descriptors to run out")
            cpu0 = cpu_seconds(s.p.pid)
            time.sleep(3)
            spent = cpu_seconds(s.p.pid) - cpu0
            r = ka.get(f"{s.url}/api/v1/applications/{env['tracking']}", headers=auth(env["prov"]),
                       timeout=HTTP_TIMEOUT)
            assert r.status_code == 200, r.text
            flood = s.log().count("\n") - lines
            assert s.p.poll() is None, s.log()[-2000:]
            assert spent < 0.5 and flood < 100, \
                f"out of descriptors for 3 s: {spent:.2f} CPU seconds, {flood} log lines ({s.log()[-120:]!r})"
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert read_line(holder, time.monotonic() + 60 * SLOW).startswith("closed ")
        wait_for(lambda: requests.get(s.url + "/healthz", timeout=HTTP_TIMEOUT).status_code == 200, timeout=20,
                 what="serving again")
    finally:
        if holder is not None and holder.poll() is None:
            holder.kill()
            holder.wait()
        s.stop()
        shorten(s.log_path)


def shorten(path, keep=100, cap=1 << 20):
    """A log flooded by the failure above is kept as its first and last
    `keep` lines, not as the tens of megabytes it may reach."""
    if os.path.getsize(path) <= cap:
        return
    with open(path, "rb") as f:
        lines = f.readlines()
    with open(path, "wb") as f:
        f.writelines(lines[:keep] + [b"... %d lines cut ...\n" % (len(lines) - 2 * keep)] + lines[-keep:])
