"""Long-poll GET /api/tasks/{id}?wait=S&after=N: answers as soon as the task's seq passes N,
or after S seconds with the unchanged task."""

from __future__ import annotations

import threading
import time

from tasks_support import Api, api, tasks_server  # noqa: F401
from tasks_support import assert_json_error_answer


def test_answers_as_soon_as_the_task_changes(api: Api):
    t = api.move_to("running", total=10)
    i = t["id"]
    result = {}

    def poll():
        t0 = time.monotonic()
        result["answer"] = api.get(f"/api/tasks/{i}?wait=10&after={t['seq']}")
        result["at"] = time.monotonic()
        result["took"] = result["at"] - t0

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.6)
    assert th.is_alive(), f"the long-poll answered before any change: {result}"
    posted = time.monotonic()          # measured from the moment the POST is sent
    p = api.act(i, "progress", {"done": 4, "message": "moved"})
    th.join(12)
    assert not th.is_alive()
    a = result["answer"]
    assert a.status == 200, a
    assert a.json == p, "the long-poll answer is not the changed task"
    delay = result["at"] - posted
    assert 0 < delay < 0.3, f"the long-poll answered {delay:.3f}s after the change was posted"
    print(f"long-poll answered {delay * 1000:.1f} ms after the progress POST was sent")
    assert result["took"] < 3


def test_answers_after_the_wait_with_the_unchanged_task(api: Api):
    t = api.move_to("running")
    t0 = time.monotonic()
    a = api.get(f"/api/tasks/{t['id']}?wait=1&after={t['seq']}")
    took = time.monotonic() - t0
    assert a.status == 200 and a.json == t, a
    assert 0.9 <= took < 2.5, f"wait=1 answered after {took:.3f}s"
    # decimals are allowed
    t0 = time.monotonic()
    a = api.get(f"/api/tasks/{t['id']}?wait=0.3&after={t['seq']}")
    took = time.monotonic() - t0
    assert a.status == 200 and a.json == t
    assert 0.25 <= took < 1.5, f"wait=0.3 answered after {took:.3f}s"


def test_answers_at_once_when_already_newer(api: Api):
    t = api.move_to("running")
    p = api.act(t["id"], "progress", {"done": 1})
    t0 = time.monotonic()
    a = api.get(f"/api/tasks/{t['id']}?wait=10&after={t['seq']}")
    assert time.monotonic() - t0 < 0.5
    assert a.status == 200 and a.json == p


def test_long_poll_sees_lifecycle_changes_and_unknown_ids(api: Api):
    t = api.move_to("running")
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("a", api.get(f"/api/tasks/{t['id']}?wait=10&after={t['seq']}")))
    th.start()
    time.sleep(0.3)
    c = api.act(t["id"], "complete")
    th.join(12)
    assert out["a"].status == 200 and out["a"].json == c
    t0 = time.monotonic()
    assert_json_error_answer(api.get("/api/tasks/never-there?wait=5&after=0"), 404, "not_found")
    assert time.monotonic() - t0 < 1


def test_many_concurrent_long_polls_all_answer(api: Api):
    t = api.move_to("running")
    answers = []
    lock = threading.Lock()

    def poll():
        a = api.get(f"/api/tasks/{t['id']}?wait=10&after={t['seq']}")
        with lock:
            answers.append((a, time.monotonic()))

    threads = [threading.Thread(target=poll) for _ in range(20)]
    for th in threads:
        th.start()
    time.sleep(0.5)
    posted = time.monotonic()
    p = api.act(t["id"], "progress", {"done": 9})
    for th in threads:
        th.join(12)
    assert len(answers) == 20
    assert all(a.status == 200 and a.json == p for a, _ in answers)
    assert max(at for _, at in answers) - posted < 0.5
