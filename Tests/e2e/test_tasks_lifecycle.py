"""The full task lifecycle over HTTP, pushed in order to `/ws` subscribers (contract: task
object, lifecycle, sequence; the WebSocket section)."""

from __future__ import annotations

import time

from tasks_support import (WS, Api, api, assert_event, assert_snapshot, assert_task_shape,  # noqa: F401
                           tasks_server, task_events, unique_id)


def test_create_answers_201_with_the_whole_task_object(api: Api):
    t = api.create(title="shape", owner="alice", total=10, meta={"k": [1, "two", None]})
    assert_task_shape(t)
    assert t["title"] == "shape" and t["owner"] == "alice" and t["total"] == 10
    assert t["status"] == "queued" and t["stale"] is False and t["attempt"] == 1
    assert t["done"] == 0 and t["message"] == "" and t["error"] is None and t["result"] is None
    assert t["meta"] == {"k": [1, "two", None]}
    assert t["lease_s"] == 30, "the default lease is 30 s"
    assert t["started_at"] is None and t["finished_at"] is None
    assert api.task(t["id"]) == t


def test_server_generates_distinct_valid_ids(api: Api):
    ids = {api.create(title=f"gen {i}")["id"] for i in range(20)}
    assert len(ids) == 20
    for i in ids:
        assert_task_shape(api.task(i))


def test_duplicate_id_is_409_already_exists(api: Api):
    i = unique_id()
    first = api.create(id=i, title="first")
    a = api.post("/api/tasks", {"id": i, "title": "second"})
    assert a.status == 409 and a.json["error"]["code"] == "already_exists", a
    assert api.task(i) == first


def test_full_lifecycle_pushed_in_order_to_both_topics(tasks_server, api: Api):
    i = unique_id("life")
    with WS(tasks_server.port, "topic=tasks") as all_ws, WS(tasks_server.port, f"topic=task:{i}") as one_ws:
        s_all = all_ws.snapshot("tasks")
        s_one = one_ws.snapshot(f"task:{i}")
        assert s_one["tasks"] == [] and sum(s_one["counts"].values()) == 0, s_one
        assert s_all["epoch"] == s_one["epoch"]
        # counts cover every task of the topic, by status
        listed = api.task_list("limit=10000")["tasks"]
        by_status = {}
        for t in listed:
            by_status[t["status"]] = by_status.get(t["status"], 0) + 1
        assert {k: v for k, v in s_all["counts"].items() if v} == by_status

        answers = [("created", api.create(id=i, title="lifecycle", total=5, meta={"job": 1}))]
        answers.append(("started", api.act(i, "start")))
        for d in range(1, 6):
            answers.append(("progress", api.act(i, "progress", {"done": d, "message": f"step {d}"})))
        answers.append(("succeeded", api.act(i, "complete", {"message": "all done", "result": {"url": "x"}})))

        seqs = [a["seq"] for _, a in answers]
        assert seqs == sorted(set(seqs)), f"HTTP answers' seq not strictly increasing: {seqs}"
        assert seqs[0] > s_all["seq"] and seqs[0] > s_one["seq"]
        for ws, topic in ((all_ws, "tasks"), (one_ws, f"task:{i}")):
            got = []
            while len(got) < len(answers):
                m = ws.recv(5)
                assert m["type"] == "task", m
                if m["task"]["id"] == i:
                    got.append(m)
            for m, (event, answer) in zip(got, answers):
                assert_event(m, event, answer, topic)
                assert_task_shape(m["task"])
        final = answers[-1][1]
        assert final["status"] == "succeeded" and final["done"] == 5 and final["percent"] == 100
        assert final["result"] == {"url": "x"} and final["message"] == "all done"
        assert final["finished_at"] is not None and final["started_at"] is not None
        progress = [a for e, a in answers if e == "progress"]
        assert [p["percent"] for p in progress] == [20, 40, 60, 80, 100]
        assert [p["message"] for p in progress] == [f"step {d}" for d in range(1, 6)]
        assert api.task(i) == final
        # The global seq in the list is at least the last event's.
        assert api.seq() >= final["seq"]


def test_every_event_seq_strictly_increasing_on_one_connection(tasks_server, api: Api):
    with WS(tasks_server.port, "topic=tasks") as ws:
        s = ws.snapshot("tasks")
        ids = [api.create(title=f"many {k}", lease_s=3600)["id"] for k in range(5)]
        for i in ids:
            api.act(i, "start")
            api.act(i, "progress", {"done": 1})
        msgs = ws.until(lambda m: m["type"] == "task" and m["task"]["id"] == ids[-1] and m["event"] == "progress")
        seqs = [m["seq"] for m in msgs if m["type"] in ("task", "removed")]
        assert seqs[0] > s["seq"]
        assert all(a < b for a, b in zip(seqs, seqs[1:])), seqs


def test_owner_topic_gets_only_that_owners_tasks(tasks_server, api: Api):
    owner = "own" + unique_id("")[1:9].replace("-", "")
    with WS(tasks_server.port, f"topic=owner:{owner}") as ws:
        ws.snapshot(f"owner:{owner}")
        other = api.create(title="not mine", owner="someone-else")
        mine = api.create(title="mine", owner=owner)
        m = ws.recv(5)
        assert m["type"] == "task" and m["task"]["id"] == mine["id"] and m["topic"] == f"owner:{owner}", m
        api.act(other["id"], "start")
        api.act(mine["id"], "start")
        m = ws.recv(5)
        assert m["event"] == "started" and m["task"]["id"] == mine["id"], m
        # a fresh subscriber's snapshot holds exactly this owner's tasks
        with WS(tasks_server.port, f"topic=owner:{owner}") as ws2:
            s = ws2.snapshot(f"owner:{owner}")
            assert [t["id"] for t in s["tasks"]] == [mine["id"]]
            assert {k: v for k, v in s["counts"].items() if v} == {"running": 1}


def test_two_topics_on_one_connection_deliver_an_event_once_per_topic(tasks_server, api: Api):
    i = unique_id("both")
    with WS(tasks_server.port, f"topic=tasks&topic=task:{i}") as ws:
        snaps = [ws.recv_type("snapshot"), ws.recv_type("snapshot")]
        assert sorted(s["topic"] for s in snaps) == sorted(["tasks", f"task:{i}"])
        t = api.create(id=i, title="twice")
        a, b = ws.recv(5), ws.recv(5)
        assert {a["topic"], b["topic"]} == {"tasks", f"task:{i}"}, (a, b)
        assert a["seq"] == b["seq"] == t["seq"] and a["event"] == b["event"] == "created"
        assert ws.ping() == []


def test_snapshot_holds_non_terminal_tasks_and_recent_terminal_ones(tasks_server, api: Api):
    running = api.move_to("running")
    done = api.move_to("succeeded")
    with WS(tasks_server.port, "topic=tasks") as ws:
        s = ws.snapshot("tasks")
        by_id = {t["id"]: t for t in s["tasks"]}
        assert by_id.get(running["id"]) == running
        assert by_id.get(done["id"]) == done
        assert s["seq"] >= done["seq"]
        # A subscriber whose snapshot is at seq N receives no event with seq <= N.
        api.act(running["id"], "progress", {"done": 3})
        m = ws.recv(5)
        assert m["seq"] > s["seq"]


def test_list_filters_and_order(api: Api):
    owner = "lst" + unique_id("")[1:9].replace("-", "")
    a = api.create(title="a", owner=owner, lease_s=3600)
    b = api.create(title="b", owner=owner, lease_s=3600)
    api.act(a["id"], "start")
    time.sleep(0.01)
    c = api.act(b["id"], "cancel")
    doc = api.task_list(f"owner={owner}")
    # most recently changed first
    assert [t["id"] for t in doc["tasks"]] == [b["id"], a["id"]]
    assert doc["seq"] >= c["seq"]
    assert [t["id"] for t in api.task_list(f"owner={owner}&status=running")["tasks"]] == [a["id"]]
    both = api.task_list(f"owner={owner}&status=running,cancelled")["tasks"]
    assert {t["id"] for t in both} == {a["id"], b["id"]}
    both2 = api.task_list(f"owner={owner}&status=running&status=cancelled")["tasks"]
    assert {t["id"] for t in both2} == {a["id"], b["id"]}
    assert len(api.task_list(f"owner={owner}&limit=1")["tasks"]) == 1
