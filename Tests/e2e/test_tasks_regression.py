"""A terminal task never changes again (a late progress report is 409), and `done` never
decreases within an attempt (409 done_decreased), even with reports from several threads."""

from __future__ import annotations

import random
import threading

from tasks_support import WS, Api, api, assert_event, tasks_server  # noqa: F401
from tasks_support import assert_json_error_answer


def test_progress_after_succeeded_is_refused_and_nobody_sees_a_regression(tasks_server, api: Api):
    t = api.move_to("running", total=10)
    i = t["id"]
    with WS(tasks_server.port, f"topic=task:{i}") as ws, WS(tasks_server.port, "topic=tasks") as all_ws:
        ws.snapshot()
        all_ws.snapshot()
        p = api.act(i, "progress", {"done": 9})
        c = api.act(i, "complete", {"message": "finished"})
        for body in ({"done": 5}, {"done": 10}, {"done": 3, "message": "late"}, {"percent": 50}, {}):
            a = api.action(i, "progress", body)
            assert_json_error_answer(a, 409, "invalid_transition")
        assert_json_error_answer(api.action(i, "heartbeat"), 409, "invalid_transition")
        assert_json_error_answer(api.action(i, "fail"), 409, "invalid_transition")
        assert api.task(i) == c
        for w, topic in ((ws, f"task:{i}"), (all_ws, "tasks")):
            msgs = w.until(lambda m: m["type"] == "task" and m["seq"] == c["seq"], 5)
            got = [m for m in msgs if m["type"] == "task" and m["task"]["id"] == i]
            assert len(got) == 2, got
            assert_event(got[0], "progress", p, topic)
            assert_event(got[1], "succeeded", c, topic)
            rest = [m for m in w.ping() if m["type"] == "task" and m["task"]["id"] == i]
            assert rest == [], f"events after succeeded: {rest}"


def test_done_decreased_is_409_and_changes_nothing(tasks_server, api: Api):
    t = api.move_to("running", total=100)
    i = t["id"]
    p = api.act(i, "progress", {"done": 50, "message": "half"})
    a = api.action(i, "progress", {"done": 40, "message": "older report"})
    assert_json_error_answer(a, 409, "done_decreased")
    assert api.task(i) == p
    # equal done is not a decrease; a message-only report keeps done
    same = api.act(i, "progress", {"done": 50, "message": "same"})
    assert same["done"] == 50 and same["message"] == "same"
    msg = api.act(i, "progress", {"message": "only a note"})
    assert msg["done"] == 50 and msg["message"] == "only a note"


def test_reports_from_several_threads_never_move_done_backwards(tasks_server, api: Api):
    t = api.move_to("running", total=400)
    i = t["id"]
    answers: list[tuple[int, int, int]] = []   # (done sent, status, seq or -1)
    lock = threading.Lock()
    values = list(range(1, 401))
    random.Random(5).shuffle(values)
    chunks = [values[k::4] for k in range(4)]

    def worker(vals):
        local = []
        for v in vals:
            a = api.action(i, "progress", {"done": v})
            if a.status == 200:
                local.append((v, 200, a.json["seq"]))
            else:
                assert a.status == 409 and a.json["error"]["code"] == "done_decreased", a
                local.append((v, 409, -1))
        with lock:
            answers.extend(local)

    with WS(tasks_server.port, f"topic=task:{i}") as ws:
        ws.snapshot()
        threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        assert len(answers) == 400
        accepted = sorted((seq, v) for v, st, seq in answers if st == 200)
        assert accepted, "no report was accepted"
        # in seq order the accepted `done` values never decrease
        dones = [v for _, v in accepted]
        assert dones == sorted(dones), "accepted reports move done backwards"
        final = api.task(i)
        assert final["done"] == max(dones) and final["seq"] == accepted[-1][0]
        # the subscriber sees non-decreasing done, ending at the final state
        seen = ws.until(lambda m: m["type"] == "task" and m["seq"] == final["seq"], 10)
        seen_done = [m["task"]["done"] for m in seen if m["type"] == "task"]
        assert seen_done == sorted(seen_done), seen_done
        assert seen[-1]["task"] == final


def test_pipelined_progress_reaches_a_healthy_subscriber_without_gaps(tasks_server, api: Api):
    """50 progress reports pipelined on one connection reach the actor together; a subscriber
    that keeps up must still get every one of them, seq consecutive (conflation is only for
    subscribers that fall behind)."""
    import socket
    t = api.move_to("running", total=1000)
    i = t["id"]
    with WS(tasks_server.port, f"topic=task:{i}") as ws:
        ws.snapshot()
        reqs = b"".join(
            (f"POST /api/tasks/{i}/progress HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            for body in (b'{"done":%d}' % n for n in range(1, 51)))
        s = socket.create_connection(("127.0.0.1", tasks_server.port), timeout=10)
        s.sendall(reqs)
        data = b""
        while data.count(b"HTTP/1.1 200") < 50:
            chunk = s.recv(1 << 16)
            assert chunk, "connection closed early"
            data += chunk
        s.close()
        msgs = ws.until(lambda m: m["type"] == "task" and m["task"]["done"] == 50, 10)
        got = [m for m in msgs if m["type"] == "task" and m["event"] == "progress"]
        assert [m["task"]["done"] for m in got] == list(range(1, 51))
        seqs = [m["seq"] for m in got]
        assert seqs == list(range(seqs[0], seqs[0] + 50)), seqs
