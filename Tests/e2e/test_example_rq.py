"""examples/rq/ end to end: Debian's real redis-server, RQ from PyPI with two real `rq worker`
processes (a forked work horse per job, sharing the client their parent created), the
example's dispatcher, and `herald serve --owner-max-active 2` with its dashboard in headless
Chromium.

- Submitting articles for two users: alice's third one in a row is refused by Herald (429
  too_many_active → the app's exit code 3) and never reaches RQ; bob's are accepted meanwhile.
- Cancel, clicked on the dashboard while the article still waits in RQ's queue: the task is
  `cancelled` at once, and the job, when a worker gets to it, skips it.
- Cancel, clicked on the dashboard, reaches the running job: its next progress() raises
  Cancelled, the job discards its render and ends (RQ: finished), the task is `cancelled`.
- An article whose draft is missing fails (error code DraftNotFound; RQ: failed). The author
  saves the draft, Retry is clicked on the dashboard: the dispatcher sees `retried`, enqueues
  attempt 2, which succeeds and publishes.
- Once alice's articles are done, her next one is accepted again.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import pytest

from conftest import ROOT
from dashboard_support import PUBLIC, Page, make_browser, severe_console_errors, wait_for
from services_support import RedisServer, _Proc, show_versions, version_of
from tasks_support import Api, own_server, task_serve_args

EXAMPLE = ROOT / "examples" / "rq"
STEP_S = 0.25           # ARTICLE_STEP_S: seconds per paragraph
LIMIT = 2               # herald serve --owner-max-active


class AppProcess(_Proc):
    """A process of the example (an rq worker, the dispatcher), run from examples/rq/."""

    def __init__(self, name: str, args: list[str], env: dict):
        super().__init__()
        self.name = name
        self._spawn(args, cwd=EXAMPLE, env=env)

    def wait_line(self, text: str, timeout: float = 20.0):
        wait_for(lambda: any(text in line for line in self.lines) or not self.alive(), timeout,
                 f"{self.name}: {text!r}")
        assert self.alive(), f"{self.name} exited with {self.proc.returncode}\n" + self.log_tail()


def paragraphs(n: int, what: str) -> str:
    return "\n\n".join(f"{what}, paragraph {i}: the quick brown fox jumps over the lazy dog." for i in range(1, n + 1))


@pytest.mark.timeout(90)
def test_rq_example_limits_cancel_and_retry_from_the_dashboard(capsys):
    import redis
    from rq.job import Job

    show_versions(capsys, version_of("redis-server"), f"rq {version('rq')}", f"redis-py {version('redis')}")
    with contextlib.ExitStack() as stack:
        base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="herald-rq-")))
        rds = RedisServer(base / "redis").start()
        stack.callback(rds.stop)
        herald = stack.enter_context(own_server(
            task_serve_args(PUBLIC, ":memory:", "--owner-max-active", str(LIMIT)), "herald (rq example)"))
        env = {**os.environ, "HERALD_URL": herald.url, "REDIS_URL": rds.url, "ARTICLE_STEP_S": str(STEP_S),
               "PYTHONUNBUFFERED": "1"}
        env.pop("HERALD_TOKEN", None)
        rq_bin = str(Path(sys.executable).parent / "rq")
        procs: list[AppProcess] = []
        for n in (1, 2):
            procs.append(AppProcess(f"rq worker {n}", [rq_bin, "worker", "-c", "articles.rq_settings",
                                                       "--name", f"worker-{n}"], env))
        procs.append(AppProcess("dispatcher", [sys.executable, "-m", "articles.dispatcher"], env))
        for p in procs:
            stack.callback(p.stop)
        try:
            scenario(herald, rds, procs, env, stack, redis.Redis.from_url(rds.url), Job)
        except BaseException:
            for p in (rds, *procs):
                print(p.log_tail(40))
            raise


def scenario(herald, rds, procs, env, stack, r, Job):
    api = Api(herald.port)

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "articles", *args], cwd=EXAMPLE, env=env, input=stdin,
                              capture_output=True, text=True, timeout=30)

    def submit(user: str, slug: str) -> str:
        out = cli("submit", user, slug)
        assert out.returncode == 0, out
        return out.stdout.strip()

    def job(task_id: str, attempt: int = 1):
        return Job.fetch(f"publish-{task_id}-{attempt}", connection=r)

    def task(task_id: str) -> dict:
        return api.task(task_id)

    def wait_task(task_id: str, status: str, timeout: float = 15) -> dict:
        return wait_for(lambda: (t := task(task_id))["status"] == status and t, timeout,
                        f"task {task_id} {status} (now {task(task_id)['status']})")

    for p in procs[:2]:
        p.wait_line("Listening on articles")
    procs[2].wait_line("following Herald's tasks topic")

    for user, slug, n in (("alice", "long-read", 60), ("alice", "short-note", 36), ("alice", "third", 3),
                          ("alice", "next-one", 3), ("bob", "second-thoughts", 3)):
        assert cli("draft", user, slug, stdin=paragraphs(n, slug)).returncode == 0
    # bob's "broken" draft is missing on purpose.

    d = make_browser()
    stack.callback(d.quit)
    page = Page(d).open(herald.url + "/")

    # -- per-user limits: Herald counts, the app refuses before anything reaches RQ
    long_read = submit("alice", "long-read")
    short_note = submit("alice", "short-note")
    refused = cli("submit", "alice", "third")
    assert refused.returncode == 3, refused
    assert "alice already has" in refused.stderr and "try again in" in refused.stderr, refused.stderr
    assert len(api.task_list("owner=alice")["tasks"]) == LIMIT
    jobs = {k.decode() for k in r.keys("rq:job:publish-*") if k.count(b":") == 2}
    assert jobs == {f"rq:job:publish-{long_read}-1", f"rq:job:publish-{short_note}-1"}, \
        f"RQ has other jobs than the two accepted articles': {jobs}"
    broken = submit("bob", "broken")               # another user: not limited by alice's count
    # Both workers are busy: bob's articles wait in RQ's queue. One is cancelled there.
    waiting = submit("bob", "second-thoughts")
    page.wait_status(waiting, "queued")
    page.click_action(waiting, "cancel")
    page.wait_status(waiting, "cancelled")

    # -- cancel from the dashboard reaches the running job
    wait_for(lambda: task(long_read)["done"] >= 2, 15, "long-read running with progress")
    page.wait_status(long_read, "running")
    page.click_action(long_read, "cancel")
    cancelled = wait_task(long_read, "cancelled", 10)
    assert cancelled["done"] < 60 and cancelled["error"] is None, cancelled
    page.wait_status(long_read, "cancelled")
    j = job(long_read)
    wait_for(lambda: j.get_status(refresh=True) == "finished", 10, "the cancelled job finished in RQ")
    assert j.return_value(refresh=True) == {"task": long_read, "attempt": 1, "status": "cancelled"}
    assert not r.exists(f"articles:render:{long_read}") and not r.exists("articles:published:alice:long-read")

    # -- the job of the article cancelled while queued runs later and leaves it alone
    wait_for(lambda: job(waiting).get_status(refresh=True) == "finished", 15, "the skipped job finished in RQ")
    assert job(waiting).return_value(refresh=True) == {"task": waiting, "attempt": 1, "skipped": "cancelled"}
    assert (t := task(waiting))["status"] == "cancelled" and t["started_at"] is None, t

    # -- a failing article, retried from the dashboard after the author fixed it
    failed = wait_task(broken, "failed", 15)
    assert failed["error"]["code"] == "DraftNotFound", failed
    wait_for(lambda: job(broken).get_status(refresh=True) == "failed", 10, "the failing job failed in RQ")
    page.wait_status(broken, "failed")
    assert cli("draft", "bob", "broken", stdin=paragraphs(4, "fixed")).returncode == 0
    page.click_action(broken, "retry")
    again = wait_task(broken, "succeeded", 20)
    assert again["attempt"] == 2 and again["result"] == {"url": "/blog/bob/broken", "paragraphs": 4}, again
    # Herald has the final state as soon as the job's `with` block ends; RQ marks the job
    # finished a moment later, when the work horse has returned.
    wait_for(lambda: job(broken, 2).get_status(refresh=True) == "finished", 10, "the retried job finished in RQ")
    assert job(broken, 2).return_value()["attempt"] == 2
    assert any(f"enqueued {broken} attempt 2" in line for line in procs[2].lines), procs[2].log_tail()
    page.wait_status(broken, "succeeded")

    # -- meanwhile the short note ran on the other worker, and was published
    done = wait_task(short_note, "succeeded", 15)
    assert done["result"] == {"url": "/blog/alice/short-note", "paragraphs": 36}, done
    assert job(short_note).worker_name != j.worker_name, "both articles ran on one worker"
    assert "short-note, paragraph 36" in cli("show", "alice", "short-note").stdout

    # -- alice's slots are free again
    nxt = submit("alice", "next-one")
    wait_task(nxt, "succeeded", 15)
    for t in (long_read, short_note, nxt):
        page.wait_status(t, task(t)["status"])
    assert severe_console_errors(d) == []
    assert all(p.alive() for p in procs), [p.name for p in procs if not p.alive()]
