"""Fixtures: the real `herald` binary on a free port, serving a throwaway copy of test files.

HERALD_BIN selects the binary (scripts/test sets it; default .build/debug/herald).
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
LISTEN_RE = re.compile(r"^listening on (https?)://([0-9.]+|\[[0-9a-f:]+\]|[A-Za-z0-9.-]+):(\d+)$")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0  # the contract: exit 0 within 10 s of SIGTERM


def herald_bin() -> Path:
    p = Path(os.environ.get("HERALD_BIN", ROOT / ".build" / "debug" / "herald"))
    return p if p.is_absolute() else ROOT / p


def _die_with_parent():
    # If pytest itself is killed, its servers must not outlive it (PR_SET_PDEATHSIG = 1).
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


class Herald:
    """One `herald serve` process. Collects stderr in a thread; `port` is parsed from the
    `listening on http://H:P` line."""

    def __init__(self, args: list[str], name: str = "herald"):
        self.args = [str(herald_bin()), *args]
        self.name = name
        self.proc: subprocess.Popen | None = None
        self.stderr_lines: list[str] = []
        self.stdout_lines: list[str] = []
        self.port: int | None = None
        self.host: str | None = None
        self.scheme = "http"  # https with --tls-cert
        self._listening = threading.Event()
        self._eof = threading.Event()

    # -- lifecycle
    def start(self, wait: bool = True, timeout: float = START_TIMEOUT) -> "Herald":
        if not herald_bin().exists():
            pytest.fail(f"herald binary not found at {herald_bin()} (build it, or set HERALD_BIN)")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr_lines, True),
                         daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout_lines, False),
                         daemon=True).start()
        if wait:
            self.wait_listening(timeout)
        return self

    def _pump(self, stream, sink: list[str], is_stderr: bool):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            sink.append(line)
            if is_stderr and self.port is None:
                m = LISTEN_RE.match(line)
                if m:
                    self.scheme, self.host, self.port = m.group(1), m.group(2), int(m.group(3))
                    self._listening.set()
        if is_stderr:
            self._eof.set()

    def wait_listening(self, timeout: float = START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._listening.wait(0.05):
                return
            if self.proc.poll() is not None and self._eof.is_set():
                raise AssertionError(f"{self.name} exited with {self.proc.returncode} before listening:\n"
                                     + self.log_tail())
        self.kill()
        raise AssertionError(f"{self.name} printed no `listening on` line within {timeout}s:\n" + self.log_tail())

    def wait_exit(self, timeout: float) -> int | None:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._eof.wait(2)
        return rc

    def send_signal(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int | None:
        """Sends `sig`, waits up to `timeout`; returns the exit code, or None (then kills)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.send_signal(sig)
        rc = self.wait_exit(timeout)
        if rc is None:
            self.kill()
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    # -- addresses
    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.scheme == 'https' else 'ws'}://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 40) -> str:
        lines = self.stderr_lines[-n:]
        return f"--- {self.name} stderr (last {len(lines)} lines) ---\n" + "\n".join(lines)


def serve_args(public: Path | str, *extra: str, echo: bool = True, port: str = "0") -> list[str]:
    args = ["serve", "--host", "127.0.0.1", "--port", port, "--public", str(public), "--data", ":memory:"]
    if echo:
        args.append("--echo")
    return args + [str(a) for a in extra]


# --------------------------------------------------------------------------- the test site

class Site:
    """A public root with known files, plus a secret file and folder next to it."""

    def __init__(self, base: Path):
        self.base = base
        self.public = base / "public"
        self.secret = base / "secret.txt"
        self.secret_token = "TOP-SECRET-" + os.urandom(8).hex()
        self.files: dict[str, bytes] = {}

    def add(self, rel: str, data: bytes):
        p = self.public / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        self.files[rel] = data

    def build(self) -> "Site":
        self.public.mkdir(parents=True)
        para = ("Herald pushes live progress of long-running tasks to browsers and scripts. " * 3 + "\n")
        self.add("index.html", (
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>e2e index</title>"
            "</head><body>\n<h1>e2e index</h1>\n" + ("<p>" + para + "</p>\n") * 20 + "</body></html>\n").encode())
        self.add("style.css", ("body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 40rem; }\n"
                               * 20).encode())
        self.add("app.js", ("console.log('herald e2e: the quick brown fox jumps over the lazy dog');\n"
                            * 20).encode())
        self.add("data.json", ('{"items": [' + ",".join(f'{{"n": {i}, "name": "item {i}"}}'
                                                        for i in range(40)) + "]}\n").encode())
        self.add("logo.svg", ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
                              + '<circle cx="5" cy="5" r="4" fill="#345"/>' * 12 + "</svg>\n").encode())
        # a real 1×1 PNG header followed by incompressible bytes: ≥ 256 bytes, never gzipped
        self.add("image.png", bytes.fromhex("89504e470d0a1a0a") + os.urandom(2000))
        self.add("small.txt", b"hello from herald e2e\n")        # < 256 bytes: never gzipped
        self.add("notes.txt", (para * 30).encode())               # text/plain, compressible
        self.add("big.bin", os.urandom(5 * 1024 * 1024))          # 5 MiB: sendfile, intact
        self.add("big.txt", ("".join(f"line {i:07d} of a large compressible text file\n"
                                     for i in range(40000))).encode())   # ~1.8 MiB text
        self.add("blob.xyzzy", b"unknown extension\n")
        self.add("space name.txt", b"a file with a space in its name\n")
        self.add("sub/index.html", b"<!doctype html><title>sub</title><p>sub index</p>\n")
        self.add("sub/page.html", b"<!doctype html><title>page</title><p>sub page</p>\n")
        (self.public / "empty-dir").mkdir()                       # no index.html inside
        self.add(".secret", b"dotfile " + self.secret_token.encode() + b"\n")
        self.add(".git/config", b"[core]\n\t" + self.secret_token.encode() + b"\n")
        # outside the root: must never be served
        self.secret.write_bytes(self.secret_token.encode() + b"\n")
        outside = self.base / "outside"
        outside.mkdir()
        (outside / "x.txt").write_bytes(self.secret_token.encode() + b"\n")
        # symlinks leaving the root
        os.symlink(self.secret, self.public / "link-out.txt")
        os.symlink("../secret.txt", self.public / "link-rel.txt")
        os.symlink("/etc/passwd", self.public / "link-passwd")
        os.symlink(outside, self.public / "link-dir")
        return self


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Site:
    return Site(tmp_path_factory.mktemp("site")).build()


@pytest.fixture(scope="session")
def server(site) -> Herald:
    """The shared server: default limits and timeouts, --echo on."""
    h = Herald(serve_args(site.public), name="shared herald").start()
    yield h
    rc = h.stop()
    assert rc == 0, f"shared server exited with {rc} on SIGTERM\n" + h.log_tail()


_started: list[Herald] = []


@pytest.fixture
def herald(site):
    """Factory: `herald("--header-timeout", "1")` starts a dedicated server on the test site;
    `herald(*args, public=..., echo=False, wait=False)` for other setups. Stopped at teardown."""
    mine: list[Herald] = []

    def start(*extra: str, public=None, echo: bool = True, wait: bool = True, raw_args=None,
              name: str = "dedicated herald") -> Herald:
        args = raw_args if raw_args is not None else serve_args(public or site.public, *extra, echo=echo)
        h = Herald(args, name=name)
        mine.append(h)
        _started.append(h)
        return h.start(wait=wait)

    yield start
    problems = []
    for h in mine:
        running = h.proc is not None and h.proc.poll() is None
        rc = h.stop()
        _started.remove(h)
        # A dedicated server must still exit 0 on SIGTERM, or have exited 0 on its own.
        if h.proc is not None and h._listening.is_set() and rc != 0:
            problems.append(f"{h.name} {'exit status on SIGTERM' if running else 'had exited with'} {rc}\n"
                            + h.log_tail())
    if problems:
        pytest.fail("\n".join(problems))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when in ("call", "setup"):
        # Show what the servers said: the dedicated ones of this test, then the shared one.
        sections = [h.log_tail() for h in _started]
        shared = item.funcargs.get("server") if hasattr(item, "funcargs") else None
        if isinstance(shared, Herald):
            sections.append(shared.log_tail(20))
        if sections:
            rep.sections.append(("herald stderr", "\n".join(sections)))


def pytest_collection_modifyitems(config, items):
    # The long Autobahn run goes last so quick failures show first.
    items.sort(key=lambda it: 1 if it.get_closest_marker("autobahn") else 0)


def pytest_configure(config):
    config.addinivalue_line("markers", "autobahn: the Autobahn|Testsuite run (long)")
