"""`herald serve --workers N`: a supervisor process that serves no HTTP itself, starts a broker
(unless one runs on the socket) and N `herald worker` processes sharing one port through
SO_REUSEPORT, restarts whichever dies, and stops them all on SIGTERM. Real processes, found
through /proc (cmdline, and ppid from stat); every wait is bounded."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import Herald, herald_bin
from proc_support import alive, children, cmdline, role, wait_for
from tasks_support import WS, Api, unique_id

RESTART_TIMEOUT = 10.0  # the first restart waits 0.1 s; a worker starts in well under a second


# --------------------------------------------------------------------------- /proc

def workers(sup: Herald) -> dict[int, list[str]]:
    return {pid: argv for pid, argv in children(sup.proc.pid).items() if role(argv) == "worker"}


def brokers(sup: Herald) -> dict[int, list[str]]:
    return {pid: argv for pid, argv in children(sup.proc.pid).items() if role(argv) == "broker"}


def brokers_on(socket_path: str) -> list[int]:
    """Every `herald broker` process on this machine serving `socket_path`."""
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and alive(int(e))
            and role(argv := cmdline(int(e))) == "broker" and socket_path in argv]


def wait_gone(pids, timeout: float) -> list[int]:
    """The pids still alive after `timeout` (empty when all went)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


# --------------------------------------------------------------------------- HTTP with retries

RETRIED = (ConnectionError, http.client.HTTPException, TimeoutError, OSError)


def call_retrying(api: Api, method: str, path: str, body=None, timeout: float = 5.0, retry_503: bool = False):
    """One request; a refused or reset connection (a worker just killed: the connections in its
    accept queue are reset) is retried for up to `timeout` seconds, and so is a 503 when asked."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = api.call(method, path, body, timeout=5)
            if not (retry_503 and answer.status == 503) or time.monotonic() >= deadline:
                return answer
        except RETRIED:
            if time.monotonic() >= deadline:
                raise
        time.sleep(0.05)


# --------------------------------------------------------------------------- fixtures

@pytest.fixture
def tmpdir_short():
    """A private directory with a short path: the broker socket must fit in sun_path (107 bytes)."""
    d = tempfile.mkdtemp(prefix="hsv-")
    os.chmod(d, 0o700)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def supervisor_args(site, data: str, *extra: str, workers: int = 3, port: str = "0") -> list[str]:
    return ["serve", "--workers", str(workers), "--host", "127.0.0.1", "--port", port,
            "--public", str(site.public), "--data", data, *extra]


def listening_lines(sup: Herald) -> list[str]:
    return [line for line in sup.stderr_lines if line.startswith("listening on ")]


# --------------------------------------------------------------------------- tests

def test_three_workers_and_a_broker_serve_one_port(herald, site, tmpdir_short):
    sup = herald(raw_args=supervisor_args(site, os.path.join(tmpdir_short, "data")), name="supervisor")
    assert listening_lines(sup) == [f"listening on http://127.0.0.1:{sup.port}"]
    found = workers(sup)
    assert len(found) == 3, children(sup.proc.pid)
    assert len(brokers(sup)) == 1, children(sup.proc.pid)
    for argv in found.values():  # what `ps -o args` shows
        assert argv[:4] == ["herald", "worker", "--port", str(sup.port)], argv
    assert sorted(argv[argv.index("--worker-index") + 1] for argv in found.values()) == ["1", "2", "3"]
    api = Api(sup.port)
    tid = unique_id("sup")
    created = api.create(id=tid, title="through any worker")
    # Fresh connections are spread by the kernel over the workers: every one sees the same task.
    seen = [api.task(tid) for _ in range(30)]
    assert {t["seq"] for t in seen} == {created["seq"]}
    assert all(t["title"] == "through any worker" for t in seen)
    time.sleep(0.3)
    assert listening_lines(sup) == [f"listening on http://127.0.0.1:{sup.port}"]  # still exactly one


def test_a_killed_worker_is_restarted_and_the_service_keeps_answering(herald, site, tmpdir_short):
    sup = herald(raw_args=supervisor_args(site, ":memory:"), name="supervisor")
    api = Api(sup.port)
    tid = unique_id("kill-worker")
    api.create(id=tid, title="survives a worker")
    before = workers(sup)
    victim = sorted(before)[1]
    index = before[victim][before[victim].index("--worker-index") + 1]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + RESTART_TIMEOUT
    replacement = None
    answered = 0
    while time.monotonic() < deadline:
        # The service answers throughout: a reset connection is retried briefly, never longer.
        assert call_retrying(api, "GET", f"/api/tasks/{tid}", timeout=2).status == 200
        answered += 1
        now = workers(sup)
        new = [pid for pid in now if pid not in before]
        if len(now) == 3 and new:
            replacement = new[0]
            break
        time.sleep(0.02)
    assert replacement is not None, f"no new worker within {RESTART_TIMEOUT}s: {children(sup.proc.pid)}"
    argv = workers(sup)[replacement]
    assert argv[:2] == ["herald", "worker"]
    assert argv[argv.index("--worker-index") + 1] == index
    assert argv[argv.index("--restarts") + 1] == "1"
    wait_for(lambda: any(f"worker {index} (pid {victim}) killed by signal 9; restarting in 0.1 s" in line
                         for line in sup.stderr_lines), 5, "the restart in the supervisor's log")
    assert answered > 0
    assert len(listening_lines(sup)) == 1  # a restarted worker does not print the line again
    for _ in range(20):
        assert call_retrying(api, "GET", f"/api/tasks/{tid}", timeout=2).status == 200


def test_a_killed_broker_is_restarted_and_tasks_survive(herald, site, tmpdir_short):
    sup = herald(raw_args=supervisor_args(site, os.path.join(tmpdir_short, "data"), workers=2), name="supervisor")
    api = Api(sup.port)
    tid = unique_id("kill-broker")
    created = api.create(id=tid, title="written before the broker died")  # a lifecycle change: fsync'd
    (old,) = brokers(sup)
    os.kill(old, signal.SIGKILL)
    new = wait_for(lambda: [p for p in brokers(sup) if p != old], RESTART_TIMEOUT, "a new broker")
    assert new
    wait_for(lambda: any(f"broker (pid {old}) killed by signal 9; restarting in" in line for line in sup.stderr_lines),
             5, "the broker restart in the log")
    # Workers reconnect by themselves; meanwhile changes get 503 broker_unavailable.
    answer = call_retrying(api, "POST", f"/api/tasks/{tid}/start", {}, timeout=15, retry_503=True)
    assert answer.status == 200, answer
    assert answer.json["seq"] > created["seq"]
    got = call_retrying(api, "GET", f"/api/tasks/{tid}", timeout=5, retry_503=True)
    assert got.status == 200 and got.json["title"] == "written before the broker died"


def test_sigterm_stops_everything_and_a_restart_continues(herald, site, tmpdir_short):
    data = os.path.join(tmpdir_short, "data")
    sup = herald(raw_args=supervisor_args(site, data, workers=2), name="supervisor one")
    api = Api(sup.port)
    tid = unique_id("restart")
    api.create(id=tid, title="kept across a restart")
    with WS(sup.port, "topic=tasks") as ws:
        first = ws.snapshot()
    family = list(children(sup.proc.pid))
    assert len(family) == 3
    t0 = time.monotonic()
    assert sup.stop(timeout=15) == 0, sup.log_tail()
    assert time.monotonic() - t0 < 15
    assert wait_gone(family, 2) == [], "children outlived the supervisor"
    assert brokers_on(os.path.join(data, "broker.sock")) == []

    again = herald(raw_args=supervisor_args(site, data, workers=2), name="supervisor two")
    api = Api(again.port)
    assert api.task(tid)["title"] == "kept across a restart"
    with WS(again.port, "topic=tasks") as ws:
        second = ws.snapshot()
    # The broker was stopped with SIGTERM and recorded a clean shutdown: same epoch, seq goes on.
    assert second["epoch"] == first["epoch"]
    assert second["seq"] == first["seq"]
    assert api.create(title="after the restart")["seq"] > first["seq"]


def test_killing_the_supervisor_stops_its_children(site, tmpdir_short):
    sup = Herald(supervisor_args(site, os.path.join(tmpdir_short, "data"), workers=2), name="supervisor")
    family = []
    try:
        sup.start()
        family = list(children(sup.proc.pid))
        assert len(family) == 3
        sup.proc.kill()
        sup.proc.wait(5)
        # PR_SET_PDEATHSIG: each child gets SIGTERM from the kernel and stops by itself.
        assert wait_gone(family, 10) == [], [(p, cmdline(p)) for p in family if alive(p)]
    finally:
        sup.kill()
        for pid in family:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def unix_socket_names() -> set[str]:
    """Every bound Unix socket name on this machine, abstract ones as `@name` (/proc/net/unix)."""
    with open("/proc/net/unix") as f:
        return {fields[7] for fields in (line.split() for line in f.readlines()[1:]) if len(fields) >= 8}


def test_killing_a_memory_supervisor_leaves_no_broker_socket_behind(site):
    """`--workers N --data :memory:` and no --broker: the broker's socket is a name in Linux's
    abstract namespace, so kill -9 of the whole tree leaves nothing (a private temporary
    directory with the socket and its lock file used to stay in /tmp)."""
    sup = Herald(supervisor_args(site, ":memory:", workers=2), name="supervisor")
    family = []
    try:
        sup.start()
        family = list(children(sup.proc.pid))
        assert len(family) == 3
        [broker_argv] = brokers(sup).values()
        socket_path = broker_argv[broker_argv.index("--socket") + 1]
        # The workers reach the broker through it: the service works.
        assert call_retrying(Api(sup.port), "GET", "/api/tasks").status == 200
        sup.proc.kill()
        sup.proc.wait(5)
        assert wait_gone(family, 10) == [], [(p, cmdline(p)) for p in family if alive(p)]
        if not socket_path.startswith("@"):
            leftover = os.path.dirname(socket_path)
            assert not os.path.exists(leftover), (leftover, os.listdir(leftover))
        # An abstract name: nothing on disk, and the kernel freed it with the broker's sockets.
        assert socket_path.startswith("@herald-broker-"), broker_argv
        wait_for(lambda: socket_path not in unix_socket_names(), 5, f"{socket_path} freed")
    finally:
        sup.kill()
        for pid in family:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("value", ["0", "65", "three", "-1"])
def test_a_worker_count_out_of_range_is_refused(value, site):
    done = subprocess.run([str(herald_bin()), "serve", "--workers", value, "--port", "0", "--data", ":memory:",
                           "--public", str(site.public)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 64, done
    assert "--workers" in done.stderr, done.stderr
    assert "listening on" not in done.stderr


def test_two_supervisors_on_one_broker_socket_share_it(herald, site, tmpdir_short):
    socket_path = os.path.join(tmpdir_short, "broker.sock")
    data = os.path.join(tmpdir_short, "data")
    a = herald(raw_args=supervisor_args(site, data, "--broker", socket_path, workers=2), name="supervisor A")
    b = herald(raw_args=supervisor_args(site, data, "--broker", socket_path, workers=2), name="supervisor B")
    assert a.port != b.port
    assert len(brokers_on(socket_path)) == 1, brokers_on(socket_path)
    assert len(brokers(a)) == 1 and brokers(b) == {}
    assert any("using the broker already running on" in line for line in b.stderr_lines), b.log_tail()
    tid = unique_id("shared")
    created = Api(a.port).create(id=tid, title="one broker for both")
    assert Api(b.port).task(tid)["seq"] == created["seq"]


def test_a_port_in_use_is_refused(herald, site, tmpdir_short):
    first = herald(raw_args=supervisor_args(site, ":memory:", workers=2), name="first supervisor")
    family = list(children(first.proc.pid))
    second = subprocess.run([str(herald_bin()), *supervisor_args(site, ":memory:", workers=2, port=str(first.port))],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert second.returncode == 1, second
    assert re.search(rf"cannot listen on 127\.0\.0\.1:{first.port}: address already in use", second.stderr, re.I), second.stderr
    assert "listening on http" not in second.stderr
    assert all(alive(p) for p in family)  # the first one is untouched
    assert Api(first.port).get("/healthz").status == 200


def test_two_supervisors_started_at_once_end_with_one_broker(herald, site, tmpdir_short):
    """Both may find the lock free and start a broker: the loser exits 1 ("another broker is
    already running"), and its supervisor uses the winner's instead of restarting its own."""
    socket_path = os.path.join(tmpdir_short, "broker.sock")
    data = os.path.join(tmpdir_short, "data")
    pair = [herald(raw_args=supervisor_args(site, data, "--broker", socket_path, workers=1), name=f"supervisor {n}",
                   wait=False) for n in "AB"]
    for sup in pair:
        sup.wait_listening()
    assert len(brokers_on(socket_path)) == 1, brokers_on(socket_path)
    assert sorted(len(brokers(sup)) for sup in pair) == [0, 1]
    time.sleep(1.5)  # no restart loop: still one broker, and nobody logged a restart
    assert len(brokers_on(socket_path)) == 1
    assert not any("restarting" in line for sup in pair for line in sup.stderr_lines)
    tid = unique_id("race")
    created = Api(pair[0].port).create(id=tid, title="one broker for both")
    assert Api(pair[1].port).task(tid)["seq"] == created["seq"]


def test_when_an_external_broker_goes_away_the_supervisor_starts_its_own(herald, site, tmpdir_short):
    socket_path = os.path.join(tmpdir_short, "broker.sock")
    data = os.path.join(tmpdir_short, "data")
    external = subprocess.Popen([str(herald_bin()), "broker", "--socket", socket_path, "--data", data],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(socket_path), 20, "the external broker's socket")
        sup = herald(raw_args=supervisor_args(site, data, "--broker", socket_path, workers=2), name="supervisor")
        assert brokers(sup) == {}
        api = Api(sup.port)
        tid = unique_id("external")
        api.create(id=tid, title="made through the external broker")
        external.send_signal(signal.SIGTERM)
        assert external.wait(10) == 0
        ours = wait_for(lambda: brokers(sup), RESTART_TIMEOUT, "the supervisor's own broker")
        assert len(ours) == 1
        answer = call_retrying(api, "POST", f"/api/tasks/{tid}/start", {}, timeout=15, retry_503=True)
        assert answer.status == 200, answer
    finally:
        if external.poll() is None:
            external.kill()
            external.wait(5)


def test_a_worker_that_cannot_start_fails_the_start(site, tmpdir_short):
    args = supervisor_args(site, ":memory:", workers=2)
    args[args.index("--public") + 1] = os.path.join(tmpdir_short, "no-such-dir")
    t0 = time.monotonic()
    done = subprocess.run([str(herald_bin()), *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done
    assert re.search(r"herald: worker \d \(pid \d+\) exited with status 1 before listening", done.stderr), done.stderr
    assert "listening on http" not in done.stderr
    assert time.monotonic() - t0 < 20
