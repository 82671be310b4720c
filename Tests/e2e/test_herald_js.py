"""public/herald.js, the browser module apps import, in headless Chromium against the real
`herald serve`: `<herald-task>` elements driven by API calls, one shared WebSocket, resume after
a dropped socket, a kill -9 and a restart, failover to a second server of the same broker,
tokens (tokenUrl, a token function, refusals), `connect()`'s onEvent against what DevTools saw
on the wire, a page of another origin, and screenshots in light and dark.

Each test serves a throwaway public dir holding a copy of public/herald.js (`--public`) and the
test's own page. What the browser really sent and received on its WebSockets is read from
DevTools (`NetworkLog`), not from the module's own counters alone. Screenshots go to
reports/screenshots/herald-task-{light,dark}.png.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from auth_support import AuthApi, mint, secret_file
from conftest import Herald
from dashboard_support import PUBLIC, REPORTS, NetworkLog, make_browser, severe_console_errors, wait_for
from tasks_support import Api, ProgressWorker, free_port, own_server, task_serve_args, unique_id
from test_broker import Broker

SHOTS = REPORTS / "screenshots"

# Every page: herald.js as a module (window.herald), and a log of every change of the
# reflected attributes of every <herald-task> (status, percent, connection), in order.
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>herald.js test</title>
<style>
  :root {{ color-scheme: light dark; font-family: system-ui, sans-serif; }}
  body {{ max-width: 34rem; margin: 1.5rem auto; padding: 0 1rem; background: Canvas; color: CanvasText; }}
  herald-task {{ margin: 1.1rem 0; }}
</style>
<script type="module">
  import * as herald from '{src}';
  window.herald = herald;
  const log = window.__log = [];
  const note = (el) => log.push({{id: el.id, task: el.getAttribute('task'), status: el.getAttribute('status'),
    percent: el.getAttribute('percent'), connection: el.getAttribute('connection')}});
  new MutationObserver((ms) => {{ for (const m of ms) if (m.target.localName === 'herald-task') note(m.target); }})
    .observe(document.body, {{attributes: true, subtree: true, attributeFilter: ['status', 'percent', 'connection']}});
  for (const el of document.querySelectorAll('herald-task')) note(el);
  window.__changes = 0;
  document.addEventListener('herald-change', () => {{ window.__changes += 1; }});
  {script}
  window.__ready = true;
</script>
</head><body>
<h1>Downloads</h1>
{body}
</body></html>
"""

# What a test reads of one element: the reflected attributes and what its shadow DOM shows.
ELEMENT_JS = """
const el = typeof arguments[0] === 'string' ? document.getElementById(arguments[0]) : arguments[0];
if (!el || !el.shadowRoot) return null;
const r = el.shadowRoot, bar = r.querySelector('[role="progressbar"]');
const text = (s) => { const e = r.querySelector(s); return e && !e.hidden ? e.textContent : ''; };
const label = (bar.getAttribute('aria-labelledby') || '').split(' ').map((i) => r.getElementById(i)?.textContent || '').join(' ');
return {status: el.getAttribute('status'), percent: el.getAttribute('percent'), stale: el.hasAttribute('stale'),
  connection: el.getAttribute('connection'), valuenow: bar.getAttribute('aria-valuenow'),
  valuemin: bar.getAttribute('aria-valuemin'), valuemax: bar.getAttribute('aria-valuemax'),
  valuetext: bar.getAttribute('aria-valuetext'), label, title: text('.title'), chip: text('.status'),
  message: text('.message'), eta: text('.eta'), percentText: text('.percent'), note: text('.note'),
  indeterminate: bar.classList.contains('indeterminate'), fill: r.querySelector('.fill').style.width,
  task: el.task};
"""


class Site:
    """A public dir with a copy of public/herald.js and the test's pages."""

    def __init__(self, base: Path):
        self.public = base / "public"
        self.public.mkdir(parents=True)
        shutil.copy(PUBLIC / "herald.js", self.public / "herald.js")

    def page(self, name: str, body: str = "", script: str = "", src: str = "/herald.js") -> str:
        (self.public / name).write_text(PAGE.format(body=body, script=script, src=src))
        return name

    def write(self, name: str, doc) -> None:
        tmp = self.public / f".{name}.tmp"
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, self.public / name)


@pytest.fixture
def site(tmp_path):
    return Site(tmp_path)


@pytest.fixture
def d():
    drv = make_browser(720, 900, network_log=True)
    yield drv
    drv.quit()


def el(d, ident):
    return d.execute_script(ELEMENT_JS, ident)


def js(d, script, *args):
    return d.execute_script(script, *args)


def open_page(d, url: str):
    d.get(url)
    wait_for(lambda: js(d, "return window.__ready === true"), 10, "the page's module")


def module_stats(d) -> dict:
    return js(d, "return {...window.herald.stats}")


def attr_log(d, ident: str) -> list[dict]:
    return [e for e in js(d, "return window.__log") if e["id"] == ident]


def assert_never_back(entries: list[dict], what: str):
    """Once an element showed a task, it never went back to less, to unknown or to blank."""
    shown = [e for e in entries if e["status"] not in (None, "unknown", "missing")]
    assert shown, f"{what}: never showed a state"
    first = entries.index(shown[0])
    after = entries[first:]
    assert all(e["status"] not in (None, "unknown", "missing") for e in after), f"{what}: went blank: {after}"
    pcts = [int(e["percent"]) for e in after if e["percent"] is not None]
    assert pcts == sorted(pcts), f"{what}: percent went back: {pcts}"
    had = [i for i, e in enumerate(after) if e["percent"] is not None]
    if had:
        assert all(e["percent"] is not None for e in after[had[0]:]), f"{what}: percent vanished: {after}"


def sent_ops(net: NetworkLog, op: str) -> list[dict]:
    return [m for m in net.sent if m.get("op") == op]


# --------------------------------------------------------------------------- the element

@pytest.mark.timeout(90)
def test_elements_show_live_progress_share_one_socket_and_reflect_status_and_percent(d, site):
    later = unique_id("later")
    site.page("tasks.html", f"""
      <herald-task id="a1" task="A"></herald-task>
      <herald-task id="b" task="B"></herald-task>
      <herald-task id="c" task="C"></herald-task>
      <herald-task id="m" task="{later}"></herald-task>
      <herald-task id="a2" task="A" label="The same export, again"></herald-task>""")
    with own_server(task_serve_args(site.public, ":memory:")) as h:
        api = Api(h.port)
        api.create(id="A", title="Export orders.csv", total=200, lease_s=3600)
        api.create(id="B", title="Resize product images", lease_s=3600)
        api.create(id="C", title="Send monthly invoices", total=10)
        net = NetworkLog(d)
        open_page(d, f"{h.url}/tasks.html")
        wait_for(lambda: [el(d, i)["status"] for i in ("a1", "b", "c", "m", "a2")]
                 == ["queued", "queued", "queued", "missing", "queued"], 10, "the first states")
        a = el(d, "a1")
        assert a["connection"] == "live" and a["title"] == "Export orders.csv" and a["chip"] == "Queued", a
        assert (a["valuemin"], a["valuemax"], a["valuenow"], a["percent"]) == ("0", "100", "0", "0"), a
        assert a["label"] == "Export orders.csv", "the progressbar's accessible name is the title"
        assert el(d, "a2")["label"] == "The same export, again"
        m = el(d, "m")
        assert m["percent"] is None and m["valuenow"] is None and m["chip"] == "Not found", m
        assert "no task" in m["message"].lower(), m

        # progress moves both elements of A; percent is an integer; the bar and its ARIA agree
        api.act("A", "start")
        api.act("A", "progress", {"done": 50, "message": "table 2 of 8"})
        wait_for(lambda: el(d, "a1")["percent"] == "25" and el(d, "a2")["percent"] == "25", 5, "A at 25%")
        a = el(d, "a1")
        assert a["status"] == "running" and a["valuenow"] == "25" and a["fill"] == "25%", a
        assert a["valuetext"].startswith("25%") and "running" in a["valuetext"], a
        assert a["message"] == "table 2 of 8" and a["percentText"] == "25%" and not a["indeterminate"], a
        api.act("A", "progress", {"done": 67})                  # 33.5 %
        wait_for(lambda: el(d, "a1")["percent"] == "33", 5, "A at 33% (an integer)")
        assert el(d, "a1")["valuenow"] == "33"

        # a task without a total: running, indeterminate, no percent and no aria-valuenow
        api.act("B", "start")
        api.act("B", "progress", {"message": "scanning the bucket"})
        wait_for(lambda: el(d, "b")["status"] == "running", 5, "B running")
        b = el(d, "b")
        assert b["percent"] is None and b["valuenow"] is None and b["indeterminate"], b
        assert "progress unknown" in b["valuetext"] and b["message"] == "scanning the bucket", b

        # a task created after the element asked for it appears; the ends of the lifecycle
        api.create(id=later, title="Created later", total=4)
        api.act("C", "cancel")
        api.act("A", "complete", {"message": "orders.csv is ready"})
        api.act("B", "fail", {"error": {"code": "DiskFull", "message": "no space left on /data"}})
        wait_for(lambda: [el(d, i)["status"] for i in ("a1", "b", "c", "m", "a2")]
                 == ["succeeded", "failed", "cancelled", "queued", "succeeded"], 5, "the final states")
        a, b = el(d, "a1"), el(d, "b")
        assert a["percent"] == "100" and a["valuenow"] == "100" and a["chip"] == "Done", a
        assert b["message"] == "no space left on /data (DiskFull)" and b["chip"] == "Failed", b
        assert el(d, "m")["title"] == "Created later"

        # elements added later join the same socket; the last one of a task leaves its topic
        api.create(id="E", title="Late export", total=10)
        js(d, """for (const [id, task] of [['e1', 'E'], ['e2', 'E'], ['c2', 'C']]) {
                   const x = document.createElement('herald-task'); x.id = id; x.setAttribute('task', task);
                   document.body.append(x); }""")
        wait_for(lambda: el(d, "e1")["status"] == "queued" and el(d, "e2")["status"] == "queued", 5, "E shown")
        assert el(d, "c2")["status"] == "cancelled"
        api.act("E", "start")
        api.act("E", "progress", {"done": 7})
        wait_for(lambda: el(d, "e2")["percent"] == "70", 5, "E at 70%")
        js(d, "document.getElementById('e1').remove();")
        time.sleep(0.3)
        net.poll()
        assert not [m for m in sent_ops(net, "unsubscribe") if m["topic"] == "task:E"], "E still has an element"
        js(d, "document.getElementById('e2').remove();")
        wait_for(lambda: [m for m in sent_ops(net.poll(), "unsubscribe") if m["topic"] == "task:E"], 5, "unsubscribe E")
        # moving an element within the page keeps its subscription
        js(d, "document.body.prepend(document.getElementById('c'));")
        time.sleep(0.3)

        net.poll()
        assert len(net.created) == 1, f"one WebSocket for every element: {net.created}"
        topics = parse_qs(urlsplit(net.created[0]).query)["topic"]
        assert sorted(topics) == sorted(["task:A", "task:B", "task:C", f"task:{later}"]), topics
        assert [m["topic"] for m in sent_ops(net, "subscribe")] == ["task:E"], net.sent
        assert [m["topic"] for m in sent_ops(net, "unsubscribe")] == ["task:E"], net.sent
        assert module_stats(d) == {"connections": 1, "sockets": 1, "open": 1}
        for ident in ("a1", "a2", "b", "m"):
            assert_never_back(attr_log(d, ident), ident)
        assert js(d, "return window.__changes") >= 12
        assert severe_console_errors(d) == []


@pytest.mark.timeout(60)
def test_before_the_snapshot_it_shows_the_pages_state_or_the_tabs_memory_whichever_is_further(d, site):
    """No "Connecting" and empty bar after a load: the page's status=/percent= (or what this tab
    last showed, when that is further on) until the snapshot, which then replaces it."""
    probe = """
      window.__first = [];
      customElements.whenDefined('herald-task').then(() => {
        for (const e of document.querySelectorAll('herald-task'))
          window.__first.push({id: e.id, status: e.getAttribute('status'), percent: e.getAttribute('percent')});
      });"""
    site.page("rendered.html", '<herald-task id="r" task="R" status="running" percent="40"></herald-task>'
                               '<herald-task id="q" task="Q" status="bogus" percent="x"></herald-task>', script=probe)
    with own_server(task_serve_args(site.public, ":memory:")) as h:
        api = Api(h.port)
        api.create(id="R", title="Rendered", total=100, lease_s=3600)
        api.act("R", "start")
        api.act("R", "progress", {"done": 40})
        api.create(id="Q", title="Queued", total=10)
        # Only the page's state on a first visit; a status the element does not know is ignored.
        open_page(d, f"{h.url}/rendered.html")
        first = {e["id"]: e for e in js(d, "return window.__first")}
        assert (first["r"]["status"], first["r"]["percent"]) == ("running", "40"), first
        assert first["q"]["status"] == "unknown" and first["q"]["percent"] is None, first
        wait_for(lambda: el(d, "q")["status"] == "queued", 10, "Q's snapshot")
        api.act("R", "progress", {"done": 70})
        wait_for(lambda: el(d, "r")["percent"] == "70", 10, "R at 70 % on the open page")
        # The page is rendered again with an older state (40 %): the tab showed 70, so 70 it is.
        open_page(d, f"{h.url}/rendered.html")
        first = {e["id"]: e for e in js(d, "return window.__first")}
        assert (first["r"]["status"], first["r"]["percent"]) == ("running", "70"), first
        # A page whose render is further on than the tab's memory wins; the snapshot then rules.
        api.act("R", "complete")
        site.page("rendered.html", '<herald-task id="r" task="R" status="succeeded" percent="100"></herald-task>',
                  script=probe)
        open_page(d, f"{h.url}/rendered.html")
        first = {e["id"]: e for e in js(d, "return window.__first")}
        assert (first["r"]["status"], first["r"]["percent"]) == ("succeeded", "100"), first
        wait_for(lambda: (el(d, "r")["task"] or {}).get("status") == "succeeded", 10, "R's snapshot")
        assert severe_console_errors(d) == []


@pytest.mark.timeout(120)
def test_the_bar_resumes_and_never_goes_back_or_blank_across_a_drop_and_a_kill_9(d, site, tmp_path):
    site.page("one.html", '<herald-task id="r" task="R"></herald-task><herald-task id="s" task="S"></herald-task>')
    port = free_port()
    (tmp_path / "data").mkdir()
    args = task_serve_args(site.public, tmp_path / "data")
    args[args.index("--port") + 1] = str(port)
    net = NetworkLog(d)
    with own_server(args, "first herald") as h:
        api = Api(port)
        api.create(id="R", title="Nightly export", total=1000, lease_s=3600)
        api.create(id="S", title="Weekly report", total=10, lease_s=3600)
        api.act("R", "start")
        open_page(d, f"{h.url}/one.html")
        with ProgressWorker(Api(port), "R", limit=1000) as w:
            wait_for(lambda: int(el(d, "r")["percent"] or 0) >= 3, 10, "R moving")
            # a dropped socket: it reopens with since=/epoch= for both topics (one seq for the
            # connection), the server answers `resumed` for each and sends what was missed
            js(d, "document.getElementById('r').connection.reconnect();")
            api.act("S", "start")
            api.act("S", "progress", {"done": 5})
            resumed = wait_for(lambda: (lambda r: len(r) >= 2 and r)(
                [m for m in net.poll().received if m.get("type") == "resumed"]), 10, "resumed twice")
            assert sorted(m["topic"] for m in resumed) == ["task:R", "task:S"], resumed
            wait_for(lambda: int(el(d, "r")["percent"] or 0) >= 6, 10, "R moving after the resume")
            wait_for(lambda: el(d, "s")["percent"] == "50", 5, "S's changes, made during the drop or after it")
            h.kill()                                                   # kill -9
            wait_for(lambda: el(d, "r")["connection"] in ("reconnecting", "offline"), 10, "not live")
            w.stop.set()
        # while the server is down the bar keeps its last state
        down = el(d, "r")
        assert down["status"] == "running" and down["percent"] not in (None, "0"), down
        assert down["note"] in ("reconnecting…", "offline"), down
        time.sleep(1.0)
        assert el(d, "r")["percent"] == down["percent"]
    with own_server(args, "second herald"):
        with ProgressWorker(Api(port), "R", limit=1000, done=w.done):
            wait_for(lambda: el(d, "r")["connection"] == "live", 20, "live again")
            wait_for(lambda: int(el(d, "r")["percent"]) >= int(down["percent"]) + 2, 10, "moving again")
        Api(port).act("R", "complete")
        wait_for(lambda: el(d, "r")["status"] == "succeeded", 5, "R succeeded")
    net.poll()
    assert len(net.created) >= 3, net.created
    for u in net.created[1:]:
        q = parse_qs(urlsplit(u).query)
        assert sorted(q.get("topic")) == ["task:R", "task:S"] and "since" in q and "epoch" in q, u
    assert_never_back(attr_log(d, "r"), "r")
    assert_never_back(attr_log(d, "s"), "s")
    assert el(d, "s")["status"] == "running" and el(d, "s")["percent"] == "50"
    assert el(d, "r")["percent"] == "100"


@pytest.mark.timeout(90)
def test_an_element_moves_to_the_second_server_of_the_same_broker(d, site):
    with tempfile.TemporaryDirectory(prefix="herald-") as tmp:
        os.chmod(tmp, 0o700)
        broker = Broker(os.path.join(tmp, "broker.sock"), os.path.join(tmp, "data"))
        servers = []
        try:
            for n in ("A", "B"):
                servers.append(Herald(["serve", "--host", "127.0.0.1", "--port", "0", "--public", str(site.public),
                                       "--broker", broker.socket], name=f"server {n}").start())
            a, b = servers
            origins = f"http://127.0.0.1:{a.port} http://127.0.0.1:{b.port}"
            site.page("two.html", f'<herald-task id="t" task="T" servers="{origins}"></herald-task>'
                                  f'<herald-task id="u" task="U" servers="{origins}"></herald-task>')
            api = Api(b.port)
            api.create(id="T", title="Reindex shard 7", total=500, lease_s=3600)
            api.create(id="U", title="Reindex shard 8", total=500, lease_s=3600)
            api.act("T", "start")
            open_page(d, f"{a.url}/two.html")
            wait_for(lambda: el(d, "t")["connection"] == "live", 10, "live")
            assert js(d, "return document.getElementById('t').connection.server.key") == f"127.0.0.1:{a.port}"
            with ProgressWorker(Api(b.port), "T", every=0.03, limit=1000) as w:
                wait_for(lambda: int(el(d, "t")["percent"] or 0) >= 2, 10, "T moving")
                a.kill()                                              # the element's server, kill -9
                api.act("U", "start")                                 # a change while it switches
                wait_for(lambda: js(d, "return document.getElementById('t').connection.server.key")
                         == f"127.0.0.1:{b.port}" and el(d, "t")["connection"] == "live", 20, "on server B")
                at = int(el(d, "t")["percent"])
                wait_for(lambda: int(el(d, "t")["percent"]) >= at + 2, 10, "moving on B")
            final = api.task("T")
            assert final["done"] == w.done, (final, w.done)
            wait_for(lambda: el(d, "t")["percent"] == str(int(final["percent"])), 5, "the last report")
            assert el(d, "u")["status"] == "running"
            assert_never_back(attr_log(d, "t"), "t")
            assert module_stats(d)["open"] == 1
        finally:
            for s in servers:
                s.stop()
            broker.stop()


@pytest.mark.timeout(90)
def test_a_server_that_stops_answering_is_left_after_the_idle_ping(d, site):
    """SIGSTOP: the socket stays open but nothing comes back. The client's idle ping gets no
    pong, it gives the socket up (4002) without waiting for a closing handshake, moves to the
    other server and resumes: the events made meanwhile arrive once."""
    with tempfile.TemporaryDirectory(prefix="herald-") as tmp:
        os.chmod(tmp, 0o700)
        broker = Broker(os.path.join(tmp, "broker.sock"), os.path.join(tmp, "data"))
        servers = []
        stopped = None
        try:
            for n in ("A", "B"):
                servers.append(Herald(["serve", "--host", "127.0.0.1", "--port", "0", "--public", str(site.public),
                                       "--broker", broker.socket], name=f"server {n}").start())
            a, b = servers
            site.page("idle.html", script=f"""
              window.__frames = []; window.__states = [];
              window.c = herald.connect({{ servers: ['{a.url}', '{b.url}'], topics: ['tasks'],
                pingIdleMs: 1000, pongWaitMs: 1000,
                onEvent: (f) => window.__frames.push(f), onState: (s) => window.__states.push(s.state) }});""")
            api = Api(b.port)
            t = api.create(title="Quiet work", total=10, lease_s=3600)
            net = NetworkLog(d)
            open_page(d, f"{b.url}/idle.html")
            wait_for(lambda: js(d, "return window.c.live"), 10, "live")
            assert js(d, "return window.c.server.http") == a.url
            time.sleep(2.5)                               # idle: pings, answered
            pongs = [f for f in js(d, "return window.__frames") if f["type"] == "pong"]
            assert pongs and js(d, "return window.c.live"), "the idle ping is answered while A runs"
            os.kill(a.proc.pid, signal.SIGSTOP)
            stopped = a
            t_stop = time.monotonic()
            for i in range(1, 4):
                api.act(t["id"], "start" if i == 1 else "progress", None if i == 1 else {"done": i})
            wait_for(lambda: js(d, "return window.c.server.http") == b.url and js(d, "return window.c.live"), 15,
                     "on server B")
            switch_s = time.monotonic() - t_stop
            wait_for(lambda: len([f for f in js(d, "return window.__frames") if f["type"] == "task"]) >= 3, 5,
                     "the events made while A stood still")
            c = js(d, "return {...window.c.stats}")
            assert c["lastClose"] == 4002 and c["resumes"] == 1 and c["snapshots"] == 1, c
            events = [(f["event"], f["task"]["done"]) for f in js(d, "return window.__frames") if f["type"] == "task"]
            assert events == [("started", 0), ("progress", 2), ("progress", 3)], events
            assert js(d, "return window.__states").count("live") >= 2
            net.poll()
            assert len(net.created) == 2 and "since=" in net.created[1] and f":{b.port}/" in net.created[1], net.created
            assert switch_s < 8, f"the switch took {switch_s:.1f} s"
        finally:
            if stopped:
                os.kill(stopped.proc.pid, signal.SIGCONT)
            for s_ in servers:
                s_.stop()
            broker.stop()


# --------------------------------------------------------------------------- connect()

@pytest.mark.timeout(60)
def test_connect_hands_every_frame_to_on_event_exactly_as_sent(d, site):
    site.page("connect.html", script="""
      window.__frames = []; window.__states = [];
      window.c = herald.connect({ topics: ['tasks'],
        onEvent: (f) => window.__frames.push(f), onState: (s) => window.__states.push(s) });""")
    with own_server(task_serve_args(site.public, ":memory:")) as h:
        api = Api(h.port)
        first = api.create(title="Before the page", total=3)
        net = NetworkLog(d)
        open_page(d, f"{h.url}/connect.html")
        wait_for(lambda: js(d, "return window.c.live"), 10, "live")
        t = api.create(title="Import customers", total=4, meta={"file": "customers.csv"})
        api.act(t["id"], "start")
        for i in range(1, 5):
            api.act(t["id"], "progress", {"done": i, "message": f"row {i}"})
        api.act(t["id"], "complete", {"result": {"rows": 4}})
        js(d, f"window.c.subscribe('task:{first['id']}');")
        api.act(first["id"], "cancel")
        wait_for(lambda: len([f for f in js(d, "return window.__frames") if f.get("topic") == f"task:{first['id']}"]) >= 2,
                 5, "the task topic's snapshot and event")
        js(d, f"window.c.unsubscribe('task:{first['id']}'); window.c.send({{op: 'ping'}});")
        wait_for(lambda: any(f.get("type") == "pong" for f in js(d, "return window.__frames")), 5, "pong")
        assert api.call("DELETE", f"/api/tasks/{first['id']}").status == 200
        wait_for(lambda: any(f.get("type") == "removed" for f in js(d, "return window.__frames")), 5, "removed")
        time.sleep(0.3)
        frames = js(d, "return window.__frames")
        net.poll()
        assert frames == net.received, "onEvent frames differ from the wire"
        types = [(f["type"], f.get("topic")) for f in frames]
        assert types[0] == ("snapshot", "tasks") and ("unsubscribed", f"task:{first['id']}") in types, types
        assert [f["event"] for f in frames if f["type"] == "task" and f["topic"] == "tasks"] == [
            "created", "started", "progress", "progress", "progress", "progress", "succeeded", "cancelled"]
        states = js(d, "return window.__states")
        assert [s["state"] for s in states] == ["connecting", "live"], states
        assert states[-1]["server"] == h.url and js(d, "return window.c.server.http") == h.url
        assert js(d, "return window.c.position")["seq"] == api.seq()
        js(d, "window.c.close();")
        wait_for(lambda: js(d, "return window.herald.stats.open") == 0, 5, "closed")
        assert js(d, "return [window.c.state.state, window.herald.stats.connections]") == ["closed", 0]
        assert net.poll().closed == 1 and len(net.created) == 1
        assert severe_console_errors(d) == []


# --------------------------------------------------------------------------- tokens

@pytest.mark.timeout(90)
def test_tokens_from_a_token_url_and_a_function_are_refreshed_on_the_open_socket(d, site, tmp_path):
    """token-url: the first token is fetched, and one due soon is replaced with {"op":"auth"}
    while the socket stays open; a token function is called again for the refresh; another
    owner's task shows `forbidden`; a bad token without a way to renew shows `unauthorized` and
    stops."""
    # 35 s left: the client refreshes it ~10 s after its first fetch (never two attempts
    # within 10 s), long before the server would close the socket.
    due = lambda sub: mint(sub, "viewer", ttl=35)       # noqa: E731
    site.write("token.json", {"token": due("alice")})
    fresh = mint("alice", "viewer", ttl=3600)
    with own_server(task_serve_args(site.public, ":memory:", "--auth-secret-file", secret_file(tmp_path)),
                    "auth herald") as h:
        admin = AuthApi(h.port, mint("ops", "admin", ttl=3600))
        mine = admin.create(title="Alice's export", owner="alice", total=10)
        bobs = admin.create(title="Bob's export", owner="bob", total=10)
        fn_token = mint("alice", "viewer", ttl=3600)
        site.page("auth.html", f"""
          <herald-task id="mine" task="{mine['id']}" token-url="/token.json"></herald-task>
          <herald-task id="bobs" task="{bobs['id']}" token-url="/token.json"></herald-task>
          <herald-task id="bad" task="{mine['id']}" token="not-a-jwt"></herald-task>""",
                  script=f"""
          const tokens = [{json.dumps(due('alice'))}, {json.dumps(fn_token)}];
          window.__calls = 0;
          window.fc = herald.connect({{ topics: ['owner:alice'],
            token: async () => {{ window.__calls += 1; return tokens.shift() || null; }} }});""")
        net = NetworkLog(d)
        open_page(d, f"{h.url}/auth.html")
        wait_for(lambda: el(d, "mine")["status"] == "queued", 10, "alice's task")
        site.write("token.json", {"token": fresh})               # what the refresh will get
        wait_for(lambda: el(d, "bobs")["status"] == "forbidden", 5, "bob's task forbidden")
        b = el(d, "bobs")
        assert b["chip"] == "No access" and "may not" in b["message"] and b["percent"] is None, b
        wait_for(lambda: el(d, "bad")["status"] == "unauthorized", 10, "the bad token refused")
        assert el(d, "bad")["connection"] == "offline" and "Access refused" in el(d, "bad")["message"]

        # both refreshes: op auth on the open sockets, answered `auth`
        wait_for(lambda: js(d, "return window.herald.tokenStats.authOk") >= 2, 20, "two auth replies")
        admin.act(mine["id"], "start")
        admin.act(mine["id"], "progress", {"done": 4})
        wait_for(lambda: el(d, "mine")["percent"] == "40", 5, "progress after the refresh")
        net.poll()
        assert sorted(m["token"] for m in sent_ops(net, "auth")) == sorted([fresh, fn_token]), net.sent
        assert len([m for m in net.received if m.get("type") == "auth"]) == 2
        assert js(d, "return window.__calls") == 2 and js(d, "return window.fc.token") == fn_token
        # three sockets (the shared one, connect()'s, the refused one), each opened once
        assert len(net.created) == 3, net.created
        assert not [m for m in net.received if m.get("code") in ("token_expired", "invalid_token")]
        time.sleep(1.5)
        assert len(net.poll().created) == 3, "the refused element kept retrying"
        stats = module_stats(d)
        assert stats["open"] == 2 and stats["connections"] == 3, stats


# --------------------------------------------------------------------------- another origin

@pytest.mark.timeout(60)
def test_a_page_of_another_origin_uses_herald(d, site, tmp_path):
    """A page on origin X: a vendored herald.js with servers= Herald's origin, and the module
    imported from Herald itself (Herald sends Access-Control-Allow-Origin: * on /herald.js)."""
    app = Site(tmp_path / "app")
    with own_server(task_serve_args(site.public, ":memory:"), "herald") as h, \
            own_server(task_serve_args(app.public, ":memory:"), "the app's origin") as x:
        api = Api(h.port)
        api.create(id="X1", title="Vendored copy", total=10)
        app.page("vendored.html", f'<herald-task id="v" task="X1" servers="{h.url}"></herald-task>')
        open_page(d, f"{x.url}/vendored.html")
        api.act("X1", "start")
        api.act("X1", "progress", {"done": 3})
        wait_for(lambda: el(d, "v")["percent"] == "30", 10, "the vendored element, cross-origin")
        assert js(d, "return document.getElementById('v').connection.server.http") == h.url

        req = urllib.request.Request(f"{h.url}/herald.js", headers={"Origin": x.url})
        with urllib.request.urlopen(req, timeout=5) as res:
            assert res.headers.get("Access-Control-Allow-Origin") == "*"
            assert res.headers.get("Content-Type", "").startswith("text/javascript")
        app.page("imported.html", '<herald-task id="i" task="X1"></herald-task>', src=f"{h.url}/herald.js")
        open_page(d, f"{x.url}/imported.html")
        wait_for(lambda: el(d, "i")["percent"] == "30", 10, "the element of the imported module")
        # its default server is the origin it was loaded from
        assert js(d, "return document.getElementById('i').connection.server.http") == h.url
        assert severe_console_errors(d) == []


# --------------------------------------------------------------------------- screenshots

@pytest.mark.timeout(60)
def test_screenshots_light_and_dark(site):
    site.page("look.html", "".join(f'<herald-task task="{t}"></herald-task>' for t in "ABCDEFG")
              .replace('task="G"', 'task="no-such-task"'))
    with own_server(task_serve_args(site.public, ":memory:")) as h:
        api = Api(h.port)
        api.create(id="A", title="Export orders.csv", total=200, lease_s=3600)
        api.act("A", "start")
        api.act("A", "progress", {"done": 30})
        time.sleep(1.1)
        api.act("A", "progress", {"done": 84, "message": "table 3 of 8: order_lines"})
        api.create(id="B", title="Resize product images", lease_s=3600)
        api.act("B", "start")
        api.act("B", "progress", {"message": "scanning the bucket"})
        api.create(id="C", title="Send monthly invoices", total=530)
        api.move_to("succeeded", id="D", title="Back up the orders database")
        api.create(id="E", title="Import customers", total=100)
        api.act("E", "start")
        api.act("E", "progress", {"done": 37})
        api.act("E", "fail", {"error": {"code": "ValueError", "message": "row 38: bad e-mail address"}})
        api.create(id="F", title="Rebuild search index", total=100)
        api.act("F", "start")
        api.act("F", "progress", {"done": 60})
        api.act("F", "cancel")
        d = make_browser(640, 760)
        try:
            # reduced motion: the indeterminate bar stands still for the picture
            d.execute_cdp_cmd("Emulation.setEmulatedMedia",
                              {"features": [{"name": "prefers-reduced-motion", "value": "reduce"}]})
            open_page(d, f"{h.url}/look.html")
            wait_for(lambda: js(d, "return [...document.querySelectorAll('herald-task')].every((e) => e.getAttribute('status') !== 'unknown')"), 10, "all shown")
            SHOTS.mkdir(parents=True, exist_ok=True)
            colors = {}
            for scheme in ("light", "dark"):
                d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
                    {"name": "prefers-color-scheme", "value": scheme}, {"name": "prefers-reduced-motion", "value": "reduce"}]})
                time.sleep(0.5)
                d.save_screenshot(str(SHOTS / f"herald-task-{scheme}.png"))
                colors[scheme] = js(d, """const e = document.querySelector('herald-task[status=running]');
                    const s = (sel) => getComputedStyle(e.shadowRoot.querySelector(sel));
                    return {fill: s('.fill').backgroundColor, title: s('.title').color, page: getComputedStyle(document.body).backgroundColor};""")
            assert colors["light"]["fill"] != colors["dark"]["fill"], colors
            assert colors["light"]["title"] != colors["dark"]["title"], "the text follows the page's scheme"
            # a page's theme: a custom property and ::part() on the reflected status
            js(d, """const s = document.createElement('style');
                s.textContent = 'herald-task.brand { --herald-accent: rgb(124, 58, 237); }'
                  + ' herald-task[status=running]::part(title) { text-decoration: underline; }';
                document.head.append(s);
                const x = document.createElement('herald-task'); x.className = 'brand'; x.setAttribute('task', 'A');
                document.body.append(x);""")
            themed = lambda: js(d, """const x = document.querySelector('herald-task.brand');
                return x.getAttribute('status') === 'running' && [getComputedStyle(x.shadowRoot.querySelector('.fill')).backgroundColor,
                  getComputedStyle(x.shadowRoot.querySelector('.title')).textDecorationLine];""")
            assert wait_for(themed, 5, "the themed element") == ["rgb(124, 58, 237)", "underline"]
            assert severe_console_errors(d) == []
        finally:
            d.quit()
