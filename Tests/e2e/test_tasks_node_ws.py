"""The issue's "done means": curl creates and moves a task, and a wscat-style client (Node's
`ws`, the library behind wscat; and `python -m websockets`) prints each change as one line."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from support import curl
from tasks_support import tasks_server, unique_id  # noqa: F401

WSCAT = Path(__file__).with_name("tasks_wscat.js")


def curl_json(url: str, method: str = "POST", body: dict | None = None) -> tuple[int, dict]:
    args = ["-X", method]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
    r = curl(url, *args)
    return r.status, json.loads(r.body)


def lines_reader(stream, sink: list, ready: threading.Event | None = None):
    for raw in iter(stream.readline, b""):
        sink.append(raw.decode("utf-8", errors="replace").rstrip("\n"))
        if ready is not None:
            ready.set()


def drive_lifecycle(base: str, i: str) -> list[dict]:
    answers = []
    st, t = curl_json(f"{base}/api/tasks", body={"id": i, "title": "curl task", "total": 3})
    assert st == 201, t
    answers.append(t)
    for action, body in (("start", None), ("progress", {"done": 1, "message": "one"}),
                         ("progress", {"done": 2, "message": "two"}), ("progress", {"done": 3}),
                         ("complete", {"result": {"file": "out.csv"}})):
        st, t = curl_json(f"{base}/api/tasks/{i}/{action}", body=body)
        assert st == 200, (action, t)
        answers.append(t)
    return answers


def test_node_ws_prints_one_json_object_per_line(tasks_server):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (scripts/test installs it)")
    env = dict(os.environ)
    env.setdefault("NODE_PATH", "/usr/share/nodejs")
    i = unique_id("node")
    p = subprocess.Popen([node, str(WSCAT), f"{tasks_server.ws_url}/ws?topic=task:{i}", "--timeout", "30"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = [], []
    got_line = threading.Event()
    threading.Thread(target=lines_reader, args=(p.stdout, out, got_line), daemon=True).start()
    threading.Thread(target=lines_reader, args=(p.stderr, err), daemon=True).start()
    try:
        assert got_line.wait(10), f"no snapshot line from node ws: {err}"
        answers = drive_lifecycle(tasks_server.url, i)
        rc = p.wait(20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    time.sleep(0.1)
    assert rc == 0, (rc, err, out)
    assert "Cannot find module" not in "\n".join(err), err
    msgs = [json.loads(line) for line in out]          # every line is one JSON object
    assert all(isinstance(m, dict) for m in msgs)
    assert msgs[0]["type"] == "snapshot" and msgs[0]["topic"] == f"task:{i}"
    events = msgs[1:]
    assert [m["event"] for m in events] == ["created", "started", "progress", "progress", "progress", "succeeded"]
    assert [m["seq"] for m in events] == [a["seq"] for a in answers]
    assert [m["task"]["done"] for m in events] == [0, 0, 1, 2, 3, 3]


def test_python_websockets_cli_prints_one_event_per_line(tasks_server):
    i = unique_id("pycli")
    p = subprocess.Popen([sys.executable, "-m", "websockets", f"{tasks_server.ws_url}/ws?topic=task:{i}"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = []
    threading.Thread(target=lines_reader, args=(p.stdout, out), daemon=True).start()
    try:
        deadline = time.monotonic() + 10
        while not any('"snapshot"' in line for line in out) and time.monotonic() < deadline:
            time.sleep(0.05)
        answers = drive_lifecycle(tasks_server.url, i)
        deadline = time.monotonic() + 10
        while not any('"succeeded"' in line for line in out) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        p.stdin.close()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
    # The CLI draws a prompt with ANSI escapes and prefixes incoming messages with "< ".
    ansi = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\x1b[78]")
    msgs = []
    for line in out:
        for m in re.finditer(r"< (\{.*?\})(?=\x1b|$)", line):
            msgs.append(json.loads(ansi.sub("", m.group(1))))
    kinds = [m.get("event", m["type"]) for m in msgs]
    assert kinds == ["snapshot", "created", "started", "progress", "progress", "progress", "succeeded"], out
    assert [m["seq"] for m in msgs[1:]] == [a["seq"] for a in answers]
