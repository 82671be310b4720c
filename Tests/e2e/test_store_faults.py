"""A store that cannot write, for real: `--data` on a tiny tmpfs filled up with a file (or, where
mounting is not permitted, the store's process held under RLIMIT_FSIZE at its WAL's size).
While the disk is full every change is `503 storage_unavailable`, a subscriber hears none of
them, reads show the old state and `/healthz` says `"store":"failing"`; once space is freed
the server recovers by itself, and after a restart every acknowledged change is there and no
refused one is. Standalone, and with `--workers 2` (the broker's store)."""

from __future__ import annotations

import time

import pytest

from cluster_support import Cluster
from conftest import ROOT, _started
from proc_support import wait_for
from store_fault_support import disk
from tasks_support import WS, Api, own_server, task_serve_args, unique_id

PUBLIC = ROOT / "public"


def healthz_store(port: int) -> str:
    a = Api(port).get("/healthz")
    assert a.status == 200, a
    return a.json["store"]


def refused(a) -> bool:
    return a.status == 503 and a.json["error"]["code"] == "storage_unavailable"


def exercise(port: int, fault, pid_of_store, restart) -> None:
    """The whole story against one server (or cluster) on `port`; `restart()` stops it cleanly,
    starts it again on the same data and returns the new port."""
    api = Api(port)
    assert healthz_store(port) == "ok"
    a, b = unique_id("a"), unique_id("b")
    api.create(id=a, title="acknowledged", total=10, lease_s=3600)
    api.act(a, "start")
    api.act(a, "progress", {"done": 2})
    api.create(id=b, title="finished", lease_s=3600)
    api.act(b, "start")
    api.act(b, "complete")
    before_a, before_b = api.task(a), api.task(b)
    seq_before = api.seq()

    with WS(port, "topic=tasks") as ws:
        snap = ws.snapshot()
        assert snap["seq"] == seq_before

        fault.fill(pid_of_store)
        ghost = unique_id("ghost")
        attempts = [
            lambda: api.post("/api/tasks", {"id": ghost, "title": "never stored"}),
            lambda: api.action(a, "progress", {"done": 7, "message": "lost"}),
            lambda: api.action(a, "complete"),
            lambda: api.action(b, "retry"),
            lambda: api.action(b, "delete"),
            lambda: api.post("/api/batch", {"op": "create", "items": [{"id": ghost + "x", "title": "batch"}]}),
        ]
        for attempt in attempts:
            answer = attempt()
            assert refused(answer), f"a change on a full disk was answered {answer!r}"
        assert healthz_store(port) == "failing"
        # Reads and subscriptions go on, and show the state as it was.
        assert api.task(a) == before_a and api.task(b) == before_b
        assert api.get(f"/api/tasks/{ghost}").status == 404
        assert api.seq() == seq_before
        with WS(port, f"topic=task:{a}") as late:
            assert late.snapshot()["tasks"] == [before_a]
        assert ws.ping() == [] and ws.quiet(0.3) == [], "a subscriber heard of a refused change"
        # Still failing a few probes later (nothing was freed).
        time.sleep(1.5)
        assert refused(api.action(a, "progress", {"done": 8}))
        assert healthz_store(port) == "failing"
        assert ws.ping() == []

        fault.free(pid_of_store)
        wait_for(lambda: healthz_store(port) == "ok", 10, "healthz store ok after the space was freed")
        after = api.act(a, "progress", {"done": 9, "message": "after"})
        assert after["seq"] == seq_before + 1, "the refused changes' seqs were used: none of them was published"
        event = ws.until(lambda m: m["type"] == "task" and m["task"]["id"] == a, 5)[-1]
        assert event["seq"] == seq_before + 1 and event["task"]["done"] == 9
        assert all(m["type"] not in ("task", "removed") or m["seq"] > seq_before for m in ws.log[1:])
        api.act(a, "complete")
        acknowledged = {a: api.task(a), b: api.task(b)}

    port = restart()
    api = Api(port)
    assert healthz_store(port) == "ok"
    for task_id, task in acknowledged.items():
        got = api.task(task_id)
        assert got["status"] == task["status"] and got["done"] == task["done"] and got["seq"] == task["seq"], (got, task)
    assert api.get(f"/api/tasks/{ghost}").status == 404
    assert api.get(f"/api/tasks/{ghost}x").status == 404
    assert api.task(b)["status"] == "succeeded", "a refused retry or delete was applied"
    assert api.task(a)["done"] == 10 and api.task(a)["status"] == "succeeded"


@pytest.mark.timeout(60)
def test_a_full_disk_refuses_changes_and_the_server_recovers_by_itself(tmp_path):
    with disk(tmp_path) as fault:
        args = task_serve_args(PUBLIC, fault.data)
        servers = []

        def start():
            ctx = own_server(args, f"herald on a full disk ({fault.method})")
            h = ctx.__enter__()
            servers.append((ctx, h))
            return h

        h = start()
        try:
            def restart():
                ctx, old = servers[-1]
                assert old.stop() == 0, old.log_tail()
                ctx.__exit__(None, None, None)
                return start().port

            exercise(h.port, fault, lambda: servers[-1][1].proc.pid, restart)
        finally:
            ctx, _ = servers[-1]
            ctx.__exit__(None, None, None)


@pytest.mark.timeout(90)
def test_a_full_disk_under_workers_is_the_brokers(tmp_path):
    with disk(tmp_path) as fault:
        clusters = [Cluster(str(PUBLIC), str(fault.data), 2)]
        _started.append(clusters[0].herald)
        clusters[0].start()

        def broker_pid():
            return clusters[-1].wait_for(clusters[-1].broker_pid, 10, "the broker process")

        def restart():
            old = clusters[-1]
            assert old.stop() == 0, old.herald.log_tail()
            _started.remove(old.herald)
            new = Cluster(str(PUBLIC), str(fault.data), 2)
            clusters.append(new)
            _started.append(new.herald)
            new.start()
            return new.port

        try:
            exercise(clusters[0].port, fault, broker_pid, restart)
        finally:
            last = clusters[-1]
            if last.herald.proc is not None and last.herald.proc.poll() is None:
                last.stop()
            if last.herald in _started:
                _started.remove(last.herald)
