"""Files a process holds (flock) for as long as it runs, saying who holds them.

The kernel lets go of an flock when its holder ends, however it ends (SIGKILL, the OOM killer),
so a lock a dead process left never blocks the next one. The file says who holds it
("process 1234", "process 1234 at http://..."), for whoever is refused to name.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import TextIO


def try_to_hold(path: Path) -> tuple[TextIO | None, str | None]:
    """(the file, now held by this process, None), or (None, who holds it)."""
    held = open(path, "a+")  # noqa: SIM115 - the caller keeps it open while it holds it
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        held.seek(0)
        holder = held.read().strip() or "another process"
        held.close()
        return None, holder
    return held, None


def say_who_holds(held: TextIO, holder: str) -> None:
    """Write who holds ``held`` (a file :func:`try_to_hold` returned) into it."""
    held.seek(0)
    held.truncate()
    held.write(holder)
    held.flush()
