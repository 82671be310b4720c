"""WebSocket /echo with Node's `ws` (the library behind wscat), via Tests/e2e/ws_client.js."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CLIENT = Path(__file__).with_name("ws_client.js")


def run_client(*args, timeout=60):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (scripts/test installs it)")
    env = dict(os.environ)
    env.setdefault("NODE_PATH", "/usr/share/nodejs")
    p = subprocess.run([node, str(CLIENT), *args], capture_output=True, timeout=timeout, env=env)
    if b"Cannot find module 'ws'" in p.stderr:
        pytest.fail(f"node cannot find `ws` (NODE_PATH={env['NODE_PATH']}); run scripts/test to install it")
    events = [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]
    return p, events


def test_node_ws_echo_ping_and_close(server):
    p, events = run_client(server.ws_url + "/echo")
    assert p.returncode == 0, (events, p.stderr.decode()[-2000:])
    kinds = [e["event"] for e in events]
    assert kinds[0] == "open"
    echoes = [e for e in events if e["event"] == "echo"]
    assert len(echoes) == 11 and all(e["ok"] for e in echoes), echoes
    assert {"event": "pong", "data": "node-ping"} in events
    assert events[-1]["event"] == "close" and events[-1]["code"] == 1000, events[-1]
    assert "error" not in kinds


def test_node_ws_message_over_16_mib_gets_1009(server):
    p, events = run_client(server.ws_url + "/echo", "--send", str(16 * 1024 * 1024 + 1))
    closes = [e for e in events if e["event"] == "close"]
    assert closes and closes[-1]["code"] == 1009, (events, p.stderr.decode()[-2000:])
