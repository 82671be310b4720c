"""permessage-deflate (RFC 7692) with real clients: python websockets (compression="deflate",
its default) and Node `ws` (perMessageDeflate), raw frames for the RSV1 bit, and the bad
input the RFC answers: a decompression bomb (1009), a compressed control frame and RSV1 on a
connection that did not negotiate deflate (1002). Each harms no other connection."""

from __future__ import annotations

import json
import zlib

import pytest
from websockets.sync.client import connect as ws_connect

from support import RawWS, close_payload, encode_frame
from tasks_support import Api, tasks_server, unique_id  # noqa: F401
from test_node_ws import run_client

OFFER = ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
ANSWER = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
# A task whose events are about 600 bytes of JSON, like a real one.
TITLE = "Nightly export of the customer ledger to the warehouse (eu-west-1), batch 42 of 64"
META = {"dataset": "customer-ledger", "region": "eu-west-1", "requested_by": "ops@example.com",
        "format": "parquet", "destination": "s3://warehouse/exports/ledger/2026-12-04/"}


def deflate(data: bytes) -> bytes:
    """RFC 7692 §7.2.1: raw DEFLATE, sync-flushed, the 00 00 ff ff tail removed."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def inflate(payload: bytes) -> bytes:
    return zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")


def message(ws: RawWS) -> tuple[bool, dict]:
    """The next data frame as (compressed, JSON)."""
    f = ws.recv_frame()
    assert f.fin and f.opcode == 0x1, f
    return f.rsv1, json.loads(inflate(f.payload) if f.rsv1 else f.payload)


def deflate_subscriber(port: int, topic: str) -> RawWS:
    ws = RawWS.connect(port, f"/ws?topic={topic}", [OFFER])
    assert ws.handshake.header("sec-websocket-extensions") == ANSWER
    _, snapshot = message(ws)
    assert snapshot["type"] == "snapshot", snapshot
    return ws


def expect_close(ws: RawWS, code: int):
    f = ws.recv_frame()
    assert f.opcode == 0x8 and f.close_code == code, (f, f.payload)
    assert not f.rsv1


def test_python_websockets_gets_compressed_task_events(tasks_server):
    api, i = Api(tasks_server.port), unique_id("deflate")
    with ws_connect(f"{tasks_server.ws_url}/ws?topic=task:{i}", compression="deflate") as ws:
        names = [e.name for e in ws.protocol.extensions]
        assert names == ["permessage-deflate"], names
        assert ws.response.headers["Sec-WebSocket-Extensions"] == ANSWER
        assert json.loads(ws.recv(timeout=5))["type"] == "snapshot"
        task = api.create(id=i, title=TITLE, meta=META, total=3)
        event = json.loads(ws.recv(timeout=5))
        assert event["type"] == "task" and event["task"]["id"] == i and event["task"]["meta"] == META
        assert event["seq"] == task["seq"]
        ws.send(json.dumps({"op": "ping"}))  # a compressed client message, answered
        assert json.loads(ws.recv(timeout=5)) == {"type": "pong"}


def test_one_compressed_frame_is_shared_by_every_deflate_subscriber(tasks_server):
    """Every deflate subscriber gets the same compressed bytes (deflated once, no context
    takeover), a plain subscriber the plain frame; both decode to the same event."""
    api, i = Api(tasks_server.port), unique_id("deflate")
    a, b = deflate_subscriber(tasks_server.port, f"task:{i}"), deflate_subscriber(tasks_server.port, f"task:{i}")
    plain = RawWS.connect(tasks_server.port, f"/ws?topic=task:{i}")
    assert plain.handshake.header("sec-websocket-extensions") is None
    message(plain)
    try:
        api.create(id=i, title=TITLE, meta=META)
        fa, fb, fp = a.recv_frame(), b.recv_frame(), plain.recv_frame()
        assert fa.rsv1 and fb.rsv1 and not fp.rsv1
        assert fa.payload == fb.payload
        assert json.loads(inflate(fa.payload)) == json.loads(fp.payload)
        assert len(fa.payload) < len(fp.payload) * 0.75, (len(fa.payload), len(fp.payload))
    finally:
        for ws in (a, b, plain):
            ws.close()


def test_node_ws_negotiates_and_round_trips_on_echo(server):
    p, events = run_client(server.ws_url + "/echo")  # ws offers perMessageDeflate by default
    assert p.returncode == 0, (events, p.stderr.decode()[-2000:])
    assert events[0]["extensions"].startswith("permessage-deflate"), events[0]
    assert all(e["ok"] for e in events if e["event"] == "echo")


def test_no_deflate_answers_without_the_extension(herald):
    h = herald("--no-deflate")
    ws = RawWS.connect(h.port, "/echo", [OFFER])
    assert ws.handshake.header("sec-websocket-extensions") is None
    # Without deflate, RSV1 is a reserved bit again (RFC 6455 §5.2).
    ws.send_frame(0x1, deflate(b"Hello"), rsv=4)
    expect_close(ws, 1002)
    p, events = run_client(h.ws_url + "/echo")
    assert p.returncode == 0 and events[0]["extensions"] == "", events[0]


def test_rsv1_without_negotiation_is_1002(server):
    ws = RawWS.connect(server.port, "/echo")  # no offer
    ws.send_frame(0x1, deflate(b"Hello"), rsv=4)
    expect_close(ws, 1002)


def test_compressed_control_frame_is_1002(server):
    ws = RawWS.connect(server.port, "/echo", [OFFER])
    ws.send_frame(0x1, deflate(b"Hello"), rsv=4)
    assert ws.recv_message() == (0x1, b"Hello")  # too short to compress back: sent plain
    ws.send_frame(0x9, b"\x00", rsv=4)
    expect_close(ws, 1002)


@pytest.mark.parametrize("path,limit", [("/echo", 16 << 20), ("/ws?topic=tasks", 1 << 20)])
def test_a_bomb_gets_1009_and_harms_no_other_connection(server, tasks_server, path, limit):
    port = server.port if path == "/echo" else tasks_server.port
    bystander = ws_connect(f"ws://127.0.0.1:{port}/echo" if path == "/echo" else f"ws://127.0.0.1:{port}/ws",
                           compression="deflate")
    try:
        if path == "/echo":
            # At the limit: inflated and echoed (compressed back).
            ws = RawWS.connect(port, path, [OFFER], timeout=60)
            ws.send_frame(0x2, deflate(bytes(limit)), rsv=4)
            f = ws.recv_frame(60)
            assert f.opcode == 0x2 and f.rsv1 and inflate(f.payload) == bytes(limit)
            ws.close()
        ws = RawWS.connect(port, path, [OFFER], timeout=60)
        if path != "/echo":
            message(ws)  # the snapshot
        bomb = deflate(bytes(limit + 1))
        assert len(bomb) * 500 < limit  # a small frame that inflates past the limit
        ws.send_frame(0x2 if path == "/echo" else 0x1, bomb, rsv=4)
        expect_close(ws, 1009)
        ws.close()
        if path == "/echo":
            bystander.send("still here " * 20)
            assert bystander.recv(timeout=5) == "still here " * 20
        else:
            bystander.send(json.dumps({"op": "ping"}))
            assert json.loads(bystander.recv(timeout=5)) == {"type": "pong"}
    finally:
        bystander.close()


def test_invalid_deflate_and_invalid_utf8_after_inflating_are_1007(server):
    ws = RawWS.connect(server.port, "/echo", [OFFER])
    ws.send_frame(0x1, deflate(b"caf\xc3"), rsv=4)
    expect_close(ws, 1007)
    ws = RawWS.connect(server.port, "/echo", [OFFER])
    ws.send_frame(0x1, b"\xff\xff\xff", rsv=4)
    expect_close(ws, 1007)


def test_fragmented_compressed_message_and_the_close_handshake(server):
    ws = RawWS.connect(server.port, "/echo", [OFFER])
    body = ("fragmented and compressed " * 40).encode()
    payload = deflate(body)
    ws.send_frame(0x1, payload[:10], fin=False, rsv=4)
    ws.send_frame(0x9, b"mid")  # a control frame between fragments
    ws.send_frame(0x0, payload[10:])
    f = ws.recv_frame()
    assert f.opcode == 0xA and f.payload == b"mid"
    f = ws.recv_frame()
    assert f.opcode == 0x1 and f.rsv1 and inflate(f.payload) == body
    ws.send(encode_frame(0x8, close_payload(1000)))
    expect_close(ws, 1000)
