"""Clients for the end-to-end tests: a raw HTTP/1.1 connection, a raw WebSocket peer, curl.

Raw sockets are used where curl or a WebSocket library would hide what is on the wire
(pipelining, malformed requests, limits byte for byte, server pings).
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import os
import re
import select
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field

CRLF = b"\r\n"
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# --------------------------------------------------------------------------- HTTP responses

@dataclass
class Response:
    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    raw_head: bytes = b""

    def header(self, name: str) -> str | None:
        """The last value of a header (case-insensitive), or None."""
        name = name.lower()
        found = None
        for k, v in self.headers:
            if k.lower() == name:
                found = v
        return found

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body.decode("utf-8"))


def parse_head(raw: bytes) -> Response:
    lines = raw.split(CRLF)
    m = re.match(rb"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
    assert m, f"bad status line {lines[0]!r}"
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        assert sep, f"bad header line {line!r}"
        assert name == name.strip(), f"whitespace around header name {line!r}"
        headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
    return Response(int(m.group(2)), (m.group(3) or b"").decode("latin-1"),
                    m.group(1).decode(), headers, raw_head=raw)


class Closed(Exception):
    """The peer closed the connection (EOF or reset) before the expected bytes arrived."""


class RawHTTP:
    """One TCP connection spoken to byte by byte."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0, rcvbuf: int | None = None,
                 source: str | None = None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if source:
            # Another loopback address (127.0.0.2 …) is another client address to the server.
            self.sock.bind((source, 0))
        if rcvbuf:
            # Before connect: shrinking the buffer of an established connection makes Linux
            # fall back to zero-window probes, and the transfer crawls for minutes.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = bytearray()
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data: bytes | str):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> None:
        if self.eof:
            raise Closed("connection closed")
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out waiting for the server")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout as e:
            raise TimeoutError("timed out waiting for the server") from e
        except (ConnectionResetError, BrokenPipeError) as e:
            self.eof = True
            raise Closed("connection reset") from e
        if not chunk:
            self.eof = True
            raise Closed("connection closed")
        self.buf += chunk

    def read_until(self, marker: bytes, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (timeout or self.timeout)
        while marker not in self.buf:
            self._fill(deadline)
        i = self.buf.index(marker) + len(marker)
        return self._take(i)

    def _take(self, n: int) -> bytes:
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_exact(self, n: int, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            self._fill(deadline)
        return self._take(n)

    def read_to_eof(self, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while True:
                self._fill(deadline)
        except Closed:
            pass
        return self._take(len(self.buf))

    def read_head(self, timeout: float | None = None) -> Response:
        raw = self.read_until(CRLF + CRLF, timeout)
        return parse_head(raw[:-4])

    def read_response(self, method: str = "GET", timeout: float | None = None) -> Response:
        """Reads one response; skips nothing (a 100 Continue is returned as such)."""
        deadline_timeout = timeout or self.timeout
        r = self.read_head(deadline_timeout)
        if method == "HEAD" or 100 <= r.status < 200 or r.status in (204, 304):
            return r
        te = (r.header("transfer-encoding") or "").lower()
        if "chunked" in te:
            body = b""
            while True:
                size_line = self.read_until(CRLF, deadline_timeout)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.read_until(CRLF, deadline_timeout) != CRLF:
                        pass
                    break
                body += self.read_exact(size, deadline_timeout)
                assert self.read_exact(2, deadline_timeout) == CRLF
            r.body = body
        elif r.header("content-length") is not None:
            r.body = self.read_exact(int(r.header("content-length")), deadline_timeout)
        else:
            r.body = self.read_to_eof(deadline_timeout)
        return r

    def wait_closed(self, timeout: float = 5.0) -> bytes:
        """Waits for EOF/reset and returns whatever arrived first; TimeoutError if still open."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
        except Closed:
            return self._take(len(self.buf))

    def is_open_after(self, seconds: float) -> bool:
        """True when nothing (no byte, no EOF) arrives within `seconds`."""
        r, _, _ = select.select([self.sock], [], [], seconds)
        if not r:
            return True
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            self.eof = True
            return False
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True


def request(method: str, target: str, headers: list[tuple[str, str]] | None = None,
            body: bytes = b"", host: str = "e2e", version: str = "HTTP/1.1",
            content_length: bool | None = None) -> bytes:
    """Builds request bytes. Host comes first unless `host` is None; Content-Length is added
    for a non-empty body unless the caller passes one or sets content_length=False."""
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    names = {k.lower() for k, _ in headers or []}
    for k, v in headers or []:
        lines.append(f"{k}: {v}")
    if (content_length is None and body and "content-length" not in names
            and "transfer-encoding" not in names) or content_length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def http_once(port: int, method: str, target: str, headers=None, body: bytes = b"",
              timeout: float = 10.0) -> Response:
    with RawHTTP(port, timeout=timeout) as c:
        c.send(request(method, target, headers, body))
        return c.read_response(method)


def chunked(body: bytes, size: int = 1000) -> bytes:
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x\r\n" % len(part) + part + CRLF
    return out + b"0\r\n\r\n"


# --------------------------------------------------------------------------- assertions

SERVER_RE = re.compile(r"^herald/\S+$")


def assert_common_headers(r: Response, *, content_length: bool = True):
    """Every response: Date (IMF-fixdate, now), Server: herald/<version>, Content-Length."""
    date = r.header("date")
    assert date, f"no Date header in {r.status} response"
    assert re.match(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                    r"\d{4} \d\d:\d\d:\d\d GMT$", date), f"Date is not an IMF-fixdate: {date!r}"
    ts = email.utils.parsedate_to_datetime(date).timestamp()
    assert abs(ts - time.time()) < 5, f"Date is not now: {date}"
    server = r.header("server")
    assert server and SERVER_RE.match(server), f"Server header {server!r}"
    assert len(r.header_values("date")) == 1 and len(r.header_values("server")) == 1
    if content_length:
        assert r.header("content-length") is not None, f"no Content-Length in {r.status} response"
        assert len(r.header_values("content-length")) == 1


def assert_json_error(r: Response, status: int, code: str | set[str] | None = None):
    """The contract's error shape: {"error":{"code":"snake_case","message":"…"}}."""
    assert r.status == status, f"expected {status}, got {r.status} {r.body[:200]!r}"
    ctype = (r.header("content-type") or "").split(";")[0].strip()
    assert ctype == "application/json", f"error Content-Type {r.header('content-type')!r}"
    doc = r.json()
    assert set(doc) == {"error"}, doc
    err = doc["error"]
    assert isinstance(err.get("code"), str) and re.match(r"^[a-z][a-z0-9_]*$", err["code"]), err
    assert isinstance(err.get("message"), str) and err["message"], err
    if isinstance(code, str):
        assert err["code"] == code, err
    elif code is not None:
        assert err["code"] in code, err
    return err


# --------------------------------------------------------------------------- curl

@dataclass
class CurlResult:
    status: int
    headers: list[tuple[str, str]]     # of the final response
    body: bytes
    stderr: str
    blocks: list[Response] = field(default_factory=list)  # every response head (100, then final)

    def header(self, name: str) -> str | None:
        return Response(self.status, "", "", self.headers).header(name)


def curl(url: str, *args: str, timeout: float = 30.0, tmpdir: str | None = None,
         check: bool = True) -> CurlResult:
    """Runs curl; returns the final status, its headers and the (decoded with --compressed) body."""
    import tempfile
    with tempfile.TemporaryDirectory(dir=tmpdir) as d:
        hfile, bfile = os.path.join(d, "h"), os.path.join(d, "b")
        cmd = ["curl", "-sS", "--max-time", str(timeout), "-D", hfile, "-o", bfile, *args, url]
        p = subprocess.run(cmd, capture_output=True, timeout=timeout + 10)
        if check:
            assert p.returncode == 0, f"curl failed ({p.returncode}): {p.stderr.decode(errors='replace')}"
        raw = open(hfile, "rb").read() if os.path.exists(hfile) else b""
        body = open(bfile, "rb").read() if os.path.exists(bfile) else b""
    blocks = [parse_head(b.strip(b"\r\n")) for b in raw.split(CRLF + CRLF) if b.strip()]
    final = blocks[-1] if blocks else Response(0, "", "", [])
    return CurlResult(final.status, final.headers, body, p.stderr.decode(errors="replace"), blocks)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- raw WebSocket

@dataclass
class Frame:
    fin: bool
    opcode: int
    payload: bytes
    masked: bool = False
    rsv1: bool = False  # permessage-deflate's "compressed" bit (RFC 7692 §6)

    @property
    def close_code(self) -> int | None:
        if self.opcode != 0x8 or len(self.payload) < 2:
            return None
        return struct.unpack("!H", self.payload[:2])[0]


def encode_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, mask: bool = True,
                 rsv: int = 0) -> bytes:
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + _xor(payload, key)


def _xor(data: bytes, key: bytes) -> bytes:
    # One big-integer XOR: fast enough for 16 MiB in CPython.
    kk = (key * (len(data) // 4 + 1))[:len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(kk, "big")).to_bytes(len(data), "big")


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode()


def ws_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def ws_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


class RawWS(RawHTTP):
    """A WebSocket peer that does exactly what it is told: no automatic pongs, no masking checks."""

    @classmethod
    def connect(cls, port: int, path: str = "/echo", extra_headers=None, timeout: float = 10.0) -> "RawWS":
        ws = cls(port, timeout=timeout)
        key = ws_key()
        headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                   ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]
        ws.send(request("GET", path, headers + list(extra_headers or [])))
        r = ws.read_head()
        assert r.status == 101, f"handshake answered {r.status}"
        assert r.header("sec-websocket-accept") == ws_accept(key)
        assert (r.header("upgrade") or "").lower() == "websocket"
        assert "upgrade" in (r.header("connection") or "").lower()
        ws.handshake = r
        return ws

    def send_frame(self, opcode: int, payload: bytes = b"", **kw):
        self.send(encode_frame(opcode, payload, **kw))

    def recv_frame(self, timeout: float | None = None) -> Frame:
        t = timeout or self.timeout
        b0, b1 = self.read_exact(2, t)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.read_exact(2, t))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.read_exact(8, t))[0]
        masked = bool(b1 & 0x80)
        key = self.read_exact(4, t) if masked else b""
        payload = self.read_exact(n, t)
        if masked:
            payload = _xor(payload, key)
        return Frame(bool(b0 & 0x80), b0 & 0x0F, payload, masked, bool(b0 & 0x40))

    def recv_message(self, timeout: float | None = None) -> tuple[int, bytes]:
        """Reassembles one data message (answers nothing, skips no control frame)."""
        f = self.recv_frame(timeout)
        op, data = f.opcode, f.payload
        while not f.fin:
            f = self.recv_frame(timeout)
            assert f.opcode == 0, f"expected continuation, got {f.opcode}"
            data += f.payload
        return op, data
