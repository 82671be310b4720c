"""WebSocket details a library would hide: handshake rejections, server pings, protocol errors."""

import struct
import time

import pytest

from conftest import Herald, serve_args
from support import (Closed, RawHTTP, RawWS, assert_json_error, close_payload, encode_frame, http_once,
                     request, ws_accept)

TEXT, BINARY, CLOSE, PING, PONG, CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
UPGRADE = [("Upgrade", "websocket"), ("Connection", "Upgrade")]


def handshake(port, headers, method="GET", path="/echo"):
    return http_once(port, method, path, headers)


# --------------------------------------------------------------------------- handshake

def test_handshake_accept_key_is_rfc_example(server):
    # RFC 6455 §1.3's example key and its accept value.
    with RawHTTP(server.port) as c:
        c.send(request("GET", "/echo", UPGRADE + [("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Version", "13")]))
        r = c.read_head()
    assert r.status == 101
    assert r.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" == ws_accept(KEY)
    assert r.header("content-length") is None or r.header("content-length") == "0"


def test_handshake_header_names_and_tokens_are_case_insensitive(server):
    with RawHTTP(server.port) as c:
        c.send(request("GET", "/echo", [("upgrade", "WebSocket"), ("connection", "keep-alive, UPGRADE"),
                                         ("sec-websocket-key", KEY), ("sec-websocket-version", "13")]))
        assert c.read_head().status == 101


@pytest.mark.parametrize("version", ["8", "12", "14", "abc"])
def test_other_version_is_426_with_supported_version(server, version):
    r = handshake(server.port, UPGRADE + [("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Version", version)])
    assert r.status == 426
    assert r.header("sec-websocket-version") == "13"
    assert_json_error(r, 426)


@pytest.mark.parametrize("headers", [
    UPGRADE + [("Sec-WebSocket-Version", "13")],                                   # no key
    UPGRADE + [("Sec-WebSocket-Key", "c2hvcnQ="), ("Sec-WebSocket-Version", "13")],  # key of 5 bytes
    UPGRADE + [("Sec-WebSocket-Key", "not base64 at all!!"), ("Sec-WebSocket-Version", "13")],
    UPGRADE + [("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Version", "13")],
    [("Upgrade", "websocket"), ("Connection", "keep-alive"), ("Sec-WebSocket-Key", KEY),
     ("Sec-WebSocket-Version", "13")],                                             # Connection lacks upgrade
], ids=["no-key", "short-key", "bad-base64", "two-keys", "no-connection-upgrade"])
def test_bad_upgrade_is_400(server, headers):
    r = handshake(server.port, headers)
    assert_json_error(r, 400)


def test_upgrade_with_post_is_refused(server):
    r = handshake(server.port, UPGRADE + [("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Version", "13"),
                                          ("Content-Length", "0")], method="POST")
    assert r.status != 101


def test_http10_upgrade_is_refused(server):
    with RawHTTP(server.port) as c:
        c.send(request("GET", "/echo", UPGRADE + [("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Version", "13")],
                       version="HTTP/1.0"))
        assert c.read_response().status == 400


def test_frames_sent_right_after_the_handshake_are_processed(server):
    # A client may pipeline its first frame behind the upgrade request.
    with RawWS(server.port) as s:
        s.send(request("GET", "/echo", UPGRADE + [("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Version", "13")])
               + encode_frame(TEXT, b"early bird"))
        assert s.read_head().status == 101
        assert s.recv_message() == (TEXT, b"early bird")


# --------------------------------------------------------------------------- frames

def test_server_frames_are_unmasked_and_echo_types(server):
    with RawWS.connect(server.port) as ws:
        ws.send_frame(TEXT, "hé".encode())
        f = ws.recv_frame()
        assert (f.fin, f.opcode, f.payload, f.masked) == (True, TEXT, "hé".encode(), False)
        ws.send_frame(BINARY, b"\xff\x00")
        f = ws.recv_frame()
        assert (f.opcode, f.payload, f.masked) == (BINARY, b"\xff\x00", False)


def test_ping_is_answered_with_same_payload(server):
    with RawWS.connect(server.port) as ws:
        ws.send_frame(PING, b"are you there")
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (PONG, b"are you there")


def test_ping_between_fragments_is_answered_first(server):
    with RawWS.connect(server.port) as ws:
        ws.send_frame(TEXT, b"hel", fin=False)
        ws.send_frame(PING, b"mid")
        ws.send_frame(CONT, b"lo", fin=True)
        assert ws.recv_frame().opcode == PONG
        assert ws.recv_message() == (TEXT, b"hello")


def test_close_is_echoed_with_the_same_code(server):
    with RawWS.connect(server.port) as ws:
        ws.send_frame(CLOSE, close_payload(1000, "bye"))
        f = ws.recv_frame()
        assert f.opcode == CLOSE and f.close_code == 1000
        assert ws.wait_closed(5) == b""


def test_empty_close_is_answered(server):
    with RawWS.connect(server.port) as ws:
        ws.send_frame(CLOSE, b"")
        f = ws.recv_frame()
        assert f.opcode == CLOSE and f.close_code in (None, 1000)
        ws.wait_closed(5)


def expect_close(ws, code):
    """Reads frames until a close; asserts its code, then that TCP closes."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        f = ws.recv_frame(timeout=5)
        if f.opcode == CLOSE:
            assert f.close_code == code, f"close code {f.close_code}, want {code} ({f.payload[2:]!r})"
            try:
                ws.send_frame(CLOSE, f.payload[:2])
            except OSError:
                pass
            ws.wait_closed(5)
            return
    raise AssertionError("no close frame")


@pytest.mark.parametrize("name,frames,code", [
    ("unmasked", [dict(opcode=TEXT, payload=b"hi", mask=False)], 1002),
    ("rsv1-without-extension", [dict(opcode=TEXT, payload=b"hi", rsv=4)], 1002),
    ("reserved-opcode", [dict(opcode=0x3, payload=b"")], 1002),
    ("reserved-control-opcode", [dict(opcode=0xB, payload=b"")], 1002),
    ("continuation-first", [dict(opcode=CONT, payload=b"x")], 1002),
    ("new-message-inside-fragmented", [dict(opcode=TEXT, payload=b"a", fin=False),
                                       dict(opcode=TEXT, payload=b"b")], 1002),
    ("fragmented-ping", [dict(opcode=PING, payload=b"x", fin=False)], 1002),
    ("ping-over-125", [dict(opcode=PING, payload=b"x" * 126)], 1002),
    ("close-1-byte", [dict(opcode=CLOSE, payload=b"\x03")], 1002),
    ("close-code-999", [dict(opcode=CLOSE, payload=struct.pack("!H", 999))], 1002),
    ("close-code-1005", [dict(opcode=CLOSE, payload=struct.pack("!H", 1005))], 1002),
    ("invalid-utf8-text", [dict(opcode=TEXT, payload=b"\xce\xba\xff")], 1007),
    ("invalid-utf8-across-fragments", [dict(opcode=TEXT, payload=b"\xce", fin=False),
                                       dict(opcode=CONT, payload=b"\x41")], 1007),
    ("invalid-utf8-close-reason", [dict(opcode=CLOSE, payload=struct.pack("!H", 1000) + b"\xff")], 1007),
])
def test_protocol_errors_close_with_the_right_code(server, name, frames, code):
    with RawWS.connect(server.port) as ws:
        for fr in frames:
            fr = dict(fr)
            ws.send_frame(fr.pop("opcode"), fr.pop("payload"), **fr)
        expect_close(ws, code)


def test_echo_survives_a_protocol_error_elsewhere(server):
    with RawWS.connect(server.port) as good, RawWS.connect(server.port) as bad:
        bad.send_frame(TEXT, b"\xff")
        expect_close(bad, 1007)
        good.send_frame(TEXT, b"fine")
        assert good.recv_message() == (TEXT, b"fine")


# --------------------------------------------------------------------------- server pings

PING_T = 1.0
PONG_T = 1.0
SLACK = 1.5


@pytest.fixture(scope="module")
def pinger(site):
    h = Herald(serve_args(site.public, "--ping-interval", PING_T, "--pong-timeout", PONG_T),
               name="ping herald").start()
    yield h
    assert h.stop() == 0, h.log_tail()


def test_idle_websocket_is_pinged_and_pongs_keep_it_open(pinger):
    with RawWS.connect(pinger.port) as ws:
        t0 = time.monotonic()
        pings = 0
        while time.monotonic() - t0 < 4 * PING_T:
            f = ws.recv_frame(timeout=PING_T + PONG_T + SLACK)
            assert f.opcode == PING and not f.masked and len(f.payload) <= 125
            if pings == 0:
                assert PING_T - 0.2 <= time.monotonic() - t0 <= PING_T + SLACK
            pings += 1
            ws.send_frame(PONG, f.payload)
        assert pings >= 2
        ws.send_frame(TEXT, b"still open")
        # a ping may cross our message: skip it
        while True:
            op, data = ws.recv_message(timeout=5)
            if op == PING:
                ws.send_frame(PONG, data)
                continue
            assert (op, data) == (TEXT, b"still open")
            break


def test_no_pong_closes_the_connection(pinger):
    with RawWS.connect(pinger.port) as ws:
        t0 = time.monotonic()
        saw_ping = False
        try:
            while True:
                f = ws.recv_frame(timeout=PING_T + PONG_T + SLACK + 2)
                if f.opcode == PING:
                    saw_ping = True
                    continue  # never answer
                assert f.opcode == CLOSE and f.close_code in (1001, 1011), f
        except Closed:
            pass
        elapsed = time.monotonic() - t0
        assert saw_ping, "closed without pinging first"
        assert PING_T + PONG_T - 0.3 <= elapsed <= PING_T + PONG_T + SLACK, elapsed


def test_client_messages_count_as_activity(pinger):
    # A client that keeps talking gets its echoes and is not closed.
    with RawWS.connect(pinger.port) as ws:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3 * (PING_T + PONG_T):
            ws.send_frame(TEXT, b"tick")
            while True:
                op, data = ws.recv_message(timeout=5)
                if op == PING:
                    ws.send_frame(PONG, data)
                    continue
                assert data == b"tick"
                break
            time.sleep(PING_T / 3)
