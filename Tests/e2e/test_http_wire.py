"""HTTP/1.1 on the wire, with raw sockets: pipelining, keep-alive, limits, malformed requests."""

import time

import pytest

from support import Closed, RawHTTP, assert_common_headers, assert_json_error, http_once, request, sha256

HEAD_LIMIT = 16 * 1024
HEADER_COUNT_LIMIT = 100


# --------------------------------------------------------------------------- keep-alive, pipelining

def test_pipelined_requests_answer_in_order(server, site):
    names = ["small.txt", "style.css", "data.json", "sub/page.html", "small.txt"]
    with RawHTTP(server.port) as c:
        c.send(b"".join(request("GET", "/" + n) for n in names))
        for n in names:
            r = c.read_response()
            assert r.status == 200 and r.body == site.files[n], n


def test_pipelined_mix_of_methods_and_statuses(server, site):
    with RawHTTP(server.port) as c:
        c.send(request("HEAD", "/index.html")
               + request("GET", "/missing.txt")
               + request("POST", "/echo", [("Content-Type", "text/plain")], b"ping-pong")
               + request("GET", "/healthz")
               + request("DELETE", "/small.txt")
               + request("GET", "/small.txt"))
        r = c.read_response("HEAD")
        assert r.status == 200 and int(r.header("content-length")) == len(site.files["index.html"])
        assert c.read_response().status == 404
        r = c.read_response()
        assert r.status == 200 and r.body == b"ping-pong"
        assert c.read_response().status == 200
        assert c.read_response().status == 405
        r = c.read_response()
        assert r.status == 200 and r.body == site.files["small.txt"]


def test_head_sends_no_body_bytes(server):
    # If HEAD leaked a body, the next response's status line would not come first.
    with RawHTTP(server.port) as c:
        c.send(request("HEAD", "/big.bin") + request("GET", "/small.txt"))
        h = c.read_response("HEAD")
        assert h.status == 200 and h.header("content-length") == str(5 * 1024 * 1024)
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello from herald e2e\n"


def test_many_requests_on_one_connection(server, site):
    with RawHTTP(server.port) as c:
        for i in range(200):
            c.send(request("GET", "/small.txt"))
            assert c.read_response().body == site.files["small.txt"]


def test_connection_close_is_honoured(server):
    with RawHTTP(server.port) as c:
        c.send(request("GET", "/small.txt", [("Connection", "close")]))
        r = c.read_response()
        assert r.status == 200
        assert "close" in (r.header("connection") or "").lower()
        assert c.wait_closed(5) == b""


def test_http10_closes_unless_keepalive(server):
    with RawHTTP(server.port) as c:
        c.send(request("GET", "/small.txt", version="HTTP/1.0", host=None))
        r = c.read_response()
        assert r.status == 200 and r.version in ("HTTP/1.0", "HTTP/1.1")
        c.wait_closed(5)
    with RawHTTP(server.port) as c:
        c.send(request("GET", "/small.txt", [("Connection", "keep-alive")], version="HTTP/1.0"))
        assert c.read_response().status == 200
        c.send(request("GET", "/small.txt", [("Connection", "keep-alive")], version="HTTP/1.0"))
        assert c.read_response().status == 200


def test_slow_reader_does_not_block_others(server, site):
    slow = RawHTTP(server.port, timeout=30, rcvbuf=4096)
    try:
        slow.send(request("GET", "/big.bin"))
        time.sleep(0.3)  # the server's socket buffer is full now
        t0 = time.monotonic()
        for _ in range(20):
            assert http_once(server.port, "GET", "/healthz", timeout=2).status == 200
        assert time.monotonic() - t0 < 2.0
        r = slow.read_response(timeout=30)
        assert sha256(r.body) == sha256(site.files["big.bin"])
    finally:
        slow.close()


def test_client_vanishing_mid_download_leaves_server_healthy(server):
    for _ in range(5):
        c = RawHTTP(server.port)
        c.send(request("GET", "/big.bin"))
        c.read_exact(1000)
        c.close()
    assert http_once(server.port, "GET", "/healthz").status == 200


# --------------------------------------------------------------------------- limits

def head_of_size(size: int, target: str = "/small.txt") -> bytes:
    """A GET whose head (request line + headers + the final CRLF) is exactly `size` bytes."""
    base = request("GET", target, [("X-Pad", "")])
    pad = size - len(base)
    assert pad >= 0
    out = request("GET", target, [("X-Pad", "a" * pad)])
    assert len(out) == size
    return out


def test_head_exactly_at_limit_is_accepted(server, site):
    with RawHTTP(server.port) as c:
        c.send(head_of_size(HEAD_LIMIT))
        r = c.read_response()
        assert r.status == 200 and r.body == site.files["small.txt"]


def test_head_one_byte_past_limit_is_431(server):
    with RawHTTP(server.port) as c:
        c.send(head_of_size(HEAD_LIMIT + 1))
        r = c.read_response()
        assert_json_error(r, 431, "headers_too_large")
        assert_common_headers(r)
        c.wait_closed(5)


def test_endless_head_is_cut_at_the_limit(server):
    # Never ends its head: the server must answer 431 once it has 16 KiB, not buffer forever.
    with RawHTTP(server.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: e2e\r\n")
        try:
            for _ in range(64):
                c.send(b"X-Flood: " + b"b" * 1000 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.read_response()
        assert_json_error(r, 431, "headers_too_large")


def headers_n(n: int) -> bytes:
    """A request with exactly n header fields, Host included."""
    return request("GET", "/small.txt", [(f"X-H{i}", str(i)) for i in range(n - 1)])


def test_exactly_100_header_fields_are_accepted(server):
    r = http_once(server.port, "GET", "/small.txt", [(f"X-H{i}", str(i)) for i in range(HEADER_COUNT_LIMIT - 1)])
    assert r.status == 200


def test_101_header_fields_are_431(server):
    with RawHTTP(server.port) as c:
        c.send(headers_n(HEADER_COUNT_LIMIT + 1))
        assert_json_error(c.read_response(), 431, "too_many_headers")
        c.wait_closed(5)


# --------------------------------------------------------------------------- malformed / smuggling

FOLLOW_UP = request("GET", "/small.txt")

MALFORMED = {
    "no_host_http11": b"GET /small.txt HTTP/1.1\r\n\r\n",
    "two_hosts": b"GET /small.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "two_content_lengths": b"POST /echo HTTP/1.1\r\nHost: e2e\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "content_length_list": b"POST /echo HTTP/1.1\r\nHost: e2e\r\nContent-Length: 3, 4\r\n\r\nabcd",
    "te_and_cl": b"POST /echo HTTP/1.1\r\nHost: e2e\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "cl_and_te": b"POST /echo HTTP/1.1\r\nHost: e2e\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
    "negative_content_length": b"POST /echo HTTP/1.1\r\nHost: e2e\r\nContent-Length: -1\r\n\r\n",
    "plus_content_length": b"POST /echo HTTP/1.1\r\nHost: e2e\r\nContent-Length: +3\r\n\r\nabc",
    "hex_content_length": b"POST /echo HTTP/1.1\r\nHost: e2e\r\nContent-Length: 0x3\r\n\r\nabc",
    "bad_chunk_size": b"POST /echo HTTP/1.1\r\nHost: e2e\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "chunk_size_overflow": (b"POST /echo HTTP/1.1\r\nHost: e2e\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"1ffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    "chunk_missing_crlf": b"POST /echo HTTP/1.1\r\nHost: e2e\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    "chunked_not_last": b"POST /echo HTTP/1.1\r\nHost: e2e\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    "te_in_http10": b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "space_before_colon": b"POST /echo HTTP/1.1\r\nHost: e2e\r\nContent-Length : 3\r\n\r\nabc",
    "obs_fold": b"GET /small.txt HTTP/1.1\r\nHost: e2e\r\nX-A: a\r\n  folded\r\n\r\n",
    "bare_lf": b"GET /small.txt HTTP/1.1\nHost: e2e\n\n",
    "bare_cr": b"GET /small.txt HTTP/1.1\rHost: e2e\r\n\r\n",
    "no_colon": b"GET /small.txt HTTP/1.1\r\nHost: e2e\r\nJunk\r\n\r\n",
    "bad_request_line": b"GET /small.txt\r\nHost: e2e\r\n\r\n",
    "extra_spaces": b"GET  /small.txt HTTP/1.1\r\nHost: e2e\r\n\r\n",
    "bad_method": b"G(T /small.txt HTTP/1.1\r\nHost: e2e\r\n\r\n",
    "lowercase_version": b"GET /small.txt http/1.1\r\nHost: e2e\r\n\r\n",
    "nul_in_header": b"GET /small.txt HTTP/1.1\r\nHost: e2e\r\nX-A: a\x00b\r\n\r\n",
    "binary_garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)) + b"\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_request_is_400_and_closes(server, name):
    with RawHTTP(server.port) as c:
        c.send(MALFORMED[name] + FOLLOW_UP)
        r = c.read_response()
        assert_json_error(r, 400)
        assert_common_headers(r)
        rest = c.wait_closed(5)
        # The follow-up request (a smuggling attempt) must never be answered.
        assert b"HTTP/1." not in rest and b"hello from herald" not in rest, rest[:200]


@pytest.mark.parametrize("raw,status", [
    (b"GET /small.txt HTTP/2.0\r\nHost: e2e\r\n\r\n", 505),
    (b"GET /small.txt HTTP/1.1\r\nHost: e2e\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
])
def test_unsupported_version_or_coding(server, raw, status):
    with RawHTTP(server.port) as c:
        c.send(raw)
        assert_json_error(c.read_response(), status)
        c.wait_closed(5)


def test_duplicate_identical_content_length_does_not_smuggle(server):
    # RFC 9112 §6.3 allows accepting identical values as one; either way nothing is smuggled.
    raw = b"POST /echo HTTP/1.1\r\nHost: e2e\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"
    with RawHTTP(server.port) as c:
        c.send(raw + FOLLOW_UP)
        r = c.read_response()
        if r.status == 200:
            assert r.body == b"abc"
            assert c.read_response().body == b"hello from herald e2e\n"
        else:
            assert_json_error(r, 400)


def test_malformed_request_does_not_affect_other_connections(server, site):
    good = RawHTTP(server.port)
    try:
        good.send(b"GET /small.txt HTTP/1.1\r\nHost: e2e\r\n")   # half a request
        for raw in MALFORMED.values():
            with RawHTTP(server.port) as bad:
                bad.send(raw)
                try:
                    bad.read_response()
                except Closed:
                    pass
        good.send(b"\r\n")
        r = good.read_response()
        assert r.status == 200 and r.body == site.files["small.txt"]
        good.send(request("GET", "/style.css"))
        assert good.read_response().body == site.files["style.css"]
    finally:
        good.close()
    assert http_once(server.port, "GET", "/healthz").status == 200


def test_leading_empty_lines_are_tolerated(server):
    # RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
    with RawHTTP(server.port) as c:
        c.send(b"\r\n" + request("GET", "/small.txt"))
        assert c.read_response().status == 200


def test_absolute_form_target(server, site):
    with RawHTTP(server.port) as c:
        c.send(b"GET http://e2e/small.txt HTTP/1.1\r\nHost: e2e\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == site.files["small.txt"]
