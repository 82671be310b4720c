"""What the blog's "Publish" button calls: Herald first, then RQ.

1. Create the Herald task (queued, owned by the user). Herald enforces the per-user limit
   (`herald serve --owner-max-active N`): a user with N articles queued or running gets
   `429 too_many_active` with a Retry-After, and nothing is created.
2. Only when Herald accepted it, enqueue the RQ job for that task id and attempt. The job
   attaches to the task (`herald.attach(id)`) and runs it.

So the limit holds however many web processes submit at once (Herald counts, atomically), and
a refused article never reaches the queue.
"""

from __future__ import annotations

from herald_client import HeraldError
from rq.job import Job

from . import settings
from .clients import herald, job_id, queue


class Refused(Exception):
    """The user is at their limit: show `message`, let them try again in `retry_after` s."""

    def __init__(self, user: str, retry_after: float | None, message: str):
        super().__init__(message)
        self.user, self.retry_after, self.message = user, retry_after, message


def submit(user: str, slug: str, title: str | None = None) -> str:
    """Queues the publication of `user`'s draft `slug`; returns the Herald task id."""
    title = title or slug.replace("-", " ").capitalize()
    try:
        # retry_for=2: connection errors are retried briefly, and a Retry-After longer than
        # that is not waited out here (a web request should answer now, not in a minute).
        task = herald.create(title=f"Publish “{title}”", owner=user, lease_s=settings.LEASE_S,
                             meta={"app": settings.APP, "slug": slug, "title": title}, retry_for=2)
    except HeraldError as e:
        if e.status == 429 and e.code == "too_many_active":
            wait = f"; try again in {e.retry_after:g} s" if e.retry_after else ""
            raise Refused(user, e.retry_after,
                          f"{user} already has the most articles in progress that Herald allows{wait}") from e
        raise
    enqueue(task.id, 1)
    return task.id


def enqueue(task_id: str, attempt: int) -> bool:
    """Enqueues the job of this attempt unless it already exists; True when it was enqueued."""
    q = queue()
    jid = job_id(task_id, attempt)
    if Job.exists(jid, connection=q.connection):
        return False
    # By name: the submitting process need not import the job's code.
    q.enqueue("articles.jobs.publish_article", task_id, attempt, job_id=jid,
              job_timeout=settings.JOB_TIMEOUT, description=f"publish {task_id} (attempt {attempt})")
    return True
