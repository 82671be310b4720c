"""`--max-connections N` and `--max-connections-per-ip N` on the real binary.

A connection past N open client connections (HTTP and WebSocket together) gets `503
server_busy`, past the per-address number `429 too_many_connections`, and is closed; the
connections already open keep working and, once some close, new ones are admitted again.
Clients: raw sockets (to see the exact bytes and the close) and python `websockets` (a real
WebSocket client, which must see the refusal as an HTTP status). Other client addresses are
other loopback addresses (127.0.0.2, 127.0.0.3 …) the client socket is bound to.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import struct
import time

import pytest
from websockets.asyncio.client import connect as ws_connect_async
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from proc_support import children, role, wait_for
from support import RawHTTP, assert_common_headers, assert_json_error, request

ADMIT_TIMEOUT = 5.0  # a closed connection is freed at the end of the server's next loop turn


# --------------------------------------------------------------------------- clients

def open_http(port: int, source: str = "127.0.0.1") -> RawHTTP:
    """A keep-alive HTTP connection that got one 200 from /healthz (so it is really admitted)."""
    c = RawHTTP(port, source=source)
    c.send(request("GET", "/healthz"))
    r = c.read_response()
    assert r.status == 200, f"{source}: expected 200, got {r.status} {r.body!r}"
    return c


def still_serves(c: RawHTTP):
    c.send(request("GET", "/healthz"))
    assert c.read_response().status == 200


def open_ws(port: int, source: str = "127.0.0.1"):
    """A `/ws` subscriber (python websockets) that has its snapshot."""
    ws = ws_connect(f"ws://127.0.0.1:{port}/ws?topic=tasks", source_address=(source, 0),
                    open_timeout=10, close_timeout=2, ping_interval=None)
    assert json.loads(ws.recv(timeout=5))["type"] == "snapshot"
    return ws


def ws_still_serves(ws):
    ws.send(json.dumps({"op": "ping"}))
    assert json.loads(ws.recv(timeout=5)) == {"type": "pong"}


def assert_refused(port: int, status: int, code: str, source: str = "127.0.0.1"):
    """A new connection gets the whole refusal (a normal JSON error with Connection: close and
    Content-Length), then the server closes it."""
    with RawHTTP(port, source=source) as c:
        c.send(request("GET", "/healthz"))
        r = c.read_response()
        assert_json_error(r, status, code)
        assert_common_headers(r)
        assert (r.header("connection") or "").lower() == "close"
        assert c.wait_closed(5) == b"", "bytes after the refusal"


def assert_ws_refused(port: int, status: int, code: str, source: str = "127.0.0.1"):
    """python websockets' asyncio client sees the refusal as the handshake's HTTP status.
    (Its sync client is not used here: its reader thread starts before the handshake is sent,
    and on loopback the refusal and the close, written at accept, can reach it first; it then
    reports a closed connection instead of the status. Over a network the request leaves a
    round trip before the refusal can arrive.)"""
    async def attempt():
        with pytest.raises(InvalidStatus) as refused:
            await ws_connect_async(f"ws://127.0.0.1:{port}/ws?topic=tasks", local_addr=(source, 0), open_timeout=10)
        return refused.value.response

    response = asyncio.run(attempt())
    assert response.status_code == status
    assert json.loads(response.body)["error"]["code"] == code


def admitted_soon(port: int, source: str = "127.0.0.1") -> tuple[RawHTTP, int]:
    """A new connection admitted within ADMIT_TIMEOUT (the server may not have seen the close
    of the connection that made room yet), and how many attempts were refused before it."""
    deadline = time.monotonic() + ADMIT_TIMEOUT
    refusals = 0
    while True:
        c = RawHTTP(port, source=source)
        c.send(request("GET", "/healthz"))
        r = c.read_response()
        if r.status == 200:
            return c, refusals
        c.close()
        assert r.status in (429, 503) and time.monotonic() < deadline, f"still refused: {r.status} {r.body!r}"
        refusals += 1
        time.sleep(0.05)


def refused_total(c: RawHTTP) -> dict[str, int]:
    c.send(request("GET", "/metrics"))
    text = c.read_response().body.decode()
    return {m.group(1): int(m.group(2)) for m in
            re.finditer(r'^herald_connections_refused_total\{reason="([a-z_]+)"\} (\d+)$', text, re.M)}


def close_all(*conns):
    for c in conns:
        c.close()


# --------------------------------------------------------------------------- tests

def test_past_max_connections_gets_503_and_the_open_ones_keep_working(herald):
    h = herald("--max-connections", "4")
    http = [open_http(h.port), open_http(h.port)]
    sockets = [open_ws(h.port), open_ws(h.port)]
    try:
        assert_refused(h.port, 503, "server_busy")
        assert_ws_refused(h.port, 503, "server_busy")
        for c in http:
            still_serves(c)
        for ws in sockets:
            ws_still_serves(ws)
        # Room again once one HTTP and one WebSocket connection close.
        http.pop().close()
        sockets.pop().close()
        fresh, retries = admitted_soon(h.port)
        http.append(fresh)
        assert refused_total(fresh) == {"server_busy": 2 + retries, "too_many_connections": 0}
        sockets.append(open_ws(h.port))
        assert_refused(h.port, 503, "server_busy")
        for c in http:
            still_serves(c)
        for ws in sockets:
            ws_still_serves(ws)
    finally:
        close_all(*http, *sockets)


def test_per_ip_limit_refuses_one_address_while_another_is_admitted(herald):
    h = herald("--max-connections-per-ip", "2")
    first = [open_http(h.port, "127.0.0.2"), open_ws(h.port, "127.0.0.2")]
    second = []
    try:
        assert_refused(h.port, 429, "too_many_connections", source="127.0.0.2")
        assert_ws_refused(h.port, 429, "too_many_connections", source="127.0.0.2")
        # Another address has its own count.
        second = [open_ws(h.port, "127.0.0.3"), open_http(h.port, "127.0.0.3")]
        assert_refused(h.port, 429, "too_many_connections", source="127.0.0.3")
        assert_refused(h.port, 429, "too_many_connections", source="127.0.0.2")
        still_serves(first[0])
        ws_still_serves(first[1])
        # Closing one of 127.0.0.2's connections makes room for that address again.
        first.pop(0).close()
        again, retries = admitted_soon(h.port, "127.0.0.2")
        first.append(again)
        assert_refused(h.port, 429, "too_many_connections", source="127.0.0.2")
        assert refused_total(second[1]) == {"server_busy": 0, "too_many_connections": 5 + retries}
    finally:
        close_all(*first, *second)


def test_a_full_server_answers_503_even_to_an_address_under_its_own_limit(herald):
    h = herald("--max-connections", "4", "--max-connections-per-ip", "2")
    conns = [open_http(h.port, "127.0.0.2"), open_ws(h.port, "127.0.0.2"), open_http(h.port, "127.0.0.3")]
    try:
        assert_refused(h.port, 429, "too_many_connections", source="127.0.0.2")
        conns.append(open_ws(h.port, "127.0.0.3"))
        assert_refused(h.port, 503, "server_busy", source="127.0.0.4")
        assert_refused(h.port, 503, "server_busy", source="127.0.0.2")
    finally:
        close_all(*conns)


def test_many_refused_connections_never_harm_the_server(herald):
    h = herald("--max-connections", "1")
    held = open_http(h.port)
    refused = 0
    try:
        for i in range(1500):
            s = socket.create_connection(("127.0.0.1", h.port), timeout=10)
            kind = i % 4
            if kind == 0:  # a request, and the answer read
                s.sendall(request("GET", "/healthz"))
                assert s.recv(65536).startswith(b"HTTP/1.1 503 ")
            elif kind == 1:  # connect and hang up at once
                pass
            elif kind == 2:  # more than the server drains before closing: it may end in a reset
                try:
                    s.sendall(b"x" * 200_000)
                except OSError:
                    pass
            else:  # the client resets the connection (SO_LINGER 0)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            refused += 1
        assert h.proc.poll() is None
        still_serves(held)
        # Every one was accepted and refused, and none was counted as open: once the one held
        # connection closes, a new one is admitted.
        wait_for(lambda: refused_total(held)["server_busy"] == refused, 5, "every refusal counted")
        held.close()
        held, _ = admitted_soon(h.port)
        still_serves(held)
    finally:
        held.close()


def test_every_worker_gets_both_limits(herald, site):
    # Each worker process counts its own connections (docs/protocol.md); what this checks is
    # that the supervisor hands both options to every worker it starts.
    sup = herald(raw_args=["serve", "--workers", "2", "--host", "127.0.0.1", "--port", "0",
                           "--public", str(site.public), "--data", ":memory:",
                           "--max-connections", "7", "--max-connections-per-ip", "3"], name="supervisor")
    found = [argv for argv in children(sup.proc.pid).values() if role(argv) == "worker"]
    assert len(found) == 2
    for argv in found:
        assert argv[argv.index("--max-connections") + 1] == "7", argv
        assert argv[argv.index("--max-connections-per-ip") + 1] == "3", argv
