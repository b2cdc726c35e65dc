"""Parts of a video: the part a job converts (``convert --start/--end``), cut to the frame by
the chunk step, and a few seconds from the middle of the video or of a part for a preview
(``convert --preview``, the portal's), cut before the preview's job is made.

Cut by stream copy where that gives what was asked for, from a keyframe of a source the split
would copy too: the source's own pictures, in a fraction of a second whatever the resolution. A
preview may start at the keyframe nearest its middle; a part only at a keyframe on its first
frame, and only when it runs to the video's end (a copy cut's end overshoots by the frames its
B-frames need, ~3). Otherwise re-encoded from the exact time, as the split's mezzanine is
(progressive, SDR, at the source's size): ~1.2-1.7 s for 5 s of 720p on two cores, ~10 s of 4K.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import ffmpeg

from stereo_spot.domain import PREVIEW_SECONDS, Part, SourceInfo
from stereo_spot.errors import InputRejected
from stereo_spot.media.assemble import (
    aac_options,
    mp4_audio_options,
    source_tracks,
    track_name_options,
)
from stereo_spot.media.ffmpeg_run import MediaError, run_ffmpeg, run_ffmpeg_watched, safe_input
from stereo_spot.media.probe import (
    TEXT_SUBTITLE_CODECS,
    count_video_frames,
    probe_source,
    scan_keyframes,
)
from stereo_spot.media.split import copy_refusal, engine_ready_picture, keyframes_every
from stereo_spot.media.timecode import shifted_timecode
from stereo_spot.settings import Settings

log = logging.getLogger(__name__)


# ffmpeg would copy the source's timecode, the time of its first frame, onto an excerpt that
# starts elsewhere; an empty value drops it (from the file, and from the picture's stream, where
# MOV keeps it). A preview carries none; a part, the source's moved on to its first frame.
NO_TIMECODE = {"metadata": "timecode=", "metadata:s:v:0": "timecode="}


def cut_preview(
    source: Path, workdir: Path, settings: Settings, within: Part | None = None
) -> Path:
    """About :data:`PREVIEW_SECONDS` from the middle of ``source`` (probed first), or of the
    part ``within`` it, written in ``workdir`` under the source's own name."""
    info = probe_source(source, settings)
    return cut_excerpt(source, info, PREVIEW_SECONDS, workdir / f"{source.stem}.mp4", within)


def part_bounds(info: SourceInfo, part: Part) -> tuple[float, float]:
    """Where ``part`` starts in the video ``info`` describes, and how long it runs there (to
    the video's end at most)."""
    if part.start >= info.duration:
        raise InputRejected(
            f"The part asked for starts at {part.start:g} s, and the video is only "
            f"{info.duration:.1f} s long."
        )
    end = info.duration if part.end is None else min(part.end, info.duration)
    return part.start, end - part.start


def cut_excerpt(
    source: Path, info: SourceInfo, seconds: float, target: Path, within: Part | None = None
) -> Path:
    """``target`` := about ``seconds`` of ``source`` (all its audio too) from the middle of the
    video, or of the part ``within`` it."""
    first, length = part_bounds(info, within or Part())
    middle = first + max(0.0, (length - seconds) / 2)
    seconds = min(seconds, length)
    start = copy_start(source, info, middle, tolerance=seconds / 2)
    if start is not None:
        try:
            _copy_cut(source, info, start, seconds, target, mp4_audio_options(info.audio_codecs))
            if count_video_frames(target) > 0:
                return target
        except MediaError as error:
            log.info("excerpt by stream copy failed (%s); re-encoding it", error)
    channels = source_tracks(source, info.video_stream).audio_channels if info.audio_codec else []
    _encoded_cut(source, info, middle, seconds, target, aac_options(channels))
    return target


def cut_part(
    source: Path,
    info: SourceInfo,
    part: Part,
    target: Path,
    keyframe_seconds: float | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Path:
    """``target`` (a Matroska file) := the frames of ``source`` shown from ``part.start`` until
    ``part.end``, and every sound track over them as the source has it. Re-encoded, it gets a
    keyframe every ``keyframe_seconds`` (the split's segment length: it is then split by copy,
    with no mezzanine of its own); ``on_progress`` hears how far that transcode has got (0..1).
    """
    start, seconds = part_bounds(info, part)
    # Matroska holds any sound, so the tracks are copied (a recorder's PCM bit for bit), and
    # the join and a rewrap treat them as the source's. Copied, a track starts on its first
    # packet at or after the start, within a packet (~20 ms) of the picture, which the join's
    # lead keeps; by default ffmpeg also copies what lies between the keyframe it seeks to and
    # the start (0.23 s of sound before a part's first frame).
    sound = {"acodec": "copy", "copypriorss:a": 0}
    texts, kept = _kept_tracks(source, info, start)
    # Matroska keeps no display matrix: a phone's sideways picture is turned upright instead.
    if start + seconds >= info.duration and not info.rotation:
        # Within half a frame: the keyframe then is the part's first frame.
        keyframe = copy_start(source, info, start, tolerance=0.5 / info.fps)
        if keyframe is not None:
            _copy_cut(source, info, keyframe, None, target, sound, texts, kept)
            return target
    if keyframe_seconds:
        kept.update(keyframes_every(keyframe_seconds))
    _encoded_cut(source, info, start, seconds, target, sound, texts, kept, on_progress)
    return target


# Subtitle tracks Matroska holds as they are (text, and the pictures of DVDs, Blu-rays and DVB);
# other text tracks (MP4's mov_text, a QuickTime caption track) become SubRip.
MATROSKA_SUBTITLES = {
    "subrip", "ass", "ssa", "webvtt", "dvd_subtitle", "hdmv_pgs_subtitle", "dvb_subtitle",
}  # fmt: skip


def _kept_tracks(source: Path, info: SourceInfo, start: float) -> tuple[list[str], dict]:
    """What a part from ``start`` keeps besides its picture and sound: the source's subtitle
    tracks, shifted to its times, and a Matroska source's attachments (the fonts its styled
    subtitles use), as ffmpeg stream selectors; and the output options that write them into
    Matroska, name every track as the source names it, and move the source's timecode on to
    the part's first frame."""
    tracks = source_tracks(source, info.video_stream)
    # Names as the join gives them: sound tracks, then text subtitles in their own order. ffmpeg
    # carries a picture track's title itself (only Matroska and MPEG-TS hold those tracks).
    names = track_name_options(tracks, "title")
    options: dict[str, object] = {k: v for k, v in names.items() if k.startswith("metadata:s:a:")}
    text_names = iter(tracks.subtitle_names)
    kept: list[str] = []
    for number, codec in enumerate(tracks.subtitle_codecs):
        text = codec in TEXT_SUBTITLE_CODECS
        name = next(text_names) if text else None
        if codec not in MATROSKA_SUBTITLES and not text:
            continue  # a subtitle format Matroska cannot hold and ffmpeg cannot turn to text
        out = len(kept)
        kept.append(f"s:{number}")
        options[f"c:s:{out}"] = "copy" if codec in MATROSKA_SUBTITLES else "srt"
        if name:
            options[f"metadata:s:s:{out}"] = f"title={name}"
    if kept:
        # A copied track's cue still on screen at the start would come with a time before it,
        # and Matroska would move every track by that much (the join then put a sign 0.6 s
        # late); such a cue is left out. One turned to SubRip starts at 0 and keeps its length.
        options["copypriorss:s"] = 0
    if tracks.attachments:
        kept.append("t")
        options["c:t"] = "copy"
    if tracks.timecode:
        # The join reads a Matroska source's timecode from its container.
        timecode = shifted_timecode(tracks.timecode, round(start * info.fps), info.fps)
        options["metadata"] = f"timecode={timecode or ''}"
    return kept, options


def copy_start(source: Path, info: SourceInfo, wanted: float, tolerance: float) -> float | None:
    """The presentation time of the keyframe to cut from for a cut at ``wanted`` seconds into
    the video, or None when the cut must be re-encoded: a source the split would not copy (its
    container or codec, open GOPs), or no keyframe within ``tolerance`` of ``wanted``."""
    if copy_refusal(info):
        return None
    scanned = scan_keyframes(source, info.video_stream)
    keyframes = scanned.times
    if not keyframes or scanned.open_gop:
        return None  # an open GOP's cut would start with pictures no decoder can show
    wanted = keyframes[0] + wanted  # keyframe times count from the stream's own start
    # Of two keyframes as near (to the millisecond), the earlier.
    nearest = min(keyframes, key=lambda time: (round(abs(time - wanted), 3), time))
    return nearest if abs(nearest - wanted) <= tolerance else None


def _copy_cut(
    source: Path,
    info: SourceInfo,
    start: float,
    seconds: float | None,
    target: Path,
    audio: dict[str, object],
    also: tuple[str, ...] | list[str] = (),
    extra: dict[str, object] | None = None,
) -> None:
    # seek_timestamp: -ss is the keyframe's own timestamp, not an offset from the file's start;
    # the millisecond past it lands the seek on that keyframe and no earlier one.
    length = {} if seconds is None else {"t": f"{seconds:.3f}"}
    found = safe_input(source, seek_timestamp=1, ss=f"{start + 0.001:.6f}", **length)
    streams = [found[f"v:{info.video_stream}"]]
    options: dict[str, object] = {"vcodec": "copy", "avoid_negative_ts": "make_zero", **NO_TIMECODE}
    if info.audio_codec:
        streams.append(found["a"])
        options.update(audio)
    streams += [found[selector] for selector in also]
    run_ffmpeg(ffmpeg.output(*streams, str(target), **{**options, **(extra or {})}))


def _encoded_cut(
    source: Path,
    info: SourceInfo,
    start: float,
    seconds: float,
    target: Path,
    audio: dict[str, object],
    also: tuple[str, ...] | list[str] = (),
    extra: dict[str, object] | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> None:
    # Re-encoded as the split's mezzanine is, so the excerpt's pictures are what the engine
    # takes (fields joined, HDR tone-mapped, an odd size kept): a plain x264 encode wove an
    # interlaced source's fields into progressive pictures the split then kept, failed on an
    # odd size, and squeezed HDR into 8 bits before its tone mapping. Seeking in the input
    # while transcoding is frame-exact: ffmpeg decodes from the keyframe before and drops what
    # comes before ``start``.
    found = safe_input(source, ss=f"{start:.3f}", t=f"{seconds:.3f}")
    streams = [found[f"v:{info.video_stream}"]]
    options = {**engine_ready_picture(info), **NO_TIMECODE, **(extra or {})}
    if info.audio_codec:
        streams.append(found["a"])
        options.update(audio)
    streams += [found[selector] for selector in also]
    # A part may be a film's hour; limited by standing still, as the mezzanine is.
    run_ffmpeg_watched(ffmpeg.output(*streams, str(target), **options), seconds, on_progress)
