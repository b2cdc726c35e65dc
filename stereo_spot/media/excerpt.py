"""A few seconds from the middle of a video, for previews (``convert --preview``, the portal).

Cut by stream copy where the source can be cut so (the containers and codecs the split copies):
from the keyframe nearest the middle, the source's own pictures, in a fraction of a second
whatever the resolution. Re-encoded from the exact middle otherwise (an AVI, MPEG-2, keyframes
far apart), as the split's mezzanine is (progressive, SDR, at the source's size): that takes
~1.2-1.7 s for 5 s of 720p on two cores, and ~10 s of 4K.
"""

from __future__ import annotations

import logging
from pathlib import Path

import ffmpeg

from stereo_spot.domain import PREVIEW_SECONDS, SourceInfo
from stereo_spot.media.assemble import mp4_audio_options
from stereo_spot.media.ffmpeg_run import MediaError, run_ffmpeg, safe_input
from stereo_spot.media.probe import count_video_frames, probe_source, scan_keyframes
from stereo_spot.media.split import copy_refusal, engine_ready_picture
from stereo_spot.settings import Settings

log = logging.getLogger(__name__)


# ffmpeg would copy the source's timecode, the time of its first frame, onto an excerpt that
# starts elsewhere; an empty value drops it (from the file, and from the picture's stream, where
# MOV keeps it).
NO_TIMECODE = {"metadata": "timecode=", "metadata:s:v:0": "timecode="}


def cut_preview(
    source: Path, workdir: Path, settings: Settings, seconds: float = PREVIEW_SECONDS
) -> Path:
    """About ``seconds`` from the middle of ``source`` (probed first), written in ``workdir``
    under the source's own name."""
    info = probe_source(source, settings)
    return cut_excerpt(source, info, seconds, workdir / f"{source.stem}.mp4")


def cut_excerpt(source: Path, info: SourceInfo, seconds: float, target: Path) -> Path:
    """``target`` := about ``seconds`` of ``source`` (all its audio too) from its middle."""
    middle = max(0.0, (info.duration - seconds) / 2)
    start = copy_start(source, info, middle, seconds)
    if start is not None:
        try:
            _copy_cut(source, info, start, seconds, target)
            if count_video_frames(target) > 0:
                return target
        except MediaError as error:
            log.info("excerpt by stream copy failed (%s); re-encoding it", error)
    _encoded_cut(source, info, middle, seconds, target)
    return target


def copy_start(source: Path, info: SourceInfo, middle: float, seconds: float) -> float | None:
    """The presentation time of the keyframe to cut from, or None when the excerpt must be
    re-encoded: a source the split would not copy (its container or codec, open GOPs), or no
    keyframe within half the excerpt's length of the middle."""
    if copy_refusal(info):
        return None
    scanned = scan_keyframes(source, info.video_stream)
    keyframes = scanned.times
    if not keyframes or scanned.open_gop:
        return None  # an open GOP's cut would start with pictures no decoder can show
    wanted = keyframes[0] + middle  # keyframe times count from the stream's own start
    # Of two keyframes as near (to the millisecond), the earlier.
    nearest = min(keyframes, key=lambda time: (round(abs(time - wanted), 3), time))
    return nearest if abs(nearest - wanted) <= seconds / 2 else None


def _copy_cut(source: Path, info: SourceInfo, start: float, seconds: float, target: Path) -> None:
    # seek_timestamp: -ss is the keyframe's own timestamp, not an offset from the file's start;
    # the millisecond past it lands the seek on that keyframe and no earlier one.
    found = safe_input(source, seek_timestamp=1, ss=f"{start + 0.001:.6f}", t=f"{seconds:.3f}")
    streams = [found[f"v:{info.video_stream}"]]
    options: dict[str, object] = {"vcodec": "copy", "avoid_negative_ts": "make_zero", **NO_TIMECODE}
    if info.audio_codec:
        streams.append(found["a"])
        options.update(mp4_audio_options(info.audio_codecs))
    run_ffmpeg(ffmpeg.output(*streams, str(target), **options))


def _encoded_cut(
    source: Path, info: SourceInfo, middle: float, seconds: float, target: Path
) -> None:
    # Re-encoded as the split's mezzanine is, so the excerpt's pictures are what the engine
    # takes (fields joined, HDR tone-mapped, an odd size kept): a plain x264 encode wove an
    # interlaced source's fields into progressive pictures the split then kept, failed on an
    # odd size, and squeezed HDR into 8 bits before its tone mapping.
    found = safe_input(source, ss=f"{middle:.3f}", t=f"{seconds:.3f}")
    streams = [found[f"v:{info.video_stream}"]]
    options = {**engine_ready_picture(info), **NO_TIMECODE}
    if info.audio_codec:
        streams.append(found["a"])
        options.update(acodec="aac", audio_bitrate="192k")
    run_ffmpeg(ffmpeg.output(*streams, str(target), **options))
