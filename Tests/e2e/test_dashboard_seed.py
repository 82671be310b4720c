"""The dashboard seed (public/index.html + app.js) in headless Chromium via selenium, against
the real server serving the repository's public/: tasks created over HTTP appear, progress
moves the bar, the connection state shows, and after a lost connection it resumes.

scripts/test installs chromium, chromium-driver (Debian) and selenium (requirements.txt).
Screenshots go to reports/ (light and dark)."""

from __future__ import annotations

import time

import pytest

from conftest import ROOT
from dashboard_support import REPORTS, browser, severe_console_errors, wait_for  # noqa: F401 (browser is a fixture)
from tasks_support import Api, own_server, task_serve_args, unique_id


def js(d, script, *args):
    return d.execute_script(script, *args)


def row_attr(d, task_id: str, sel: str | None, attr: str):
    return js(d, """
        const row = document.querySelector(`li[data-task-id="${arguments[0]}"]`);
        if (!row) return null;
        const el = arguments[1] ? row.querySelector(arguments[1]) : row;
        return el ? el.getAttribute(arguments[2]) : null;""", task_id, sel, attr)


def row_text(d, task_id: str, sel: str):
    return js(d, """
        const row = document.querySelector(`li[data-task-id="${arguments[0]}"]`);
        return row ? row.querySelector(arguments[1]).textContent : null;""", task_id, sel)


def count(d, status: str) -> str:
    return js(d, "return document.querySelector(`[data-count=\"${arguments[0]}\"]`).textContent", status)


def conn_state(d) -> str:
    return js(d, "return document.querySelector('#conn').dataset.state")


@pytest.mark.timeout(120)
def test_dashboard_shows_tasks_live(browser, tmp_path):
    d = browser
    with own_server(task_serve_args(ROOT / "public", ":memory:"), "herald for the dashboard") as h:
        api = Api(h.port)
        before = api.create(title="Nightly export", owner="ops", total=200, lease_s=3600)
        api.act(before["id"], "start")
        api.act(before["id"], "progress", {"done": 50, "message": "exporting table 2 of 8"})

        d.get(h.url + "/")
        assert d.title == "Herald"
        wait_for(lambda: conn_state(d) == "live", 10, "#conn live")
        # the snapshot: the task that existed before the page
        wait_for(lambda: row_attr(d, before["id"], ".bar", "aria-valuenow") == "25", 5, "snapshot row at 25%")
        assert row_attr(d, before["id"], None, "data-status") == "running"
        assert row_attr(d, before["id"], ".bar", "role") == "progressbar"
        assert row_text(d, before["id"], ".message") == "exporting table 2 of 8"
        assert count(d, "running") == "1"

        # a task created over HTTP appears, and progress moves its bar
        i = unique_id("dash")
        api.create(id=i, title="Resize images", total=10, lease_s=3600)
        wait_for(lambda: row_attr(d, i, None, "data-status") == "queued", 5, "new row queued")
        assert row_attr(d, i, None, "data-stale") == "false"
        assert count(d, "queued") == "1"
        assert row_text(d, i, ".title") == "Resize images" and row_text(d, i, ".id") == i
        api.act(i, "start")
        wait_for(lambda: row_attr(d, i, None, "data-status") == "running", 5, "row running")
        assert count(d, "running") == "2" and count(d, "queued") == "0"
        for done in (1, 3, 7):
            api.act(i, "progress", {"done": done, "message": f"image {done} of 10"})
        wait_for(lambda: row_attr(d, i, ".bar", "aria-valuenow") == "70", 5, "bar at 70")
        assert row_text(d, i, ".percent").strip() == "70%"
        assert row_text(d, i, ".message") == "image 7 of 10"

        # a worker that stops reporting: the stale badge
        s = api.create(title="Flaky worker", lease_s=0.5, expire_s=3600)
        api.act(s["id"], "start")
        api.act(s["id"], "progress", {"percent": 40, "message": "downloading"})
        wait_for(lambda: row_attr(d, s["id"], None, "data-stale") == "true", 5, "stale row")
        assert js(d, """return getComputedStyle(document.querySelector(
            `li[data-task-id="${arguments[0]}"] .stale-badge`)).display""", s["id"]) != "none"

        # a failed and a cancelled one, for the picture and the counts
        f = api.move_to("failed", title="Send invoices")
        c = api.move_to("cancelled", title="Rebuild search index")
        wait_for(lambda: row_attr(d, c["id"], None, "data-status") == "cancelled", 5, "cancelled row")
        assert count(d, "failed") == "1" and count(d, "cancelled") == "1"

        # lose the connection: it reconnects and resumes with since=/epoch=
        resumes = js(d, "return window.herald.stats.resumes")
        js(d, "window.herald.reconnect()")
        api.act(i, "progress", {"done": 9, "message": "image 9 of 10"})
        wait_for(lambda: row_attr(d, i, ".bar", "aria-valuenow") == "90", 10, "bar at 90 after reconnect")
        wait_for(lambda: conn_state(d) == "live", 10, "live again")
        assert js(d, "return window.herald.stats.resumes") == resumes + 1, js(d, "return window.herald.stats")
        assert "since=" in js(d, "return window.herald.stats.lastUrl")

        # complete, then delete: the row goes
        api.act(i, "complete", {"message": "all images resized"})
        wait_for(lambda: row_attr(d, i, None, "data-status") == "succeeded", 5, "row succeeded")
        assert row_attr(d, i, ".bar", "aria-valuenow") == "100"
        api.act(f["id"], "retry")
        wait_for(lambda: row_attr(d, f["id"], None, "data-status") == "queued", 5, "retried row")
        assert count(d, "failed") == "0"
        gone = api.move_to("succeeded", title="Temporary")
        wait_for(lambda: row_attr(d, gone["id"], None, "data-status") == "succeeded", 5, "temp row")
        assert api.call("DELETE", f"/api/tasks/{gone['id']}").status == 200
        wait_for(lambda: js(d, "return !document.querySelector(`li[data-task-id=\"${arguments[0]}\"]`)",
                            gone["id"]), 5, "removed row")
        assert count(d, "succeeded") == "1"

        # the numbers in the header match the server
        listed = api.task_list("limit=10000")["tasks"]
        for st in ("queued", "running", "cancelling", "succeeded", "failed", "cancelled"):
            assert count(d, st) == str(sum(1 for t in listed if t["status"] == st)), st
        rows = js(d, "return [...document.querySelectorAll('#tasks > li')].map(li => li.dataset.taskId)")
        assert sorted(rows) == sorted(t["id"] for t in listed)

        REPORTS.mkdir(parents=True, exist_ok=True)
        time.sleep(0.4)      # let the width transition of the bars finish
        d.save_screenshot(str(REPORTS / "dashboard-seed.png"))
        d.execute_cdp_cmd("Emulation.setEmulatedMedia",
                          {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        time.sleep(0.3)
        bg = js(d, "return getComputedStyle(document.documentElement).backgroundColor")
        assert bg != "rgb(244, 245, 247)", "no dark scheme"
        d.save_screenshot(str(REPORTS / "dashboard-seed-dark.png"))
        assert severe_console_errors(d) == []


@pytest.mark.timeout(120)
def test_dashboard_replaces_its_state_after_a_server_restart(browser, tmp_path):
    """A new server (a new epoch, its history gone) answers the resume with a recovered:false
    snapshot: the page drops the old rows and shows the new state."""
    d = browser
    with own_server(task_serve_args(ROOT / "public", ":memory:"), "first herald") as h:
        port = h.port
        old = Api(port).create(title="Only on the first server")
        d.get(h.url + "/")
        wait_for(lambda: conn_state(d) == "live", 10, "live")
        wait_for(lambda: row_attr(d, old["id"], None, "data-status") == "queued", 5, "old row")
        assert h.stop() == 0
    wait_for(lambda: conn_state(d) in ("reconnecting", "offline"), 5, "#conn not live after the server went")
    args = task_serve_args(ROOT / "public", ":memory:")
    args[args.index("--port") + 1] = str(port)
    with own_server(args, "second herald") as h2:
        new = Api(h2.port).create(title="Only on the second server")
        wait_for(lambda: conn_state(d) == "live", 20, "live again")
        wait_for(lambda: row_attr(d, new["id"], None, "data-status") == "queued", 5, "new row")
        wait_for(lambda: row_attr(d, old["id"], None, "data-status") is None, 5, "old row gone")
        assert count(d, "queued") == "1"
        assert js(d, "return window.herald.stats.snapshots") >= 2
        assert h2.stop() == 0
