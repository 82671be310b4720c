"""Leases: no heartbeat or progress for lease_s → a `stale` event; for expire_s → `failed` with
`lease_expired`; a heartbeat or progress on a stale task clears it with a `progress` event."""

from __future__ import annotations

import time

from tasks_support import WS, Api, api, assert_event, tasks_server  # noqa: F401


def test_silent_worker_goes_stale_then_fails_with_lease_expired(tasks_server, api: Api):
    t = api.create(title="silent worker", lease_s=0.5, expire_s=1.5)
    assert t["lease_s"] == 0.5
    i = t["id"]
    with WS(tasks_server.port, f"topic=task:{i}") as ws:
        ws.snapshot()
        s = api.act(i, "start")
        t0 = time.monotonic()
        assert_event(ws.recv(5), "started", s, f"task:{i}")
        stale = ws.recv(5)
        t_stale = time.monotonic() - t0
        assert stale["type"] == "task" and stale["event"] == "stale", stale
        assert stale["task"]["stale"] is True and stale["task"]["status"] == "running", stale
        assert stale["seq"] > s["seq"] and stale["task"]["seq"] == stale["seq"]
        assert 0.4 <= t_stale <= 1.3, f"stale after {t_stale:.3f}s for a 0.5 s lease"
        failed = ws.recv(5)
        t_failed = time.monotonic() - t0
        assert failed["type"] == "task" and failed["event"] == "failed", failed
        assert failed["task"]["status"] == "failed", failed
        assert failed["task"]["error"]["code"] == "lease_expired", failed
        assert isinstance(failed["task"]["error"]["message"], str)
        assert failed["task"]["finished_at"] is not None
        assert 1.35 <= t_failed <= 2.6, f"failed after {t_failed:.3f}s for expire_s 1.5"
        assert failed["seq"] > stale["seq"]
        final = api.task(i)
        assert final == failed["task"]
        assert ws.quiet(0.8) == [], "events after the lease expired"
        # a late report from the (not so dead) worker is refused
        late = api.action(i, "progress", {"done": 1})
        assert late.status == 409, late
        # and the task can be retried
        r = api.act(i, "retry")
        assert r["status"] == "queued" and r["attempt"] == 2 and r["error"] is None and r["stale"] is False


def test_heartbeat_clears_stale_with_a_progress_event(tasks_server, api: Api):
    t = api.create(title="slow worker", lease_s=0.5, expire_s=30)
    i = t["id"]
    with WS(tasks_server.port, f"topic=task:{i}") as ws:
        ws.snapshot()
        s = api.act(i, "start")
        assert_event(ws.recv(5), "started", s, f"task:{i}")
        stale = ws.recv(5)
        assert stale["event"] == "stale" and stale["task"]["stale"] is True
        assert api.task(i)["stale"] is True
        h = api.act(i, "heartbeat")
        assert h["stale"] is False and h["status"] == "running"
        m = ws.recv(5)
        assert_event(m, "progress", h, f"task:{i}")
        assert m["task"]["stale"] is False
        # the lease was renewed: stale again only after another 0.5 s
        t0 = time.monotonic()
        again = ws.recv(5)
        assert again["event"] == "stale", again
        assert time.monotonic() - t0 >= 0.35
        # a progress report clears it too
        p = api.act(i, "progress", {"done": 3})
        assert p["stale"] is False
        assert_event(ws.recv(5), "progress", p, f"task:{i}")


def test_heartbeats_and_progress_keep_a_task_fresh_and_push_nothing(tasks_server, api: Api):
    t = api.create(title="busy worker", lease_s=0.6, expire_s=2)
    i = t["id"]
    with WS(tasks_server.port, f"topic=task:{i}") as ws:
        ws.snapshot()
        s = api.act(i, "start")
        assert_event(ws.recv(5), "started", s, f"task:{i}")
        last = s
        end = time.monotonic() + 2.5
        k = 0
        while time.monotonic() < end:
            time.sleep(0.2)
            k += 1
            if k % 2:
                h = api.act(i, "heartbeat")
                assert h["seq"] == last["seq"], "a plain heartbeat changed the task's seq"
                assert h["heartbeat_at"] is not None
            else:
                last = api.act(i, "progress", {"done": k})
                assert_event(ws.recv(2), "progress", last, f"task:{i}")
        assert ws.ping() == [], "a heartbeat pushed something, or the task went stale"
        final = api.task(i)
        assert final["status"] == "running" and final["stale"] is False


def test_a_queued_task_has_no_running_lease(tasks_server, api: Api):
    t = api.create(title="waiting in the queue", lease_s=0.2, expire_s=0.4)
    with WS(tasks_server.port, f"topic=task:{t['id']}") as ws:
        ws.snapshot()
        assert ws.quiet(1.0) == []
    assert api.task(t["id"]) == t


def test_a_cancelling_task_that_stops_reporting_expires(tasks_server, api: Api):
    t = api.create(title="cancel then silence", lease_s=0.3, expire_s=0.9)
    i = t["id"]
    api.act(i, "start")
    c = api.act(i, "cancel")
    assert c["status"] == "cancelling"
    with WS(tasks_server.port, f"topic=task:{i}") as ws:
        ws.snapshot()
        # The contract only says the lease expires; a dead worker never confirms the cancel, so
        # the task must end: failed with lease_expired (or cancelled), never stuck in cancelling.
        msgs = ws.until(lambda m: m["type"] == "task" and m["event"] in ("failed", "cancelled"), 5)
        end = msgs[-1]["task"]
        assert end["status"] == "cancelled" or end["error"]["code"] == "lease_expired", msgs
