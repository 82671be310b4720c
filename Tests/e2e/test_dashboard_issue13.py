"""The dashboard's parts of issue 13 end to end: the real `herald` binary, headless Chromium.

- deadlines: a running row counts down to the nearer of its timeout and stall ("times out in
  8 s", refreshed with the row's other times, no event needed) and a task a deadline failed
  says why ("timed out after 8 s", "stalled: no progress for 2 s"); the detail panel shows both;
- batches: rows selected with the mouse (shift-click ranges) and the keyboard, "Cancel
  selected" of 3 running + 1 finished is one `POST /api/batch` and the page says "3 asked to stop,
  1 refused: 1 already succeeded (409)", marks the refused row and lists why, and the rows
  change by the pushed events; "Retry all failed" by filter (the owner the view shows) or by
  ids (a search narrows the view); a viewer's page offers it for its own tasks only;
- the statistics strip: its figures equal `GET /api/stats` for tasks whose durations the test
  controls (some finished beyond the snapshot's terminal window, so only the server's answer
  knows them), follow a task that finishes while the page watches without asking the server
  again (DevTools' network log: one /api/stats request), and follow the owner filter (one more).

Every server change is made over HTTP as a worker would; what the browser sent is read from
DevTools (dashboard_support.NetworkLog). Without the server side of issue 13 (deadlines, batches,
statistics) these tests fail; they are never skipped. Pictures go to reports/screenshots/.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from dashboard_support import (DESKTOP, PUBLIC, REPORTS, NetworkLog, Page, fill_realistic, make_browser, pipelined,
                               severe_console_errors, wait_for)
from auth_support import AuthApi
from tasks_support import Api, free_port, own_server, task_serve_args

SHOTS = REPORTS / "screenshots"
WINDOW = 3600


@pytest.fixture
def serve():
    """`serve(*extra)`: `herald serve` on public/ in memory; stopped at teardown."""
    with contextlib.ExitStack() as stack:
        def start(*extra, public=PUBLIC) -> object:
            return stack.enter_context(own_server(task_serve_args(public, ":memory:", *extra), "issue 13 herald"))
        yield start


@pytest.fixture
def d():
    drv = make_browser(*DESKTOP, network_log=True)
    yield drv
    drv.quit()


def shot(d, name: str, max_height: int = 1100):
    """reports/screenshots/<name>: the page from the top, 1280 px wide and as tall as it is
    (at most `max_height`)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    d.execute_script("window.scrollTo(0, 0); document.activeElement && document.activeElement.blur();")
    tall = d.execute_script("return document.documentElement.scrollHeight")
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": DESKTOP[0], "height": max(DESKTOP[1], min(int(tall), max_height)),
                                                              "deviceScaleFactor": 1, "mobile": False})
    time.sleep(0.5)                               # bar transitions
    d.save_screenshot(str(SHOTS / name))
    d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def needs(task: dict, field: str, what: str):
    """The server side of issue 13 is there, or the test fails saying what is missing."""
    assert field in task, f"the server's task has no {field!r}: {what} is not in this herald (contract v2)"


# --------------------------------------------------------------------------- page readers

def deadline(page: Page, task_id: str) -> dict | None:
    """The row's countdown: {kind, soon, text} or None when none is shown."""
    return page.js("""const r = rowOf(arguments[0]); const e = r && r.querySelector('.deadline');
        return e && !e.hidden ? {kind: e.dataset.kind, soon: e.dataset.soon, text: e.innerText.trim()} : null;""", task_id)


def message(page: Page, task_id: str) -> dict:
    return page.js("""const e = rowOf(arguments[0]).querySelector('.message');
        return {text: e.textContent, title: e.title};""", task_id)


def checkbox(page: Page, task_id: str):
    """The row's checkbox, once the row is displayed (filters apply after a short debounce)."""
    wait_for(lambda: (r := page.row(task_id)) and r["displayed"], 3, f"row {task_id} displayed")
    box = page.js("return rowOf(arguments[0]).querySelector('input.row-select');", task_id)
    page.d.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
    return box


def selected(page: Page) -> list[str]:
    return page.js("return rows().filter((r) => r.querySelector('input.row-select').checked).map((r) => r.dataset.taskId);")


def summary(page: Page) -> dict | None:
    return page.js("""const s = document.querySelector('#batch-summary');
        return s && !s.hidden ? {result: s.dataset.result, ok: +s.dataset.ok, refused: +s.dataset.refused,
          text: s.querySelector('.batch-text').textContent,
          listed: [...s.querySelectorAll('#batch-refused li[data-refused-id]')].map((li) => [li.dataset.refusedId, li.innerText])} : null;""")


def retry_failed_button(page: Page) -> dict | None:
    return page.js("""const b = document.querySelector('[data-batch="retry-failed"]');
        return b && !b.hidden ? {text: b.textContent, mode: b.dataset.mode, disabled: b.disabled} : null;""")


def strip(page: Page) -> dict:
    """The strip's figures, from its data-value hooks."""
    return page.js("""
        const s = document.querySelector('#stats');
        const v = (k) => { const e = s.querySelector(`[data-stat="${k}"]`); return e ? e.dataset.value : null; };
        const num = (k) => { const x = v(k); return x === '' || x === null ? null : Number(x); };
        return {state: s.dataset.state, owner: s.dataset.owner || null,
          success_rate: num('success_rate'), finished: num('finished'), succeeded: num('succeeded'),
          failed: num('failed'), cancelled: num('cancelled'), p50: num('p50'), p90: num('p90'),
          errors: Object.fromEntries([...s.querySelectorAll('[data-stat="errors"] li[data-code]')].map((li) => [li.dataset.code, +li.dataset.count])),
          timeline_total: [...s.querySelectorAll('[data-stat="timeline"] g')].reduce((n, g) => n + (+g.dataset.total || 0), 0),
          text: s.innerText};""")


def api_stats(api: Api, owner: str | None = None) -> dict:
    a = api.get(f"/api/stats?window={WINDOW}" + (f"&owner={owner}" if owner else ""))
    assert a.status == 200, f"GET /api/stats → {a!r} (the statistics of contract v2 are not in this herald)"
    return a.json


def strip_differs(page: Page, api: Api, owner: str | None = None) -> list[str]:
    """What the strip shows differently from /api/stats (top 3 error codes compared)."""
    s, a = strip(page), api_stats(api, owner)
    diffs = []
    if s["state"] != "ready":
        diffs.append(f"state {s['state']}")
    if s["owner"] != owner:
        diffs.append(f"owner {s['owner']!r} != {owner!r}")
    for k in ("finished", "succeeded", "failed", "cancelled"):
        if s[k] != a[k]:
            diffs.append(f"{k} {s[k]} != {a[k]}")
    if (s["success_rate"] is None) != (a["success_rate"] is None) or \
            (a["success_rate"] is not None and abs(s["success_rate"] - a["success_rate"]) > 1e-9):
        diffs.append(f"success_rate {s['success_rate']} != {a['success_rate']}")
    for p in ("p50", "p90"):
        want = a["duration_s"][p] if a["duration_s"] else None
        if (s[p] is None) != (want is None) or (want is not None and abs(s[p] - want) > 0.0005):
            diffs.append(f"{p} {s[p]} != {want}")
    top = {e["code"]: e["count"] for e in a["errors"][:3]}
    if s["errors"] != top:
        diffs.append(f"errors {s['errors']} != {top}")
    if s["timeline_total"] != a["finished"]:
        diffs.append(f"chart total {s['timeline_total']} != finished {a['finished']}")
    return diffs


def wait_strip_matches(page: Page, api: Api, owner: str | None = None, timeout: float = 5.0):
    deadline_ = time.monotonic() + timeout
    while (diffs := strip_differs(page, api, owner)) and time.monotonic() < deadline_:
        time.sleep(0.1)
    assert diffs == [], f"the strip differs from /api/stats: {diffs}; strip {strip(page)}; API {api_stats(api, owner)}"


def stats_requests(net: NetworkLog) -> list[dict]:
    return net.poll().requests_to("/api/stats", "GET")


def batch_requests(net: NetworkLog) -> list[dict]:
    return net.poll().requests_to("/api/batch", "POST")


def finish_after(api: Api, seconds: float, **fields) -> dict:
    """A task that ran `seconds` (start, sleep, complete): its duration is the test's."""
    t = api.create(lease_s=3600, **fields)
    api.act(t["id"], "start")
    time.sleep(seconds)
    return api.act(t["id"], "complete", {"message": "done"})


def fail_with(api: Api, code: str, **fields) -> dict:
    t = api.create(lease_s=3600, **fields)
    api.act(t["id"], "start")
    return api.act(t["id"], "fail", {"error": {"code": code, "message": f"{code} in the test"}})


def _type(el, text: str):
    el.send_keys(Keys.CONTROL, "a")
    el.send_keys(Keys.BACKSPACE)
    if text:
        el.send_keys(text)


# --------------------------------------------------------------------------- 0. the pure modules

NODE_CHECKS = r"""
import { countdownOf, deadlineFailure, formatSpan, formatLeft } from '%(js)s/deadline.js';
import { nearestRank, mergedPercentile, createTaskStats } from '%(js)s/taskstats.js';
import { summarize, retryFailedPlan, BATCH_MAX_ITEMS } from '%(js)s/batch.js';
const out = {};
const now = Date.parse('2026-12-04T10:00:00.000Z'), iso = (ms) => new Date(ms).toISOString();
const run = { status: 'running', started_at: iso(now - 60000), progress_at: null, timeout_s: 3600, stall_s: 100 };
out.countdowns = [countdownOf(run, now).text, countdownOf({ ...run, stall_s: null }, now).text,
  countdownOf({ ...run, timeout_s: 61 }, now).text, countdownOf({ ...run, timeout_s: 30 }, now).text,
  countdownOf({ ...run, status: 'cancelling' }, now).kind, countdownOf({ ...run, status: 'queued' }, now)];
out.reasons = [deadlineFailure({ status: 'failed', error: { code: 'timeout' }, timeout_s: 3600 }),
  deadlineFailure({ status: 'failed', error: { code: 'stalled' }, stall_s: 300 }),
  deadlineFailure({ status: 'failed', error: { code: 'oom' }, stall_s: 300 })];
out.spans = [formatSpan(3600), formatSpan(5400), formatSpan(90), formatSpan(2.5), formatLeft(3599), formatLeft(99.2), formatLeft(720)];
out.ranks = [nearestRank([1,2,3,4,5,6,7,8,9,10], 90), nearestRank([1,2,3,4,5,6,7,8,9,10], 91), nearestRank([1,2,3], 50), nearestRank([], 50)];
out.mergedExact = mergedPercentile([1,2,3,4], 0, null, 1, 4, 50);
// 100 earlier durations uniform on [0, 100] and none held: the merged p50 is the answer's p50
const cdf = (v) => Math.min(1, Math.max(0, v / 100));
out.mergedOnly = Math.round(mergedPercentile([], 100, cdf, 0, 100, 50));
const tasks = [
  { id: 'a', owner: 'ops', status: 'succeeded', started_at: iso(now - 9000), finished_at: iso(now - 8000), updated_at: iso(now - 8000) },
  { id: 'b', owner: 'ops', status: 'failed', started_at: iso(now - 7000), finished_at: iso(now - 6000), updated_at: iso(now - 6000), error: { code: 'oom' } },
  { id: 'c', owner: 'bob', status: 'succeeded', started_at: iso(now - 5000), finished_at: iso(now - 2000), updated_at: iso(now - 2000) },
];
const st = createTaskStats();
st.reset('ops', tasks, now);
let s = st.summary(now);
out.ops = [s.finished, s.succeeded, s.failed, s.success_rate, s.duration_s.p50, s.errors];
// the server knew 2 more finishes of ops than the page holds (1 succeeded, 1 cancelled)
st.setBaseline({ at: iso(now), counts: { failed: 1 }, errors: [{ code: 'oom', count: 1 }], duration_s: { p50: 1, p90: 5, p99: 5, max: 5 },
  timeline: [{ t: iso(Math.floor((now - 8000) / 60000) * 60000).replace('.000', ''), succeeded: 2, failed: 1, cancelled: 1 }] }, now);
s = st.summary(now);
out.withBaseline = [s.finished, s.succeeded, s.cancelled, s.earlier, s.approximate];
// b retried after the baseline: it leaves the figures and the counts
st.onTask('b', tasks[1], { ...tasks[1], status: 'queued', finished_at: null, updated_at: iso(now + 1000) }, now + 1000);
s = st.summary(now + 1000);
out.afterRetry = [s.finished, s.failed, st.counts.failed, st.counts.queued];
out.slid = st.summary(now + 3600 * 1000).finished;
const taskOf = (id) => ({ r: { status: 'running' }, s: { status: 'succeeded' } })[id];
out.summaries = [
  summarize('cancel', [{ id: 'x', status: 200, task: { status: 'cancelled' } }, { id: 'y', status: 200, task: { status: 'cancelling' } }, { id: 'z', status: 200, task: { status: 'cancelling' } }, { id: 's', status: 409, error: { code: 'invalid_transition' } }], taskOf).text,
  summarize('retry', [{ id: 'x', status: 200 }, { id: 'r', status: 409, error: { code: 'invalid_transition' } }, { id: 'r', status: 409, error: { code: 'invalid_transition' } }, { id: 'g', status: 404, error: { code: 'not_found' } }], taskOf).text,
  summarize('retry', []).text,
];
out.plans = [retryFailedPlan({ status: '', q: '', owner: 'ops' }, () => ['f'], 3),
  retryFailedPlan({ status: 'failed', q: 'inv', owner: '' }, () => ['f1', 'f2'], 9),
  retryFailedPlan({ status: 'running', q: '', owner: '' }, () => [], 0)];
out.limit = BATCH_MAX_ITEMS;
console.log(JSON.stringify(out));
"""


def test_the_pure_modules_count_down_summarize_and_compute_like_the_contract(tmp_path):
    script = tmp_path / "checks.mjs"
    script.write_text(NODE_CHECKS % {"js": (PUBLIC / "js").as_uri()})
    r = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["countdowns"] == ["stalls in 40 s", "times out in 59 min", "times out in 1 s", "timing out…", "timeout", None]
    assert out["reasons"] == ["timed out after 1 h", "stalled: no progress for 5 min", None]
    assert out["spans"] == ["1 h", "1 h 30 min", "1 min 30 s", "2.5 s", "1 h", "100 s", "12 min"]
    assert out["ranks"] == [9, 10, 2, None]              # nearest rank: ⌈p/100 · N⌉-th
    assert out["mergedExact"] == 2 and out["mergedOnly"] == 50
    assert out["ops"] == [2, 1, 1, 0.5, 1, [{"code": "oom", "count": 1}]]
    assert out["withBaseline"] == [4, 2, 1, 2, True]
    assert out["afterRetry"] == [3, 0, 0, 1]
    assert out["slid"] == 0
    assert out["summaries"] == ["1 cancelled, 2 asked to stop, 1 refused: 1 already succeeded (409)",
                                "1 retried, 3 refused: 2 are running (409), 1 no longer exists (404)",
                                "No failed tasks to retry"]
    assert out["plans"][0] == {"body": {"op": "retry", "filter": {"status": ["failed"], "owner": "ops"}}, "count": 3, "scope": "of ops"}
    assert out["plans"][1]["body"] == {"op": "retry", "ids": ["f1", "f2"]} and out["plans"][1]["count"] == 2
    assert out["plans"][2] is None
    assert out["limit"] == 1000


# --------------------------------------------------------------------------- 1. deadlines

@pytest.mark.timeout(90)
def test_a_running_row_counts_down_to_its_deadline_and_a_timed_out_task_says_why(d, serve):
    h = serve()
    api = Api(h.port)
    page = Page(d).open(h.url + "/")
    quick = api.create(title="Transcode webinar recording", owner="carol", total=100, lease_s=3600, timeout_s=8)
    needs(quick, "timeout_s", "deadlines")
    assert quick["timeout_s"] == 8 and quick["stall_s"] is None, quick
    slow = api.create(title="Nightly orders export", owner="ops", total=1200, lease_s=3600, timeout_s=3600, stall_s=300)
    stalls = api.create(title="Rebuild search index", owner="ops", lease_s=3600, stall_s=2)
    plain = api.move_to("running", title="Resize product images", owner="alice")
    for t in (slow, quick, stalls):
        api.act(t["id"], "start")
    api.act(slow["id"], "progress", {"done": 700, "message": "exporting table 7 of 12"})
    page.wait_status(quick["id"], "running")

    # The nearer deadline, in words; none for a task without one.
    first = wait_for(lambda: (c := deadline(page, quick["id"])) and re.fullmatch(r"times out in (\d) s", c["text"]) and c,
                     3, "countdown 'times out in N s'")
    assert first["kind"] == "timeout" and first["soon"] == "true", first
    assert wait_for(lambda: deadline(page, slow["id"]), 3, "the export's countdown") == \
        {"kind": "stall", "soon": "false", "text": "stalls in 5 min"}       # 5 min of stall before 1 h of timeout
    assert deadline(page, plain["id"]) is None
    # It counts down with no event for the task: the rows' once-a-second refresh.
    seq = api.task(quick["id"])["seq"]
    left = lambda c: int(m.group()) if (m := re.search(r"\d+", c["text"])) else 0      # "timing out…": 0
    n0 = left(first)
    wait_for(lambda: (c := deadline(page, quick["id"])) and left(c) < n0, 3, f"the countdown below {n0} s")
    assert api.task(quick["id"])["seq"] == seq, "the task changed: the countdown must not need events"

    # The detail panel shows both deadlines of the export.
    page.click_action(slow["id"], "details")
    wait_for(page.detail_open, 3, "detail panel")
    dl = wait_for(lambda: page.js("""const a = document.querySelector('#detail-deadlines');
        return a && !a.closest('section').hidden && Object.fromEntries([...a.querySelectorAll('[data-deadline]')]
          .map((r) => [r.dataset.deadline, r.querySelector('dd').innerText]));"""), 3, "detail deadlines")
    assert re.search(r"in (1 h|60 min)", dl["timeout"]) and "1 h after it started" in dl["timeout"], dl
    assert "in 5 min" in dl["stall"] and "5 min" in dl["stall"], dl
    shot(d, "dashboard-deadlines.png")
    ActionChains(d).send_keys(Keys.ESCAPE).perform()
    wait_for(lambda: not page.detail_open(), 3, "detail closed")

    # The server fails them; the rows say why in words, the code stays on hover.
    page.wait_status(quick["id"], "failed", 15)
    assert api.task(quick["id"])["error"]["code"] == "timeout"
    m = message(page, quick["id"])
    assert m["text"] == "timed out after 8 s" and m["title"].startswith("timeout"), m
    assert deadline(page, quick["id"]) is None
    page.wait_status(stalls["id"], "failed", 15)
    assert api.task(stalls["id"])["error"]["code"] == "stalled"
    assert message(page, stalls["id"])["text"] == "stalled: no progress for 2 s"
    assert page.status(slow["id"]) == "running"
    assert severe_console_errors(d) == []


# --------------------------------------------------------------------------- 2. batches

@pytest.mark.timeout(90)
def test_cancel_selected_of_three_running_and_one_finished_says_one_was_refused(d, serve):
    h = serve()
    api = Api(h.port)
    net = NetworkLog(d)
    running = [api.move_to("running", title=f"Render frame batch {n}", owner="render", total=10) for n in range(3)]
    done = api.move_to("succeeded", title="Import customer CSV", owner="render")
    other = api.move_to("running", title="Back up the orders database", owner="ops")
    page = Page(d).open(h.url + "/")
    for t in (*running, done, other):
        page.wait_status(t["id"], t["status"])
    # Newest first: other, done, batch 2, 1, 0. A click on done, a shift-click on batch 0: the four.
    order = [r["id"] for r in page.all_rows()]
    assert order[:2] == [other["id"], done["id"]], order
    checkbox(page, done["id"]).click()
    ActionChains(d).key_down(Keys.SHIFT).click(checkbox(page, running[0]["id"])).key_up(Keys.SHIFT).perform()
    want = [done["id"], running[2]["id"], running[1]["id"], running[0]["id"]]
    wait_for(lambda: selected(page) == want, 3, "the range selected")
    # The keyboard: x toggles the focused row, Space its checkbox.
    d.execute_script("arguments[0].focus();", checkbox(page, other["id"]))
    ActionChains(d).send_keys("x").perform()
    wait_for(lambda: other["id"] in selected(page), 3, "x selected the focused row")
    ActionChains(d).send_keys(Keys.SPACE).perform()
    wait_for(lambda: selected(page) == want, 3, "Space unselected it")
    assert page.js("return document.querySelector('#selected-count').textContent") == "4 selected"
    assert page.js("return document.querySelector('#select-all').indeterminate") is True

    d.find_element(By.CSS_SELECTOR, '[data-batch="cancel"]').click()
    s = wait_for(lambda: summary(page), 10, "the batch summary")
    assert s["text"] == "3 asked to stop, 1 refused: 1 already succeeded (409)", s   # running → cancelling
    assert s["result"] == "partial" and s["ok"] == 3 and s["refused"] == 1, s
    # One request, the four ids in the order shown, with the page's headers.
    sent = batch_requests(net)
    assert len(sent) == 1 and sent[0]["body"] == {"op": "cancel", "ids": want}, sent
    # The rows change by the pushed events; the refused one is marked, says why, stays selected.
    for t in running:
        page.wait_status(t["id"], "cancelling")
        assert api.task(t["id"])["status"] == "cancelling"
    assert page.status(done["id"]) == "succeeded" and page.status(other["id"]) == "running"
    wait_for(lambda: selected(page) == [done["id"]], 3, "only the refused row still selected")
    mark = page.js("""const r = rowOf(arguments[0]); const b = r.querySelector('.refused-badge');
        return {refused: r.dataset.refused, shown: shown(b), title: b.title};""", done["id"])
    assert mark["refused"] == "true" and mark["shown"] and "409" in mark["title"] and "succeeded" in mark["title"], mark
    d.find_element(By.CSS_SELECTOR, '[data-batch="toggle-refused"]').click()
    listed = wait_for(lambda: (x := summary(page)) and x["listed"], 3, "the refused list")
    assert listed[0][0] == done["id"] and "409" in listed[0][1] and "Import customer CSV" in listed[0][1], listed
    shot(d, "dashboard-batch.png")

    # The worker confirms; dismissing the summary clears the marks.
    for t in running:
        api.act(t["id"], "cancelled")
        page.wait_status(t["id"], "cancelled")
    d.find_element(By.CSS_SELECTOR, '[data-batch="dismiss"]').click()
    wait_for(lambda: page.js("return rowOf(arguments[0]).dataset.refused === undefined", done["id"]), 3, "mark cleared")
    ActionChains(d).send_keys(Keys.ESCAPE).perform()
    wait_for(lambda: selected(page) == [], 3, "Esc cleared the selection")
    assert page.js("return document.querySelector('#batch-bar').hidden") is True
    assert len(batch_requests(net)) == 1
    assert severe_console_errors(d) == []


@pytest.mark.timeout(90)
def test_retry_all_failed_by_owner_filter_then_by_ids_under_a_search_and_a_running_one_refused(d, serve):
    h = serve()
    api = Api(h.port)
    net = NetworkLog(d)
    ops_failed = [fail_with(api, code, title=f"Send invoice run {n}", owner="ops") for n, code in enumerate(("smtp_timeout", "smtp_timeout", "oom"))]
    bob_failed = fail_with(api, "disk_full", title="Generate quarterly PDF reports", owner="bob")
    ops_running = api.move_to("running", title="Sync CRM contacts", owner="ops")
    page = Page(d).open(h.url + "/")
    page.wait_status(ops_running["id"], "running")
    assert wait_for(lambda: retry_failed_button(page), 3, "Retry all failed")["text"] == "Retry all failed (4)"

    # The owner filter: the server names the tasks (also those the page may not hold).
    _type(d.find_element(By.CSS_SELECTOR, "input#filter-owner"), "OPS")        # the list ignores case
    b = wait_for(lambda: (x := retry_failed_button(page)) and x["text"] == "Retry all failed (3)" and x, 5,
                 "Retry all failed (3) for ops")
    assert b["mode"] == "filter"
    d.find_element(By.CSS_SELECTOR, '[data-batch="retry-failed"]').click()
    s = wait_for(lambda: summary(page), 10, "the summary")
    assert s["text"] == "3 retried" and s["result"] == "ok", s
    assert batch_requests(net)[-1]["body"] == {"op": "retry", "filter": {"status": ["failed"], "owner": "ops"}}
    for t in ops_failed:
        page.wait_status(t["id"], "queued")
        assert api.task(t["id"])["attempt"] == 2
    assert api.task(bob_failed["id"])["status"] == "failed"
    wait_for(lambda: retry_failed_button(page) is None, 3, "no failed task of ops left: no button")

    # A search narrows the view beyond what the server can name: the ids of the rows shown.
    _type(d.find_element(By.CSS_SELECTOR, "input#filter-owner"), "")
    _type(d.find_element(By.CSS_SELECTOR, "input#search"), "quarterly")
    b = wait_for(lambda: (x := retry_failed_button(page)) and x["mode"] == "ids" and x, 5, "ids mode")
    assert b["text"] == "Retry all failed (1)", b
    d.find_element(By.CSS_SELECTOR, '[data-batch="retry-failed"]').click()
    wait_for(lambda: (x := summary(page)) and x["text"] == "1 retried", 10, "1 retried")
    assert batch_requests(net)[-1]["body"] == {"op": "retry", "ids": [bob_failed["id"]]}
    page.wait_status(bob_failed["id"], "queued")

    # Retry selected with a running task among them: the server refuses that one.
    _type(d.find_element(By.CSS_SELECTOR, "input#search"), "")
    again = [fail_with(api, "oom", title=f"Resize product images {n}", owner="ops") for n in range(2)]
    for t in again:
        page.wait_status(t["id"], "failed")
    for t in (*again, ops_running):
        checkbox(page, t["id"]).click()
    wait_for(lambda: len(selected(page)) == 3, 3, "three selected")
    d.find_element(By.CSS_SELECTOR, '[data-batch="retry"]').click()
    wait_for(lambda: (x := summary(page)) and x["text"] == "2 retried, 1 refused: 1 is running (409)", 10,
             f"the partial summary (now {summary(page)})")
    # The succeeded items leave the selection; the summary and that may land in different frames.
    wait_for(lambda: selected(page) == [ops_running["id"]], 3, f"only the refused row still selected (now {selected(page)})")
    for t in again:
        page.wait_status(t["id"], "queued")
    assert len(batch_requests(net)) == 3
    assert severe_console_errors(d) == []


# --------------------------------------------------------------------------- 3. the statistics strip

@pytest.mark.timeout(120)
def test_the_strip_matches_api_stats_updates_live_without_asking_again_and_follows_the_owner(d, serve):
    # The snapshot carries only the 3 most recent finished tasks: the failures and the
    # cancellation below are known to the page only through /api/stats.
    h = serve("--snapshot-terminal", "3")
    api = Api(h.port)
    net = NetworkLog(d)
    fail_with(api, "disk_full", title="Nightly orders export", owner="ops")
    fail_with(api, "disk_full", title="Nightly orders export (2)", owner="ops")
    fail_with(api, "oom", title="Train recommendation model", owner="data")
    api.move_to("cancelled", title="Migrate legacy tickets", owner="ops")
    for n, secs in enumerate((0.2, 0.5, 0.9)):
        finish_after(api, secs, title=f"Resize product images {n}", owner="ops" if n else "data")
    live = api.create(title="Send monthly invoices", owner="ops", lease_s=3600)
    api.act(live["id"], "start")
    t_started = time.monotonic()

    page = Page(d).open(h.url + "/")
    wait_for(lambda: strip(page)["state"] == "ready", 10, "the strip ready")
    snapshot_terminal = page.js("return [...window.herald.state.tasks.values()].filter((t) => "
                                "['succeeded','failed','cancelled'].includes(t.status)).length")
    assert snapshot_terminal == 3, "the page should hold only the snapshot's 3 finished tasks"
    wait_strip_matches(page, api)
    s = strip(page)
    assert (s["finished"], s["succeeded"], s["failed"], s["cancelled"]) == (7, 3, 3, 1), s
    assert s["errors"] == {"disk_full": 2, "oom": 1}, s
    assert len(stats_requests(net)) == 1

    # A task finishes while the page watches: the strip follows from the pushed events alone.
    time.sleep(max(0.0, 1.3 - (time.monotonic() - t_started)))
    api.act(live["id"], "complete")
    wait_for(lambda: strip(page)["finished"] == 8, 3, "the strip counts the new finish")
    wait_strip_matches(page, api)
    assert strip(page)["p90"] >= 1.3
    fail_with(api, "smtp_timeout", title="Send monthly invoices (retry)", owner="ops")
    wait_for(lambda: strip(page)["failed"] == 4, 3, "the strip counts the new failure")
    wait_strip_matches(page, api)
    # A burst of finishes: drawn a few times a second, not once per event.
    draws0 = page.js("return window.herald.stripStats.draws")
    ids = [f"burst-{n:03d}" for n in range(200)]
    t0 = time.monotonic()
    assert all(s_ == 201 for s_, _ in pipelined(h.port, [("POST", "/api/tasks", {"id": i, "title": "Burst", "owner": "ops"}) for i in ids]))
    assert all(s_ == 200 for s_, _ in pipelined(h.port, [("POST", f"/api/tasks/{i}/cancel", None) for i in ids]))
    wait_for(lambda: strip(page)["cancelled"] == 201, 5, "the burst counted")
    burst_s = time.monotonic() - t0
    draws = page.js("return window.herald.stripStats.draws") - draws0
    assert draws <= burst_s * 4 + 3, f"{draws} draws in {burst_s:.2f} s"
    wait_strip_matches(page, api)
    assert len(stats_requests(net)) == 1, "the page asked /api/stats again instead of following events"
    shot(d, "dashboard-stats.png")

    # The owner filter: one request for that owner, then live again.
    _type(d.find_element(By.CSS_SELECTOR, "input#filter-owner"), "data")
    wait_for(lambda: strip(page)["owner"] == "data" and strip(page)["state"] == "ready", 5, "the strip of data")
    wait_strip_matches(page, api, "data")
    asked = stats_requests(net)
    assert len(asked) == 2 and parse_qs(urlsplit(asked[1]["url"]).query) == {"window": ["3600"], "owner": ["data"]}, asked
    assert strip(page)["finished"] == 2
    fail_with(api, "oom", title="Train recommendation model (2)", owner="data")
    wait_for(lambda: strip(page)["failed"] == 2, 3, "data's new failure")
    wait_strip_matches(page, api, "data")
    fail_with(api, "oom", title="Not data's", owner="ops")
    time.sleep(0.6)
    wait_strip_matches(page, api, "data")
    assert len(stats_requests(net)) == 2
    assert severe_console_errors(d) == []


@pytest.mark.timeout(90)
def test_the_strip_asks_the_server_again_only_after_a_snapshot_that_could_not_resume(d):
    port = free_port()
    args = task_serve_args(PUBLIC, ":memory:")
    args[args.index("--port") + 1] = str(port)
    net = NetworkLog(d)
    with own_server(args, "herald before the restart") as h:
        api = Api(port)
        finish_after(api, 0.2, title="Import customer CSV", owner="ops")
        page = Page(d).open(h.url + "/")
        wait_strip_matches(page, api)
        assert len(stats_requests(net)) == 1
        # A dropped socket that resumes (since=, same epoch): the events it missed, no request.
        fail_with(api, "oom", title="Train recommendation model", owner="data")
        page.js("window.herald.reconnect();")
        wait_for(lambda: page.js("return window.herald.stats.resumes") >= 1 and page.conn() == "live", 10, "resumed")
        finish_after(api, 0.1, title="Resize product images", owner="ops")
        wait_strip_matches(page, api)
        assert len(stats_requests(net)) == 1, "a resume must not refetch the statistics"
    # A new server on the same port (in memory: a new epoch): the page gets a recovered:false
    # snapshot, and asks once for the new history.
    with own_server(args, "herald after the restart"):
        api2 = Api(port)
        fail_with(api2, "disk_full", title="Nightly orders export", owner="ops")
        wait_for(lambda: len(stats_requests(net)) == 2, 30, "one more /api/stats after the snapshot")
        wait_strip_matches(page, api2)
        assert strip(page)["finished"] == 1 and strip(page)["errors"] == {"disk_full": 1}
        assert len(stats_requests(net)) == 2
    assert severe_console_errors(d, ignore=("favicon", "ERR_CONNECTION_REFUSED", "/api/tasks?limit=1", "/ws?")) == []


# --------------------------------------------------------------------------- 4. a viewer

KEY = "issue13-" + "k" * 40


@pytest.mark.timeout(90)
def test_a_viewers_page_offers_batches_and_stats_for_its_own_tasks_only(d, serve, tmp_path):
    secret = tmp_path / "auth.key"
    secret.write_text(KEY + "\n")
    h = serve("--auth-secret-file", str(secret))
    mint = lambda sub, role: jwt.encode({"sub": sub, "role": role, "exp": int(time.time()) + 3600}, KEY, algorithm="HS256")


    admin = AuthApi(h.port, mint("root", "admin"))
    net = NetworkLog(d)
    mine = [fail_with(admin, "oom", title=f"Alice's export {n}", owner="alice") for n in range(2)]
    finish_after(admin, 0.3, title="Alice's import", owner="alice")
    theirs = fail_with(admin, "oom", title="Bob's export", owner="bob")
    page = Page(d).open(f"{h.url}/?token={mint('alice', 'viewer')}")
    page.wait_status(mine[0]["id"], "failed")
    wait_for(lambda: strip(page)["state"] == "ready", 10, "the strip ready")
    wait_strip_matches(page, admin, "alice")                 # the admin's figures for alice
    assert page.js("return window.herald.access.role") == "viewer"
    b = wait_for(lambda: retry_failed_button(page), 3, "Retry all failed")
    assert b["text"] == "Retry all failed (2)" and b["mode"] == "filter", b
    d.find_element(By.CSS_SELECTOR, '[data-batch="retry-failed"]').click()
    wait_for(lambda: (x := summary(page)) and x["text"] == "2 retried", 10, f"2 retried (now {summary(page)})")
    body = batch_requests(net)[-1]["body"]
    assert body == {"op": "retry", "filter": {"status": ["failed"], "owner": "alice"}}, body
    for t in mine:
        page.wait_status(t["id"], "queued")
    assert admin.task(theirs["id"])["status"] == "failed"
    assert all("owner=alice" in r["url"] for r in stats_requests(net)), stats_requests(net)
    assert severe_console_errors(d) == []


# --------------------------------------------------------------------------- 5. the picture

@pytest.mark.timeout(90)
def test_screenshot_of_the_strip_a_partial_refusal_and_deadline_countdowns(d, serve):
    """reports/screenshots/dashboard-issue13.png, the picture in the README
    (docs/screenshots/dashboard-batch.png): the realistic tasks of the other screenshots, the
    strip over them, two running rows and a finished one cancelled together (one refused),
    countdowns on the rows with deadlines."""
    h = serve()
    api = Api(h.port)
    page = Page(d).open(h.url + "/")
    ids = fill_realistic(api)
    needs(api.task(ids["export"]), "stall_s", "deadlines")
    wait_for(lambda: page.status(ids["tickets"]) == "cancelled", 5, "the realistic tasks on the page")
    wait_for(lambda: deadline(page, ids["export"]), 5, "the export's countdown")
    wait_strip_matches(page, api)
    for name in ("deploy", "images", "csv"):
        checkbox(page, ids[name]).click()
    d.find_element(By.CSS_SELECTOR, '[data-batch="cancel"]').click()
    s = wait_for(lambda: summary(page), 10, "the batch summary")
    assert s["text"] == "2 asked to stop, 1 refused: 1 already succeeded (409)", s
    d.find_element(By.CSS_SELECTOR, '[data-batch="toggle-refused"]').click()
    for name in ("deploy", "images"):
        page.wait_status(ids[name], "cancelling")
    shot(d, "dashboard-issue13.png", 1600)
    raw = (SHOTS / "dashboard-issue13.png").read_bytes()
    assert raw[:8] == bytes.fromhex("89504e470d0a1a0a")
