"""Bad input gets the contract's error shape and status, and changes nothing: the whole task
list (GET /api/tasks, with its seq) is identical before and after every refused request."""

from __future__ import annotations

import json

import pytest

from support import RawHTTP, assert_json_error, request
from tasks_support import Api, api, assert_task_shape, tasks_server, unique_id  # noqa: F401
from tasks_support import assert_json_error_answer

J = "application/json"
CREATE = ("POST", "/api/tasks")


def meta_of_size(n: int) -> dict:
    """A meta object whose compact JSON encoding is exactly n bytes: {"k":"xxx…"}."""
    m = {"k": "x" * (n - 8)}
    assert len(json.dumps(m, separators=(",", ":"))) == n
    return m


def body(**fields) -> bytes:
    return json.dumps(fields, separators=(",", ":")).encode()


# (name, method, path, raw body, content type, status, code or set of codes)
CASES = [
    # not JSON, or not an object
    ("truncated", *CREATE, b'{"title":"t"', J, 400, "invalid_json"),
    ("array", *CREATE, b'["title"]', J, 400, "invalid_json"),
    ("string", *CREATE, b'"title"', J, 400, "invalid_json"),
    ("null", *CREATE, b"null", J, 400, "invalid_json"),
    ("trailing comma", *CREATE, b'{"title":"t",}', J, 400, "invalid_json"),
    ("single quotes", *CREATE, b"{'title':'t'}", J, 400, "invalid_json"),
    ("duplicate key", *CREATE, b'{"title":"t","title":"u"}', J, 400, "invalid_json"),
    ("invalid utf-8", *CREATE, b'{"title":"\xff\xfe"}', J, 400, "invalid_json"),
    ("NaN", *CREATE, b'{"title":"t","total":NaN}', J, 400, "invalid_json"),
    ("Infinity", *CREATE, b'{"title":"t","total":Infinity}', J, 400, "invalid_json"),
    ("-Infinity", *CREATE, b'{"title":"t","total":-Infinity}', J, 400, "invalid_json"),
    ("huge number", *CREATE, b'{"title":"t","total":1e999}', J, 400, {"invalid_json", "invalid_field"}),
    ("garbage after", *CREATE, b'{"title":"t"} x', J, 400, "invalid_json"),
    ("lone high surrogate", *CREATE, b'{"title":"\\ud800"}', J, 400, "invalid_json"),
    ("lone low surrogate", *CREATE, b'{"title":"\\udc00x"}', J, 400, "invalid_json"),
    ("raw control char", *CREATE, b'{"title":"a\x01b"}', J, 400, "invalid_json"),
    ("deep arrays", *CREATE, b'{"title":"t","meta":{"a":' + b"[" * 100000 + b"]" * 100000 + b"}}", J, 400,
     {"invalid_json", "invalid_field"}),
    ("deep objects", *CREATE, b'{"title":"t","meta":' + b'{"a":' * 50000 + b"1" + b"}" * 50001, J, 400,
     {"invalid_json", "invalid_field"}),
    # wrong types and ranges
    ("no title", *CREATE, b"{}", J, 400, "missing_field"),
    ("null title", *CREATE, b'{"title":null}', J, 400, "missing_field"),
    ("title number", *CREATE, b'{"title":5}', J, 400, "invalid_field"),
    ("title array", *CREATE, b'{"title":["t"]}', J, 400, "invalid_field"),
    ("title 201", *CREATE, body(title="t" * 201), J, 400, "invalid_field"),
    ("total string", *CREATE, body(title="t", total="5"), J, 400, "invalid_field"),
    ("total bool", *CREATE, body(title="t", total=True), J, 400, "invalid_field"),
    ("total negative", *CREATE, body(title="t", total=-1), J, 400, "invalid_field"),
    ("lease too small", *CREATE, body(title="t", lease_s=0.05), J, 400, "invalid_field"),
    ("lease zero", *CREATE, body(title="t", lease_s=0), J, 400, "invalid_field"),
    ("lease string", *CREATE, body(title="t", lease_s="30"), J, 400, "invalid_field"),
    ("lease > a day", *CREATE, body(title="t", lease_s=86401), J, 400, "invalid_field"),
    ("expire < lease", *CREATE, body(title="t", lease_s=10, expire_s=5), J, 400, "invalid_field"),
    ("meta array", *CREATE, body(title="t", meta=[1]), J, 400, "invalid_field"),
    ("meta string", *CREATE, body(title="t", meta="x"), J, 400, "invalid_field"),
    ("meta 4097", *CREATE, body(title="t", meta=meta_of_size(4097)), J, 400, "invalid_field"),
    ("owner space", *CREATE, body(title="t", owner="a b"), J, 400, "invalid_field"),
    ("owner empty", *CREATE, body(title="t", owner=""), J, 400, "invalid_field"),
    ("owner 65", *CREATE, body(title="t", owner="o" * 65), J, 400, "invalid_field"),
    ("owner colon", *CREATE, body(title="t", owner="a:b"), J, 400, "invalid_field"),
    ("owner number", *CREATE, body(title="t", owner=5), J, 400, "invalid_field"),
    # bad ids
    ("id dot", *CREATE, body(id=".", title="t"), J, 400, "invalid_field"),
    ("id dotdot", *CREATE, body(id="..", title="t"), J, 400, "invalid_field"),
    ("id empty", *CREATE, body(id="", title="t"), J, 400, "invalid_field"),
    ("id 129", *CREATE, body(id="i" * 129, title="t"), J, 400, "invalid_field"),
    ("id slash", *CREATE, body(id="a/b", title="t"), J, 400, "invalid_field"),
    ("id space", *CREATE, body(id="a b", title="t"), J, 400, "invalid_field"),
    ("id unicode", *CREATE, body(id="t\u00e9", title="t"), J, 400, "invalid_field"),
    ("id nul", *CREATE, body(id="a\u0000b", title="t"), J, 400, "invalid_field"),
    ("id percent", *CREATE, body(id="a%2Fb", title="t"), J, 400, "invalid_field"),
    ("id number", *CREATE, body(id=5, title="t"), J, 400, "invalid_field"),
    ("id taken", *CREATE, b'{"id":"{run}","title":"t"}', J, 409, "already_exists"),
    # content types
    # text/plain is accepted when the body is JSON (load generators such as wsbench send it)
    ("text/plain not json", *CREATE, b"title=t", "text/plain", 400, "invalid_json"),
    ("form", *CREATE, b"title=t", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ("multipart", *CREATE, body(title="t"), "multipart/form-data; boundary=x", 415, "unsupported_media_type"),
    ("xml", *CREATE, body(title="t"), "application/xml", 415, "unsupported_media_type"),
    # progress
    ("progress bad json", "POST", "/api/tasks/{run}/progress", b"{done:1}", J, 400, "invalid_json"),
    ("progress NaN", "POST", "/api/tasks/{run}/progress", b'{"done":NaN}', J, 400, "invalid_json"),
    ("progress Infinity", "POST", "/api/tasks/{run}/progress", b'{"done":Infinity}', J, 400, "invalid_json"),
    ("progress huge", "POST", "/api/tasks/{run}/progress", b'{"done":1e400}', J, 400,
     {"invalid_json", "invalid_field"}),
    ("progress done string", "POST", "/api/tasks/{run}/progress", body(done="20"), J, 400, "invalid_field"),
    ("progress done negative", "POST", "/api/tasks/{run}/progress", body(done=-1), J, 400, "invalid_field"),
    ("progress done bool", "POST", "/api/tasks/{run}/progress", body(done=True), J, 400, "invalid_field"),
    ("progress percent 101", "POST", "/api/tasks/{run}/progress", body(percent=101), J, 400, "invalid_field"),
    ("progress percent -1", "POST", "/api/tasks/{run}/progress", body(percent=-1), J, 400, "invalid_field"),
    ("progress total string", "POST", "/api/tasks/{run}/progress", body(total="x"), J, 400, "invalid_field"),
    ("progress total negative", "POST", "/api/tasks/{run}/progress", body(total=-3), J, 400, "invalid_field"),
    ("progress message number", "POST", "/api/tasks/{run}/progress", body(message=5), J, 400, "invalid_field"),
    ("progress message 1025", "POST", "/api/tasks/{run}/progress", body(message="m" * 1025), J, 400,
     "invalid_field"),
    ("progress valid but bad done type", "POST", "/api/tasks/{run}/progress", body(done=30, total=[1]), J, 400,
     "invalid_field"),
    ("progress decreased", "POST", "/api/tasks/{run}/progress", body(done=5), J, 409, "done_decreased"),
    ("progress form", "POST", "/api/tasks/{run}/progress", body(done=20), "application/x-www-form-urlencoded", 415,
     "unsupported_media_type"),
    # complete and fail
    ("complete result 4097", "POST", "/api/tasks/{run}/complete", body(result="r" * 4095), J, 400,
     "invalid_field"),
    ("complete message 1025", "POST", "/api/tasks/{run}/complete", body(message="m" * 1025), J, 400,
     "invalid_field"),
    ("complete bad json", "POST", "/api/tasks/{run}/complete", b"{", J, 400, "invalid_json"),
    ("fail error string", "POST", "/api/tasks/{run}/fail", body(error="boom"), J, 400, "invalid_field"),
    ("fail error empty", "POST", "/api/tasks/{run}/fail", body(error={}), J, 400, {"missing_field", "invalid_field"}),
    ("fail code empty", "POST", "/api/tasks/{run}/fail", body(error={"code": "", "message": "m"}), J, 400,
     "invalid_field"),
    ("fail code 65", "POST", "/api/tasks/{run}/fail", body(error={"code": "c" * 65, "message": "m"}), J, 400,
     "invalid_field"),
    ("fail code number", "POST", "/api/tasks/{run}/fail", body(error={"code": 5, "message": "m"}), J, 400,
     "invalid_field"),
    ("fail message 1025", "POST", "/api/tasks/{run}/fail", body(error={"code": "c", "message": "m" * 1025}), J,
     400, "invalid_field"),
    ("fail no error", "POST", "/api/tasks/{run}/fail", b"{}", J, 400, "missing_field"),
    # routes, methods, ids in the path
    ("unknown api route", "GET", "/api/nothing", b"", None, 404, "not_found"),
    ("unknown action", "POST", "/api/tasks/{run}/explode", b"{}", J, 404, "not_found"),
    ("unknown id", "GET", "/api/tasks/nope-never", b"", None, 404, "not_found"),
    ("bad id in path", "GET", "/api/tasks/a%20b", b"", None, {400, 404}, None),
    ("dotdot id in path", "POST", "/api/tasks/%2E%2E/start", b"{}", J, {400, 404}, None),
    ("long id in path", "GET", "/api/tasks/" + "i" * 129, b"", None, {400, 404}, None),
    ("bad limit", "GET", "/api/tasks?limit=abc", b"", None, 400, "invalid_field"),
    ("negative limit", "GET", "/api/tasks?limit=-1", b"", None, 400, "invalid_field"),
    ("bad wait", "GET", "/api/tasks/{run}?wait=abc&after=1", b"", None, 400, "invalid_field"),
]

METHOD_CASES = [
    ("PUT", "/api/tasks"),
    ("DELETE", "/api/tasks"),
    ("GET", "/api/tasks/{run}/start"),
    ("PATCH", "/api/tasks/{run}"),
    ("PUT", "/api/tasks/{run}/progress"),
]


@pytest.fixture(scope="module")
def population(tasks_server):
    """A few tasks in different states, so the list compared before and after is not trivial."""
    api = Api(tasks_server.port)
    run = api.move_to("running", total=100, owner="validator", meta={"a": 1})
    run = api.act(run["id"], "progress", {"done": 10, "message": "ten"})
    api.move_to("queued", title="q")
    api.move_to("succeeded", title="s")
    api.move_to("failed", title="f")
    return {"run": run["id"]}


def fill(s: str | bytes, pop: dict):
    if isinstance(s, bytes):
        return s.replace(b"{run}", pop["run"].encode())
    return s.replace("{run}", pop["run"])


@pytest.mark.parametrize("name,method,path,raw,ctype,status,code", CASES, ids=[c[0] for c in CASES])
def test_refused_and_nothing_changes(api: Api, population, name, method, path, raw, ctype, status, code):
    before = api.task_list("limit=10000")
    a = api.call(method, fill(path, population), raw=fill(raw, population) if raw or method != "GET" else None,
                 content_type=ctype)
    if isinstance(status, set):
        assert a.status in status, a
        assert_json_error_answer(a, a.status, code)
    else:
        assert_json_error_answer(a, status, code)
    assert api.task_list("limit=10000") == before, f"{name}: the task list changed"


@pytest.mark.parametrize("method,path", METHOD_CASES, ids=[f"{m} {p}" for m, p in METHOD_CASES])
def test_wrong_method_is_405_with_allow(api: Api, population, method, path):
    before = api.task_list("limit=10000")
    a = api.call(method, fill(path, population), raw=b"{}")
    assert_json_error_answer(a, 405, None)
    allow = a.header("Allow")
    assert allow and method not in [x.strip() for x in allow.split(",")], allow
    assert api.task_list("limit=10000") == before


def test_body_over_1_mib_is_413_and_changes_nothing(tasks_server, api: Api, population):
    before = api.task_list("limit=10000")
    with RawHTTP(tasks_server.port, timeout=30) as c:
        # The head alone decides (docs/protocol.md): the answer comes without the body.
        c.send(request("POST", "/api/tasks", [("Content-Type", J), ("Content-Length", str((1 << 20) + 1))]))
        r = c.read_response()
    assert_json_error(r, 413, "body_too_large")
    assert api.task_list("limit=10000") == before


def test_limits_are_inclusive(api: Api):
    """The largest valid values are accepted, and come back as sent."""
    i128 = "A.z_0:9-" + "i" * 120
    t = api.create(id=i128, title="t" * 200, owner="o" * 64, meta=meta_of_size(4096), total=1e308, lease_s=0.1,
                   expire_s=0.1)
    assert t["id"] == i128 and len(t["title"]) == 200 and t["owner"] == "o" * 64
    assert t["meta"] == meta_of_size(4096) and t["total"] == 1e308 and t["lease_s"] == 0.1
    r = api.move_to("running", total=10)
    p = api.act(r["id"], "progress", {"done": 10, "message": "m" * 1024, "percent": 100})
    assert p["message"] == "m" * 1024
    c = api.act(r["id"], "complete", {"message": "m" * 1024, "result": "r" * 4094})
    assert c["result"] == "r" * 4094
    f = api.move_to("running")
    x = api.act(f["id"], "fail", {"error": {"code": "c" * 64, "message": "m" * 1024}})
    assert x["error"] == {"code": "c" * 64, "message": "m" * 1024}


def test_lengths_count_characters_not_bytes(api: Api):
    t = api.create(title="\u00e9" * 200)                  # 400 bytes of UTF-8, 200 characters
    assert t["title"] == "\u00e9" * 200
    r = api.move_to("running")
    p = api.act(r["id"], "progress", {"message": "\u00fc" * 1024})
    assert p["message"] == "\u00fc" * 1024


def test_meta_size_is_its_encoded_json_not_the_bytes_sent(api: Api):
    # Whitespace in the request does not count: the meta below is 4096 bytes when encoded.
    raw = b'{"title": "spaced", "meta": {  "k"  :  "' + b"x" * 4088 + b'"  }  }'
    a = api.post("/api/tasks", raw=raw)
    assert a.status == 201, a
    assert a.json["meta"] == meta_of_size(4096)


def test_content_types_accepted(api: Api):
    for ctype in ("application/json", "application/json; charset=utf-8", "Application/JSON",
                  "application/vnd.herald+json", "text/plain", "text/plain; charset=utf-8", None):
        a = api.post("/api/tasks", raw=body(title=f"ctype {ctype}"), content_type=ctype)
        assert a.status == 201, (ctype, a)
        assert (a.header("Content-Type") or "").split(";")[0].strip() == "application/json"


def test_unknown_fields_are_ignored_and_empty_body_is_an_empty_object(api: Api):
    i = unique_id()
    t = api.create(id=i, title="extra", colour="blue", nested={"a": [1]})
    assert_task_shape(t)
    assert "colour" not in t and "nested" not in t
    a = api.post("/api/tasks", raw=b"")
    assert_json_error_answer(a, 400, "missing_field")
    api.act(i, "start")
    h = api.post(f"/api/tasks/{i}/heartbeat", raw=b"", content_type=None)
    assert h.status == 200, h


def test_a_bad_request_does_not_harm_another_client(tasks_server, api: Api, population):
    # The same keep-alive connection: a refused request, then a good one, answered in order.
    with RawHTTP(tasks_server.port) as c:
        c.send(request("POST", "/api/tasks", [("Content-Type", J)], b"{nope")
               + request("GET", f"/api/tasks/{population['run']}"))
        r1 = c.read_response()
        r2 = c.read_response()
    assert r1.status == 400 and r2.status == 200
    assert json.loads(r2.body)["id"] == population["run"]


def test_awkward_characters_round_trip(tasks_server, api: Api):
    text = 'q"\\ \x00\x01\x1f \u2028\u2029 </script> \U0001F600 \u00e9 \ufeff'
    t = api.create(title=text, meta={text: [text, {"n": -0.5, "big": 9007199254740991}]})
    assert t["title"] == text and t["meta"] == {text: [text, {"n": -0.5, "big": 9007199254740991}]}
    r = api.move_to("running")
    p = api.act(r["id"], "progress", {"message": text})
    assert p["message"] == text
    assert api.task(t["id"]) == t


def test_ids_with_colons_dots_and_dashes_work_in_paths_and_topics(tasks_server, api: Api):
    from tasks_support import WS
    i = "job:2026-11.run_" + unique_id("")[1:]
    with WS(tasks_server.port, f"topic=task:{i}") as ws:
        ws.snapshot(f"task:{i}")
        c = api.create(id=i, title="colon id")
        s = api.act(i, "start")
        assert ws.recv(5)["seq"] == c["seq"]
        assert ws.recv(5)["seq"] == s["seq"]
    assert api.task(i) == s
