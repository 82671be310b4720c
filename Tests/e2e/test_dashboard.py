"""The dashboard (public/) end to end: the real `herald` binary, real headless Chromium (selenium).

Read only through the page's hooks (see dashboard_support.Page): rows `[data-task-id]` with
`data-status`, `data-stale` and a `[role="progressbar"]`; action buttons `[data-action]`;
`#conn[data-state]`; `[data-count]`; the filters; `aside#detail`; `dialog#token-dialog`;
`html[data-server]`; `window.heraldStats`. Every server change is made over HTTP as a worker
would, every check waits for the pushed event with a bound, and the final state is compared
with the API.

reports/dashboard-perf.json gets the figures of the 5,000-task run; reports/screenshots/ the
pictures (scripts/screenshots writes the ones in docs/screenshots/).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import socket
import tempfile
import threading
import time

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from conftest import Herald
from dashboard_support import (PUBLIC, REPORTS, Page, browser, pipelined, same_percent,  # noqa: F401 (fixture)
                               severe_console_errors, take_screenshots, wait_for)
from auth_support import AuthApi
from tasks_support import Api, free_port, own_server, task_serve_args, unique_id
from test_broker import Broker

STATUSES = ("queued", "running", "cancelling", "succeeded", "failed", "cancelled")


@pytest.fixture
def serve():
    """Factory: `serve(*extra, data=..., port=...)` starts `herald serve` on the repository's
    public/; every server still running is stopped at teardown."""
    with contextlib.ExitStack() as stack:
        def start(*extra, data: str = ":memory:", port: int | str = 0, name: str = "dashboard herald") -> Herald:
            args = task_serve_args(PUBLIC, data, *extra)
            args[args.index("--port") + 1] = str(port)
            return stack.enter_context(own_server(args, name))
        yield start


def counts_match_api(page: Page, api: Api) -> bool:
    tasks = api.task_list("limit=10000")["tasks"]
    return all(page.count(s) == sum(1 for t in tasks if t["status"] == s) for s in STATUSES)


def rows_match_api(page: Page, api: Api, ids=None) -> list[str]:
    """Differences between the rows and the API (status, stale, percent); [] when none."""
    tasks = {t["id"]: t for t in api.task_list("limit=10000")["tasks"]}
    rows = {r["id"]: r for r in page.all_rows()}
    diffs = []
    for i in (ids if ids is not None else set(tasks) | set(rows)):
        t, r = tasks.get(i), rows.get(i)
        if t is None or r is None:
            if t is not None or r is not None:
                diffs.append(f"{i}: row {r and r['status']!r}, API {t and t['status']!r}")
            continue
        if r["status"] != t["status"] or r["stale"] != ("true" if t["stale"] else "false") \
                or not same_percent(r["value"], t):
            diffs.append(f"{i}: row {r['status']}/{r['stale']}/{r['value']}, "
                         f"API {t['status']}/{t['stale']}/{t['percent']}")
    return diffs


def wait_rows_match_api(page: Page, api: Api, ids=None, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while (diffs := rows_match_api(page, api, ids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert diffs == [], f"rows differ from the API after {timeout}s: {diffs[:10]} ({len(diffs)} in all)"


def noisy_errors(d) -> list:
    """Console errors of a page whose servers all stayed up and answered every action 2xx."""
    return severe_console_errors(d)


# --------------------------------------------------------------------------- 1. rows appear

@pytest.mark.timeout(60)
def test_tasks_created_over_http_appear_with_title_status_and_counts(browser, serve):
    h = serve()
    api = Api(h.port)
    before = api.create(title="Nightly orders export", owner="ops", total=100, lease_s=3600)
    page = Page(browser).open(h.url + "/")
    page.wait_status(before["id"], "queued")           # from the snapshot
    assert page.count("queued") == 1 and page.count("running") == 0

    q = api.create(id=unique_id("dash"), title="Resize product images", owner="alice", total=10)
    r = api.move_to("running", title="Rebuild search index", owner="ops")
    f = api.move_to("failed", title="Send monthly invoices", owner="bob")
    for t, status in ((q, "queued"), (r, "running"), (f, "failed")):
        page.wait_status(t["id"], status)
        row = page.row(t["id"])
        assert t["title"] in row["text"], row
        assert status in row["text"].lower(), f"no {status!r} chip in {row['text']!r}"
        assert row["stale"] == "false" and row["displayed"], row
    wait_for(lambda: counts_match_api(page, api), 5, "header counts = API")
    assert (page.count("queued"), page.count("running"), page.count("failed")) == (2, 1, 1)
    assert noisy_errors(browser) == []


# --------------------------------------------------------------------------- 2. progress

@pytest.mark.timeout(60)
def test_progress_moves_the_bar_and_shows_the_message(browser, serve):
    h = serve()
    api = Api(h.port)
    page = Page(browser).open(h.url + "/")
    t = api.move_to("running", title="Resize product images", total=8)
    page.wait_status(t["id"], "running")
    for done, message in ((2, "image 2 of 8"), (6, "image 6 of 8 — thumbnails")):
        api.act(t["id"], "progress", {"done": done, "message": message})
        page.wait_value(t["id"], done / 8 * 100)
        wait_for(lambda: message in page.row(t["id"])["text"], 3, f"message {message!r} in the row")
    # A total that grows moves the bar back (percent is done/total), and percent-only reports
    # (total unknown) move it too.
    api.act(t["id"], "progress", {"done": 7, "total": 20})
    page.wait_value(t["id"], 35)
    p = api.move_to("running", title="Rebuild search index")
    api.act(p["id"], "progress", {"percent": 42.5, "message": "shard 5 of 12"})
    page.wait_value(p["id"], 42.5)
    api.act(t["id"], "complete", {"message": "all images resized"})
    page.wait_status(t["id"], "succeeded")
    page.wait_value(t["id"], 100)
    assert noisy_errors(browser) == []


# --------------------------------------------------------------------------- 3. stale

@pytest.mark.timeout(60)
def test_a_silent_worker_shows_the_stale_badge_and_a_heartbeat_clears_it(browser, serve):
    h = serve()
    api = Api(h.port)
    page = Page(browser).open(h.url + "/")
    # The contract's smallest lease is 0.1 s; 1 s keeps the test quick and unambiguous.
    t = api.create(title="Transcode webinar recording", owner="carol", total=100, lease_s=1, expire_s=3600)
    api.act(t["id"], "start")
    page.wait_status(t["id"], "running")
    assert page.row(t["id"])["stale"] == "false"
    wait_for(lambda: page.row(t["id"])["stale"] == "true", 6, "data-stale=true after the 1 s lease")
    text = wait_for(lambda: (txt := page.row(t["id"])["text"]) and re.search(r"last heartbeat\b.*\bago", txt, re.I | re.S)
                    and txt, 3, "badge text 'last heartbeat … ago'")
    assert api.task(t["id"])["stale"] is True, text

    # A heartbeat clears it; keep beating so the lease cannot run out while we look.
    stop = threading.Event()

    def beat():
        while not stop.is_set():
            api.act(t["id"], "heartbeat")
            stop.wait(0.25)
    beater = threading.Thread(target=beat, daemon=True)
    beater.start()
    try:
        wait_for(lambda: page.row(t["id"])["stale"] == "false", 3, "data-stale=false after a heartbeat")
        time.sleep(0.5)
        row = page.row(t["id"])
        assert row["stale"] == "false", row
        assert not re.search(r"last heartbeat\b.*\bago", row["text"], re.I | re.S), row["text"]
    finally:
        stop.set()
        beater.join(5)


# --------------------------------------------------------------------------- 4. actions

@pytest.mark.timeout(60)
def test_cancel_retry_and_delete_from_the_page(browser, serve):
    h = serve()
    api = Api(h.port)
    page = Page(browser).open(h.url + "/")
    q = api.create(title="Generate quarterly PDF reports", owner="bob")
    r = api.move_to("running", title="Sync CRM contacts", owner="bob", total=100)
    f = api.move_to("failed", title="Send monthly invoices")
    s = api.move_to("succeeded", title="Import customer CSV")
    page.wait_status(s["id"], "succeeded")

    # queued → cancelled
    page.click_action(q["id"], "cancel")
    page.wait_status(q["id"], "cancelled")
    assert api.task(q["id"])["status"] == "cancelled"

    # running → cancelling; the worker sees it in its next answer and confirms → cancelled,
    # which the page learns only from the pushed event.
    page.click_action(r["id"], "cancel")
    page.wait_status(r["id"], "cancelling")
    assert api.task(r["id"])["status"] == "cancelling"
    answer = api.act(r["id"], "progress", {"done": 60, "message": "stopping after this batch"})
    assert answer.get("cancel_requested") is True, answer
    page.wait_value(r["id"], 60)
    api.act(r["id"], "cancelled")
    page.wait_status(r["id"], "cancelled")

    # retry of a cancelled and of a failed task → queued, attempt 2
    for t in (q, f):
        page.click_action(t["id"], "retry")
        page.wait_status(t["id"], "queued")
        got = api.task(t["id"])
        assert got["status"] == "queued" and got["attempt"] == 2, got

    # delete of a finished task: the row goes (the page may ask for confirmation: accepted)
    page.click_action(s["id"], "delete")
    page.wait_status(s["id"], None)
    assert api.get(f"/api/tasks/{s['id']}").status == 404
    wait_for(lambda: counts_match_api(page, api), 5, "header counts = API")
    wait_rows_match_api(page, api)
    assert noisy_errors(browser) == []


# --------------------------------------------------------------------------- 5. filters

def _type(el, text: str):
    """Replaces an input's text the way a user does (select all, type), so input events fire."""
    el.send_keys(Keys.CONTROL, "a")
    el.send_keys(Keys.BACKSPACE)
    if text:
        el.send_keys(text)


@pytest.mark.timeout(60)
def test_status_owner_search_filters_and_sort_by_eta(browser, serve):
    h = serve()
    api = Api(h.port)
    d = browser
    page = Page(d).open(h.url + "/")
    a1 = api.move_to("running", title="Export invoices to the ledger", owner="alice")
    a2 = api.move_to("failed", title="Resize product images", owner="alice")
    b1 = api.create(title="Send invoices reminder", owner="bob")
    b2 = api.move_to("succeeded", title="Rebuild search index", owner="bob")
    c1 = api.move_to("failed", title="Import invoices CSV", owner="carol")
    # Three running tasks with very different speeds: created fastest first, so "recent"
    # (newest first) and "eta" order them oppositely.
    eta = [api.move_to("running", title=f"Copy bucket {n}", owner="dave", total=1000) for n in ("fast", "medium", "slow")]
    for t in eta:
        api.act(t["id"], "progress", {"done": 100})
    time.sleep(0.35)                       # rate needs reports ≥ 250 ms apart
    for t, done in zip(eta, (400, 130, 103)):
        api.act(t["id"], "progress", {"done": done})
    etas = {t["id"]: api.task(t["id"])["eta_s"] for t in eta}
    assert all(v is not None for v in etas.values()), etas
    everyone = {a1["id"], a2["id"], b1["id"], b2["id"], c1["id"], *etas}
    wait_for(lambda: set(page.visible_ids()) == everyone, 5, "all rows shown")

    status = Select(d.find_element(By.CSS_SELECTOR, "select#filter-status"))
    assert {o.get_attribute("value") for o in status.options} >= {"", *STATUSES}
    status.select_by_value("failed")
    wait_for(lambda: set(page.visible_ids()) == {a2["id"], c1["id"]}, 3, "only failed rows")
    status.select_by_value("")
    wait_for(lambda: set(page.visible_ids()) == everyone, 3, "all rows again")

    owner = d.find_element(By.CSS_SELECTOR, "input#filter-owner")
    _type(owner, "alice")
    wait_for(lambda: set(page.visible_ids()) == {a1["id"], a2["id"]}, 3, "only alice's rows")
    _type(owner, "")
    wait_for(lambda: set(page.visible_ids()) == everyone, 3, "all rows again")

    search = d.find_element(By.CSS_SELECTOR, "input#search")
    _type(search, "invoices")
    wait_for(lambda: set(page.visible_ids()) == {a1["id"], b1["id"], c1["id"]}, 3, "rows matching 'invoices'")
    status.select_by_value("failed")          # filters combine
    wait_for(lambda: set(page.visible_ids()) == {c1["id"]}, 3, "failed and matching 'invoices'")
    # A task that starts matching while filtered shows up by itself.
    api.act(a1["id"], "fail")
    wait_for(lambda: set(page.visible_ids()) == {a1["id"], c1["id"]}, 3, "newly failed row joins the filter")
    status.select_by_value("")
    _type(search, "")
    wait_for(lambda: set(page.visible_ids()) == everyone, 3, "all rows again")

    Select(d.find_element(By.CSS_SELECTOR, "select#sort")).select_by_value("eta")
    want = sorted(etas, key=etas.get)
    wait_for(lambda: [i for i in page.visible_ids() if i in etas] == want, 3,
             f"rows with an ETA in ETA order {want} (ETAs {etas})")
    Select(d.find_element(By.CSS_SELECTOR, "select#sort")).select_by_value("recent")
    # seq, not updated_at: two tasks changed in the same millisecond tie on updated_at, and
    # the page orders by the authority's change counter (strictly increasing).
    changed = {i: api.task(i)["seq"] for i in etas}
    recent = sorted(etas, key=changed.get, reverse=True)
    wait_for(lambda: [i for i in page.visible_ids() if i in etas] == recent, 3, "most recently changed first again")
    assert noisy_errors(d) == []


# --------------------------------------------------------------------------- 6. detail panel

@pytest.mark.timeout(60)
def test_detail_panel_shows_fields_meta_error_and_timeline(browser, serve):
    h = serve()
    api = Api(h.port)
    d = browser
    page = Page(d).open(h.url + "/")
    assert not page.detail_open()
    meta = {"batch": "2026-10", "region": "eu-west"}
    t = api.create(id=unique_id("invoices"), title="Send monthly invoices", owner="bob", total=530, meta=meta)
    api.act(t["id"], "start")
    api.act(t["id"], "progress", {"done": 212, "message": "sending invoice 212 of 530"})
    api.act(t["id"], "fail", {"error": {"code": "smtp_timeout", "message": "mail.example.com did not answer"}})
    other = api.move_to("running", title="Nightly orders export", owner="ops")
    page.wait_status(t["id"], "failed")

    page.click_action(t["id"], "details")
    wait_for(page.detail_open, 3, "aside#detail open")
    got = wait_for(lambda: (x := page.detail()) and t["id"] in x["fields"].get("id", "") and x, 3, "detail of the task")
    f = got["fields"]
    assert "Send monthly invoices" in f.get("title", ""), f
    assert "bob" in f.get("owner", ""), f
    assert "failed" in f.get("status", "").lower(), f
    for k, v in meta.items():
        assert k in (got["meta"] or "") and v in got["meta"], got["meta"]
    assert "smtp_timeout" in (got["error"] or "") and "mail.example.com did not answer" in got["error"], got["error"]
    events = got["timeline"]
    where = [next((n for n, li in enumerate(events) if re.search(rf"\b{e}\b", li, re.I)), None)
             for e in ("created", "started", "failed")]
    assert None not in where, f"timeline lacks created/started/failed: {events}"
    assert where in (sorted(where), sorted(where, reverse=True)), f"timeline out of order: {events}"

    # Escape closes it; another task's details then show that task, with no error of the first.
    ActionChains(d).send_keys(Keys.ESCAPE).perform()
    wait_for(lambda: not page.detail_open(), 3, "aside#detail closed by Escape")
    assert d.execute_script("return document.querySelector('aside#detail').hidden") is True
    page.click_action(other["id"], "details")
    wait_for(page.detail_open, 3, "aside#detail open again")
    got = wait_for(lambda: (x := page.detail()) and other["id"] in x["fields"].get("id", "") and x, 3,
                   "detail of the other task")
    assert "running" in got["fields"].get("status", "").lower(), got
    assert "smtp_timeout" not in (got["error"] or "") and "batch" not in (got["meta"] or ""), got
    ActionChains(d).send_keys(Keys.ESCAPE).perform()
    wait_for(lambda: not page.detail_open(), 3, "aside#detail closed by Escape")
    assert noisy_errors(d) == []


# --------------------------------------------------------------------------- 7. crash + restart

@pytest.mark.timeout(90)
def test_page_reconnects_after_kill_9_and_shows_changes_made_while_it_was_down(browser, serve, tmp_path):
    data = str(tmp_path / "data")
    port = free_port()
    h1 = serve(data=data, port=port, name="herald before the crash")
    api = Api(port)
    keep = api.move_to("running", title="Nightly orders export", total=100)
    api.act(keep["id"], "progress", {"done": 30, "message": "table 3 of 10"})
    finishing = api.move_to("running", title="Resize product images", total=10)
    gone = api.move_to("succeeded", title="Import customer CSV")
    page = Page(browser).open(f"{h1.url}/")
    page.wait_value(keep["id"], 30)
    page.wait_status(gone["id"], "succeeded")
    browser.execute_script("window.__sameDocument = true;")

    h1.kill()                                               # kill -9: a crash, a new epoch
    wait_for(lambda: page.conn() == "reconnecting", 10, "#conn reconnecting after kill -9")
    # While the page's server is down, another process on the same --data changes things.
    h2 = serve(data=data, name="herald while the page's port is down")
    api2 = Api(h2.port)
    api2.act(keep["id"], "progress", {"done": 80, "message": "table 8 of 10, after the crash"})
    api2.act(finishing["id"], "complete")
    assert api2.call("DELETE", f"/api/tasks/{gone['id']}").status == 200
    new = api2.create(title="Created while the page was away", owner="ops")
    assert h2.stop() == 0
    assert page.conn() != "live"

    serve(data=data, port=port, name="herald after the crash")
    wait_for(lambda: page.conn() == "live", 30, "#conn live again")
    page.wait_value(keep["id"], 80)
    assert "after the crash" in page.row(keep["id"])["text"]
    page.wait_status(finishing["id"], "succeeded")
    page.wait_status(gone["id"], None)
    page.wait_status(new["id"], "queued")
    wait_rows_match_api(page, api)
    wait_for(lambda: counts_match_api(page, api), 5, "counts = API")
    assert browser.execute_script("return window.__sameDocument === true"), "the page reloaded itself"
    # …and it keeps following live events.
    api.act(keep["id"], "progress", {"done": 90})
    page.wait_value(keep["id"], 90)


# --------------------------------------------------------------------------- 8. two servers

@pytest.mark.timeout(90)
def test_page_moves_to_the_other_server_without_losing_an_event(browser, tmp_path):
    with tempfile.TemporaryDirectory(prefix="herald-") as tmp:
        os.chmod(tmp, 0o700)
        broker = Broker(os.path.join(tmp, "broker.sock"), os.path.join(tmp, "data"))
        servers = []
        try:
            for n in ("A", "B"):
                servers.append(Herald(["serve", "--host", "127.0.0.1", "--port", "0", "--public", str(PUBLIC),
                                       "--broker", broker.socket, "--allow-origin", "*"], name=f"server {n}").start())
            _switch_servers(browser, *servers)
        finally:
            for s in servers:
                s.stop()
            broker.stop()


def _switch_servers(d, a: Herald, b: Herald):
    api_a = Api(a.port)
    tasks = [api_a.move_to("running", title=f"Shard {n:02d} reindex", owner="ops", total=1000) for n in range(20)]
    ids = [t["id"] for t in tasks]
    page = Page(d).open(f"{a.url}/?servers=127.0.0.1:{a.port},127.0.0.1:{b.port}")
    wait_for(lambda: all(page.status(i) == "running" for i in ids), 5, "20 running rows")
    d.execute_script("window.__sameDocument = true;")
    used = page.server()
    by_addr = {f"127.0.0.1:{s.port}": s for s in (a, b)}
    assert used in by_addr, f"html[data-server]={used!r}, expected one of {list(by_addr)}"
    victim = by_addr[used]
    survivor = b if victim is a else a
    api = Api(survivor.port)

    # A worker keeps reporting through the survivor; tasks 5-11 get their last report right
    # after the kill (during the switch), 12-19 keep going until after it.
    done = {i: 0 for i in ids[5:]}
    frozen: set[str] = set()
    stop = threading.Event()
    errors = []

    def worker():
        while not stop.is_set():
            for i in ids[5:]:
                if i in frozen or stop.is_set():
                    continue
                done[i] += random.randint(1, 7)
                a_ = api.action(i, "progress", {"done": done[i], "message": f"row {done[i]} of 1000"})
                if a_.status != 200:
                    errors.append(a_)
            time.sleep(0.02)
    th = threading.Thread(target=worker, daemon=True)
    th.start()
    watched = ids[15]
    seen = []
    try:
        time.sleep(0.5)
        victim.kill()                                           # kill -9 the page's server
        t_kill = time.monotonic()
        # Lifecycle changes during the switch.
        api.act(ids[0], "complete", {"message": "done during the switch"})
        api.act(ids[1], "fail", {"error": {"code": "disk_full", "message": "no space left"}})
        api.act(ids[2], "cancel")
        during = api.create(title="Created during the switch", owner="ops")
        time.sleep(0.3)
        frozen.update(ids[5:12])
        while not (page.server() == f"127.0.0.1:{survivor.port}" and page.conn() == "live"):
            assert time.monotonic() - t_kill < 20, f"no switch: server {page.server()}, conn {page.conn()}"
            v = page.value(watched)
            if v is not None:
                seen.append(v)
            time.sleep(0.1)
        switch_s = time.monotonic() - t_kill
        t_end = time.monotonic() + 1.5
        while time.monotonic() < t_end:
            v = page.value(watched)
            if v is not None:
                seen.append(v)
            time.sleep(0.1)
    finally:
        stop.set()
        th.join(10)
    assert not errors, errors[:3]
    api.act(ids[3], "complete")                                  # and after it
    # An action from the page: the page starts on the first server of ?servers= (A, its own
    # origin), so after A's death this goes to B cross-origin (--allow-origin).
    page.click_action(ids[4], "cancel")
    page.wait_status(ids[4], "cancelling")

    wait_rows_match_api(page, api, ids + [during["id"]], 10)
    assert page.status(during["id"]) == "queued"
    final = api.task(watched)["percent"]
    assert seen == sorted(seen), f"the watched bar went backwards: {seen}"
    assert abs(page.value(watched) - final) < 0.051
    assert d.execute_script("return window.__sameDocument === true"), "the page reloaded itself"
    wait_for(lambda: counts_match_api(page, api), 5, "counts = API")
    print(f"\nthe page used {'A' if victim is a else 'B'}; the switch took {switch_s:.2f} s; the cancel "
          f"after it was {'cross-origin' if survivor is not a else 'same-origin'}")


# --------------------------------------------------------------------------- 9. token

@pytest.mark.timeout(60)
def test_publish_token_dialog_then_actions_go_through(browser, serve):
    h = serve("--publish-token", "s3cret")
    api = AuthApi(h.port, "s3cret")
    d = browser
    q1 = api.create(title="Generate quarterly PDF reports")
    q2 = api.create(title="Back up the orders database")
    assert Api(h.port).action(q1["id"], "cancel").status == 401        # the server wants it
    page = Page(d).open(h.url + "/")
    page.wait_status(q2["id"], "queued")
    dialog_open = lambda: d.execute_script(
        "const g = document.querySelector('dialog#token-dialog'); return !!g && g.open;")
    assert not dialog_open()

    page.click_action(q1["id"], "cancel")
    wait_for(dialog_open, 5, "dialog#token-dialog open after a 401")
    assert api.task(q1["id"])["status"] == "queued"
    inp = d.find_element(By.CSS_SELECTOR, "input#token-input")
    inp.send_keys("s3cret")
    d.find_element(By.CSS_SELECTOR, "button#token-submit").click()
    page.wait_status(q1["id"], "cancelled")
    assert api.task(q1["id"])["status"] == "cancelled"
    wait_for(lambda: not dialog_open(), 3, "dialog closed")
    assert d.execute_script("return sessionStorage.getItem('herald.publishToken')") == "s3cret"

    # The second action uses the stored token: no dialog.
    page.click_action(q2["id"], "cancel")
    deadline = time.monotonic() + 5
    while page.status(q2["id"]) != "cancelled":
        assert not dialog_open(), "the token dialog opened again"
        assert time.monotonic() < deadline, f"q2 still {page.status(q2['id'])}"
        time.sleep(0.05)
    page.click_action(q1["id"], "retry")
    page.wait_status(q1["id"], "queued")
    assert not dialog_open()
    assert api.task(q1["id"])["attempt"] == 2


# --------------------------------------------------------------------------- 10. performance

PERF_TASKS = 5000
PERF_RATE = 200          # progress events per second
PERF_SECONDS = 10


class Pipe:
    """One keep-alive connection that sends requests without waiting for answers (a reader
    thread counts them): a worker fleet's progress reports at a steady rate."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sent = 0
        self.answered = 0
        self.bad = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        from dashboard_support import _read_response
        with self.sock.makefile("rb") as f:
            while True:
                try:
                    status, body = _read_response(f)
                except (ConnectionError, OSError, ValueError):
                    return
                self.answered += 1
                if status != 200:
                    self.bad.append((status, body[:200]))

    def send(self, reqs: list[tuple[str, dict]]):
        out = bytearray()
        for path, body in reqs:
            raw = json.dumps(body).encode()
            out += (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(raw)}\r\n\r\n").encode() + raw
        self.sock.sendall(bytes(out))
        self.sent += len(reqs)

    def drain(self, timeout: float = 20):
        wait_for(lambda: self.answered >= self.sent, timeout, f"answers to {self.sent} reports ({self.answered})")
        self.sock.close()


@pytest.mark.timeout(120)
def test_5000_tasks_and_200_progress_events_per_second(browser, serve):
    h = serve()
    api = Api(h.port)
    d = browser
    ids = [f"perf-{n:04d}" for n in range(PERF_TASKS)]
    t0 = time.monotonic()
    made = pipelined(h.port, [("POST", "/api/tasks", {"id": i, "title": f"Render frame batch {n}",
                                                      "owner": f"render-{n % 7}", "total": 100, "lease_s": 3600})
                              for n, i in enumerate(ids)])
    assert all(s == 201 for s, _ in made), [x for x in made if x[0] != 201][:3]
    started = pipelined(h.port, [("POST", f"/api/tasks/{i}/start", None) for i in ids])
    assert all(s == 200 for s, _ in started), [x for x in started if x[0] != 200][:3]
    create_s = time.monotonic() - t0

    t0 = time.monotonic()
    page = Page(d).open(h.url + "/", live_timeout=30)
    n_rows = wait_for(lambda: (n := d.execute_script(
        "return document.querySelectorAll('[data-task-id][data-status=\"running\"]').length")) >= min(PERF_TASKS, 50) and n,
        30, "rows rendered")
    wait_for(lambda: page.count("running") == PERF_TASKS, 10, "running count 5000")
    load_s = time.monotonic() - t0
    assert page.stats() is not None, "window.heraldStats missing"
    time.sleep(1.0)                                     # the initial render settles
    # Our own probes for the stream: long tasks (layout and style included, which the page's
    # render timer cannot see) and the interval between animation frames (jank).
    d.execute_script("""
        window.__longTasks = [];
        new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longTasks.push(e.duration); })
          .observe({type: 'longtask'});
        window.__rafTimes = [];
        const tick = (t) => { window.__rafTimes.push(t); if (!window.__rafStop) requestAnimationFrame(tick); };
        requestAnimationFrame(tick);""")
    s0 = page.stats()

    # 200 reports/s for 10 s: 20 every 100 ms; half go to 2,000 different tasks spread over the
    # 5,000, half to 50 hot tasks that each move 20 times.
    rnd = random.Random(7)
    done = {}
    pipe = Pipe(h.port)
    per_tick = PERF_RATE // 10
    k = 0
    t_start = time.monotonic()
    for tick in range(PERF_SECONDS * 10):
        batch = []
        for _ in range(per_tick):
            i = ids[(k * 2503) % PERF_TASKS] if k % 2 == 0 else ids[(k // 2) % 50 * 97]
            done[i] = min(100, done.get(i, 0) + rnd.randint(1, 4))
            batch.append((f"/api/tasks/{i}/progress", {"done": done[i], "message": f"frame {done[i]} of 100"}))
            k += 1
        pipe.send(batch)
        sleep = t_start + (tick + 1) * 0.1 - time.monotonic()
        if sleep > 0:
            time.sleep(sleep)
    send_s = time.monotonic() - t_start
    pipe.drain()
    assert not pipe.bad, pipe.bad[:3]
    t_sent = time.monotonic()
    # Caught up: the tasks of the last batch show their final value (attributes only: a
    # layout-free probe, so the measurement does not disturb what it measures).
    last = {i: done[i] for i in dict.fromkeys(path.split("/")[3] for path, _ in batch)}
    wait_for(lambda: all(v is not None and abs(float(v) - last[i]) < 0.051
                         for i, v in page.values(list(last)).items()), 15, "the last reports on the page")
    catch_up_s = time.monotonic() - t_sent
    time.sleep(0.5)
    long_tasks = d.execute_script("window.__rafStop = true; return window.__longTasks")
    raf = d.execute_script("return window.__rafTimes")
    gaps = sorted(b - a for a, b in zip(raf, raf[1:])) or [0]
    s1 = page.stats()

    # Every row ends at the API's value (checked on the rows the page has in the DOM; if it
    # renders only a window of them, searching brings the others in).
    want = {t["id"]: t for t in api.task_list("limit=10000")["tasks"]}
    assert len(want) == PERF_TASKS
    assert all(want[i]["done"] == v for i, v in done.items())

    def wrong() -> list:
        return [i for i, v in page.values(list(want)).items() if v is not None and not same_percent(v, want[i])]
    deadline = time.monotonic() + 10
    while (bad := wrong()) and time.monotonic() < deadline:
        time.sleep(0.2)
    rows = page.all_rows()
    if len(rows) < PERF_TASKS:                       # a windowed list: spot-check by search
        search = d.find_element(By.CSS_SELECTOR, "input#search")
        for i in rnd.sample(sorted(done), 20):
            _type(search, i)
            wait_for(lambda: page.row(i) and same_percent(page.row(i)["value"], want[i]), 3, f"row {i} by search")
        _type(search, "")

    events = s1["events"] - s0["events"]
    frames = s1["frames"] - s0["frames"]
    render_ms = s1["renderMsTotal"] - s0["renderMsTotal"]
    figures = {
        "tasks": PERF_TASKS, "reports_sent": pipe.sent, "send_seconds": round(send_s, 2),
        "create_and_start_seconds": round(create_s, 2), "page_load_seconds": round(load_s, 2),
        "rows_in_dom": len(rows), "initial_rows_seen": n_rows,
        "events_applied": events, "frames": frames,
        "events_per_frame": round(events / frames, 1) if frames else None,
        "render_ms_mean_per_frame": round(render_ms / frames, 3) if frames else None,
        "render_ms_max_including_initial_load": round(s1["maxRenderMs"], 2),
        "render_ms_max_before_stream": round(s0["maxRenderMs"], 2),
        "row_moves_during_stream": (s1.get("moves", 0) - s0.get("moves", 0)) if "moves" in s1 else None,
        "animation_frames_during_stream": len(raf),
        "frame_interval_ms_p50": round(gaps[len(gaps) // 2], 1),
        "frame_interval_ms_p95": round(gaps[int(len(gaps) * 0.95)], 1),
        "frame_interval_ms_max": round(gaps[-1], 1),
        "long_tasks_page_count": s1["longTasks"],
        "long_tasks_during_stream": len(long_tasks),
        "long_task_max_ms_during_stream": round(max(long_tasks), 1) if long_tasks else 0,
        "catch_up_seconds_after_last_report": round(catch_up_s, 2),
        "herald_bin": str(h.args[0]), "chromium": d.capabilities.get("browserVersion"), "cpus": os.cpu_count(),
    }
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "dashboard-perf.json").write_text(json.dumps(figures, indent=2) + "\n")
    print("\ndashboard perf: " + json.dumps(figures, indent=2))

    # Measured on 2 cores (debug herald, chromium and this test on one machine): every event
    # applied, 13-17 events a frame, mean render 0.7-0.9 ms a frame, caught up 0.03 s after
    # the last report, long tasks only from the once-a-second reorder of the 5,000 rows (at
    # most ~150 ms). The bounds leave a wide margin for a loaded CI machine.
    assert bad == [], f"{len(bad)} rows not at their final value, e.g. {bad[:5]}: {figures}"
    assert events >= pipe.sent * 0.5, figures          # the server conflates only slow subscribers
    assert frames <= events / 4, f"frames not batched: {figures}"
    assert render_ms / frames < 16, f"mean render per frame ≥ 16 ms: {figures}"
    assert not long_tasks or max(long_tasks) < 250, f"a long task ≥ 250 ms during the stream: {figures}"
    assert catch_up_s < 5, figures


# --------------------------------------------------------------------------- 11. screenshots

@pytest.mark.timeout(60)
def test_screenshots_light_dark_phone_detail(serve):
    h = serve()
    out = REPORTS / "screenshots"
    paths = take_screenshots(Api(h.port), h.url + "/", out)
    names = sorted(p.name for p in paths)
    assert names == sorted(["dashboard-light.png", "dashboard-dark.png", "dashboard-phone.png", "dashboard-detail.png"])
    sizes = {}
    for p in paths:
        raw = p.read_bytes()
        assert raw[:8] == bytes.fromhex("89504e470d0a1a0a"), p
        sizes[p.name] = (int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big"))
    assert sizes["dashboard-phone.png"][0] < sizes["dashboard-light.png"][0] < 2000, sizes
    assert (out / "dashboard-light.png").read_bytes() != (out / "dashboard-dark.png").read_bytes()
