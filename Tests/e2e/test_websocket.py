"""WebSocket /echo with python `websockets` (a client nobody here wrote)."""

import asyncio
import os

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

MIB = 1024 * 1024


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def url(server):
    return server.ws_url + "/echo"


def test_text_echo(server):
    async def go():
        async with connect(url(server), ping_interval=None) as ws:
            for msg in ["hello", "", "héllo wörld ✓ 🚀", "{\"op\":\"ping\"}", "a" * 10000]:
                await ws.send(msg)
                got = await ws.recv()
                assert isinstance(got, str) and got == msg
    run(go())


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 65537, MIB])
def test_binary_echo_sizes(server, size):
    data = os.urandom(size)

    async def go():
        async with connect(url(server), ping_interval=None, max_size=None) as ws:
            await ws.send(data)
            got = await ws.recv()
            assert isinstance(got, bytes) and got == data
    run(go())


@pytest.mark.parametrize("size", [125, 126, 65535, 65536])
def test_text_echo_sizes(server, size):
    msg = ("0123456789abcdef" * (size // 16 + 1))[:size]

    async def go():
        async with connect(url(server), ping_interval=None, max_size=None) as ws:
            await ws.send(msg)
            assert await ws.recv() == msg
    run(go())


def test_16_mib_message_is_echoed(server):
    data = os.urandom(16 * MIB)

    async def go():
        async with connect(url(server), ping_interval=None, max_size=None, compression=None) as ws:
            await ws.send(data)
            got = await ws.recv()
            assert got == data
    run(go(), timeout=80)


def test_16_mib_plus_one_is_closed_with_1009(server):
    data = b"\0" * (16 * MIB + 1)

    async def go():
        # No `async with`: websockets 15 can trip over its own closed transport when leaving
        # the block after the server closed mid-send; the connection is closed by then anyway.
        ws = await connect(url(server), ping_interval=None, max_size=None, compression=None)
        try:
            await ws.send(data)
        except ConnectionClosed:
            pass
        with pytest.raises(ConnectionClosed) as e:
            await ws.recv()
        assert e.value.rcvd is not None, "no close frame from the server"
        assert e.value.rcvd.code == 1009
    run(go(), timeout=80)


def test_fragmented_16_mib_plus_one_is_closed_with_1009(server):
    async def go():
        ws = await connect(url(server), ping_interval=None, max_size=None, compression=None)
        try:
            await ws.send([b"\1" * (8 * MIB), b"\2" * (8 * MIB + 1)])
        except ConnectionClosed:
            pass
        with pytest.raises(ConnectionClosed) as e:
            await ws.recv()
        assert e.value.rcvd is not None and e.value.rcvd.code == 1009
    run(go(), timeout=80)


def test_fragmented_message_is_reassembled(server):
    async def go():
        async with connect(url(server), ping_interval=None) as ws:
            await ws.send(["frag", "mented ", "text"])
            assert await ws.recv() == "fragmented text"
            await ws.send([b"\x00\x01", b"", b"\x02"])
            assert await ws.recv() == b"\x00\x01\x02"
    run(go())


def test_many_messages_stay_in_order(server):
    async def go():
        async with connect(url(server), ping_interval=None) as ws:
            for i in range(2000):
                await ws.send(f"m{i}")
            for i in range(2000):
                assert await ws.recv() == f"m{i}"
    run(go())


def test_ping_gets_pong(server):
    async def go():
        async with connect(url(server), ping_interval=None) as ws:
            for payload in [b"", b"abc", os.urandom(125)]:
                waiter = await ws.ping(payload)
                latency = await asyncio.wait_for(waiter, 5)
                assert latency >= 0
            await ws.send("still here")
            assert await ws.recv() == "still here"
    run(go())


def test_close_handshake_1000(server):
    async def go():
        ws = await connect(url(server), ping_interval=None)
        await ws.send("bye")
        assert await ws.recv() == "bye"
        await ws.close(1000, "done")
        assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1000
        assert ws.protocol.close_sent.code == 1000
    run(go())


def test_close_with_library_code_is_echoed(server):
    async def go():
        ws = await connect(url(server), ping_interval=None)
        await ws.close(4000, "app says bye")
        assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 4000
    run(go())


def test_client_offering_permessage_deflate_still_works(server):
    # Whether or not the server negotiates compression, echo must work.
    async def go():
        async with connect(url(server), ping_interval=None, compression="deflate") as ws:
            await ws.send("x" * 5000)
            assert await ws.recv() == "x" * 5000
    run(go())


def test_many_concurrent_clients(server):
    async def one(i):
        async with connect(url(server), ping_interval=None) as ws:
            for j in range(20):
                msg = f"client {i} message {j}"
                await ws.send(msg)
                assert await ws.recv() == msg

    async def go():
        await asyncio.gather(*(one(i) for i in range(50)))
    run(go())


def test_version_8_is_426_with_version_header(server):
    from support import http_once
    r = http_once(server.port, "GET", "/echo", [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                                                ("Sec-WebSocket-Version", "8")])
    assert r.status == 426
    assert r.header("sec-websocket-version") == "13"


def test_unknown_path_upgrade_is_refused(server):
    async def go():
        with pytest.raises(InvalidStatus) as e:
            await connect(server.ws_url + "/no-such-socket")
        assert e.value.response.status_code == 404
    run(go())


def test_server_ping_is_answered_by_the_library(herald):
    # websockets answers pings by itself; with a 0.5 s ping interval the connection must
    # survive several of them and still echo.
    h = herald("--ping-interval", "0.5", "--pong-timeout", "1")

    async def go():
        async with connect(h.ws_url + "/echo", ping_interval=None) as ws:
            await asyncio.sleep(3)
            await ws.send("alive")
            assert await ws.recv() == "alive"
    run(go())
