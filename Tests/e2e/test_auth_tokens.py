"""Access control (contract v2, "Access: tokens, roles, origins") against the real binary, with
tokens minted by PyJWT: what needs a token, where a token may come from, every kind of bad
token, the three roles, the publish token as admin, origins at the upgrade, the CLI."""

from __future__ import annotations

import json
import subprocess
import time

import jwt
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from auth_support import PUBLISH_TOKEN, SECRET, AuthApi, auth_server, env_without_tokens, mint, secret_file, ws_url
from conftest import Herald, herald_bin
from tasks_support import WS, Api, unique_id

# PyJWT warns that our 51-byte key is short for HS512: that token is refused for its alg anyway.
pytestmark = pytest.mark.filterwarnings("ignore:The HMAC key")


@pytest.fixture(scope="module")
def authd(site, tmp_path_factory):
    with auth_server(site, tmp_path_factory.mktemp("auth"), "--publish-token", PUBLISH_TOKEN) as h:
        yield h


def upgrade_status(port: int, query: str, headers: dict | None = None) -> tuple[int, dict]:
    """The HTTP status of a refused upgrade (and its JSON body), or 101."""
    try:
        with ws_connect(ws_url(port, query), additional_headers=headers or {}, open_timeout=5):
            return 101, {}
    except InvalidStatus as e:
        return e.response.status_code, json.loads(e.response.body or b"{}")


# --------------------------------------------------------------------------- starting

@pytest.mark.parametrize("key, why", [(b"k" * 31, "31 bytes"), (b"   \n", "0 bytes")])
def test_a_short_key_refuses_to_start_with_one_line(site, tmp_path, key, why):
    h = Herald(["serve", "--port", "0", "--public", str(site.public), "--data", ":memory:",
                "--auth-secret-file", secret_file(tmp_path, key)])
    proc = subprocess.run(h.args, capture_output=True, text=True, timeout=20)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and why in lines[0] and "32" in lines[0], proc.stderr


def test_a_missing_secret_file_refuses_to_start(site, tmp_path):
    proc = subprocess.run([str(herald_bin()), "serve", "--port", "0", "--public", str(site.public), "--data", ":memory:",
                           "--auth-secret-file", str(tmp_path / "nope")], capture_output=True, text=True, timeout=20)
    assert proc.returncode != 0 and "cannot read the auth secret" in proc.stderr


def test_the_environment_names_the_secret_file(site, tmp_path):
    env = dict(env_without_tokens(), HERALD_AUTH_SECRET_FILE=secret_file(tmp_path))
    h = Herald(["serve", "--port", "0", "--public", str(site.public), "--data", ":memory:"])
    h.proc = None
    proc = subprocess.Popen(h.args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True)
    try:
        line = proc.stderr.readline()
        port = int(line.rsplit(":", 1)[1])
        assert Api(port).get("/api/tasks").status == 401
        assert AuthApi(port, mint()).get("/api/tasks").status == 200
    finally:
        proc.terminate()
        proc.wait(10)


# --------------------------------------------------------------------------- what needs a token

def test_api_ws_and_metrics_need_a_token_health_and_files_do_not(authd):
    anon = Api(authd.port)
    for method, path in [("GET", "/api/tasks"), ("POST", "/api/tasks"), ("GET", "/api/tasks/x"), ("DELETE", "/api/tasks/x"),
                         ("POST", "/api/tasks/x/start"), ("GET", "/metrics")]:
        a = anon.call(method, path, {} if method == "POST" else None)
        assert a.status == 401, (method, path, a)
        assert a.json["error"]["code"] == "unauthorized"
        assert a.header("WWW-Authenticate").startswith("Bearer")
    assert upgrade_status(authd.port, "topic=tasks")[0] == 401
    metrics = AuthApi(authd.port, PUBLISH_TOKEN).get("/metrics").body.decode()
    assert 'herald_auth_refusals_total{reason="missing"}' in metrics and 'reason="expired"' in metrics
    assert anon.get("/healthz").status == 200
    assert anon.get("/index.html").status == 200


@pytest.mark.parametrize("kind", ["expired", "not_yet_valid", "issued_in_future", "wrong_key", "alg_none", "hs512", "no_sub",
                                  "no_exp", "bad_role", "bad_sub", "garbage", "two_parts", "tampered", "empty", "basic"])
def test_every_bad_token_is_the_same_401_and_changes_nothing(authd, kind):
    now = int(time.time())
    token = {
        "expired": mint(ttl=-61),                                    # past the 60 s leeway
        "not_yet_valid": mint(nbf=now + 120),
        "issued_in_future": mint(iat=now + 120, ttl=600),
        "wrong_key": mint(key=b"x" * 40),
        "alg_none": jwt.encode({"sub": "alice", "role": "admin", "exp": now + 600}, None, algorithm="none"),
        "hs512": mint(algorithm="HS512", role="admin"),
        "no_sub": mint(sub=None),
        "no_exp": jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256"),
        "bad_role": mint(role="root"),
        "bad_sub": mint(sub="a/b"),
        "garbage": "not-a-token",
        "two_parts": "eyJhbGciOiJIUzI1NiJ9.e30",
        "tampered": mint(role="viewer")[:-2] + ("AA" if not mint().endswith("AA") else "BB"),
        "empty": "",
    }.get(kind)
    admin = AuthApi(authd.port, PUBLISH_TOKEN)
    seq = admin.seq()
    header = "Basic YWxpY2U6cHc=" if kind == "basic" else f"Bearer {token}"
    tid = unique_id("bad")
    a = Api(authd.port).post("/api/tasks", {"id": tid, "title": "t", "owner": "alice"}, headers={"Authorization": header})
    assert a.status == 401 and a.json["error"]["code"] == "unauthorized", a
    assert 'error="invalid_token"' in a.header("WWW-Authenticate")
    assert "alice" not in a.body.decode()
    if token is not None:
        assert upgrade_status(authd.port, f"topic=owner:alice&token={token}")[0] == 401
    assert admin.seq() == seq and admin.get(f"/api/tasks/{tid}").status == 404


def test_a_token_may_come_from_the_header_the_query_or_the_cookie(authd):
    token = mint("alice", "viewer")
    anon = Api(authd.port)
    assert anon.get("/api/tasks", headers={"Authorization": f"Bearer {token}"}).status == 200
    assert anon.get(f"/api/tasks?token={token}").status == 200
    assert anon.get("/api/tasks", headers={"Cookie": f"theme=dark; herald_token={token}; x=y"}).status == 200
    assert anon.get("/api/tasks", headers={"Cookie": "herald_token=nope"}).status == 401
    # The header wins: a bad header is not rescued by a good query token.
    assert anon.get(f"/api/tasks?token={token}", headers={"Authorization": "Bearer nope"}).status == 401
    for query in [f"topic=owner:alice&token={token}"]:
        with WS(authd.port, query) as ws:
            assert ws.snapshot("owner:alice")
    with ws_connect(ws_url(authd.port, "topic=owner:alice"), additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        assert json.loads(ws.recv(5))["type"] == "snapshot"
    with ws_connect(ws_url(authd.port, "topic=owner:alice"), additional_headers={"Cookie": f"herald_token={token}"}) as ws:
        assert json.loads(ws.recv(5))["type"] == "snapshot"


# --------------------------------------------------------------------------- roles

def test_a_viewer_may_cancel_retry_and_delete_its_own_tasks_only(authd):
    admin = AuthApi(authd.port, PUBLISH_TOKEN)
    viewer = AuthApi(authd.port, mint("vic", "viewer"))
    tid = admin.create(id=unique_id("v"), title="vic's", owner="vic", lease_s=3600)["id"]
    # Changes a viewer may never make: 403 whatever the task (even a missing one).
    for action in ["start", "progress", "heartbeat", "complete", "fail", "cancelled"]:
        for target in [tid, "no-such-task"]:
            a = viewer.action(target, action)
            assert a.status == 403 and a.json["error"]["code"] == "forbidden", (action, a)
    assert viewer.post("/api/tasks", {"title": "mine", "owner": "vic"}).status == 403
    assert admin.task(tid)["status"] == "queued" and admin.task(tid)["seq"] == viewer.task(tid)["seq"]
    assert viewer.act(tid, "cancel")["status"] == "cancelled"
    assert viewer.act(tid, "retry")["status"] == "queued"
    admin.act(tid, "cancel")
    assert viewer.action(tid, "delete").status == 200
    assert admin.get(f"/api/tasks/{tid}").status == 404


def test_a_worker_creates_and_reports_on_its_own_tasks(authd):
    worker = AuthApi(authd.port, mint("wendy", "worker"))
    mine = worker.create(title="no owner given")
    assert mine["owner"] == "wendy"
    a = worker.post("/api/tasks", {"title": "for someone else", "owner": "bob"})
    assert a.status == 403 and a.json["error"]["code"] == "forbidden"
    for action in ["start", "progress", "heartbeat", "complete"]:
        worker.act(mine["id"], action)
    assert worker.task(mine["id"])["status"] == "succeeded"


def test_the_publish_token_and_admin_tokens_see_everything_and_metrics(authd):
    admin_jwt = AuthApi(authd.port, mint("root", "admin"))
    publish = AuthApi(authd.port, PUBLISH_TOKEN)
    t = publish.create(title="someone's", owner="zed")
    assert admin_jwt.task(t["id"])["owner"] == "zed"
    assert any(x["id"] == t["id"] for x in admin_jwt.task_list("owner=zed")["tasks"])
    for api in (admin_jwt, publish):
        m = api.get("/metrics")
        assert m.status == 200 and b"herald_tasks" in m.body
    for role in ("viewer", "worker"):
        a = AuthApi(authd.port, mint("zed", role)).get("/metrics")
        assert a.status == 403 and a.json["error"]["code"] == "forbidden"
    with WS(authd.port, f"topic=tasks&token={PUBLISH_TOKEN}") as ws:
        assert any(x["id"] == t["id"] for x in ws.snapshot("tasks")["tasks"])


# --------------------------------------------------------------------------- origins

def test_websocket_origins_are_checked_when_allow_origin_is_given(site, tmp_path):
    with auth_server(site, tmp_path, "--allow-origin", "http://app.example") as h:
        token = mint("alice")
        q = f"topic=owner:alice&token={token}"
        status, body = upgrade_status(h.port, q, {"Origin": "http://evil.example"})
        assert status == 403 and body["error"]["code"] == "forbidden_origin"
        assert upgrade_status(h.port, q, {"Origin": "null"})[0] == 403
        assert upgrade_status(h.port, q, {"Origin": "http://app.example"})[0] == 101
        assert upgrade_status(h.port, q, {"Origin": f"http://127.0.0.1:{h.port}"})[0] == 101   # the server's own page
        assert upgrade_status(h.port, q)[0] == 101                                           # scripts send none
        # The origin check comes first: a hijacking page learns nothing about the token either.
        assert upgrade_status(h.port, "topic=owner:alice", {"Origin": "http://evil.example"})[0] == 403


# --------------------------------------------------------------------------- CLI

def test_herald_token_mints_what_pyjwt_reads_and_the_cli_sends_it(authd, tmp_path):
    secret = secret_file(tmp_path)
    out = subprocess.run([str(herald_bin()), "token", "--secret-file", secret, "--sub", "carol", "--role", "worker", "--ttl", "120"],
                         capture_output=True, text=True, check=True, env=env_without_tokens()).stdout.strip()
    claims = jwt.decode(out, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "carol" and claims["role"] == "worker" and 115 <= claims["exp"] - time.time() <= 121
    assert jwt.get_unverified_header(out)["alg"] == "HS256"
    bad = subprocess.run([str(herald_bin()), "token", "--secret-file", secret, "--sub", "a b"], capture_output=True, text=True)
    assert bad.returncode != 0
    cli = [str(herald_bin()), "task"]
    server = ["--server", f"http://127.0.0.1:{authd.port}"]
    refused = subprocess.run([*cli, "create", *server, "--title", "x"], capture_output=True, text=True, env=env_without_tokens())
    assert refused.returncode != 0 and "unauthorized" in refused.stderr
    made = subprocess.run([*cli, "create", *server, "--token", out, "--title", "from the cli"], capture_output=True, text=True,
                          env=env_without_tokens())
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["owner"] == "carol"
    env = dict(env_without_tokens(), HERALD_TOKEN=out)
    listed = subprocess.run([*cli, "list", *server], capture_output=True, text=True, env=env)
    assert listed.returncode == 0 and "from the cli" in listed.stdout
    # herald watch --token: one plain line per event through a pipe.
    watch = subprocess.Popen([str(herald_bin()), "watch", *server, "--token", out, "--topic", "owner:carol", "--plain"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_without_tokens())
    try:
        first = watch.stdout.readline()
        assert "event=snapshot" in first and "topic=owner:carol" in first, first
    finally:
        watch.terminate()
        watch.wait(10)


def test_workers_processes_check_tokens_too(site, tmp_path):
    from tasks_support import own_server, task_serve_args
    data = tmp_path / "data"
    with own_server(task_serve_args(site.public, str(data), "--workers", "2", "--auth-secret-file", secret_file(tmp_path)),
                    name="auth workers") as h:
        worker = AuthApi(h.port, mint("wes", "worker"))
        ids = [worker.create(title=f"w{i}")["id"] for i in range(6)]   # several connections: both workers
        viewer = AuthApi(h.port, mint("wes", "viewer"))
        assert sorted(t["id"] for t in viewer.task_list()["tasks"]) == sorted(ids)
        assert AuthApi(h.port, mint("other", "viewer")).task_list()["tasks"] == []
        assert Api(h.port).get("/api/tasks").status == 401


def test_owner_limits_count_the_tokens_owner(site, tmp_path):
    with auth_server(site, tmp_path, "--owner-max-active", "2", "--owner-max-rate", "3") as h:
        alice, bob = AuthApi(h.port, mint("alice", "worker")), AuthApi(h.port, mint("bob", "worker"))
        first = [alice.create(title=f"a{i}")["id"] for i in range(2)]
        a = alice.post("/api/tasks", {"title": "one too many"})
        assert a.status == 429 and a.json["error"]["code"] == "too_many_active" and int(a.header("Retry-After")) >= 1
        assert bob.create(title="bob's own count")["owner"] == "bob"
        # A viewer cancelling frees a slot; the rate limit still remembers alice's creates.
        AuthApi(h.port, mint("alice", "viewer")).act(first[0], "cancel")
        alice.create(title="a2")
        assert alice.post("/api/tasks", {"title": "two active again"}).json["error"]["code"] == "too_many_active"
        AuthApi(h.port, mint("alice", "viewer")).act(first[1], "cancel")
        a = alice.post("/api/tasks", {"title": "fourth within a minute"})
        assert a.status == 429 and a.json["error"]["code"] == "rate_limited", a
        assert 1 <= int(a.header("Retry-After")) <= 60
