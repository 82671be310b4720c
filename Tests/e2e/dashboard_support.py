"""Helpers for the dashboard tests in headless Chromium (test_dashboard.py, test_dashboard_seed.py,
test_dashboard_auth.py) and for scripts/screenshots.

- `make_browser` / the `browser` fixture: headless Chromium through chromedriver (selenium);
- `wait_for`: a bounded poll;
- `Page`: the page's hooks (the contract between the tests and public/): rows are the outermost
  elements with `data-task-id` outside `aside#detail`, with `data-status`, `data-stale` and a
  `[role="progressbar"]`; `#conn[data-state]`; `[data-count="<status>"]`; the filters; the
  detail panel; `window.heraldStats`;
- `NetworkLog`: the WebSocket frames the browser itself sent and received (DevTools);
- `pipelined`: many API requests over a few pipelined raw HTTP connections (thousands per second);
- `fill_realistic` + `take_screenshots`: the content and the pictures of docs/screenshots/.

Every wait is bounded; nothing here skips a test.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT

REPORTS = Path(os.environ.get("HERALD_REPORTS", ROOT / "reports"))
# The dashboard under test: the repository's public/, or another copy (HERALD_PUBLIC=DIR).
PUBLIC = Path(os.environ.get("HERALD_PUBLIC", ROOT / "public"))
DESKTOP = (1280, 800)
PHONE = (390, 844)


# --------------------------------------------------------------------------- the browser

def chromedriver() -> str:
    for p in (os.environ.get("CHROMEDRIVER"), "/usr/bin/chromedriver", shutil.which("chromedriver")):
        if p and os.path.exists(p):
            return p
    pytest.fail("chromedriver not found (scripts/test installs chromium-driver)")


def make_browser(width: int = 1200, height: int = 760, network_log: bool = False, extra_args=()):
    """Headless Chromium. Browser console messages are kept (`severe_console_errors`); a
    `confirm()` the page may show before deleting is accepted, as a user would. With
    `network_log`, DevTools network events (WebSocket frames too) are kept: `NetworkLog`."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed (scripts/test installs Tests/e2e/requirements.txt)")
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              f"--window-size={width},{height}", "--disable-background-networking", "--no-first-run",
              "--hide-scrollbars", *extra_args):
        opts.add_argument(a)
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary:
        opts.binary_location = binary
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", **({"performance": "ALL"} if network_log else {})})
    opts.set_capability("unhandledPromptBehavior", "accept")
    d = webdriver.Chrome(service=Service(chromedriver()), options=opts)
    d.set_page_load_timeout(20)
    d.set_script_timeout(20)
    return d


@pytest.fixture
def browser():
    d = make_browser()
    yield d
    d.quit()


def wait_for(fn, timeout: float = 10.0, what: str = "condition", interval: float = 0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:          # element not there yet, stale element
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class NetworkLog:
    """What the browser itself saw on its WebSockets (DevTools `Network.webSocket*` events of a
    `make_browser(network_log=True)`), independent of the page's own counters: sockets created
    and closed, frames sent and received (JSON-decoded), and every HTTP request the page sent
    (`requests`: method, URL and JSON body, CORS preflights included as OPTIONS). `poll()`
    drains chromedriver's buffer; call it now and then during a long run."""

    def __init__(self, d):
        self.d = d
        self.created: list[str] = []           # URLs
        self.closed = 0
        self.sent: list[dict] = []
        self.received: list[dict] = []
        self.handshakes: list[int] = []        # HTTP status of each handshake answer
        self.requests: list[dict] = []         # {"method", "url", "body"} of each HTTP request

    def poll(self) -> "NetworkLog":
        for entry in self.d.get_log("performance"):
            try:
                msg = json.loads(entry["message"])["message"]
            except (KeyError, ValueError):
                continue
            method, params = msg.get("method", ""), msg.get("params", {})
            if method == "Network.webSocketCreated":
                self.created.append(params.get("url", ""))
            elif method == "Network.webSocketClosed":
                self.closed += 1
            elif method == "Network.requestWillBeSent":
                req = params.get("request", {})
                body = req.get("postData")
                with contextlib.suppress(TypeError, ValueError):
                    body = json.loads(body) if body else None
                self.requests.append({"method": req.get("method"), "url": req.get("url", ""), "body": body})
            elif method == "Network.webSocketHandshakeResponseReceived":
                self.handshakes.append(params.get("response", {}).get("status"))
            elif method in ("Network.webSocketFrameSent", "Network.webSocketFrameReceived"):
                try:
                    frame = json.loads(params["response"]["payloadData"])
                except (KeyError, ValueError):
                    continue
                (self.sent if method.endswith("Sent") else self.received).append(frame)
        return self

    def requests_to(self, path: str, method: str | None = None) -> list[dict]:
        """The HTTP requests whose URL path is `path` (any query), oldest first."""
        from urllib.parse import urlsplit
        return [r for r in self.requests if urlsplit(r["url"]).path == path and (method is None or r["method"] == method)]


def severe_console_errors(d, ignore=("favicon",)) -> list:
    try:
        logs = d.get_log("browser")
    except Exception:
        return []
    return [e for e in logs if e.get("level") == "SEVERE"
            and not any(s in e.get("message", "") for s in ignore)]


# --------------------------------------------------------------------------- the page's hooks

# Rows: the outermost [data-task-id] elements outside the detail panel (buttons inside a row
# may carry data-task-id too).
_ROWS_JS = """
const rows = () => [...document.querySelectorAll('[data-task-id]')].filter(
  (e) => !e.closest('#detail') && !(e.parentElement && e.parentElement.closest('[data-task-id]')));
const rowOf = (id) => rows().find((e) => e.dataset.taskId === id) || null;
const shown = (e) => !!e && e.isConnected && e.getClientRects().length > 0
  && getComputedStyle(e).visibility !== 'hidden';
"""


class Page:
    """One dashboard page in `d`, read through its hooks only."""

    def __init__(self, d):
        self.d = d

    def js(self, script: str, *args):
        return self.d.execute_script(_ROWS_JS + script, *args)

    def open(self, url: str, live_timeout: float = 15.0) -> "Page":
        self.d.get(url)
        wait_for(lambda: self.conn() == "live", live_timeout, "#conn[data-state=live]")
        return self

    # -- rows
    def row_el(self, task_id: str):
        return self.js("return rowOf(arguments[0]);", task_id)

    def row(self, task_id: str) -> dict | None:
        """The row's hooks as a dict, or None when there is no row."""
        return self.js("""
            const r = rowOf(arguments[0]);
            if (!r) return null;
            const bar = r.querySelector('[role="progressbar"]');
            return {status: r.dataset.status, stale: r.dataset.stale,
                    value: bar ? bar.getAttribute('aria-valuenow') : undefined,
                    text: r.innerText, displayed: shown(r)};""", task_id)

    def status(self, task_id: str) -> str | None:
        r = self.row(task_id)
        return r["status"] if r else None

    def value(self, task_id: str) -> float | None:
        r = self.row(task_id)
        v = r and r["value"]
        return float(v) if v not in (None, "") else None

    def values(self, ids: list[str]) -> dict:
        """{id: aria-valuenow or None} for the rows of `ids` that exist; reads attributes only
        (no layout), so it is cheap to poll on a busy page."""
        return self.js("""
            const want = new Set(arguments[0]), out = {};
            for (const r of rows()) {
              if (!want.has(r.dataset.taskId)) continue;
              const bar = r.querySelector('[role="progressbar"]');
              out[r.dataset.taskId] = bar ? bar.getAttribute('aria-valuenow') : null;
            }
            return out;""", ids)

    def all_rows(self) -> list[dict]:
        """Every row in visual order (top to bottom): id, status, stale, value, displayed."""
        return self.js("""
            return rows().map((r) => {
              const bar = r.querySelector('[role="progressbar"]');
              const rect = r.getBoundingClientRect();
              return {id: r.dataset.taskId, status: r.dataset.status, stale: r.dataset.stale,
                      value: bar ? bar.getAttribute('aria-valuenow') : null,
                      displayed: shown(r), top: rect.top, left: rect.left};
            }).sort((a, b) => a.top - b.top || a.left - b.left);""")

    def visible_ids(self) -> list[str]:
        """Ids of displayed rows, top to bottom (selenium's is_displayed decides)."""
        from selenium.webdriver.common.by import By
        out = []
        for el in self.d.find_elements(By.CSS_SELECTOR, "[data-task-id]"):
            if self.d.execute_script(_ROWS_JS + "return rows().includes(arguments[0]);", el) and el.is_displayed():
                out.append((el.location["y"], el.location["x"], el.get_attribute("data-task-id")))
        return [i for _, _, i in sorted(out)]

    def wait_status(self, task_id: str, status: str | None, timeout: float = 5.0):
        return wait_for(lambda: self.status(task_id) == status or (status is None and self.row(task_id) is None),
                        timeout, f"row {task_id} status {status!r} (now {self.status(task_id)!r})")

    def wait_value(self, task_id: str, value: float, timeout: float = 5.0):
        return wait_for(lambda: (v := self.value(task_id)) is not None and abs(v - value) < 0.051,
                        timeout, f"row {task_id} aria-valuenow {value} (now {self.value(task_id)!r})")

    def action_button(self, task_id: str, action: str):
        from selenium.webdriver.common.by import By
        row = self.row_el(task_id)
        assert row is not None, f"no row for {task_id}"
        buttons = row.find_elements(By.CSS_SELECTOR, f'[data-action="{action}"]')
        assert buttons, f"row {task_id} has no [data-action={action!r}] button"
        return buttons[0]

    def click_action(self, task_id: str, action: str):
        """Clicks a row's button as a user would: scrolled into view, pointer over the row first
        (buttons may show on hover)."""
        from selenium.webdriver.common.action_chains import ActionChains
        btn = self.action_button(task_id, action)
        self.d.execute_script("arguments[0].scrollIntoView({block: 'center'});", btn)
        ActionChains(self.d).move_to_element(self.row_el(task_id)).perform()
        wait_for(lambda: btn.is_displayed() and btn.is_enabled(), 3,
                 f"[data-action={action!r}] of {task_id} displayed and enabled")
        btn.click()

    # -- header
    def conn(self) -> str | None:
        return self.js("const c = document.querySelector('#conn'); return c ? c.dataset.state : null;")

    def count(self, status: str) -> int | None:
        t = self.js("const e = document.querySelector(`[data-count=\"${arguments[0]}\"]`);"
                    "return e ? e.textContent : null;", status)
        if t is None:
            return None
        digits = "".join(ch for ch in t if ch.isdigit())
        return int(digits) if digits else None

    def server(self) -> str | None:
        return self.js("return document.documentElement.dataset.server || null;")

    def stats(self) -> dict | None:
        return self.js("return window.heraldStats ? JSON.parse(JSON.stringify(window.heraldStats)) : null;")

    # -- detail panel
    def detail_open(self) -> bool:
        return bool(self.js("const a = document.querySelector('aside#detail');"
                            "return !!a && !a.hidden && shown(a);"))

    def detail(self) -> dict:
        return self.js("""
            const a = document.querySelector('aside#detail');
            const fields = {};
            for (const e of a.querySelectorAll('[data-field]')) fields[e.dataset.field] = e.innerText.trim();
            const txt = (s) => { const e = a.querySelector(s); return e ? e.innerText.trim() : null; };
            return {fields, meta: txt('#detail-meta'), error: txt('#detail-error'),
                    timeline: [...a.querySelectorAll('ol#detail-timeline li')].map((li) => li.innerText.trim())};""")


def same_percent(shown: str | None, task: dict) -> bool:
    """A row's aria-valuenow against the task's percent (the page may round to 0.1)."""
    if task["percent"] is None:
        return shown in (None, "")
    try:
        return abs(float(shown) - task["percent"]) <= 0.051
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- pipelined HTTP

def _read_response(f) -> tuple[int, bytes]:
    status_line = f.readline()
    if not status_line:
        raise ConnectionError("connection closed before a response")
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = f.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return status, f.read(length) if length else b""


def pipelined(port: int, requests: list[tuple[str, str, object]], connections: int = 4,
              headers: dict | None = None, timeout: float = 60.0) -> list[tuple[int, bytes]]:
    """Sends (method, path, json body or None) requests over `connections` keep-alive
    connections, each pipelined (a writer thread sends everything while the reader reads), and
    returns (status, body) in the order of `requests`."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    results: list = [None] * len(requests)
    errors: list = []

    def one(indices: list[int]):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            payload = bytearray()
            for i in indices:
                method, path, body = requests[i]
                raw = b"" if body is None else json.dumps(body).encode()
                payload += (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}"
                            f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n").encode() + raw
            writer = threading.Thread(target=s.sendall, args=(bytes(payload),), daemon=True)
            writer.start()
            with s.makefile("rb") as f:
                for i in indices:
                    results[i] = _read_response(f)
            writer.join(timeout)
            s.close()
        except Exception as e:       # reported by the caller
            errors.append(e)

    threads = [threading.Thread(target=one, args=(list(range(c, len(requests), connections)),), daemon=True)
               for c in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not errors, f"pipelined requests failed: {errors[:3]}"
    assert all(r is not None for r in results), "pipelined requests timed out"
    return results


# --------------------------------------------------------------------------- realistic content

def fill_realistic(api, realistic_rates: bool = False) -> dict:
    """A dozen tasks of every status, several owners, live messages, rates and ETAs, one stale
    task and one failed with an error. Returns {name: task id}. Takes about 2 s (rates need
    reports 250 ms apart; the stale task needs its lease to pass).

    The server's rate is the average over the reports of the last 30 s, the start (done 0)
    included, so a task that reaches 65 % in one second has an ETA of half a second. With
    `realistic_rates` the later reports come 30 s after the first ones, when the start has left
    that window: rates of a few units per second and ETAs of minutes (takes about 33 s)."""
    ids = {}

    def make(name, *, lease_s=3600, **fields):
        t = api.create(lease_s=lease_s, expire_s=max(3600, lease_s), **fields)
        ids[name] = t["id"]
        return t

    make("backup", title="Back up the orders database", owner="ops",
         meta={"target": "s3://backups/orders", "compression": "zstd"})
    make("reports", title="Generate quarterly PDF reports", owner="bob", total=48)
    # Deadlines (contract v2; a server without them ignores the fields): the export counts down
    # to its stall, the model to its timeout.
    make("export", title="Nightly orders export", owner="ops", total=1200, timeout_s=5400, stall_s=900,
         meta={"format": "parquet", "tables": 12, "requested_by": "cron"})
    make("images", title="Resize product images", owner="alice", total=4800,
         meta={"bucket": "catalog-images", "sizes": [320, 640, 1280]})
    make("index", title="Rebuild search index", owner="ops")
    make("model", title="Train recommendation model", owner="data-team", total=50, timeout_s=2400,
         meta={"gpu": "a100", "dataset": "clicks-2026-10"})
    make("deploy", title="Deploy release 2.4.1", owner="ci", total=5)
    make("video", title="Transcode webinar recording", owner="carol", total=100, lease_s=1)
    make("invoices", title="Send monthly invoices", owner="bob", total=530,
         meta={"batch": "2026-10", "region": "eu-west", "smtp": "mail.example.com"})
    make("crm", title="Sync CRM contacts", owner="bob", total=9000)
    make("csv", title="Import customer CSV", owner="alice", total=12480)
    make("analytics", title="Compute monthly analytics", owner="data-team")
    make("tickets", title="Migrate legacy tickets", owner="ci", total=3100)

    for name in ("export", "images", "index", "model", "deploy", "video", "invoices", "crm", "csv", "analytics"):
        api.act(ids[name], "start")
    # Three rounds of reports 0.3 s apart: the server computes rate and ETA from them.
    # With `realistic_rates` the 2nd round comes 30 s after the 1st: the steps below are a
    # steady few units per second over that time (ETAs of minutes). The finished tasks end
    # before the 3rd round, so the running ones are the most recently changed (on top).
    rounds = {
        "video": [(35, "encoding 1080p, pass 2 of 2"), (None, None), (None, None)],
        "crm": [(4200, "syncing contacts 4,200 of 9,000"), (None, None), (None, None)],
        "csv": [(12480, "12,480 rows imported"), (None, None), (None, None)],
        "invoices": [(180, "sending invoice 180 of 530"), (213, "sending invoice 213 of 530"), (None, None)],
        "index": [({"percent": 36}, "indexing shard 5 of 12"), ({"percent": 41.5}, None),
                  ({"percent": 42}, "indexing shard 5 of 12")],
        "model": [(16.5, "epoch 16/50 · loss 0.4391"), (17, "epoch 17/50 · loss 0.4312"), (17.01, None)],
        "deploy": [(2, "building images"), (3, "running smoke tests (eu-west)"), (3, None)],
        "images": [(1100, "resizing img_01100.jpg"), (1322, "resizing img_01322.jpg"), (1325, "resizing img_01325.jpg")],
        "export": [(700, "exporting table orders_2026_q2 (6 of 12)"), (776, "exporting table orders_2026_q3 (7 of 12)"),
                   (777, None)],
    }
    for r in range(3):
        if r:
            time.sleep(30.2 if r == 1 and realistic_rates else 0.35)
        if r == 2:
            api.act(ids["invoices"], "fail", {"error": {
                "code": "smtp_timeout",
                "message": "mail.example.com did not answer within 30 s (invoice 214 of 530)"}})
            api.act(ids["crm"], "cancel")
            api.act(ids["csv"], "complete", {"message": "12,480 rows imported, 3 skipped",
                                             "result": {"path": "/imports/customers-2026-10.csv"}})
            api.act(ids["analytics"], "complete", {"message": "report ready",
                                                   "result": {"url": "https://bi.example.com/r/2026-10"}})
            api.act(ids["tickets"], "cancel")
        for name, steps in rounds.items():
            done, message = steps[r]
            if done is None and message is None:
                continue
            body = dict(done) if isinstance(done, dict) else ({"done": done} if done is not None else {})
            if message:
                body["message"] = message
            api.act(ids[name], "progress", body)
    time.sleep(1.3)          # the transcode worker's 1 s lease passes: stale
    return ids


def take_screenshots(api, url: str, out_dir: Path, realistic_rates: bool = False) -> list[Path]:
    """Opens the dashboard at `url`, fills the server behind `api` with `fill_realistic` while the
    page watches (so the detail panel has a timeline), and writes dashboard-light.png,
    dashboard-dark.png, dashboard-phone.png and dashboard-detail.png into `out_dir`. Desktop
    pictures are 1280 px wide and as tall as the page (at most 1600 px); the phone one is a
    390 × 844 CSS-pixel screen at device scale 2."""
    out_dir.mkdir(parents=True, exist_ok=True)
    d = make_browser(*DESKTOP)
    try:
        page = Page(d).open(url)
        ids = fill_realistic(api, realistic_rates)
        wait_for(lambda: page.row(ids["video"]) and page.row(ids["video"])["stale"] == "true", 10, "stale row")
        wait_for(lambda: page.status(ids["tickets"]) == "cancelled", 5, "cancelled row")
        page.wait_value(ids["export"], 777 / 1200 * 100)            # the last report
        settle = lambda: time.sleep(0.6)        # bar transitions
        d.execute_script("window.scrollTo(0, 0); document.activeElement && document.activeElement.blur();")
        paths = []

        def shot(name):
            settle()
            p = out_dir / name
            d.save_screenshot(str(p))
            paths.append(p)

        def scheme(value):
            d.execute_cdp_cmd("Emulation.setEmulatedMedia",
                              {"features": [{"name": "prefers-color-scheme", "value": value}]})

        def viewport(width, height, scale=1, mobile=False):
            d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                              {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile})

        viewport(*DESKTOP)
        time.sleep(0.2)
        tall = d.execute_script("return document.documentElement.scrollHeight")
        viewport(DESKTOP[0], max(DESKTOP[1], min(int(tall), 1600)))
        scheme("light")
        shot("dashboard-light.png")
        scheme("dark")
        shot("dashboard-dark.png")
        scheme("light")
        page.click_action(ids["invoices"], "details")
        wait_for(page.detail_open, 5, "detail panel open")
        d.execute_script("document.activeElement && document.activeElement.blur();")
        shot("dashboard-detail.png")
        from selenium.webdriver.common.keys import Keys
        from selenium.webdriver.common.action_chains import ActionChains
        ActionChains(d).send_keys(Keys.ESCAPE).perform()
        wait_for(lambda: not page.detail_open(), 5, "detail panel closed")
        viewport(*PHONE, scale=2, mobile=True)
        d.execute_script("window.scrollTo(0, 0);")
        shot("dashboard-phone.png")
        d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        return paths
    finally:
        d.quit()
