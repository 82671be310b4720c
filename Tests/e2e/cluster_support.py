"""A `herald serve --workers N` cluster for end-to-end tests: the supervisor, its workers and
its broker found through /proc, subscribers that resume the way the contract says (since= and
epoch= after a drop, replacing their state on a `recovered:false` snapshot), and producers
that retry what was refused."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import random
import signal
import time
from dataclasses import dataclass, field

from conftest import Herald
from proc_support import children, role, wait_for


class Cluster:
    """`herald serve --workers N` on a free port, with `--data` in `data_dir`."""

    def __init__(self, public: str, data_dir: str, workers: int = 4, *extra: str):
        self.workers = workers
        self.herald = Herald(["serve", "--workers", str(workers), "--host", "127.0.0.1", "--port", "0",
                              "--public", public, "--data", data_dir, *extra], name=f"serve --workers {workers}")

    def start(self) -> "Cluster":
        self.herald.start(timeout=60)
        return self

    @property
    def port(self) -> int:
        return self.herald.port

    def worker_pids(self) -> list[int]:
        return [p for p, argv in children(self.herald.proc.pid).items() if role(argv) == "worker"]

    @staticmethod
    def worker_index(argv: list[str]) -> int:
        return int(argv[argv.index("--worker-index") + 1])

    def broker_pid(self) -> int | None:
        pids = [p for p, argv in children(self.herald.proc.pid).items() if role(argv) == "broker"]
        return pids[0] if pids else None

    def wait_for(self, condition, timeout: float, what: str):
        try:
            return wait_for(condition, timeout, what)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.herald.log_tail()}") from None

    def stop(self) -> int | None:
        return self.herald.stop(timeout=20)


class Producer:
    """A keep-alive HTTP client that retries a request until the cluster gives an answer that
    is not 503 and not a dropped connection. Returns (status, json, retried)."""

    def __init__(self, port: int):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None
        self.retries = 0
        self.unavailable = 0

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        return self.conn

    def call(self, method: str, path: str, body=None, deadline_s: float = 60.0):
        raw = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if raw is not None else {}
        deadline = time.monotonic() + deadline_s
        retried = False
        while True:
            try:
                conn = self._connection()
                conn.request(method, path, body=raw, headers=headers)
                r = conn.getresponse()
                data = r.read()
                if r.status != 503:
                    return r.status, (json.loads(data) if data else None), retried
                self.unavailable += 1
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
            retried = True
            self.retries += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {path} got no answer but 503/errors for {deadline_s}s")
            time.sleep(0.02)

    def close(self):
        if self.conn is not None:
            self.conn.close()


@dataclass
class Subscriber:
    """One WebSocket subscriber that resumes by itself. `events` is every task/removed message
    received (over all its connections), `sessions` how each connection began."""
    topic: str
    events: list[dict] = field(default_factory=list)
    sessions: list[dict] = field(default_factory=list)
    state: dict[str, dict] = field(default_factory=dict)
    since: int | None = None
    epoch: str | None = None
    ready: asyncio.Event | None = None

    def apply(self, m: dict):
        t = m.get("type")
        if t == "snapshot":
            self.sessions.append({"type": "snapshot", "recovered": m["recovered"], "seq": m["seq"], "epoch": m["epoch"]})
            self.epoch, self.since = m["epoch"], m["seq"]
            self.state = {task["id"]: task for task in m["tasks"]}
        elif t == "resumed":
            self.sessions.append({"type": "resumed", "since": m["since"], "epoch": m["epoch"]})
            self.epoch = m["epoch"]
        elif t == "task":
            self.events.append(m)
            self.since = m["seq"]
            self.state[m["task"]["id"]] = m["task"]
        elif t == "removed":
            self.events.append(m)
            self.since = m["seq"]
            self.state.pop(m["id"], None)

    async def run(self, port: int, stop: asyncio.Event):
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        while not stop.is_set():
            query = f"topic={self.topic}"
            if self.since is not None:
                query += f"&since={self.since}&epoch={self.epoch}"
            try:
                async with connect(f"ws://127.0.0.1:{port}/ws?{query}", open_timeout=10, max_size=None,
                                   ping_interval=None) as ws:
                    while not stop.is_set():
                        try:
                            raw = await asyncio.wait_for(ws.recv(), 0.2)
                        except asyncio.TimeoutError:
                            continue
                        self.apply(json.loads(raw))
                        if self.ready is not None and self.sessions:
                            self.ready.set()
            except (WebSocketException, OSError, asyncio.TimeoutError):
                # Dropped (a worker killed, 1012 after a broker restart): back off with jitter.
                await asyncio.sleep(0.05 + random.random() * 0.1)

    def event_seqs(self) -> list[int]:
        return [m["seq"] for m in self.events]


def kill(pid: int, sig=signal.SIGKILL):
    os.kill(pid, sig)
