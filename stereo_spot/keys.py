"""Object keys and storage URIs: the only place that builds or parses them.

Keys (DESIGN.md, stable contract)::

    input/{job_id}/source.mp4
    segments/{job_id}/part.mkv   (the part of the source a job converts, when not the whole)
    segments/{job_id}/{segment_index:05d}_{total_segments:05d}_{layout}.mp4
    jobs/{job_id}/segments/{segment_index:05d}.mp4
    jobs/{job_id}/final.mp4
    jobs/{job_id}/preview.jpg
    jobs/{job_id}/subtitles/{track:02d}.vtt

Parsers reject anything that does not match exactly; a key is never guessed or repaired.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

from stereo_spot.domain import Layout
from stereo_spot.errors import InvalidKey

_JOB_ID = r"[A-Za-z0-9_-]{16,64}"
_JOB_ID_RE = re.compile(rf"^{_JOB_ID}$")
_LAYOUTS = "|".join(re.escape(layout.value) for layout in Layout)
_SOURCE_SEGMENT_RE = re.compile(
    rf"^segments/(?P<job_id>{_JOB_ID})/(?P<index>\d{{5}})_(?P<total>\d{{5}})_(?P<layout>{_LAYOUTS})\.mp4$"
)
_CONVERTED_SEGMENT_RE = re.compile(
    rf"^jobs/(?P<job_id>{_JOB_ID})/segments/(?P<index>\d{{5}})\.mp4$"
)
MAX_SEGMENTS = 99_999
MAX_SUBTITLE_TRACKS = 100  # numbered 00..99


def validate_job_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not _JOB_ID_RE.match(job_id):
        raise InvalidKey(f"'{job_id}' is not a valid job id.")
    return job_id


def source_key(job_id: str) -> str:
    return f"input/{validate_job_id(job_id)}/source.mp4"


def job_of_source_key(key: str) -> str | None:
    """The job whose source ``key`` is (``input/{job_id}/source.mp4``), or None for any other
    key."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != "input" or parts[2] != "source.mp4":
        return None
    return parts[1] if _JOB_ID_RE.match(parts[1]) else None


def part_key(job_id: str) -> str:
    """The part of the source a job converts (:attr:`Job.part`, or the preview its run cuts:
    :attr:`Job.cut_preview`), cut once by the chunk step; the segments and the join take it as
    their source. Kept beside the source segments, and
    expiring with them: a job whose segments are gone cannot resume anyway."""
    return f"segments/{validate_job_id(job_id)}/part.mkv"


def source_segment_key(job_id: str, segment_index: int, total_segments: int, layout: Layout) -> str:
    _check_index(segment_index, total_segments)
    return (
        f"segments/{validate_job_id(job_id)}/"
        f"{segment_index:05d}_{total_segments:05d}_{Layout(layout).value}.mp4"
    )


def converted_segment_key(job_id: str, segment_index: int) -> str:
    _check_index(segment_index, MAX_SEGMENTS)
    return f"jobs/{validate_job_id(job_id)}/segments/{segment_index:05d}.mp4"


def final_key(job_id: str) -> str:
    return f"jobs/{validate_job_id(job_id)}/final.mp4"


def preview_key(job_id: str) -> str:
    return f"jobs/{validate_job_id(job_id)}/preview.jpg"


def subtitles_key(job_id: str, track: int) -> str:
    """The result's text track number ``track`` (0-based, in the MP4's order) as WebVTT."""
    if not 0 <= track < MAX_SUBTITLE_TRACKS:
        raise InvalidKey(f"Subtitle track {track} is out of range (at most {MAX_SUBTITLE_TRACKS}).")
    return f"jobs/{validate_job_id(job_id)}/subtitles/{track:02d}.vtt"


def segment_prefixes(job_id: str) -> tuple[str, ...]:
    """Prefixes that hold a job's source segments and converted segments and nothing else: not
    the part beside the source segments (:func:`part_key`), which a result rewrapped later
    takes its tracks from. A source segment's name starts with its index's first digit."""
    job_id = validate_job_id(job_id)
    return (*(f"segments/{job_id}/{digit}" for digit in "0123456789"), f"jobs/{job_id}/segments/")


def job_prefixes(job_id: str) -> tuple[str, ...]:
    """Every prefix under which a job keeps objects (for deletion)."""
    job_id = validate_job_id(job_id)
    return (f"input/{job_id}/", f"segments/{job_id}/", f"jobs/{job_id}/")


@dataclass(frozen=True)
class SourceSegmentKey:
    job_id: str
    segment_index: int
    total_segments: int
    layout: Layout


def parse_source_segment_key(key: str) -> SourceSegmentKey:
    match = _SOURCE_SEGMENT_RE.match(key)
    if not match:
        raise InvalidKey(f"'{key}' is not a source segment key.")
    parsed = SourceSegmentKey(
        job_id=match["job_id"],
        segment_index=int(match["index"]),
        total_segments=int(match["total"]),
        layout=Layout(match["layout"]),
    )
    _check_index(parsed.segment_index, parsed.total_segments)
    return parsed


def parse_converted_segment_key(key: str) -> tuple[str, int]:
    match = _CONVERTED_SEGMENT_RE.match(key)
    if not match:
        raise InvalidKey(f"'{key}' is not a converted segment key.")
    return match["job_id"], int(match["index"])


def _check_index(segment_index: int, total_segments: int) -> None:
    if not 0 < total_segments <= MAX_SEGMENTS or not 0 <= segment_index < total_segments:
        raise InvalidKey(
            f"Segment {segment_index} of {total_segments} is out of range (at most {MAX_SEGMENTS})."
        )


@dataclass(frozen=True)
class StorageUri:
    """``file:///abs/root`` + key, or ``s3://bucket`` + key."""

    scheme: str
    root: str
    key: str

    def __str__(self) -> str:
        if self.scheme == "s3":
            return f"s3://{self.root}/{self.key}"
        return f"file://{self.root.rstrip('/')}/{self.key}"


def validate_key(key: str) -> str:
    """Reject keys that could escape a storage root or confuse a backend."""
    parts = key.split("/")
    if (
        not key
        or key.startswith("/")
        or "\\" in key
        or "\x00" in key
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise InvalidKey(f"'{key}' is not a valid object key.")
    return key


def parse_uri(uri: str, local_root: str | None = None) -> StorageUri:
    """Split a storage URI into scheme, root and key.

    An ``s3://bucket/key`` URI names its bucket. A ``file://`` URI is only meaningful relative to
    a known local storage root (the data dir's media folder), so ``local_root`` must be given and
    the path must lie under it.
    """
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise InvalidKey(f"'{uri}' names no bucket.")
        return StorageUri("s3", parsed.netloc, validate_key(parsed.path.lstrip("/")))
    if parsed.scheme == "file":
        if local_root is None:
            raise InvalidKey(f"'{uri}' is a file URI but no local storage is configured.")
        path = unquote(parsed.path)
        root = local_root.rstrip("/") + "/"
        if not path.startswith(root):
            raise InvalidKey(f"'{uri}' lies outside the local storage root {local_root}.")
        return StorageUri("file", local_root.rstrip("/"), validate_key(path[len(root) :]))
    raise InvalidKey(f"'{uri}' is neither a file:// nor an s3:// URI.")
