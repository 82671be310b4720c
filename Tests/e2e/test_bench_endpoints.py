"""`--bench`: WebSocket `/sub/<topic>` and `POST /pub/<topic>` (the contract's bench protocol,
what ../shared/bench drives), with python `websockets` and curl against the real binary."""

from __future__ import annotations

import subprocess

import pytest
import websockets.sync.client as wsc

from tasks_support import own_server, task_serve_args


def publish(port: int, topic: str, body: bytes) -> int:
    run = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "--data-binary", "@-",
                          f"http://127.0.0.1:{port}/pub/{topic}"], input=body, capture_output=True, check=True)
    return int(run.stdout)


@pytest.fixture
def bench(site):
    with own_server(task_serve_args(site.public, ":memory:", "--bench")) as h:
        yield h


def test_a_published_body_reaches_every_subscriber_of_its_topic_verbatim(bench):
    url = f"ws://127.0.0.1:{bench.port}/sub"
    with wsc.connect(f"{url}/t1") as a, wsc.connect(f"{url}/t1") as b, wsc.connect(f"{url}/t2") as other:
        body = '{"n":1,"text":"héllo"} @@123'.encode()
        assert publish(bench.port, "t1", body) == 202
        assert a.recv(timeout=5) == body.decode() and b.recv(timeout=5) == body.decode()
        with pytest.raises(TimeoutError):
            other.recv(timeout=0.3)
        for n in range(50):  # in order, none lost
            assert publish(bench.port, "t2", f"m{n}".encode()) == 202
        assert [other.recv(timeout=5) for _ in range(50)] == [f"m{n}" for n in range(50)]
    # A topic nobody listens to is fine too.
    assert publish(bench.port, "nobody", b"x") == 202


def test_bad_bench_requests_get_clear_errors(bench):
    assert publish(bench.port, "t" * 256, b"x") == 202          # at the limit
    assert publish(bench.port, "t" * 257, b"x") == 400          # one past it
    assert publish(bench.port, "", b"x") == 400
    assert publish(bench.port, "a/b", b"x") == 400
    assert publish(bench.port, "t1", b"\xff\xfe") == 400         # not UTF-8: cannot be a text frame
    run = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{bench.port}/pub/t1"],
                         capture_output=True, text=True, check=True)
    assert run.stdout == "405"


def test_without_the_flag_there_are_no_bench_endpoints(site):
    with own_server(task_serve_args(site.public, ":memory:")) as h:
        assert publish(h.port, "t1", b"x") == 405  # a static path: GET and HEAD only
        run = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{h.port}/sub/t1"],
                             capture_output=True, text=True, check=True)
        assert run.stdout == "404"
