"""POST /api/batch (contract v2, "Batches") against the real binary with python clients: one
round trip, each item's own result and events, nothing applied for a malformed or oversized
batch, filters, access per item, owner limits per item, and the same through --workers."""

from __future__ import annotations

import pytest

from auth_support import PUBLISH_TOKEN, AuthApi, auth_server, mint
from tasks_support import WS, Api, own_server, task_serve_args, unique_id


def batch(api: Api, body: dict, expect: int = 200):
    a = api.post("/api/batch", body)
    assert a.status == expect, a
    return a.json


def items(n: int, prefix: str, **fields) -> list[dict]:
    return [{"id": f"{prefix}-{i}", "title": f"article {i}", **fields} for i in range(n)]


@pytest.fixture(scope="module")
def server(site):
    with own_server(task_serve_args(site.public, ":memory:"), name="batch herald") as h:
        yield h


def test_a_thousand_creates_reach_a_subscriber_in_item_order(server):
    api = Api(server.port)
    prefix = unique_id("k")
    with WS(server.port, "topic=tasks") as ws:
        start = ws.snapshot("tasks")["seq"]
        doc = batch(api, {"op": "create", "items": items(1000, prefix, meta={"n": 1})})
        results = doc["results"]
        assert [r["id"] for r in results] == [f"{prefix}-{i}" for i in range(1000)]
        assert all(r["status"] == 201 and r["task"]["status"] == "queued" for r in results)
        created = ws.until(lambda m: m.get("task", {}).get("id") == f"{prefix}-999", timeout=20)
        created = [m for m in created if m.get("event") == "created"]
        assert [m["task"]["id"] for m in created] == [f"{prefix}-{i}" for i in range(1000)]
        assert [m["seq"] for m in created] == list(range(start + 1, start + 1001))
        assert [r["task"]["seq"] for r in results] == [m["seq"] for m in created]


@pytest.mark.parametrize("body, status, code, where", [
    ("over", 413, "too_many_items", None),
    ("bad_item", 400, "invalid_field", "items[500]"),
    ("dup_key", 400, None, None),
])
def test_an_oversized_or_malformed_batch_applies_nothing(server, body, status, code, where):
    api = Api(server.port)
    prefix = unique_id("n")
    seq = api.seq()
    if body == "over":
        raw = {"op": "create", "items": items(1001, prefix)}
    elif body == "bad_item":
        raw = {"op": "create", "items": items(1000, prefix)}
        raw["items"][500]["timeout_s"] = 0
    if body == "dup_key":
        a = api.post("/api/batch", raw=b'{"op":"create","items":[{"title":"a","title":"b"}]}')
    else:
        a = api.post("/api/batch", raw)
    assert a.status == status, a
    if code:
        assert a.json["error"]["code"] == code
    if where:
        assert a.json["error"]["message"].startswith(where)
    assert api.seq() == seq
    assert api.get(f"/api/tasks/{prefix}-0").status == 404


def test_changes_by_ids_and_by_filter(server):
    api = Api(server.port)
    owner = unique_id("o").replace("-", "")
    ids = [r["id"] for r in batch(api, {"op": "create", "items": items(4, owner, owner=owner, lease_s=3600)})["results"]]
    api.act(ids[0], "start")
    doc = batch(api, {"op": "cancel", "ids": [ids[0], ids[1], "no-such-task"]})
    assert [(r["status"], r.get("task", {}).get("status")) for r in doc["results"]] == [(200, "cancelling"), (200, "cancelled"), (404, None)]
    assert doc["results"][2]["error"]["code"] == "not_found"
    doc = batch(api, {"op": "retry", "filter": {"owner": owner, "status": ["cancelled"]}})
    assert [r["id"] for r in doc["results"]] == [ids[1]] and doc["results"][0]["task"]["attempt"] == 2
    doc = batch(api, {"op": "cancel", "filter": {"owner": owner, "status": ["queued"]}})
    assert sorted(r["id"] for r in doc["results"]) == sorted([ids[1], ids[2], ids[3]])
    doc = batch(api, {"op": "delete", "filter": {"owner": owner}})
    by_id = {r["id"]: r for r in doc["results"]}
    assert by_id[ids[0]]["status"] == 409          # still cancelling: not terminal
    assert all(by_id[i]["status"] == 200 and by_id[i]["deleted"] for i in ids[1:])
    assert [t["id"] for t in api.task_list(f"owner={owner}")["tasks"]] == [ids[0]]


def test_access_and_limits_apply_per_item(site, tmp_path):
    with auth_server(site, tmp_path, "--publish-token", PUBLISH_TOKEN, "--owner-max-active", "3") as h:
        admin = AuthApi(h.port, PUBLISH_TOKEN)
        bob_ids = [r["id"] for r in batch(admin, {"op": "create", "items": items(2, unique_id("b"), owner="bob")})["results"]]
        alice_w = AuthApi(h.port, mint("alice", "worker"))
        doc = batch(alice_w, {"op": "create", "items": [{"title": "a1"}, {"title": "for bob", "owner": "bob"}, {"title": "a2"},
                                                        {"title": "a3"}, {"title": "a4"}]})
        statuses = [r["status"] for r in doc["results"]]
        assert statuses == [201, 403, 201, 201, 429], doc
        assert doc["results"][4]["error"]["code"] == "too_many_active" and doc["results"][4]["error"]["retry_after"] >= 1
        assert all(r["task"]["owner"] == "alice" for r in doc["results"] if r["status"] == 201)
        alice_v = AuthApi(h.port, mint("alice", "viewer"))
        assert alice_v.post("/api/batch", {"op": "create", "items": [{"title": "x"}]}).status == 403
        missing = unique_id("nope")
        doc = batch(alice_v, {"op": "cancel", "ids": [bob_ids[0], missing]})
        r_bob, r_missing = doc["results"]
        assert r_bob["status"] == r_missing["status"] == 404
        assert r_bob["error"]["message"].replace(bob_ids[0], "X") == r_missing["error"]["message"].replace(missing, "X")
        assert batch(alice_v, {"op": "cancel", "filter": {"owner": "bob"}})["results"] == []   # never alice's own instead
        assert alice_v.post("/api/batch", {"op": "create", "items": [{"title": 5}]}).status == 403
        assert all(admin.task(i)["status"] == "queued" for i in bob_ids)


def test_batches_through_workers(site, tmp_path):
    with own_server(task_serve_args(site.public, str(tmp_path / "data"), "--workers", "2"), name="batch workers") as h:
        prefix = unique_id("w")
        with WS(h.port, "topic=tasks") as ws:
            ws.snapshot("tasks")
            results = batch(Api(h.port), {"op": "create", "items": items(200, prefix)})["results"]
            assert all(r["status"] == 201 for r in results)
            created = ws.until(lambda m: m.get("task", {}).get("id") == f"{prefix}-199", timeout=20)
            assert [m["task"]["id"] for m in created if m.get("event") == "created"] == [f"{prefix}-{i}" for i in range(200)]
        # Another connection (maybe the other worker) sees them all.
        assert len(Api(h.port).task_list("limit=1000")["tasks"]) == 200
