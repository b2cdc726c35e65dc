"""SMPTE timecode arithmetic: the timecode of a frame some frames after another's.

A part of a video (``convert --start/--end``) starts later than the recording did; editing
systems conform it by the time of day its first frame was recorded, so its timecode moves on by
the frames it leaves out. Timecodes count whole frames at the nominal rate (30 for 29.97);
drop-frame ones (``;`` before the frames) skip the frame numbers 0 and 1 (0 to 3 at 59.94) at
the start of every minute except each tenth, to keep with the clock.
"""

from __future__ import annotations

import re

_TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")


def shifted_timecode(timecode: str, frames: int, fps: float) -> str | None:
    """``timecode`` (``HH:MM:SS:FF``, or ``HH:MM:SS;FF`` drop-frame) moved on by ``frames``
    frames of a video at ``fps``, wrapping at 24 hours; None when it is no timecode this can
    count (a malformed one, or a frame number past the rate)."""
    match = _TIMECODE.match(timecode.strip())
    nominal = round(fps)
    if not match or nominal <= 0:
        return None
    hours, minutes, seconds, separator, frame = match.groups()
    drop_frame = separator in ";,." and nominal % 30 == 0
    dropped = 2 * nominal // 30 if drop_frame else 0  # frame numbers skipped a minute
    if int(frame) >= nominal or int(minutes) >= 60 or int(seconds) >= 60:
        return None
    total_minutes = 60 * int(hours) + int(minutes)
    count = (total_minutes * 60 + int(seconds)) * nominal + int(frame)
    count -= dropped * (total_minutes - total_minutes // 10)
    per_day = 86_400 * nominal - dropped * (1_440 - 144)
    count = (count + frames) % per_day
    if dropped:
        # Back to frame numbers: put the skipped numbers in again.
        per_ten_minutes = 600 * nominal - 9 * dropped
        per_minute = 60 * nominal - dropped
        tens, rest = divmod(count, per_ten_minutes)
        count += 9 * dropped * tens
        if rest > dropped:
            count += dropped * ((rest - dropped) // per_minute)
    frame_number = count % nominal
    seconds_total = count // nominal
    hours_out, rest = divmod(seconds_total, 3600)
    minutes_out, seconds_out = divmod(rest, 60)
    mark = ";" if drop_frame else ":"
    return f"{hours_out:02d}:{minutes_out:02d}:{seconds_out:02d}{mark}{frame_number:02d}"
