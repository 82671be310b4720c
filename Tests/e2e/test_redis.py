"""Issue 15: several hosts on Redis. A real `redis-server` (started here on a free loopback port,
stopped by PID) and three `herald serve --redis` processes on their own ports, each its own
host as far as Herald knows: one truth and one seq across them, resume on another host,
leases and limits applied once, a host killed under load, Redis paused, restarted empty."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from conftest import ROOT
from services_support import RedisServer
from tasks_support import WS, Api, own_server

PUBLIC = ROOT / "public"


def host_args(redis: RedisServer, *extra: str) -> list[str]:
    return ["serve", "--host", "127.0.0.1", "--port", "0", "--public", str(PUBLIC), "--redis", redis.url,
            "--redis-timeout", "1", *extra]


@pytest.fixture
def redis(tmp_path):
    r = RedisServer(tmp_path / "redis").start()
    try:
        yield r
    finally:
        r.stop()


class Hosts:
    def __init__(self, redis: RedisServer, n: int = 3, *extra: str):
        self.cms = [own_server(host_args(redis, *extra), name=f"host {i}") for i in range(n)]
        self.hosts = [cm.__enter__() for cm in self.cms]
        self.apis = [Api(h.port) for h in self.hosts]

    def close(self):
        for cm in self.cms:
            cm.__exit__(None, None, None)


@pytest.fixture
def hosts(redis):
    h = Hosts(redis)
    try:
        yield h
    finally:
        h.close()


def test_three_hosts_one_truth_one_seq_and_resume_on_another_host(hosts):
    a, b, c = hosts.apis
    subs = [WS(h.port, "topic=tasks") for h in hosts.hosts]
    for s in subs:
        s.snapshot("tasks")
    a.create(id="job", title="Export orders.csv", total=100)
    assert b.post("/api/tasks/job/start").status == 200
    for done in range(10, 60, 10):
        assert hosts.apis[done // 10 % 3].post("/api/tasks/job/progress", {"done": done}).status == 200
    seen = []
    for s in subs:
        msgs = s.until(lambda m: m.get("task", {}).get("done") == 50, timeout=10)
        seen.append([(m["seq"], m["event"], m["task"]["done"]) for m in msgs if m["type"] == "task"])
    assert seen[0] == seen[1] == seen[2], seen
    assert [n for n, _, _ in seen[0]] == list(range(1, 8)), seen[0]
    answers = {api.get("/api/tasks/job").body for api in hosts.apis}
    assert len(answers) == 1, answers

    # Resume: a client that saw seq 4 on host A reconnects to host C with since=4.
    epoch = subs[0].log[0]["epoch"]
    for s in subs:
        s.close()
    with WS(hosts.hosts[2].port, f"topic=tasks&since=4&epoch={epoch}") as r:
        first = r.recv()
        assert first["type"] == "resumed" and first["since"] == 4, first
        assert [r.recv()["seq"] for _ in range(3)] == [5, 6, 7]


def test_fresh_connections_across_hosts_never_see_done_go_back(hosts):
    hosts.apis[0].create(id="poll", title="t", total=10_000)
    assert hosts.apis[1].post("/api/tasks/poll/start").status == 200
    stop = threading.Event()
    errors = []

    def report():
        n = 0
        while not stop.is_set():
            n += 1
            a = hosts.apis[n % 3].post("/api/tasks/poll/progress", {"done": n})
            if a.status != 200:
                errors.append(a)

    t = threading.Thread(target=report, daemon=True)
    t.start()
    last = -1
    try:
        for i in range(600):
            done = hosts.apis[i % 3].get("/api/tasks/poll").json["done"]
            assert done >= last, f"done went back from {last} to {done} on host {i % 3}"
            last = done
    finally:
        stop.set()
        t.join(10)
    assert not errors, errors[:3]
    assert last > 0


def test_each_lease_runs_out_once_whatever_hosts_sweep(hosts):
    with WS(hosts.hosts[0].port, "topic=tasks") as watcher:
        watcher.snapshot("tasks")
        for n in range(20):
            hosts.apis[n % 3].create(id=f"l{n}", title="silent worker", lease_s=1, expire_s=2)
            assert hosts.apis[(n + 1) % 3].post(f"/api/tasks/l{n}/start").status == 200
        msgs = watcher.until(lambda m: sum(1 for x in watcher.log if x.get("event") == "failed") == 20, timeout=15)
        msgs += watcher.quiet(1.5)
    events = [(m["task"]["id"], m["event"]) for m in msgs if m["type"] == "task"]
    for n in range(20):
        mine = [e for i, e in events if i == f"l{n}"]
        assert mine == ["created", "started", "stale", "failed"], (n, mine)
    failed = hosts.apis[2].get("/api/tasks/l0").json
    assert failed["error"]["code"] == "lease_expired"


def test_owner_limits_hold_across_hosts(redis):
    h = Hosts(redis, 3, "--owner-max-active", "2")
    try:
        a, b, c = h.apis
        a.create(id="x1", owner="alice")
        b.create(id="x2", owner="alice")
        third = c.post("/api/tasks", {"id": "x3", "title": "t", "owner": "alice"})
        assert third.status == 429 and third.json["error"]["code"] == "too_many_active", third
        a.post("/api/tasks/x1/cancel")
        c.create(id="x3", owner="alice")
    finally:
        h.close()


def test_a_host_killed_under_load_loses_nothing_acknowledged(hosts):
    acked: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def producer(k: int):
        n = 0
        while not stop.is_set():
            n += 1
            tid = f"p{k}-{n}"
            for attempt in range(20):
                api = hosts.apis[(k + attempt) % 3]
                try:
                    a = api.post("/api/tasks", {"id": tid, "title": "t", "total": 5})
                except OSError:
                    continue
                if a.status in (201, 409):
                    with lock:
                        acked[tid] = 0
                    break
            for done in range(1, 6):
                for attempt in range(20):
                    try:
                        a = hosts.apis[(k + attempt + done) % 3].post(f"/api/tasks/{tid}/start" if done == 1 else
                                                                      f"/api/tasks/{tid}/progress",
                                                                      None if done == 1 else {"done": done})
                    except OSError:
                        continue
                    if a.status == 200:
                        with lock:
                            acked[tid] = 1 if done == 1 else done
                        break
                    if a.status == 409:
                        break

    threads = [threading.Thread(target=producer, args=(k,), daemon=True) for k in range(3)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    hosts.hosts[0].kill()
    time.sleep(1.5)
    stop.set()
    for t in threads:
        t.join(30)
    survivor = hosts.apis[1]
    tasks = {t["id"]: t for t in survivor.get("/api/tasks?limit=100000").json["tasks"]}
    lost = [(tid, done, tasks.get(tid)) for tid, done in acked.items()
            if tid not in tasks or (done > 1 and tasks[tid]["done"] < done)]
    assert not lost, lost[:5]
    assert len(acked) > 20


def test_redis_paused_answers_503_in_time_and_subscribers_stay(redis, hosts):
    a = hosts.apis[0]
    a.create(id="z", title="t")
    with WS(hosts.hosts[1].port, "topic=tasks") as sub:
        sub.snapshot("tasks")
        os.kill(redis.pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            r = a.post("/api/tasks/z/start")
            took = time.monotonic() - t0
            assert r.status == 503 and r.json["error"]["code"] == "storage_unavailable", r
            assert took < 2, took  # --redis-timeout 1
            assert a.get("/api/tasks/z").json["status"] == "queued"  # reads go on from the mirror
        finally:
            os.kill(redis.pid, signal.SIGCONT)
        deadline = time.monotonic() + 10
        while a.post("/api/tasks/z/start").status != 200:
            assert time.monotonic() < deadline, "no recovery after SIGCONT"
            time.sleep(0.2)
        m = sub.until(lambda m: m.get("event") == "started", timeout=10)[-1]
        assert m["task"]["seq"] == 2, m    # the refused start was never applied


def test_redis_restarted_empty_is_a_new_epoch(tmp_path):
    redis = RedisServer(tmp_path / "redis").start()
    h = Hosts(redis, 2)
    try:
        a, b = h.apis
        a.create(id="gone", title="t")
        with WS(h.hosts[1].port, "topic=tasks") as sub:
            snap = sub.snapshot("tasks")
            port = redis.port
            redis.stop(signal.SIGKILL)
            redis2 = RedisServer(tmp_path / "redis2")
            redis2.port = port
            redis2._spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                           "--dir", str(tmp_path)])
            try:
                # The host's subscribers are told to resume; resuming gives recovered:false.
                with pytest.raises(Exception):
                    sub.until(lambda m: False, timeout=10)
                with WS(h.hosts[1].port, f"topic=tasks&since={snap['seq']}&epoch={snap['epoch']}") as again:
                    s = again.snapshot("tasks")
                    assert s["recovered"] is False and s["epoch"] != snap["epoch"], s
                assert b.get("/api/tasks/gone").status == 404
                created = a.create(id="new", title="t")
                assert created["seq"] > snap["seq"]
            finally:
                redis2.stop()
    finally:
        h.close()


def test_workers_each_use_redis_and_no_broker_runs(redis):
    from proc_support import children, role
    with own_server(host_args(redis, "--workers", "2"), name="supervisor") as sup, \
            own_server(host_args(redis), name="other host") as other:
        kids = children(sup.proc.pid)
        roles = sorted(role(argv) or str(argv) for argv in kids.values())
        assert roles == ["worker", "worker"], kids
        assert all("--redis" in argv and "--broker" not in argv for argv in kids.values()), kids
        with WS(other.port, "topic=tasks") as sub:
            sub.snapshot("tasks")
            api = Api(sup.port)
            for n in range(6):   # fresh connections: the kernel spreads them over both workers
                api.create(id=f"w{n}", title="t")
            got = sub.until(lambda m: m.get("task", {}).get("id") == "w5", timeout=10)
            assert [m["seq"] for m in got if m["type"] == "task"] == list(range(1, 7))
        assert Api(other.port).get("/api/tasks/w3").status == 200


def test_a_bad_url_or_an_unreachable_redis_is_a_clear_error_at_start(tmp_path):
    import subprocess
    from conftest import herald_bin
    HERALD_BIN = str(herald_bin())
    from tasks_support import free_port
    bad = subprocess.run([HERALD_BIN, "serve", "--port", "0", "--redis", "http://127.0.0.1:6379"],
                         capture_output=True, text=True, timeout=20)
    assert bad.returncode != 0 and "must start with redis://" in bad.stderr, bad.stderr
    both = subprocess.run([HERALD_BIN, "serve", "--port", "0", "--redis", "redis://127.0.0.1:1", "--broker", "/tmp/x.sock"],
                          capture_output=True, text=True, timeout=20)
    assert both.returncode != 0 and "give one" in both.stderr, both.stderr
    t0 = time.monotonic()
    away = subprocess.run([HERALD_BIN, "serve", "--port", "0", "--redis", f"redis://127.0.0.1:{free_port()}", "--redis-timeout", "1"],
                          capture_output=True, text=True, timeout=20)
    took = time.monotonic() - t0
    assert away.returncode == 1 and "could not be reached within --redis-timeout 1" in away.stderr, away.stderr
    assert 0.9 < took < 5, took


def test_redis_restarted_with_its_data_keeps_the_epoch_and_every_acknowledged_change(tmp_path):
    """appendonly yes + appendfsync always, kill -9, restart on the same files: the hosts wait
    out LOADING, keep their epoch (no 1012), and every 2xx is there."""
    import subprocess
    from services_support import binary
    from tasks_support import free_port
    port = free_port()
    data = tmp_path / "aof"
    data.mkdir()
    args = [binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--save", "",
            "--appendonly", "yes", "--appendfsync", "always"]

    def start_redis():
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            r = subprocess.run([binary("redis-cli"), "-p", str(port), "ping"], capture_output=True, text=True)
            if r.stdout.strip() == "PONG":
                return p
            time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    proc = start_redis()
    url = f"redis://127.0.0.1:{port}/0"
    args_host = ["serve", "--host", "127.0.0.1", "--port", "0", "--public", str(PUBLIC), "--redis", url, "--redis-timeout", "2"]
    try:
        with own_server(args_host, name="host a") as a_host, own_server(args_host, name="host b") as b_host:
            a, b = Api(a_host.port), Api(b_host.port)
            for n in range(20):
                a.create(id=f"k{n}", title="t", total=10)
                assert b.post(f"/api/tasks/k{n}/start").status == 200
            with WS(b_host.port, "topic=tasks") as sub:
                snap = sub.snapshot("tasks")
                proc.kill()
                proc.wait()
                proc = start_redis()
                deadline = time.monotonic() + 15
                while True:
                    r = a.post("/api/tasks/k0/progress", {"done": 5})
                    if r.status == 200:
                        break
                    assert time.monotonic() < deadline, r
                    time.sleep(0.2)
                m = sub.until(lambda m: m.get("event") == "progress", timeout=10)[-1]
                assert m["seq"] == snap["seq"] + 1, (m["seq"], snap["seq"])   # same epoch, no gap, no 1012
            tasks = {t["id"]: t for t in b.get("/api/tasks?limit=1000").json["tasks"]}
            assert all(tasks[f"k{n}"]["status"] == "running" for n in range(20))
            with WS(a_host.port, f"topic=tasks&since={snap['seq']}&epoch={snap['epoch']}") as again:
                assert again.recv()["type"] == "resumed"
    finally:
        proc.kill()
        proc.wait()


def test_redis_import_moves_a_store_keeping_seq_and_epoch(redis, tmp_path):
    import subprocess
    from conftest import herald_bin
    data = tmp_path / "data"
    with own_server(["serve", "--host", "127.0.0.1", "--port", "0", "--public", str(PUBLIC), "--data", str(data)],
                    name="sqlite herald") as h:
        api = Api(h.port)
        for n in range(5):
            api.create(id=f"m{n}", title="t", total=10, owner="alice")
            api.post(f"/api/tasks/m{n}/start")
        with WS(h.port, "topic=tasks") as sub:
            snap = sub.snapshot("tasks")
        api.post("/api/tasks/m0/progress", {"done": 3})
        api.post("/api/tasks/m1/complete")
        before = {t["id"]: t for t in api.get("/api/tasks").json["tasks"]}
        assert h.stop() == 0
    run = subprocess.run([str(herald_bin()), "redis-import", "--data", str(data), "--redis", redis.url],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert f"imported 5 tasks" in run.stdout and f"epoch {snap['epoch']} kept" in run.stdout, run.stdout
    again = subprocess.run([str(herald_bin()), "redis-import", "--data", str(data), "--redis", redis.url],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "already holds a Herald store" in again.stderr, again.stderr
    with own_server(host_args(redis), name="redis host") as host:
        after = {t["id"]: t for t in Api(host.port).get("/api/tasks").json["tasks"]}
        assert after == before
        # A client of the old server resumes on the Redis host: same epoch, exactly what it missed.
        with WS(host.port, f"topic=tasks&since={snap['seq']}&epoch={snap['epoch']}") as r:
            assert r.recv()["type"] == "resumed"
            missed = [r.recv() for _ in range(2)]
            assert [(m["event"], m["task"]["id"]) for m in missed] == [("progress", "m0"), ("succeeded", "m1")]
        created = Api(host.port).create(id="next", title="t")
        assert created["seq"] == snap["seq"] + 3
