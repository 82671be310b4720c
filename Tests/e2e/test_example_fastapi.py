"""examples/fastapi-gunicorn end to end: the real `herald serve`, the example app under the real
`gunicorn -w 4 -k uvicorn.workers.UvicornWorker` (FastAPI, uvicorn and gunicorn from PyPI,
herald_client from clients/python, all in the e2e venv), and headless Chromium.

- a signed-in user starts a book download (a ~6 s job in a thread of one gunicorn worker that
  reports through herald_client); the test refreshes the download's page over and over while
  the job runs — the pages come from different gunicorn workers (recorded from the page's
  `data-worker-pid`; more than one must have served) — and polls `<herald-task>` after every
  load and between loads (the element is always there and visible, with its progressbar),
  while a recorder installed before the page's own scripts logs every change of its `status`
  and `percent` across all loads (so nothing between two polls escapes): `percent` never goes
  down across the whole run, `status` never goes back, a page that knew its task never forgets
  it, the bar moves live on an open page, and it ends `succeeded` at 100. The page renders the
  element with the state the app read (status=, percent=), so after a load there is no moment
  without a state (no 'Connecting', no empty bar): measured, printed and required to be 0. Herald, access control on, holds the finished task with its result;
- a download whose mirror breaks at 40 % ends `failed` on the page, with the exception's class
  as the error code in Herald, and no half a book left on disk; one cancelled through Herald's
  API (as the dashboard does) stops and ends `cancelled`; gunicorn stopped (SIGTERM, as in a
  deploy) while a download runs lets it finish before its worker exits (access control off).

Every refresh opens a new connection to gunicorn (`--keep-alive 0`, as behind a proxy that does
not keep upstream connections), so the kernel picks the worker; Chromium would otherwise reuse
one keep-alive connection, and with it one worker, for all refreshes.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import pytest

from conftest import ROOT, Herald, _die_with_parent, _started
from dashboard_support import REPORTS, make_browser, severe_console_errors, wait_for
from proc_support import alive, children
from tasks_support import TERMINAL

EXAMPLE = ROOT / "examples" / "fastapi-gunicorn"
PUBLISH_TOKEN = "publish-" + os.urandom(12).hex()
AUTH_KEY = os.urandom(32).hex()
CHUNK_DELAY = 0.08            # Moby-Dick: 78 chunks of 16 KiB → about 6.3 s
BOOK_BYTES = {"moby-dick": 1_276_000, "the-lost-chapter": 900_000, "war-and-peace": 3_359_000}
# The order statuses may move in; a page showing a lower one after a higher one went back.
RANK = {"queued": 0, "running": 1, "cancelling": 2, "succeeded": 3, "failed": 3, "cancelled": 3}
WORKERS = 4

# Test-only gunicorn hook: the workers die with the master if pytest dies (PR_SET_PDEATHSIG is
# not inherited across fork, and uvicorn's workers do not watch their parent).
GUNICORN_HOOKS = """\
import ctypes, signal

def post_fork(server, worker):
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
"""

SAMPLE_JS = """
const el = document.querySelector('herald-task');
const root = el && (el.shadowRoot || el);
const bar = root && root.querySelector('[role="progressbar"]');
const box = el && el.getBoundingClientRect();
return {pid: document.body ? document.body.dataset.workerPid : null, url: location.pathname,
        ready: document.readyState, present: !!el && el.isConnected,
        defined: !!customElements.get('herald-task'), status: el && el.getAttribute('status'),
        percent: el && el.getAttribute('percent'), bar: !!bar,
        valuenow: bar && bar.getAttribute('aria-valuenow'),
        visible: !!box && box.width > 0 && box.height > 0};
"""


def versions() -> dict:
    import fastapi
    import gunicorn
    import uvicorn
    return {"fastapi": fastapi.__version__, "gunicorn": gunicorn.__version__, "uvicorn": uvicorn.__version__}


# --------------------------------------------------------------------------- gunicorn

class Gunicorn:
    """`gunicorn -w 4 -k uvicorn.workers.UvicornWorker app:app` in examples/fastapi-gunicorn on a
    free port, its log in a file."""

    def __init__(self, tmp: Path, env: dict):
        self.tmp = tmp
        self.env = env
        self.log_path = tmp / "gunicorn.log"
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.workers: set[int] = set()

    def start(self, timeout: float = 30.0) -> "Gunicorn":
        hooks = self.tmp / "gunicorn_test_hooks.py"
        hooks.write_text(GUNICORN_HOOKS)
        cmd = [sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-k", "uvicorn.workers.UvicornWorker",
               "-b", "127.0.0.1:0", "--keep-alive", "0", "--graceful-timeout", "15",
               "--control-socket", str(self.tmp / "gunicorn.ctl"), "-c", str(hooks), "app:app"]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=EXAMPLE, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if self.port is None:
                m = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
                self.port = int(m.group(1)) if m else None
            if self.port is not None and text.count("Application startup complete") >= WORKERS:
                self.workers = set(children(self.proc.pid))
                if len(self.workers) == WORKERS:
                    return self
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited with {self.proc.returncode}:\n{self.tail()}")
            time.sleep(0.1)
        raise AssertionError(f"gunicorn did not start {WORKERS} workers within {timeout}s:\n{self.tail()}")

    def text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, n: int = 60) -> str:
        return "--- gunicorn log ---\n" + "\n".join(self.text().splitlines()[-n:])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        workers = set(children(self.proc.pid)) | self.workers
        rc = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        else:
            rc = self.proc.returncode
        for pid in workers:              # only the workers this gunicorn forked
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.log.close()
        return rc


def request(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body,
                     headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


class Stack:
    """herald serve + the example under gunicorn, configured as the README says."""

    def __init__(self, tmp: Path, auth: bool):
        self.tmp = tmp
        self.auth = auth
        self.downloads = tmp / "downloads"
        extra = ["--publish-token", PUBLISH_TOKEN]
        if auth:
            secret = tmp / "auth.secret"
            secret.write_text(AUTH_KEY + "\n")
            extra += ["--auth-secret-file", str(secret)]
        # As the README runs it: /herald.js from the files embedded in the binary (no --public).
        self.herald = Herald(["serve", "--host", "127.0.0.1", "--port", "0", "--data", ":memory:", *extra],
                             name="herald (example)")
        _started.append(self.herald)
        self.herald.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
        env.update(HERALD_URL=self.herald.url, HERALD_PUBLISH_TOKEN=PUBLISH_TOKEN,
                   DOWNLOAD_DIR=str(self.downloads), DOWNLOAD_CHUNK_DELAY=str(CHUNK_DELAY),
                   PYTHONUNBUFFERED="1")
        if auth:
            env["HERALD_AUTH_SECRET_FILE"] = str(secret)
        self.app = Gunicorn(tmp, env).start()

    def task(self, task_id: str) -> dict:
        status, _, body = request(f"{self.herald.url}/api/tasks/{task_id}",
                                  headers={"Authorization": f"Bearer {PUBLISH_TOKEN}"})
        assert status == 200, (status, body)
        return json.loads(body)

    def close(self):
        problems = []
        rc = self.app.stop()
        if rc != 0:
            problems.append(f"gunicorn exited with {rc} on SIGTERM\n{self.app.tail()}")
        hrc = self.herald.stop()
        _started.remove(self.herald)
        if hrc != 0:
            problems.append(f"herald exited with {hrc} on SIGTERM\n{self.herald.log_tail()}")
        return problems


@pytest.fixture
def stack(tmp_path):
    made: list[Stack] = []

    def start(auth: bool) -> Stack:
        s = Stack(tmp_path, auth)
        made.append(s)
        return s

    yield start
    problems = []
    for s in made:
        problems += s.close()
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture
def browser(request):
    d = make_browser(900, 600)
    yield d
    with contextlib.suppress(Exception):
        REPORTS.mkdir(parents=True, exist_ok=True)
        d.save_screenshot(str(REPORTS / f"example-fastapi-{request.node.name}.png"))
    d.quit()


def sign_in(d, app_url: str, name: str):
    from selenium.webdriver.common.by import By
    d.get(app_url + "/")
    box = d.find_element(By.NAME, "name")
    box.send_keys(name)
    box.submit()
    wait_for(lambda: "Signed in as" in d.find_element(By.TAG_NAME, "header").text, 10, "signed in")


def start_download_in_page(d, book: str) -> str:
    from selenium.webdriver.common.by import By
    d.find_element(By.CSS_SELECTOR, f'form[action="/books/{book}/download"] button').click()
    wait_for(lambda: "/downloads/" in d.current_url, 10, "the download's page")
    return d.current_url.rsplit("/", 1)[1]


# Installed in every page before its own scripts (DevTools Page.addScriptToEvaluateOnNewDocument):
# records the state of every <herald-task> each time its `status` or `percent` changed — once
# per microtask checkpoint, i.e. every state that could have been painted — and its removal,
# in sessionStorage, which outlives the refreshes of the tab.
RECORDER_JS = r"""
(() => {
  const KEY = 'heraldTimeline';
  const push = (e) => {
    e.page = performance.timeOrigin;
    e.at = performance.timeOrigin + performance.now();
    const log = JSON.parse(sessionStorage.getItem(KEY) || '[]');
    log.push(e);
    sessionStorage.setItem(KEY, JSON.stringify(log));
  };
  push({what: 'navigated', url: location.pathname});
  new MutationObserver((records) => {
    const changed = new Set();
    for (const r of records) {
      for (const n of r.removedNodes) if (n.localName === 'herald-task') push({what: 'removed'});
      for (const n of r.addedNodes) if (n.localName === 'herald-task') changed.add(n);
      if (r.type === 'attributes' && r.target.localName === 'herald-task') changed.add(r.target);
    }
    for (const el of changed) {
      if (el.isConnected) push({what: 'state', status: el.getAttribute('status'),
                                percent: el.getAttribute('percent'), defined: !!customElements.get('herald-task')});
    }
  }).observe(document, {subtree: true, childList: true, attributes: true, attributeFilter: ['status', 'percent']});
  // The moment herald.js defines the element: what it shows from then on (the same attributes
  // cause no mutation, so record it here).
  customElements.whenDefined('herald-task').then(() => {
    for (const el of document.querySelectorAll('herald-task')) {
      push({what: 'state', status: el.getAttribute('status'), percent: el.getAttribute('percent'), defined: true});
    }
  });
})();
"""


class Timeline:
    """The page's <herald-task> across loads: polled samples (element there and visible, the
    worker that served the page) and the recorder's every change of `status`/`percent`."""

    def __init__(self, d):
        self.d = d
        self.samples: list[dict] = []
        self.loads = 0
        d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORDER_JS})

    def sample(self, after_load: bool = False) -> dict:
        s = self.d.execute_script(SAMPLE_JS)
        s.update(t=time.monotonic(), load=self.loads, first=after_load)
        self.samples.append(s)
        where = f"load {s['load']} (worker {s['pid']}), sample {len(self.samples)}: {s}"
        assert s["present"] and s["visible"], f"the <herald-task> element vanished at {where}"
        assert s["defined"], f"<herald-task> is not defined (herald.js not loaded?) at {where}"
        assert s["bar"], f"no progressbar inside <herald-task> at {where}"
        self.check()
        return s

    def load(self, url: str | None = None, navigated: bool = False):
        """Loads the page (`url`, or a refresh), or records one the browser has just loaded."""
        if url:
            self.d.get(url)
        elif not navigated:
            self.d.refresh()
        self.loads += 1
        return self.sample(after_load=True)

    # -- the recorder's log
    def changes(self) -> list[dict]:
        return json.loads(self.d.execute_script("return sessionStorage.getItem('heraldTimeline') || '[]'"))

    def check(self) -> list[dict]:
        """Every recorded state so far: once a page knew its task, it never went back to not
        knowing it; no known state, on any page, is behind an earlier one."""
        log = self.changes()
        known_seen: dict[float, bool] = {}
        top_percent, top_rank = -1, -1
        for i, e in enumerate(log):
            where = f"change {i} of the recorded timeline (page loaded at {e['page']:.0f}): {e}"
            assert e["what"] != "removed", f"the <herald-task> element was removed: {where}"
            # Before herald.js defines the element, its attributes are the page's markup (the
            # app's render, possibly a moment older than the previous page's last event): shown
            # to nobody. What the element shows once defined is held to the rules below.
            if e["what"] != "state" or not e["defined"]:
                continue
            if e["status"] in RANK:
                assert e["percent"] is not None and re.fullmatch(r"\d{1,3}", e["percent"]), where
                assert int(e["percent"]) >= top_percent, f"the bar went back from {top_percent}% at {where}"
                assert RANK[e["status"]] >= top_rank, f"the status went back at {where}"
                top_percent, top_rank = int(e["percent"]), RANK[e["status"]]
                known_seen[e["page"]] = True
            else:
                assert e["status"] in (None, "unknown"), f"status {e['status']!r} at {where}"
                assert not known_seen.get(e["page"]), f"the bar lost its state on an open page at {where}"
        return log

    def blind_spots(self) -> list[float]:
        """Per page load: ms from the element's first appearance to its first known state (an
        element without the page's own status/percent would show 'Connecting' and an empty bar
        meanwhile; the app writes them, so this is 0)."""
        spans, first = [], {}
        for e in self.changes():
            if e["what"] != "state" or not e["defined"]:   # the markup before herald.js: shown to nobody
                continue
            first.setdefault(e["page"], e["at"])
            if e["status"] in RANK and first[e["page"]] is not None:
                spans.append(e["at"] - first[e["page"]])
                first[e["page"]] = None
        return spans

    def live_moves(self) -> int:
        """How often the bar moved on an open page (a change after the page's first known state)."""
        pages: dict[float, int] = {}
        for e in self.changes():
            if e["what"] == "state" and e["defined"] and e["status"] in RANK:
                pages[e["page"]] = pages.get(e["page"], 0) + 1
        return sum(n - 1 for n in pages.values())

    def settled(self, timeout: float = 5.0) -> dict:
        """A sample of the current page once its element knows its task's state."""
        return wait_for(lambda: (lambda x: x if x["status"] in RANK else None)(self.sample()),
                        timeout, "the element's first state")

    def finished_at(self) -> float:
        """When the polling first saw the task terminal."""
        return next((x["t"] for x in self.samples if x["status"] in TERMINAL), float("inf"))

    def pids(self) -> list[int]:
        return [int(s["pid"]) for s in self.samples if s["first"]]


def report(capsys, lines: list[str]):
    with capsys.disabled():
        print("\n" + "\n".join(f"[example fastapi] {line}" for line in lines))


# --------------------------------------------------------------------------- the tests

def test_download_page_refreshed_across_gunicorn_workers(stack, browser, capsys):
    s = stack(auth=True)
    d = browser
    report(capsys, [f"FastAPI {v['fastapi']}, gunicorn {v['gunicorn']}, uvicorn {v['uvicorn']}, "
                    f"Chromium {d.capabilities.get('browserVersion')}" for v in [versions()]])
    tl = Timeline(d)
    sign_in(d, s.app.url, "alice")
    started = time.monotonic()
    task_id = start_download_in_page(d, "moby-dick")
    tl.load(navigated=True)
    job_worker = int(s.task(task_id)["meta"]["worker"].rsplit(":", 1)[1])
    assert job_worker in s.app.workers, (job_worker, s.app.workers)

    # Refresh while the job runs, sampling between loads; then twice more once it has finished.
    deadline = time.monotonic() + 30
    after_end = 0
    while after_end < 2:
        assert time.monotonic() < deadline, f"the download did not finish within 30 s: {tl.samples[-1]}"
        tl.load()
        for _ in range(4):
            time.sleep(0.08)
            tl.sample()
        if tl.samples[-1]["status"] in TERMINAL:
            after_end += 1
    elapsed = time.monotonic() - started

    final = tl.settled()
    assert final["status"] == "succeeded" and final["percent"] == "100", final
    assert final["valuenow"] is not None and float(final["valuenow"]) == 100, final
    log = tl.check()
    pids = tl.pids()
    served = sorted(set(pids))
    running_loads = [s_ for s_ in tl.samples if s_["first"] and s_["status"] in ("running", "unknown")
                     and s_["t"] < tl.finished_at()]
    blind = tl.blind_spots()
    shown = sorted({int(e["percent"]) for e in log if e.get("percent")})
    report(capsys, [f"{tl.loads} page loads in {elapsed:.1f} s ({len(running_loads)} while the job ran), "
                    f"{len(tl.samples)} samples, {len(log)} recorded changes; pages served by workers {served} "
                    f"(loads per worker: { {p: pids.count(p) for p in served} }); the job ran in {job_worker}",
                    f"percent shown: {len(shown)} values from {min(shown)} to {max(shown)}",
                    f"the bar moved on an open page {tl.live_moves()} times; after each load it showed "
                    f"no state for {min(blind):.0f}–{max(blind):.0f} ms (median "
                    f"{sorted(blind)[len(blind) // 2]:.0f} ms) before its first state"])
    assert len(running_loads) >= 5, f"only {len(running_loads)} page loads while the job ran"
    assert set(pids) <= s.app.workers, (pids, s.app.workers)
    assert len(served) > 1, f"every page came from one gunicorn worker ({served}); the test proves nothing"
    assert any(p != job_worker for p in pids), "no page came from a worker other than the job's"
    assert tl.live_moves() >= 3, "the bar did not move on an open page (live updates)"
    # The page writes the state it rendered with (status=, percent=): no reload flashes an empty bar.
    assert len(blind) == tl.loads and max(blind) == 0, blind
    assert not severe_console_errors(d), severe_console_errors(d)

    task = s.task(task_id)
    assert task["status"] == "succeeded" and task["owner"] == "alice", task
    assert task["result"] == {"file": f"{task_id}.txt", "bytes": BOOK_BYTES["moby-dick"]}, task
    assert (s.downloads / f"{task_id}.txt").stat().st_size == BOOK_BYTES["moby-dick"]

    # Another user's page for it is a 404 from the app (and Herald would refuse their token).
    status, _, _ = request(f"{s.app.url}/downloads/{task_id}", headers={"Cookie": "user=mallory"})
    assert status == 404
    # The token-url the element renews its token from: a viewer token for the session's user.
    status, _, body = request(f"{s.app.url}/herald-token", headers={"Cookie": "user=alice"})
    assert status == 200, (status, body)
    claims = jwt.decode(json.loads(body)["token"], AUTH_KEY.encode(), algorithms=["HS256"])
    assert claims["sub"] == "alice" and claims["role"] == "viewer" and claims["exp"] > time.time() + 3000, claims
    assert request(f"{s.app.url}/herald-token")[0] == 401


def test_failed_download_shows_failed(stack, browser, capsys):
    s = stack(auth=False)
    d = browser
    tl = Timeline(d)
    sign_in(d, s.app.url, "bob")
    # The API way to start one: 202 with the task id.
    status, headers, body = request(f"{s.app.url}/books/the-lost-chapter/download", "POST",
                                    headers={"Cookie": "user=bob", "Accept": "application/json"})
    assert status == 202, (status, body)
    task_id = json.loads(body)["task_id"]
    # Meanwhile another download, cancelled as from the dashboard: the job stops, confirms.
    status, _, body = request(f"{s.app.url}/books/war-and-peace/download", "POST",
                              headers={"Cookie": "user=bob", "Accept": "application/json"})
    assert status == 202, (status, body)
    cancel_id = json.loads(body)["task_id"]
    wait_for(lambda: s.task(cancel_id)["done"] > 0, 10, "the second download to start")
    status, _, body = request(f"{s.herald.url}/api/tasks/{cancel_id}/cancel", "POST", b"{}",
                              headers={"Authorization": f"Bearer {PUBLISH_TOKEN}",
                                       "Content-Type": "application/json"})
    assert status == 200, (status, body)
    tl.load(f"{s.app.url}/downloads/{task_id}")
    deadline = time.monotonic() + 20
    while tl.samples[-1]["status"] not in TERMINAL:
        assert time.monotonic() < deadline, f"the download did not end within 20 s: {tl.samples[-1]}"
        time.sleep(0.1)
        tl.sample()
    tl.load()                               # and a fresh page says the same
    final = tl.settled()
    assert final["status"] == "failed", final
    assert 30 <= int(final["percent"]) <= 45, final          # the mirror broke at 40 %
    tl.check()
    task = s.task(task_id)
    assert task["status"] == "failed" and task["error"]["code"] == "MirrorError", task
    assert "mirror closed the connection" in task["error"]["message"], task
    assert not (s.downloads / f"{task_id}.txt").exists(), "half a book left on disk"
    cancelled = wait_for(lambda: (lambda t: t if t["status"] == "cancelled" else None)(s.task(cancel_id)),
                         5, "the cancelled download to confirm")
    assert 0 < cancelled["done"] < BOOK_BYTES["war-and-peace"], cancelled
    assert not (s.downloads / f"{cancel_id}.txt").exists(), "half a cancelled book left on disk"
    assert "MirrorError: mirror closed the connection" in s.app.text(), "the job's failure is not in gunicorn's log"
    assert not severe_console_errors(d), severe_console_errors(d)

    # gunicorn told to stop (a deploy) while a download runs: the worker lets it finish first.
    status, _, body = request(f"{s.app.url}/books/moby-dick/download", "POST",
                              headers={"Cookie": "user=bob", "Accept": "application/json"})
    assert status == 202, (status, body)
    last_id = json.loads(body)["task_id"]
    wait_for(lambda: s.task(last_id)["done"] > 0, 10, "the last download to start")
    stopping = time.monotonic()
    s.app.proc.send_signal(signal.SIGTERM)
    rc = s.app.proc.wait(20)
    last = s.task(last_id)
    assert rc == 0 and last["status"] == "succeeded", (rc, last, s.app.tail())
    assert (s.downloads / f"{last_id}.txt").stat().st_size == BOOK_BYTES["moby-dick"]
    report(capsys, [f"failed download: page shows {final['status']} at {final['percent']}%, "
                    f"Herald error {task['error']}; a cancelled one ended {cancelled['status']} at "
                    f"{cancelled['percent']:.0f}%; gunicorn stopped mid-download exited {rc} after "
                    f"{time.monotonic() - stopping:.1f} s with the download {last['status']}"])
