"""HTTP to a list of Herald servers: keep-alive connections per process, failover, retries with
exponential backoff and full jitter, Retry-After on 429. Standard library only."""

from __future__ import annotations

import http.client
import json
import logging
import os
import random
import select
import socket
import ssl
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

from ._errors import HeraldError, HeraldUnavailable

log = logging.getLogger("herald_client")

VERSION = "0.1.0"
USER_AGENT = f"herald-client/{VERSION} (python)"

TokenSource = Union[str, Callable[[], Optional[str]], None]

# Statuses that say "this server cannot answer now, another one (or this one later) may".
RETRY_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class Server:
    """One server of the list: `http://host:port[/prefix]`."""

    url: str
    scheme: str
    host: str
    port: int
    prefix: str

    @classmethod
    def parse(cls, url: str) -> "Server":
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not a Herald server URL (http://host:port or https://…): {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(url=url.strip().rstrip("/"), scheme=parts.scheme, host=parts.hostname, port=port,
                   prefix=parts.path.rstrip("/"))

    @property
    def ws_base(self) -> str:
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'wss' if self.scheme == 'https' else 'ws'}://{netloc}:{self.port}{self.prefix}"


def backoff_delay(step: int, base: float, cap: float) -> float:
    """Full jitter: uniform(0, min(cap, base · 2^step))."""
    return random.uniform(0.0, min(cap, base * (2.0 ** step)))


class Failover:
    """The servers in a random order and the one currently in use. A caller stays with the
    current server while it answers and moves to the next one when it fails."""

    def __init__(self, urls: Sequence[str]) -> None:
        servers = [Server.parse(u) for u in urls]
        if not servers:
            raise ValueError("Herald needs at least one server URL")
        random.shuffle(servers)
        self.servers = servers
        self._index = 0
        self._lock = threading.Lock()

    def current(self) -> Tuple[int, Server]:
        with self._lock:
            return self._index, self.servers[self._index]

    def failed(self, index: int) -> None:
        """Server `index` failed: move on, unless another caller already did."""
        with self._lock:
            if self._index == index:
                self._index = (index + 1) % len(self.servers)

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()


class Transport:
    """Requests against the servers, with keep-alive connections per server and per process.

    Thread-safe: each request takes an idle connection of the current server (or opens one)
    and gives it back afterwards, so a heartbeat thread and the job's thread never share one.
    After a fork the child starts with no connections (they belong to the parent)."""

    def __init__(self, urls: Sequence[str], token: TokenSource, timeout: float, retry_for: float,
                 backoff_base: float = 0.1, backoff_cap: float = 5.0) -> None:
        self.failover = Failover(urls)
        self.token = token
        self.timeout = timeout
        self.retry_for = retry_for
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._idle: Dict[int, List[http.client.HTTPConnection]] = {}
        self._closed = False
        _live_transports.add(self)

    # -- connections

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self.failover.reset_after_fork()
        # The parent's sockets: closing our copies of the descriptors does not affect it.
        for conns in self._idle.values():
            for c in conns:
                _close_quietly(c)
        self._idle = {}
        self._pid = os.getpid()

    def _take(self, index: int, server: Server) -> Tuple[http.client.HTTPConnection, bool]:
        """An idle keep-alive connection to `server` (reused=True), or a new one."""
        if self._pid != os.getpid():  # forked without os.register_at_fork (should not happen)
            self._reset_after_fork()
        with self._lock:
            conns = self._idle.get(index, [])
            while conns:
                c = conns.pop()
                if not _dropped(c):
                    return c, True
                _close_quietly(c)
        if server.scheme == "https":
            return http.client.HTTPSConnection(server.host, server.port, timeout=self.timeout,
                                               context=ssl.create_default_context()), False
        return http.client.HTTPConnection(server.host, server.port, timeout=self.timeout), False

    def _give_back(self, index: int, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if self._closed or self._pid != os.getpid():
                _close_quietly(conn)
                return
            conns = self._idle.setdefault(index, [])
            conns.append(conn)
            while len(conns) > 8:
                _close_quietly(conns.pop(0))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conns in self._idle.values():
                for c in conns:
                    _close_quietly(c)
            self._idle = {}

    def current_token(self) -> Optional[str]:
        token = self.token
        return token() if callable(token) else token

    # -- one exchange

    def _exchange(self, conn: http.client.HTTPConnection, method: str, path: str,
                  body: Optional[bytes]) -> Tuple[int, Mapping[str, str], bytes, bool]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        token = self.current_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        keep = not response.will_close
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data, keep

    # -- the retry loop

    def call(self, method: str, path: str, body: Optional[Mapping[str, Any]] = None, *,
             retry_for: Optional[float] = None) -> Any:
        """Sends the request to the current server and returns the answer's JSON.

        Connection errors and 502/503/504 move to the next server; once every server failed
        since the last pause, waits uniform(0, min(5, 0.1 · 2^n)) seconds. A 429 waits its
        Retry-After (on the same server: the limits hold for the whole cluster). Gives up after
        `retry_for` seconds (HeraldUnavailable; a 429 whose Retry-After does not fit in what is
        left raises at once). Any other status ≥ 400 raises HeraldError at once."""
        budget = self.retry_for if retry_for is None else retry_for
        deadline = time.monotonic() + budget
        raw = None if body is None else json.dumps(body, allow_nan=False, separators=(",", ":")).encode()
        step = 0                  # backoff exponent
        failed_in_round = 0       # servers that failed since the last pause
        maybe_applied = False     # an earlier attempt may have reached the server
        last_status, last_code, last_message = 0, "unreachable", "no attempt made"
        while True:
            index, server = self.failover.current()
            full_path = server.prefix + path
            conn, reused = self._take(index, server)
            try:
                status, headers, data, keep = self._exchange(conn, method, full_path, raw)
            except (OSError, http.client.HTTPException) as e:
                _close_quietly(conn)
                sent = not isinstance(e, ConnectionRefusedError)
                maybe_applied = maybe_applied or sent
                if reused and not isinstance(e, socket.timeout):
                    # A keep-alive connection the server had closed meanwhile: try a fresh one
                    # to the same server before calling the server failed.
                    log.debug("%s %s: reused connection to %s failed (%s); reconnecting",
                              method, path, server.url, e)
                    continue
                last_status, last_code, last_message = 0, "unreachable", f"{server.url}: {e.__class__.__name__}: {e}"
                log.info("%s %s: %s unreachable (%s)", method, path, server.url, e)
                self.failover.failed(index)
            else:
                if keep:
                    self._give_back(index, conn)
                else:
                    _close_quietly(conn)
                if status < 400:
                    return _parse(data) if data else {}
                code, message = _error_of(status, data)
                if status == 429:
                    retry_after = _retry_after(headers.get("retry-after"))
                    if retry_after is None:
                        # No hint (too_many_tasks, too_many_connections): back off as for a 503.
                        delay = backoff_delay(step, self.backoff_base, self.backoff_cap)
                        step += 1
                    else:
                        # A little jitter so the workers told the same second do not return at once.
                        delay = retry_after + random.uniform(0.0, min(1.0, 0.1 * retry_after))
                    if time.monotonic() + delay > deadline:
                        err = HeraldError(status, code, message, retry_after=retry_after)
                        err._maybe_applied = maybe_applied
                        raise err
                    log.info("%s %s: 429 %s, retrying in %.2f s%s", method, path, code, delay,
                             " (Retry-After)" if retry_after is not None else "")
                    time.sleep(delay)
                    continue
                if status not in RETRY_STATUSES:
                    err = HeraldError(status, code, message)
                    err._maybe_applied = maybe_applied
                    raise err
                # 502/503/504: this server cannot answer now (broker unavailable, storage
                # unavailable, a proxy without upstream). A 503 after a broker lost its
                # connection may still have applied the change.
                maybe_applied = True
                last_status, last_code, last_message = status, code, f"{server.url}: {message}"
                log.info("%s %s: %s answered %d %s", method, path, server.url, status, code)
                self.failover.failed(index)
            failed_in_round += 1
            if failed_in_round < len(self.failover.servers):
                if time.monotonic() >= deadline:
                    break
                continue  # try the next server at once
            failed_in_round = 0
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # The last pause is cut short so that one more attempt is made at the deadline.
            delay = min(remaining, backoff_delay(step, self.backoff_base, self.backoff_cap))
            step += 1
            log.debug("%s %s: retrying in %.2f s", method, path, delay)
            time.sleep(delay)
        err = HeraldUnavailable(last_status, last_code,
                                f"no server answered {method} {path} within {budget:g} s; last: {last_message}")
        err._maybe_applied = maybe_applied
        raise err


def _parse(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as e:
        raise HeraldError(0, "invalid_response", f"the server's answer is not JSON: {data[:200]!r}") from e


def _error_of(status: int, data: bytes) -> Tuple[str, str]:
    """The contract's `{"error":{"code","message"}}`, or something readable for other bodies
    (a proxy's HTML error page)."""
    try:
        doc = json.loads(data.decode("utf-8"))
        error = doc["error"]
        return str(error["code"]), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        text = data[:200].decode("utf-8", errors="replace").strip()
        return f"http_{status}", text or http.client.responses.get(status, "")


def _retry_after(value: Optional[str]) -> Optional[float]:
    """Retry-After as delay-seconds (Herald sends whole seconds; an HTTP date is not used)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds) if seconds == seconds else None


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """An idle connection the peer closed (readable while idle means EOF or garbage)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _close_quietly(conn: http.client.HTTPConnection) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - closing must never raise
        pass


# Every live transport, so a forked child can drop the parent's connections and locks.
_live_transports: "weakref.WeakSet[Transport]" = weakref.WeakSet()
_fork_hooks: List[Callable[[], None]] = []


def _after_fork_in_child() -> None:
    for t in list(_live_transports):
        t._reset_after_fork()
    for hook in _fork_hooks:
        hook()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
