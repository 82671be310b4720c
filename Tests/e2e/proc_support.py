"""The processes of a `herald serve --workers N` tree as /proc shows them (argv from cmdline,
state and parent from stat), and a bounded wait. Shared by the supervisor and cluster tests."""

from __future__ import annotations

import os
import time


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of `pid`, or None when it is gone. The name in stat may hold spaces and
    parentheses, so fields are counted from the last ')'."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [part.decode() for part in f.read().split(b"\0")[:-1]]
    except OSError:
        return []


def alive(pid: int) -> bool:
    stat = proc_stat(pid)
    return stat is not None and stat[0] != "Z"


def children(ppid: int) -> dict[int, list[str]]:
    """Live children of `ppid`: pid → argv."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = proc_stat(int(entry))
            if stat is not None and stat[1] == ppid and stat[0] != "Z":
                found[int(entry)] = cmdline(int(entry))
    return found


def role(argv: list[str]) -> str | None:
    return argv[1] if argv[:1] == ["herald"] and len(argv) > 1 and argv[1] in ("worker", "broker") else None


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")
