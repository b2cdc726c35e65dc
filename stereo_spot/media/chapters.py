"""A cut's or a result's chapters: the source's, moved to its times and ended where it ends.

ffmpeg moves the chapters it copies by an input's ``-ss``, but ends them only at an output's
``-t``: a part cut with an input ``-t`` kept the chapter it ends in running to that chapter's own
end, and an MP4 keeps its chapters as a text track, whose end is the file's length as players
show it (a 1 s part of a 10 s chapter declared 9 s). Nor does it end a chapter list that runs
past the video. They are written from an ffmetadata file instead, already cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import ffmpeg

from stereo_spot.media.probe import run_ffprobe

# Shorter than this, a chapter is the float error of one cut at its end, not a chapter.
SHORTEST_CHAPTER_SECONDS = 0.0005


@dataclass(frozen=True)
class Chapter:
    start: float  # seconds from the file's start (its format start_time)
    end: float
    tags: dict[str, str] = field(default_factory=dict)  # title, and any other the file gives


def read_chapters(source: Path) -> list[Chapter]:
    """``source``'s chapters, timed from the file's start, as ffmpeg's input ``-ss`` counts."""
    data = run_ffprobe(source, "-show_chapters", "-show_entries", "format=start_time")
    origin = _seconds((data.get("format") or {}).get("start_time"))
    return [
        Chapter(
            _seconds(chapter.get("start_time")) - origin,
            _seconds(chapter.get("end_time")) - origin,
            {str(k): str(v) for k, v in (chapter.get("tags") or {}).items()},
        )
        for chapter in data.get("chapters", [])
    ]


def chapters_within(chapters: list[Chapter], start: float, end: float | None) -> list[Chapter]:
    """``chapters`` timed from ``start`` and ended at ``end`` (None: where they end), those
    wholly outside left out."""
    kept = []
    for chapter in chapters:
        last = chapter.end if end is None else min(chapter.end, end)
        first = max(chapter.start, start)
        if last - first >= SHORTEST_CHAPTER_SECONDS:
            kept.append(Chapter(first - start, last - start, chapter.tags))
    return kept


def ffmetadata(chapters: list[Chapter]) -> str:
    """``chapters`` as an ffmetadata file (ffmpeg's ``-f ffmetadata``) holds them."""
    lines = [";FFMETADATA1"]
    for chapter in chapters:
        lines += [
            "[CHAPTER]",
            "TIMEBASE=1/1000000",
            f"START={round(chapter.start * 1e6)}",
            f"END={round(chapter.end * 1e6)}",
            *(f"{_escaped(k)}={_escaped(v)}" for k, v in chapter.tags.items()),
        ]
    return "\n".join(lines) + "\n"


def output_with_chapters(
    streams: list, target: str, options: dict[str, object], chapters: list[Chapter], workdir: Path
) -> ffmpeg.nodes.OutputStream:
    """ffmpeg's output of ``streams`` into ``target`` with ``options``, holding ``chapters``
    and no other (none when empty), read from an ffmetadata file written in ``workdir``."""
    if not chapters:
        return ffmpeg.output(*streams, target, **options, map_chapters="-1")
    listing = workdir / f"{Path(target).name}.chapters.txt"
    listing.write_text(ffmetadata(chapters), encoding="utf-8")
    metadata = ffmpeg.input(str(listing), f="ffmetadata", protocol_whitelist="file")
    # The file has no stream: "s?" maps none, and brings it into the command as an input, whose
    # number ffmpeg-python gives only once it has ordered every input.
    streams = [*streams, metadata["s?"]]
    args = ffmpeg.output(*streams, target, **options).get_args()
    inputs = [args[n + 1] for n, arg in enumerate(args[:-1]) if arg == "-i"]
    number = inputs.index(str(listing))
    return ffmpeg.output(*streams, target, **options, map_chapters=str(number))


def _escaped(text: str) -> str:
    """``text`` as an ffmetadata file holds it: its ``=``, ``;``, ``#``, ``\\`` and line breaks
    escaped with a backslash."""
    return re.sub(r"([=;#\\\n])", r"\\\1", text)


def _seconds(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
