"""A blog's "publish article" pipeline on RQ, reporting to Herald (see ../README.md).

- `articles.submit`: what the web app's "Publish" button calls: Herald first (per-user limits),
  then the RQ job;
- `articles.jobs`: the RQ job, run by `rq worker` processes;
- `articles.dispatcher`: re-enqueues the job of a task retried from Herald's dashboard;
- `articles.store`: drafts and published articles (in Redis, next to RQ's own keys);
- `python -m articles …`: the same from a shell.
"""
