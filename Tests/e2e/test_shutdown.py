"""Graceful shutdown: SIGTERM closes WebSockets with 1001 and the process exits 0 within 10 s."""

import asyncio
import signal
import socket
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from support import Closed, RawHTTP, RawWS, request


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_closes_websockets_with_1001_and_exits_0(herald, sig):
    h = herald()

    async def go():
        clients = [await connect(h.ws_url + "/echo", ping_interval=None) for _ in range(5)]
        for i, ws in enumerate(clients):
            await ws.send(f"hi {i}")
            assert await ws.recv() == f"hi {i}"
        t0 = time.monotonic()
        h.send_signal(sig)
        codes = []
        for ws in clients:
            with pytest.raises(ConnectionClosed) as e:
                await asyncio.wait_for(ws.recv(), 10)
            codes.append(e.value.rcvd.code if e.value.rcvd else None)
        return codes, time.monotonic() - t0

    codes, elapsed = asyncio.run(go())
    assert codes == [1001] * 5, codes
    rc = h.wait_exit(10)
    assert rc == 0, f"exit status {rc}\n" + h.log_tail()


def test_raw_client_sees_1001_close_frame_then_eof(herald):
    h = herald()
    with RawWS.connect(h.port) as ws:
        h.send_signal(signal.SIGTERM)
        f = ws.recv_frame(timeout=10)
        assert f.opcode == 0x8 and f.close_code == 1001
        ws.send_frame(0x8, f.payload[:2])          # complete the close handshake
        ws.wait_closed(10)
    assert h.wait_exit(10) == 0, h.log_tail()


def test_client_that_ignores_the_close_does_not_block_exit(herald):
    # A peer that never answers the close frame: the server still exits 0 within 10 s.
    h = herald()
    ws = RawWS.connect(h.port)
    try:
        t0 = time.monotonic()
        h.send_signal(signal.SIGTERM)
        rc = h.wait_exit(10)
        assert rc == 0, h.log_tail()
        assert time.monotonic() - t0 <= 10
    finally:
        ws.close()


def test_stops_accepting_after_sigterm(herald):
    h = herald()
    port = h.port
    with RawWS.connect(port) as ws:
        h.send_signal(signal.SIGTERM)
        f = ws.recv_frame(timeout=10)
        assert f.close_code == 1001
        ws.send_frame(0x8, f.payload[:2])
        assert h.wait_exit(10) == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_idle_keepalive_http_connection_does_not_delay_exit(herald):
    h = herald()
    with RawHTTP(h.port) as c:
        c.send(request("GET", "/small.txt"))
        assert c.read_response().status == 200
        t0 = time.monotonic()
        h.send_signal(signal.SIGTERM)
        assert h.wait_exit(10) == 0
        assert time.monotonic() - t0 < 5, "idle keep-alive connections should be closed at once"
        try:
            assert c.wait_closed(2) == b""
        except Closed:
            pass
