"""Herald (the servers) and Task (one task a worker runs). Standard library only."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import uuid
import weakref
from types import TracebackType
from typing import (TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple,
                    Type, TypeVar, Union)
from urllib.parse import quote, urlencode

from ._errors import Cancelled, HeraldError, HeraldUnavailable
from ._transport import TokenSource, Transport, _fork_hooks

if TYPE_CHECKING:
    from ._subscribe import Subscription

log = logging.getLogger("herald_client")

T = TypeVar("T")
TaskDict = Dict[str, Any]

TERMINAL = ("succeeded", "failed", "cancelled")
# Async progress reports are worth retrying only briefly: a newer one replaces them anyway.
ASYNC_PROGRESS_RETRY_FOR = 10.0
# How long leaving a `with` block waits for a queued progress report before the final call.
DRAIN_TIMEOUT = 10.0


def _seconds_field(value: Optional[float]) -> Any:
    """None: leave the field out (the server's default); math.inf: JSON null (no deadline)."""
    return None if value is not None and math.isinf(value) else value


def _create_body(title: str, *, id: Optional[str], total: Optional[float], owner: Optional[str],
                 lease_s: Optional[float], expire_s: Optional[float], timeout_s: Optional[float],
                 stall_s: Optional[float], meta: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    body: Dict[str, Any] = {"id": id or str(uuid.uuid4()), "title": title}
    for name, value in (("total", total), ("owner", owner), ("lease_s", lease_s), ("expire_s", expire_s)):
        if value is not None:
            body[name] = value
    for name, seconds in (("timeout_s", timeout_s), ("stall_s", stall_s)):
        if seconds is not None:
            body[name] = _seconds_field(seconds)
    if meta is not None:
        body["meta"] = dict(meta)
    return body


class Task:
    """One task on the server, as a worker runs it.

    Use it as a context manager (`with h.task(...) as t:`): entering starts it (unless it
    already runs) and starts a heartbeat thread; leaving completes it with `t.result`, fails it
    on an exception (code: the exception's class name; the exception propagates), or confirms
    `cancelled` after a cancel (a `Cancelled` raised inside the block does not propagate).
    """

    def __init__(self, herald: "Herald", data: TaskDict) -> None:
        self._herald = herald
        self.id: str = str(data["id"])
        #: The task object of the server's latest answer (as JSON, a dict).
        self.last: TaskDict = data
        #: What leaving the `with` block sends with `complete` (JSON-serializable, ≤ 4 KiB).
        self.result: Any = None
        self._cancel_requested = data.get("status") == "cancelling"
        self._last_report = time.monotonic()
        self._lock = threading.Lock()
        self._cv = threading.Condition()
        self._pending: Optional[Dict[str, Any]] = None   # the newest async report not sent yet
        self._inflight = False                           # a report is being sent
        self._sender: Optional[threading.Thread] = None
        self._async_error: Optional[HeraldError] = None  # the task is gone (e.g. failed by the server)
        self._heartbeat_stop: Optional[threading.Event] = None
        _live_tasks.add(self)

    def __repr__(self) -> str:
        return f"<herald_client.Task {self.id} {self.status}>"

    # -- state

    @property
    def status(self) -> str:
        """The status of the latest answer (queued, running, cancelling, succeeded, …)."""
        return str(self.last.get("status"))

    @property
    def cancel_requested(self) -> bool:
        """True once an answer said someone asked to cancel (progress and heartbeat answers
        carry it; the heartbeat thread asks every lease_s / 3 s)."""
        return self._cancel_requested

    def _absorb(self, data: Any) -> TaskDict:
        if isinstance(data, dict) and data.get("id") == self.id:
            with self._lock:
                if data.get("seq", 0) >= self.last.get("seq", 0):
                    self.last = data
                if data.get("cancel_requested") or data.get("status") == "cancelling":
                    self._cancel_requested = True
        return data if isinstance(data, dict) else {}

    def _path(self, action: str) -> str:
        return f"/api/tasks/{quote(self.id, safe='')}/{action}"

    def _post(self, action: str, body: Optional[Mapping[str, Any]] = None,
              retry_for: Optional[float] = None) -> TaskDict:
        return self._absorb(self._herald._transport.call("POST", self._path(action), body or {}, retry_for=retry_for))

    def _lifecycle(self, action: str, body: Optional[Mapping[str, Any]], wanted: Tuple[str, ...]) -> TaskDict:
        """A state change, retried for retry_for. When an attempt's answer was lost and the
        retry is refused (409), the task is read: already in a wanted state → done."""
        try:
            return self._post(action, body)
        except HeraldError as e:
            if e.status == 409 and e.code == "invalid_transition" and e._maybe_applied:
                task = self.get()
                if task.get("status") in wanted:
                    log.info("task %s: %s had already been applied (its answer was lost)", self.id, action)
                    return task
            raise

    # -- calls

    def get(self) -> TaskDict:
        """Reads the task from the server."""
        return self._absorb(self._herald.get(self.id))

    def start(self) -> TaskDict:
        """queued → running (the lease starts)."""
        return self._lifecycle("start", None, ("running", "cancelling"))

    def heartbeat(self) -> TaskDict:
        """Renews the lease; the answer says `cancel_requested` after a cancel."""
        data = self._post("heartbeat")
        self._last_report = time.monotonic()
        return data

    def progress(self, done: Optional[float] = None, *, total: Optional[float] = None,
                 percent: Optional[float] = None, message: Optional[str] = None, wait: bool = True) -> None:
        """Reports progress (any of done, total, percent, message).

        Raises `Cancelled` once someone asked to cancel. `wait=True` sends the report now
        (retried like every call); `wait=False` hands it to a background sender and returns at
        once: one report is in flight at a time, and a newer one replaces the waiting one (its
        fields merged over the older's), so a fast loop never blocks and the newest state wins.
        """
        if self._cancel_requested:
            raise Cancelled(self.id)
        if self._async_error is not None:
            raise self._async_error
        fields: Dict[str, Any] = {}
        for name, value in (("done", done), ("total", total), ("percent", percent), ("message", message)):
            if value is not None:
                fields[name] = value
        if not wait:
            self._enqueue(fields)
            return
        with self._cv:
            # Keep the order: a report already in flight goes first, a waiting one is merged.
            while self._inflight:
                self._cv.wait()
            if self._pending is not None:
                self._pending.update(fields)
                fields, self._pending = self._pending, None
            self._inflight = True
        try:
            self._send_progress(fields, retry_for=None)
        finally:
            with self._cv:
                self._inflight = False
                self._cv.notify_all()
        if self._cancel_requested:
            raise Cancelled(self.id)

    def _send_progress(self, fields: Mapping[str, Any], retry_for: Optional[float]) -> None:
        try:
            self._post("progress", fields, retry_for=retry_for)
        except HeraldError as e:
            # A report whose first attempt was applied and whose retry then found a newer
            # `done` from another report: nothing was lost.
            if e.status == 409 and e.code == "done_decreased" and e._maybe_applied:
                return
            raise
        self._last_report = time.monotonic()

    def complete(self, result: Any = None, message: Optional[str] = None) -> TaskDict:
        """running → succeeded (done is raised to total). `result`: any JSON value, ≤ 4 KiB."""
        body: Dict[str, Any] = {}
        if result is not None:
            body["result"] = result
        if message is not None:
            body["message"] = message
        return self._lifecycle("complete", body, ("succeeded",))

    def fail(self, code: str, message: Optional[str] = None) -> TaskDict:
        """running or cancelling → failed with error {code, message}."""
        error: Dict[str, Any] = {"code": code}
        if message:
            error["message"] = message
        return self._lifecycle("fail", {"error": error}, ("failed",))

    def cancelled(self) -> TaskDict:
        """cancelling → cancelled: the worker confirms it stopped."""
        return self._lifecycle("cancelled", None, ("cancelled",))

    def cancel(self) -> TaskDict:
        """Asks to cancel (as another client would): queued → cancelled, running → cancelling."""
        return self._absorb(self._herald.cancel(self.id))

    # -- tqdm-like iteration

    def track(self, iterable: Iterable[T], total: Optional[float] = None, *, every: float = 0.5) -> Iterator[T]:
        """Yields the items and reports `done` (the items finished) at most every `every`
        seconds through the background sender, plus the last count synchronously at the end.
        Raises `Cancelled` at the next item once a cancel was asked. The task's lifecycle stays
        with the caller (`with h.task(...) as t: for row in t.track(rows): ...`)."""
        if total is None and self.last.get("total") is None:
            total = _length(iterable)
        first: Dict[str, Any] = {} if total is None else {"total": total}
        done = 0
        last = time.monotonic()
        for item in iterable:
            yield item
            done += 1
            if self._cancel_requested:
                raise Cancelled(self.id)
            now = time.monotonic()
            if now - last >= every:
                self.progress(done=done, wait=False, **first)
                first = {}
                last = now
        self.progress(done=done, **first)

    # -- background: heartbeat and the async progress sender

    def _start_heartbeat(self) -> None:
        if self._heartbeat_stop is not None:
            return
        stop = threading.Event()
        self._heartbeat_stop = stop
        lease = float(self.last.get("lease_s") or 30.0)
        interval = max(0.05, lease / 3.0)
        threading.Thread(target=self._heartbeat_loop, args=(stop, interval),
                         name=f"herald-heartbeat-{self.id}", daemon=True).start()

    def _stop_heartbeat(self) -> None:
        if self._heartbeat_stop is not None:
            self._heartbeat_stop.set()
            self._heartbeat_stop = None

    def _heartbeat_loop(self, stop: threading.Event, interval: float) -> None:
        """Every `interval` s without a report, one heartbeat. A progress report counts."""
        while not stop.is_set():
            wait = interval - (time.monotonic() - self._last_report)
            if wait > 0:
                stop.wait(wait)
                continue
            try:
                self.heartbeat()
            except HeraldError as e:
                if stop.is_set():
                    return
                if isinstance(e, HeraldUnavailable) or e.status == 429:
                    log.warning("task %s: heartbeat failed (%s); trying again", self.id, e)
                    stop.wait(interval)
                    continue
                # The task is no longer ours to renew (failed by the server, deleted, …): the
                # next progress() raises this.
                log.warning("task %s: heartbeat refused (%s); heartbeats stop", self.id, e)
                self._async_error = e
                return
            except Exception:  # noqa: BLE001 - a heartbeat thread must not die silently
                log.exception("task %s: heartbeat failed", self.id)
                stop.wait(interval)

    def _enqueue(self, fields: Dict[str, Any]) -> None:
        with self._cv:
            if self._pending is None:
                self._pending = dict(fields)
            else:
                self._pending.update(fields)
            if self._sender is None or not self._sender.is_alive():
                self._sender = threading.Thread(target=self._sender_loop, name=f"herald-progress-{self.id}",
                                                daemon=True)
                self._sender.start()
            self._cv.notify_all()

    def _sender_loop(self) -> None:
        """MonoWorker: one report in flight, the newest waiting; exits after 5 s idle."""
        while True:
            with self._cv:
                deadline = time.monotonic() + 5.0
                while self._pending is None or self._inflight:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self._sender = None
                        return
                    self._cv.wait(left)
                fields, self._pending = self._pending, None
                self._inflight = True
            try:
                self._send_progress(fields, retry_for=min(ASYNC_PROGRESS_RETRY_FOR, self._herald.retry_for))
            except HeraldUnavailable as e:
                log.warning("task %s: progress report dropped (%s)", self.id, e)
            except HeraldError as e:
                log.warning("task %s: progress report refused (%s)", self.id, e)
                if e.status in (404, 409):
                    self._async_error = e
            except Exception:  # noqa: BLE001
                log.exception("task %s: progress report failed", self.id)
            finally:
                with self._cv:
                    self._inflight = False
                    self._cv.notify_all()

    def _drain(self, timeout: float) -> None:
        """Waits (bounded) until the async sender has nothing waiting or in flight."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._pending is not None or self._inflight:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._pending = None
                    return
                if self._pending is not None and (self._sender is None or not self._sender.is_alive()):
                    self._pending = None  # no sender (e.g. after a fork): drop it
                    return
                self._cv.wait(left)

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._cv = threading.Condition()
        self._inflight = False
        self._sender = None
        self._heartbeat_stop = None  # the thread did not survive the fork

    # -- the with block

    def __enter__(self) -> "Task":
        if self.status == "queued":
            try:
                self.start()
            except HeraldError as e:
                if e.status != 409 or self.get().get("status") != "cancelled":
                    raise
            self._last_report = time.monotonic()
        status = self.status
        if status == "cancelled":
            # Cancelled while it waited in a queue: the block does not run.
            raise Cancelled(self.id)
        if status not in ("running", "cancelling"):
            raise HeraldError(409, "invalid_transition", f"task {self.id} is {status}: there is nothing to run")
        self._start_heartbeat()
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> bool:
        self._drain(min(DRAIN_TIMEOUT, self._herald.retry_for))
        self._stop_heartbeat()
        if exc is None:
            self._finish_normally()
            return False
        if isinstance(exc, Cancelled) and exc.task_id == self.id:
            self._confirm_cancel()
            return True
        self._fail_quietly(type(exc).__name__, str(exc))
        return False

    def _confirm_cancel(self) -> None:
        try:
            self.cancelled()
        except HeraldError as e:
            # Someone else confirmed it already: the state we wanted.
            if not (e.status == 409 and self.get().get("status") == "cancelled"):
                raise

    def _finish_normally(self) -> None:
        if self._cancel_requested:
            # complete is not allowed from cancelling: the worker confirms the cancel instead.
            self._confirm_cancel()
            return
        try:
            self.complete(result=self.result)
        except HeraldError as e:
            if e.status == 409 and e.code == "invalid_transition" and self.get().get("status") == "cancelling":
                self._confirm_cancel()
                return
            if not isinstance(e, HeraldUnavailable) and e.status != 409:
                # Refused (a result over 4 KiB, …): the task must still end.
                self._fail_quietly("complete_refused", str(e))
            raise
        except Exception as e:  # a result that is not JSON
            self._fail_quietly(type(e).__name__, f"complete failed: {e}")
            raise

    def _fail_quietly(self, code: str, message: str) -> None:
        try:
            self.fail(code[:64] or "error", message[:1024])
        except Exception as e:  # noqa: BLE001 - the original exception matters more
            log.warning("task %s: could not record the failure %s (%s)", self.id, code, e)


def _length(iterable: Iterable[Any]) -> Optional[int]:
    try:
        return len(iterable)  # type: ignore[arg-type]
    except TypeError:
        return None


_live_tasks: "weakref.WeakSet[Task]" = weakref.WeakSet()


def _reset_tasks_after_fork() -> None:
    for t in list(_live_tasks):
        t._reset_after_fork()


_fork_hooks.append(_reset_tasks_after_fork)


class _FromEnvironment:
    """The default of `Herald(servers, token)`: read the environment as `herald task` does."""

    def __repr__(self) -> str:
        return "<from the environment>"


FROM_ENVIRONMENT: Any = _FromEnvironment()


class Herald:
    """A client of one or more Herald servers.

    `servers`: one URL or a list (`"http://a:8080"`); tried in random order, the first that
    answers is kept until it fails. Left out: `$HERALD_SERVER` (one URL, or several separated
    by commas or spaces), else `http://127.0.0.1:8080` — as the `herald task` command reads it.
    `token`: a publish token or a JWT (sent as `Authorization: Bearer`), or a function returning
    one (called for every request); left out: `$HERALD_TOKEN`, else `$HERALD_PUBLISH_TOKEN`,
    else none; `None`: no token whatever the environment says.
    `retry_for`: how long each call retries connection errors, 502/503/504 and 429s.
    `timeout`: seconds to connect and to wait for each answer.
    """

    def __init__(self, servers: Union[str, Sequence[str]] = FROM_ENVIRONMENT,
                 token: TokenSource = FROM_ENVIRONMENT, *,
                 retry_for: float = 30.0, timeout: float = 10.0) -> None:
        if servers is FROM_ENVIRONMENT:
            servers = (os.environ.get("HERALD_SERVER") or "http://127.0.0.1:8080").replace(",", " ").split()
        if token is FROM_ENVIRONMENT:
            token = os.environ.get("HERALD_TOKEN") or os.environ.get("HERALD_PUBLISH_TOKEN") or None
        urls = [servers] if isinstance(servers, str) else list(servers)
        self._transport = Transport(urls, token, timeout=timeout, retry_for=retry_for)

    def __repr__(self) -> str:
        return f"<herald_client.Herald {self.server}>"

    @property
    def retry_for(self) -> float:
        return self._transport.retry_for

    @property
    def server(self) -> str:
        """The URL of the server currently in use."""
        return self._transport.failover.current()[1].url

    @property
    def servers(self) -> List[str]:
        """Every server, in the (shuffled) order they are tried."""
        return [s.url for s in self._transport.failover.servers]

    def close(self) -> None:
        """Closes the idle keep-alive connections."""
        self._transport.close()

    def __enter__(self) -> "Herald":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Optional[Mapping[str, Any]] = None,
              retry_for: Optional[float] = None) -> Any:
        return self._transport.call(method, path, body, retry_for=retry_for)

    # -- tasks

    def create(self, title: str, *, total: Optional[float] = None, owner: Optional[str] = None,
               lease_s: Optional[float] = None, expire_s: Optional[float] = None,
               timeout_s: Optional[float] = None, stall_s: Optional[float] = None,
               meta: Optional[Mapping[str, Any]] = None, id: Optional[str] = None,
               retry_for: Optional[float] = None) -> Task:
        """Creates a queued task. Its id is generated here (uuid4) unless given, so a create
        whose answer was lost can be retried safely. `timeout_s`/`stall_s`: None leaves the
        server's default, math.inf means none for this task. A 429 (per-owner limits) is
        waited out for up to `retry_for` (math.inf: as long as it takes)."""
        body = _create_body(title, id=id, total=total, owner=owner, lease_s=lease_s, expire_s=expire_s,
                            timeout_s=timeout_s, stall_s=stall_s, meta=meta)
        try:
            data = self._call("POST", "/api/tasks", body, retry_for=retry_for)
        except HeraldError as e:
            if e.status == 409 and e.code == "already_exists" and e._maybe_applied:
                data = self.get(body["id"])
                if data.get("title") == title:
                    log.info("task %s: create had already been applied (its answer was lost)", body["id"])
                    return Task(self, data)
            raise
        return Task(self, data)

    def task(self, title: str, *, total: Optional[float] = None, owner: Optional[str] = None,
             lease_s: Optional[float] = None, expire_s: Optional[float] = None,
             timeout_s: Optional[float] = None, stall_s: Optional[float] = None,
             meta: Optional[Mapping[str, Any]] = None, id: Optional[str] = None,
             retry_for: Optional[float] = None) -> Task:
        """`create`, meant for `with h.task(...) as t:` (entering starts it)."""
        return self.create(title, total=total, owner=owner, lease_s=lease_s, expire_s=expire_s,
                           timeout_s=timeout_s, stall_s=stall_s, meta=meta, id=id, retry_for=retry_for)

    def attach(self, task_id: str) -> Task:
        """An existing task (created by the web app, run by a job): `with h.attach(id) as t:`
        starts it if it is queued and runs it like `h.task`."""
        return Task(self, self.get(task_id))

    def get(self, task_id: str) -> TaskDict:
        data: TaskDict = self._call("GET", f"/api/tasks/{quote(task_id, safe='')}")
        return data

    def list(self, owner: Optional[str] = None, status: Union[str, Sequence[str], None] = None,
             limit: Optional[int] = None) -> List[TaskDict]:
        """Tasks, most recently changed first (`status`: one or several)."""
        query: List[Tuple[str, str]] = []
        if owner is not None:
            query.append(("owner", owner))
        if status is not None:
            query.append(("status", status if isinstance(status, str) else ",".join(status)))
        if limit is not None:
            query.append(("limit", str(limit)))
        doc = self._call("GET", "/api/tasks" + (f"?{urlencode(query)}" if query else ""))
        tasks: List[TaskDict] = doc.get("tasks", [])
        return tasks

    def _change(self, task_id: str, action: str, wanted: Tuple[str, ...]) -> TaskDict:
        try:
            data: TaskDict = self._call("POST", f"/api/tasks/{quote(task_id, safe='')}/{action}", {})
            return data
        except HeraldError as e:
            if e.status == 409 and e.code == "invalid_transition" and e._maybe_applied:
                task = self.get(task_id)
                if task.get("status") in wanted:
                    return task
            raise

    def cancel(self, task_id: str) -> TaskDict:
        """Asks to cancel: queued → cancelled, running → cancelling (the worker confirms)."""
        return self._change(task_id, "cancel", ("cancelling", "cancelled"))

    def retry(self, task_id: str) -> TaskDict:
        """failed or cancelled → queued, attempt + 1."""
        return self._change(task_id, "retry", ("queued",))

    def delete(self, task_id: str) -> None:
        """Removes a finished task."""
        try:
            self._call("DELETE", f"/api/tasks/{quote(task_id, safe='')}")
        except HeraldError as e:
            if not (e.status == 404 and e._maybe_applied):
                raise

    def wait(self, task_id: str, timeout: Optional[float] = None) -> TaskDict:
        """Long-polls until the task is succeeded, failed or cancelled (or `timeout` seconds
        passed) and returns it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        task = self.get(task_id)
        per_poll = max(1.0, self._transport.timeout - 2.0)
        while task.get("status") not in TERMINAL:
            left = per_poll if deadline is None else min(per_poll, deadline - time.monotonic())
            if left <= 0:
                break
            task = self._call("GET", f"/api/tasks/{quote(task_id, safe='')}?wait={left:.3f}&after={task['seq']}")
        return task

    def track(self, iterable: Iterable[T], title: str, total: Optional[float] = None, *, every: float = 0.5,
              owner: Optional[str] = None, lease_s: Optional[float] = None, expire_s: Optional[float] = None,
              timeout_s: Optional[float] = None, stall_s: Optional[float] = None,
              meta: Optional[Mapping[str, Any]] = None, id: Optional[str] = None) -> Iterator[T]:
        """tqdm-like: `for row in h.track(rows, title="Import"): ...` creates and starts a
        task, reports `done` as the loop advances (at most every `every` s, plus the last),
        and completes it when the items run out. An exception raised by `iterable` fails the
        task with its class name; leaving the loop early (a break, or an exception in the loop
        body, which Python reports to the generator only as GeneratorExit) fails it with code
        `loop_exited`. A cancel ends the loop early and confirms `cancelled`.

        The task is created when the loop asks for the first item."""
        if total is None:
            total = _length(iterable)
        return self._track(iterable, dict(title=title, total=total, owner=owner, lease_s=lease_s,
                                          expire_s=expire_s, timeout_s=timeout_s, stall_s=stall_s,
                                          meta=meta, id=id), every)

    def _track(self, iterable: Iterable[T], create: Dict[str, Any], every: float) -> Iterator[T]:
        task = self.create(**create)
        task.__enter__()
        done = 0
        try:
            for item in task.track(iterable, every=every):
                yield item
                done += 1
        except GeneratorExit:
            task._drain(min(DRAIN_TIMEOUT, self.retry_for))
            task._stop_heartbeat()
            total = create.get("total")
            of = f" of {total:g}" if isinstance(total, (int, float)) else ""
            task._fail_quietly("loop_exited", f"the loop ended after {done}{of} items "
                                              "(a break, or an exception in the loop body)")
            raise
        except BaseException as e:
            if not task.__exit__(type(e), e, e.__traceback__):
                raise
        else:
            task.__exit__(None, None, None)

    # -- live events

    def subscribe(self, topic: Union[str, Sequence[str]], since: Optional[int] = None,
                  epoch: Optional[str] = None, *, retry_for: Optional[float] = None) -> "Subscription":
        """Events of `topic` (`tasks`, `task:<id>`, `owner:<name>`, or a list of them) as the
        server sends them (dicts), over a WebSocket that reconnects by itself: after a drop it
        resumes with `since=` (the last seq received) and `epoch=`, failing over across the
        servers. Needs the `ws` extra (`pip install 'herald-client[ws]'`)."""
        from ._subscribe import Subscription

        topics = [topic] if isinstance(topic, str) else list(topic)
        return Subscription(self._transport, topics, since=since, epoch=epoch,
                            retry_for=self.retry_for if retry_for is None else retry_for)
