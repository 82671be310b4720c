"""Every cell of the lifecycle table: the allowed transitions push their event with the seq of
the HTTP answer; every other one is 409 invalid_transition and changes nothing."""

from __future__ import annotations

import pytest

from tasks_support import (ACTION_EVENT, STATUSES, WS, Api, api, assert_event, assert_json_error_answer,  # noqa: F401
                           assert_task_shape, tasks_server)

ACTIONS = ("start", "progress", "heartbeat", "complete", "fail", "cancel", "cancelled", "retry", "delete")

# (status, action) → the status after it; every pair not listed is 409 invalid_transition.
ALLOWED = {
    ("queued", "start"): "running",
    ("queued", "cancel"): "cancelled",
    ("running", "progress"): "running",
    ("running", "heartbeat"): "running",
    ("running", "complete"): "succeeded",
    ("running", "fail"): "failed",
    ("running", "cancel"): "cancelling",
    ("cancelling", "progress"): "cancelling",
    ("cancelling", "heartbeat"): "cancelling",
    ("cancelling", "fail"): "failed",
    ("cancelling", "cancelled"): "cancelled",
    ("failed", "retry"): "queued",
    ("cancelled", "retry"): "queued",
    ("succeeded", "delete"): None,
    ("failed", "delete"): None,
    ("cancelled", "delete"): None,
}

CELLS = [(s, a) for s in STATUSES for a in ACTIONS]


@pytest.mark.parametrize("status,action", CELLS, ids=[f"{s}-{a}" for s, a in CELLS])
def test_transition_table(tasks_server, api: Api, status, action):
    t = api.move_to(status, total=10)
    i = t["id"]
    before_all = api.task_list("limit=10000")
    with WS(tasks_server.port, f"topic=task:{i}") as ws:
        snap = ws.snapshot(f"task:{i}")
        assert [x["id"] for x in snap["tasks"]] == [i]
        a = api.action(i, action)
        if (status, action) not in ALLOWED:
            assert_json_error_answer(a, 409, "invalid_transition")
            assert api.task(i) == t, "a refused transition changed the task"
            assert api.task_list("limit=10000") == before_all, "a refused transition changed the task list"
            assert ws.ping() == [], "a refused transition pushed an event"
            return
        assert a.status == 200, f"{status} → {action}: {a!r}"
        body = a.json
        if action == "delete":
            assert body == {"deleted": i, "seq": body["seq"]} and isinstance(body["seq"], int), body
            m = ws.recv(5)
            assert m == {"type": "removed", "topic": f"task:{i}", "seq": body["seq"], "id": i}, m
            assert body["seq"] > t["seq"]
            r = api.get(f"/api/tasks/{i}")
            assert_json_error_answer(r, 404, "not_found")
            assert i not in {x["id"] for x in api.task_list("limit=10000")["tasks"]}
            return
        assert_task_shape(body)
        assert body["status"] == ALLOWED[(status, action)], body
        if action == "heartbeat":
            # A plain heartbeat pushes nothing and so keeps the task's seq.
            assert body["seq"] == t["seq"], body
            assert ws.ping() == [], "a plain heartbeat pushed an event"
            return
        assert body["seq"] > t["seq"]
        event = "cancelling" if (status, action) == ("running", "cancel") else \
            "cancelled" if action == "cancel" else ACTION_EVENT[action]
        assert_event(ws.recv(5), event, body, f"task:{i}")
        assert api.task(i) == {k: v for k, v in body.items() if k != "cancel_requested"}


def test_unknown_task_is_404_for_every_action(api: Api):
    for action in ACTIONS:
        a = api.action("no-such-task-ever", action)
        assert_json_error_answer(a, 404, "not_found")
    assert_json_error_answer(api.get("/api/tasks/no-such-task-ever"), 404, "not_found")


def test_cancel_while_running_then_worker_confirms(tasks_server, api: Api):
    t = api.move_to("running", total=100)
    i = t["id"]
    with WS(tasks_server.port, f"topic=task:{i}") as ws:
        ws.snapshot()
        p1 = api.act(i, "progress", {"done": 10})
        assert p1.get("cancel_requested", False) is False, p1
        c = api.act(i, "cancel")
        assert c["status"] == "cancelling"
        p2 = api.act(i, "progress", {"done": 20, "message": "stopping"})
        assert p2["status"] == "cancelling" and p2["cancel_requested"] is True, p2
        assert p2["done"] == 20
        h = api.act(i, "heartbeat")
        assert h["status"] == "cancelling"
        done = api.act(i, "cancelled")
        assert done["status"] == "cancelled" and done["finished_at"] is not None
        evs = [ws.recv(5) for _ in range(4)]
        assert [e["event"] for e in evs] == ["progress", "cancelling", "progress", "cancelled"], evs
        assert [e["seq"] for e in evs] == [p1["seq"], c["seq"], p2["seq"], done["seq"]]
        assert ws.ping() == []


def test_retry_bumps_attempt_and_resets_progress(tasks_server, api: Api):
    t = api.move_to("running", total=10)
    i = t["id"]
    api.act(i, "progress", {"done": 7, "message": "most"})
    f = api.act(i, "fail", {"error": {"code": "disk_full", "message": "no space"}})
    assert f["status"] == "failed" and f["error"] == {"code": "disk_full", "message": "no space"}
    assert f["done"] == 7 and f["finished_at"] is not None
    with WS(tasks_server.port, f"topic=task:{i}") as ws:
        ws.snapshot()
        r = api.act(i, "retry")
        assert r["status"] == "queued" and r["attempt"] == 2
        assert r["done"] == 0 and r["percent"] in (None, 0) and r["error"] is None and r["result"] is None
        assert r["started_at"] is None and r["finished_at"] is None
        assert r["rate"] is None and r["eta_s"] is None
        assert r["total"] == 10 and r["title"] == t["title"] and r["id"] == i
        assert_event(ws.recv(5), "retried", r, f"task:{i}")
        s = api.act(i, "start")
        # a new attempt starts from zero again: done 2 < 7 is fine now
        p = api.act(i, "progress", {"done": 2})
        assert p["done"] == 2 and p["percent"] == 20 and p["attempt"] == 2
        c = api.act(i, "complete", {"result": [1, 2]})
        assert c["result"] == [1, 2]
        evs = [ws.recv(5) for _ in range(3)]
        assert [(e["event"], e["seq"]) for e in evs] == [("started", s["seq"]), ("progress", p["seq"]),
                                                          ("succeeded", c["seq"])]
    # retry clears the result of a cancelled-then-retried task too
    x = api.move_to("cancelled")
    r2 = api.act(x["id"], "retry")
    assert r2["attempt"] == 2 and r2["status"] == "queued"


def test_delete_pushes_removed_to_every_topic_and_then_404(tasks_server, api: Api):
    t = api.move_to("succeeded", owner="deleter")
    i = t["id"]
    with WS(tasks_server.port, f"topic=tasks&topic=task:{i}&topic=owner:deleter") as ws:
        for _ in range(3):
            ws.recv_type("snapshot")
        d = api.call("DELETE", f"/api/tasks/{i}")
        assert d.status == 200, d
        seq = d.json["seq"]
        got = [ws.recv(5) for _ in range(3)]
        assert sorted(m["topic"] for m in got) == sorted(["tasks", f"task:{i}", "owner:deleter"])
        assert all(m["type"] == "removed" and m["id"] == i and m["seq"] == seq for m in got), got
    assert_json_error_answer(api.get(f"/api/tasks/{i}"), 404, "not_found")
    assert_json_error_answer(api.call("DELETE", f"/api/tasks/{i}"), 404, "not_found")
    # the id can be used again
    again = api.create(id=i, title="reborn")
    assert again["attempt"] == 1 and again["status"] == "queued"


def test_complete_without_body_and_fail_requires_error(api: Api):
    t = api.move_to("running")
    a = api.post(f"/api/tasks/{t['id']}/complete", raw=b"")
    assert a.status == 200 and a.json["status"] == "succeeded", a
    r = api.move_to("running")
    a = api.post(f"/api/tasks/{r['id']}/fail", {})
    assert_json_error_answer(a, 400, {"missing_field", "invalid_field"})
    assert api.task(r["id"]) == r
