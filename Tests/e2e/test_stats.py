"""GET /api/stats and herald_task_duration_seconds with real clients: tasks whose durations the
test controls (start, sleep a known time, finish), exact figures computed here from the tasks'
own started_at/finished_at, bad windows, a viewer token that sees only its own owner, and the
same figures from both processes of `serve --workers 2`."""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from datetime import datetime, timezone

import pytest

from auth_support import AuthApi, auth_server, mint
from tasks_support import Answer, Api, api, assert_json_error_answer, tasks_server, unique_id  # noqa: F401
from test_tasks_metrics import scrape

STATUSES = ("queued", "running", "succeeded", "failed", "cancelling", "cancelled")
BOUNDS = ("0.1", "0.5", "1", "5", "10", "30", "60", "300", "600", "1800", "3600", "+Inf")
MINUTE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:00Z$")
# Sleeping d seconds between start and finish gives a duration of d plus two HTTP round trips
# on loopback; more than this would mean the server measured something else.
SLACK_S = 0.25


def ms(ts: str) -> int:
    return int(round(datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp() * 1000))


def minute(ts: str) -> str:
    return ts[:16] + ":00Z"


def nearest_rank(sorted_values: list, p: int):
    return sorted_values[max(1, math.ceil(p * len(sorted_values) / 100)) - 1]


def stats(api: Api, query: str = "") -> dict:
    a = api.get("/api/stats" + (f"?{query}" if query else ""))
    assert a.status == 200, a
    assert (a.header("Content-Type") or "").startswith("application/json"), a.headers
    assert a.header("Cache-Control") == "no-store"
    return a.json


def run(api: Api, owner: str, outcome: str, sleep_s: float, code: str = "worker_error") -> dict:
    """A task of `owner` started, then after `sleep_s` finished as `outcome`; its final JSON."""
    t = api.create(owner=owner, lease_s=3600)
    api.act(t["id"], "start")
    time.sleep(sleep_s)
    if outcome == "succeeded":
        return api.act(t["id"], "complete", {})
    if outcome == "failed":
        return api.act(t["id"], "fail", {"error": {"code": code, "message": "it broke"}})
    api.act(t["id"], "cancel")
    return api.act(t["id"], "cancelled")


def expected_figures(finished: list[dict]) -> dict:
    """What the stats must say about these finished tasks, from their own timestamps."""
    by = {s: [t for t in finished if t["status"] == s] for s in ("succeeded", "failed", "cancelled")}
    durations = sorted(ms(t["finished_at"]) - ms(t["started_at"]) for t in by["succeeded"])
    codes: dict[str, int] = {}
    for t in by["failed"]:
        codes[t["error"]["code"]] = codes.get(t["error"]["code"], 0) + 1
    timeline: dict[str, dict] = {}
    for t in finished:
        entry = timeline.setdefault(minute(t["finished_at"]), {"succeeded": 0, "failed": 0, "cancelled": 0})
        entry[t["status"]] += 1
    return {
        "finished": len(finished),
        **{s: len(v) for s, v in by.items()},
        "success_rate": len(by["succeeded"]) / len(finished) if finished else None,
        "duration_s": {**{f"p{p}": nearest_rank(durations, p) / 1000 for p in (50, 90, 99)}, "max": durations[-1] / 1000}
        if durations else None,
        "errors": [{"code": c, "count": n} for c, n in sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))],
        "timeline": [{"t": k, **v} for k, v in sorted(timeline.items())],
    }


def assert_figures(doc: dict, finished: list[dict]):
    want = expected_figures(finished)
    for key, value in want.items():
        assert doc[key] == value, (key, doc[key], value)


def histogram(samples: dict, outcome: str) -> dict:
    name = "herald_task_duration_seconds"
    return {"buckets": [samples[f'{name}_bucket{{outcome="{outcome}",le="{b}"}}'] for b in BOUNDS],
            "sum": samples[f'{name}_sum{{outcome="{outcome}"}}'], "count": samples[f'{name}_count{{outcome="{outcome}"}}']}


# --------------------------------------------------------------------------- one server

def test_stats_match_tasks_whose_durations_the_test_controls(tasks_server, api: Api):
    owner = unique_id("st")
    before, types = scrape(api)
    assert types["herald_task_duration_seconds"] == "histogram"
    plan = [("succeeded", 0.05), ("succeeded", 0.1), ("succeeded", 0.2), ("succeeded", 0.3), ("succeeded", 0.6),
            ("failed", 0.05, "io"), ("failed", 0.05, "disk"), ("failed", 0.05, "io"), ("cancelled", 0.1)]
    finished = [run(api, owner, *step) for step in plan]
    for t, step in zip(finished, plan):
        took = (ms(t["finished_at"]) - ms(t["started_at"])) / 1000
        assert step[1] <= took <= step[1] + SLACK_S, (step, took)
    queued_cancel = api.act(api.create(owner=owner)["id"], "cancel")  # cancelled before it started
    finished.append(queued_cancel)
    api.create(owner=owner)                      # queued
    api.act(api.create(owner=owner, lease_s=3600)["id"], "start")  # running
    api.create(owner=unique_id("other"))         # someone else's: not in this owner's counts

    doc = stats(api, f"owner={owner}")
    assert set(doc) >= {"window_s", "counts", "finished", "succeeded", "failed", "cancelled", "success_rate",
                        "duration_s", "errors", "timeline"}, doc
    assert doc["window_s"] == 3600 and doc["owner"] == owner
    assert doc["counts"] == {"queued": 1, "running": 1, "succeeded": 5, "failed": 3, "cancelling": 0, "cancelled": 2}
    assert_figures(doc, finished)
    assert doc["success_rate"] == 0.5 and doc["errors"] == [{"code": "io", "count": 2}, {"code": "disk", "count": 1}]
    # the durations are the sleeps, give or take the round trips
    for key, slept in (("p50", 0.2), ("p90", 0.6), ("p99", 0.6), ("max", 0.6)):
        assert slept <= doc["duration_s"][key] <= slept + SLACK_S, (key, doc["duration_s"])
    assert all(MINUTE_RE.match(e["t"]) for e in doc["timeline"]), doc["timeline"]

    # /metrics: this test's started tasks, exactly (the queued cancel is not observed)
    after, _ = scrape(api)
    for outcome in ("succeeded", "failed", "cancelled"):
        h0, h1 = histogram(before, outcome), histogram(after, outcome)
        mine = [t for t in finished if t["status"] == outcome and t["started_at"]]
        assert h1["count"] - h0["count"] == len(mine), (outcome, h0, h1)
        assert h1["buckets"][-1] == h1["count"] and h1["buckets"] == sorted(h1["buckets"]), h1
        added = sum(ms(t["finished_at"]) - ms(t["started_at"]) for t in mine) / 1000
        assert abs((h1["sum"] - h0["sum"]) - added) < 1e-6, (outcome, h1["sum"] - h0["sum"], added)
        for bound, b0, b1 in zip(BOUNDS, h0["buckets"], h1["buckets"]):
            limit = math.inf if bound == "+Inf" else float(bound)
            assert b1 - b0 == sum(1 for t in mine if (ms(t["finished_at"]) - ms(t["started_at"])) / 1000 <= limit), bound


def test_the_window_keeps_only_recent_finishes_but_counts_every_held_task(api: Api):
    owner = unique_id("win")
    done = run(api, owner, "succeeded", 0.0)
    assert stats(api, f"owner={owner}&window=60")["succeeded"] == 1
    time.sleep(1.2)
    fresh = run(api, owner, "failed", 0.0, code="late")
    doc = stats(api, f"owner={owner}&window=1")
    assert doc["window_s"] == 1 and doc["finished"] == 1 and doc["failed"] == 1 and doc["succeeded"] == 0, doc
    assert doc["duration_s"] is None and doc["success_rate"] == 0 and doc["errors"] == [{"code": "late", "count": 1}]
    assert doc["counts"]["succeeded"] == 1 and doc["counts"]["failed"] == 1  # still held
    assert_figures(doc, [fresh])
    decimal = stats(api, f"owner={owner}&window=0.5")
    assert decimal["window_s"] == 0.5
    assert_figures(stats(api, f"owner={owner}&window=2592000"), [done, fresh])


def test_no_owner_means_every_owner(api: Api):
    owners = [unique_id("all"), unique_id("all")]
    mine = [run(api, o, "succeeded", 0.0) for o in owners]
    doc = stats(api)
    assert doc["owner"] is None and doc["finished"] >= 2
    held = api.task_list("limit=10000")["tasks"]
    assert doc["counts"] == {s: sum(1 for t in held if t["status"] == s) for s in STATUSES}
    assert sum(e["succeeded"] for e in doc["timeline"]) == doc["succeeded"] >= len(mine)


@pytest.mark.parametrize("window", ["0", "0.0", "-1", "-0.5", "abc", "nan", "NaN", "inf", "Infinity", "1e3", "0x10",
                                    "2592001", "2592000.001", "1.", ".5", "%2B5"])
def test_a_bad_window_is_400(api: Api, window):
    a = api.get(f"/api/stats?window={window}")
    assert_json_error_answer(a, 400, "invalid_field")
    assert "window" in a.json["error"]["message"]


def test_stats_refuses_other_methods_and_bad_owners(api: Api):
    a = api.post("/api/stats", {})
    assert_json_error_answer(a, 405, "method_not_allowed")
    assert a.header("Allow") == "GET, HEAD"
    assert_json_error_answer(api.get("/api/stats?owner=no%20spaces"), 400, "invalid_field")
    assert api.call("HEAD", "/api/stats").status == 200
    assert stats(api, "owner=&window=")["window_s"] == 3600  # empty is absent


def test_curl_reads_stats(tasks_server):
    out = subprocess.run(["curl", "-sS", "-f", f"http://127.0.0.1:{tasks_server.port}/api/stats?window=30"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["window_s"] == 30


# --------------------------------------------------------------------------- access control

def test_a_viewer_gets_only_its_own_owners_stats(site, tmp_path):
    with auth_server(site, tmp_path) as h:
        alice_worker = AuthApi(h.port, mint("alice", "worker"))
        bob_worker = AuthApi(h.port, mint("bob", "worker"))
        alice_viewer = AuthApi(h.port, mint("alice", "viewer"))
        admin = AuthApi(h.port, mint("root", "admin"))
        alices = [run(alice_worker, "alice", "succeeded", 0.05), run(alice_worker, "alice", "failed", 0.0, code="alice_err")]
        bobs = [run(bob_worker, "bob", "failed", 0.0, code="bob_secret") for _ in range(3)]
        bobs.append(run(bob_worker, "bob", "cancelled", 0.0))
        bob_worker.create(owner="bob")

        own = stats(alice_viewer, "owner=alice")
        for query in ("", "owner=bob", "owner=bob&window=86400", "owner="):
            doc = stats(alice_viewer, query)
            assert doc["owner"] == "alice", (query, doc)
            assert doc["counts"] == {"queued": 0, "running": 0, "succeeded": 1, "failed": 1, "cancelling": 0, "cancelled": 0}
            assert_figures(doc, alices)
            assert "bob" not in json.dumps(doc), doc
            assert {k: v for k, v in doc.items() if k not in ("at", "window_s")} == \
                   {k: v for k, v in own.items() if k not in ("at", "window_s")}
        # An invalid owner= is not even read for a viewer; a bad window still is.
        assert stats(alice_viewer, "owner=%20")["owner"] == "alice"
        assert_json_error_answer(alice_viewer.get("/api/stats?window=0"), 400, "invalid_field")

        bob = stats(admin, "owner=bob")
        assert bob["owner"] == "bob" and bob["errors"] == [{"code": "bob_secret", "count": 3}]
        assert_figures(bob, bobs)
        everyone = stats(admin)
        assert everyone["finished"] == 6 and everyone["counts"]["queued"] == 1
        assert_figures(everyone, alices + bobs)

        assert_json_error_answer(AuthApi(h.port, None).get("/api/stats"), 401, "unauthorized")
        assert_json_error_answer(alice_viewer.get("/metrics"), 403, "forbidden")  # the histogram covers every owner
        samples, _ = scrape(admin)
        assert histogram(samples, "failed")["count"] == 4 and histogram(samples, "cancelled")["count"] == 1


# --------------------------------------------------------------------------- serve --workers 2

PROCESS_RE = re.compile(r'herald_process_info\{process="([^"]+)"')


class OnConnection(Api):
    """The API over one kept connection, so that every answer comes from the same process."""

    def __init__(self, port: int):
        super().__init__(port)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)

    def call(self, method, path, body=None, **kw):
        self.conn.request(method, path)
        r = self.conn.getresponse()
        return Answer(r.status, r.headers, r.read())


def stats_from_every_worker(port: int, query: str, workers: int = 2, attempts: int = 200) -> dict[str, tuple[dict, dict]]:
    """Opens connections until each worker answered: {process: (stats, /metrics samples)}."""
    seen: dict[str, tuple[dict, dict]] = {}
    for _ in range(attempts):
        api = OnConnection(port)
        try:
            process = PROCESS_RE.search(api.get("/metrics").body.decode()).group(1)
            if process not in seen:
                seen[process] = (stats(api, query), scrape(api)[0])
        finally:
            api.conn.close()
        if len(seen) == workers:
            return seen
    raise AssertionError(f"connections reached only {sorted(seen)}")


@pytest.fixture
def cluster(herald, site):
    d = tempfile.mkdtemp(prefix="hst-")  # short: the broker socket must fit in sun_path
    os.chmod(d, 0o700)
    sup = herald(raw_args=["serve", "--workers", "2", "--host", "127.0.0.1", "--port", "0", "--public", str(site.public),
                           "--data", os.path.join(d, "data")], name="serve --workers 2")
    yield sup
    shutil.rmtree(d, ignore_errors=True)


def test_both_workers_answer_the_same_stats(cluster):
    api = Api(cluster.port)
    owner = unique_id("wk")
    finished = [run(api, owner, "succeeded", 0.05), run(api, owner, "succeeded", 0.15),
                run(api, owner, "failed", 0.0, code="x"), run(api, owner, "cancelled", 0.0)]
    answers = stats_from_every_worker(cluster.port, f"owner={owner}")
    docs = [{k: v for k, v in doc.items() if k != "at"} for doc, _ in answers.values()]
    assert docs[0] == docs[1], docs
    assert_figures(docs[0], finished)
    histograms = [[histogram(samples, o) for o in ("succeeded", "failed", "cancelled")] for _, samples in answers.values()]
    assert histograms[0] == histograms[1], histograms  # the broker's, whichever worker answers
    assert [h["count"] for h in histograms[0]] == [2, 1, 1]
