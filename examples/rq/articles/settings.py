"""Configuration, from the environment (one place, read by every process of the example)."""

from __future__ import annotations

import os

#: Herald servers, space- or comma-separated; the client fails over between them.
HERALD_URLS = os.environ.get("HERALD_URL", "http://127.0.0.1:8080").replace(",", " ").split()
#: A publish token or a JWT with role worker/admin when Herald runs with access control on.
HERALD_TOKEN = os.environ.get("HERALD_TOKEN") or None
#: Redis for RQ and for the example's drafts and published articles.
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
#: The RQ queue the jobs go to (`rq worker articles`).
QUEUE = os.environ.get("ARTICLES_QUEUE", "articles")
#: Seconds of (simulated) rendering per paragraph.
STEP_S = float(os.environ.get("ARTICLE_STEP_S", "0.5"))
#: Herald's lease for a running article: the client's heartbeat thread renews it while the job
#: runs; a work horse killed outright leaves the task stale after this many seconds.
LEASE_S = 10
#: RQ's own limit on one job (seconds).
JOB_TIMEOUT = 30 * 60
#: `meta.app` of the example's tasks: the dispatcher leaves other apps' tasks alone.
APP = "articles"
