"""The exceptions of herald_client."""

from __future__ import annotations

from typing import Optional


class HeraldError(Exception):
    """Herald refused a request (`status`, `code` and `message` as the server sent them), or
    could not be reached within `retry_for` (then a `HeraldUnavailable`).

    `retry_after` is the server's `Retry-After` in seconds on a 429 that was not waited out
    (it was longer than what was left of `retry_for`), else None.
    """

    def __init__(self, status: int, code: str, message: str, *, retry_after: Optional[float] = None) -> None:
        super().__init__(status, code, message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        # True when an earlier attempt of the same call may have been applied by the server
        # (its answer was lost): a 409 may then be the echo of our own first attempt.
        self._maybe_applied = False

    def __str__(self) -> str:
        text = f"{self.status} {self.code}: {self.message}" if self.status else f"{self.code}: {self.message}"
        if self.retry_after is not None:
            text += f" (Retry-After: {self.retry_after:g} s)"
        return text


class HeraldUnavailable(HeraldError):
    """No server gave an answer other than a connection error or 502/503/504 within
    `retry_for` seconds. `status` is the last such status (0 after a connection error)."""


class Cancelled(Exception):
    """Someone asked to cancel the task: raised by `Task.progress()` once the server said so.

    Inside `with h.task(...) as t:` it ends the block quietly: the task is confirmed
    `cancelled` and the exception does not propagate.
    """

    def __init__(self, task_id: str) -> None:
        super().__init__(task_id)
        self.task_id = task_id

    def __str__(self) -> str:
        return f"task {self.task_id} was asked to cancel"
