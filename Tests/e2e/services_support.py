"""Real Debian services for the examples' end-to-end tests (test_example_rq.py,
test_example_nginx.py): a private `redis-server` and a private `nginx`, each on a free loopback
port with its config, data, pid and logs in a directory of the test's own, started as a child
of pytest and stopped by its PID (never the system service, never by name).

scripts/test installs Debian's redis-server and nginx when they are missing; a missing binary
fails the test (nothing here skips).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import _die_with_parent
from tasks_support import free_port


def binary(name: str) -> str:
    for p in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if p and os.path.exists(p):
            return p
    pytest.fail(f"{name} not found (scripts/test installs Debian's {name})")


def version_of(name: str) -> str:
    """`redis-server 7.0.15`, `nginx 1.22.1`: what the binary itself says."""
    if name == "nginx":
        out = subprocess.run([binary("nginx"), "-v"], capture_output=True, text=True, timeout=10)
        m = re.search(r"nginx/(\S+)", out.stderr + out.stdout)
    else:
        out = subprocess.run([binary(name), "--version"], capture_output=True, text=True, timeout=10)
        m = re.search(r"v=(\S+)", out.stdout)
    return f"{name} {m.group(1) if m else '?'}"


def show_versions(capsys, *parts: str):
    """One `[versions] …` line in the test output, also when pytest captures output."""
    with capsys.disabled():
        print(f"\n[versions] {', '.join(parts)}", flush=True)


class _Proc:
    """A child process whose output is collected by a thread (for failure reports)."""

    name = "process"

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []

    def _spawn(self, args: list[str], **kw):
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, preexec_fn=_die_with_parent, **kw)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for raw in iter(self.proc.stdout.readline, b""):
            self.lines.append(raw.decode("utf-8", "replace").rstrip())

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Signals our own child by PID and waits; SIGKILL when it does not go in time."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            return None

    def log_tail(self, n: int = 30) -> str:
        return f"--- {self.name} output (last {min(n, len(self.lines))} lines) ---\n" + "\n".join(self.lines[-n:])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- redis-server

class RedisServer(_Proc):
    """`redis-server` on 127.0.0.1:<free port>, nothing persisted, files in `base`."""

    name = "redis-server"

    def __init__(self, base: Path):
        super().__init__()
        self.base = Path(base)
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> "RedisServer":
        self.base.mkdir(parents=True, exist_ok=True)
        for _ in range(3):                       # a free port can be taken between look and bind
            self.port = free_port()
            self.lines.clear()
            self._spawn([binary("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
                         "--dir", str(self.base), "--save", "", "--appendonly", "no",
                         "--daemonize", "no", "--protected-mode", "yes", "--logfile", "",
                         "--pidfile", str(self.base / "redis.pid")])
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.alive():
                if self.ping():
                    return self
                time.sleep(0.05)
            self.stop(signal.SIGKILL)
            if not any("Address already in use" in line for line in self.lines):
                break
        raise AssertionError("redis-server did not answer PING\n" + self.log_tail())

    def command(self, *args: str, timeout: float = 5.0) -> bytes:
        """One command in RESP; the raw first reply line (enough for PING and simple replies)."""
        payload = f"*{len(args)}\r\n".encode() + b"".join(
            f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(payload)
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data

    def ping(self) -> bool:
        try:
            return self.command("PING", timeout=1.0).startswith(b"+PONG")
        except OSError:
            return False


# --------------------------------------------------------------------------- nginx

class Nginx(_Proc):
    """Debian's nginx in the foreground (`-g 'daemon off;'`) with a config of the test's own in
    `base` (prefix, pid, logs and temp dirs there too)."""

    name = "nginx"

    def __init__(self, base: Path, config_text: str, port: int):
        super().__init__()
        self.base = Path(base)
        self.config_text = config_text
        self.port = port

    @property
    def conf(self) -> Path:
        return self.base / "nginx.conf"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> "Nginx":
        self.base.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(self.config_text)
        args = [binary("nginx"), "-p", str(self.base), "-e", "stderr", "-c", str(self.conf)]
        check = subprocess.run([*args, "-t"], capture_output=True, text=True, timeout=20)
        assert check.returncode == 0, f"nginx -t refused the config:\n{check.stderr}\n{self.config_text}"
        self._spawn([*args, "-g", "daemon off;"])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"nginx exited with {self.proc.returncode}\n" + self.log_tail())
            if _port_open(self.port):
                return self
            time.sleep(0.05)
        raise AssertionError(f"nginx did not listen on {self.port} within {timeout}s\n" + self.log_tail())

    def stop(self, sig=signal.SIGQUIT, timeout: float = 10.0) -> int | None:
        # SIGQUIT: graceful shutdown of the master and its workers (the master waits for them).
        return super().stop(sig, timeout)

    def access_log(self) -> list[str]:
        p = self.base / "access.log"
        return p.read_text().splitlines() if p.exists() else []


def substitute(text: str, pattern: str, replacement: str, count: int = 1) -> str:
    """re.sub that insists the example still has exactly `count` matches, so a changed example
    fails the test instead of silently running another config."""
    new, n = re.subn(pattern, replacement, text, flags=re.M)
    assert n == count, f"the example should have {count} match(es) of {pattern!r}, has {n}"
    return new
