"""POST /echo: request bodies (Content-Length, chunked), 100-continue, the body limit."""

import os

import pytest

from support import CRLF, RawHTTP, assert_json_error, chunked, curl, http_once, request, sha256

MIB = 1024 * 1024


def test_echo_small_body_with_content_type(server):
    r = http_once(server.port, "POST", "/echo", [("Content-Type", "text/plain; charset=utf-8")], b"hello")
    assert r.status == 200 and r.body == b"hello"
    assert r.header("content-type") == "text/plain; charset=utf-8"


def test_echo_default_content_type_and_empty_body(server):
    r = http_once(server.port, "POST", "/echo", [("Content-Length", "0")])
    assert r.status == 200 and r.body == b""
    assert r.header("content-type") == "application/octet-stream"
    assert r.header("content-length") == "0"


def test_curl_post_binary(server, tmp_path):
    data = os.urandom(200_000)
    f = tmp_path / "body.bin"
    f.write_bytes(data)
    r = curl(server.url + "/echo", "--data-binary", f"@{f}", "-H", "Content-Type: application/x-test")
    assert r.status == 200 and r.body == data
    assert r.header("content-type") == "application/x-test"


def test_curl_chunked_upload(server, tmp_path):
    data = os.urandom(300_000)
    f = tmp_path / "body.bin"
    f.write_bytes(data)
    r = curl(server.url + "/echo", "-H", "Transfer-Encoding: chunked", "--data-binary", f"@{f}",
             "-H", "Content-Type: application/octet-stream", "-v")
    assert "transfer-encoding: chunked" in r.stderr.lower(), "curl did not send chunked"
    assert r.status == 200 and sha256(r.body) == sha256(data)


def test_curl_expect_100_continue(server, tmp_path):
    data = os.urandom(512 * 1024)
    f = tmp_path / "body.bin"
    f.write_bytes(data)
    # --expect100-timeout long enough that curl never gives up waiting and sends anyway.
    r = curl(server.url + "/echo", "-H", "Expect: 100-continue", "--expect100-timeout", "10",
             "--data-binary", f"@{f}", "-v")
    assert [b.status for b in r.blocks] == [100, 200], r.stderr
    assert sha256(r.body) == sha256(data)


def test_curl_large_body_refused_with_413(server, tmp_path):
    f = tmp_path / "big.bin"
    f.write_bytes(os.urandom(2 * MIB))
    r = curl(server.url + "/echo", "--data-binary", f"@{f}", "--expect100-timeout", "10", check=False)
    assert r.status == 413, r.stderr
    assert 100 not in [b.status for b in r.blocks], "100 Continue sent for a body that is refused"


def test_raw_expect_100_continue_then_body(server):
    with RawHTTP(server.port) as c:
        c.send(request("POST", "/echo", [("Expect", "100-continue"), ("Content-Length", "11")]))
        interim = c.read_head()
        assert interim.status == 100 and interim.raw_head.startswith(b"HTTP/1.1 100 Continue")
        c.send(b"hello world")
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello world"


def test_raw_expect_100_with_too_large_length_gets_413_directly(server):
    with RawHTTP(server.port) as c:
        c.send(request("POST", "/echo", [("Expect", "100-continue"), ("Content-Length", str(2 * MIB))]))
        r = c.read_response()
        assert_json_error(r, 413, "body_too_large")


def test_body_exactly_at_limit_is_accepted(server):
    body = os.urandom(MIB)
    with RawHTTP(server.port, timeout=30) as c:
        c.send(request("POST", "/echo", [], body))
        r = c.read_response()
    assert r.status == 200 and sha256(r.body) == sha256(body)


def test_body_one_byte_past_limit_is_413(server):
    with RawHTTP(server.port, timeout=30) as c:
        # The head alone decides: the server must answer without waiting for the body.
        c.send(request("POST", "/echo", [("Content-Length", str(MIB + 1))]))
        r = c.read_response()
        assert_json_error(r, 413, "body_too_large")


def test_chunked_body_at_limit_is_accepted(server):
    body = os.urandom(MIB)
    with RawHTTP(server.port, timeout=30) as c:
        c.send(request("POST", "/echo", [("Transfer-Encoding", "chunked")]) + chunked(body, 65536))
        r = c.read_response()
    assert r.status == 200 and sha256(r.body) == sha256(body)


def test_chunked_body_past_limit_is_413(server):
    body = os.urandom(MIB + 1)
    with RawHTTP(server.port, timeout=30) as c:
        c.send(request("POST", "/echo", [("Transfer-Encoding", "chunked")]))
        try:
            c.send(chunked(body, 65536))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop reading once it has refused
        r = c.read_response()
        assert_json_error(r, 413, "body_too_large")
        c.wait_closed(5)


def test_chunk_extensions_and_trailers(server):
    raw = (b"5;name=value\r\nhello\r\n"
           b"6;x\r\n world\r\n"
           b"0\r\nX-Trailer: yes\r\n\r\n")
    with RawHTTP(server.port) as c:
        c.send(request("POST", "/echo", [("Transfer-Encoding", "chunked")]) + raw)
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello world"
        # the connection is still usable afterwards
        c.send(request("GET", "/healthz"))
        assert c.read_response().status == 200


def test_custom_max_body(herald):
    h = herald("--max-body", "1000")
    ok = http_once(h.port, "POST", "/echo", [], b"x" * 1000)
    assert ok.status == 200 and ok.body == b"x" * 1000
    with RawHTTP(h.port) as c:
        c.send(request("POST", "/echo", [("Content-Length", "1001")]))
        assert_json_error(c.read_response(), 413, "body_too_large")


def test_echo_endpoints_absent_without_flag(herald):
    h = herald(echo=False)
    r = http_once(h.port, "POST", "/echo", [], b"hi")
    assert r.status in (404, 405), r.status
    assert r.body != b"hi"
    r = http_once(h.port, "GET", "/echo", [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                           ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                                           ("Sec-WebSocket-Version", "13")])
    assert r.status in (400, 404), r.status


@pytest.mark.parametrize("split", [1, 7, 100])
def test_body_in_small_pieces(server, split):
    body = bytes(range(256)) * 8
    with RawHTTP(server.port) as c:
        c.send(request("POST", "/echo", [("Content-Length", str(len(body)))]))
        for i in range(0, len(body), split):
            c.send(body[i:i + split])
        r = c.read_response()
    assert r.status == 200 and r.body == body
