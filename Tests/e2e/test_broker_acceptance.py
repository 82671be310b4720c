"""Issue 6's acceptance, with real processes: `herald serve --workers 4` (a supervisor, four
`herald worker` processes on one port with SO_REUSEPORT, one `herald broker`), real clients
(http.client over fresh connections, python `websockets`), and `kill -9`. Each test is bounded
in time."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import threading
import time

import pytest

from cluster_support import Cluster, Producer, Subscriber, kill
from proc_support import alive, cmdline
from tasks_support import Api, WS, unique_id


@pytest.fixture
def cluster(site, tmp_path):
    c = Cluster(str(site.public), str(tmp_path / "data"), 4, "--snapshot-terminal", "1000").start()
    try:
        c.wait_for(lambda: len(c.worker_pids()) == 4 and c.broker_pid(), 20, "4 workers and a broker")
        yield c
    finally:
        c.stop()


def fresh_text(port: int, path: str) -> str:
    """One GET over a new connection (so the kernel picks a worker for each)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, (r.status, body[:200])
        return body.decode()
    finally:
        conn.close()


def fresh_get(port: int, path: str) -> dict:
    return json.loads(fresh_text(port, path))


def caught_up(api: Api, tid: str, subscribers: list[Subscriber], final: dict):
    """A check that every subscriber has the task's latest seq; `final` gets the task (read
    once, after the producers are done)."""

    def check() -> bool:
        if not final:
            final.update(api.task(tid))
        return all(s.since == final["seq"] for s in subscribers)

    return check


def run_subscribers(port: int, subscribers: list[Subscriber], body, settle) -> None:
    """Runs the subscribers on one asyncio loop while `body()` runs in a thread, then waits
    (bounded) until `settle()` is true and stops them."""

    async def main():
        stop = asyncio.Event()
        for s in subscribers:
            s.ready = asyncio.Event()
        tasks = [asyncio.create_task(s.run(port, stop)) for s in subscribers]
        await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in subscribers)), 30)
        await asyncio.to_thread(body)
        deadline = time.monotonic() + 30
        while not settle() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())


def test_1_no_flicker_across_four_workers(cluster):
    """One task progresses 0→1000 while a poller does 2,000 GETs over fresh connections (spread
    over the 4 workers by the kernel) and 4 subscribers listen: the polled `done` never goes
    back, and every subscriber sees seq strictly increasing with no gap."""
    api = Api(cluster.port)
    tid = unique_id("flicker")
    api.create(id=tid, title="flicker", total=1000, lease_s=3600)
    api.act(tid, "start")
    subscribers = [Subscriber(f"task:{tid}") for _ in range(4)]
    polled: list[int] = []

    def poll():
        for _ in range(2000):
            polled.append(fresh_get(cluster.port, f"/api/tasks/{tid}")["done"])

    def body():
        poller = threading.Thread(target=poll)
        poller.start()
        producer = Producer(cluster.port)
        for done in range(1, 1001):
            status, _, _ = producer.call("POST", f"/api/tasks/{tid}/progress", {"done": done})
            assert status == 200
        producer.close()
        poller.join(120)

    final = {}
    settled = caught_up(api, tid, subscribers, final)

    run_subscribers(cluster.port, subscribers, body, settled)
    assert len(polled) == 2000
    assert all(a <= b for a, b in zip(polled, polled[1:])), "the polled done went back"
    assert len(set(polled)) > 10, "the poller did not run while the task progressed"
    assert fresh_get(cluster.port, f"/api/tasks/{tid}")["done"] == 1000
    for s in subscribers:
        seqs = s.event_seqs()
        start = s.sessions[0]["seq"]
        assert seqs == list(range(start + 1, final["seq"] + 1)), "a gap or a duplicate"
        assert s.state[tid]["done"] == 1000


def test_2_a_killed_worker_loses_no_event_for_its_subscribers(cluster):
    """kill -9 a worker while 200 subscribers listen and events flow: the ones on it reconnect
    (to another worker) with since= and each subscriber's events, over all its connections, are
    exactly the full sequence — no gap, no duplicate."""
    api = Api(cluster.port)
    tid = unique_id("wkill")
    api.create(id=tid, title="worker kill", total=100000, lease_s=3600)
    api.act(tid, "start")
    subscribers = [Subscriber(f"task:{tid}") for _ in range(200)]
    victim = cluster.worker_pids()[0]
    victim_argv = cmdline(victim)

    def body():
        producer = Producer(cluster.port)
        for done in range(1, 401):
            if done == 100:
                kill(victim)
            producer.call("POST", f"/api/tasks/{tid}/progress", {"done": done})
            time.sleep(0.002)
        producer.close()

    final = {}
    settled = caught_up(api, tid, subscribers, final)

    run_subscribers(cluster.port, subscribers, body, settled)
    reconnected = [s for s in subscribers if len(s.sessions) > 1]
    assert reconnected, "no subscriber was on the killed worker"
    for s in subscribers:
        start = s.sessions[0]["seq"]
        assert s.event_seqs() == list(range(start + 1, final["seq"] + 1)), f"sessions {s.sessions}"
        assert all(x["type"] == "resumed" for x in s.sessions[1:]), s.sessions
    # The supervisor replaced the worker.
    cluster.wait_for(lambda: len(cluster.worker_pids()) == 4 and victim not in cluster.worker_pids(), 20,
                     "the killed worker to be replaced")
    assert "restarting" in "\n".join(cluster.herald.stderr_lines)
    # Per-process metrics: fresh connections reach every worker; the replaced slot counts 1 restart.
    slot = cluster.worker_index(victim_argv)
    seen: dict[str, int] = {}
    for _ in range(400):
        text = fresh_text(cluster.port, "/metrics")
        name = re.search(r'herald_process_info\{process="([^"]+)"', text).group(1)
        seen[name] = int(re.search(r"^herald_process_restarts_total (\d+)$", text, re.M).group(1))
        assert "herald_broker_connected 1" in text
        if len(seen) == 4:
            break
    assert sorted(seen) == [f"worker-{i}" for i in range(1, 5)], seen
    assert seen[f"worker-{slot}"] == 1 and sum(seen.values()) == 1, seen


def test_3_a_killed_broker_comes_back_from_sqlite_and_nothing_acknowledged_is_lost(cluster):
    """kill -9 the broker during 10,000 progress events and 500 lifecycle changes: the
    supervisor restarts it from SQLite; every lifecycle change that got a 2xx is there; producers
    that got 503 retry; subscribers resume or take a recovered:false snapshot, and end with
    exactly the state the API shows — never a wrong one."""
    api = Api(cluster.port)
    run = unique_id("bkill")
    full = [f"{run}-f{i}" for i in range(100)]     # create, start, 100 × progress, complete
    cancelled = [f"{run}-c{i}" for i in range(100)]  # create, cancel
    acknowledged: dict[str, list[str]] = {}
    progress_sent = [0]
    lock = threading.Lock()
    broker_before = cluster.broker_pid()
    killed = threading.Event()

    def ack(tid, what):
        with lock:
            acknowledged.setdefault(tid, []).append(what)

    def expect(status, body, retried, ok, tid, already_status):
        """2xx, or — only after a retry — the 409 of a change that had been applied already."""
        if status in ok:
            return
        assert retried and status == 409, (tid, status, body)
        assert api.task(tid)["status"] in already_status, (tid, status, body)

    def worker(share: int):
        p = Producer(cluster.port)
        for tid in full[share::4]:
            s, b, r = p.call("POST", "/api/tasks", {"id": tid, "title": "full", "total": 100, "lease_s": 3600})
            expect(s, b, r, (201,), tid, ("queued",))
            ack(tid, "created")
            s, b, r = p.call("POST", f"/api/tasks/{tid}/start", {})
            expect(s, b, r, (200,), tid, ("running",))
            ack(tid, "started")
            for done in range(1, 101):
                s, b, r = p.call("POST", f"/api/tasks/{tid}/progress", {"done": done})
                assert s == 200, (tid, s, b)
                with lock:
                    progress_sent[0] += 1
                    if progress_sent[0] == 3000 and not killed.is_set():
                        killed.set()
                        kill(broker_before)
            s, b, r = p.call("POST", f"/api/tasks/{tid}/complete", {})
            expect(s, b, r, (200,), tid, ("succeeded",))
            ack(tid, "succeeded")
        for tid in cancelled[share::4]:
            s, b, r = p.call("POST", "/api/tasks", {"id": tid, "title": "cancel", "lease_s": 3600})
            expect(s, b, r, (201,), tid, ("queued",))
            ack(tid, "created")
            s, b, r = p.call("POST", f"/api/tasks/{tid}/cancel", {})
            expect(s, b, r, (200,), tid, ("cancelled",))
            ack(tid, "cancelled")
        p.close()
        return p

    producers = []

    def body():
        threads = [threading.Thread(target=lambda n=n: producers.append(worker(n))) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
        assert not any(t.is_alive() for t in threads), "producers did not finish"

    subscribers = [Subscriber("tasks") for _ in range(4)]
    truth = {}

    def settled():
        if not truth:
            listing = api.task_list("limit=1000")
            truth.update({t["id"]: t for t in listing["tasks"]})
            truth["__seq"] = listing["seq"]
        return all(s.since == truth["__seq"] for s in subscribers)

    run_subscribers(cluster.port, subscribers, body, settled)
    assert killed.is_set() and progress_sent[0] == 10_000
    assert sum(p.unavailable + p.retries for p in producers) > 0, "the kill was not felt by any producer"
    # The broker was brought back by the supervisor.
    assert cluster.broker_pid() not in (None, broker_before)
    # Every acknowledged lifecycle change is there.
    for tid in full:
        assert acknowledged[tid][-1] == "succeeded" and truth[tid]["status"] == "succeeded", tid
    for tid in cancelled:
        assert acknowledged[tid][-1] == "cancelled" and truth[tid]["status"] == "cancelled", tid
    assert sum(len(v) for v in acknowledged.values()) == 500
    # Subscribers went through a resync (a new epoch after the crash) and agree with the API.
    for s in subscribers:
        assert any(x["type"] == "snapshot" and not x["recovered"] for x in s.sessions[1:]), s.sessions
        mine = {tid: (t["status"], t["done"]) for tid, t in s.state.items() if tid.startswith(run)}
        theirs = {tid: (t["status"], t["done"]) for tid, t in truth.items() if tid.startswith(run)}
        assert mine == theirs


def test_4_stop_and_start_again_keeps_tasks_epoch_and_seq(site, tmp_path):
    """SIGTERM the supervisor (workers drain, the broker records a clean stop); a new
    `serve --workers 4` on the same --data continues the same tasks, epoch and seq."""
    data = str(tmp_path / "data")
    first = Cluster(str(site.public), data, 4).start()
    tid = unique_id("restart")
    try:
        api = Api(first.port)
        api.create(id=tid, title="restart", lease_s=3600)
        api.act(tid, "start")
        last = api.act(tid, "progress", {"done": 7})
        with WS(first.port, "topic=tasks") as ws:
            before = ws.snapshot()
        pids = first.worker_pids() + [first.broker_pid()]
    finally:
        assert first.stop() == 0
    assert not any(alive(p) for p in pids)
    second = Cluster(str(site.public), data, 4).start()
    try:
        api = Api(second.port)
        with WS(second.port, "topic=tasks") as ws:
            after = ws.snapshot()
        assert after["epoch"] == before["epoch"] and after["seq"] == before["seq"] == last["seq"]
        task = api.task(tid)
        assert (task["status"], task["done"]) == ("running", 7)
        assert api.act(tid, "progress", {"done": 8})["seq"] == last["seq"] + 1
        # A subscriber from before the restart resumes exactly.
        with WS(second.port, f"topic=task:{tid}&since={before['seq']}&epoch={before['epoch']}") as ws:
            assert ws.recv()["type"] == "resumed"
            assert ws.recv()["seq"] == last["seq"] + 1
    finally:
        assert second.stop() == 0
