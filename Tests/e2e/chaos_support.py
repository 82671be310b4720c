"""Chaos under load, shared by Tests/e2e/test_chaos.py (about a minute) and bench/chaos (minutes):
`herald serve --workers N --data DIR` with DIR on a small tmpfs; producer threads that create,
start, progress, complete/fail/cancel and retry tasks and record every change acknowledged with
a 2xx; WebSocket subscribers (asyncio, one loop) that resume with `since=`/`epoch=` after any
drop and check every message as it comes; a chaos loop that kill -9s a random worker or the
broker every few seconds and once fills the disk for a few seconds. At the end (chaos stopped,
producers done, subscribers caught up) `run_chaos` returns a `ChaosReport` whose `problems` lists
every broken guarantee: an acknowledged change missing from the API's final state, `done` going
back within an attempt or a terminal task changing without a retry as a subscriber saw it, a
seq seen twice or out of order within an epoch, a task event that is not a legal transition from
the state the subscriber holds (so a missed lifecycle event shows), a subscriber's final state
different from the API's, a process tree that is not one supervisor with its workers and broker.

Seqs skipped on topic `tasks` are counted, not failed: a subscriber whose queue is behind gets a
task's queued `progress` replaced by its newer one (docs/protocol.md, slow subscribers), which is
what happens after a broker restart when every subscriber takes a snapshot of thousands of tasks
at once. Lifecycle events are never replaced, and the transition check proves none was missed."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cluster_support import Cluster, Producer
from conftest import ROOT, _started
from proc_support import children, proc_stat, role
from store_fault_support import disk

TERMINAL = ("succeeded", "failed", "cancelled")
RANK = {"queued": 0, "running": 1, "cancelling": 1.5, "succeeded": 2, "failed": 2, "cancelled": 2}
# The contract's transition table as a subscriber sees it: event → the statuses it may follow
# (None: a task the subscriber does not hold yet) and the status it leads to (None: unchanged).
TRANSITIONS = {
    "created": ((None,), "queued"),
    "started": (("queued",), "running"),
    "progress": (("running", "cancelling"), None),
    "stale": (("running", "cancelling"), None),
    "succeeded": (("running",), "succeeded"),
    "failed": (("running", "cancelling"), "failed"),
    "cancelling": (("running",), "cancelling"),
    "cancelled": (("queued", "running", "cancelling"), "cancelled"),
    "retried": (("failed", "cancelled"), "queued"),
}


@dataclass
class Change:
    """One change a producer made: acknowledged (a 2xx, the fields from its answer) or not (an
    answer that was not 2xx after a retry: it may or may not have been applied)."""
    task: str
    event: str
    acked: bool
    done: float = 0
    attempt: int = 0
    status: str = ""


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.changes: dict[str, list[Change]] = {}
        self.owner: dict[str, str] = {}

    def add(self, c: Change):
        with self.lock:
            self.changes.setdefault(c.task, []).append(c)

    def acked(self) -> int:
        with self.lock:
            return sum(1 for cs in self.changes.values() for c in cs if c.acked)


def view(t: dict) -> tuple:
    return (t["status"], t["done"], t["attempt"], t["seq"])


class ChaosSubscriber:
    """One topic's subscriber that resumes by itself and checks each message online (it keeps
    no message log: 500 of them over minutes would be large)."""

    def __init__(self, topic: str, skip_on_resume: int = 0):
        self.topic = topic
        self.contiguous = topic == "tasks"   # every seq is an event of topic `tasks`
        self.skipped = 0                      # seqs not seen on `tasks`: progress replaced (slow reader)
        self.skip_on_resume = skip_on_resume  # >0 only to show the checks fail
        self.state: dict[str, dict] = {}
        self.since: int | None = None
        self.epoch: str | None = None
        self.last_seq: dict[str, int] = {}    # epoch → highest seq seen in it
        self.seen: dict[str, tuple] = {}      # task → (attempt, rank, status, done) last seen
        self.problems: list[str] = []
        self.events = self.snapshots = self.resumes = self.recovered_false = self.connections = 0
        self.broker_unavailable = 0
        self.ready = asyncio.Event()

    def problem(self, text: str):
        if len(self.problems) < 20:
            self.problems.append(f"{self.topic}: {text}")

    def observe(self, t: dict, where: str):
        tid = t["id"]
        new = (t["attempt"], RANK[t["status"]], t["status"], t["done"])
        old = self.seen.get(tid)
        if old is not None:
            if new[0] < old[0]:
                self.problem(f"{tid} attempt went back {old} → {new} ({where})")
            elif new[0] == old[0]:
                if new[3] < old[3]:
                    self.problem(f"{tid} done went back within attempt {new[0]}: {old[3]} → {new[3]} ({where})")
                if old[2] in TERMINAL and new[2] != old[2]:
                    self.problem(f"{tid} terminal {old[2]} became {new[2]} without a retry ({where})")
                if new[1] < old[1]:
                    self.problem(f"{tid} status went back {old[2]} → {new[2]} in attempt {new[0]} ({where})")
        self.seen[tid] = new

    def check_transition(self, m: dict, n: int):
        task = m["task"]
        held = self.state.get(task["id"])
        before = held["status"] if held is not None else None
        legal = TRANSITIONS.get(m["event"])
        if legal is None:
            self.problem(f"seq {n}: unknown event {m['event']!r}")
            return
        after = legal[1] or before
        if before not in legal[0] or task["status"] != after:
            self.problem(f"seq {n}: {task['id']} `{m['event']}` to {task['status']} from {before} "
                         f"(a lifecycle event missed?)")

    def apply(self, m: dict):
        t = m.get("type")
        if t == "snapshot":
            self.snapshots += 1
            if not m["recovered"]:
                self.recovered_false += 1
            e, n = m["epoch"], m["seq"]
            if n < self.last_seq.get(e, -1):
                self.problem(f"snapshot seq {n} below {self.last_seq[e]} already seen in epoch {e}")
            self.last_seq[e] = max(n, self.last_seq.get(e, n))
            self.epoch, self.since = e, n
            # A snapshot replaces the state (recovered:false means the old one is no longer valid).
            self.state = {task["id"]: task for task in m["tasks"]}
            for task in m["tasks"]:
                self.observe(task, f"snapshot seq {n}")
        elif t == "resumed":
            self.resumes += 1
            if m["since"] != self.since + self.skip_on_resume or m["epoch"] != self.epoch:
                self.problem(f"resumed {m} after asking since={self.since} epoch={self.epoch}")
        elif t in ("task", "removed"):
            self.events += 1
            n, e = m["seq"], self.epoch
            last = self.last_seq.get(e, -1)
            if n <= last:
                self.problem(f"seq {n} after {last} in epoch {e}: twice or out of order")
            elif self.contiguous and n != last + 1 and last >= 0:
                self.skipped += n - last - 1
            self.last_seq[e] = max(n, last)
            self.since = n
            if t == "task":
                self.check_transition(m, n)
                self.state[m["task"]["id"]] = m["task"]
                self.observe(m["task"], f"event seq {n}")
            else:
                self.state.pop(m["id"], None)
        elif t == "error" and m.get("code") == "broker_unavailable":
            # The subscription was not made (the broker restarting): reconnect and resume.
            self.broker_unavailable += 1
            return "retry"
        elif t == "error":
            self.problem(f"error message {m}")

    async def run(self, port: int):
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        while True:
            query = f"topic={self.topic}"
            if self.since is not None:
                query += f"&since={self.since + self.skip_on_resume}&epoch={self.epoch}"
            try:
                async with connect(f"ws://127.0.0.1:{port}/ws?{query}", open_timeout=10, max_size=None,
                                   ping_interval=None, close_timeout=1) as ws:
                    self.connections += 1
                    async for raw in ws:
                        if self.apply(json.loads(raw)) == "retry":
                            break
                        self.ready.set()
            except (WebSocketException, OSError, asyncio.TimeoutError):
                pass
            # Dropped (a worker killed, 1012 after a broker restart): back off with jitter.
            await asyncio.sleep(0.05 + random.random() * 0.2)


@dataclass
class ChaosReport:
    duration_s: float = 0
    kills: dict[str, int] = field(default_factory=lambda: {"worker": 0, "broker": 0})
    disk_fills: int = 0
    store_failing_seen: bool = False
    store_failing_after_s: float = 0
    tasks: int = 0
    acked: int = 0
    ambiguous: int = 0
    refused_503: int = 0
    retries: int = 0
    events_checked: int = 0
    snapshots: int = 0
    recovered_false: int = 0
    resumes: int = 0
    connections: int = 0
    broker_unavailable: int = 0
    subscribers: int = 0
    skipped_on_tasks: int = 0
    lost: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"chaos {self.duration_s:.0f}s: kills worker={self.kills['worker']} broker={self.kills['broker']}, "
                f"disk fills={self.disk_fills} (store failing seen: {self.store_failing_seen}, "
                f"{self.store_failing_after_s:.1f}s after the fill), "
                f"tasks={self.tasks}, changes acknowledged={self.acked} (+{self.ambiguous} unanswered), "
                f"refused 503={self.refused_503}, retries={self.retries}, "
                f"subscribers={self.subscribers}, connections={self.connections}, events checked={self.events_checked}, "
                f"snapshots={self.snapshots} (recovered:false {self.recovered_false}), resumes={self.resumes}, "
                f"seqs skipped on `tasks` (progress replaced for a reader behind)={self.skipped_on_tasks}, "
                f"broker_unavailable errors (resubscribed)={self.broker_unavailable}, "
                f"lost={self.lost}, problems={len(self.problems)}")


def get_json(port: int, path: str, timeout: float = 20):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        conn.close()


def producer_loop(port: int, name: str, owners: list[str], stop: threading.Event, ledger: Ledger,
                  problems: list[str], pause: float, seed: int) -> Producer:
    """Task after task until `stop`: create → start → progress ×k → complete | fail | cancel,
    and a retry (→ start → progress → complete) of some failed or cancelled ones."""
    rnd = random.Random(seed)
    p = Producer(port)
    n = 0

    def step(tid: str, method: str, path: str, body, event: str, ok: int = 200):
        """The change; True when acknowledged. Not 2xx after a retry: recorded as unanswered,
        and the producer goes on from the task's real state (None)."""
        status, answer, retried = p.call(method, path, body)
        if status == ok:
            ledger.add(Change(tid, event, True, answer["done"], answer["attempt"], answer["status"]))
            return True
        if retried and status in (409,):
            ledger.add(Change(tid, event, False))
            return None
        problems.append(f"{name}: {event} {tid} answered {status} {answer} (retried={retried})")
        return False

    def progress(tid: str, total: int):
        for done in range(rnd.randint(1, 3), total + 1, rnd.randint(2, 6)):
            if stop.is_set():
                return
            r = step(tid, "POST", f"/api/tasks/{tid}/progress", {"done": done}, "progress")
            if r is not True:
                return
            time.sleep(pause)

    while not stop.is_set():
        n += 1
        tid = f"{name}-{n}"
        owner = owners[rnd.randrange(len(owners))]
        with ledger.lock:
            ledger.owner[tid] = owner
        total = rnd.randint(5, 40)
        if not step(tid, "POST", "/api/tasks", {"id": tid, "title": "chaos", "owner": owner, "total": total,
                                                "lease_s": 3600}, "created", ok=201):
            continue
        if not step(tid, "POST", f"/api/tasks/{tid}/start", {}, "started"):
            continue
        progress(tid, total)
        end = rnd.random()
        if end < 0.6:
            step(tid, "POST", f"/api/tasks/{tid}/complete", {}, "succeeded")
            continue
        if end < 0.8:
            r = step(tid, "POST", f"/api/tasks/{tid}/fail", {"error": {"code": "chaos", "message": "chaos"}}, "failed")
        else:  # running → cancelling, the worker confirms → cancelled
            r = step(tid, "POST", f"/api/tasks/{tid}/cancel", {}, "cancelling") and \
                step(tid, "POST", f"/api/tasks/{tid}/cancelled", {}, "cancelled")
        if r is not True or rnd.random() < 0.3:
            continue
        if step(tid, "POST", f"/api/tasks/{tid}/retry", {}, "retried") and \
                step(tid, "POST", f"/api/tasks/{tid}/start", {}, "started"):
            progress(tid, total)
            step(tid, "POST", f"/api/tasks/{tid}/complete", {}, "succeeded")
    p.close()
    return p


def check_acknowledged(ledger: Ledger, truth: dict[str, dict]) -> tuple[int, list[str]]:
    """Every acknowledged change is in the final state: the task exists; in the same attempt its
    status is not behind (a terminal one is the very same) and `done` ≥ the acknowledged one; a
    later attempt only if a later retry (acknowledged or not) explains it."""
    lost, problems = 0, []
    for tid, changes in ledger.changes.items():
        t = truth.get(tid)
        for i, c in enumerate(changes):
            if not c.acked:
                continue
            why = None
            if t is None:
                why = "task missing"
            elif t["attempt"] < c.attempt:
                why = f"attempt {t['attempt']} < acknowledged {c.attempt}"
            elif t["attempt"] > c.attempt:
                if not any(later.event == "retried" for later in changes[i + 1:]):
                    why = f"attempt {t['attempt']} > {c.attempt} with no later retry"
            elif t["done"] < c.done:
                why = f"done {t['done']} < acknowledged {c.done}"
            elif c.status in TERMINAL and t["status"] != c.status:
                why = f"status {t['status']} but {c.status} was acknowledged"
            elif RANK[t["status"]] < RANK[c.status]:
                why = f"status {t['status']} behind acknowledged {c.status}"
            if why:
                lost += 1
                if len(problems) < 30:
                    problems.append(f"lost: {tid} {c.event} (done={c.done} attempt={c.attempt} {c.status}): {why}")
    return lost, problems


def check_tree(cluster: Cluster, workers: int, killed: list[int]) -> list[str]:
    """One supervisor, `workers` workers and one broker as its children (each with it as parent),
    none of the killed processes left, not even as a zombie."""
    problems = []
    sup = cluster.herald.proc.pid
    try:
        cluster.wait_for(lambda: len(cluster.worker_pids()) == workers and cluster.broker_pid(), 30,
                         f"{workers} workers and a broker after the chaos")
    except AssertionError as e:
        return [f"process tree: {e}"]
    kids = children(sup)
    roles = sorted(role(argv) or str(argv) for argv in kids.values())
    if roles != ["broker"] + ["worker"] * workers:
        problems.append(f"process tree: supervisor's children are {roles}")
    indexes = sorted(Cluster.worker_index(argv) for argv in kids.values() if role(argv) == "worker")
    if indexes != list(range(1, workers + 1)):
        problems.append(f"process tree: worker indexes {indexes}")
    for pid in killed:
        if proc_stat(pid) is not None and proc_stat(pid)[1] == sup:
            problems.append(f"process tree: killed {pid} still there ({proc_stat(pid)})")
    return problems


def run_chaos(base: Path, duration: float, producers: int = 4, subscribers: int = 500, owners: int = 25,
              tasks_subscribers: int = 10, workers: int = 4, kill_every: tuple[float, float] = (2.0, 4.0),
              fill_s: float = 3.0, fill_max_s: float = 30.0, tmpfs_bytes: int = 64 << 20, pause: float = 0.01, skip_on_resume: int = 0,
              log=print) -> ChaosReport:
    report = ChaosReport()
    with disk(base, tmpfs_bytes) as fault:
        fault.any_write = True  # the RLIMIT_FSIZE fallback: a long-running store's WAL is reused
        cluster = Cluster(str(ROOT / "public"), str(fault.data), workers, "--snapshot-terminal", "1000000",
                          "--log-level", "warning")
        _started.append(cluster.herald)
        cluster.start()
        try:
            cluster.wait_for(lambda: len(cluster.worker_pids()) == workers and cluster.broker_pid(), 30,
                             f"{workers} workers and a broker")
            _run(cluster, fault, report, duration, producers, subscribers, owners, tasks_subscribers, workers,
                 kill_every, fill_s, fill_max_s, pause, skip_on_resume, log)
            code = cluster.stop()
            if code != 0:
                report.problems.append(f"the supervisor exited {code} on SIGTERM\n{cluster.herald.log_tail()}")
            elif children(cluster.herald.proc.pid):
                report.problems.append("children left after the supervisor stopped")
        finally:
            if cluster.herald.proc.poll() is None:
                cluster.stop()
            if cluster.herald in _started:
                _started.remove(cluster.herald)
    return report


def _run(cluster, fault, report, duration, n_producers, n_subscribers, n_owners, n_tasks_subs, workers,
         kill_every, fill_s, fill_max_s, pause, skip_on_resume, log):
    port = cluster.port
    owners = [f"o{i}" for i in range(n_owners)]
    topics = ["tasks"] * n_tasks_subs + [f"owner:{owners[i % n_owners]}" for i in range(n_subscribers - n_tasks_subs)]
    subs = [ChaosSubscriber(t, skip_on_resume) for t in topics]
    report.subscribers = len(subs)
    ledger = Ledger()
    problems: list[str] = []
    stop_producers, stop_chaos = threading.Event(), threading.Event()
    killed: list[int] = []
    done_producers: list[Producer] = []

    def chaos():
        rnd = random.Random(17)
        fill_at = time.monotonic() + duration * 0.4
        filled = False
        while not stop_chaos.wait(rnd.uniform(*kill_every)):
            if not filled and time.monotonic() >= fill_at:
                filled = True
                # The disk full until the store fails and fill_s more, no kill meanwhile (a
                # broker restarting on a full disk is another story): changes get 503, then it
                # recovers by itself. A long-running store may need a while to fail: its WAL is
                # rewritten in place after each checkpoint, needing no new blocks until a
                # checkpoint cannot grow the database.
                fault.fill(lambda: cluster.broker_pid())
                report.disk_fills += 1
                started = time.monotonic()
                end = started + fill_max_s
                while time.monotonic() < end:
                    try:
                        if get_json(port, "/healthz", 2)[1].get("store") == "failing" and not report.store_failing_seen:
                            report.store_failing_seen = True
                            report.store_failing_after_s = time.monotonic() - started
                            end = time.monotonic() + fill_s
                    except (OSError, http.client.HTTPException, ValueError):
                        pass
                    time.sleep(0.2)
                fault.free(lambda: cluster.broker_pid())
                continue
            pids = {p: "worker" for p in cluster.worker_pids()}
            b = cluster.broker_pid()
            if b:
                pids[b] = "broker"
            if not pids:
                continue
            # The broker one time in five, a worker otherwise.
            pick = b if b and rnd.random() < 0.2 else rnd.choice([p for p, r in pids.items() if r == "worker"] or [b])
            try:
                os.kill(pick, signal.SIGKILL)
            except ProcessLookupError:
                continue
            killed.append(pick)
            report.kills[pids[pick]] += 1

    def produce(i):
        try:
            done_producers.append(producer_loop(port, f"p{i}", owners, stop_producers, ledger, problems, pause,
                                                1000 + i))
        except Exception as e:  # noqa: BLE001 — reported as a problem, the run goes on
            problems.append(f"producer p{i} crashed: {e!r}")

    truth: dict[str, dict] = {}

    def settled() -> bool:
        return all(sub_matches(s, truth) for s in subs)

    async def main():
        loop_tasks = [asyncio.create_task(s.run(port)) for s in subs]
        try:
            await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in subs)), 60)
            log(f"{len(subs)} subscribers connected; chaos for {duration:.0f}s")
            t0 = time.monotonic()
            threads = [threading.Thread(target=produce, args=(i,), daemon=True) for i in range(n_producers)]
            chaos_thread = threading.Thread(target=chaos, daemon=True)
            for t in threads:
                t.start()
            chaos_thread.start()
            while time.monotonic() - t0 < duration:
                await asyncio.sleep(1)
            stop_chaos.set()
            await asyncio.to_thread(chaos_thread.join, 30)
            stop_producers.set()
            for t in threads:
                await asyncio.to_thread(t.join, 90)
            report.duration_s = time.monotonic() - t0
            if any(t.is_alive() for t in threads) or chaos_thread.is_alive():
                problems.append("producers or the chaos loop did not finish")
            log(f"chaos stopped, producers done after {time.monotonic() - t0:.1f}s; settling")
            # Settle: the whole tree back, then every subscriber caught up with the API.
            problems.extend(check_tree(cluster, workers, killed))
            deadline = time.monotonic() + 60
            while True:
                status, listing = await asyncio.to_thread(get_json, port, "/api/tasks?limit=10000000", 30)
                truth.clear()
                truth.update({t["id"]: t for t in listing["tasks"]})
                if settled() or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
        finally:
            for t in loop_tasks:
                t.cancel()
            await asyncio.gather(*loop_tasks, return_exceptions=True)

    asyncio.run(main())

    report.tasks = len(ledger.changes)
    report.acked = ledger.acked()
    report.ambiguous = sum(1 for cs in ledger.changes.values() for c in cs if not c.acked)
    report.refused_503 = sum(p.unavailable for p in done_producers)
    report.retries = sum(p.retries for p in done_producers)
    report.lost, lost_problems = check_acknowledged(ledger, truth)
    report.problems.extend(problems[:30])
    report.problems.extend(lost_problems)
    for s in subs:
        report.events_checked += s.events
        report.snapshots += s.snapshots
        report.recovered_false += s.recovered_false
        report.resumes += s.resumes
        report.connections += s.connections
        report.broker_unavailable += s.broker_unavailable
        report.skipped_on_tasks += s.skipped
        report.problems.extend(s.problems[:3])
    mismatched = [s for s in subs if not sub_matches(s, truth)]
    if mismatched:
        s = mismatched[0]
        want = expected_for(s.topic, truth)
        diff = sorted(set(want.items()) ^ set({k: view(v) for k, v in s.state.items()}.items()))[:6]
        report.problems.append(f"{len(mismatched)} subscribers' final state differs from the API's; "
                               f"first ({s.topic}): {diff}")
    # Refused changes were retried by the producers; nothing the API holds is unknown to them.
    unknown = sorted(set(truth) - set(ledger.changes))
    if unknown:
        report.problems.append(f"tasks no producer made: {unknown[:5]}")
    log(report.summary())


def expected_for(topic: str, truth: dict[str, dict]) -> dict[str, tuple]:
    if topic == "tasks":
        return {k: view(t) for k, t in truth.items()}
    owner = topic.split(":", 1)[1]
    return {k: view(t) for k, t in truth.items() if t.get("owner") == owner}


def sub_matches(s: ChaosSubscriber, truth: dict[str, dict]) -> bool:
    return {k: view(v) for k, v in s.state.items()} == expected_for(s.topic, truth)
