"""The process's Herald client and RQ queue, created once at import.

`rq worker -c articles.rq_settings` imports this in the worker's main process, before it forks
a work horse per job: every horse inherits the same `herald` object (herald_client drops the
parent's keep-alive connections and locks in a forked child and opens its own).
"""

from __future__ import annotations

from herald_client import Herald
from rq import Queue

from . import settings, store

herald = Herald(settings.HERALD_URLS, token=settings.HERALD_TOKEN)


def queue() -> Queue:
    return Queue(settings.QUEUE, connection=store.connection())


def job_id(task_id: str, attempt: int) -> str:
    """One RQ job per attempt of a task: enqueuing the same attempt twice is a no-op."""
    return f"publish-{task_id}-{attempt}"
