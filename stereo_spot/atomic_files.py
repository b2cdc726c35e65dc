"""Files that appear whole or not at all, and folders that go once a delete empties them.

A writer here writes under a hidden temporary name in the target's folder and renames it into
place: a reader (a later step, ``list_prefix``, a player) never sees half a file, and a failure
or Ctrl-C part-way leaves nothing behind, not even the temporary file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replaced_whole(
    target: Path, prefix: str, suffix: str = "", *, private: bool = True
) -> Iterator[Path]:
    """A new empty file beside ``target`` (in its folder, which must exist: a rename across
    disks is a copy) for the block to write; renamed to ``target`` when the block ends, removed
    when it raises. ``mkstemp`` makes it private (0600); a file for the user (a result, a
    download) is given, with ``private=False``, the permissions any file made here gets."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=suffix)
    os.close(fd)
    written = Path(name)
    try:
        yield written
        if not private:
            os.chmod(written, 0o666 & ~_umask())
        os.replace(written, target)
    except BaseException:
        written.unlink(missing_ok=True)
        raise


def _umask() -> int:
    """This process's umask, read without changing it (other threads may be creating files)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_empty_folders(folder: Path, up_to: Path) -> None:
    """Remove ``folder``, then each of its parents, while they are empty; never ``up_to`` or
    anything outside it."""
    while folder != up_to and folder.is_relative_to(up_to):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
