"""The Python worker client (clients/python, `herald_client`) against the real `herald` binary:
the package as installed in the venv (scripts/test installs the current ./clients/python),
imported as a user would.

Heartbeats keep a short lease alive through a silent step; an exception fails the task with its
class name; a cancel from another client ends the block `cancelled`; failover over a dead or
killed server; a server killed and restarted mid-job does not lose the final state; 429s wait
out Retry-After; other 4xx raise at once; lost answers of create/complete are recognised;
track(); subscribe() resumes after a drop; mint_token() matches PyJWT; the package installs
into a fresh venv; a forked child (an RQ work horse) runs a task with its own connections."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import jwt
import pytest

from auth_support import SECRET, secret_file
from conftest import ROOT, Herald as HeraldProcess, _started
from tasks_support import WS, Api, own_server, task_serve_args, unique_id
from test_broker import Broker

try:
    import herald_client
    from herald_client import Cancelled, Herald, HeraldError, HeraldUnavailable, mint_token
    IMPORT_ERROR = None
except ImportError as e:  # every test then fails with the fix, instead of a collection error
    herald_client = None
    IMPORT_ERROR = e

SRC = ROOT / "clients" / "python"
PKG = SRC / "src" / "herald_client"


_clients: list = []


def client(*args, **kwargs) -> "Herald":
    """A Herald client whose idle keep-alive connections are closed when the test ends, before
    its servers stop (a server stopping waits up to 2 s for open client connections to close)."""
    h = Herald(*args, **kwargs)
    _clients.append(h)
    return h


def close_clients():
    while _clients:
        _clients.pop().close()


@pytest.fixture(autouse=True)
def _installed(herald):
    """Fails each test when the package is missing; closes the test's clients before the
    servers of the `herald` fixture stop."""
    if herald_client is None:
        pytest.fail(f"herald_client is not installed in {sys.prefix} ({IMPORT_ERROR}): "
                    "`pip install ./clients/python` (scripts/test does it)")
    yield
    close_clients()


def task_events(ws: WS, task_id: str) -> list[dict]:
    return [m for m in ws.log if m["type"] == "task" and m["task"]["id"] == task_id]


def wait_event(ws: WS, task_id: str, event: str, timeout: float = 10.0) -> dict:
    ws.until(lambda m: m["type"] == "task" and m["task"]["id"] == task_id and m["event"] == event, timeout)
    return task_events(ws, task_id)[-1]


# --------------------------------------------------------------------------- the package

def test_the_venv_runs_the_current_client_source():
    """The tests below exercise what is in the repository, not an older installed copy."""
    installed = Path(herald_client.__file__).resolve().parent
    sources = sorted(p.name for p in PKG.iterdir() if p.suffix in (".py", ".typed"))
    assert "py.typed" in sources and "__init__.py" in sources
    if installed != PKG.resolve():  # a regular (not editable) install, as users do
        assert "site-packages" in installed.parts, installed
        for name in sources:
            assert (installed / name).read_bytes() == (PKG / name).read_bytes(), \
                f"{installed / name} differs from {PKG / name}: reinstall with pip install ./clients/python"
    assert herald_client.__version__ == re.search(r'^version = "([^"]+)"', (SRC / "pyproject.toml").read_text(),
                                                  re.M).group(1)


def test_the_package_installs_into_a_fresh_venv_without_dependencies(tmp_path):
    # A venv without its own pip (ensurepip costs seconds): this venv's pip installs into it.
    # The build backend (hatchling) comes from PyPI through pip's build isolation.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q",
                        "--disable-pip-version-check", str(SRC)], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    probe = ("import importlib.metadata as m, json, pathlib, herald_client as h;"
             "print(json.dumps({'version': h.__version__, 'file': h.__file__,"
             " 'typed': (pathlib.Path(h.__file__).parent / 'py.typed').exists(),"
             " 'requires': m.requires('herald-client') or [],"
             " 'dists': sorted(d.metadata['Name'].lower() for d in m.distributions()),"
             " 'names': sorted(n for n in dir(h) if not n.startswith('_'))}))")
    r = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["file"].startswith(str(venv)), info
    assert info["typed"], "py.typed is missing from the installed package"
    # Standard library only: the one requirement is the optional `ws` extra.
    assert [q.replace(" ", "").replace("'", '"') for q in info["requires"]] == ['websockets>=13;extra=="ws"'], \
        info["requires"]
    assert set(info["dists"]) - {"pip", "setuptools", "wheel"} == {"herald-client"}, info["dists"]
    assert {"Herald", "Task", "Cancelled", "HeraldError", "HeraldUnavailable", "mint_token"} <= set(info["names"])


# --------------------------------------------------------------------------- the with block

def test_the_heartbeat_keeps_a_one_second_lease_alive_through_a_silent_step(herald):
    server = herald()
    h = client(server.url)
    tid, control = unique_id("hb"), unique_id("hb-control")
    api = Api(server.port)
    with WS(server.port, f"topic=task:{tid}&topic=task:{control}") as ws:
        ws.snapshot(), ws.snapshot()
        # The control: the same lease, started by hand and left silent, goes stale.
        api.create(id=control, title="silent without a heartbeat", lease_s=1)
        api.act(control, "start")
        with h.task("silent step", id=tid, lease_s=1, total=2) as t:
            t.progress(done=1)
            time.sleep(3.0)  # no report from the job for 3 leases
            t.result = {"rows": 2}
        final = wait_event(ws, tid, "succeeded")
        events = [m["event"] for m in task_events(ws, tid)]
        control_events = [m["event"] for m in task_events(ws, control)]
    assert "stale" in control_events, control_events
    assert events == ["created", "started", "progress", "succeeded"], events
    assert final["task"]["result"] == {"rows": 2} and final["task"]["done"] == 2
    assert final["task"]["stale"] is False


def test_an_exception_fails_the_task_with_its_class_name_and_propagates(herald):
    server = herald("--task-timeout", "600")
    h = client(server.url)

    class ExportBroke(RuntimeError):
        pass

    with pytest.raises(ExportBroke, match="disk full"):
        with h.task("export", total=10, timeout_s=math.inf, stall_s=30) as t:
            t.progress(done=3)
            raise ExportBroke("disk full")
    task = h.get(t.id)
    assert task["status"] == "failed", task
    assert task["error"] == {"code": "ExportBroke", "message": "disk full"}
    assert task["done"] == 3
    # math.inf: no deadline for this task whatever the server's default; a number is kept.
    assert task["timeout_s"] is None and task["stall_s"] == 30
    assert h.create("default deadline").last["timeout_s"] == 600
    assert t.id in [x["id"] for x in h.list(status="failed")]
    h.delete(t.id)
    with pytest.raises(HeraldError) as info:
        h.get(t.id)
    assert info.value.status == 404


def test_a_cancel_from_another_client_ends_the_block_cancelled(herald):
    server = herald()
    h = client(server.url)
    other = Api(server.port)   # another client: a dashboard user
    tid = unique_id("cancel")
    reached = []
    with WS(server.port, f"topic=task:{tid}") as ws:
        ws.snapshot()
        with h.task("cancel me", id=tid, total=1000) as t:
            for i in range(1000):
                if i == 3:
                    other.act(tid, "cancel")
                t.progress(done=i + 1)   # the answer says cancel_requested: raises Cancelled
                reached.append(i)
        after_block = True               # Cancelled did not propagate
        wait_event(ws, tid, "cancelled")
        events = [m["event"] for m in task_events(ws, tid)]
    assert after_block and reached == [0, 1, 2]
    assert events == ["created", "started", "progress", "progress", "progress", "cancelling", "progress", "cancelled"], events
    assert h.get(tid)["status"] == "cancelled"
    assert t.cancel_requested


def test_cancel_requested_is_seen_by_the_heartbeat_without_progress_calls(herald):
    server = herald()
    h = client(server.url)
    other = Api(server.port)
    with h.task("a loop without progress", lease_s=0.6) as t:
        threading.Timer(0.3, lambda: other.act(t.id, "cancel")).start()
        deadline = time.monotonic() + 5
        while not t.cancel_requested and time.monotonic() < deadline:
            time.sleep(0.02)
        assert t.cancel_requested, "the heartbeat answers never reported the cancel"
        with pytest.raises(Cancelled):
            t.progress(done=1, wait=False)   # raises at once, as the synchronous form does
    assert h.get(t.id)["status"] == "cancelled"   # leaving normally confirms the cancel
    # A task cancelled while it waited for a worker: the block does not run.
    queued = h.create("cancelled in the queue")
    h.cancel(queued.id)
    ran = []
    with pytest.raises(Cancelled):
        with h.attach(queued.id):
            ran.append(True)
    assert not ran and h.get(queued.id)["status"] == "cancelled"


def test_progress_without_waiting_coalesces_to_the_newest_and_lands_before_complete(herald):
    server = herald()
    h = client(server.url)
    with h.task("fast loop", total=5000) as t:
        for i in range(5000):
            t.progress(done=i + 1, message=f"row {i}", wait=False)   # never blocks on the network
    task = h.get(t.id)
    assert task["status"] == "succeeded" and task["done"] == 5000
    # The last report was sent (message of the last row) before `complete`, and far fewer
    # reports than calls reached the server (one in flight, the newest waiting).
    assert task["message"] == "row 4999", task
    assert task["seq"] < 2500, task["seq"]


# --------------------------------------------------------------------------- failures and retries

def test_other_4xx_raise_herald_error_at_once(herald, caplog):
    caplog.set_level(logging.INFO, logger="herald_client")
    server = herald("--publish-token", "s3cret-token-for-e2e")
    h = client(server.url, token="s3cret-token-for-e2e", retry_for=30)

    def refused(call, status, code):
        t0 = time.monotonic()
        with pytest.raises(HeraldError) as info:
            call()
        assert time.monotonic() - t0 < 1.0, f"{code} took {time.monotonic() - t0:.2f}s: it was retried"
        assert (info.value.status, info.value.code) == (status, code), info.value
        assert not isinstance(info.value, HeraldUnavailable)
        return info.value

    refused(lambda: h.get("no-such-task"), 404, "not_found")
    refused(lambda: h.create("x" * 201), 400, "invalid_field")
    with h.task("done goes backwards", total=10) as t:
        t.progress(done=5)
        refused(lambda: t.progress(done=4), 409, "done_decreased")
    e = refused(lambda: client(server.url, token="wrong").create("no token"), 401, "unauthorized")
    assert "401 unauthorized" in str(e)
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]


def test_a_429_waits_out_retry_after(herald, caplog):
    caplog.set_level(logging.INFO, logger="herald_client")
    server = herald("--owner-max-active", "1")
    h = client(server.url)
    owner = unique_id("limited")
    busy = h.create("holds the only slot", owner=owner, total=100)
    busy.start()
    busy.progress(done=10)
    time.sleep(0.3)
    busy.progress(done=60)             # a rate, so an ETA: Retry-After ≈ 1 s
    timer = threading.Timer(1.5, busy.complete)
    timer.start()
    t0 = time.monotonic()
    second = h.create("waits for the slot", owner=owner)
    elapsed = time.monotonic() - t0
    timer.join()
    assert second.status == "queued"
    waits = [r.getMessage() for r in caplog.records if "429 too_many_active" in r.getMessage()]
    assert 1 <= len(waits) <= 3, waits            # no hammering: one try per Retry-After
    assert all("(Retry-After)" in w for w in waits), waits
    delays = [float(re.search(r"retrying in ([0-9.]+) s", w).group(1)) for w in waits]
    assert all(d >= 1.0 for d in delays), delays
    assert 1.0 <= elapsed < 15, elapsed


def test_a_429_longer_than_retry_for_raises_at_once_with_its_retry_after(herald):
    server = herald("--owner-max-rate", "1")
    h = client(server.url, retry_for=5)
    owner = unique_id("rate")
    h.create("the one create of this minute", owner=owner)
    t0 = time.monotonic()
    with pytest.raises(HeraldError) as info:
        h.create("one too many", owner=owner)
    assert time.monotonic() - t0 < 1.0
    assert (info.value.status, info.value.code) == (429, "rate_limited")
    assert 50 <= info.value.retry_after <= 60, info.value.retry_after


class Restarter:
    """Starts `herald serve` with `args` on a fixed port after a delay (retrying the bind for a
    few seconds), as an operator restarting a crashed server would. The starting thread stays
    alive until close(): PR_SET_PDEATHSIG (conftest) signals the child when the *thread* that
    forked it ends."""

    def __init__(self, args: list[str], port: int):
        self.args = list(args)
        self.args[self.args.index("--port") + 1] = str(port)
        self.port = port
        self.processes: list[HeraldProcess] = []
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []
        self._done = threading.Event()

    def start_after(self, delay: float) -> threading.Event:
        started = threading.Event()

        def run():
            time.sleep(delay)
            deadline = time.monotonic() + 10
            while True:
                p = HeraldProcess(self.args, name=f"restarted herald :{self.port}")
                _started.append(p)
                self.processes.append(p)
                try:
                    p.start()
                    break
                except AssertionError as e:
                    if time.monotonic() > deadline:
                        self.errors.append(e)
                        break
                    time.sleep(0.2)
                except BaseException as e:  # noqa: BLE001 - reported by the test
                    self.errors.append(e)
                    break
            started.set()
            self._done.wait(120)

        th = threading.Thread(target=run, daemon=True)
        th.start()
        self._threads.append(th)
        return started

    @property
    def current(self) -> HeraldProcess:
        assert not self.errors, self.errors
        return self.processes[-1]

    def close(self):
        for p in self.processes:
            p.stop()
            if p in _started:
                _started.remove(p)
        self._done.set()


def test_a_restarted_server_is_retried_and_the_final_state_lands(site, tmp_path):
    args = task_serve_args(site.public, str(tmp_path / "data"))
    with own_server(args, name="first herald") as first:
        restarter = Restarter(args, first.port)
        try:
            h = client(first.url, retry_for=30)
            with h.task("survives restarts", total=3, lease_s=3) as t:
                t.progress(done=1)
                first.kill()                                  # kill -9 mid-job
                up = restarter.start_after(1.5)
                t0 = time.monotonic()
                t.progress(done=2, message="after the first crash")   # retried until it is back
                waited = time.monotonic() - t0
                assert up.wait(15) and restarter.current.proc.poll() is None
                restarter.current.kill()                      # and again, right before complete
                up = restarter.start_after(1.5)
                t0 = time.monotonic()
                t.result = {"file": "export.csv"}
            completed_after = time.monotonic() - t0          # leaving the block: complete, retried
            assert up.wait(15)
            assert waited >= 1.0 and completed_after >= 1.0, (waited, completed_after)
            task = Api(first.port).task(t.id)
            assert task["status"] == "succeeded", task
            assert task["result"] == {"file": "export.csv"} and task["done"] == 3
            assert task["message"] == "after the first crash"
        finally:
            close_clients()
            restarter.close()


class LossyProxy:
    """A TCP proxy in front of a server that forwards every request but, for the first `n`
    requests matching a rule, drops the connection instead of passing the answer back: the
    change happened on the server and the client never heard of it (a lost answer)."""

    def __init__(self, upstream_port: int, rules: dict[tuple[str, str], int]):
        self.upstream_port = upstream_port
        self.rules = dict(rules)          # (method, path suffix) → answers still to drop
        self.dropped: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self._stop = True
        self.sock.close()

    def _accept(self):
        while not self._stop:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    @staticmethod
    def _read_message(f) -> bytes | None:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = f.readline()
            if not line:
                return None
            head += line
        m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        body = f.read(int(m.group(1))) if m else b""
        return head + body

    def _serve(self, client: socket.socket):
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        cf, uf = client.makefile("rb"), upstream.makefile("rb")
        try:
            while True:
                request = self._read_message(cf)
                if request is None:
                    return
                method, path = request.split(b" ", 2)[:2]
                upstream.sendall(request)
                answer = self._read_message(uf)
                if answer is None:
                    return
                for (m, suffix), left in self.rules.items():
                    if left > 0 and method.decode() == m and path.decode().endswith(suffix):
                        self.rules[(m, suffix)] = left - 1
                        self.dropped.append(f"{m} {path.decode()}")
                        return            # the answer is lost with the connection
                client.sendall(answer)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()


def test_lost_answers_of_create_and_complete_are_recognised_not_repeated(herald, caplog):
    caplog.set_level(logging.INFO, logger="herald_client")
    server = herald()
    proxy = LossyProxy(server.port, {("POST", "/api/tasks"): 1, ("POST", "/complete"): 1,
                                     ("POST", "/start"): 1})
    try:
        owner = unique_id("lossy")
        h = client(proxy.url)
        with h.task("answers get lost", owner=owner, total=2) as t:
            t.progress(done=1)
            t.result = {"ok": True}
        assert sorted(d.split()[1].rsplit("/", 1)[-1] for d in proxy.dropped) == ["complete", "start", "tasks"]
        tasks = Api(server.port).task_list(f"owner={owner}")["tasks"]
        assert [x["id"] for x in tasks] == [t.id], "the create was applied twice or not at all"
        assert tasks[0]["status"] == "succeeded" and tasks[0]["result"] == {"ok": True}
        recognised = [r.getMessage() for r in caplog.records if "already been applied" in r.getMessage()]
        assert len(recognised) == 3, recognised
    finally:
        close_clients()
        proxy.close()


# --------------------------------------------------------------------------- several servers

@pytest.fixture
def broker_pair(site):
    """One `herald broker` and two `herald serve --broker` processes sharing it."""
    with tempfile.TemporaryDirectory(prefix="herald-py-") as d:
        os.chmod(d, 0o700)
        broker = Broker(os.path.join(d, "broker.sock"), os.path.join(d, "data"))
        servers = []
        try:
            for n in ("A", "B"):
                s = HeraldProcess(["serve", "--host", "127.0.0.1", "--port", "0", "--public", str(site.public),
                                   "--broker", broker.socket], name=f"server {n}")
                _started.append(s)
                servers.append(s.start())
            yield servers
        finally:
            close_clients()
            for s in servers:
                s.stop()
                _started.remove(s)
            broker.stop()


def _process_of(servers, url: str) -> HeraldProcess:
    return next(s for s in servers if s.url == url)


def test_servers_and_token_default_to_the_environment_as_the_cli_reads_it(herald, monkeypatch):
    h = herald("--publish-token", "s3cret-publish-token")
    monkeypatch.setenv("HERALD_SERVER", f"http://127.0.0.1:1, {h.url}")
    monkeypatch.delenv("HERALD_TOKEN", raising=False)
    monkeypatch.setenv("HERALD_PUBLISH_TOKEN", "s3cret-publish-token")
    c = Herald(retry_for=5)
    assert sorted(c.servers) == sorted(["http://127.0.0.1:1", h.url])
    assert c.create(title="from the environment").get()["title"] == "from the environment"
    monkeypatch.setenv("HERALD_TOKEN", "not-the-token")          # HERALD_TOKEN comes first
    with pytest.raises(HeraldError) as refused:
        Herald(retry_for=5).create(title="refused")
    assert refused.value.status == 401
    with pytest.raises(HeraldError) as none:                       # None: no token at all
        Herald(token=None, retry_for=5).create(title="no token")
    assert none.value.status == 401
    monkeypatch.delenv("HERALD_SERVER")
    assert Herald().servers == ["http://127.0.0.1:8080"]


def test_a_dead_server_in_the_list_is_passed_over(herald):
    live = herald()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{s.getsockname()[1]}"   # nothing listens there
    for _ in range(6):   # the order is random: both orders occur
        h = client([dead_url, live.url], retry_for=10)
        t0 = time.monotonic()
        with h.task("one dead server") as t:
            t.progress(done=1)
        assert time.monotonic() - t0 < 2.0
        assert h.server == live.url
        assert h.get(t.id)["status"] == "succeeded"
    # Nothing but dead servers: retried with backoff for retry_for, then HeraldUnavailable.
    t0 = time.monotonic()
    with pytest.raises(HeraldUnavailable) as info:
        client([dead_url], retry_for=1.0).get("x")
    assert 0.95 <= time.monotonic() - t0 < 3.0
    assert info.value.status == 0 and "Connection refused" in str(info.value)


def test_a_killed_server_fails_over_to_the_other_and_the_job_goes_on(broker_pair):
    a, b = broker_pair
    h = client([a.url, b.url], retry_for=20)
    t = h.create("fails over", total=10)
    with WS(a.port, f"topic=task:{t.id}") as wa, WS(b.port, f"topic=task:{t.id}") as wb:
        wa.snapshot(), wb.snapshot()
        with t:
            for i in range(3):
                t.progress(done=i + 1)
            victim = _process_of(broker_pair, h.server)
            survivor, ws = (b, wb) if victim is a else (a, wa)
            victim.kill()                                  # kill -9
            for i in range(3, 10):
                t.progress(done=i + 1, message=f"row {i}")
            assert h.server == survivor.url
            t.result = {"rows": 10}
        # … and the complete went to the survivor as well
        wait_event(ws, t.id, "succeeded")
    task = Api(survivor.port).task(t.id)
    assert task["status"] == "succeeded" and task["done"] == 10 and task["result"] == {"rows": 10}
    dones = [m["task"]["done"] for m in task_events(ws, t.id) if m["event"] == "progress"]
    assert dones == list(range(1, 11)), dones


def test_subscribe_resumes_after_the_server_drops_the_socket(broker_pair):
    a, b = broker_pair
    h = client([a.url, b.url], retry_for=20)
    t = h.create("watched", total=10)
    received: list[dict] = []
    with h.subscribe(f"task:{t.id}") as sub:
        snapshot = sub.recv(10)
        assert snapshot["type"] == "snapshot" and snapshot["tasks"][0]["id"] == t.id
        producer = Api(b.port if sub.server == a.url else a.port)    # publishes on the other server
        producer.act(t.id, "start")
        for i in range(5):
            producer.act(t.id, "progress", {"done": i + 1})
        while not (received and received[-1].get("task", {}).get("done") == 5):
            msg = sub.recv(10)
            assert msg is not None, received
            received.append(msg)
        last_seq = received[-1]["seq"]
        _process_of(broker_pair, sub.server).kill()       # the subscriber's server dies
        for i in range(5, 10):
            producer.act(t.id, "progress", {"done": i + 1})
        producer.act(t.id, "complete", {"result": {"n": 10}})
        while not (received[-1].get("type") == "task" and received[-1]["event"] == "succeeded"):
            msg = sub.recv(15)
            assert msg is not None, received
            received.append(msg)
        assert sub.reconnects == 1 and sub.server == f"http://127.0.0.1:{producer.port}"
    resumed = [m for m in received if m["type"] == "resumed"]
    assert len(resumed) == 1 and resumed[0]["since"] == last_seq and resumed[0]["epoch"] == snapshot["epoch"], received
    events = [m for m in received if m["type"] == "task"]
    seqs = [m["seq"] for m in events]
    assert seqs == sorted(set(seqs)), f"duplicates or out of order: {seqs}"
    assert [m["event"] for m in events] == ["started"] + ["progress"] * 10 + ["succeeded"], events
    assert [m["task"]["done"] for m in events if m["event"] == "progress"] == list(range(1, 11))


# --------------------------------------------------------------------------- track()

def test_track_reports_rate_limited_progress_and_completes(herald):
    server = herald()
    h = client(server.url)
    tid = unique_id("track")
    rows = list(range(30))
    seen = []
    with WS(server.port, f"topic=task:{tid}") as ws:
        ws.snapshot()
        for row in h.track(rows, title="Import", id=tid, every=0.1):
            time.sleep(0.02)
            seen.append(row)
        final = wait_event(ws, tid, "succeeded")
        events = [m["event"] for m in task_events(ws, tid)]
    assert h.wait(tid, timeout=5)["status"] == "succeeded"
    assert seen == rows
    assert final["task"]["done"] == 30 and final["task"]["total"] == 30
    assert events[:2] == ["created", "started"] or events[0] == "started", events
    progress = [e for e in events if e == "progress"]
    assert 2 <= len(progress) <= 15, events   # about every 0.1 s over ~0.6 s, plus the last


def test_track_fails_the_task_when_the_items_raise_or_the_loop_is_left(herald):
    server = herald()
    h = client(server.url)

    def rows():
        yield 1
        yield 2
        raise ConnectionAbortedError("the source went away")

    ids = [unique_id("track-raise"), unique_id("track-break")]
    with pytest.raises(ConnectionAbortedError):
        for _ in h.track(rows(), title="reads a broken source", id=ids[0]):
            pass
    assert h.get(ids[0])["error"] == {"code": "ConnectionAbortedError", "message": "the source went away"}
    loop = h.track(range(10), title="left early", id=ids[1])
    for row in loop:
        if row == 4:
            break
    loop.close()   # what the garbage collector does at once in CPython; explicit here
    task = h.get(ids[1])
    assert task["status"] == "failed" and task["error"]["code"] == "loop_exited", task
    assert "after 4 of 10 items" in task["error"]["message"]


def test_track_ends_the_loop_and_confirms_a_cancel(herald):
    server = herald()
    h = client(server.url)
    other = Api(server.port)
    tid = unique_id("track-cancel")
    seen = []
    for row in h.track(range(1000), title="cancelled import", id=tid, every=0.05, lease_s=0.6):
        if row == 2:
            other.act(tid, "cancel")
        seen.append(row)
        time.sleep(0.02)
    assert 3 <= len(seen) < 200, len(seen)      # the loop stopped soon after the cancel
    assert h.get(tid)["status"] == "cancelled"


# --------------------------------------------------------------------------- tokens

def test_mint_token_is_a_standard_hs256_jwt_the_server_accepts(site, tmp_path):
    token = mint_token(SECRET, sub="alice", role="worker", ttl=600)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice" and claims["role"] == "worker" and claims["exp"] - claims["iat"] == 600
    assert abs(claims["iat"] - time.time()) < 5
    # Byte for byte what PyJWT makes of the same claims, and the key's trailing newline (as
    # read from the secret file) does not count, as on the server.
    assert token == jwt.encode(claims, SECRET, algorithm="HS256")
    assert mint_token(SECRET + b"\n", sub="alice", role="worker", ttl=600, now=claims["iat"]) == token
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}

    with own_server(task_serve_args(site.public, ":memory:", "--auth-secret-file", secret_file(tmp_path)),
                    name="auth herald") as server:
        worker = client(server.url, token=token)
        with worker.task("alice's export") as t:        # Authorization: Bearer
            t.progress(done=1)
        assert worker.get(t.id)["owner"] == "alice"
        viewer = client(server.url, token=mint_token(SECRET.decode(), sub="alice"))   # str secret works too
        with pytest.raises(HeraldError) as info:
            viewer.create("a viewer may not create")
        assert (info.value.status, info.value.code) == (403, "forbidden")
        assert viewer.get(t.id)["status"] == "succeeded"
        with pytest.raises(HeraldError) as info:
            client(server.url, token=mint_token(b"another-secret-" + b"x" * 40, sub="alice")).get(t.id)
        assert info.value.status == 401
        # A function as the token: called for each request and each (re)connection.
        calls = []
        with client(server.url, token=lambda: calls.append(1) or token).subscribe(["owner:alice", "tasks"]) as sub:
            first, second = sub.recv(10), sub.recv(10)
        assert first["type"] == "snapshot" and [x["id"] for x in first["tasks"]] == [t.id]
        assert second["type"] == "error" and second["code"] == "forbidden" and second["topic"] == "tasks"
        assert calls
        with pytest.raises(HeraldError) as info:
            client(server.url, token="not-a-jwt").subscribe("owner:alice").recv(10)
        assert info.value.status == 401
        close_clients()


# --------------------------------------------------------------------------- fork

def _pooled_ports(h) -> list[int]:
    """Local ports of the client's idle keep-alive connections (white-box, for the fork test)."""
    return sorted(c.sock.getsockname()[1] for conns in h._transport._idle.values() for c in conns if c.sock)


def test_a_forked_child_runs_a_task_on_its_own_connections(herald):
    """An RQ worker forks a work horse per job: the child must not use the parent's sockets
    or locks, and its heartbeat thread must run in the child."""
    server = herald()
    h = client(server.url)
    tid = h.create("created by the web app, run by a job", lease_s=0.6).id   # warms the pool too
    parent_ports = _pooled_ports(h)
    assert parent_ports
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:   # the work horse
        code = 1
        try:
            os.close(r)
            with h.attach(tid) as t:   # starts the queued task
                time.sleep(1.5)   # only the child's heartbeat thread keeps the lease
                t.result = {"pid": os.getpid()}
            os.write(w, json.dumps(_pooled_ports(h)).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    deadline = time.monotonic() + 30
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child did not finish its task within 30 s (a lock inherited from the parent?)")
        time.sleep(0.05)
    with os.fdopen(r) as f:
        child_ports = json.loads(f.read() or "[]")
    assert os.waitstatus_to_exitcode(done[1]) == 0
    assert child_ports and not set(child_ports) & set(parent_ports), (child_ports, parent_ports)
    task = h.get(tid)           # the parent's client still works, on its own connection
    assert _pooled_ports(h) == parent_ports
    assert task["status"] == "succeeded" and task["result"] == {"pid": pid} and task["stale"] is False
