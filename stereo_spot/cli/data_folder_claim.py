"""One portal with a local runner per data folder.

Two ``stereo-spot up`` over one folder kept a queue each, in memory: a job queued on one was
never run by the other once the first stopped, and both would resume the same jobs. The second
is refused. The claim is an flock'd file in the folder, which the kernel lets go of when its
holder ends, however it ends: a killed ``up`` never blocks the next one. ``convert`` and ``jobs
retry`` take no claim: they run a job of their own beside a portal, under its run lock.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

from stereo_spot.errors import StereoSpotError
from stereo_spot.held_files import say_who_holds, try_to_hold

CLAIM_FILE = "portal.lock"


class DataFolderClaim:
    """This process's hold on a data folder; the file says who holds it, and where."""

    def __init__(self, lock: TextIO) -> None:
        self._lock = lock

    def announce(self, address: str) -> None:
        """Write who holds the folder, for a second portal to name: "process 1234 at URL"."""
        say_who_holds(self._lock, f"process {os.getpid()} at {address}")

    def release(self) -> None:
        self._lock.close()


def claim_data_folder(data_dir: Path) -> DataFolderClaim:
    """Hold ``data_dir`` for this portal as long as it runs; raise, naming the other, when
    another portal's process holds it."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    lock, holder = try_to_hold(data_dir / CLAIM_FILE)
    if lock is None:
        raise StereoSpotError(
            f"Another Stereo-Spot portal ({holder}) serves the data folder {data_dir}; use "
            "that one, or stop it first (a second would keep a queue of its own)."
        )
    return DataFolderClaim(lock)
