"""Uploads in parts, S3's multipart upload, for files a single signed POST cannot carry.

A presigned POST writes at most 5 GB, and a broken connection starts it again from the first
byte. In parts, each is a signed PUT of its own (retried alone when it fails), parts travel
side by side, and the object appears only when the upload is completed with the list of parts
and the ETag each PUT answered. The local adapter keeps S3's rules, so that a script written
against the embedded portal works against the cluster's unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stereo_spot.errors import UploadNotFound, UploadRejected

MIB = 1024**2
# S3's limits (also kept by the local adapter): every part but the last at least 5 MiB, at most
# 10,000 parts, none over 5 GiB.
MIN_PART_BYTES = 5 * MIB
MAX_PARTS = 10_000
MAX_PART_BYTES = 5 * 1024**3
DEFAULT_PART_BYTES = 16 * MIB


@dataclass(frozen=True)
class PartPlan:
    """How a file of ``size`` bytes is cut: parts of ``part_size`` bytes, the last the rest."""

    size: int
    part_size: int
    part_count: int

    def part_bytes(self, number: int) -> int:
        """How many bytes part ``number`` (1-based) holds."""
        if not 1 <= number <= self.part_count:
            raise ValueError(f"Part {number} is not one of 1..{self.part_count}.")
        if number < self.part_count:
            return self.part_size
        return self.size - self.part_size * (self.part_count - 1)


def plan_parts(size: int, preferred_part_bytes: int = DEFAULT_PART_BYTES) -> PartPlan:
    """Parts of ``preferred_part_bytes``, or bigger (in whole MiB) where 10,000 of them would
    not hold the file: a 20 GiB master takes 1,280 parts of 16 MiB, a 1 TiB one 9,987 of 105 MiB.
    """
    if size < 1:
        raise ValueError("An upload holds at least one byte.")
    smallest = math.ceil(size / MAX_PARTS / MIB) * MIB
    part_size = max(preferred_part_bytes, MIN_PART_BYTES, smallest)
    if part_size > MAX_PART_BYTES:
        raise ValueError(f"{size} bytes do not fit in {MAX_PARTS} parts of at most 5 GiB.")
    return PartPlan(size=size, part_size=part_size, part_count=math.ceil(size / part_size))


@dataclass(frozen=True)
class UploadedPart:
    """A part the storage holds: its number, the ETag its PUT answered (quoted, as S3 gives it)
    and its size."""

    number: int
    etag: str
    size: int = 0


class UploadFull(UploadRejected):
    """A part that would take its upload past the most it may hold (the local adapter refuses
    it as it streams; S3 takes any part up to 5 GiB, and completing sums the sizes)."""


def upload_gone(upload_id: str) -> UploadNotFound:
    """What either adapter says of an upload id it holds no unfinished upload under."""
    return UploadNotFound(
        f"There is no unfinished upload {upload_id} here (completed, aborted, or left "
        "unfinished for days); start the upload again."
    )
