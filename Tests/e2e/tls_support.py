"""A throwaway test CA and server certificates (openssl req/x509), and TLS client helpers.

Certificates are for `localhost` and 127.0.0.1, ECDSA P-256; each has a known serial, so a test
can tell which one a server presented (the SIGHUP reload).
"""

from __future__ import annotations

import base64
import hashlib
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args: str, cwd: Path):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@dataclass
class ServerCert:
    cert: Path
    key: Path
    serial: int

    @property
    def spki_sha256_base64(self) -> str:
        """For Chromium's --ignore-certificate-errors-spki-list: trust exactly this key."""
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-pubkey", "-noout"],
                             check=True, capture_output=True).stdout
        pub = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=der,
                             check=True, capture_output=True).stdout
        return base64.b64encode(hashlib.sha256(pub).digest()).decode()


class LocalCA:
    def __init__(self, directory: Path):
        self.dir = directory
        self.cert = directory / "ca.pem"
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Herald test CA", cwd=directory)
        (directory / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")

    def issue(self, name: str, serial: int) -> ServerCert:
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", "/CN=localhost", cwd=self.dir)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-set_serial", str(serial), "-days", "2", "-extfile", "san.ext", "-out", f"{name}.pem", cwd=self.dir)
        return ServerCert(self.dir / f"{name}.pem", self.dir / f"{name}.key", serial)

    def context(self, alpn: list[str] | None = None, max_version=None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.cert))
        if alpn is not None:
            ctx.set_alpn_protocols(alpn)
        if max_version is not None:
            ctx.maximum_version = max_version
        return ctx


def tls_connect(ctx: ssl.SSLContext, port: int, session=None, timeout: float = 5.0) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname="localhost", session=session)


def get(sock: ssl.SSLSocket, path: str = "/healthz") -> bytes:
    """One keep-alive request; the whole response (Content-Length framed)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return head + b"\r\n\r\n" + body


def session_ticket(ctx: ssl.SSLContext, port: int):
    """A session with its ticket: TLS 1.3 sends tickets after the handshake, so read a response first."""
    s = tls_connect(ctx, port)
    get(s)
    session = s.session
    s.close()
    return session
