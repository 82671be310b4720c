"""`herald watch` in a real terminal (tmux): one line per task, redrawn in place as progress is
pushed, and a clean exit on Ctrl-C that leaves the cursor visible."""

from __future__ import annotations

import subprocess
import time
import uuid

from conftest import herald_bin
from tasks_support import Api, tasks_server  # noqa: F401

def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True, timeout=10).stdout


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def wait_for(session: str, predicate, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = screen(session)
        if predicate(text):
            return text
        time.sleep(0.1)
    raise AssertionError(f"the terminal never showed what was expected:\n{text}")


def test_watch_redraws_each_task_in_place_and_exits_cleanly(tasks_server):
    api = Api(tasks_server.port)
    tid = f"tmux-{uuid.uuid4().hex[:8]}"
    api.create(id=tid, title="Render video", total=200)
    api.act(tid, "start")
    session = f"herald-watch-{uuid.uuid4().hex[:6]}"
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "20",
         f"{herald_bin()} watch --server http://127.0.0.1:{tasks_server.port} --topic task:{tid}; echo EXITED=$?; sleep 30")
    try:
        wait_for(session, lambda t: tid in t and "running" in t)
        api.act(tid, "progress", {"done": 50, "message": "frame 50"})
        text = wait_for(session, lambda t: "25.0%" in t)
        api.act(tid, "progress", {"done": 150})
        text = wait_for(session, lambda t: "75.0%" in t)
        # Redrawn in place: the task still has exactly one line, and the old figure is gone.
        assert sum(1 for line in text.splitlines() if "Render video" in line) == 1, text
        assert "25.0%" not in text, text
        tmux("send-keys", "-t", session, "C-c")
        wait_for(session, lambda t: "EXITED=0" in t)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
