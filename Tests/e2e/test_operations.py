"""Operations on the real binary: `herald serve` configured through `HERALD_<FLAG>` variables
(alone, against flags, refused when malformed, under `--workers`), and the access log
(`--log-format json|text`, `--access-log`): one line per HTTP request and per WebSocket session,
tokens never in them, and a stderr nobody reads never stalling the server. Clients: raw
sockets and http.client, python `websockets`, /proc for the workers' argv."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time

import pytest
from websockets.sync.client import connect as ws_connect

from auth_support import PUBLISH_TOKEN, SECRET, mint, secret_file
from conftest import herald_bin
from proc_support import children, role, wait_for
from support import RawHTTP, assert_json_error, request, ws_key
from tasks_support import Api

LISTEN_LINE = re.compile(r"^listening on http://127\.0\.0\.1:\d+$")
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


# --------------------------------------------------------------------------- helpers

@pytest.fixture
def env_herald(herald, monkeypatch):
    """`env_herald({"HERALD_PORT": "0", …}, *args)`: `herald serve ARGS` with exactly these
    HERALD_ variables (any others of the caller's environment are removed first; HERALD_BIN
    stays, it is the tests' own)."""

    def start(variables: dict[str, str], *args: str, wait: bool = True, name: str = "env herald"):
        with monkeypatch.context() as m:
            for key in list(os.environ):
                if key.startswith("HERALD_") and key != "HERALD_BIN":
                    m.delenv(key)
            for key, value in variables.items():
                m.setenv(key, value)
            # Popen copies the environment at spawn: the server keeps these after the block.
            return herald(raw_args=["serve", *args], wait=wait, name=name)

    return start


def base_env(site, **more) -> dict[str, str]:
    env = {"HERALD_HOST": "127.0.0.1", "HERALD_PORT": "0", "HERALD_PUBLIC": str(site.public), "HERALD_DATA": ":memory:"}
    env.update(more)
    return env


def clean_env(**variables) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not (k.startswith("HERALD_") and k != "HERALD_BIN")}
    env.update(variables)
    return env


def json_lines(h, kind: str | None = None) -> list[dict]:
    out = []
    for line in list(h.stderr_lines):
        if line.startswith("{"):
            obj = json.loads(line)
            if kind is None or obj.get("kind") == kind:
                out.append(obj)
    return out


def wait_json(h, predicate, what: str, kind: str | None = None, timeout: float = 5.0) -> dict:
    return wait_for(lambda: next((o for o in json_lines(h, kind) if predicate(o)), None), timeout, what)


def admitted(port: int, timeout: float = 5.0) -> RawHTTP:
    """A keep-alive connection that got a 200 (a connection closed just before may still count
    against --max-connections until the server's next loop turn: retried for `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        c = RawHTTP(port)
        c.send(request("GET", "/healthz"))
        r = c.read_response()
        if r.status == 200:
            return c
        c.close()
        assert r.status == 503 and time.monotonic() < deadline, f"not admitted: {r.status} {r.body!r}"
        time.sleep(0.05)


def assert_busy(port: int):
    with RawHTTP(port) as c:
        c.send(request("GET", "/healthz"))
        assert_json_error(c.read_response(), 503, "server_busy")


def allowed_origin(port: int, origin: str, timeout: float = 5.0) -> str | None:
    """The CORS answer for `origin` (retried while connections just closed still count against
    --max-connections: the server frees their slots on its next loop turn)."""
    deadline = time.monotonic() + timeout
    while True:
        r = Api(port).get("/api/tasks", headers={"Origin": origin})
        if r.status != 503 or time.monotonic() >= deadline:
            assert r.status == 200, (r.status, r.body)
            return r.header("access-control-allow-origin")
        time.sleep(0.05)


# --------------------------------------------------------------------------- HERALD_<FLAG>

def test_serve_configured_only_by_environment_variables(env_herald, site, tmp_path):
    data = tmp_path / "data"
    h = env_herald(base_env(site, HERALD_DATA=str(data), HERALD_MAX_CONNECTIONS="3",
                            HERALD_ALLOW_ORIGIN="https://a.example, https://b.example", HERALD_ECHO="yes",
                            HERALD_LOG_FORMAT="json"))
    # The ready line is the plain one even in JSON mode, and the only line that is not JSON.
    assert [l for l in h.stderr_lines if not l.startswith("{")] == [f"listening on http://127.0.0.1:{h.port}"]

    # --echo
    echoed = Api(h.port).post("/echo", raw=b"hello from the environment", content_type="text/plain")
    assert echoed.status == 200 and echoed.body == b"hello from the environment"
    # --data: the task store lives there
    task = Api(h.port).create(title="kept in HERALD_DATA")
    assert any(data.iterdir()), "nothing written to HERALD_DATA"
    assert Api(h.port).task(task["id"])["title"] == "kept in HERALD_DATA"
    # --allow-origin, a comma-separated list
    assert allowed_origin(h.port, "https://a.example") == "https://a.example"
    assert allowed_origin(h.port, "https://b.example") == "https://b.example"
    assert allowed_origin(h.port, "https://c.example") is None
    # --max-connections 3
    held = [admitted(h.port) for _ in range(3)]
    try:
        assert_busy(h.port)
    finally:
        for c in held:
            c.close()
    # --log-format json: the requests above are there as JSON access lines
    wait_json(h, lambda o: o["path"] == "/echo" and o["method"] == "POST" and o["status"] == 200, "the /echo access line", "http")


def test_the_command_line_wins_over_the_environment(env_herald, site):
    h = env_herald(base_env(site, HERALD_PORT="not-a-port", HERALD_MAX_CONNECTIONS="1",
                            HERALD_ALLOW_ORIGIN="https://a.example", HERALD_LOG_FORMAT="json"),
                   "--port", "0", "--max-connections", "2", "--allow-origin", "https://c.example", "--log-format", "text")
    held = [admitted(h.port) for _ in range(2)]   # the variable said 1
    try:
        assert_busy(h.port)
    finally:
        for c in held:
            c.close()
    assert allowed_origin(h.port, "https://c.example") == "https://c.example"
    assert allowed_origin(h.port, "https://a.example") is None   # not merged with the flag's
    wait_for(lambda: any(" info herald: http 127.0.0.1 " in l for l in h.stderr_lines), 5, "a text access line")
    assert not any(l.startswith("{") for l in h.stderr_lines)


@pytest.mark.parametrize("variable,value,says", [
    ("HERALD_PORT", "abc", "'abc'"),
    ("HERALD_MAX_CONNECTIONS", "0", "--max-connections must be a positive whole number"),
    ("HERALD_ECHO", "maybe", "'maybe'"),
    ("HERALD_LOG_FORMAT", "xml", "'xml'"),
    ("HERALD_ALLOW_ORIGIN", "ftp://files.example", "--allow-origin"),
])
def test_a_malformed_variable_is_refused_in_one_line_naming_it(tmp_path, variable, value, says):
    env = clean_env(HERALD_DATA=":memory:", **{variable: value})
    p = subprocess.run([str(herald_bin()), "serve", "--public", str(tmp_path)], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=20)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert p.returncode == 64, (p.returncode, p.stderr)
    assert len(lines) == 1, lines
    assert variable in lines[0] and says in lines[0], lines[0]
    assert "listening on" not in p.stderr


def test_serve_help_names_the_environment_variables():
    p = subprocess.run([str(herald_bin()), "serve", "--help"], env=clean_env(HERALD_PORT="abc"),
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    text = p.stdout + p.stderr
    assert "HERALD_MAX_CONNECTIONS" in text and "HERALD_ALLOW_ORIGIN=" in text and "HERALD_ECHO=1" in text
    assert "--log-format" in text and "--access-log" in text


def test_workers_get_the_environment_configuration_once(env_herald, site):
    h = env_herald(base_env(site, HERALD_WORKERS="2", HERALD_ALLOW_ORIGIN="https://a.example,https://b.example",
                            HERALD_MAX_CONNECTIONS="40", HERALD_LOG_FORMAT="json", HERALD_ECHO="1"),
                   name="env supervisor")
    assert [l for l in h.stderr_lines if LISTEN_LINE.match(l)] == [f"listening on http://127.0.0.1:{h.port}"]
    def worker_argvs():
        found = [argv for argv in children(h.proc.pid).values() if role(argv) == "worker"]
        return found if len(found) == 2 else None

    workers = wait_for(worker_argvs, 10, "two workers")
    for argv in workers:
        origins = [argv[i + 1] for i, a in enumerate(argv) if a == "--allow-origin"]
        assert origins == ["https://a.example", "https://b.example"], argv
        assert argv.count("--max-connections") == 1 and argv[argv.index("--max-connections") + 1] == "40", argv
        assert argv[argv.index("--log-format") + 1] == "json", argv
        assert "--echo" in argv
    broker = [argv for argv in children(h.proc.pid).values() if role(argv) == "broker"]
    assert broker and broker[0][broker[0].index("--log-format") + 1] == "json"

    # Every worker serves with it: CORS from both origins, /echo, JSON access lines naming the worker.
    for i in range(12):
        origin = "https://a.example" if i % 2 else "https://b.example"
        assert allowed_origin(h.port, origin) == origin
    assert Api(h.port).post("/echo", raw=b"x", content_type="text/plain").body == b"x"
    lines = wait_for(lambda: (ls := json_lines(h, "http")) and len(ls) >= 13 and ls, 5, "13 access lines")
    assert {o["proc"] for o in lines} <= {"worker-1", "worker-2"}
    assert all(TS.match(o["ts"]) for o in json_lines(h))


# --------------------------------------------------------------------------- access log

def test_json_access_lines_for_http_and_websocket_sessions_without_tokens(env_herald, site, tmp_path):
    jwt = mint("alice", "admin")
    h = env_herald(base_env(site, HERALD_LOG_FORMAT="json", HERALD_AUTH_SECRET_FILE=secret_file(tmp_path),
                            HERALD_PUBLISH_TOKEN=PUBLISH_TOKEN))
    api = Api(h.port)

    # HTTP: a token in the query and one in Authorization.
    listed = api.get(f"/api/tasks?token={jwt}&limit=5", headers={"User-Agent": "ops-e2e/1", "X-Request-Id": "req-42"})
    assert listed.status == 200
    made = api.post("/api/tasks", {"title": "logged"}, headers={"Authorization": f"Bearer {PUBLISH_TOKEN}"})
    assert made.status == 201
    task_id = made.json["id"]

    line = wait_json(h, lambda o: o.get("request_id") == "req-42", "the GET's access line", "http")
    assert list(line) == ["ts", "level", "kind", "proc", "method", "path", "status", "bytes", "duration_ms",
                          "remote", "user_agent", "request_id"]
    assert TS.match(line["ts"]) and line["level"] == "info" and line["proc"] == "herald"
    assert line["method"] == "GET" and line["status"] == 200
    assert line["path"] == "/api/tasks?token=[redacted]&limit=5"
    assert line["bytes"] > len(listed.body) and isinstance(line["duration_ms"], (int, float)) and line["duration_ms"] >= 0
    assert line["remote"] == "127.0.0.1" and line["user_agent"] == "ops-e2e/1"
    post = wait_json(h, lambda o: o["method"] == "POST", "the POST's access line", "http")
    assert post["status"] == 201 and post["path"] == "/api/tasks" and post["request_id"] is None

    # WebSocket sessions: closed by the client (1000), dropped without a close frame (1006),
    # and open when the server stops (1001, by the server).
    with ws_connect(f"ws://127.0.0.1:{h.port}/ws?topic=tasks&token={jwt}", open_timeout=10,
                    user_agent_header="ops-ws/2", ping_interval=None) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "snapshot"
        ws.send(json.dumps({"op": "subscribe", "topic": f"task:{task_id}"}))
        assert json.loads(ws.recv(timeout=5))["type"] == "snapshot"
        ws.send(json.dumps({"op": "ping"}))
        assert json.loads(ws.recv(timeout=5)) == {"type": "pong"}
    session = wait_json(h, lambda o: o.get("user_agent") == "ops-ws/2", "the client-closed session's line", "ws")
    assert list(session) == ["ts", "level", "kind", "proc", "path", "topics", "duration_ms", "frames_sent",
                             "frames_received", "bytes_sent", "bytes_received", "close_code", "closed_by",
                             "remote", "user_agent", "request_id"]
    assert session["path"] == "/ws?topic=tasks&token=[redacted]"
    assert session["topics"] == ["tasks", f"task:{task_id}"]
    assert session["frames_sent"] == 3 and session["frames_received"] == 2
    assert session["bytes_sent"] > 0 and session["bytes_received"] > 0
    assert session["close_code"] == 1000 and session["closed_by"] == "client"
    assert session["duration_ms"] > 0

    raw = socket.create_connection(("127.0.0.1", h.port), timeout=5)
    raw.sendall(request("GET", f"/ws?topic=tasks&token={jwt}",
                        [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", ws_key()),
                         ("Sec-WebSocket-Version", "13"), ("User-Agent", "ops-raw/3")]))
    assert raw.recv(4096).startswith(b"HTTP/1.1 101")
    raw.close()
    dropped = wait_json(h, lambda o: o.get("user_agent") == "ops-raw/3", "the dropped session's line", "ws")
    assert dropped["close_code"] == 1006 and dropped["closed_by"] == "client"

    open_ws = ws_connect(f"ws://127.0.0.1:{h.port}/ws?topic=tasks", open_timeout=10,
                         additional_headers={"Authorization": f"Bearer {jwt}"}, user_agent_header="ops-open/4",
                         ping_interval=None)
    assert json.loads(open_ws.recv(timeout=5))["type"] == "snapshot"
    assert h.stop() == 0
    open_ws.close()
    stopped = next(o for o in json_lines(h, "ws") if o.get("user_agent") == "ops-open/4")
    assert stopped["close_code"] == 1001 and stopped["closed_by"] == "server"

    everything = "\n".join(h.stderr_lines)
    for secret in (jwt, PUBLISH_TOKEN, SECRET.decode(), jwt.split(".")[2]):
        assert secret not in everything, "a token reached the log"


def test_text_access_lines_are_readable_single_lines(herald):
    h = herald()
    assert sum(1 for l in h.stderr_lines if l == f"listening on http://127.0.0.1:{h.port}") == 1
    r = Api(h.port).get('/healthz?token=abc.def.ghi&x=1', headers={"User-Agent": 'quote" and\tcontrol'})
    assert r.status == 200
    with ws_connect(f"ws://127.0.0.1:{h.port}/echo", open_timeout=10, ping_interval=None) as ws:
        ws.send("hi")
        assert ws.recv(timeout=5) == "hi"
    http_line = wait_for(lambda: next((l for l in h.stderr_lines if " http " in l and "/healthz" in l), None), 5,
                         "the /healthz line")
    assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info herald: http 127\.0\.0\.1 '
                        r'"GET /healthz\?token=\[redacted\]&x=1" 200 \d+ \d+\.\d{3}ms "quote\\" and\\x09control"',
                        http_line), http_line
    ws_line = wait_for(lambda: next((l for l in h.stderr_lines if " ws " in l), None), 5, "the /echo session line")
    assert re.fullmatch(r'\S+ info herald: ws 127\.0\.0\.1 "/echo" topics=- \d+\.\d{3}ms frames=1/1 bytes=\d+/\d+ '
                        r'close=1000 by=client "Python/[\d.]+ websockets/[\d.]+"', ws_line), ws_line
    assert "abc.def.ghi" not in "\n".join(h.stderr_lines)


@pytest.mark.parametrize("flags", [("--access-log", "off"), ("--log-level", "warning")])
def test_no_access_lines_when_off_or_below_the_log_level(herald, flags):
    h = herald(*flags)
    for _ in range(3):
        assert Api(h.port).get("/healthz").status == 200
    with ws_connect(f"ws://127.0.0.1:{h.port}/echo", open_timeout=10, ping_interval=None) as ws:
        ws.send("x")
        ws.recv(timeout=5)
    assert h.stop() == 0
    assert not [l for l in h.stderr_lines if " http " in l or " ws " in l], h.log_tail()
    assert f"listening on http://127.0.0.1:{h.port}" in h.stderr_lines


def test_a_stderr_nobody_reads_never_stalls_the_server(site):
    """stderr is a pipe the test stops reading after the ready line: the server answers every
    request at full speed, keeps what fits (a 4 MiB queue), drops the rest, and once the pipe
    is read again writes every kept line whole plus how many were dropped."""
    proc = subprocess.Popen([str(herald_bin()), "serve", "--host", "127.0.0.1", "--port", "0", "--public",
                             str(site.public), "--data", ":memory:"], env=clean_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        first = proc.stderr.readline().decode()
        assert LISTEN_LINE.match(first.strip()), first
        port = int(first.strip().rsplit(":", 1)[1])
        # ~7 KB access lines: 4 MiB of queue is ~600 of them; the pipe holds ~64 KiB.
        padding = "p" * 7000
        requests = 1500
        started = time.monotonic()
        with RawHTTP(port) as c:
            for i in range(requests):
                c.send(request("GET", f"/healthz?n={i}&pad={padding}"))
                assert c.read_response().status == 200
        elapsed = time.monotonic() - started
        assert elapsed < 60, f"{requests} requests took {elapsed:.1f} s with stderr unread"

        # Read everything now (a thread, so the wait is bounded), then stop the server.
        chunks: list[bytes] = []
        reader = threading.Thread(target=lambda: chunks.append(proc.stderr.read()), daemon=True)
        reader.start()
        time.sleep(0.5)
        proc.terminate()
        assert proc.wait(15) == 0
        reader.join(10)
        text = b"".join(chunks).decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    lines = text.splitlines()
    logged = [l for l in lines if " info herald: http " in l]
    notices = [int(m.group(1)) for l in lines if (m := re.search(r"(\d+) log lines dropped", l))]
    assert notices, "no notice of dropped lines"
    assert all(re.fullmatch(r'\S+ info herald: http 127\.0\.0\.1 "GET /healthz\?n=\d+&pad=p{7000}" 200 \d+ \S+ "-"', l)
               for l in logged), "a broken access line"
    assert len(logged) + sum(notices) == requests, (len(logged), notices)
