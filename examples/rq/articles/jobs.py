"""The RQ job: render a draft paragraph by paragraph and publish it, reporting to Herald.

Enqueued by `articles.submit` (attempt 1) and by `articles.dispatcher` (each retry from the
dashboard). Runs in an `rq worker` work horse (a fork of the worker per job).
"""

from __future__ import annotations

import logging
import time

from herald_client import Cancelled

from . import settings, store
from .clients import herald

log = logging.getLogger("articles")


def publish_article(task_id: str, attempt: int) -> dict:
    task = herald.attach(task_id)                # the task articles.submit created
    info = task.last
    if info["status"] != "queued" or info["attempt"] != attempt:
        # Cancelled while it waited in the queue, or the job of an older attempt: not ours.
        log.info("task %s is %s (attempt %s): job of attempt %s skipped",
                 task_id, info["status"], info["attempt"], attempt)
        return {"task": task_id, "attempt": attempt, "skipped": info["status"]}

    user, meta = info["owner"], info["meta"]
    finished = False
    try:
        # Entering starts the task and a heartbeat thread. Leaving: complete(t.result); an
        # exception: fail(code=its class name), and it propagates (RQ marks the job failed);
        # Cancelled (from progress()): confirms `cancelled` and ends the block quietly.
        with task as t:
            try:
                paragraphs = store.load_paragraphs(user, meta["slug"])     # DraftNotFound → failed
                total = len(paragraphs)
                t.progress(done=0, total=total, message=f"rendering {total} paragraphs")
                for n, text in enumerate(paragraphs, 1):
                    time.sleep(settings.STEP_S)                          # the "work"
                    store.render_paragraph(task_id, text)
                    t.progress(done=n, message=f"paragraph {n} of {total}")   # raises Cancelled
                t.result = {"url": store.publish(task_id, user, meta["slug"], meta["title"]),
                            "paragraphs": total}
                finished = True
            except Cancelled:
                store.discard_render(task_id)                            # nothing half-published
                raise
    except Cancelled:
        # Raised by the `with` statement itself: cancelled between the check above and the
        # start, so the block did not run.
        return {"task": task_id, "attempt": attempt, "skipped": "cancelled"}
    if not finished:
        log.info("task %s cancelled from the dashboard", task_id)
        return {"task": task_id, "attempt": attempt, "status": "cancelled"}
    return {"task": task_id, "attempt": attempt, "status": "succeeded", **t.result}
