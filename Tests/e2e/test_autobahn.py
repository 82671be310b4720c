"""Autobahn|Testsuite (RFC 6455 conformance) against /echo, via ../shared/autobahn/run.sh.

All 517 cases: the protocol cases 1.*–10.* (301) and the permessage-deflate cases 12.*/13.*
(216, the slow part: the whole run took 688 s on the shared 2-core machine, debug build). run.sh exits 0 only when every case ran and none FAILED; UNIMPLEMENTED
(a compression case the server declined) fails here too.
scripts/test runs ../shared/autobahn/setup.sh first; AUTOBAHN_HOME points at .build-autobahn.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, Herald, serve_args

SHARED = Path(os.environ.get("HERALD_SHARED", ROOT.parent / "shared"))
RUN_SH = SHARED / "autobahn" / "run.sh"
AUTOBAHN_HOME = Path(os.environ.get("AUTOBAHN_HOME", ROOT / ".build-autobahn"))
REPORT_DIR = Path(os.environ.get("HERALD_REPORTS", ROOT / "reports")) / "autobahn"
RUN_TIMEOUT = 1800


@pytest.mark.autobahn
@pytest.mark.timeout(RUN_TIMEOUT + 300)
def test_autobahn_all_cases_pass(site):
    if os.environ.get("HERALD_SKIP_AUTOBAHN") == "1":
        pytest.skip("HERALD_SKIP_AUTOBAHN=1")
    assert RUN_SH.exists(), f"{RUN_SH} not found: shared/ must sit next to the repository"
    if os.environ.get("HERALD_AUTOBAHN_READY") == "0":
        pytest.fail("../shared/autobahn/setup.sh failed earlier in scripts/test (see its output)")
    # The suite's own server: nothing else shares it, so a crash shows as missing cases.
    h = Herald(serve_args(site.public), name="autobahn herald").start()
    try:
        env = dict(os.environ, AUTOBAHN_HOME=str(AUTOBAHN_HOME), REPORT_DIR=str(REPORT_DIR),
                   EXCLUDE="", TIMEOUT=str(RUN_TIMEOUT), AGENT="herald")
        p = subprocess.run([str(RUN_SH), f"ws://127.0.0.1:{h.port}/echo"], env=env, capture_output=True,
                           timeout=RUN_TIMEOUT + 240, stdin=subprocess.DEVNULL)
        output = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
        print(output)
        assert h.proc.poll() is None, "herald died during the Autobahn run\n" + h.log_tail()
        assert p.returncode == 0, (f"run.sh exited {p.returncode} (1: FAILED cases, 2: missing cases, "
                                   f"3: no report); report in {REPORT_DIR}\n{output[-6000:]}")
        # The summary: "=== Autobahn|Testsuite fuzzingclient summary: agent 'herald', 517 cases, …".
        assert re.search(r"summary: agent '[^']*', 517 cases", output), output[-6000:]
        assert re.search(r"^UNIMPLEMENTED: 0$", output, re.M), output[-6000:]
    finally:
        rc = h.stop()
    assert rc == 0, h.log_tail()
