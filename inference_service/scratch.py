"""The temporary folder of a model server started on this machine: one per server, under the
data folder, removed by a later start once nothing holds it.

A server's scratch was a ``TemporaryDirectory`` in /tmp, removed by whoever started the server
when it stopped it; each ``up`` or ``convert`` killed (SIGKILL, the OOM killer) left its folder
there for good: 60 and more were seen, up to 11 MB each. Now each folder has a lock file beside
it, held (flock) by whoever started the server and by the server, which inherits it: the kernel
lets go of it when the last of them ends, however it ends, so a folder whose lock is free is
nobody's. Age could not tell a dead server's folder from a live one's that has converted for a
day. Under the data folder rather than /tmp: a server's segment work goes where the runs' goes
(``pipelines.local_runner``'s scratch), and no other user's folders are met.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Under the data folder: <name>/ is one server's TMPDIR, <name>.lock its lock.
SCRATCH_ROOT = "model-server-scratch"
# Held while a start sweeps stale folders and makes its own (folder, lock, then locked): a
# sweep never meets a lock file made but not yet held.
SWEEP_LOCK = ".sweep.lock"


@dataclass(frozen=True)
class ServerScratch:
    """One server's folder, and the descriptor of its lock, to pass on to the server."""

    folder: Path
    lock_fd: int

    def emptied(self) -> Path:
        """The folder, emptied of what a server before this one (killed) left there."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder


@contextlib.contextmanager
def server_scratch(data_dir: Path) -> Iterator[ServerScratch]:
    """A folder for a model server's temporary files under ``data_dir``, its lock held, after
    removing the folders no live server or starter holds; removed on exit."""
    root = Path(data_dir) / SCRATCH_ROOT
    root.mkdir(parents=True, exist_ok=True)
    with _held(root / SWEEP_LOCK):
        remove_stale_scratch(root)
        lock_fd, lock_name = tempfile.mkstemp(dir=root, prefix="server-", suffix=".lock")
        fcntl.flock(lock_fd, fcntl.LOCK_EX)  # just made, and the sweep lock held: nobody has it
        folder = Path(lock_name).with_suffix("")
        folder.mkdir()
    try:
        yield ServerScratch(folder, lock_fd)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        Path(lock_name).unlink(missing_ok=True)
        os.close(lock_fd)


def remove_stale_scratch(root: Path) -> list[Path]:
    """Remove each folder under ``root`` whose lock nobody holds (its server and whoever started
    it have ended); returns the folders removed. The caller holds the sweep lock."""
    removed = []
    for lock_path in sorted(root.glob("*.lock")):
        if lock_path.name == SWEEP_LOCK:
            continue
        try:
            lock = open(lock_path, "a")  # noqa: SIM115 - closed below, after the removal
        except OSError:
            continue  # gone meanwhile, or not ours to open
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its server (or whoever started it) still runs
            folder = lock_path.with_suffix("")
            shutil.rmtree(folder, ignore_errors=True)
            lock_path.unlink(missing_ok=True)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def _held(path: Path) -> Iterator[None]:
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
