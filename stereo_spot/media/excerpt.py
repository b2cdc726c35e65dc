"""Parts of a video: the part a job converts (``convert --start/--end``), cut to the frame by
the chunk step, and a few seconds from the middle of the video or of a part for a preview
(``convert --preview``, the portal's), cut before the preview's job is made.

Cut by stream copy where that gives what was asked for, from a keyframe of a source the split
would copy too: the source's own pictures, in a fraction of a second whatever the resolution. A
preview may start at the keyframe nearest its middle and end just before the keyframe nearest
its end (or at the video's end), as long as it stays inside its part (a part no longer than a
preview is previewed whole, exactly); a part only at a keyframe on its first frame, and only
when it runs to the video's end. Otherwise re-encoded from the exact time, as the split's
mezzanine is (progressive, SDR, at the source's size): ~1.2-1.7 s for 5 s of 720p on two cores,
~10 s of 4K.

Times are seconds into the video from the file's start, the earliest of its tracks, as ffmpeg's
input ``-ss`` counts them and a player shows them: the frame at ``--start 2`` is the same
whichever way the part is cut.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from stereo_spot.domain import PREVIEW_SECONDS, Part, SourceInfo, clock
from stereo_spot.errors import InputRejected
from stereo_spot.media.assemble import (
    aac_options,
    mp4_audio_options,
    source_tracks,
    track_name_options,
)
from stereo_spot.media.chapters import chapters_within, output_with_chapters, read_chapters
from stereo_spot.media.ffmpeg_run import MediaError, run_ffmpeg, run_ffmpeg_watched, safe_input
from stereo_spot.media.probe import (
    TEXT_SUBTITLE_CODECS,
    count_video_frames,
    probe_source,
    scan_keyframes,
    timeline_start,
    video_packets,
)
from stereo_spot.media.split import (
    COPYABLE_CONTAINERS,
    MP4_FAMILY,
    UNTIMED_CONTAINERS,
    copy_refusal,
    engine_ready_picture,
    keyframes_every,
)
from stereo_spot.media.subrip import cues_within
from stereo_spot.media.timecode import shifted_timecode
from stereo_spot.settings import Settings

log = logging.getLogger(__name__)


# ffmpeg would copy the source's timecode, the time of its first frame, onto an excerpt that
# starts elsewhere; an empty value drops it (from the file, and from the picture's stream, where
# MOV keeps it). A preview carries none; a part, the source's moved on to its first frame.
NO_TIMECODE = {"metadata": "timecode=", "metadata:s:v:0": "timecode="}


def cut_preview(
    source: Path,
    workdir: Path,
    settings: Settings,
    within: Part | None = None,
    info: SourceInfo | None = None,
) -> Path:
    """About :data:`PREVIEW_SECONDS` from the middle of ``source`` (probed first, unless its
    probe ``info`` is given), or of the part ``within`` it, written in ``workdir`` under the
    source's own name."""
    info = info or probe_source(source, settings)
    return cut_excerpt(source, info, PREVIEW_SECONDS, workdir / f"{source.stem}.mp4", within)


def preview_sound_note(info: SourceInfo, output: Path) -> str | None:
    """What a preview of the video ``info`` describes into ``output`` says of its sound: its
    excerpt is an MP4 (the portal plays it), whose sound is AAC, where a ``.mov`` or ``.mkv``
    result of the whole video or a part keeps the file's PCM as it is."""
    if output.suffix.lower() not in (".mov", ".mkv"):
        return None  # an MP4's note says it already
    if not any(codec.startswith("pcm_") for codec in info.audio_codecs):
        return None
    return (
        "A preview's sound is AAC; the whole video or a part (--start/--end) keeps the file's "
        f"PCM sound in a {output.suffix.lower()} result."
    )


def part_bounds(info: SourceInfo, part: Part) -> tuple[float, float]:
    """Where ``part`` starts in the video ``info`` describes, and how long it runs there (to
    the video's end at most)."""
    if part.start >= info.duration:
        raise InputRejected(
            f"The part asked for starts at {_time_said(part.start)}, and the video is only "
            f"{_length_said(info.duration, part.start)} long."
        )
    end = info.duration if part.end is None else min(part.end, info.duration)
    return part.start, end - part.start


def read_for_part(source: Path, part: Part, settings: Settings) -> SourceInfo | None:
    """``source``'s probe, after refusing a part that starts past its end (a typo in --start,
    said before the video is copied or uploaded for a job that could only fail); None for a
    file that is no video, whose job then fails with the reason, as without a part."""
    try:
        info = probe_source(source, settings)
    except InputRejected:
        return None
    part_bounds(info, part)
    return info


def _time_said(seconds: float) -> str:
    """A time in the video as it was likely given: ``12.5 s``, or past a minute as a clock
    (``1:02:30``, not ``3750 s``)."""
    return f"{seconds:g} s" if seconds < 60 else clock(seconds)


def _length_said(duration: float, start: float) -> str:
    """How long the video is, in the manner :func:`_time_said` says the start."""
    return f"{_shorter(duration, start)} s" if duration < 60 else clock(duration)


def _shorter(duration: float, start: float) -> str:
    """``duration`` to a tenth of a second, or to the millisecond where a tenth would not show
    it shorter than ``start`` ("starts at 4.8 s, and the video is only 4.8 s long")."""
    tenths = f"{duration:.1f}"
    return tenths if float(tenths) < start else f"{duration:.3f}"


def cut_excerpt(
    source: Path, info: SourceInfo, seconds: float, target: Path, within: Part | None = None
) -> Path:
    """``target`` := about ``seconds`` of ``source`` (all its audio too) from the middle of the
    video, or of the part ``within`` it."""
    first, length = part_bounds(info, within or Part())
    middle = first + max(0.0, (length - seconds) / 2)
    whole = seconds >= length
    seconds = min(seconds, length)
    end = first + length
    to_the_end = end >= info.duration
    frame = 1 / info.fps
    keyframes = _copy_keyframes(source, info)
    # A copy starts on a keyframe near the middle, but not before the part's first picture:
    # one nearest the middle of a 2 s part from 1 s was the video's first, at 0 s. A part no
    # longer than the excerpt is then copied only from a keyframe that is its first picture,
    # and until one that is the first after it (or the video's end).
    tolerance = min(seconds / 2, middle - first + frame - TIME_SLACK)
    start = _start_keyframe(keyframes, info, middle, tolerance, earliest=first)
    until = None
    if start is not None and whole:
        until = _end_keyframe(keyframes, start, end, end, end + frame, to_the_end)
    elif start is not None:
        # About as long as asked, and no picture past the part's end.
        wanted = start.time + seconds
        earliest, latest = wanted - seconds / 2, wanted + seconds / 2
        until = _end_keyframe(keyframes, start, wanted, earliest, latest, to_the_end, end + frame)
    if start is not None and until is not None:
        try:
            _copy_cut(
                source, info, start, target, mp4_audio_options(info.audio_codecs), until=until
            )
            if _holds_exactly(target, start, until, info):
                return target
            log.info("excerpt by stream copy held other frames than planned; re-encoding it")
        except MediaError as error:
            log.info("excerpt by stream copy failed (%s); re-encoding it", error)
    channels = source_tracks(source, info.video_stream).audio_channels if info.audio_codec else []
    # To the end, every frame left, as a part's cut (a header's duration may end early).
    encoded = None if to_the_end and middle + seconds >= end - frame / 2 else seconds
    _encoded_cut(source, info, middle, encoded, target, aac_options(channels))
    return target


def _holds_exactly(cut: Path, start: _Keyframe, until: _Keyframe, info: SourceInfo) -> bool:
    """Whether the copy ``cut`` from ``start`` holds the pictures from it until ``until``,
    every one and no other: as many as the source shows between them, none shown at or past
    ``until`` (so none missing either)."""
    times = [p.time for p in video_packets(cut) if p.shown and p.time is not None]
    if not times:
        return False
    if until.ends_before is None:
        return True  # to the video's end
    span = max(times) - min(times)
    return (
        len(times) == until.shown_before - start.shown_before
        and start.time + span < until.time - 0.25 / info.fps
    )


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
    # the join and a rewrap treat them as the source's.
    sound = {"acodec": "copy"}
    texts, kept = _kept_tracks(source, info, start)
    # Matroska keeps no display matrix: a phone's sideways picture is turned upright instead.
    if start + seconds >= info.duration and not info.rotation:
        # Only from a keyframe that is the part's first picture, the first at or after its
        # start, as the re-encoded cut's -ss keeps.
        keyframes = _copy_keyframes(source, info)
        frame = 1 / info.fps
        keyframe = _start_keyframe(keyframes, info, start, frame - TIME_SLACK, earliest=start)
        if keyframe is not None:
            _copy_cut(source, info, keyframe, target, sound, texts, kept)
            return target
    if keyframe_seconds:
        kept.update(keyframes_every(keyframe_seconds))
    # To the end, every frame left: a header's duration may end before the last frame does (a
    # variable-frame-rate video lost its last two frames to it).
    length = None if start + seconds >= info.duration else seconds
    _encoded_cut(source, info, start, length, target, sound, texts, kept, on_progress)
    if count_video_frames(target) == 0:
        raise InputRejected(
            f"The part {part.label} holds no frame of the video, whose frames last "
            f"{1 / info.fps:.3f} s each; ask for a longer part."
        )
    return target


# Subtitle tracks a part copies as they are: styled text, and the pictures of DVDs, Blu-rays and
# DVB, which Matroska holds. Other text tracks (SubRip, MP4's mov_text, a QuickTime caption
# track) are cut as SubRip text.
COPIED_SUBTITLES = {"ass", "ssa", "webvtt", "dvd_subtitle", "hdmv_pgs_subtitle", "dvb_subtitle"}


# How long before a part's start a text cue may begin and still be on screen at it.
TEXT_LOOKBACK_SECONDS = 30.0


@dataclass(frozen=True)
class _AsSubRip:
    """A source's plain text track (SubRip, MP4's mov_text, a QuickTime caption track), kept
    as SubRip cut from the part's start, where the cue then on screen keeps what is left of it
    (``subrip.cues_within``)."""

    number: int  # among the source's subtitle tracks


def _kept_tracks(
    source: Path, info: SourceInfo, start: float
) -> tuple[list[str | _AsSubRip], dict]:
    """What a part from ``start`` keeps besides its picture and sound: the source's subtitle
    tracks, shifted to its times, and a Matroska source's attachments (the fonts its styled
    subtitles use), as ffmpeg stream selectors or text tracks to cut as SubRip; and the output
    options that write them into Matroska, name every track as the source names it, and move
    the source's timecode on to the part's first frame."""
    tracks = source_tracks(source, info.video_stream)
    # Names as the join gives them: sound tracks, then text subtitles in their own order. ffmpeg
    # carries a picture track's title itself (only Matroska and MPEG-TS hold those tracks).
    names = track_name_options(tracks, "title")
    options: dict[str, object] = {k: v for k, v in names.items() if k.startswith("metadata:s:a:")}
    text_names = iter(tracks.subtitle_names)
    kept: list[str | _AsSubRip] = []
    for number, codec in enumerate(tracks.subtitle_codecs):
        text = codec in TEXT_SUBTITLE_CODECS
        name = next(text_names) if text else None
        if codec not in COPIED_SUBTITLES and not text:
            continue  # a subtitle format Matroska cannot hold and ffmpeg cannot turn to text
        out = len(kept)
        kept.append(f"s:{number}" if codec in COPIED_SUBTITLES else _AsSubRip(number))
        options[f"c:s:{out}"] = "copy"
        if name:
            options[f"metadata:s:s:{out}"] = f"title={name}"
        # A track read back from SubRip has no tags of its own: it gets the source's language
        # and flags (a film's forced subtitles), as a copied track keeps them. Without them the
        # part's result said "und" where the whole video's said "eng". (The same track named
        # by a second specifier, "subtitle, subtitle number n": ffmpeg-python writes an option
        # once, and each -metadata sets one tag.)
        if language := tracks.subtitle_languages[number]:
            options[f"metadata:s:s:s:{out}"] = f"language={language}"
        options[f"disposition:s:{out}"] = tracks.subtitle_dispositions[number]
    if kept:
        # A copied track's cue still on screen at the start would come with a time before it,
        # and Matroska would move every track by that much (the join then put a sign 0.6 s
        # late); such a cue is left out. A SubRip one keeps what is left of it.
        options["copypriorss:s"] = 0
    if tracks.attachments:
        kept.append("t")
        options["c:t"] = "copy"
    if tracks.timecode:
        # The join reads a Matroska source's timecode from its container.
        before = frames_before(start - tracks.lead, info.fps)
        timecode = shifted_timecode(tracks.timecode, before, info.fps)
        options["metadata"] = f"timecode={timecode or ''}"
        if tracks.reel_name:
            # Beside it: a MOV's is on its timecode track, which the part does not copy.
            options["metadata:g"] = f"reel_name={tracks.reel_name}"
    return kept, options


def frames_before(start: float, fps: float) -> int:
    """How many frames of a ``fps`` video come before a part that starts ``start`` s after its
    first picture: the cut keeps the first frame at or after its start (the transcode's -ss, a
    copy's keyframe), a time Matroska keeps to the millisecond counting as at it. Rounded to the
    nearest frame, a part from 0.41 s of a 29.97 fps video (frame 12.29) was given frame 12's
    timecode, and its first picture was frame 13."""
    return max(0, math.ceil(start * fps - TIME_SLACK * fps))


# ffmpeg seeks a container indexed by decode times (Matroska; MP4 is indexed by presentation
# times) this much before the -ss it is given when the video has B-frames, to be sure to land
# before the picture asked for (fftools' "DTS heuristic"): a seek to a keyframe landed on the
# keyframe before it, and a part from 8 s started at 7.5 s. A cut from a keyframe asks that much
# after it instead, with its picture's times moved back as much.
DTS_SEEK_MARGIN = 3 / 23


@dataclass(frozen=True)
class _Keyframe:
    """Where a cut by stream copy may start, or end just before."""

    time: float  # seconds into the video (the module's note)
    shown_before: int  # pictures the video shows before it
    # The decode time, in the same count, at which a copy stops just before it (ffmpeg stops
    # a copy by decode times; None: it is the first, or a copy to the video's end).
    ends_before: float | None


# How far a time read from a file may lie from the one it stands for: Matroska keeps times to
# the millisecond (a picture at 49/24 s is at 2.042 s).
TIME_SLACK = 0.0005


@dataclass(frozen=True)
class _Copyable:
    """Where a cut of a video by stream copy may start and end."""

    keyframes: list[_Keyframe]
    end: float  # when its last picture ends, in the same count


def _copy_keyframes(source: Path, info: SourceInfo) -> _Copyable | None:
    """The keyframes a cut of ``source`` by stream copy may start or end on; None where it
    must be re-encoded (a source the split would not copy: its container or codec, open GOPs,
    an edit list's hidden pictures)."""
    if copy_refusal(info):
        return None
    scanned = scan_keyframes(source, info.video_stream)
    if not scanned.times or scanned.open_gop or scanned.hidden:
        # An open GOP's cut would start with pictures no decoder can show; a trimmed clip's
        # with pictures its edit list hides.
        return None
    # Counted from the file's start, as the re-encoded cut's -ss counts: from the picture's own
    # start, a part from 2 s of a video that starts 0.3 s after its sound began at 2.3 s when
    # copied to the end, and at 2.0 s when re-encoded to 5.5 s.
    origin = timeline_start(source)
    first = scanned.times[0] if scanned.start is None else scanned.start
    keyframes = [
        _Keyframe(time - origin, shown, None if stop is None else stop - origin)
        for time, shown, stop in zip(
            scanned.times, scanned.shown_before, scanned.ends_before, strict=True
        )
    ]
    return _Copyable(keyframes, first - origin + info.duration)


def _start_keyframe(
    copyable: _Copyable | None,
    info: SourceInfo,
    wanted: float,
    tolerance: float,
    earliest: float,
) -> _Keyframe | None:
    """The keyframe of ``copyable`` nearest ``wanted``, if it lies within ``tolerance`` of it
    and not before ``earliest``: where a cut by stream copy from about ``wanted`` starts."""
    if copyable is None:
        return None
    keyframes = copyable.keyframes
    # Of two keyframes as near (to the millisecond), the earlier.
    nearest = min(
        (k for k in keyframes if k.time >= earliest - TIME_SLACK),
        key=lambda k: (round(abs(k.time - wanted), 3), k.time),
        default=None,
    )
    if nearest is None or abs(nearest.time - wanted) > tolerance:
        return None
    later = [k.time for k in keyframes if k.time > nearest.time]
    if _seek_margin(info) and later and later[0] - nearest.time <= DTS_SEEK_MARGIN + 0.002:
        return None  # a seek past the margin would land on the next keyframe
    return nearest


def _end_keyframe(
    copyable: _Copyable | None,
    start: _Keyframe,
    wanted: float,
    earliest: float,
    latest: float,
    to_the_end: bool,
    before: float | None = None,
) -> _Keyframe | None:
    """Where a copy from ``start`` ends: just before the keyframe nearest ``wanted`` from
    ``earliest`` until ``latest`` (and ``before``: its last picture is then before the part's
    end), or at the video's end where the cut may run ``to_the_end``; None where none lies
    there.

    Ending anywhere else, a copy of a video with B-frames is ragged: ffmpeg stops it by decode
    times, and a picture decoded before those shown ahead of it was kept with a hole before it
    (frames 64-214 then 216 of a 29.97 fps preview, 216 shown twice as long).
    """
    if copyable is None:
        return None
    last = latest if before is None else min(latest, before)
    ends = [
        k
        for k in copyable.keyframes
        if start.time < k.time
        and earliest - TIME_SLACK <= k.time < last - TIME_SLACK
        and k.ends_before is not None
    ]
    if to_the_end and earliest - TIME_SLACK <= copyable.end < latest - TIME_SLACK:
        # The part runs on to the video's end, wherever that lies past what its end says.
        ends.append(_Keyframe(copyable.end, 0, None))
    return min(ends, key=lambda k: (round(abs(k.time - wanted), 3), k.time), default=None)


def _seek_margin(info: SourceInfo) -> float:
    return 0.0 if info.container == MP4_FAMILY else DTS_SEEK_MARGIN


def _copy_cut(
    source: Path,
    info: SourceInfo,
    start: _Keyframe,
    target: Path,
    audio: dict[str, object],
    also: Sequence[str | _AsSubRip] = (),
    extra: dict[str, object] | None = None,
    until: _Keyframe | None = None,
) -> None:
    """``target`` := ``source`` copied from the keyframe ``start`` until just before the
    keyframe ``until`` (None, or one with no ``ends_before``: to the end)."""
    # The millisecond past the keyframe lands the seek on it and no earlier one.
    ss = start.time + 0.001
    reading, stop = _Reading(ss, None), None
    if until is not None and until.ends_before is not None:
        reading, stop = _Reading(ss, until.time - start.time), until.ends_before
    found = safe_input(source, **reading.input_options())
    picture = found
    margin = _seek_margin(info)
    if margin or stop is not None:
        # The picture from an input of its own, seeked past the margin and moved back by it:
        # the sound and subtitles keep the exact start, which drops what comes before it. Its
        # -t stops at a decode time, which ffmpeg counts from -ss less -itsoffset (measured: it
        # stopped the picture the margin early when given the sound's).
        seek: dict[str, object] = {"ss": f"{ss + margin:.6f}"}
        if margin:
            seek["itsoffset"] = f"{margin:.6f}"
        if stop is not None:
            seek["t"] = f"{stop - ss:.6f}"
        picture = safe_input(source, **seek)
    streams = [picture[f"v:{info.video_stream}"]]
    options: dict[str, object] = {"vcodec": "copy", "avoid_negative_ts": "make_zero", **NO_TIMECODE}
    if info.audio_codec:
        streams.append(found["a"])
        options.update({**audio, **SOUND_FROM_THE_START})
    streams += _other_tracks(source, found, reading, also, target.parent)
    end = until.time if until is not None and until.ends_before is not None else None
    chapters = chapters_within(read_chapters(source), start.time, end)
    options.update(extra or {})
    run_ffmpeg(output_with_chapters(streams, str(target), options, chapters, target.parent))


# A copied sound track starts on its first packet at or after the start, within a packet
# (~20 ms) of the picture, which the join's lead keeps; by default ffmpeg also copies what lies
# between the keyframe its seek landed on and the start (0.23 s of sound before a part's first
# frame; a second before a Matroska preview's).
SOUND_FROM_THE_START = {"copypriorss:a": 0}

# The containers the split copies are indexed by time: an input's -ss seeks them so that the
# frames a transcode keeps start exactly there. Others are sought by guessing a byte position
# (MPEG-TS, MPEG-PS, ...), which may land past it: a part of a TV recording from 2 s started at
# 2.4 s, the next GOP. They are sought this much earlier and trimmed to the start after decoding.
UNINDEXED_SEEK_MARGIN = 10.0


def _encoded_cut(
    source: Path,
    info: SourceInfo,
    start: float,
    seconds: float | None,  # None: to the end
    target: Path,
    audio: dict[str, object],
    also: Sequence[str | _AsSubRip] = (),
    extra: dict[str, object] | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> None:
    # Re-encoded as the split's mezzanine is, so the excerpt's pictures are what the engine
    # takes (fields joined, HDR tone-mapped, an odd size kept): a plain x264 encode wove an
    # interlaced source's fields into progressive pictures the split then kept, failed on an
    # odd size, and squeezed HDR into 8 bits before its tone mapping. Seeking in the input
    # while transcoding is frame-exact where the container is indexed by time: ffmpeg decodes
    # from the keyframe before and drops what comes before ``start``.
    options = {**engine_ready_picture(info), **NO_TIMECODE, **(extra or {})}
    if info.container in COPYABLE_CONTAINERS:
        reading = _Reading(start, seconds)
        found = safe_input(source, **reading.input_options())
    else:
        # Sought from earlier and trimmed to the start on the way out, which is exact wherever
        # the seek landed before it.
        margin = min(UNINDEXED_SEEK_MARGIN, start)
        reading = _Reading(start - margin, seconds, trimmed=margin)
        untimed = info.container in UNTIMED_CONTAINERS
        found = safe_input(source, **reading.input_options(slack=1.0 if untimed else 0.0))
        options["ss"] = f"{margin:.3f}"
    if seconds is not None:
        # ffmpeg's -t lasts from a decoded stream's first picture, not from where the cut was
        # sought: a part starting between two frames held one frame too many, and one sought
        # from before its start in a file with no index as much as a GOP more (15 s to 17 s of
        # a TV recording held 3 s of picture). The picture ends where the part does instead,
        # after the filters: an AVI's frames are timed there by their count
        # (engine_ready_picture), which its demuxer's own times may run a frame ahead of.
        end = f"trim=end={reading.trimmed + seconds:.6f}"
        options["vf"] = f"{options['vf']},{end}" if "vf" in options else end
    streams = [found[f"v:{info.video_stream}"]]
    if info.audio_codec:
        streams.append(found["a"])
        options.update({**audio, **SOUND_FROM_THE_START})
    streams += _other_tracks(source, found, reading, also, target.parent)
    end = None if seconds is None else start + seconds
    chapters = chapters_within(read_chapters(source), start, end)
    output = output_with_chapters(streams, str(target), options, chapters, target.parent)
    # A part may be a film's hour; limited by standing still, as the mezzanine is.
    expected = info.duration - start if seconds is None else seconds
    run_ffmpeg_watched(output, expected, on_progress)


@dataclass(frozen=True)
class _Reading:
    """How a cut reads its source: from ``ss`` seconds into it, of which its output then drops
    the first ``trimmed`` seconds, for ``seconds`` after that (None: to the end)."""

    ss: float
    seconds: float | None
    trimmed: float = 0.0

    def input_options(self, earlier: float = 0.0, slack: float = 0.0) -> dict[str, object]:
        """ffmpeg input options reading from ``earlier`` seconds before ``ss`` (``slack``
        seconds past the end)."""
        # From the very start, no seek: a seek to 0 in a file whose picture starts between
        # keyframes landed past its first sound (a part from 0 s lost 0.19 s of it).
        ss = self.ss - earlier
        options: dict[str, object] = {"ss": f"{ss:.6f}"} if ss > 0 else {}
        if self.seconds is not None:
            options["t"] = f"{earlier + self.trimmed + self.seconds + slack:.3f}"
        return options


def _other_tracks(
    source: Path,
    found: ffmpeg.nodes.FilterableStream,
    reading: _Reading,
    also: Sequence[str | _AsSubRip],
    workdir: Path,
) -> list:
    """The ffmpeg streams of what a cut keeps besides its picture and sound: the tracks ``also``
    selects from ``found``, the cut's input of ``source`` (read as ``reading`` says), and those
    to turn to SubRip, extracted so first (one ffmpeg for all) into ``workdir``."""
    texts = [track for track in also if isinstance(track, _AsSubRip)]
    extracted: dict[_AsSubRip, Path] = {}
    if texts:
        # Read from TEXT_LOOKBACK_SECONDS earlier, its times moved back as much: a cue on
        # screen at the start began before it, and Matroska's demuxer, sought to the start,
        # would not look back for it. The picture and sound left unread (a film's part is
        # gigabytes of them); negative times kept (written as such): cues_within takes them
        # out.
        lookback = min(TEXT_LOOKBACK_SECONDS, reading.ss)
        text_only = safe_input(
            source,
            **reading.input_options(earlier=lookback),
            itsoffset=f"{-(lookback + reading.trimmed):.6f}",
            **{"discard:v": "all", "discard:a": "all"},
        )
        outputs = [
            text_only[f"s:{track.number}"].output(
                str(workdir / f"text-{track.number}.srt"), f="srt", avoid_negative_ts="disabled"
            )
            for track in texts
        ]
        run_ffmpeg(ffmpeg.merge_outputs(*outputs))
        for track in texts:
            raw = workdir / f"text-{track.number}.srt"
            cut = raw.with_suffix(".cut.srt")
            cues = cues_within(raw.read_text(encoding="utf-8"), reading.seconds)
            cut.write_text(cues, encoding="utf-8")
            extracted[track] = cut
    return [
        ffmpeg.input(str(extracted[track]), f="srt", protocol_whitelist="file")["s"]
        if isinstance(track, _AsSubRip)
        else found[track]
        for track in also
    ]
