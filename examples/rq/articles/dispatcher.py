"""Re-enqueues the RQ job of every article task retried from Herald (dashboard, API, CLI).

A retry in Herald moves a failed or cancelled task back to `queued` with `attempt` + 1 and
pushes a `retried` event on the `tasks` topic. RQ knows nothing about it, so this process
follows that topic (`herald.subscribe`, which reconnects and resumes with since= by itself)
and enqueues one job per retried attempt.

It also reconciles on every snapshot (the first one, and a `recovered: false` one after a
long outage): a queued article task whose current attempt has no RQ job gets one. So a retry
made while the dispatcher was down is not lost, and running it twice is harmless: jobs are
named after (task, attempt), and the job skips a task that is no longer queued at that attempt.

Run one (or more: the job id makes them idempotent) next to the workers:
    python -m articles.dispatcher
"""

from __future__ import annotations

import logging

from . import settings
from .clients import herald
from .submit import enqueue

log = logging.getLogger("articles.dispatcher")


def is_article(task: dict) -> bool:
    return (task.get("meta") or {}).get("app") == settings.APP


def handle(frame: dict) -> list[str]:
    """Acts on one frame; returns the ids of the jobs it enqueued."""
    todo = []
    if frame.get("type") == "snapshot":
        todo = [t for t in frame["tasks"] if is_article(t) and t["status"] == "queued"]
    elif frame.get("type") == "task" and frame.get("event") == "retried" and is_article(frame["task"]):
        todo = [frame["task"]]
    done = []
    for task in todo:
        if enqueue(task["id"], task["attempt"]):
            log.info("enqueued %s attempt %s", task["id"], task["attempt"])
            done.append(task["id"])
    return done


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    log.info("following Herald's tasks topic on %s", " ".join(settings.HERALD_URLS))
    with herald.subscribe("tasks") as events:
        for frame in events:
            handle(frame)


if __name__ == "__main__":
    main()
