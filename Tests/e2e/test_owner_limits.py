"""Per-owner limits (contract v2, "Limits per owner"): `--owner-max-active N` → 429
too_many_active, `--owner-max-rate N` → 429 rate_limited, both with a `Retry-After` in whole
seconds, a refusal leaves nothing behind, and under `serve --workers 2` the broker counts, so
the limits hold however the requests are spread over the processes."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest

from conftest import herald_bin, serve_args
from proc_support import children, role
from tasks_support import Api, unique_id

DEFAULT_ACTIVE_RETRY_AFTER = 5  # OwnerLimits.defaultActiveRetryAfterSeconds: no running task has an ETA
ACTIVE_RETRY_AFTER_MAX = 60      # OwnerLimits.activeRetryAfterRange
RATE_WINDOW_S = 60               # the contract: "any 60 s"
PROCESS_RE = re.compile(r'herald_process_info\{process="([^"]+)"')


def refused(answer, code: str) -> int:
    """Asserts a 429 with `code` and a whole-second Retry-After ≥ 1; returns the seconds."""
    assert answer.status == 429, answer
    assert answer.json["error"]["code"] == code, answer
    value = answer.header("Retry-After")
    assert value is not None and value.isdigit(), f"Retry-After {value!r}"
    assert int(value) >= 1
    return int(value)


def owner_state(api: Api, owner: str) -> list[tuple[str, str, int]]:
    return sorted((t["id"], t["status"], t["seq"]) for t in api.task_list(f"owner={owner}")["tasks"])


def assert_left_nothing(api: Api, task_id: str, owner: str, before):
    assert api.get(f"/api/tasks/{quote(task_id)}").status == 404
    assert owner_state(api, owner) == before


# --------------------------------------------------------------------------- one server

def test_active_limit_counts_queued_running_and_cancelling_and_retry_after_follows_the_eta(herald, site):
    api = Api(herald("--owner-max-active", "2").port)
    owner = unique_id("act")
    slow = api.create(id=unique_id("slow"), owner=owner, total=1e9, lease_s=3600)["id"]
    fast = api.create(id=unique_id("fast"), owner=owner, total=100, lease_s=3600)["id"]
    before = owner_state(api, owner)
    extra = unique_id("extra")
    # Both queued: no ETA yet, so the documented default.
    assert refused(api.post("/api/tasks", {"id": extra, "title": "x", "owner": owner}), "too_many_active") \
        == DEFAULT_ACTIVE_RETRY_AFTER
    assert_left_nothing(api, extra, owner, before)

    api.act(slow, "start")
    api.act(fast, "start")
    time.sleep(0.3)  # the rate needs samples at least 200 ms apart
    api.act(slow, "progress", {"done": 1})  # ~3 units/s of 1e9: an ETA of years, clamped
    assert refused(api.post("/api/tasks", {"title": "x", "owner": owner}), "too_many_active") == ACTIVE_RETRY_AFTER_MAX
    api.act(fast, "progress", {"done": 99.9})  # a fraction of a second left: at least 1
    assert refused(api.post("/api/tasks", {"title": "x", "owner": owner}), "too_many_active") == 1

    api.act(slow, "cancel")  # cancelling still holds the slot
    refused(api.post("/api/tasks", {"title": "x", "owner": owner}), "too_many_active")
    api.act(slow, "cancelled")
    third = api.create(owner=owner)["id"]
    # A retry would make the cancelled task active again: refused, and it stays cancelled.
    before = owner_state(api, owner)
    refused(api.action(slow, "retry"), "too_many_active")
    assert owner_state(api, owner) == before
    api.act(third, "cancel")
    assert api.act(slow, "retry")["status"] == "queued"


def test_tasks_without_owner_count_as_one_owner(herald, site):
    api = Api(herald("--owner-max-active", "2").port)
    # The server is this test's own: every ownerless task here is ours.
    api.create()
    api.create()
    seq = api.seq()
    refused(api.post("/api/tasks", {"title": "third without owner"}), "too_many_active")
    assert api.seq() == seq
    api.create(owner=unique_id("someone"))


def test_rate_limit_refuses_the_create_past_n_per_minute_and_retries_do_not_count(herald, site):
    api = Api(herald("--owner-max-rate", "3").port)
    owner = unique_id("rate")
    first_at = time.monotonic()
    ids = [api.create(owner=owner, lease_s=3600)["id"] for _ in range(3)]
    before = owner_state(api, owner)
    seq = api.seq()
    extra = unique_id("extra")
    wait = refused(api.post("/api/tasks", {"id": extra, "title": "x", "owner": owner}), "rate_limited")
    elapsed = time.monotonic() - first_at
    # ceil(first + 60 − now): the first create is `elapsed` old (± the first request's own time).
    assert RATE_WINDOW_S - elapsed - 1 <= wait <= RATE_WINDOW_S, (wait, elapsed)
    assert_left_nothing(api, extra, owner, before)
    assert api.seq() == seq
    time.sleep(1.1)
    later = refused(api.post("/api/tasks", {"title": "x", "owner": owner}), "rate_limited")
    assert later <= wait - 1, (later, wait)  # the refusals did not count: the window still ends at the same time
    # Only creates count: a retry goes through.
    api.act(ids[0], "cancel")
    assert api.act(ids[0], "retry")["attempt"] == 2
    api.create(owner=unique_id("other"))  # another owner has its own log


@pytest.mark.parametrize("flag", ["--owner-max-active", "--owner-max-rate"])
@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_a_limit_that_is_not_a_positive_integer_is_refused_at_start(flag, value, site):
    done = subprocess.run([str(herald_bin()), *serve_args(site.public, f"{flag}={value}")],
                          capture_output=True, text=True, timeout=20)
    assert done.returncode != 0
    assert flag in done.stderr, done.stderr


def test_help_names_both_limits():
    text = subprocess.run([str(herald_bin()), "serve", "--help"], capture_output=True, text=True, timeout=20).stdout
    assert "--owner-max-active" in text and "--owner-max-rate" in text
    text = subprocess.run([str(herald_bin()), "broker", "--help"], capture_output=True, text=True, timeout=20).stdout
    assert "--owner-max-active" in text and "--owner-max-rate" in text


# --------------------------------------------------------------------------- --workers 2

class KeptConnection:
    """A keep-alive connection that knows which process answers it (from /metrics)."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        self.process = PROCESS_RE.search(self.call("GET", "/metrics")[2].decode()).group(1)

    def call(self, method: str, path: str, body=None):
        raw = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=raw, headers={"Content-Type": "application/json"} if raw else {})
        r = self.conn.getresponse()
        return r.status, r.headers, r.read()

    def create(self, owner: str, task_id: str | None = None):
        body = {"title": "spread", "owner": owner, "lease_s": 3600}
        if task_id:
            body["id"] = task_id
        status, headers, data = self.call("POST", "/api/tasks", body)
        return status, headers.get("Retry-After"), json.loads(data)

    def close(self):
        self.conn.close()


def connections_on_every_worker(port: int, workers: int, per_worker: int = 2) -> list[KeptConnection]:
    """Opens connections until each worker holds `per_worker` of them (the kernel spreads new
    connections over the SO_REUSEPORT sockets), ordered worker 1, worker 2, worker 1, …"""
    by_process: dict[str, list[KeptConnection]] = {}
    spare = []
    for _ in range(200):
        c = KeptConnection(port)
        group = by_process.setdefault(c.process, [])
        (group if len(group) < per_worker else spare).append(c)
        if len(by_process) == workers and all(len(g) == per_worker for g in by_process.values()):
            break
    for c in spare:
        c.close()
    assert len(by_process) == workers, f"connections reached only {sorted(by_process)}"
    return [c for pair in zip(*by_process.values()) for c in pair]


@pytest.fixture
def cluster(herald, site):
    d = tempfile.mkdtemp(prefix="hol-")  # short: the broker socket must fit in sun_path
    os.chmod(d, 0o700)
    sup = herald(raw_args=["serve", "--workers", "2", "--host", "127.0.0.1", "--port", "0", "--public", str(site.public),
                           "--data", os.path.join(d, "data"), "--owner-max-active", "3", "--owner-max-rate", "5"],
                 name="serve --workers 2")
    yield sup
    shutil.rmtree(d, ignore_errors=True)


def test_limits_hold_across_workers(cluster):
    brokers = [argv for argv in children(cluster.proc.pid).values() if role(argv) == "broker"]
    assert len(brokers) == 1 and "--owner-max-active" in brokers[0] and "--owner-max-rate" in brokers[0], brokers
    conns = connections_on_every_worker(cluster.port, workers=2)
    api = Api(cluster.port)
    try:
        # Active: three creates spread over both workers, then every worker refuses the fourth.
        owner = unique_id("spread")
        made = [conns[i].create(owner) for i in range(3)]
        assert [status for status, _, _ in made] == [201, 201, 201], made
        before = owner_state(api, owner)
        for c in conns:
            extra = unique_id("extra")
            status, retry_after, body = c.create(owner, extra)
            assert (status, body["error"]["code"], retry_after) == (429, "too_many_active", str(DEFAULT_ACTIVE_RETRY_AFTER)), \
                (c.process, status, body)
            assert c.call("GET", f"/api/tasks/{extra}")[0] == 404
        assert owner_state(api, owner) == before
        # Cancelling on one worker frees the slot for a create on the other.
        conns[0].call("POST", f"/api/tasks/{made[0][2]['id']}/cancel", {})
        assert conns[1].create(owner)[0] == 201

        # Rate: five creates (each cancelled at once, so the active limit stays out of the way)
        # spread over both workers; the sixth is refused wherever it lands.
        owner = unique_id("burst")
        first_at = time.monotonic()
        for i in range(5):
            c = conns[i % len(conns)]
            status, _, body = c.create(owner)
            assert status == 201, body
            conns[(i + 1) % len(conns)].call("POST", f"/api/tasks/{body['id']}/cancel", {})
        before = owner_state(api, owner)
        for c in conns:
            extra = unique_id("extra")
            status, retry_after, body = c.create(owner, extra)
            assert (status, body["error"]["code"]) == (429, "rate_limited"), (c.process, status, body)
            elapsed = time.monotonic() - first_at
            assert RATE_WINDOW_S - elapsed - 1 <= int(retry_after) <= RATE_WINDOW_S, (retry_after, elapsed)
            assert c.call("GET", f"/api/tasks/{extra}")[0] == 404
        assert owner_state(api, owner) == before
    finally:
        for c in conns:
            c.close()


def test_concurrent_creates_over_many_connections_admit_exactly_the_limit(cluster):
    owner = unique_id("race")
    api = Api(cluster.port)

    def create(_):
        # A fresh connection each: the kernel spreads them over both workers.
        a = api.post("/api/tasks", {"title": "race", "owner": owner, "lease_s": 3600})
        return a.status, (a.json.get("error") or {}).get("code"), a.header("Retry-After")

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(create, range(24)))
    created = [r for r in results if r[0] == 201]
    refusals = [r for r in results if r[0] != 201]
    assert len(created) == 3, results
    assert all(r == (429, "too_many_active", str(DEFAULT_ACTIVE_RETRY_AFTER)) for r in refusals), results
    assert len(api.task_list(f"owner={owner}")["tasks"]) == 3
