"""A disk that can be made to fail under a running herald, for real: `--data` inside a small
tmpfs that `fill()` fills with a file (or, where mounting is not permitted, the store's process
held under RLIMIT_FSIZE at its WAL's size). Shared by the store-fault and chaos tests and by
bench/chaos."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import subprocess
from pathlib import Path

TMPFS_BYTES = 8 * 1024 * 1024


class TmpfsFault:
    """`--data` inside a tmpfs of TMPFS_BYTES; `fill()` writes a file until the FS is full."""

    method = "tmpfs"

    def __init__(self, mount: Path, size: int):
        self.size = size
        self.mount = mount
        self.data = mount / "data"
        self.filler = mount / "filler.bin"

    @classmethod
    def create(cls, base: Path, size: int = TMPFS_BYTES) -> "TmpfsFault | str":
        """The mounted tmpfs, or why mounting failed."""
        mount = base / "mnt"
        mount.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mount)],
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            return (r.stderr or r.stdout).strip() or f"mount exited {r.returncode}"
        return cls(mount, size)

    def fill(self, pid_of_store):
        chunk = b"\0" * (1 << 20)
        with open(self.filler, "wb", buffering=0) as f:
            for size in (1 << 20, 1 << 12, 1):
                piece = chunk[:size]
                while True:
                    try:
                        f.write(piece)
                    except OSError:
                        break
        assert shutil.disk_usage(self.mount).free < 4096, shutil.disk_usage(self.mount)

    def free(self, pid_of_store):
        self.filler.unlink()

    def close(self):
        subprocess.run(["umount", "-l", str(self.mount)], capture_output=True, timeout=10)


class FsizeFault:
    """Fallback: the store's process gets RLIMIT_FSIZE (soft) at the current size of the WAL,
    so the next commit cannot grow it (EFBIG; herald ignores SIGXFSZ); freeing lifts it."""

    method = "RLIMIT_FSIZE"

    def __init__(self, base: Path, why_not_tmpfs: str):
        self.data = base / "data"
        self.why_not_tmpfs = why_not_tmpfs
        self.any_write = False  # True: fail every write past byte 1, not only growing the WAL

    def fill(self, pid_of_store):
        wal = self.data / "herald.sqlite-wal"
        size = wal.stat().st_size if wal.exists() else 0
        if self.any_write:
            size = 1  # after checkpoints the WAL is rewritten from its start, within its size
        try:
            _, hard = resource.prlimit(pid_of_store(), resource.RLIMIT_FSIZE)
            resource.prlimit(pid_of_store(), resource.RLIMIT_FSIZE, (max(size, 1), hard))
        except OSError as e:
            raise AssertionError(f"cannot make the store's disk fail: mounting a tmpfs failed ({self.why_not_tmpfs}) "
                        f"and RLIMIT_FSIZE on the store's process failed too ({e})")

    def free(self, pid_of_store):
        _, hard = resource.prlimit(pid_of_store(), resource.RLIMIT_FSIZE)
        resource.prlimit(pid_of_store(), resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, hard))

    def close(self):
        pass


@contextlib.contextmanager
def disk(tmp_path: Path, size: int = TMPFS_BYTES):
    """A tmpfs where mounting is permitted, else RLIMIT_FSIZE. HERALD_STORE_FAULT=fsize forces
    the fallback (to test it where tmpfs works). Never skipped: one of them must work."""
    fault = TmpfsFault.create(tmp_path, size) if os.environ.get("HERALD_STORE_FAULT") != "fsize" else "HERALD_STORE_FAULT=fsize"
    if isinstance(fault, str):
        fault = FsizeFault(tmp_path, fault)
    fault.data.mkdir()
    try:
        yield fault
    finally:
        fault.close()
