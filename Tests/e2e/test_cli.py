"""The command line: help, the `listening on` line, start-up errors, signals."""

import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import Herald, herald_bin, serve_args
from support import http_once

SERVE_OPTIONS = ["--host", "--port", "--public", "--data", "--echo", "--log-level", "--header-timeout",
                 "--body-timeout", "--idle-timeout", "--ping-interval", "--pong-timeout", "--max-body",
                 "--max-message"]


def run(*args, timeout=15):
    return subprocess.run([str(herald_bin()), *args], capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def nonempty_lines(text: bytes) -> list[str]:
    return [l for l in text.decode(errors="replace").splitlines() if l.strip()]


def test_help_exits_zero_and_names_serve():
    p = run("--help")
    assert p.returncode == 0, p.stderr
    assert "serve" in (p.stdout + p.stderr).decode()


def test_serve_help_lists_every_option():
    p = run("serve", "--help")
    assert p.returncode == 0, p.stderr
    text = (p.stdout + p.stderr).decode()
    missing = [o for o in SERVE_OPTIONS if o not in text]
    assert not missing, f"serve --help does not mention {missing}"


def test_listening_line_appears_exactly_once_with_the_real_port(server):
    exact = [l for l in server.stderr_lines if re.fullmatch(r"listening on http://127\.0\.0\.1:\d+", l)]
    assert exact == [f"listening on http://127.0.0.1:{server.port}"], server.log_tail()
    assert server.port != 0
    assert http_once(server.port, "GET", "/healthz").status == 200


def test_port_in_use_fails_with_one_clear_line(site):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = run(*serve_args(site.public, port=str(port)))
    assert p.returncode != 0
    lines = nonempty_lines(p.stderr)
    assert len(lines) == 1, f"expected one stderr line, got {lines}"
    assert str(port) in lines[0] or "in use" in lines[0].lower(), lines[0]
    assert "listening on" not in p.stderr.decode()


def test_missing_public_dir_fails_with_one_clear_line(tmp_path):
    missing = tmp_path / "no-such-dir"
    p = run(*serve_args(missing))
    assert p.returncode != 0
    lines = nonempty_lines(p.stderr)
    assert len(lines) == 1, f"expected one stderr line, got {lines}"
    assert str(missing) in lines[0], lines[0]


@pytest.mark.parametrize("bad", [["--port", "http"], ["--port", "70000"], ["--log-level", "loud"],
                                 ["--header-timeout", "soon"], ["--max-body", "-1"]])
def test_invalid_option_values_are_refused(site, bad):
    p = run(*serve_args(site.public), *bad)
    assert p.returncode != 0, f"{bad} accepted"
    assert p.stderr.strip(), "no explanation on stderr"


def test_sigint_exits_zero(herald):
    h = herald()
    t0 = time.monotonic()
    rc = h.stop(signal.SIGINT)
    assert rc == 0, h.log_tail()
    assert time.monotonic() - t0 < 10


def test_sigterm_idle_server_exits_zero_quickly(herald):
    h = herald()
    t0 = time.monotonic()
    assert h.stop(signal.SIGTERM) == 0, h.log_tail()
    assert time.monotonic() - t0 < 3, "an idle server should not need the whole grace period"


def test_decimal_durations_and_log_level_are_accepted(herald):
    h = herald("--header-timeout", "2.5", "--body-timeout", "0.75", "--idle-timeout", "30.5",
               "--ping-interval", "12.5", "--pong-timeout", "4.25", "--log-level", "debug",
               "--max-body", "2048", "--max-message", "4096")
    assert http_once(h.port, "GET", "/healthz").status == 200
