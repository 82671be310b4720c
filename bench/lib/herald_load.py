"""What several bench scripts do to a running `herald serve` (benchmarks, not tests):
pipelined POSTs, S6's load of tasks, timed restarts. Import with `sys.path.insert(0, "bench/lib")`."""

import os
import signal
import socket
import subprocess
import time


def post(path: str, body: bytes = b"") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def pipelined(port: int, requests: list) -> None:
    """Sends the requests on one connection at once and waits for every answer; each a 2xx."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"".join(requests))
    data = b""
    while data.count(b"HTTP/1.1 ") < len(requests):
        data += s.recv(1 << 20)
    s.close()
    assert data.count(b"HTTP/1.1 2") == len(requests), data[:300]


def s6_load(port: int, n: int = 100_000, extra: bytes = b"") -> None:
    """S6's tasks t0…t<n-1>: created (title, total, one of 50 owners, meta, and `extra` members),
    started, one progress report each, 90 % completed; 1,000 per pipelined batch."""
    for i in range(0, n, 1000):
        ids = range(i, min(n, i + 1000))
        pipelined(port, [post("/api/tasks", b'{"id":"t%d","title":"export batch %d","total":1000,"owner":"user%d",'
                                            b'"meta":{"source":"bench"}%s}' % (j, j, j % 50, extra)) for j in ids])
        pipelined(port, [post(f"/api/tasks/t{j}/start") for j in ids])
        pipelined(port, [post(f"/api/tasks/t{j}/progress", b'{"done":500,"message":"half way"}') for j in ids])
        pipelined(port, [post(f"/api/tasks/t{j}/complete", b"{}") for j in ids if j % 10])


def timed_restarts(command: list, count: int, rss_of=lambda n, count: True) -> list:
    """Starts `command` (pinned to CPU 0) `count` times: exec → its `listening on` line (`s`),
    its CPU until then (`cpu_s`) and, for the runs `rss_of(n, count)` picks, RSS a second later
    (`rss_kib`); each stopped with SIGTERM before the next."""
    runs = []
    for n in range(count):
        t0 = time.perf_counter()
        p = subprocess.Popen(["taskset", "-c", "0", *command], stderr=subprocess.PIPE)
        for line in p.stderr:
            if line.startswith(b"listening on"):
                break
        seconds = time.perf_counter() - t0
        stat = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
        run = {"s": round(seconds, 3), "cpu_s": (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")}
        if rss_of(n, count):
            time.sleep(1)
            run["rss_kib"] = next(int(l.split()[1]) for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS"))
        runs.append(run)
        p.send_signal(signal.SIGTERM)
        p.wait()
    return runs
