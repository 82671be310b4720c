"""Drafts and published articles, kept in Redis next to RQ's own keys.

A draft is plain text, paragraphs separated by blank lines. Publishing renders it paragraph by
paragraph into a scratch list (one per task) and, once complete, moves the result to the
published key in one step, so a cancelled or failed job never leaves half an article online.
"""

from __future__ import annotations

import html
from functools import lru_cache

import redis

from . import settings


class DraftNotFound(LookupError):
    """The article's draft is not (or no longer) there: the job fails with this class name as
    Herald's error code, and a retry after the author saved it again succeeds."""


@lru_cache(maxsize=1)
def connection() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _draft_key(user: str, slug: str) -> str:
    return f"articles:draft:{user}:{slug}"


def _published_key(user: str, slug: str) -> str:
    return f"articles:published:{user}:{slug}"


def _scratch_key(task_id: str) -> str:
    return f"articles:render:{task_id}"


def save_draft(user: str, slug: str, text: str) -> None:
    connection().set(_draft_key(user, slug), text.encode())


def load_paragraphs(user: str, slug: str) -> list[str]:
    raw = connection().get(_draft_key(user, slug))
    if raw is None:
        raise DraftNotFound(f"no draft {slug!r} for {user}")
    return [p.strip() for p in raw.decode().split("\n\n") if p.strip()]


def render_paragraph(task_id: str, text: str) -> None:
    r = connection()
    r.rpush(_scratch_key(task_id), f"<p>{html.escape(text)}</p>")
    r.expire(_scratch_key(task_id), 24 * 3600)


def discard_render(task_id: str) -> None:
    connection().delete(_scratch_key(task_id))


def publish(task_id: str, user: str, slug: str, title: str) -> str:
    """Moves the rendered paragraphs to the published article; returns its path."""
    r = connection()
    body = b"\n".join(r.lrange(_scratch_key(task_id), 0, -1)).decode()
    page = f"<article><h1>{html.escape(title)}</h1>\n{body}\n</article>\n"
    with r.pipeline() as p:          # MULTI/EXEC: both or neither
        p.set(_published_key(user, slug), page.encode())
        p.delete(_scratch_key(task_id))
        p.execute()
    return f"/blog/{user}/{slug}"


def published(user: str, slug: str) -> str | None:
    raw = connection().get(_published_key(user, slug))
    return raw.decode() if raw is not None else None
