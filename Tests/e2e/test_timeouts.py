"""Slowloris, stalled bodies and idle keep-alive connections, against short timeouts."""

import time

import pytest

from conftest import Herald, serve_args
from support import RawHTTP, assert_json_error, request

HEADER_T = 1.0
BODY_T = 1.0
IDLE_T = 2.0
SLACK = 1.5  # timer granularity + a loaded 2-core CI machine


@pytest.fixture(scope="module")
def quick(site):
    h = Herald(serve_args(site.public, "--header-timeout", HEADER_T, "--body-timeout", BODY_T,
                          "--idle-timeout", IDLE_T), name="short-timeout herald").start()
    yield h
    assert h.stop() == 0, h.log_tail()


def test_slowloris_headers_get_408_after_header_timeout(quick):
    with RawHTTP(quick.port, timeout=10) as c:
        t0 = time.monotonic()
        c.send(b"GET /small.txt HTTP/1.1\r\nHost: e2e\r\n")
        # Keep dribbling header lines: a deadline on the whole head, not an inactivity timer.
        for i in range(40):
            try:
                c.send(b"X-Drip-%d: x\r\n" % i)
            except (BrokenPipeError, ConnectionResetError):
                break
            if not c.is_open_after(0.2) or c.buf:
                break
        r = c.read_response(timeout=5)
        elapsed = time.monotonic() - t0
        assert_json_error(r, 408)
        assert HEADER_T - 0.2 <= elapsed <= HEADER_T + SLACK, elapsed
        assert "close" in (r.header("connection") or "").lower()
        c.wait_closed(3)


def test_partial_request_line_gets_408(quick):
    with RawHTTP(quick.port, timeout=10) as c:
        t0 = time.monotonic()
        c.send(b"GET /sma")
        r = c.read_response(timeout=HEADER_T + SLACK + 1)
        assert_json_error(r, 408)
        assert time.monotonic() - t0 <= HEADER_T + SLACK
        c.wait_closed(3)


def test_silent_new_connection_is_closed(quick):
    # No byte at all: closed after a timeout (a 408 first is allowed, RFC 9110 §15.5.9).
    with RawHTTP(quick.port, timeout=10) as c:
        t0 = time.monotonic()
        data = c.wait_closed(HEADER_T + IDLE_T + SLACK)
        assert time.monotonic() - t0 >= min(HEADER_T, IDLE_T) - 0.2
        assert data == b"" or data.startswith(b"HTTP/1.1 408 "), data[:100]


def test_stalled_body_gets_408(quick):
    with RawHTTP(quick.port, timeout=10) as c:
        c.send(request("POST", "/echo", [("Content-Length", "100")]) + b"0123456789")
        t0 = time.monotonic()
        r = c.read_response(timeout=BODY_T + SLACK + 1)
        elapsed = time.monotonic() - t0
        assert_json_error(r, 408)
        assert BODY_T - 0.2 <= elapsed <= BODY_T + SLACK, elapsed
        c.wait_closed(3)


def test_stalled_chunked_body_gets_408(quick):
    with RawHTTP(quick.port, timeout=10) as c:
        c.send(request("POST", "/echo", [("Transfer-Encoding", "chunked")]) + b"5\r\nhel")
        r = c.read_response(timeout=BODY_T + SLACK + 1)
        assert_json_error(r, 408)
        c.wait_closed(3)


def test_slow_but_moving_body_is_accepted(quick):
    # One byte every half body-timeout, for 3× the body-timeout in total: it keeps moving.
    body = b"abcdef"
    with RawHTTP(quick.port, timeout=15) as c:
        c.send(request("POST", "/echo", [("Content-Length", str(len(body)))]))
        for b in body:
            time.sleep(BODY_T / 2)
            c.send(bytes([b]))
        r = c.read_response()
        assert r.status == 200 and r.body == body


def test_idle_keepalive_connection_is_closed_silently(quick):
    with RawHTTP(quick.port, timeout=10) as c:
        c.send(request("GET", "/small.txt"))
        assert c.read_response().status == 200
        t0 = time.monotonic()
        data = c.wait_closed(IDLE_T + SLACK + 1)
        elapsed = time.monotonic() - t0
        assert data == b"", f"idle close must be silent, got {data[:100]!r}"
        assert IDLE_T - 0.2 <= elapsed <= IDLE_T + SLACK, elapsed


def test_activity_keeps_keepalive_connection_open(quick):
    with RawHTTP(quick.port, timeout=10) as c:
        for _ in range(4):  # 4 × 0.75 IDLE_T > IDLE_T
            c.send(request("GET", "/small.txt"))
            assert c.read_response().status == 200
            time.sleep(IDLE_T * 0.75)
        c.send(request("GET", "/small.txt"))
        assert c.read_response().status == 200


def test_default_header_timeout_is_10_seconds(server):
    # The one test with a default timeout: 10 s of slowloris against the shared server.
    with RawHTTP(server.port, timeout=20) as c:
        t0 = time.monotonic()
        c.send(b"GET /small.txt HTTP/1.1\r\nHost: e2e\r\n")
        r = c.read_response(timeout=10 + SLACK + 2)
        elapsed = time.monotonic() - t0
        assert_json_error(r, 408)
        assert 9.8 <= elapsed <= 10 + SLACK, elapsed
