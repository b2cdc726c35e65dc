"""SubRip text cut to a part of a video: the cue on screen at its start keeps what is left of
it, and nothing has a time before the start or after the end.

ffmpeg, asked for a text track from an input seeked with ``-ss`` (and told to keep negative
times), writes a cue that began before the seek with negative fields (``00:00:-1,000``,
``00:00:00,-505``). Left to itself it would instead move every track of the file later by as
much, the picture too, so the part's sound and subtitles would run late against its picture.
"""

from __future__ import annotations

import re

# One cue's timing line; each field may carry its own minus sign.
_TIMING = re.compile(
    r"^(-?\d+):(-?\d+):(-?\d+)[,.](-?\d+) --> (-?\d+):(-?\d+):(-?\d+)[,.](-?\d+)\s*$"
)


def cues_within(text: str, until: float | None = None) -> str:
    """``text`` (SubRip) without what ends by 0 s or starts from ``until`` s on, a cue on
    screen at either time cut there, numbered afresh."""
    kept = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        lines = block.split("\n")
        timing = next((n for n, line in enumerate(lines) if _TIMING.match(line)), None)
        if timing is None:
            continue
        fields = [int(value) for value in _TIMING.match(lines[timing]).groups()]
        start, end = _seconds(fields[:4]), _seconds(fields[4:])
        if until is not None:
            start, end = min(start, until), min(end, until)
        start = max(start, 0.0)
        words = "\n".join(lines[timing + 1 :]).strip()
        if end > start and words:
            kept.append(f"{_stamp(start)} --> {_stamp(end)}\n{words}")
    return "".join(f"{number}\n{cue}\n\n" for number, cue in enumerate(kept, start=1))


def _seconds(fields: list[int]) -> float:
    hours, minutes, seconds, milliseconds = fields
    return hours * 3600 + minutes * 60 + seconds + milliseconds / 1000


def _stamp(seconds: float) -> str:
    milliseconds = round(seconds * 1000)
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    seconds_part, milliseconds = divmod(milliseconds, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds_part:02d},{milliseconds:03d}"
