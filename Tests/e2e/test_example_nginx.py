"""examples/nginx/ end to end: Debian's real nginx, run with the example's nginx.conf (ports,
pid/log/temp paths and the /ws read timeout substituted, every other directive as written), in
front of two `herald serve --broker PATH` processes sharing one `herald broker`.

Through nginx: the API (herald_client and plain HTTP, a long-poll), WebSockets (python
`websockets`, and the dashboard in headless Chromium). A quiet WebSocket outlives nginx's read
timeout because Herald pings it. Then one upstream Herald is killed with SIGKILL while tasks
run: every API call keeps working, the page and the python subscriber that were on it
reconnect through nginx to the other process, resume with since= (a `resumed` frame, no fresh
snapshot) and miss no event: each has exactly the events a subscriber attached directly to the
surviving process saw, and the page's rows equal the API's tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from cluster_support import Subscriber
from conftest import ROOT, Herald, _started
from dashboard_support import PUBLIC, NetworkLog, Page, make_browser, severe_console_errors, wait_for
from services_support import Nginx, show_versions, substitute, version_of
from tasks_support import Api, free_port
from test_broker import Broker
from test_dashboard import wait_rows_match_api

EXAMPLE = ROOT / "examples" / "nginx" / "nginx.conf"
HERALD_DEFAULT_PING_INTERVAL = 1   # herald serve --ping-interval's default
LONG_POLL_MAX = 60                  # GET /api/tasks/{id}?wait=S: S ≤ 60
PING_INTERVAL = 1                   # what the test's Herald processes use
WS_READ_TIMEOUT = 3                 # what the test's nginx uses in /ws (the example: 75 s)
OTHER_ORIGIN = "http://ops.example.com"   # --allow-origin: turns Herald's origin check on


def seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+)(ms|s|m)?", value)
    assert m, value
    return int(m.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60}[m.group(2)]


def ws_block(text: str) -> tuple[int, int]:
    """Start and end offsets of the body of `location /ws { … }`."""
    start = text.index("location /ws {")
    depth, i = 0, text.index("{", start)
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return i, j
    raise AssertionError("unbalanced location /ws block")


def config_for_test(base: Path, listen: int, upstreams: list[int]) -> str:
    """The example with what a test machine needs substituted; asserts the example's timeouts
    keep the promises its README makes."""
    text = EXAMPLE.read_text()
    a, b = ws_block(text)
    ws_timeout = re.search(r"^\s*proxy_read_timeout\s+(\S+);", text[a:b], re.M)
    assert ws_timeout and seconds(ws_timeout.group(1)) > HERALD_DEFAULT_PING_INTERVAL, \
        "the /ws proxy_read_timeout must exceed herald's default --ping-interval"
    rest = text[:a] + text[b:]
    api_timeout = re.search(r"^\s*proxy_read_timeout\s+(\S+);", rest, re.M)
    assert api_timeout and seconds(api_timeout.group(1)) > LONG_POLL_MAX, \
        "the API's proxy_read_timeout must exceed the longest long-poll (60 s)"
    assert re.search(r"^\s*proxy_buffering\s+off;", text, re.M)
    assert re.search(r"^\s*proxy_http_version\s+1\.1;", text, re.M)

    # The /ws read timeout scaled down with Herald's ping interval (1 s instead of 30 s).
    text = text[:a] + substitute(text[a:b], r"^(\s*proxy_read_timeout\s+)\S+;", rf"\g<1>{WS_READ_TIMEOUT}s;") + text[b:]
    text = substitute(text, r"^pid\s+\S+;", f"pid {base}/nginx.pid;")
    text = substitute(text, r"^error_log\s+\S+", "error_log stderr")
    text = substitute(text, r"^(\s*)access_log\s+\S+;",
                      rf"\g<1>log_format upstreams '$request_method $uri $status up=$upstream_addr "
                      rf"ups=$upstream_status';\n\g<1>access_log {base}/access.log upstreams;")
    text = substitute(text, r"^(\s*)listen\s+8080;", rf"\g<1>listen 127.0.0.1:{listen};")
    text = substitute(text, r"server 127\.0\.0\.1:8081\b", f"server 127.0.0.1:{upstreams[0]}")
    text = substitute(text, r"server 127\.0\.0\.1:8082\b", f"server 127.0.0.1:{upstreams[1]}")
    temp = "".join(f"    {kind}_temp_path {base}/{kind}_temp;\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    text = substitute(text, r"^http \{\n", "http {\n" + temp)
    if os.geteuid() == 0:
        # nginx started by root drops its workers to `nobody`, which cannot enter a private
        # temp directory; the test's workers stay the user that runs the test.
        text = "user root;\n" + text
    return text


def metric(port: int, name: str) -> int:
    body = Api(port).get("/metrics").body.decode()
    m = re.search(rf"^{name} (\d+)$", body, re.M)
    assert m, f"no {name} in /metrics of {port}"
    return int(m.group(1))


class SubscriberThread:
    """cluster_support.Subscriber (python `websockets`, resumes with since=&epoch=) on a thread."""

    def __init__(self, port: int, topic: str = "tasks"):
        self.sub = Subscriber(topic)
        self.port = port
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.stop_event = asyncio.Event()
        self.loop.run_until_complete(self.sub.run(self.port, self.stop_event))

    def start(self) -> "SubscriberThread":
        self.thread.start()
        wait_for(lambda: self.sub.sessions, 10, f"a snapshot for the subscriber on {self.port}")
        return self

    def stop(self):
        if self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(5)

    def seqs(self, after: int = 0) -> list[int]:
        return [s for s in self.sub.event_seqs() if s > after]


@pytest.mark.timeout(90)
def test_nginx_example_two_heralds_one_killed(capsys):
    from herald_client import Herald as Client

    show_versions(capsys, version_of("nginx"))
    with contextlib.ExitStack() as stack:
        base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="herald-nginx-")))
        broker = Broker(str(base / "broker.sock"), str(base / "broker-data"))
        stack.callback(lambda: broker.proc.poll() is None and broker.stop())
        heralds = []
        for name in ("A", "B"):
            h = Herald(["serve", "--host", "127.0.0.1", "--port", "0", "--public", str(PUBLIC),
                        "--broker", broker.socket, "--ping-interval", str(PING_INTERVAL),
                        "--allow-origin", OTHER_ORIGIN], name=f"herald {name}")
            _started.append(h)
            stack.callback(_started.remove, h)
            stack.callback(h.stop)
            heralds.append(h.start())
        port = free_port()
        nginx = Nginx(base / "nginx", config_for_test(base / "nginx", port, [h.port for h in heralds]), port).start()
        stack.callback(nginx.stop)
        try:
            run_scenario(Client([nginx.url]), nginx, heralds, stack)
        except BaseException:
            print(nginx.log_tail())
            print("--- nginx access log (last 40) ---\n" + "\n".join(nginx.access_log()[-40:]))
            raise


def run_scenario(client, nginx: Nginx, heralds: list[Herald], stack: contextlib.ExitStack):
    front = Api(nginx.port)
    # -- the API and /herald.js through nginx
    assert front.get("/healthz").status == 200
    js = front.get("/herald.js")
    assert js.status == 200 and "javascript" in (js.header("Content-Type") or ""), js
    first = client.create(title="Through nginx", owner="ops", total=4)
    assert front.get(f"/api/tasks/{first.id}").json["status"] == "queued"

    # A long-poll through nginx is answered as soon as the task changes.
    after = front.get(f"/api/tasks/{first.id}").json["seq"]
    answer: dict = {}
    poller = threading.Thread(target=lambda: answer.update(
        a=front.get(f"/api/tasks/{first.id}?wait=20&after={after}", timeout=30), t=time.monotonic()))
    poller.start()
    time.sleep(0.5)
    first.start()
    changed_at = time.monotonic()
    poller.join(25)
    assert answer["a"].status == 200 and answer["a"].json["status"] == "running", answer
    assert answer["t"] - changed_at < 2.0, "the long-poll answer was held back"

    # Origin check through nginx: the page's own origin (Host passed on with its port) and a
    # listed one pass, any other is refused before the upgrade.
    for origin, ok in ((nginx.url, True), (OTHER_ORIGIN, True), ("http://evil.example", False)):
        try:
            with ws_connect(f"ws://127.0.0.1:{nginx.port}/ws?topic=tasks", origin=origin, open_timeout=10) as ws:
                assert json.loads(ws.recv(timeout=5))["type"] == "snapshot"
            assert ok, f"a WebSocket from {origin} was accepted"
        except InvalidStatus as e:
            assert not ok and e.response.status_code == 403, (origin, e)

    # -- the dashboard through nginx; which upstream holds its WebSocket?
    d = make_browser(network_log=True)
    stack.callback(d.quit)
    log = NetworkLog(d)
    page = Page(d).open(nginx.url + "/")
    counts = wait_for(lambda: (c := [metric(h.port, "herald_websockets") for h in heralds]) and sum(c) == 1 and c,
                      10, "the page's WebSocket on one upstream")
    x = counts.index(1)
    doomed, survivor = heralds[x], heralds[1 - x]

    # A reference subscriber attached directly to the surviving process: it is never dropped.
    reference = SubscriberThread(survivor.port).start()
    stack.callback(reference.stop)
    # Python subscribers through nginx, until one lands on the doomed process (round robin).
    through: list[SubscriberThread] = []
    for _ in range(6):
        s = SubscriberThread(nginx.port).start()
        stack.callback(s.stop)
        through.append(s)
        if metric(doomed.port, "herald_websockets") >= 2:     # the page's and this one
            break
    assert metric(doomed.port, "herald_websockets") >= 2, "no python subscriber reached the doomed upstream"

    # -- quiet WebSockets outlive nginx's read timeout: Herald pings them every second.
    time.sleep(WS_READ_TIMEOUT + 1.5)
    log.poll()
    assert len(log.created) == 1 and log.closed == 0, (log.created, log.closed)
    assert all(len(s.sub.sessions) == 1 for s in through), [s.sub.sessions for s in through]
    assert page.conn() == "live"

    # -- work through nginx; kill -9 one upstream in the middle of it
    stop = threading.Event()
    errors: list[BaseException] = []
    finished: list[str] = []
    get_statuses: list[int] = []

    def produce(n: int):
        try:
            while not stop.is_set():
                with client.task(title=f"Nightly report {n}-{len(finished)}", owner="ops", total=30, lease_s=10) as t:
                    for i in range(30):
                        t.progress(done=i + 1, message=f"section {i + 1} of 30")
                        time.sleep(0.03)
                    t.result = {"path": f"/reports/{t.id}.pdf"}
                finished.append(t.id)
        except BaseException as e:       # noqa: BLE001 (reported by the test)
            errors.append(e)

    def read_api():
        while not stop.is_set():
            try:
                get_statuses.append(front.get("/api/tasks?limit=20", timeout=10).status)
            except OSError as e:
                get_statuses.append(-1)
                errors.append(e)
            time.sleep(0.02)

    workers = [threading.Thread(target=produce, args=(n,), daemon=True) for n in range(3)]
    workers.append(threading.Thread(target=read_api, daemon=True))
    for w in workers:
        w.start()
    wait_for(lambda: len(finished) >= 2, 15, "two tasks finished before the kill")
    before_kill = len(get_statuses)
    os.kill(doomed.proc.pid, signal.SIGKILL)
    doomed.proc.wait(5)
    wait_for(lambda: len(finished) >= 8 and len(get_statuses) > before_kill + 50, 30,
             "work going on through nginx after the kill")
    stop.set()
    for w in workers:
        w.join(20)
    assert errors == [], errors
    assert set(get_statuses) == {200}, {s: get_statuses.count(s) for s in set(get_statuses)}
    first.complete(result={"ok": True})

    # -- everyone sees the end state; nothing was lost on the way
    final_seq = front.get("/api/tasks?limit=1").json["seq"]
    wait_for(lambda: reference.sub.since == final_seq, 10, "the reference subscriber at the final seq")
    want = reference.seqs()
    for s in through:
        wait_for(lambda: s.sub.since == final_seq, 15, "a python subscriber through nginx at the final seq")
    moved = [s for s in through if len(s.sub.sessions) > 1]
    assert moved, "no python subscriber was dropped by the kill"
    for s in moved:
        kinds = [x["type"] for x in s.sub.sessions]
        assert kinds[0] == "snapshot" and all(k == "resumed" for k in kinds[1:]), s.sub.sessions
    for s in through:
        start = s.sub.sessions[0]["seq"]
        assert s.seqs() == [q for q in want if q > start], "a python subscriber through nginx lost or repeated events"

    # The page: reconnected through nginx, resumed, every event once, rows = API.
    wait_for(lambda: page.conn() == "live", 15, "the page live again")
    wait_rows_match_api(page, front, timeout=15)
    wait_for(lambda: any(f.get("type") == "task" and f.get("seq") == final_seq for f in log.poll().received),
             10, "the page received the final event")
    assert len(log.created) >= 2, f"the page did not reconnect: {log.created}"
    assert "since=" in log.created[-1], log.created[-1]
    snapshots = [f for f in log.received if f.get("type") == "snapshot"]
    assert len(snapshots) == 1, f"the page got a fresh snapshot instead of resuming: {snapshots[1:]}"
    assert any(f.get("type") == "resumed" for f in log.received), "no `resumed` frame on the page"
    page_seqs = [f["seq"] for f in log.received if f.get("type") in ("task", "removed")]
    start = snapshots[0]["seq"]
    assert page_seqs == [q for q in want if q > start], "the page lost, repeated or reordered events"
    assert severe_console_errors(d) == []
