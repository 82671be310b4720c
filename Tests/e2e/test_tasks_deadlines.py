"""Deadlines (contract v2): `stall_s` fails a task whose worker heartbeats but never progresses,
`timeout_s` one that runs too long, each once, as one `failed` event every subscriber sees; a
deadline that passed while the server was down fires right after it starts; under
`serve --workers 2` the broker fires them, once; server defaults; bad input → 400."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import ROOT, herald_bin
from proc_support import children, role
from tasks_support import (WS, Api, api, assert_json_error_answer, assert_task_shape, own_server,  # noqa: F401
                           task_events, task_serve_args, tasks_server, unique_id)

PUBLIC = ROOT / "public"
MAX_DEADLINE = 2_592_000          # 30 days
PROCESS_RE = re.compile(r'herald_process_info\{process="([^"]+)"')
SUBSCRIBERS_RE = re.compile(r"^herald_subscribers (\d+)$", re.M)


class HeartbeatingWorker(threading.Thread):
    """A worker whose network call hangs while its heartbeat thread lives on: it starts the task,
    then only heartbeats, every `interval` s, until the server refuses one (the task ended)."""

    def __init__(self, api: Api, task_id: str, interval: float = 0.3):
        super().__init__(daemon=True)
        self.api, self.task_id, self.interval = api, task_id, interval
        self.started_at: float | None = None
        self.refused: dict | None = None
        self.beats = 0
        self.stop = threading.Event()

    def run(self):
        self.api.act(self.task_id, "start")
        self.started_at = time.monotonic()
        while not self.stop.wait(self.interval):
            a = self.api.action(self.task_id, "heartbeat")
            if a.status != 200:
                self.refused = {"status": a.status, "body": a.json}
                return
            self.beats += 1


def failed_events(ws: WS, task_id: str, seconds: float, arrivals: list[float] | None = None) -> list[dict]:
    """The `failed` events of `task_id`: waits up to `seconds` for the first (its arrival time,
    monotonic, goes to `arrivals`), then 1 s more for any second one."""
    msgs = ws.until(lambda m: m["type"] == "task" and m["event"] == "failed" and m["task"]["id"] == task_id, seconds)
    if arrivals is not None:
        arrivals.append(time.monotonic())
    msgs += ws.quiet(1.0)   # anything after it: there must be no second failure
    return [m for m in task_events(msgs, task_id) if m["event"] == "failed"]


# --------------------------------------------------------------------------- stall_s

def test_a_worker_that_heartbeats_but_never_progresses_fails_stalled_once_for_every_subscriber(tasks_server, api: Api):
    t = api.create(title="download with a hung network call", stall_s=1.5, lease_s=30)
    assert t["stall_s"] == 1.5 and t["timeout_s"] is None and t["progress_at"] is None
    assert_task_shape(t)
    i = t["id"]
    with WS(tasks_server.port, f"topic=task:{i}") as one, WS(tasks_server.port, "topic=tasks") as two:
        one.snapshot()
        two.snapshot()
        worker = HeartbeatingWorker(api, i)
        worker.start()
        arrivals: list[float] = []
        seen = [failed_events(ws, i, 6, arrivals) for ws in (one, two)]
        elapsed = arrivals[0] - worker.started_at
        worker.join(5)
        for failed in seen:
            assert len(failed) == 1, failed
            task = failed[0]["task"]
            assert task["status"] == "failed" and task["error"]["code"] == "stalled", task
            assert "1.5" in task["error"]["message"]
            assert task["progress_at"] is None and task["heartbeat_at"] is not None
        assert seen[0][0]["seq"] == seen[1][0]["seq"] and seen[0][0]["task"] == seen[1][0]["task"]
        assert 1.4 <= elapsed <= 3.0, f"stalled after {elapsed:.2f}s for stall_s 1.5"
        assert worker.beats >= 3, "the worker did not heartbeat through the stall"
        # The worker learns it on its next heartbeat: refused, the task is over.
        assert worker.refused is not None and worker.refused["status"] == 409, worker.refused
        final = api.task(i)
        assert final == seen[0][0]["task"]


def test_progress_holds_off_a_stall_and_heartbeats_leave_progress_at_alone(tasks_server, api: Api):
    t = api.create(title="a worker that moves", stall_s=1, total=100, lease_s=30)
    i = t["id"]
    s = api.act(i, "start")
    with WS(tasks_server.port, f"topic=task:{i}") as ws:
        ws.snapshot()
        end = time.monotonic() + 2.5
        done = 0
        while time.monotonic() < end:
            time.sleep(0.3)
            done += 1
            p = api.act(i, "progress", {"done": done})
            assert p["progress_at"] is not None and p["progress_at"] >= s["started_at"]
        h = api.act(i, "heartbeat")
        assert h["progress_at"] == p["progress_at"], "a heartbeat moved progress_at"
        assert not [m for m in ws.log if m.get("event") == "failed"]
        assert api.task(i)["status"] == "running"
        # Then it stops moving (the same report again is no change) and stalls a second later.
        api.act(i, "progress", {"done": done})
        failed = failed_events(ws, i, 4)
        assert len(failed) == 1 and failed[0]["task"]["error"]["code"] == "stalled", failed


# --------------------------------------------------------------------------- timeout_s across a restart

@pytest.mark.timeout(120)
def test_a_timeout_that_passed_while_the_server_was_down_fires_right_after_it_starts(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    args = task_serve_args(PUBLIC, data)
    i = unique_id("restart")
    with own_server(args, "herald before SIGTERM") as h:
        api = Api(h.port)
        t = api.create(id=i, title="runs past its timeout while the server is down", timeout_s=2, lease_s=3600)
        assert t["timeout_s"] == 2
        s = api.act(i, "start")
        with WS(h.port, "topic=tasks") as ws:
            epoch = ws.snapshot()["epoch"]
        assert h.stop() == 0, h.log_tail()
    time.sleep(3)
    with own_server(args, "herald after the restart") as h2:
        up = time.monotonic()
        with WS(h2.port, f"topic=task:{i}&since={s['seq']}&epoch={epoch}") as ws:
            first = ws.recv(5)
            assert first["type"] == "resumed" and first["since"] == s["seq"], first
            arrivals: list[float] = []
            failed = failed_events(ws, i, 5, arrivals)
            after = arrivals[0] - up
        assert len(failed) == 1, failed
        task = failed[0]["task"]
        assert task["error"]["code"] == "timeout" and task["timeout_s"] == 2, task
        assert failed[0]["seq"] == s["seq"] + 1, "the failure is the next event after the start"
        assert after < 2.0, f"the overdue timeout fired {after:.2f}s after the restart"
        assert Api(h2.port).task(i) == task


# --------------------------------------------------------------------------- --workers 2

class KeptConnection:
    """A keep-alive connection that knows which server process answers it (from /metrics)."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        self.process = PROCESS_RE.search(self.metrics()).group(1)

    def call(self, method: str, path: str, body=None) -> tuple[int, dict]:
        raw = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=raw, headers={"Content-Type": "application/json"} if raw else {})
        r = self.conn.getresponse()
        return r.status, json.loads(r.read())

    def metrics(self) -> str:
        self.conn.request("GET", "/metrics")
        return self.conn.getresponse().read().decode()

    def subscribers(self) -> int:
        return int(SUBSCRIBERS_RE.search(self.metrics()).group(1))

    def close(self):
        self.conn.close()


def one_connection_per_worker(port: int, workers: int) -> list[KeptConnection]:
    by_process: dict[str, KeptConnection] = {}
    for _ in range(200):
        c = KeptConnection(port)
        if c.process in by_process:
            c.close()
        else:
            by_process[c.process] = c
        if len(by_process) == workers:
            return list(by_process.values())
    raise AssertionError(f"connections reached only {sorted(by_process)}")


@pytest.fixture
def cluster(herald, site):
    d = tempfile.mkdtemp(prefix="hdl-")  # short: the broker socket must fit in sun_path
    os.chmod(d, 0o700)
    sup = herald(raw_args=["serve", "--workers", "2", "--host", "127.0.0.1", "--port", "0", "--public", str(site.public),
                           "--data", os.path.join(d, "data"), "--task-timeout", "600", "--task-stall", "300"],
                 name="serve --workers 2")
    yield sup
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.timeout(120)
def test_under_workers_the_broker_fires_each_deadline_once(cluster):
    brokers = [argv for argv in children(cluster.proc.pid).values() if role(argv) == "broker"]
    assert len(brokers) == 1, brokers
    broker = brokers[0]
    assert broker[broker.index("--task-timeout") + 1] == "600.0" and broker[broker.index("--task-stall") + 1] == "300.0", broker

    conns = one_connection_per_worker(cluster.port, 2)
    status, t = conns[0].call("POST", "/api/tasks", {"title": "times out under the broker", "timeout_s": 1.5, "lease_s": 3600})
    assert status == 201 and t["timeout_s"] == 1.5 and t["stall_s"] == 300, t   # the broker's default fills stall_s
    i = t["id"]
    # Subscribers until both workers hold some (the kernel spreads new connections).
    subs: list[WS] = []
    try:
        before = [c.subscribers() for c in conns]
        for _ in range(40):
            ws = WS(cluster.port, f"topic=task:{i}")
            ws.snapshot()
            subs.append(ws)
            now = [c.subscribers() for c in conns]
            if all(n > b for n, b in zip(now, before)):
                break
        assert all(n > b for n, b in zip([c.subscribers() for c in conns], before)), "subscribers reached one worker only"
        status, s = conns[1].call("POST", f"/api/tasks/{i}/start")
        assert status == 200, s
        seen = [failed_events(ws, i, 6) for ws in subs]
        for failed in seen:
            assert len(failed) == 1 and failed[0]["task"]["error"]["code"] == "timeout", failed
        assert len({f[0]["seq"] for f in seen}) == 1, "subscribers saw different failure events"
        answers = [c.call("GET", f"/api/tasks/{i}") for c in conns]
        assert all(code == 200 for code, _ in answers), answers
        assert answers[0][1] == answers[1][1] == seen[0][0]["task"]
        # Nothing later: a second process firing it would have pushed another event by now.
        assert all(ws.quiet(0.5) == [] for ws in subs)
    finally:
        for ws in subs:
            ws.close()
        for c in conns:
            c.close()


# --------------------------------------------------------------------------- defaults and bad input

def test_server_defaults_apply_unless_the_body_gives_a_deadline_or_null(herald):
    h = herald("--task-timeout", "1", "--task-stall", "120")
    api = Api(h.port)
    d = api.create(title="defaults", lease_s=3600)
    assert d["timeout_s"] == 1 and d["stall_s"] == 120, d
    own = api.create(title="own", timeout_s=30, stall_s=20)
    assert own["timeout_s"] == 30 and own["stall_s"] == 20, own
    off = api.create(title="opted out", timeout_s=None, stall_s=None, lease_s=3600)
    assert off["timeout_s"] is None and off["stall_s"] is None, off
    with WS(h.port, "topic=tasks") as ws:
        ws.snapshot()
        api.act(d["id"], "start")
        api.act(off["id"], "start")
        failed = failed_events(ws, d["id"], 4)
        assert len(failed) == 1 and failed[0]["task"]["error"]["code"] == "timeout", failed
        assert not [m for m in ws.log if m["type"] == "task" and m["task"]["id"] == off["id"] and m["event"] == "failed"]
    assert api.task(off["id"])["status"] == "running"


BAD_BODIES = [
    ('{"title":"t","timeout_s":0}', "invalid_field"),
    ('{"title":"t","stall_s":0}', "invalid_field"),
    ('{"title":"t","timeout_s":-5}', "invalid_field"),
    ('{"title":"t","stall_s":-0.5}', "invalid_field"),
    ('{"title":"t","timeout_s":"60"}', "invalid_field"),
    ('{"title":"t","stall_s":"NaN"}', "invalid_field"),
    ('{"title":"t","timeout_s":true}', "invalid_field"),
    ('{"title":"t","stall_s":[60]}', "invalid_field"),
    ('{"title":"t","timeout_s":2592000.001}', "invalid_field"),
    ('{"title":"t","stall_s":1e12}', "invalid_field"),
    ('{"title":"t","timeout_s":NaN}', "invalid_json"),
    ('{"title":"t","stall_s":Infinity}', "invalid_json"),
    ('{"title":"t","timeout_s":-Infinity}', "invalid_json"),
    ('{"title":"t","timeout_s":1e999}', "invalid_json"),
]


@pytest.mark.parametrize("body,code", BAD_BODIES)
def test_bad_deadlines_are_400_and_create_nothing(tasks_server, api: Api, body: str, code: str):
    before = api.task_list("limit=10000")
    a = api.post("/api/tasks", raw=body.encode())
    assert_json_error_answer(a, 400, code)
    field = "timeout_s" if "timeout_s" in body else "stall_s"
    if code == "invalid_field":
        assert field in a.json["error"]["message"], a
    after = api.task_list("limit=10000")
    assert after["seq"] == before["seq"] and len(after["tasks"]) == len(before["tasks"])


def test_thirty_days_is_accepted(api: Api):
    t = api.create(title="a month", timeout_s=MAX_DEADLINE, stall_s=MAX_DEADLINE)
    assert t["timeout_s"] == MAX_DEADLINE and t["stall_s"] == MAX_DEADLINE


@pytest.mark.parametrize("flag,value", [("--task-timeout", "0"), ("--task-stall", "-1"), ("--task-timeout", "2592001"),
                                        ("--task-stall", "nan"), ("--task-timeout", "soon")])
def test_the_server_refuses_to_start_with_a_bad_default(site, flag: str, value: str):
    p = subprocess.run([str(herald_bin()), "serve", "--host", "127.0.0.1", "--port", "0", "--public", str(site.public),
                        "--data", ":memory:", flag, value], capture_output=True, timeout=15, stdin=subprocess.DEVNULL)
    assert p.returncode != 0
    assert flag in p.stderr.decode(), p.stderr
    assert b"listening on" not in p.stderr


def test_broker_help_lists_the_defaults():
    text = subprocess.run([str(herald_bin()), "broker", "--help"], capture_output=True, text=True, timeout=20).stdout
    assert "--task-timeout" in text and "--task-stall" in text


def test_task_create_sets_both_deadlines_from_the_command_line(tasks_server):
    p = subprocess.run([str(herald_bin()), "task", "create", "--title", "cli", "--task-timeout", "3600", "--task-stall", "90",
                        "--server", f"http://127.0.0.1:{tasks_server.port}"],
                       capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    t = json.loads(p.stdout)
    assert t["timeout_s"] == 3600 and t["stall_s"] == 90 and t["progress_at"] is None
