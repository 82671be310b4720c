"""Tokens expiring on open sockets (contract v2): `token_expired` and close 4001 when `exp` (plus
the 60 s leeway) passes, `{"op":"auth"}` to refresh without losing an event, and refused
refreshes that change nothing. Tokens minted with PyJWT; exp is set in the past so that the
leeway leaves a few seconds."""

from __future__ import annotations

import re
import threading
import time

import jwt
import pytest
from websockets.exceptions import ConnectionClosed

from auth_support import PUBLISH_TOKEN, SECRET, AuthApi, auth_server, mint
from tasks_support import WS, own_server, task_serve_args, unique_id

LEEWAY = 60


def expiring(sub: str = "alice", role: str = "viewer", seconds_left: float = 3) -> str:
    """A token the server accepts for about `seconds_left` more seconds."""
    now = time.time()
    return jwt.encode({"sub": sub, "role": role, "exp": now - LEEWAY + seconds_left}, SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
def authd(site, tmp_path_factory):
    with auth_server(site, tmp_path_factory.mktemp("expiry"), "--publish-token", PUBLISH_TOKEN) as h:
        yield h


def wait_closed(ws: WS, timeout: float) -> tuple[list[dict], int | None]:
    msgs = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msgs.append(ws.recv(deadline - time.monotonic()))
        except ConnectionClosed as e:
            return msgs, e.rcvd.code if e.rcvd else None
        except TimeoutError:
            break
    return msgs, None


def test_an_expired_token_ends_the_socket_with_4001(authd):
    with WS(authd.port, f"topic=owner:alice&token={expiring(seconds_left=2)}") as ws:
        ws.snapshot("owner:alice")
        started = time.monotonic()
        msgs, code = wait_closed(ws, 8)
        assert code == 4001, msgs
        assert msgs and msgs[-1]["type"] == "error" and msgs[-1]["code"] == "token_expired"
        assert 1.0 <= time.monotonic() - started <= 5.0
    # Operators see expiry waves in /metrics without a token in any log.
    metrics = AuthApi(authd.port, PUBLISH_TOKEN).get("/metrics").body.decode()
    count = re.search(r'^herald_auth_refusals_total\{reason="socket_expired"\} (\d+)$', metrics, re.M)
    assert count and int(count.group(1)) >= 1, metrics


def test_a_refresh_keeps_the_socket_and_every_event(authd):
    admin = AuthApi(authd.port, PUBLISH_TOKEN)
    tid = admin.create(id=unique_id("r"), title="refresh", owner="alice", total=400, lease_s=3600)["id"]
    admin.act(tid, "start")
    stop = threading.Event()
    sent = []

    def produce():
        done = 0
        while not stop.is_set() and done < 400:
            done += 1
            admin.act(tid, "progress", {"done": done})
            sent.append(done)
            time.sleep(0.01)

    with WS(authd.port, f"topic=task:{tid}&token={expiring(seconds_left=2.5)}") as ws:
        ws.snapshot(f"task:{tid}")
        producer = threading.Thread(target=produce)
        producer.start()
        try:
            time.sleep(1.0)
            fresh = mint("alice", "viewer", ttl=600)
            ws.send({"op": "auth", "token": fresh})
            msgs = ws.until(lambda m: m["type"] == "auth")
            auth = msgs[-1]
            assert auth["exp"] == jwt.decode(fresh, SECRET, algorithms=["HS256"])["exp"]
            assert 590 <= auth["ttl"] <= 600
            time.sleep(3.0)          # past the old token's end
        finally:
            stop.set()
            producer.join()
        last = sent[-1]
        msgs += ws.until(lambda m: m.get("type") == "task" and m["task"]["done"] == last, timeout=10)
        dones = [m["task"]["done"] for m in msgs if m.get("type") == "task"]
        assert dones == list(range(1, last + 1)), "an event was lost or repeated across the refresh"
        assert not any(m.get("code") == "token_expired" for m in msgs)


@pytest.mark.parametrize("case", ["other_sub", "other_role", "invalid", "expired", "missing", "not_a_string"])
def test_a_refused_refresh_changes_nothing(authd, case):
    token = {"other_sub": mint("mallory", "viewer"), "other_role": mint("alice", "admin"),
             "invalid": "abc.def.ghi", "expired": mint("alice", ttl=-61), "missing": None, "not_a_string": 42}[case]
    with WS(authd.port, f"topic=owner:alice&token={expiring(seconds_left=2.5)}") as ws:
        ws.snapshot("owner:alice")
        ws.send({"op": "auth"} if case == "missing" else {"op": "auth", "token": token})
        error = ws.recv_type("error")
        expected = {"other_sub": "forbidden", "other_role": "forbidden", "missing": "invalid_message",
                    "not_a_string": "invalid_message"}.get(case, "invalid_token")
        assert error["code"] == expected, error
        # Still alice's socket, still expiring at the old time.
        ws.send({"op": "subscribe", "topic": "owner:mallory"})
        assert ws.recv_type("error")["code"] == "forbidden"
        msgs, code = wait_closed(ws, 6)
        assert code == 4001 and msgs[-1]["code"] == "token_expired"


def test_without_access_control_auth_is_answered_not_applied(site):
    with own_server(task_serve_args(site.public)) as h:
        with WS(h.port, "topic=tasks") as ws:
            ws.snapshot("tasks")
            ws.send({"op": "auth", "token": mint()})
            assert ws.recv_type("error")["code"] == "auth_disabled"
            assert ws.ping() == []
