"""Several `herald serve --broker PATH` processes sharing one `herald broker` (real processes,
a real Unix socket): every process shows the same state and the same seq numbers, exactly one
broker runs per socket, and a broker that is gone gives 503, never a hang or a silent loss."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import Herald, herald_bin
from tasks_support import WS, Api, unique_id


class Broker:
    def __init__(self, socket: str, data: str):
        self.socket = socket
        self.proc = subprocess.Popen([str(herald_bin()), "broker", "--socket", socket, "--data", data],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if "broker listening on" in line:
                return
            if not line and self.proc.poll() is not None:
                break
        raise AssertionError(f"herald broker did not start (exit {self.proc.poll()})")

    def stop(self, sig=signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(10)


@pytest.fixture
def cluster(site):
    """A broker and two servers attached to it, stopped at the end."""
    with tempfile.TemporaryDirectory(prefix="herald-") as d:
        os.chmod(d, 0o700)
        broker = Broker(os.path.join(d, "broker.sock"), os.path.join(d, "data"))
        servers = [Herald(["serve", "--host", "127.0.0.1", "--port", "0", "--public", str(site.public),
                           "--broker", broker.socket], name=f"server {n}").start() for n in ("A", "B")]
        try:
            yield broker, servers
        finally:
            for s in servers:
                if s.proc.poll() is None:
                    s.stop()
            if broker.proc.poll() is None:
                broker.stop()


def test_two_servers_show_the_same_tasks_and_seqs(cluster):
    broker, (a, b) = cluster
    api_a, api_b = Api(a.port), Api(b.port)
    tid = unique_id("shared")
    with WS(b.port, "topic=tasks") as ws_b, WS(a.port, f"topic=task:{tid}") as ws_a:
        ws_b.snapshot()
        ws_a.snapshot()
        answers = [api_a.create(id=tid, title="shared", total=10), api_a.act(tid, "start")]
        answers += [api_b.act(tid, "progress", {"done": n}) for n in (3, 6, 9)]  # reports through the other process
        answers.append(api_a.act(tid, "complete"))
        seqs = [x["seq"] for x in answers]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        for ws in (ws_b, ws_a):
            msgs = ws.until(lambda m: m.get("type") == "task" and m["seq"] == seqs[-1], 10)
            got = [m for m in msgs if m.get("type") == "task" and m["task"]["id"] == tid]
            assert [m["seq"] for m in got] == seqs
            assert [m["event"] for m in got] == ["created", "started", "progress", "progress", "progress", "succeeded"]
        assert api_b.task(tid) == api_a.task(tid)


def test_exactly_one_broker_runs_per_socket(cluster):
    broker, _ = cluster
    second = subprocess.run([str(herald_bin()), "broker", "--socket", broker.socket, "--data", broker.socket + "-data"],
                            capture_output=True, text=True, timeout=30)
    assert second.returncode == 1
    assert "another broker is already running on" in second.stderr
    assert broker.proc.poll() is None  # the first one is untouched


def test_a_broker_that_is_gone_gives_503_not_a_hang(cluster):
    broker, (a, _) = cluster
    api = Api(a.port)
    tid = unique_id("gone")
    api.create(id=tid, title="before the broker died")
    broker.proc.kill()
    broker.proc.wait(10)
    t0 = time.monotonic()
    answer = api.action(tid, "start")
    assert answer.status == 503, answer
    assert answer.json["error"]["code"] == "broker_unavailable"
    assert time.monotonic() - t0 < 5
    # /metrics still answers, with this process's own figures: that is when they matter.
    metrics = api.get("/metrics")
    assert metrics.status == 200
    assert "herald_broker_connected 0" in metrics.body.decode()


def test_servers_reconnect_to_a_restarted_broker_and_subscribers_miss_nothing(cluster):
    """SIGTERM the broker and start it again on the same socket and data: the servers reconnect
    by themselves and resume from the last seq they had (same epoch after a clean stop), so a
    subscriber stays connected and gets exactly the events of the gap; tasks and seq continue."""
    broker, (a, b) = cluster
    api_a, api_b = Api(a.port), Api(b.port)
    tid = unique_id("restart")
    restarted = None
    try:
        with WS(b.port, f"topic=task:{tid}") as ws:
            ws.snapshot()
            api_a.create(id=tid, title="survives a broker restart")
            started = api_a.act(tid, "start")
            ws.until(lambda m: m.get("type") == "task" and m["seq"] == started["seq"], 10)
            assert broker.stop() == 0
            restarted = Broker(broker.socket, os.path.join(os.path.dirname(broker.socket), "data"))
            # The server reconnects by itself: a change goes through again within a few seconds.
            deadline = time.monotonic() + 10
            answer = api_a.action(tid, "progress", {"done": 5})
            while answer.status != 200 and time.monotonic() < deadline:
                time.sleep(0.1)
                answer = api_a.action(tid, "progress", {"done": 5})
            assert answer.status == 200, answer
            assert answer.json["seq"] == started["seq"] + 1  # seq continues, nothing in between
            # The subscriber on the other process was never closed and gets the next event.
            got = ws.until(lambda m: m.get("type") == "task" and m["seq"] == answer.json["seq"], 10)
            assert [m["seq"] for m in got if m.get("type") == "task"] == [answer.json["seq"]]
            metrics = Api(b.port).get("/metrics").body.decode()
            assert "herald_broker_connected 1" in metrics
            assert "herald_broker_reconnects_total 1" in metrics
            assert "herald_broker_resyncs_total 0" in metrics
        assert api_b.task(tid)["done"] == 5
    finally:
        if restarted is not None and restarted.proc.poll() is None:
            restarted.stop()


def test_a_server_on_a_broker_stops_cleanly_on_sigterm(cluster):
    """SIGTERM reaches the server's signalfd, not its broker-connection thread (which would
    die of it): exit 0 after the drain."""
    _, (a, b) = cluster
    assert a.stop() == 0
    assert b.stop(signal.SIGINT) == 0


def test_a_wedged_broker_gives_503_after_the_ping_timeout_and_service_comes_back(cluster):
    """SIGSTOP keeps the broker's socket open but silent: the server's pings go unanswered, it
    drops the connection after 5 s and answers 503 instead of hanging; after SIGCONT it
    reconnects and the change can be retried."""
    broker, (a, _) = cluster
    api = Api(a.port)
    tid = unique_id("wedged")
    api.create(id=tid, title="wedged broker")
    broker.proc.send_signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        answer = api.action(tid, "start")
        waited = time.monotonic() - t0
        assert answer.status == 503 and answer.json["error"]["code"] == "broker_unavailable", answer
        assert 3 < waited < 9, waited
    finally:
        broker.proc.send_signal(signal.SIGCONT)
    deadline = time.monotonic() + 10
    answer = api.action(tid, "start")
    while answer.status == 503 and time.monotonic() < deadline:
        time.sleep(0.1)
        answer = api.action(tid, "start")
    # The first start may have been applied when the broker resumed: then it is a 409 now.
    assert answer.status in (200, 409), answer
    assert api.task(tid)["status"] == "running"
