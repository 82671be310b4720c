"""Counts passed and failed tests in the output of `swift test` (used by scripts/test).

Prints "PASSED FAILED". Understands both runners `swift test` drives on Linux:
- Swift Testing: `✔ Test run with 11 tests in 2 suites passed after 0.3 seconds.` or
  `✘ Test run with 11 tests in 2 suites failed after 0.3 seconds with 2 issues.`, and one
  `✘ Test name() failed after …` line per failing test function;
- XCTest: the last `Executed N tests, with F failures (U unexpected)` (the "All tests" total).
"""

import re
import sys

RUN = re.compile(r"Test run with (\d+) tests? (?:in \d+ suites? )?(passed|failed)")
FAILED_TEST = re.compile(r"Test (?!run with)(.+?) failed after")
SKIPPED_TEST = re.compile(r"Test (?!run with)(.+?) skipped")
XCTEST = re.compile(r"Executed (\d+) tests?, with (\d+) failures?")


def count(text: str) -> tuple[int, int]:
    total = failed = skipped = 0
    runs = RUN.findall(text)
    if runs:
        total = int(runs[-1][0])
        failed = len(set(FAILED_TEST.findall(text)))
        skipped = len(set(SKIPPED_TEST.findall(text)))
        if runs[-1][1] == "failed" and failed == 0:
            failed = 1  # an issue outside any test function
    xc = XCTEST.findall(text)
    if xc:
        n, f = (int(x) for x in xc[-1])
        total += n
        failed += f
    return max(total - failed - skipped, 0), failed


if __name__ == "__main__":
    try:
        with open(sys.argv[1], encoding="utf-8", errors="replace") as fh:
            passed, failed = count(fh.read())
    except OSError:
        passed, failed = 0, 0
    print(passed, failed)
