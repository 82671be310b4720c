"""TLS (--tls-cert/--tls-key) with real clients: curl, Python ssl and websockets, Node ws,
Chromium, openssl s_client and the herald CLI; bad input (garbage, stalls, renegotiation, old
versions); SIGHUP reload; session resumption, across --workers too."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import herald_bin
from tls_support import LocalCA, get, session_ticket, tls_connect


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return LocalCA(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def first(ca):
    return ca.issue("first", 0x1001)


@pytest.fixture(scope="module")
def second(ca):
    return ca.issue("second", 0x2002)


def tls_args(cert, *extra):
    return ("--tls-cert", str(cert.cert), "--tls-key", str(cert.key), *extra)


@pytest.fixture
def tls_server(herald, first):
    return herald(*tls_args(first))


def curl(*args, timeout=20):
    return subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=timeout)


def test_ready_line_says_https(tls_server):
    assert f"listening on https://127.0.0.1:{tls_server.port}" in tls_server.stderr_lines


def test_curl_with_cacert_http_static_and_keep_alive(tls_server, ca, site):
    base = f"https://localhost:{tls_server.port}"
    out = os.path.join(os.path.dirname(ca.cert), "big.out")
    p = curl("-v", "--cacert", str(ca.cert), f"{base}/healthz", "-o", os.devnull, f"{base}/big.bin", "-o", out)
    err = p.stderr.decode()
    assert p.returncode == 0, err
    assert open(out, "rb").read() == site.files["big.bin"]          # 5 MiB through SSL_write records
    assert "Re-using existing connection" in err or "Reusing existing" in err, err   # keep-alive over TLS
    assert "ALPN: server accepted http/1.1" in err or "ALPN, server accepted to use http/1.1" in err, err


def test_slow_reader_gets_every_byte_of_a_big_file(tls_server, ca, site):
    """The socket fills: SSL_write wants a write, and the same record is retried later."""
    with tls_connect(ca.context(), tls_server.port, timeout=20) as s:
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = b""
        pauses = 0
        while b"hello from herald e2e" not in data[-200:]:
            if len(data) >= (pauses + 1) * 1_000_000 and pauses < 4:
                pauses += 1
                time.sleep(0.5)                          # the socket buffers fill meanwhile
            chunk = s.recv(7000)                         # small reads: many partial records
            assert chunk, len(data)
            data += chunk
    first, _, rest = data.partition(b"\r\n\r\n")
    assert rest[:len(site.files["big.bin"])] == site.files["big.bin"]
    assert rest.endswith(site.files["small.txt"])


def test_certificate_is_verified(tls_server):
    """Without the test CA curl must refuse: the server really presents a chain to verify."""
    p = curl(f"https://localhost:{tls_server.port}/healthz")
    assert p.returncode == 60, p.stderr.decode()


def test_tls12_works_and_tls11_is_refused(tls_server, ca):
    base = f"https://localhost:{tls_server.port}/healthz"
    assert curl("--cacert", str(ca.cert), "--tls-max", "1.2", base).returncode == 0
    p = curl("--cacert", str(ca.cert), "--tlsv1.1", "--tls-max", "1.1", base)
    assert p.returncode == 35 and "protocol version" in p.stderr.decode(), p.stderr.decode()
    with tls_connect(ca.context(max_version=ssl.TLSVersion.TLSv1_2), tls_server.port) as s:
        assert s.version() == "TLSv1.2" and s.cipher()[0].startswith("ECDHE-")
        assert b" 200 " in get(s)


def test_alpn(tls_server, ca):
    with tls_connect(ca.context(alpn=["h2", "http/1.1"]), tls_server.port) as s:
        assert s.selected_alpn_protocol() == "http/1.1"
    with tls_connect(ca.context(), tls_server.port) as s:                 # no ALPN at all: fine
        assert s.selected_alpn_protocol() is None and b" 200 " in get(s)
    with pytest.raises(ssl.SSLError, match="no application protocol"):    # RFC 7301 3.2
        tls_connect(ca.context(alpn=["h2"]), tls_server.port)


def test_garbage_hello_gets_an_alert_and_harms_no_one(tls_server, ca):
    for garbage in (b"\x16\x03\x01\x00\x05hello" + bytes(50), os.urandom(3000)):
        answer = _whole_answer(tls_server.port, garbage, "an alert and FIN")
        assert answer == b"" or answer[:1] == b"\x15", answer      # an alert record, or nothing
    assert b"\x15\x03\x03\x00\x02\x02\x0a" in _first_answer(tls_server.port, b"\x16\x03\x01\x00\x05hello" + bytes(50))
    with tls_connect(ca.context(), tls_server.port) as s:
        assert b" 200 " in get(s)


def test_plain_http_to_the_tls_port_gets_a_400_that_says_why(tls_server, ca):
    for request in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
                    b"CONNECT example.com:443 HTTP/1.1\r\n\r\n"):
        answer = _whole_answer(tls_server.port, request, "the 400 and FIN")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), answer
        assert json.loads(body)["error"]["code"] == "tls_required"
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{tls_server.port}/"],
                         capture_output=True, text=True, timeout=10)
    assert out.stdout == "400"
    with tls_connect(ca.context(), tls_server.port) as s:   # and the port still speaks TLS
        assert b" 200 " in get(s)


def _whole_answer(port, data, expected):
    """Everything the server sends back to raw `data` until its FIN; an RST fails the test."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(data)
    answer = b""
    try:
        while chunk := s.recv(1000):
            answer += chunk
    except ConnectionResetError:
        pytest.fail(f"RST instead of {expected} for {data[:20]!r}")
    finally:
        s.close()
    return answer


def _first_answer(port, data):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(data)
    answer = s.recv(100)
    s.close()
    return answer


def test_stalled_handshake_is_closed_by_header_timeout(herald, first, ca):
    h = herald(*tls_args(first, "--header-timeout", "1"))
    stalled = socket.create_connection(("127.0.0.1", h.port), timeout=5)
    stalled.sendall(b"\x16\x03\x01\x02\x00")            # a record header, then nothing
    silent = socket.create_connection(("127.0.0.1", h.port), timeout=5)
    started = time.monotonic()
    with tls_connect(ca.context(), h.port) as s:         # another client is served meanwhile
        assert b" 200 " in get(s)
    for sock in (stalled, silent):
        assert sock.recv(100) == b""
    assert 0.8 < time.monotonic() - started < 4
    with tls_connect(ca.context(), h.port) as s:
        assert b" 200 " in get(s)
        metrics = get(s, "/metrics").decode()
    assert 'herald_tls_handshakes_total{result="failed"} 2' in metrics, metrics
    assert 'herald_tls_handshakes_total{result="full"} 2' in metrics, metrics


def test_renegotiation_is_refused(tls_server, ca):
    p = subprocess.run(
        f"(sleep 1; printf 'R\\n'; sleep 2) | openssl s_client -tls1_2 -connect 127.0.0.1:{tls_server.port} "
        f"-CAfile {ca.cert} -servername localhost", shell=True, capture_output=True, timeout=20)
    out = p.stdout.decode() + p.stderr.decode()
    assert "RENEGOTIATING" in out and "no renegotiation" in out, out
    with tls_connect(ca.context(), tls_server.port) as s:
        assert b" 200 " in get(s)


def test_session_resumption(tls_server, ca):
    for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        ctx = ca.context(max_version=version)
        session = session_ticket(ctx, tls_server.port)
        with tls_connect(ctx, tls_server.port, session=session) as s:
            assert s.session_reused, version
            assert b" 200 " in get(s)


def test_resumption_across_workers(herald, first, ca, tmp_path):
    """Tickets sealed by one worker open on another (one key set from the supervisor). With 2
    SO_REUSEPORT workers, 16 resumptions all landing on the issuing worker has odds 2^-16."""
    h = herald(*tls_args(first), "--workers", "2", "--data", str(tmp_path / "data"))
    assert h.scheme == "https"
    ctx = ca.context()
    session = session_ticket(ctx, h.port)
    for _ in range(16):
        with tls_connect(ctx, h.port, session=session) as s:
            assert s.session_reused
            assert b" 200 " in get(s)


def test_sighup_reloads_the_certificate_and_keeps_open_connections(herald, first, second, ca, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    shutil.copy(first.cert, cert)
    shutil.copy(first.key, key)
    h = herald("--tls-cert", str(cert), "--tls-key", str(key))

    def serial():
        with tls_connect(ca.context(), h.port) as s:
            return int(s.getpeercert()["serialNumber"], 16)

    async def scenario():
        import websockets
        async with websockets.connect(f"wss://localhost:{h.port}/echo", ssl=ca.context()) as ws:
            await ws.send("before")
            assert await ws.recv() == "before"
            assert serial() == first.serial
            shutil.copy(second.cert, cert)
            shutil.copy(second.key, key)
            h.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 5
            while serial() != second.serial:
                assert time.monotonic() < deadline, h.log_tail()
                await asyncio.sleep(0.05)
            await ws.send("after")                      # the open WebSocket goes on
            assert await ws.recv() == "after"
            cert.write_text("not a certificate\n")      # a bad one: logged, the current one stays
            h.send_signal(signal.SIGHUP)
            await asyncio.sleep(0.5)
            assert serial() == second.serial
            assert any("kept the previous TLS certificate" in l for l in h.stderr_lines), h.log_tail()
            await ws.send("still")
            assert await ws.recv() == "still"

    asyncio.run(scenario())
    assert h.proc.poll() is None


def test_python_websockets_over_wss_get_task_events(tls_server, ca):
    cli = [str(herald_bin()), "task"]
    server = ["--server", f"https://localhost:{tls_server.port}", "--cacert", str(ca.cert)]

    async def scenario():
        import websockets
        url = f"wss://localhost:{tls_server.port}/ws?topic=task:wss1"
        async with websockets.connect(url, ssl=ca.context()) as ws:
            json.loads(await ws.recv())                    # the snapshot
            p = subprocess.run(cli + ["create", "--id", "wss1", "--title", "over TLS", *server], capture_output=True)
            assert p.returncode == 0, p.stderr.decode()
            event = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert event.get("task", {}).get("id") == "wss1" or "wss1" in json.dumps(event), event

    asyncio.run(scenario())


def test_cli_needs_the_ca_and_watch_works_over_tls(tls_server, ca):
    bin_ = str(herald_bin())
    url = f"https://127.0.0.1:{tls_server.port}"                 # an IP address: checked against the IP SAN
    p = subprocess.run([bin_, "task", "create", "--title", "x", "--server", url], capture_output=True, timeout=20)
    assert p.returncode == 1 and "certificate verify failed" in p.stderr.decode(), p.stderr.decode()
    watch = subprocess.Popen([bin_, "watch", "--plain", "--topic", "task:cli1", "--server", url, "--cacert", str(ca.cert)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(1)
        for args in (["create", "--id", "cli1", "--title", "x"], ["start", "cli1"], ["progress", "cli1", "--done", "3"]):
            p = subprocess.run([bin_, "task", *args, "--server", url, "--cacert", str(ca.cert)], capture_output=True, timeout=20)
            assert p.returncode == 0, p.stderr.decode()
        time.sleep(1)
    finally:
        watch.terminate()
    out = watch.communicate(timeout=10)[0].decode()
    assert "task=cli1 event=progress" in out, out


def test_node_ws_over_wss(tls_server, ca):
    from test_node_ws import CLIENT
    node = shutil.which("node")
    assert node, "node is not installed (scripts/test installs it)"
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=str(ca.cert))
    env.setdefault("NODE_PATH", "/usr/share/nodejs")
    p = subprocess.run([node, str(CLIENT), f"wss://localhost:{tls_server.port}/echo"], capture_output=True, timeout=60, env=env)
    events = [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]
    assert p.returncode == 0, (events, p.stderr.decode()[-2000:])
    assert sum(1 for e in events if e["event"] == "echo" and e["ok"]) == 11   # up to 1 MiB messages
    assert events[-1]["event"] == "close" and events[-1]["code"] == 1000, events[-1]


def test_chromium_over_https_and_wss(tls_server, first):
    from dashboard_support import make_browser
    # Trust exactly this certificate's key; curl and Python above prove the chain is verified.
    d = make_browser(extra_args=(f"--ignore-certificate-errors-spki-list={first.spki_sha256_base64}",))
    try:
        d.get(f"https://localhost:{tls_server.port}/index.html")
        assert d.title == "e2e index"
        echoed = d.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const ws = new WebSocket(location.origin.replace('https', 'wss') + '/echo');
            ws.onopen = () => ws.send('from chromium');
            ws.onmessage = (e) => { done(e.data); ws.close(); };
            ws.onerror = () => done('error');""")
        assert echoed == "from chromium"
    finally:
        d.quit()
