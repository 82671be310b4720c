"""The dashboard under access control: the real `herald serve --auth-secret-file`, headless
Chromium, tokens minted with PyJWT (a library nobody here wrote).

- a viewer opened with `?token=` watches `owner:<sub>`: only its own rows and counts, live;
- what the role cannot do is not offered (the owner filter, the create hint, /metrics);
- with a `tokenUrl`, the token is refreshed on the open socket (`{"op":"auth"}`) before the
  server would close it, and no event is lost; a socket closed with 4001 reconnects with a new
  token and resumes with `since=`;
- without a way to get a new token, an expired, bad or missing token shows the refusal banner
  and the page stops retrying.

What the browser really sent and received on its WebSockets is read from DevTools
(`NetworkLog`), not from the page's own counters alone. Screenshots go to
reports/screenshots/ (scripts/screenshots-style names: dashboard-viewer.png,
dashboard-refused.png).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from selenium.webdriver.common.by import By

from dashboard_support import (PUBLIC, REPORTS, NetworkLog, Page, make_browser, severe_console_errors,
                               wait_for)
from auth_support import AuthApi
from tasks_support import Api, ProgressWorker, own_server, task_serve_args

KEY = os.urandom(32).hex()            # 64 bytes: the server wants at least 32
LEEWAY = 60                           # the server's clock-skew allowance (contract v2)
SHOTS = REPORTS / "screenshots"


def mint(sub: str, role: str | None = "viewer", *, ttl: float = 3600, exp: float | None = None,
         key: str = KEY) -> str:
    claims = {"sub": sub, "exp": int(exp if exp is not None else time.time() + ttl)}
    if role is not None:
        claims["role"] = role
    return jwt.encode(claims, key, algorithm="HS256")




class Site:
    """A copy of public/ the test may add files to (config.json, token.json: the tokenUrl)."""

    def __init__(self, base):
        self.public = base / "public"
        shutil.copytree(PUBLIC, self.public)
        self.secret = base / "auth.key"
        self.secret.write_text(KEY + "\n")

    def write(self, name: str, doc) -> None:
        """Replaces a file in one step (the server never serves half of it)."""
        tmp = self.public / f".{name}.tmp"
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, self.public / name)

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.public / name).unlink()


@pytest.fixture
def site(tmp_path):
    return Site(tmp_path)


@pytest.fixture
def server(site):
    with own_server(task_serve_args(site.public, ":memory:", "--auth-secret-file", site.secret),
                    "herald with access control") as h:
        yield h


@pytest.fixture
def admin(server):
    return AuthApi(server.port, mint("ops", "admin"))


@pytest.fixture
def d():
    drv = make_browser(network_log=True)
    yield drv
    drv.quit()


def with_config(d, config: dict) -> str:
    """`window.heraldConfig` as an embedding app sets it, before any script of the page runs;
    returns the id that removes it again."""
    return d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                             {"source": f"window.heraldConfig = {json.dumps(config)};"})["identifier"]


def rows(page: Page) -> dict:
    return {r["id"]: r for r in page.all_rows()}


def access(page: Page) -> dict:
    return page.js("""const h = window.herald; return h && {
        topic: h.topic, sub: h.access.sub, role: h.access.role, stopped: h.stopped,
        stats: {...h.stats}, auth: {...h.access.stats}};""")


def banner(page: Page) -> dict | None:
    return page.js("""const b = document.querySelector('#access-banner');
        return b && !b.hidden && shown(b) ? {reason: b.dataset.reason, text: b.innerText} : null;""")


def shot(d, name: str):
    SHOTS.mkdir(parents=True, exist_ok=True)
    d.execute_script("window.scrollTo(0, 0); document.activeElement && document.activeElement.blur();")
    time.sleep(0.4)                        # bar transitions
    d.save_screenshot(str(SHOTS / name))


def assert_no_token_in_address(d):
    href = d.execute_script("return location.href")
    assert "token" not in parse_qs(urlsplit(href).query), href


def progress_seen(net: NetworkLog, task_id: str) -> list[int]:
    """`done` of the task in its first snapshot, then of every progress event of it the
    browser received, in arrival order."""
    out = []
    for m in net.received:
        if m.get("type") == "snapshot" and not out:
            out += [t["done"] for t in m["tasks"] if t["id"] == task_id]
        elif m.get("type") == "task" and m.get("event") == "progress" and m["task"]["id"] == task_id:
            out.append(m["task"]["done"])
    return out


# --------------------------------------------------------------------------- (a) a viewer

@pytest.mark.timeout(60)
def test_a_viewer_opened_with_a_token_sees_only_its_own_tasks_live(d, server, admin):
    alice = {
        "queued": admin.create(title="Export alice's invoices", owner="alice"),
        "running": admin.move_to("running", title="Resize alice's photos", owner="alice", total=10),
        "failed": admin.move_to("failed", title="Import alice's contacts", owner="alice"),
    }
    bob_titles = ["Bob payroll run", "Bob quarterly report", "Bob created later"]
    bob = [admin.move_to("running", title=bob_titles[0], owner="bob", total=100),
           admin.create(title=bob_titles[1], owner="bob")]

    page = Page(d).open(f"{server.url}/?token={mint('alice', 'viewer')}&sort=eta")
    assert_no_token_in_address(d)
    assert "sort=eta" in d.execute_script("return location.search")      # the rest of the address stays
    net = NetworkLog(d).poll()
    assert len(net.created) == 1 and "topic=owner%3Aalice" in net.created[0], net.created
    a = access(page)
    assert (a["topic"], a["sub"], a["role"]) == ("owner:alice", "alice", "viewer"), a
    who = page.js("const w = document.querySelector('#who'); return {sub: w.dataset.sub, role: w.dataset.role, "
                  "text: w.innerText, shown: shown(w)};")
    assert who["shown"] and who["sub"] == "alice" and who["role"] == "viewer", who
    assert "alice" in who["text"] and "viewer" in who["text"].lower(), who

    ids = {t["id"] for t in alice.values()}
    wait_for(lambda: set(rows(page)) == ids, 5, "alice's three rows")
    assert (page.count("queued"), page.count("running"), page.count("failed"), page.count("succeeded")) == (1, 1, 1, 0)

    # Live: alice's changes arrive, bob's never do.
    admin.act(alice["running"]["id"], "progress", {"done": 4, "message": "photo 4 of 10"})
    admin.act(bob[0]["id"], "progress", {"done": 50, "message": "bob's row 50"})
    later = admin.create(title="Alice created later", owner="alice")
    admin.create(title=bob_titles[2], owner="bob")
    page.wait_value(alice["running"]["id"], 40)
    page.wait_status(later["id"], "queued")
    admin.act(alice["queued"]["id"], "start")
    page.wait_status(alice["queued"]["id"], "running")
    time.sleep(0.5)
    assert set(rows(page)) == ids | {later["id"]}
    assert (page.count("queued"), page.count("running"), page.count("failed")) == (1, 2, 1)
    html = d.page_source
    for title in bob_titles:
        assert title not in html, f"{title!r} is in the page"
    assert all(b["id"] not in html for b in bob)
    assert not [m for m in NetworkLog(d).poll().received if "bob" in json.dumps(m)], "a frame about bob arrived"

    # The detail panel's history request (task:<id> with since=) is allowed for its own task.
    page.click_action(alice["running"]["id"], "details")
    wait_for(page.detail_open, 5, "detail panel open")
    wait_for(lambda: "Complete history" in page.js("return document.querySelector('#detail-history-note').innerText"),
             5, "the task's earlier events")
    assert any("photo 4 of 10" in e for e in page.detail()["timeline"]), page.detail()["timeline"]
    d.find_element(By.CSS_SELECTOR, '[data-action="close-detail"]').click()

    # An action goes with the token (Authorization: Bearer): a viewer may cancel its own task.
    page.click_action(later["id"], "cancel")
    page.wait_status(later["id"], "cancelled")
    assert admin.task(later["id"])["status"] == "cancelled"
    assert banner(page) is None
    shot(d, "dashboard-viewer.png")
    assert severe_console_errors(d) == []


# --------------------------------------------------------------------------- (b) roles

def offered(page: Page) -> dict:
    """What the page offers: controls outside the rows, and each row's visible action buttons."""
    return page.js("""
        const vis = (sel) => { const e = document.querySelector(sel); return !!e && !e.hidden && !e.closest('[hidden]'); };
        const out = {ownerFilter: vis('#ctl-owner'), metrics: vis('#metrics-link'), createHint: vis('#create-hint'),
                     authHeader: vis('#create-hint .auth-header'), rows: {}};
        for (const r of rows()) out.rows[r.dataset.taskId] = [...r.querySelectorAll('.actions button[data-action]')]
            .filter((b) => !b.hidden && b.dataset.action !== 'details').map((b) => b.dataset.action).sort();
        out.can = Object.fromEntries(['cancel', 'retry', 'delete', 'create', 'report', 'all-owners', 'metrics']
            .map((a) => [a, window.herald.access.can(a)]));
        return out;""")


@pytest.mark.timeout(60)
def test_what_the_role_cannot_do_is_not_offered(d, server, admin):
    t = {s: admin.move_to(s, title=f"Alice {s}", owner="alice") for s in ("queued", "running", "failed", "succeeded")}
    admin.move_to("failed", title="Bob failed", owner="bob")
    by_status = {t[s]["id"]: s for s in t}
    # The contract's status rule, and a viewer may cancel, retry and delete its own tasks.
    expect = {"queued": ["cancel"], "running": ["cancel"], "failed": ["delete", "retry"], "succeeded": ["delete"]}

    page = Page(d).open(f"{server.url}/?token={mint('alice', 'viewer')}")
    wait_for(lambda: set(rows(page)) == set(by_status), 5, "alice's rows")
    o = offered(page)
    assert o["can"] == {"cancel": True, "retry": True, "delete": True, "create": False, "report": False,
                        "all-owners": False, "metrics": False}, o["can"]
    assert not o["ownerFilter"] and not o["metrics"], o
    assert page.js("return document.querySelector('#create-hint').hidden") is True
    assert {i: o["rows"][i] for i in by_status} == {i: expect[s] for i, s in by_status.items()}, o["rows"]

    # A worker may also create (its own) tasks: the create hint shows, with the token header.
    page = Page(d).open(f"{server.url}/?token={mint('carol', 'worker')}")
    o = offered(page)
    assert o["can"]["create"] and not o["can"]["all-owners"] and not o["can"]["metrics"], o["can"]
    assert o["createHint"] and o["authHeader"] and not o["ownerFilter"] and not o["metrics"], o
    assert access(page)["topic"] == "owner:carol"

    # An admin token watches every owner (topic tasks) and may filter by owner.
    page = Page(d).open(f"{server.url}/?token={mint('ops', 'admin')}")
    wait_for(lambda: len(rows(page)) == 5, 5, "every owner's rows")
    o = offered(page)
    assert access(page)["topic"] == "tasks"
    assert o["ownerFilter"] and all(o["can"].values()), o
    # /metrics is admin-only, but a plain link cannot carry the token: not offered either.
    assert not o["metrics"]
    assert severe_console_errors(d) == []


# --------------------------------------------------------------------------- (c) refresh

@pytest.mark.timeout(90)
def test_the_token_is_refreshed_on_the_open_socket_and_no_event_is_lost(d, site, server, admin):
    site.write("config.json", {"servers": [], "tokenUrl": "/token.json"})
    t2 = mint("alice", "viewer", ttl=42)          # the server's ttl 42: the next refresh ~10 s later
    site.write("token.json", {"token": t2})
    job = admin.move_to("running", title="Alice's long export", owner="alice", total=1000)
    other = admin.move_to("running", title="Alice's second job", owner="alice", total=10)
    bobs = admin.move_to("running", title="Bob's export", owner="bob", total=1000)
    # exp 50 s ago: the server still accepts it (60 s leeway) and closes the socket in 10 s
    # unless the page sends a new one.
    first = mint("alice", "viewer", exp=time.time() - 50)
    deadline = time.monotonic() + 10
    net = NetworkLog(d)
    with ProgressWorker(admin, job["id"], acked_only=True) as w, ProgressWorker(admin, bobs["id"], 0.1, acked_only=True):
        page = Page(d).open(f"{server.url}/?token={first}")
        # 1st refresh (1–3 s after start): the page fetches token.json, sends op auth.
        wait_for(lambda: access(page)["auth"]["authOk"] >= 1, 8, "the first auth reply")
        t3 = mint("alice", "viewer", ttl=3600)
        site.write("token.json", {"token": t3})
        # The old token's last moment passes; the socket must still be open, events flowing.
        while time.monotonic() < deadline + 2:
            net.poll()
            time.sleep(0.5)
        # 2nd refresh, from the server's ttl of t2 (≥ 10 s after the first).
        wait_for(lambda: access(page)["auth"]["authOk"] >= 2, 15, "the second auth reply")
        time.sleep(1)
    final = w.done
    assert not w.errors, w.errors[:3]
    page.wait_value(job["id"], final / 10, 5)

    net.poll()
    auths = [m for m in net.sent if m.get("op") == "auth"]
    assert [m["token"] for m in auths] == [t2, t3], "op auth frames: the two fetched tokens, in order"
    replies = [m for m in net.received if m.get("type") == "auth"]
    assert len(replies) == 2 and replies[1]["ttl"] > 3000, replies
    assert not [m for m in net.received if m.get("type") == "error"], "the server sent an error"
    assert len(net.created) == 1 and net.closed == 0, (net.created, net.closed)
    a = access(page)
    assert (a["stats"]["connects"], a["stats"]["snapshots"], a["stats"]["resumes"]) == (1, 1, 0), a["stats"]
    # Every progress event, the ones around each refresh included, arrived once and in order.
    seen = progress_seen(net, job["id"])
    assert seen == list(range(seen[0], final + 1)), f"gaps or repeats in {seen[:5]}…{seen[-5:]} (final {final})"
    assert final - seen[0] > 100, (seen[0], final)
    assert not [m for m in net.received if m.get("type") == "task" and m["task"]["owner"] != "alice"]
    assert page.conn() == "live" and banner(page) is None
    print(f"\n{len(seen)} progress values seen ({seen[0]}…{final}), {len(net.received)} frames received, "
          f"op auth sent {len(auths)}×, replies {[r['ttl'] for r in replies]}")
    # The API uses the new token too (the first one is refused by now).
    page.click_action(other["id"], "cancel")
    page.wait_status(other["id"], "cancelling")
    assert severe_console_errors(d) == []


@pytest.mark.timeout(90)
def test_a_socket_closed_with_4001_reconnects_with_a_new_token_and_resumes(d, site, server, admin):
    site.write("config.json", {"servers": [], "tokenUrl": "/token.json"})
    site.remove("token.json")                     # the first refresh fails (404)
    job = admin.move_to("running", title="Alice's long export", owner="alice", total=1000)
    net = NetworkLog(d)
    with ProgressWorker(admin, job["id"], acked_only=True) as w:
        page = Page(d).open(f"{server.url}/?token={mint('alice', 'viewer', exp=time.time() - 50)}")
        wait_for(lambda: access(page)["auth"]["tokenFetchFailures"] >= 1, 8, "a failed refresh")
        site.write("token.json", {"token": mint("alice", "viewer", ttl=3600)})
        # The server closes the socket (token_expired, 4001) ~10 s after the page opened; the
        # page fetches the token now served and reconnects with since=.
        wait_for(lambda: access(page)["stats"]["resumes"] >= 1, 20, "a resume after the 4001 close")
        time.sleep(1.5)
    final = w.done
    page.wait_value(job["id"], final / 10, 5)
    net.poll()
    a = access(page)
    assert a["stats"]["lastClose"] == 4001 and a["stats"]["connects"] == 2 and a["stats"]["snapshots"] == 1, a["stats"]
    assert a["auth"]["renewals"] == 1, a["auth"]
    assert [m["code"] for m in net.received if m.get("type") == "error"] == ["token_expired"]
    assert len(net.created) == 2 and "since=" in net.created[1], net.created
    seen = progress_seen(net, job["id"])
    assert seen == list(range(seen[0], final + 1)), f"gaps or repeats in {seen} (final {final})"
    assert page.conn() == "live" and banner(page) is None


@pytest.mark.timeout(60)
def test_a_token_url_alone_or_after_a_refused_token_is_enough(d, site, server, admin):
    """heraldConfig {tokenUrl} without a token: the page fetches one; {token: expired,
    tokenUrl}: the handshake's 401 makes it fetch a new one and connect with it."""
    site.write("token.json", {"token": mint("alice", "viewer", ttl=3600)})
    mine = admin.create(title="Alice's report", owner="alice")
    admin.create(title="Bob's report", owner="bob")
    first = with_config(d, {"tokenUrl": "/token.json"})
    page = Page(d).open(f"{server.url}/")
    wait_for(lambda: set(rows(page)) == {mine["id"]}, 5, "alice's row only")
    assert access(page)["topic"] == "owner:alice"

    d.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": first})
    with_config(d, {"token": mint("alice", "viewer", exp=time.time() - 120), "tokenUrl": "/token.json"})
    page = Page(d).open(f"{server.url}/")
    wait_for(lambda: set(rows(page)) == {mine["id"]}, 5, "alice's row only")
    a = access(page)
    assert a["auth"]["renewals"] == 1 and a["stats"]["connects"] == 2, a
    assert banner(page) is None


# --------------------------------------------------------------------------- (d), (e) refusals

def assert_stopped(page: Page, seconds: float = 4.0):
    """No more connection attempts: the count stays put."""
    before = access(page)["stats"]["connects"]
    time.sleep(seconds)
    a = access(page)
    assert a["stopped"] and a["stats"]["connects"] == before, a
    assert page.conn() == "offline"


@pytest.mark.timeout(60)
def test_an_expired_token_without_a_token_url_shows_the_banner_and_stops(d, server, admin):
    admin.move_to("running", title="Alice's export", owner="alice", total=100)
    # Accepted for 10 more seconds (leeway), then the server sends token_expired and 4001.
    page = Page(d).open(f"{server.url}/?token={mint('alice', 'viewer', exp=time.time() - 50)}")
    assert banner(page) is None
    b = wait_for(lambda: banner(page), 20, "the refusal banner")
    assert b["reason"] == "expired" and "Access refused" in b["text"] and "expired" in b["text"], b
    assert "reload the page from your app" in b["text"].lower(), b
    assert access(page)["stats"]["lastClose"] == 4001
    assert_stopped(page)
    assert d.execute_script("return sessionStorage.getItem('herald.token')") is None
    shot(d, "dashboard-refused.png")


@pytest.mark.timeout(60)
def test_a_bad_or_missing_token_shows_the_banner(d, server, admin):
    admin.create(title="Alice's export", owner="alice")
    cases = [
        ("invalid", mint("alice", "viewer", key="not-the-server-key-" + "x" * 20)),   # wrongly signed
        ("invalid", "not-a-jwt"),
        ("invalid", mint("alice", "auditor")),                                       # no such role
        ("expired", mint("alice", "viewer", exp=time.time() - LEEWAY - 30)),
        ("missing", None),
    ]
    net = NetworkLog(d)
    for reason, token in cases:
        d.get(f"{server.url}/healthz")
        d.execute_script("sessionStorage.clear()")
        net.poll().created.clear()
        d.get(f"{server.url}/" + (f"?token={token}" if token else ""))
        page = Page(d)
        b = wait_for(lambda: banner(page), 10, f"the banner for {reason}")
        assert b["reason"] == reason and "Access refused" in b["text"], (reason, token, b)
        assert_no_token_in_address(d)
        assert_stopped(page, 2.5)
        assert not page.all_rows()
        assert len(net.poll().created) == 1, f"{reason}: the page kept trying: {net.created}"
        assert page.js("return document.querySelector('#conn').innerText").strip() == "access refused"
        who = page.js("const w = document.querySelector('#who'); return !w.hidden && w.innerText;")
        assert (who and "alice" in who) if reason == "expired" else not who, (reason, who)
    assert "herald token" in b["text"]
