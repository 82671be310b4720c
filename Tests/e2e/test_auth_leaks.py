"""Nothing of bob's reaches alice: every route and topic walked with alice's tokens (viewer and
worker), with bob busy meanwhile. Bob's tasks carry a marker string in their title, message,
meta, result and error; no answer or frame alice receives may contain it, and each of bob's
tasks must look exactly like a task that does not exist.

The checks (the closing note of issue 12 lists them):
 1. GET /api/tasks (no filter, owner=bob, owner=alice, status filters, limit) lists only alice's
 2. GET /api/tasks/{bob's id} is the 404 of a missing id (same status, code, message shape)
 3. long-poll GET ?wait= on bob's id answers 404 at once, like a missing one
 4. every action on bob's task (viewer: cancel/retry/delete; worker: all) is the 404 of a
    missing task; actions a viewer may never make are 403 for both, whatever the task
 5. DELETE of bob's task is 404 and bob's task is untouched (same seq)
 6. /ws topics tasks, owner:bob, task:<bob's id>, task:<missing> → forbidden error frames,
    by query and by subscribe op, and the socket stays usable
 7. the owner:alice snapshot lists and counts only alice's tasks
 8. live events on alice's sockets during bob's create/progress/fail/delete: none of bob's
 9. resume with since= (owner:alice and task:<alice's id>) replays none of bob's events
10. a task:<id> alice subscribed to, deleted and re-created by bob: alice hears `removed`,
    then nothing of bob's new task
11. /metrics is 403 for alice (its counts cover every owner)
"""

from __future__ import annotations

import json
import re
import threading
import time

import pytest

from auth_support import PUBLISH_TOKEN, AuthApi, auth_server, mint
from tasks_support import WS, unique_id

MARK = "BOBS-SECRET-" + unique_id("m")


@pytest.fixture(scope="module")
def world(site, tmp_path_factory):
    with auth_server(site, tmp_path_factory.mktemp("leaks"), "--publish-token", PUBLISH_TOKEN) as h:
        admin = AuthApi(h.port, PUBLISH_TOKEN)
        bob = AuthApi(h.port, mint("bob", "worker"))
        alice_w = AuthApi(h.port, mint("alice", "worker"))
        mine = [alice_w.create(title=f"alice {i}", lease_s=3600)["id"] for i in range(3)]
        alice_w.act(mine[0], "start")
        theirs = {}
        for status in ["queued", "running", "failed", "succeeded", "cancelled"]:
            t = bob.create(id=unique_id("t"), title=f"{MARK} {status}", meta={"m": MARK}, lease_s=3600)
            tid = t["id"]
            if status != "queued":
                bob.act(tid, "start")
                bob.act(tid, "progress", {"done": 1, "message": MARK})
            if status == "failed":
                bob.act(tid, "fail", {"error": {"code": "x", "message": MARK}})
            elif status == "succeeded":
                bob.act(tid, "complete", {"result": {"m": MARK}})
            elif status == "cancelled":
                bob.act(tid, "cancel")
                bob.act(tid, "cancelled")
            theirs[status] = tid
        yield h, admin, bob, mine, theirs


def no_mark(text) -> None:
    if isinstance(text, dict) and text.get("type") == "error":
        text = {k: v for k, v in text.items() if k != "topic"}   # the topic alice asked for, echoed
    if not isinstance(text, str):
        text = json.dumps(text) if not isinstance(text, bytes) else text.decode()
    assert MARK not in text and "bob" not in text, text[:500]


def same_as_missing(a, missing, bob_id, missing_id):
    """bob's task answers exactly as a missing one would, its id aside."""
    assert a.status == missing.status, (a, missing)
    assert a.body.decode().replace(bob_id, "ID") == missing.body.decode().replace(missing_id, "ID")


@pytest.mark.parametrize("role", ["viewer", "worker"])
def test_http_routes_show_nothing_of_bobs(world, role):
    h, admin, bob, mine, theirs = world
    alice = AuthApi(h.port, mint("alice", role))
    missing_id = unique_id("nope")
    # 1. lists
    for query in ["", "owner=bob", "owner=alice", "status=failed", "status=running,queued,succeeded,cancelled,failed",
                  "limit=1000", "owner=bob&status=failed"]:
        a = alice.get("/api/tasks" + (f"?{query}" if query else ""))
        assert a.status == 200
        no_mark(a.body)
        assert {t["owner"] for t in a.json["tasks"]} <= {"alice"}
    assert {t["id"] for t in alice.task_list()["tasks"]} == set(mine)
    for bob_id in theirs.values():
        seq = admin.task(bob_id)["seq"]
        # 2. get, 3. long-poll
        same_as_missing(alice.get(f"/api/tasks/{bob_id}"), alice.get(f"/api/tasks/{missing_id}"), bob_id, missing_id)
        started = time.monotonic()
        a = alice.get(f"/api/tasks/{bob_id}?wait=5&after=0")
        assert a.status == 404 and time.monotonic() - started < 2
        same_as_missing(a, alice.get(f"/api/tasks/{missing_id}?wait=5&after=0"), bob_id, missing_id)
        # 4., 5. every action
        for action in ["start", "progress", "heartbeat", "complete", "fail", "cancel", "cancelled", "retry", "delete"]:
            a, m = alice.action(bob_id, action), alice.action(missing_id, action)
            same_as_missing(a, m, bob_id, missing_id)
            assert a.status == (404 if role == "worker" or action in ("cancel", "retry", "delete") else 403), (action, a)
            no_mark(a.body)
        assert admin.task(bob_id)["seq"] == seq
    # 11.
    assert alice.get("/metrics").status == 403


def test_topics_show_nothing_of_bobs(world):
    h, admin, bob, mine, theirs = world
    token = mint("alice", "viewer")
    # 6. by query: each forbidden topic gets an error frame, the allowed one its snapshot.
    topics = ["tasks", "owner:bob", f"task:{theirs['running']}", "task:" + unique_id("nope")]
    query = "&".join(f"topic={t}" for t in topics) + f"&topic=owner:alice&token={token}"
    with WS(h.port, query) as ws:
        msgs = ws.until(lambda m: m["type"] == "snapshot")
        msgs += ws.quiet(0.5)
        errors = [m for m in msgs if m["type"] == "error"]
        assert sorted(m["topic"] for m in errors) == sorted(topics) and {m["code"] for m in errors} == {"forbidden"}
        snapshots = [m for m in msgs if m["type"] == "snapshot"]
        assert [s["topic"] for s in snapshots] == ["owner:alice"]
        # 7. snapshot and counts
        snap = snapshots[0]
        assert {t["id"] for t in snap["tasks"]} == set(mine)
        assert sum(snap["counts"].values()) == len(mine) and snap["counts"]["failed"] == 0
        for m in msgs:
            no_mark(m)
        # 6. by op, and the socket stays usable
        for topic in topics:
            ws.send({"op": "subscribe", "topic": topic})
            m = ws.recv_type("error")
            assert m["code"] == "forbidden" and m["topic"] == topic
        own = f"task:{mine[1]}"
        ws.send({"op": "subscribe", "topic": own})
        assert ws.snapshot(own)["tasks"][0]["id"] == mine[1]
        last_seq = snap["seq"]
        # 8. bob works while alice listens; alice works too, so her socket has something to say.
        new_bob = bob.create(title=f"{MARK} new", meta={"m": MARK})["id"]
        bob.act(new_bob, "start")
        bob.act(new_bob, "progress", {"done": 5, "message": MARK})
        bob.act(new_bob, "fail", {"error": {"code": "x", "message": MARK}})
        bob.action(new_bob, "delete")
        alice_w = AuthApi(h.port, mint("alice", "worker"))
        alice_w.act(mine[1], "start")
        live = ws.until(lambda m: m.get("event") == "started" and m["topic"] == own)
        live += ws.quiet(0.5)
        for m in live:
            no_mark(m)
            assert m["type"] in ("task", "removed")
            assert m.get("task", {}).get("owner", "alice") == "alice"
    # 9. resume from before bob's burst: only alice's events come back.
    for topic in ["owner:alice", own]:
        with WS(h.port, f"topic={topic}&since={last_seq}&token={token}") as ws:
            msgs = ws.until(lambda m: m.get("event") == "started")
            assert msgs[0]["type"] == "resumed"
            for m in msgs:
                no_mark(m)


def test_a_reused_task_id_does_not_carry_bobs_events_to_alice(world):
    # 10. alice's task x is deleted; bob creates x; alice, still subscribed to task:x, hears
    # `removed` and then nothing of bob's x — and a resume from before does not replay it.
    h, admin, bob, mine, theirs = world
    alice_w = AuthApi(h.port, mint("alice", "worker"))
    x = unique_id("x")
    alice_w.create(id=x, title="alice's x")
    token = mint("alice", "viewer")
    with WS(h.port, f"topic=task:{x}&token={token}") as ws:
        since = ws.snapshot(f"task:{x}")["seq"]
        alice_w.act(x, "cancel")
        assert alice_w.action(x, "delete").status == 200
        ws.until(lambda m: m["type"] == "removed")
        bob.create(id=x, title=f"{MARK} x", meta={"m": MARK})
        bob.act(x, "start")
        for m in ws.quiet(1.0):
            no_mark(m)
        ws.send({"op": "ping"})
        for m in ws.until(lambda m: m["type"] == "pong"):
            no_mark(m)
    with WS(h.port, f"topic=task:{x}&since={since}&token={token}") as ws:
        msgs = [ws.recv()] + ws.quiet(1.0)
        for m in msgs:
            no_mark(m)
    # Now x is bob's: for alice it is forbidden like any other of bob's tasks.
    with WS(h.port, f"topic=task:{x}&token={token}") as ws:
        assert ws.recv_type("error")["code"] == "forbidden"
