"""Running out of disk space, said as such: which folder, how much is left, what to do.

A conversion keeps the video several times over while it runs (the stored source, its
segments, the converted segments, the joined result: README, "Every job keeps ..."), so a full
disk is what a long film on a laptop meets first. The system's own words for it ("No space left
on device: film.mkv") name the file being read, not the disk that filled.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from stereo_spot.errors import StereoSpotError, StoreUnavailable

# What a conversion needs free where it runs, as a multiple of the video's size, at its peak
# (the join: the stored source and its segments, the converted segments, the joined picture
# and the result): `python benchmarks/disk_use.py` measured 4.5 times a 720p clip made as
# anaglyph, 7.6 times as full side by side, whose result is larger (docs/BENCHMARKS.md, "Disk").
ROOM_NEEDED = 8

# How a full disk is worded where it comes only as text: strerror(ENOSPC) as glibc and macOS
# say it (ffmpeg's errors), and SQLite's SQLITE_FULL (the local job store).
_NO_SPACE = ("No space left on device", "database or disk is full")

# Less room than this left, a failure is taken for the disk's doing: a file cut short by a full
# disk reads back as a damaged video, and a writer may stop without saying why.
_NEARLY_FULL = 4 * 2**20


class DiskFull(StereoSpotError):
    """A folder's disk has no room for what a step writes there."""


def is_out_of_space(error: BaseException) -> bool:
    """Whether ``error`` is a disk (or the user's quota) that filled up."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return any(words in str(error) for words in _NO_SPACE)


def nearest_existing(folder: Path) -> Path | None:
    """``folder``, or the nearest of its parents that exists (where a folder still to be made
    would be made)."""
    return next((path for path in (folder, *folder.parents) if path.exists()), None)


def free_bytes(folder: Path) -> int | None:
    """The room left on the disk holding ``folder`` (its nearest existing parent), or None
    where that cannot be read."""
    existing = nearest_existing(folder)
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
AGAIN = "then convert the video again"


def cannot_be_written(data_dir: Path, why: str) -> str:
    """The sentence for a data folder that may not be written (a read-only disk, another
    user's folder), ``why`` in the system's or SQLite's words."""
    return (
        f"The data folder {data_dir} cannot be written ({why}); choose another with --data-dir "
        "or STEREO_SPOT_DATA_DIR."
    )


def ran_out(doing: str, folder: Path, needs: str = VIDEO, then: str = AGAIN) -> str:
    """The sentence for ``doing`` ("Splitting the video") having filled ``folder``'s disk."""
    return (
        f"{doing} ran out of disk space in {folder}{left_in(folder)}. {needs}: free some, {then}."
    )


def scratch_ran_out(doing: str, needs: str = VIDEO) -> str:
    """The sentence for ``doing`` having filled the disk of the step's scratch folder (on this
    machine inside the data folder, beside the stored media; on a cluster the node's disk)."""
    return ran_out(doing, Path(tempfile.gettempdir()), needs)


@contextlib.contextmanager
def full_disk_said(doing: str, needs: str = VIDEO) -> Iterator[None]:
    """Raise :class:`DiskFull` for a failure in the block that a full scratch disk caused (or
    most likely caused: none left there), rather than what it looks like: ffmpeg's segment that
    a full disk cut short is read back as a damaged video, which would blame the user's file.
    Enter it inside the step's scratch folder, so the room is measured with its files there."""
    try:
        yield
    except DiskFull as full:
        if isinstance(full, StoreUnavailable):
            # The job store on the disk the step filled (the local one, in the data folder,
            # beside the step's scratch) stopped first: the step's writing is what filled it.
            blame_a_full_disk(doing, full, needs)
        raise
    except Exception as error:
        blame_a_full_disk(doing, error, needs)
        raise


def blame_a_full_disk(doing: str, error: Exception | None = None, needs: str = VIDEO) -> None:
    """Raise :class:`DiskFull` if ``error`` is a full disk, or the scratch disk has (almost) no
    room left: call it before taking a result that came out wrong for a fault of the input."""
    free = free_bytes(Path(tempfile.gettempdir()))
    if (error is not None and is_out_of_space(error)) or (free is not None and free < _NEARLY_FULL):
        raise DiskFull(scratch_ran_out(doing, needs)) from error
