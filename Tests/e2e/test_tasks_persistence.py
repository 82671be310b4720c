"""Persistence in --data DIR: every acknowledged lifecycle change survives kill -9, seq goes on
after a restart and is never reused within an epoch, and a clean stop (SIGTERM) keeps the
epoch."""

from __future__ import annotations

import signal
import time

import pytest

from conftest import ROOT
from tasks_support import WS, Api, assert_event, own_server, task_serve_args, unique_id

PUBLIC = ROOT / "public"
VOLATILE = ("rate", "eta_s")


def comparable(t: dict) -> dict:
    return {k: v for k, v in t.items() if k not in VOLATILE and k != "cancel_requested"}


def epoch_of(port: int) -> tuple[str, int]:
    with WS(port, "topic=task:epoch-probe") as ws:
        s = ws.snapshot()
        return s["epoch"], s["seq"]


@pytest.mark.timeout(120)
def test_kill_9_keeps_every_acknowledged_lifecycle_change(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    args = task_serve_args(PUBLIC, data)
    last: dict[str, dict] = {}
    acked: list[tuple[str, dict]] = []     # every (event, answer) in order

    with own_server(args, "herald before kill -9") as h:
        api = Api(h.port)

        def do(event, answer):
            acked.append((event, answer))
            last[answer["id"]] = answer
            return answer

        ids = {k: unique_id(k) for k in "abcdefgh"}
        do("created", api.create(id=ids["a"], title="queued", owner="p1", meta={"n": 1}, lease_s=3600))
        do("created", api.create(id=ids["b"], title="running", total=10, lease_s=3600))
        do("started", api.act(ids["b"], "start"))
        do("progress", api.act(ids["b"], "progress", {"done": 5, "message": "half"}))
        time.sleep(0.5)    # progress may be batched (≤ 250 ms); this one is durable now
        for k, steps in (("c", [("started", "start"), ("succeeded", "complete")]),
                         ("d", [("started", "start"), ("failed", "fail")]),
                         ("e", [("cancelled", "cancel")]),
                         ("f", [("started", "start"), ("succeeded", "complete")]),
                         ("g", [("started", "start"), ("failed", "fail"), ("retried", "retry")])):
            do("created", api.create(id=ids[k], title=f"task {k}", lease_s=3600))
            for event, action in steps:
                do(event, api.act(ids[k], action))
        epoch1, _ = epoch_of(h.port)
        n_before = api.seq()
        # the last changes, right before the kill
        do("created", api.create(id=ids["h"], title="lease after restart", lease_s=1, expire_s=600))
        do("started", api.act(ids["h"], "start"))
        d = api.call("DELETE", f"/api/tasks/{ids['f']}")
        assert d.status == 200, d
        acked.append(("removed", {"id": ids["f"], "seq": d.json["seq"]}))
        del last[ids["f"]]
        do("cancelling", api.act(ids["b"], "cancel"))
        max_seq = max(a["seq"] for _, a in acked)
        h.proc.kill()          # SIGKILL right after the last 2xx
        h.proc.wait(5)

    with own_server(args, "herald after kill -9") as h2:
        api = Api(h2.port)
        listed = {t["id"]: t for t in api.task_list("limit=10000")["tasks"]}
        assert ids["f"] not in listed, "a deleted task came back"
        for i, answer in last.items():
            assert i in listed, f"acknowledged task {i} lost after kill -9"
            got = listed[i]
            if i == ids["h"]:
                assert got["status"] == "running" and got["attempt"] == 1
                continue
            assert comparable(got) == comparable(answer), f"{i} differs after kill -9"
        assert set(listed) == set(last), f"unexpected tasks: {set(listed) - set(last)}"
        epoch2, seq2 = epoch_of(h2.port)
        assert seq2 >= max_seq, f"seq went back after restart: {seq2} < {max_seq}"
        # the running task kept its lease: nobody reports, so it goes stale
        with WS(h2.port, f"topic=task:{ids['h']}") as ws:
            s = ws.snapshot()
            if not s["tasks"][0]["stale"]:
                m = ws.until(lambda m: m["type"] == "task", 5)[-1]
                assert m["event"] == "stale" and m["task"]["stale"] is True, m
        # resume across the crash: the exact events, or a recovered:false snapshot
        with WS(h2.port, f"topic=tasks&since={n_before}&epoch={epoch1}") as ws:
            first = ws.recv(5)
            if epoch2 == epoch1:
                assert first["type"] == "resumed", first
                tail = [(e, a) for e, a in acked if a["seq"] > n_before]
                for event, answer in tail:
                    m = ws.recv(5)
                    if event == "removed":
                        assert m == {"type": "removed", "topic": "tasks", "seq": answer["seq"], "id": answer["id"]}
                    else:
                        assert m["type"] == "task" and m["event"] == event and m["seq"] == answer["seq"], m
                        assert comparable(m["task"]) == comparable(answer)
            else:
                assert first["type"] == "snapshot" and first["recovered"] is False, first
                assert first["epoch"] == epoch2
        new = api.create(title="after the crash")
        assert new["seq"] > max_seq, f"seq reused after kill -9: {new['seq']} <= {max_seq}"
        assert h2.stop() == 0


@pytest.mark.timeout(120)
def test_kill_9_during_a_progress_burst_never_reuses_a_seq(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    args = task_serve_args(PUBLIC, data)
    with own_server(args, "herald, burst") as h:
        api = Api(h.port)
        t = api.create(title="burst", total=1000, lease_s=3600)
        s = api.act(t["id"], "start")
        epoch1, _ = epoch_of(h.port)
        acked = {}
        for d in range(1, 201):
            a = api.act(t["id"], "progress", {"done": d})
            acked[a["seq"]] = a
        h.proc.kill()
        h.proc.wait(5)
    with own_server(args, "herald after burst") as h2:
        api = Api(h2.port)
        got = api.task(t["id"])
        assert got["status"] == "running", "a lifecycle change was lost"
        assert got["done"] in {a["done"] for a in acked.values()}, got
        epoch2, _ = epoch_of(h2.port)
        with WS(h2.port, f"topic=task:{t['id']}&since={s['seq']}&epoch={epoch1}") as ws:
            first = ws.recv(5)
            if first["type"] == "resumed":
                assert epoch2 == epoch1
                # every event the server still has must be exactly what was acknowledged
                seen = ws.quiet(1.0)
                for m in seen:
                    assert m["type"] == "task" and m["seq"] in acked, m
                    assert comparable(m["task"]) == comparable(acked[m["seq"]]), m
                seqs = [m["seq"] for m in seen]
                assert seqs == sorted(acked)[:len(seqs)], "resume skipped or reordered events"
            else:
                assert first["type"] == "snapshot" and first["recovered"] is False, first
        nxt = api.act(t["id"], "progress", {"done": 500})
        if epoch2 == epoch1:
            assert nxt["seq"] > max(acked), "a seq was reused within one epoch after kill -9"
        assert h2.stop() == 0


@pytest.mark.timeout(120)
def test_sigterm_restart_keeps_the_epoch_and_everything(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    args = task_serve_args(PUBLIC, data)
    with own_server(args, "herald before SIGTERM") as h:
        api = Api(h.port)
        t = api.create(title="clean stop", total=10, lease_s=3600, meta={"x": "y"})
        s = api.act(t["id"], "start")
        epoch1, _ = epoch_of(h.port)
        p = api.act(t["id"], "progress", {"done": 7, "message": "seven"})    # no pause: the drain persists it
        with WS(h.port, "topic=tasks") as ws:
            ws.snapshot()
            rc = h.stop(signal.SIGTERM)
            assert rc == 0, f"exit status {rc} on SIGTERM"
    with own_server(args, "herald after SIGTERM") as h2:
        api = Api(h2.port)
        got = api.task(t["id"])
        assert comparable(got) == comparable(p), "state lost over a clean restart"
        epoch2, seq2 = epoch_of(h2.port)
        assert epoch2 == epoch1, "a clean stop changed the epoch"
        assert seq2 >= p["seq"]
        with WS(h2.port, f"topic=task:{t['id']}&since={s['seq']}&epoch={epoch1}") as ws:
            first = ws.recv(5)
            if first["type"] == "resumed":
                assert_event(ws.recv(5), "progress", p, f"task:{t['id']}")
            else:
                assert first["type"] == "snapshot" and first["recovered"] is False, first
            assert ws.ping() == []
        c = api.act(t["id"], "complete")
        assert c["seq"] > p["seq"]
        assert h2.stop() == 0
