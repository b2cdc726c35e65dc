"""Running out of disk space, said as such: which folder, how much is left, what to do.

A conversion keeps the video several times over while it runs (the stored source, its
segments, the converted segments, the joined result: README, "Every job keeps ..."), so a full
disk is what a long film on a laptop meets first. The system's own words for it ("No space left
on device: film.mkv") name the file being read, not the disk that filled.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from stereo_spot.errors import StereoSpotError

# What a conversion needs free where it runs, as a multiple of the video's size, at its peak:
# the stored source, its segments, the converted ones and the result, with the working copies
# a step makes of them (`python benchmarks/disk_use.py`: 7.4 times a 720p clip made as
# anaglyph, 10.6 times as full side by side, whose result is larger; docs/BENCHMARKS.md, "Disk").
ROOM_NEEDED = 8

# strerror(ENOSPC) as glibc and macOS word it: ffmpeg reports a full disk only as text.
_NO_SPACE = "No space left on device"


class DiskFull(StereoSpotError):
    """A folder's disk has no room for what a step writes there."""


def is_out_of_space(error: BaseException) -> bool:
    """Whether ``error`` is a disk (or the user's quota) that filled up."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return _NO_SPACE in str(error)


def free_bytes(folder: Path) -> int | None:
    """The room left on the disk holding ``folder`` (its nearest existing parent), or None
    where that cannot be read."""
    existing = next((path for path in (folder, *folder.parents) if path.exists()), None)
    try:
        return shutil.disk_usage(existing).free if existing is not None else None
    except OSError:
        return None


def in_words(size: float) -> str:
    """A size in bytes as people read one: 4.9 MiB, 18.6 GiB."""
    if size >= 1024**3:
        return f"{size / 1024**3:.1f} GiB"
    return f"{size / 1024**2:.1f} MiB"


def left_in(folder: Path) -> str:
    """ "4.9 MiB left" for ``folder``'s disk, or nothing where that cannot be read."""
    free = free_bytes(folder)
    return "" if free is None else f" ({in_words(free)} left)"


# What a step needs free where it runs, for the sentence a full disk gets.
VIDEO = f"Converting a video takes free room of about {ROOM_NEEDED} times its size where it runs"
SEGMENT = "Converting a segment takes free room of about three times the segment's size there"


def ran_out(
    doing: str,
    folder: Path,
    needs: str = VIDEO,
    then: str = "then convert the video again",
) -> str:
    """The sentence for ``doing`` ("Splitting the video") having filled ``folder``'s disk."""
    return (
        f"{doing} ran out of disk space in {folder}{left_in(folder)}. {needs}: free some, {then}."
    )
