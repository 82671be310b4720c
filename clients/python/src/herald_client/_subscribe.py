"""Herald.subscribe(): the `/ws` topics over the synchronous client of `websockets` (the `ws`
extra), resuming with since=/epoch= after a drop and failing over across the servers."""

from __future__ import annotations

import json
import logging
import threading
import time
from types import TracebackType
from typing import Any, Dict, List, Optional, Sequence, Type

try:
    from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
    from websockets.sync.client import ClientConnection, connect
except ImportError as e:  # pragma: no cover - depends on the installation
    raise ImportError("Herald.subscribe() needs the websockets package: pip install 'herald-client[ws]'") from e

from ._errors import HeraldError, HeraldUnavailable
from ._transport import USER_AGENT, Transport, _error_of, backoff_delay

log = logging.getLogger("herald_client")

# Close codes after which reconnecting cannot help with the same credentials.
TOKEN_EXPIRED = 4001


class Subscription:
    """An iterator of the server's frames (dicts, exactly as sent: `snapshot`, `resumed`,
    `task`, `removed`, `error`, …) for the subscribed topics.

    After a dropped connection it reconnects (to the same server first, then the others, with
    exponential backoff and full jitter) and resubscribes each topic with `since=` the last
    seq received and the `epoch`, so the server replays what was missed (`resumed`) or sends
    a fresh `snapshot` with `recovered: false` when it cannot. Gives up with HeraldUnavailable
    after `retry_for` seconds without a connection. Close it (or use `with`) to disconnect.
    """

    def __init__(self, transport: Transport, topics: Sequence[str], *, since: Optional[int],
                 epoch: Optional[str], retry_for: float) -> None:
        if not topics:
            raise ValueError("subscribe() needs at least one topic")
        self._transport = transport
        self.topics: List[str] = list(topics)
        self._since: Dict[str, Optional[int]] = {t: since for t in self.topics}
        #: The epoch of the server's history (from the last snapshot or resumed frame).
        self.epoch: Optional[str] = epoch
        self.retry_for = retry_for
        #: The URL of the server this subscription is connected to (None while disconnected).
        self.server: Optional[str] = None
        #: How many times the connection was re-established after a drop.
        self.reconnects = 0
        self._ws: Optional[ClientConnection] = None
        self._closed = False
        self._down_since: Optional[float] = None
        self._step = 0
        self._failed_in_round = 0
        self._retry_at = 0.0

    # -- iteration

    def __iter__(self) -> "Subscription":
        return self

    def __next__(self) -> Dict[str, Any]:
        msg = self.recv(None)
        if msg is None:
            raise StopIteration
        return msg

    @property
    def since(self) -> Optional[int]:
        """The last seq received (over every topic), or the `since` given."""
        seqs = [s for s in self._since.values() if s is not None]
        return max(seqs) if seqs else None

    def recv(self, timeout: Optional[float] = None) -> Optional[Dict[str, Any]]:
        """The next frame, or None when `timeout` seconds pass first (or after close())."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed:
            if self._ws is None and not self._connect(deadline):
                return None
            ws = self._ws
            assert ws is not None
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                raw = ws.recv(timeout=left)
            except TimeoutError:
                return None
            except ConnectionClosed as e:
                self._dropped(e.rcvd.code if e.rcvd is not None else None, e)
                continue
            except (OSError, WebSocketException) as e:
                self._dropped(None, e)
                continue
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            msg: Dict[str, Any] = json.loads(text)
            self._note(msg)
            return msg
        return None

    def _note(self, msg: Dict[str, Any]) -> None:
        self._down_since = None
        self._step = 0
        self._failed_in_round = 0
        kind = msg.get("type")
        topic = msg.get("topic")
        if kind == "snapshot":
            self.epoch = msg.get("epoch", self.epoch)
            if topic in self._since and isinstance(msg.get("seq"), int):
                self._since[topic] = msg["seq"]
        elif kind == "resumed":
            self.epoch = msg.get("epoch", self.epoch)
        elif kind in ("task", "removed") and topic in self._since and isinstance(msg.get("seq"), int):
            self._since[topic] = msg["seq"]

    # -- connection

    def _close_socket(self) -> None:
        """Closes the socket, if any, and forgets it and its server."""
        if self._ws is not None:
            _close_draining(self._ws)
        self._ws = None
        self.server = None

    def _dropped(self, code: Optional[int], error: BaseException) -> None:
        self._close_socket()
        if self._closed:
            return
        if code == TOKEN_EXPIRED and not callable(self._transport.token):
            raise HeraldError(401, "token_expired",
                              "the subscription's token expired (give Herald a function that returns a fresh one)")
        log.info("subscription %s: connection lost (%s); resuming with since=%s",
                 ",".join(self.topics), error, self.since)
        if self._down_since is None:
            self._down_since = time.monotonic()
        self.reconnects += 1

    def _connect(self, deadline: Optional[float]) -> bool:
        """Connects and subscribes; False when `deadline` passes first."""
        if self._down_since is None:
            self._down_since = time.monotonic()
        failover = self._transport.failover
        while not self._closed:
            wait = self._retry_at - time.monotonic()
            if wait > 0:
                if deadline is not None and time.monotonic() + wait > deadline:
                    time.sleep(max(0.0, deadline - time.monotonic()))
                    return False
                time.sleep(wait)
            index, server = failover.current()
            headers = {"User-Agent": USER_AGENT}
            token = self._transport.current_token()
            if token:
                headers["Authorization"] = f"Bearer {token}"
            try:
                ws = connect(server.ws_base + "/ws", additional_headers=headers,
                             open_timeout=self._transport.timeout, close_timeout=2, max_size=None)
            except InvalidStatus as e:
                status = e.response.status_code
                if status not in (429, 502, 503, 504):
                    code, message = _error_of(status, e.response.body or b"")
                    raise HeraldError(status, code, message) from None
                problem = f"{status}"
            except (OSError, WebSocketException, TimeoutError) as e:
                problem = f"{e.__class__.__name__}: {e}"
            else:
                try:
                    for topic in self.topics:
                        op: Dict[str, Any] = {"op": "subscribe", "topic": topic}
                        if self._since[topic] is not None:
                            op["since"] = self._since[topic]
                            if self.epoch is not None:
                                op["epoch"] = self.epoch
                        ws.send(json.dumps(op))
                except (OSError, WebSocketException) as e:
                    ws.close()
                    problem = f"{e.__class__.__name__}: {e}"
                else:
                    self._ws = ws
                    self.server = server.url
                    return True
            log.info("subscription: %s failed (%s)", server.url, problem)
            failover.failed(index)
            self._failed_in_round += 1
            now = time.monotonic()
            if now - self._down_since > self.retry_for:
                raise HeraldUnavailable(0, "unreachable",
                                        f"no server accepted the subscription within {self.retry_for:g} s; last: {problem}")
            if self._failed_in_round >= len(failover.servers):
                self._failed_in_round = 0
                self._retry_at = now + backoff_delay(self._step, self._transport.backoff_base,
                                                     self._transport.backoff_cap)
                self._step += 1
            if deadline is not None and time.monotonic() >= deadline:
                return False
        return False

    # -- closing

    def close(self) -> None:
        self._closed = True
        self._close_socket()

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()


def _close_draining(ws: ClientConnection) -> None:
    """The closing handshake, reading what still arrives until the server's close frame.

    While events flow, frames the caller never read fill `websockets`' queue and pause its
    reader; the server's close frame then waits behind them unread and `close()` would only
    return after `close_timeout`, the connection counted as dropped (1006). Closing on a
    helper thread while this one discards the queued frames lets the reader reach it.
    """
    closer = threading.Thread(target=_close_quietly, args=(ws,), name="herald-close", daemon=True)
    closer.start()
    while closer.is_alive():
        try:
            ws.recv(timeout=0.05)
        except TimeoutError:
            continue
        except Exception:  # noqa: BLE001 - ConnectionClosed is the normal end; anything else ends it too
            break
    closer.join()


def _close_quietly(ws: ClientConnection) -> None:
    try:
        ws.close()
    except Exception:  # noqa: BLE001
        pass
