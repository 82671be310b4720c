"""Floods against the real binary: the file descriptor limit reached, and 1,000 slowloris
connections.

- fd limit: a server whose RLIMIT_NOFILE is lowered to 64 (prlimit on the running process) gets
  100 connections opened and held. Accepting pauses (the listener is not watched for 100 ms at a
  time) instead of spinning on a readable listener it cannot serve: its CPU stays low while
  saturated, the connections it already has (a keep-alive API client, a WebSocket subscriber)
  keep working, the held connections wait in the backlog, and each is served once fds free up.
- slowloris: 1,000 connections that send part of a request head and then nothing are each
  answered 408 and closed by `--header-timeout`, while a normal client's API calls and a
  subscriber's events keep flowing with low latency; afterwards the server's fd count is back
  where it was.

The Python side raises its own RLIMIT_NOFILE as needed (the tests run as root).
"""

from __future__ import annotations

import json
import os
import re
import resource
import selectors
import socket
import statistics
import threading
import time

from conftest import Herald, _started, serve_args
from support import RawHTTP, request
from tasks_support import WS, Api, unique_id

FD_LIMIT = 64
HELD = 100
SLOW = 1000
HEADER_TIMEOUT = 2.0
LINGER = 2.0      # Connection.lingerSeconds: a closed connection's fd goes after at most this
SLACK = 2.0       # a loaded 2-core CI machine, debug build


# --------------------------------------------------------------------------- /proc

def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (fields 14 and 15 of /proc/PID/stat, counted after the ')')."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)


def raise_own_fd_limit(need: int):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(hard, need)))


def set_fd_limit(pid: int, soft: int):
    _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, max(hard, soft)))


# --------------------------------------------------------------------------- a normal client

class KeepAliveApi:
    """The task API over one keep-alive connection opened up front (a new connection may not be
    accepted while the server is out of fds)."""

    def __init__(self, port: int):
        self.c = RawHTTP(port, timeout=10)

    def call(self, method: str, path: str, body=None) -> tuple[int, dict]:
        raw = json.dumps(body).encode() if body is not None else b""
        headers = [("Content-Type", "application/json")] if body is not None else []
        self.c.send(request(method, path, headers, raw))
        r = self.c.read_response(method)
        return r.status, (json.loads(r.body) if r.body else {})

    def metric(self, name: str) -> int:
        self.c.send(request("GET", "/metrics"))
        r = self.c.read_response()
        assert r.status == 200, r.status
        m = re.search(rf"^{name} (\d+)$", r.body.decode(), re.M)
        assert m, f"no {name} in /metrics"
        return int(m.group(1))

    def close(self):
        self.c.close()


def event_latency(sub: WS, post) -> float:
    """Posts one change with `post()` (returning the answer's seq), then waits for its event on
    `sub`; returns POST-sent → event-received seconds."""
    t0 = time.monotonic()
    seq = post()
    while True:
        m = sub.recv(5)
        if m["type"] == "task" and m["seq"] == seq:
            return time.monotonic() - t0
        assert m["type"] == "task" and m["seq"] < seq, m


# --------------------------------------------------------------------------- fd limit

def test_fd_limit_pauses_accepting_then_resumes_and_spares_open_connections(herald):
    h = herald()
    pid = h.proc.pid
    api = KeepAliveApi(h.port)
    assert api.call("GET", "/healthz")[0] == 200
    sub = WS(h.port, "topic=tasks")
    sub.snapshot()
    task = unique_id("fdlimit")
    status, created = api.call("POST", "/api/tasks", {"id": task, "title": "fd limit", "lease_s": 3600})
    assert status == 201, created
    assert api.call("POST", f"/api/tasks/{task}/start", {})[0] == 200
    sub.until(lambda m: m["type"] == "task" and m["event"] == "started")

    before = fd_count(pid)
    assert before < FD_LIMIT - 10, f"the server already has {before} fds open"
    set_fd_limit(pid, FD_LIMIT)

    # 100 connections, each sending a request: the kernel completes every handshake (backlog),
    # the server accepts until it has FD_LIMIT fds and answers those; the rest wait.
    held = []
    for _ in range(HELD):
        s = socket.create_connection(("127.0.0.1", h.port), timeout=5)
        s.sendall(request("GET", "/healthz"))
        held.append(s)
    wait_until(lambda: fd_count(pid) >= FD_LIMIT, 10, f"the server reaching {FD_LIMIT} fds")

    answered: set[int] = set()
    buffers = {i: b"" for i in range(HELD)}

    def collect(wait: float):
        """Reads whatever arrived on the held sockets within `wait`; marks the answered ones."""
        sel = selectors.DefaultSelector()
        for i, s in enumerate(held):
            if i not in answered:
                sel.register(s, selectors.EVENT_READ, i)
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0 and sel.get_map():
            for key, _ in sel.select(left):
                i = key.data
                chunk = key.fileobj.recv(65536)
                assert chunk, f"held connection {i} was closed by the server instead of waiting"
                buffers[i] += chunk
                if b"\r\n\r\n" in buffers[i]:
                    assert buffers[i].startswith(b"HTTP/1.1 200 "), buffers[i][:100]
                    answered.add(i)
                    sel.unregister(key.fileobj)
        sel.close()

    collect(1.0)
    first_round = len(answered)
    assert 0 < first_round < HELD, f"{first_round} of {HELD} answered at the fd limit"
    assert fd_count(pid) <= FD_LIMIT

    # Saturated: the listener stays readable, but accepting is paused, not spinning.
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(2.0)
    cpu_share = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
    print(f"\nfd limit {FD_LIMIT}: {before} fds before, {first_round} of {HELD} held connections accepted, "
          f"server CPU {cpu_share:.1%} over 2 s while saturated")
    assert cpu_share < 0.15, f"server CPU {cpu_share:.0%} while out of fds (a busy accept loop?)"
    collect(0.1)
    assert len(answered) == first_round, "a connection was accepted although no fd was free"
    pauses = api.metric("herald_accept_pauses_total")
    print(f"{pauses} accept pauses")
    assert 10 <= pauses <= 60, f"{pauses} accept pauses in ~3 s of saturation (one per 100 ms expected)"
    warnings = [line for line in h.stderr_lines if "accepting paused" in line]
    assert len(warnings) == 1 and "Too many open files" in warnings[0], warnings

    # The connections it had keep working: API answers and pushed events.
    def progress(k: int) -> int:
        status, answer = api.call("POST", f"/api/tasks/{task}/progress", {"done": k})
        assert status == 200, answer
        return answer["seq"]

    latencies = [event_latency(sub, lambda k=k: progress(k)) for k in range(1, 21)]
    print(f"event latency at the fd limit: max {max(latencies) * 1e3:.1f} ms")
    assert max(latencies) < 1.0, f"event latency at the fd limit: max {max(latencies) * 1e3:.0f} ms"
    assert fd_count(pid) <= FD_LIMIT

    # Free fds: close the answered ones; the waiting ones are accepted and answered in turn.
    closed: set[int] = set()
    deadline = time.monotonic() + 15
    while len(answered) < HELD:
        for i in answered - closed:
            held[i].close()
            closed.add(i)
        assert time.monotonic() < deadline, f"only {len(answered)} of {HELD} answered after fds were freed"
        collect(0.5)
    for i in set(range(HELD)) - closed:
        held[i].close()

    # And new connections are accepted again, immediately.
    t = time.monotonic()
    assert Api(h.port).get("/healthz").status == 200
    assert time.monotonic() - t < 0.5
    assert api.call("GET", "/healthz")[0] == 200
    assert h.proc.poll() is None
    sub.close()
    api.close()


# --------------------------------------------------------------------------- slowloris

def test_a_thousand_slowloris_connections_are_cut_by_the_header_timeout(herald):
    raise_own_fd_limit(SLOW + 512)
    h = herald("--header-timeout", str(HEADER_TIMEOUT))
    pid = h.proc.pid
    set_fd_limit(pid, SLOW + 512)
    api = Api(h.port)
    task = unique_id("loris")
    api.create(id=task, title="slowloris neighbour", lease_s=3600)
    api.act(task, "start")
    sub = WS(h.port, f"topic=task:{task}")
    sub.snapshot()
    base_fds = fd_count(pid)

    # 1,000 connections that send part of a head, then nothing.
    slow: list[socket.socket] = []
    sent_at: list[float] = []
    t_open = time.monotonic()
    for _ in range(SLOW):
        s = socket.create_connection(("127.0.0.1", h.port), timeout=5)
        s.sendall(b"GET /api/tasks HTTP/1.1\r\nHost: e2e\r\nX-Slow: ")
        sent_at.append(time.monotonic())
        slow.append(s)
    open_s = time.monotonic() - t_open
    wait_until(lambda: fd_count(pid) >= base_fds + SLOW, 10, "the server holding all slow connections")

    # A normal client next to them, across the moment all 1,000 time out at once.
    answer_ms: list[float] = []
    event_ms: list[float] = []
    errors: list[str] = []
    stop = threading.Event()

    def normal_client():
        k = 0
        try:
            while not stop.is_set():
                k += 1

                def post(k=k):
                    t = time.monotonic()
                    a = api.post(f"/api/tasks/{task}/progress", {"done": k})
                    answer_ms.append((time.monotonic() - t) * 1e3)
                    assert a.status == 200, a
                    return a.json["seq"]
                event_ms.append(event_latency(sub, post) * 1e3)
                time.sleep(0.02)
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append(repr(e))

    client = threading.Thread(target=normal_client, daemon=True)
    client.start()

    # Watch the slow sockets: each must get a 408, then EOF; they are not closed from this side,
    # so the server must close them itself.
    got = [b""] * SLOW
    eof_at: list[float | None] = [None] * SLOW
    sel = selectors.DefaultSelector()
    for i, s in enumerate(slow):
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
    deadline = t_open + open_s + HEADER_TIMEOUT + SLACK + 2
    while sel.get_map() and time.monotonic() < deadline:
        for key, _ in sel.select(0.2):
            i = key.data
            try:
                chunk = key.fileobj.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if chunk:
                got[i] += chunk
            else:
                eof_at[i] = time.monotonic()
                sel.unregister(key.fileobj)
    sel.close()
    cut = [i for i in range(SLOW) if eof_at[i] is not None]
    assert len(cut) == SLOW, f"only {len(cut)} of {SLOW} slow connections were closed"
    assert all(g.startswith(b"HTTP/1.1 408 ") for g in got), {g[:40] for g in got if not g.startswith(b"HTTP/1.1 408 ")}
    early = [eof_at[i] - sent_at[i] for i in range(SLOW) if eof_at[i] - sent_at[i] < HEADER_TIMEOUT - 0.2]
    assert not early, f"{len(early)} cut before the header timeout, e.g. after {min(early):.2f}s"

    # Their fds go (each lingers at most LINGER after its FIN, reading nothing).
    wait_until(lambda: fd_count(pid) <= base_fds + 2, LINGER + SLACK + 2,
               f"the server's fd count back to {base_fds} (it is {fd_count(pid)})")

    time.sleep(0.3)  # a few normal requests after the storm too
    stop.set()
    client.join(10)
    for s in slow:
        s.close()
    assert not errors, errors
    assert len(event_ms) >= 20, f"the normal client got only {len(event_ms)} round trips done"
    answer_ms.sort()
    event_ms.sort()
    p50, p99 = statistics.median(event_ms), event_ms[int(len(event_ms) * 0.99) - 1]
    print(f"\nslowloris: {SLOW} opened in {open_s:.2f}s; normal client {len(event_ms)} round trips, "
          f"answer p50 {statistics.median(answer_ms):.1f} ms max {answer_ms[-1]:.1f} ms, "
          f"event p50 {p50:.1f} ms p99 {p99:.1f} ms max {event_ms[-1]:.1f} ms")
    assert p50 < 100, f"event latency p50 {p50:.1f} ms next to {SLOW} slowloris connections"
    assert event_ms[-1] < 1000, f"event latency max {event_ms[-1]:.1f} ms next to {SLOW} slowloris connections"
    assert h.proc.poll() is None
    sub.close()


# --------------------------------------------------------------------------- the limit itself

def open_file_limit(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no 'Max open files' line")


def test_serve_raises_its_soft_fd_limit_to_the_hard_one(site):
    # Started with soft 256 / hard 4096 (prlimit(1) execs herald in place: same pid).
    h = Herald(serve_args(site.public), name="prlimit herald")
    h.args = ["prlimit", "--nofile=256:4096", *h.args]
    _started.append(h)
    try:
        h.start()
        assert open_file_limit(h.proc.pid) == (4096, 4096)
        assert Api(h.port).get("/healthz").status == 200
        assert h.stop() == 0, h.log_tail()
    finally:
        h.kill()
        _started.remove(h)
