"""Helpers for the task API end-to-end tests (Tests/e2e/test_tasks_*.py).

- `Api`: the HTTP task API over one fresh connection per request (http.client), answers as
  `Answer` (status, headers, body, parsed JSON);
- `WS`: a `/ws` subscriber on python `websockets` (sync client): one JSON object per frame;
- `RawSubscriber`: a raw-socket `/ws` peer that reads only when told (slow subscriber);
- `tasks_server`: a module-scoped dedicated server (`--data :memory:`), and `own_server` for
  servers a test starts, kills and restarts itself (persistence).

Every wait is bounded; nothing here skips a test.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import socket
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from websockets.sync.client import connect as ws_connect

from conftest import Herald, _started, serve_args
from support import RawWS, Response, assert_json_error, request, ws_accept, ws_key

STATUSES = ("queued", "running", "succeeded", "failed", "cancelling", "cancelled")
TERMINAL = ("succeeded", "failed", "cancelled")
TASK_FIELDS = {"id", "title", "owner", "status", "stale", "done", "total", "percent", "message",
               "rate", "eta_s", "error", "result", "attempt", "lease_s", "created_at", "updated_at",
               "started_at", "finished_at", "heartbeat_at", "meta", "seq"}
TIME_FIELDS = ("created_at", "updated_at", "started_at", "finished_at", "heartbeat_at")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Which event each allowed action pushes.
ACTION_EVENT = {"start": "started", "progress": "progress", "complete": "succeeded", "fail": "failed",
                "cancelled": "cancelled", "retry": "retried"}


# --------------------------------------------------------------------------- HTTP

class Answer:
    def __init__(self, status: int, headers, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Api:
    """The task API of one server. `post`/`get`/... return an `Answer`; the helpers that end in
    a task (`create`, `act`) assert the status they expect and return the task JSON."""

    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.port = port
        self.host = host

    def call(self, method: str, path: str, body=None, *, raw: bytes | None = None,
             content_type: str | None = "application/json", headers: dict | None = None,
             timeout: float = 20.0) -> Answer:
        if raw is None and body is not None:
            raw = json.dumps(body, allow_nan=False).encode()
        hdrs = dict(headers or {})
        if raw is not None and content_type is not None:
            hdrs.setdefault("Content-Type", content_type)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=raw, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            return Answer(r.status, r.headers, data)
        finally:
            conn.close()

    def post(self, path: str, body=None, **kw) -> Answer:
        return self.call("POST", path, body, **kw)

    def get(self, path: str, **kw) -> Answer:
        return self.call("GET", path, **kw)

    # -- task helpers
    def create(self, expect: int = 201, **fields) -> dict:
        fields.setdefault("title", "e2e task")
        a = self.post("/api/tasks", fields)
        assert a.status == expect, f"create {fields} → {a!r}"
        return a.json

    def act(self, task_id: str, action: str, body=None, expect: int = 200) -> dict:
        a = self.action(task_id, action, body)
        assert a.status == expect, f"{action} {task_id} → {a!r}"
        return a.json

    def action(self, task_id: str, action: str, body=None) -> Answer:
        if action == "delete":
            return self.call("DELETE", f"/api/tasks/{quote(task_id, safe='')}")
        if body is None:
            body = DEFAULT_BODIES.get(action, {})
        return self.post(f"/api/tasks/{quote(task_id, safe='')}/{action}", body)

    def task(self, task_id: str) -> dict:
        a = self.get(f"/api/tasks/{quote(task_id, safe='')}")
        assert a.status == 200, f"GET task {task_id} → {a!r}"
        return a.json

    def task_list(self, query: str = "") -> dict:
        a = self.get("/api/tasks" + (f"?{query}" if query else ""))
        assert a.status == 200, f"GET /api/tasks → {a!r}"
        doc = a.json
        assert set(doc) >= {"tasks", "seq"}, doc
        return doc

    def seq(self) -> int:
        return self.task_list("limit=1")["seq"]

    def move_to(self, status: str, **fields) -> dict:
        """A new task in `status`, reached by the shortest path of the lifecycle."""
        fields.setdefault("lease_s", 3600)
        t = self.create(**fields)
        i = t["id"]
        path = {"queued": [], "running": ["start"], "cancelling": ["start", "cancel"],
                "succeeded": ["start", "complete"], "failed": ["start", "fail"],
                "cancelled": ["cancel"]}[status]
        for step in path:
            t = self.act(i, step)
        assert t["status"] == status, t
        return t


DEFAULT_BODIES = {
    "progress": {"done": 1, "message": "step"},
    "complete": {"message": "done", "result": {"path": "out.txt"}},
    "fail": {"error": {"code": "worker_error", "message": "it broke"}},
}


def assert_json_error_answer(a: Answer, status: int, code):
    """The contract's error shape on an `Answer` (see support.assert_json_error)."""
    r = Response(a.status, "", "HTTP/1.1", list(a.headers.items()), a.body)
    return assert_json_error(r, status, code)


def unique_id(prefix: str = "e2e") -> str:
    return f"{prefix}-{os.urandom(6).hex()}"


def assert_task_shape(t: dict):
    """Every field of the contract's table is present with its type."""
    missing = TASK_FIELDS - set(t)
    assert not missing, f"task JSON lacks {sorted(missing)}: {t}"
    assert isinstance(t["id"], str) and ID_RE.match(t["id"]) and t["id"] not in (".", ".."), t
    assert isinstance(t["title"], str) and len(t["title"]) <= 200
    assert t["owner"] is None or isinstance(t["owner"], str)
    assert t["status"] in STATUSES, t
    assert isinstance(t["stale"], bool)
    assert _num(t["done"]) and t["done"] >= 0
    assert t["total"] is None or _num(t["total"])
    assert t["percent"] is None or (_num(t["percent"]) and 0 <= t["percent"] <= 100), t
    assert isinstance(t["message"], str) and len(t["message"]) <= 1024
    assert t["rate"] is None or _num(t["rate"])
    assert t["eta_s"] is None or _num(t["eta_s"])
    assert t["error"] is None or (isinstance(t["error"], dict) and isinstance(t["error"].get("code"), str)
                                  and isinstance(t["error"].get("message"), str)), t["error"]
    assert isinstance(t["attempt"], int) and not isinstance(t["attempt"], bool) and t["attempt"] >= 1
    assert _num(t["lease_s"]) and t["lease_s"] > 0
    for f in TIME_FIELDS:
        assert t[f] is None or (isinstance(t[f], str) and TS_RE.match(t[f])), f"{f}={t[f]!r}"
    assert t["created_at"] is not None and t["updated_at"] is not None
    assert isinstance(t["meta"], dict)
    assert isinstance(t["seq"], int) and not isinstance(t["seq"], bool) and t["seq"] >= 1


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def strip_volatile(t: dict) -> dict:
    """A task without what an answer may add (`cancel_requested`)."""
    return {k: v for k, v in t.items() if k != "cancel_requested"}


# --------------------------------------------------------------------------- WebSocket

class WS:
    """A `/ws` subscriber. Every frame must be one JSON object in a text frame."""

    def __init__(self, port: int, query: str = "topic=tasks", timeout: float = 10.0):
        self.url = f"ws://127.0.0.1:{port}/ws" + (f"?{query}" if query else "")
        self.ws = ws_connect(self.url, open_timeout=timeout, close_timeout=2, max_size=1 << 26,
                             ping_interval=None)
        self.log: list[dict] = []

    def recv(self, timeout: float = 5.0) -> dict:
        msg = self.ws.recv(timeout=timeout)
        assert isinstance(msg, str), f"binary frame from /ws: {msg[:100]!r}"
        obj = json.loads(msg)
        assert isinstance(obj, dict) and isinstance(obj.get("type"), str), msg[:300]
        self.log.append(obj)
        return obj

    def recv_type(self, typ: str, timeout: float = 5.0) -> dict:
        m = self.recv(timeout)
        assert m["type"] == typ, f"expected a {typ!r} message, got {m}"
        return m

    def snapshot(self, topic: str | None = None, timeout: float = 5.0) -> dict:
        s = self.recv_type("snapshot", timeout)
        assert_snapshot(s)
        if topic is not None:
            assert s["topic"] == topic, s
        return s

    def send(self, obj):
        self.ws.send(obj if isinstance(obj, str) else json.dumps(obj))

    def until(self, pred, timeout: float = 5.0) -> list[dict]:
        """Receives until `pred(msg)` is true; returns every message, the matching one last."""
        deadline = time.monotonic() + timeout
        out = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching message within {timeout}s; got {out[-20:]}")
            try:
                m = self.recv(left)
            except TimeoutError:
                raise AssertionError(f"no matching message within {timeout}s; got {out[-20:]}") from None
            out.append(m)
            if pred(m):
                return out

    def quiet(self, seconds: float) -> list[dict]:
        """Everything that arrives within `seconds` (usually expected to be nothing)."""
        deadline = time.monotonic() + seconds
        out = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                out.append(self.recv(left))
            except TimeoutError:
                break
        return out

    def ping(self, timeout: float = 5.0) -> list[dict]:
        """Sends {"op":"ping"}; returns what came before the pong."""
        self.send({"op": "ping"})
        before = self.until(lambda m: m["type"] == "pong", timeout)
        return before[:-1]

    def close(self):
        with contextlib.suppress(Exception):
            self.ws.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def assert_snapshot(s: dict):
    assert s["type"] == "snapshot", s
    assert isinstance(s.get("topic"), str), s
    assert isinstance(s.get("epoch"), str) and s["epoch"], s
    assert isinstance(s.get("seq"), int) and s["seq"] >= 0, s
    assert isinstance(s.get("recovered"), bool), s
    assert isinstance(s.get("counts"), dict), s
    assert all(k in STATUSES and isinstance(v, int) and v >= 0 for k, v in s["counts"].items()), s["counts"]
    assert isinstance(s.get("tasks"), list), s
    for t in s["tasks"]:
        assert_task_shape(t)


def task_events(msgs: list[dict], task_id: str | None = None, topic: str | None = None) -> list[dict]:
    return [m for m in msgs if m["type"] == "task" and (task_id is None or m["task"]["id"] == task_id)
            and (topic is None or m["topic"] == topic)]


def assert_event(m: dict, event: str, answer: dict, topic: str):
    """A pushed task event that matches an HTTP answer: same seq, same task."""
    assert m["type"] == "task", m
    assert m["topic"] == topic, m
    assert m["event"] == event, f"expected event {event!r}, got {m['event']!r}: {m}"
    assert m["seq"] == answer["seq"], f"event seq {m['seq']} != HTTP answer seq {answer['seq']} ({event})"
    assert m["task"]["seq"] == m["seq"], m
    assert strip_volatile(m["task"]) == strip_volatile(answer), (m["task"], answer)


# --------------------------------------------------------------------------- raw slow subscriber

def raw_subscribe(port: int, query: str, rcvbuf: int | None = 4096, timeout: float = 30.0) -> RawWS:
    """A raw WebSocket on /ws with a small receive buffer, for a client that does not read."""
    ws = RawWS(port, timeout=timeout, rcvbuf=rcvbuf)
    key = ws_key()
    ws.send(request("GET", f"/ws?{query}", [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                            ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]))
    r = ws.read_head()
    assert r.status == 101, f"/ws handshake answered {r.status}"
    assert r.header("sec-websocket-accept") == ws_accept(key)
    return ws


# --------------------------------------------------------------------------- servers

def task_serve_args(public, data: str = ":memory:", *extra) -> list[str]:
    return ["serve", "--host", "127.0.0.1", "--port", "0", "--public", str(public), "--data", str(data),
            *[str(a) for a in extra]]


@contextlib.contextmanager
def own_server(args: list[str], name: str = "task herald"):
    """A server the test stops itself (kill -9, restarts). Killed at exit if still running;
    its stderr shows in the failure report like the fixtures' servers."""
    h = Herald(args, name=name)
    _started.append(h)
    try:
        h.start()
        yield h
    finally:
        if h.proc is not None and h.proc.poll() is None:
            h.stop()
        _started.remove(h)


@pytest.fixture(scope="module")
def tasks_server(site):
    """A dedicated server for one test module (tasks in memory, defaults otherwise)."""
    h = Herald(serve_args(site.public), name="tasks herald")
    _started.append(h)
    h.start()
    yield h
    rc = h.stop()
    _started.remove(h)
    assert rc == 0, f"tasks server exited with {rc} on SIGTERM\n" + h.log_tail()


@pytest.fixture
def api(tasks_server) -> Api:
    return Api(tasks_server.port)


def vm_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HERE = Path(__file__).resolve().parent


class ProgressWorker:
    """Reports progress on one task every `every` s (done + step, message "row N") until stopped
    or `limit`, as the task's worker would, through `api` (an `Api`). A server that is down
    (connection errors) is tried again after 0.1 s; an answer other than 200 is kept in `errors`
    and, with `acked_only`, does not move `done` (which is then the last value the server
    acknowledged); without it `done` moves on (a report a killed server took may have landed).
    Use as a context manager: the thread starts on enter and stops on exit."""

    def __init__(self, api: "Api", task_id: str, every: float = 0.05, step: int = 1, limit: int = 1_000_000,
                 done: int = 0, acked_only: bool = False):
        self.api, self.id = api, task_id
        self.every, self.step, self.limit, self.acked_only = every, step, limit, acked_only
        self.done = done
        self.errors: list = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set() and self.done + self.step <= self.limit:
            n = self.done + self.step
            try:
                a = self.api.action(self.id, "progress", {"done": n, "message": f"row {n}"})
            except OSError:
                self.stop.wait(0.1)
                continue
            if a.status != 200:
                self.errors.append(a)
            if a.status == 200 or not self.acked_only:
                self.done = n
            self.stop.wait(self.every)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)
