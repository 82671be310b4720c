"""Resume with since=/epoch= (exactly the missed events, once, in order), recovered:false
snapshots when the history cannot reach back or the epoch differs, and the client messages
(subscribe, unsubscribe, ping, errors that keep the connection)."""

from __future__ import annotations

from tasks_support import WS, Api, assert_event, task_serve_args, unique_id


def changes(api: Api, i: str) -> list[tuple[str, dict]]:
    """A mix of events on task `i` and another task; returns (event, answer) in order."""
    out = [("progress", api.act(i, "progress", {"done": 1})),
           ("progress", api.act(i, "progress", {"done": 2, "message": "two"}))]
    other = api.create(title="other", lease_s=3600)
    out.append(("created", other))
    out.append(("started", api.act(other["id"], "start")))
    out.append(("progress", api.act(i, "progress", {"done": 3})))
    out.append(("succeeded", api.act(i, "complete")))
    out.append(("cancelling", api.act(other["id"], "cancel")))
    return out


def test_resume_gets_exactly_the_missed_events_once_in_order(herald):
    h = herald()
    api = Api(h.port)
    i = unique_id("res")
    with WS(h.port, "topic=tasks") as ws:
        s = ws.snapshot("tasks")
        epoch = s["epoch"]
        api.create(id=i, title="resume me", total=3, lease_s=3600)
        started = api.act(i, "start")
        ws.until(lambda m: m["type"] == "task" and m["seq"] == started["seq"])
        n = started["seq"]
    missed = changes(api, i)
    removed = api.call("DELETE", f"/api/tasks/{i}")
    assert removed.status == 200, removed
    with WS(h.port, f"topic=tasks&since={n}&epoch={epoch}") as ws:
        r = ws.recv(5)
        assert r == {"type": "resumed", "topic": "tasks", "epoch": epoch, "since": n}, r
        for event, answer in missed:
            assert_event(ws.recv(5), event, answer, "tasks")
        m = ws.recv(5)
        assert m == {"type": "removed", "topic": "tasks", "seq": removed.json["seq"], "id": i}, m
        assert ws.ping() == [], "more than the missed events arrived"
        # then live events follow
        live = api.create(title="live after resume")
        assert_event(ws.recv(5), "created", live, "tasks")


def test_resume_without_epoch_assumes_the_current_one_and_task_topic(herald):
    h = herald()
    api = Api(h.port)
    i = unique_id("res")
    t = api.create(id=i, title="x", lease_s=3600)
    n = t["seq"]
    other = api.create(title="not on this topic")
    s = api.act(i, "start")
    api.act(other["id"], "start")
    p = api.act(i, "progress", {"done": 5})
    with WS(h.port, f"topic=task:{i}&since={n}") as ws:
        r = ws.recv(5)
        assert r["type"] == "resumed" and r["topic"] == f"task:{i}" and r["since"] == n, r
        assert_event(ws.recv(5), "started", s, f"task:{i}")
        assert_event(ws.recv(5), "progress", p, f"task:{i}")
        assert ws.ping() == []


def test_resume_by_client_message(herald):
    h = herald()
    api = Api(h.port)
    i = unique_id("msg")
    with WS(h.port, f"topic=task:{i}") as ws:
        s = ws.snapshot(f"task:{i}")
        epoch = s["epoch"]
        c = api.create(id=i, title="by message", lease_s=3600)
        assert_event(ws.recv(5), "created", c, f"task:{i}")
    st = api.act(i, "start")
    with WS(h.port, "topic=task:unrelated") as ws:
        ws.snapshot("task:unrelated")
        ws.send({"op": "subscribe", "topic": "tasks", "since": c["seq"], "epoch": epoch})
        r = ws.recv(5)
        assert r == {"type": "resumed", "topic": "tasks", "epoch": epoch, "since": c["seq"]}, r
        assert_event(ws.recv(5), "started", st, "tasks")
        assert ws.ping() == []


def test_history_too_short_gives_a_recovered_false_snapshot(herald):
    h = herald(raw_args=task_serve_args(herald_public(), ":memory:", "--history", "5"))
    api = Api(h.port)
    i = unique_id("hist")
    t = api.create(id=i, title="short history", total=100, lease_s=3600)
    api.act(i, "start")
    with WS(h.port, "topic=tasks") as ws:
        epoch = ws.snapshot()["epoch"]
    n = api.seq()
    # Within the history (2 events < 5): a real resume.
    a1 = api.act(i, "progress", {"done": 1})
    a2 = api.act(i, "progress", {"done": 2})
    with WS(h.port, f"topic=tasks&since={n}&epoch={epoch}") as ws:
        assert ws.recv(5)["type"] == "resumed"
        assert_event(ws.recv(5), "progress", a1, "tasks")
        assert_event(ws.recv(5), "progress", a2, "tasks")
        assert ws.ping() == []
    # Now 10 more events: seq n is out of the 5-event history.
    last = None
    for d in range(3, 13):
        last = api.act(i, "progress", {"done": d})
    with WS(h.port, f"topic=tasks&since={n}&epoch={epoch}") as ws:
        s = ws.recv(5)
        assert s["type"] == "snapshot" and s["recovered"] is False, s
        assert s["epoch"] == epoch and s["seq"] >= last["seq"]
        assert [x for x in s["tasks"] if x["id"] == i] == [last], "the snapshot does not hold the current state"
        assert ws.ping() == []
        nxt = api.act(i, "progress", {"done": 13})
        assert_event(ws.recv(5), "progress", nxt, "tasks")
    # The same through a client message.
    with WS(h.port, "topic=task:zzz") as ws:
        ws.snapshot()
        ws.send({"op": "subscribe", "topic": f"task:{i}", "since": n, "epoch": epoch})
        s = ws.recv(5)
        assert s["type"] == "snapshot" and s["topic"] == f"task:{i}" and s["recovered"] is False, s
    assert t["id"] == i


def test_other_epoch_gives_a_recovered_false_snapshot(herald):
    h = herald()
    api = Api(h.port)
    t = api.create(title="epoch", lease_s=3600)
    n = t["seq"]
    a = api.act(t["id"], "start")
    with WS(h.port, f"topic=tasks&since={n}&epoch=not-the-epoch-{n}") as ws:
        s = ws.recv(5)
        assert s["type"] == "snapshot" and s["recovered"] is False, s
        assert s["epoch"] != f"not-the-epoch-{n}"
        assert a in s["tasks"]
        assert ws.ping() == [], "events followed a recovered:false snapshot"


def test_since_zero_on_a_fresh_server_replays_everything(herald):
    h = herald()
    api = Api(h.port)
    a = api.create(title="first", lease_s=3600)
    b = api.act(a["id"], "start")
    with WS(h.port, "topic=tasks") as ws:
        epoch = ws.snapshot()["epoch"]
    with WS(h.port, f"topic=tasks&since=0&epoch={epoch}") as ws:
        m = ws.recv(5)
        if m["type"] == "resumed":
            assert_event(ws.recv(5), "created", a, "tasks")
            assert_event(ws.recv(5), "started", b, "tasks")
        else:
            assert m["type"] == "snapshot" and m["recovered"] is False, m
        assert ws.ping() == []


def test_subscribe_unsubscribe_ping_by_messages(herald):
    h = herald()
    api = Api(h.port)
    watch = api.create(title="watched", lease_s=3600)
    with WS(h.port, f"topic=task:{watch['id']}") as ws:
        ws.snapshot(f"task:{watch['id']}")
        ws.send({"op": "ping"})
        assert ws.recv(5) == {"type": "pong"}
        ws.send({"op": "subscribe", "topic": "tasks"})
        s = ws.snapshot("tasks")
        assert watch in s["tasks"]
        x = api.create(title="seen on tasks")
        assert_event(ws.recv(5), "created", x, "tasks")
        # subscribing again re-sends a snapshot
        ws.send({"op": "subscribe", "topic": "tasks"})
        s2 = ws.snapshot("tasks")
        assert x in s2["tasks"]
        ws.send({"op": "unsubscribe", "topic": "tasks"})
        assert ws.recv(5) == {"type": "unsubscribed", "topic": "tasks"}
        api.create(title="not seen any more")
        st = api.act(watch["id"], "start")
        # the watched task's event arrives (later seq), and nothing of `tasks` before it
        m = ws.recv(5)
        assert_event(m, "started", st, f"task:{watch['id']}")
        assert ws.ping() == []


def test_invalid_topics_and_messages_keep_the_connection(herald):
    h = herald()
    api = Api(h.port)
    with WS(h.port, "topic=bogus") as ws:
        e = ws.recv(5)
        assert e["type"] == "error" and e["code"] == "invalid_topic" and e["message"], e
        assert ws.ping() == []
        for topic in ("task:..", "task:", "task:a b", "task:" + "x" * 129, "owner:", "owner:a:b", ""):
            ws.send({"op": "subscribe", "topic": topic})
            e = ws.recv(5)
            assert e["type"] == "error" and e["code"] == "invalid_topic", (topic, e)
        for bad in ("not json", "[1,2]", '{"op":"dance"}', '{"nop":1}', "{"):
            ws.send(bad)
            e = ws.recv(5)
            assert e["type"] == "error" and e["code"] == "invalid_message", (bad, e)
        assert ws.ping() == []
        # and it still works as a subscriber
        ws.send({"op": "subscribe", "topic": "tasks"})
        ws.snapshot("tasks")
        t = api.create(title="after errors")
        assert_event(ws.recv(5), "created", t, "tasks")


def herald_public():
    from conftest import ROOT
    return ROOT / "public"
