"""A subscriber that does not read while 20,000 progress events are posted: the server's memory
stays bounded, a normal subscriber next to it is not held up, and the slow one still gets every
lifecycle event (or is closed with 1008 and gets them by resuming with since=)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from conftest import ROOT
from support import Closed, RawHTTP, request
from tasks_support import WS, Api, own_server, raw_subscribe, task_serve_args, unique_id, vm_rss_kib
from tasks_support import tasks_server  # noqa: F401

N_TASKS = 4
PER_TASK = 5000           # 4 × 5,000 = 20,000 progress events
RSS_LIMIT_KIB = 200 * 1024


def post_progress_pipelined(port: int, task_id: str, n: int, errors: list):
    """n progress reports on one keep-alive connection, pipelined: a writer sends batches, the
    caller's thread reads the answers in order."""
    conn = RawHTTP(port, timeout=120)
    path = f"/api/tasks/{task_id}/progress"

    def writer():
        try:
            batch = []
            for k in range(1, n + 1):
                body = json.dumps({"done": k, "message": f"unit {k}"}).encode()
                batch.append(request("POST", path, [("Content-Type", "application/json")], body))
                if len(batch) == 200:
                    conn.send(b"".join(batch))
                    batch = []
            if batch:
                conn.send(b"".join(batch))
        except OSError as e:
            errors.append(f"writer: {e}")

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    ok = 0
    last_seq = 0
    try:
        for _ in range(n):
            r = conn.read_response(timeout=120)
            if r.status != 200:
                errors.append(f"progress answered {r.status} {r.body[:200]!r}")
                break
            seq = json.loads(r.body)["seq"]
            if seq <= last_seq:
                errors.append(f"seq not increasing on one connection: {seq} after {last_seq}")
            last_seq = seq
            ok += 1
    finally:
        w.join(5)
        conn.close()
    return ok


@pytest.mark.timeout(300)
def test_non_reading_subscriber_bounded_memory_and_every_lifecycle_event():
    args = task_serve_args(ROOT / "public", ":memory:", "--history", "100000")
    with own_server(args, "herald, slow subscriber") as h:
        api = Api(h.port)
        pid = h.proc.pid

        slow = raw_subscribe(h.port, "topic=tasks", rcvbuf=4096)
        op, data = slow.recv_message(5)
        snap = json.loads(data)
        assert snap["type"] == "snapshot", snap
        epoch = snap["epoch"]

        # A normal subscriber that reads all the time, in its own thread.
        normal = WS(h.port, "topic=tasks")
        normal.snapshot()
        normal_msgs: list[tuple[float, dict]] = []
        stop_normal = threading.Event()

        def consume():
            while not stop_normal.is_set():
                try:
                    m = normal.recv(0.5)
                except TimeoutError:
                    continue
                except Exception:
                    return
                normal_msgs.append((time.monotonic(), m))

        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()

        rss = {"base": vm_rss_kib(pid), "max": 0}
        sampling = threading.Event()

        def sample():
            while not sampling.is_set():
                try:
                    rss["max"] = max(rss["max"], vm_rss_kib(pid))
                except (OSError, AssertionError):
                    return
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        lifecycle: dict[str, list[tuple[str, int]]] = {}
        ids = []
        for k in range(N_TASKS):
            i = unique_id(f"flood{k}")
            ids.append(i)
            c = api.create(id=i, title=f"flood {k}", total=PER_TASK, lease_s=3600)
            s = api.act(i, "start")
            lifecycle[i] = [("created", c["seq"]), ("started", s["seq"])]

        errors: list[str] = []
        counts = [0] * N_TASKS
        t0 = time.monotonic()
        posters = [threading.Thread(target=lambda k=k: counts.__setitem__(
            k, post_progress_pipelined(h.port, ids[k], PER_TASK, errors))) for k in range(N_TASKS)]
        for p in posters:
            p.start()
        for p in posters:
            p.join(240)
        flood_s = time.monotonic() - t0
        assert not errors, errors[:5]
        assert counts == [PER_TASK] * N_TASKS, counts

        completed_at = {}
        for i in ids:
            c = api.act(i, "complete", {"message": "flood over"})
            completed_at[i] = time.monotonic()
            lifecycle[i].append(("succeeded", c["seq"]))
        max_seq = max(s for v in lifecycle.values() for _, s in v)

        # the normal subscriber sees every completion promptly, and in full
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got = {m["task"]["id"] for _, m in normal_msgs if m["type"] == "task" and m["event"] == "succeeded"}
            if got >= set(ids):
                break
            time.sleep(0.05)
        stop_normal.set()
        consumer.join(5)
        normal.close()
        for i in ids:
            at = [t for t, m in normal_msgs if m["type"] == "task" and m["event"] == "succeeded"
                  and m["task"]["id"] == i]
            assert at, f"the reading subscriber never got {i} succeeded"
            assert at[0] - completed_at[i] < 2.0, f"the reading subscriber got succeeded {at[0] - completed_at[i]:.2f}s late"
        normal_events = [m for _, m in normal_msgs if m["type"] == "task"]
        assert_lifecycle(normal_events, lifecycle, "the reading subscriber")

        time.sleep(0.5)
        sampling.set()
        sampler.join(2)
        rss["end"] = vm_rss_kib(pid)
        print(f"flood of {N_TASKS * PER_TASK} progress posts in {flood_s:.1f}s; RSS KiB {rss}")
        assert rss["max"] < RSS_LIMIT_KIB, f"server RSS reached {rss['max']} KiB with a non-reading subscriber"

        # now the slow subscriber reads everything it was sent
        events, close_code, reason = read_all(slow)
        slow.close()
        if close_code is not None:
            assert close_code == 1008, f"slow subscriber closed with {close_code} {reason!r}"
            assert reason, "a 1008 close must carry a reason"
            last_seen = max([m["seq"] for m in events] or [snap["seq"]])
            with WS(h.port, f"topic=tasks&since={last_seen}&epoch={epoch}") as ws:
                first = ws.recv(5)
                assert first == {"type": "resumed", "topic": "tasks", "epoch": epoch, "since": last_seen}, first
                msgs = ws.until(lambda m: m["type"] == "task" and m["seq"] == max_seq, 30)
                events += [m for m in msgs if m["type"] == "task"]
        else:
            assert events and events[-1]["seq"] == max_seq, "the slow subscriber did not get everything"
        assert_lifecycle(events, lifecycle, "the slow subscriber")
        conflated = sum(1 for m in events if m["event"] == "progress")
        print(f"slow subscriber: {len(events)} events, {conflated} progress of {N_TASKS * PER_TASK}, "
              f"closed with {close_code}")
        assert h.stop() == 0


def read_all(ws, quiet_s: float = 3.0):
    """Reads until quiet or closed: (task events, close code or None, close reason)."""
    events = []
    while True:
        try:
            f = ws.recv_frame(timeout=quiet_s)
        except (TimeoutError, Closed):
            return events, None, ""
        if f.opcode == 0x8:
            return events, f.close_code, f.payload[2:].decode(errors="replace")
        if f.opcode in (0x9, 0xA):
            continue
        assert f.opcode == 0x1 and f.fin, f"not one JSON text frame: opcode {f.opcode} fin {f.fin}"
        m = json.loads(f.payload)
        if m["type"] == "task":
            events.append(m)


def assert_lifecycle(events: list[dict], lifecycle: dict, who: str):
    seqs = [m["seq"] for m in events]
    assert seqs == sorted(set(seqs)), f"{who}: events out of order or repeated"
    for i, expected in lifecycle.items():
        mine = [m for m in events if m["task"]["id"] == i]
        got = [(m["event"], m["seq"]) for m in mine if m["event"] != "progress"]
        assert got == expected, f"{who}: lifecycle events of {i}: {got} != {expected}"
        dones = [m["task"]["done"] for m in mine]
        assert dones == sorted(dones), f"{who}: done went backwards for {i}"
        assert mine[-1]["task"]["status"] == "succeeded" and mine[-1]["task"]["done"] == PER_TASK


def test_subscriber_past_the_hard_cap_is_closed_with_1008_and_resumes_exactly(tasks_server):
    """Lifecycle events are never conflated, so a subscriber that does not read while thousands
    of tasks are created falls past the 4 MiB cap: it is closed with 1008 and a reason naming
    since=, and resuming from the last seq it did read gives every missed event once."""
    port = tasks_server.port
    slow = raw_subscribe(port, "topic=tasks", rcvbuf=4096)
    prefix = unique_id("cap")
    n = 12_000  # ~12,000 created events of ~700 bytes: well past 4 MiB
    conn = RawHTTP(port, timeout=120)
    for start in range(0, n, 500):
        reqs = []
        for i in range(start, start + 500):
            body = json.dumps({"id": f"{prefix}-{i}", "title": "cap " + "x" * 190, "meta": {"pad": "y" * 300}}).encode()
            reqs.append(request("POST", "/api/tasks", [("Content-Type", "application/json")], body))
        conn.send(b"".join(reqs))
        for _ in reqs:
            assert conn.read_response("POST").status == 201
    # Now read what the slow subscriber got: frames, then a 1008 close.
    seqs, ids, close = [], set(), None
    while close is None:
        f = slow.recv_frame(timeout=30)
        if f.opcode == 1:
            m = json.loads(f.payload)
            if m["type"] in ("task", "removed"):
                seqs.append(m["seq"])
                ids.add(m["task"]["id"])
            elif m["type"] == "snapshot":
                epoch = m["epoch"]
        elif f.opcode == 8:
            close = f
    code = int.from_bytes(close.payload[:2], "big")
    reason = close.payload[2:].decode()
    assert code == 1008, (code, reason)
    assert "since=" in reason
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "gap or reorder before the cut-off"
    last = seqs[-1]
    # Resume from the last seq read: exactly the rest, once, in order.
    with WS(port, f"topic=tasks&since={last}&epoch={epoch}", timeout=30) as ws:
        first = ws.recv(timeout=10)
        assert first["type"] == "resumed", first
        msgs = ws.until(lambda m: m.get("type") == "task" and m["task"]["id"] == f"{prefix}-{n - 1}", 30)
        got = [m["seq"] for m in msgs if m.get("type") == "task"]
        assert got == list(range(last + 1, last + 1 + len(got)))
        ids |= {m["task"]["id"] for m in msgs if m.get("type") == "task"}
        assert {f"{prefix}-{i}" for i in range(n)} <= ids, "a created event was lost across the cut-off"
