"""Parts of a video: the part a job converts (``convert --start/--end``), cut to the frame by
the chunk step, and a few seconds from the middle of the video or of a part for a preview
(``convert --preview``, the portal's), cut before the preview's job is made.

Cut by stream copy where that gives what was asked for, from a keyframe of a source the split
would copy too: the source's own pictures, in a fraction of a second whatever the resolution. A
preview may start at the keyframe nearest its middle, and end a few frames late, as long as it
stays inside its part (a part no longer than a preview is previewed whole, exactly); a part only
at a keyframe on its first frame, and only when it runs to the video's end (a copy cut's end
overshoots by the frames its B-frames need, ~4). Otherwise re-encoded from the exact time, as
the split's mezzanine is (progressive, SDR, at the source's size): ~1.2-1.7 s for 5 s of 720p
on two cores, ~10 s of 4K.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
            f"{_shorter(info.duration, part.start)} s long."
        )
    end = info.duration if part.end is None else min(part.end, info.duration)
    return part.start, end - part.start


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
    seconds = min(seconds, length)
    end = first + length
    to_the_end = end >= info.duration
    half_frame = 0.5 / info.fps
    # A copy starts on a keyframe near the middle, but not before the part's first frame: one
    # nearest the middle of a 2 s part from 1 s was the video's first, at 0 s. A part no longer
    # than the excerpt is then copied only from a keyframe on its first frame.
    tolerance = min(seconds / 2, middle - first + half_frame)
    start = copy_start(source, info, middle, tolerance)
    if start is not None:
        # To the video's end, no end is asked for: a copy cut's end is ragged (below).
        copied = None if to_the_end and start + seconds >= end - half_frame else seconds
        try:
            _copy_cut(source, info, start, copied, target, mp4_audio_options(info.audio_codecs))
            shown = _shown_span(target)
            if shown is not None and (to_the_end or start + shown < end - half_frame):
                return target
            log.info("excerpt by stream copy held no frame or ran past the part; re-encoding it")
        except MediaError as error:
            log.info("excerpt by stream copy failed (%s); re-encoding it", error)
    channels = source_tracks(source, info.video_stream).audio_channels if info.audio_codec else []
    # To the end, every frame left, as a part's cut (a header's duration may end early).
    encoded = None if to_the_end and middle + seconds >= end - half_frame else seconds
    _encoded_cut(source, info, middle, encoded, target, aac_options(channels))
    return target


def _shown_span(cut: Path) -> float | None:
    """How long after its first picture the last picture of ``cut`` is shown, in seconds;
    None when it holds none.

    A copy cut ends where ffmpeg stops reading packets, by their decode times: with B-frames,
    a picture decoded before the ones shown ahead of it is kept past the end asked for (by 4
    frames of x264's, with a hole where those it left out would be). The excerpt of a part
    must not run past the part.
    """
    packets = video_packets(cut)
    times = [packet.time for packet in packets if packet.shown and packet.time is not None]
    return max(times) - min(times) if times else None


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
        # Within half a frame: the keyframe then is the part's first frame.
        keyframe = copy_start(source, info, start, tolerance=0.5 / info.fps)
        if keyframe is not None:
            _copy_cut(source, info, keyframe, None, target, sound, texts, kept)
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
        timecode = shifted_timecode(tracks.timecode, round(start * info.fps), info.fps)
        options["metadata"] = f"timecode={timecode or ''}"
    return kept, options


# ffmpeg seeks a container indexed by decode times (Matroska; MP4 is indexed by presentation
# times) this much before the -ss it is given when the video has B-frames, to be sure to land
# before the picture asked for (fftools' "DTS heuristic"): a seek to a keyframe landed on the
# keyframe before it, and a part from 8 s started at 7.5 s. A cut from a keyframe asks that much
# after it instead, with its picture's times moved back as much.
DTS_SEEK_MARGIN = 3 / 23


def copy_start(source: Path, info: SourceInfo, wanted: float, tolerance: float) -> float | None:
    """The presentation time of the keyframe to cut from for a cut at ``wanted`` seconds into
    the video, or None when the cut must be re-encoded: a source the split would not copy (its
    container or codec, open GOPs), or no keyframe within ``tolerance`` of ``wanted``."""
    if copy_refusal(info):
        return None
    scanned = scan_keyframes(source, info.video_stream)
    keyframes = scanned.times
    if not keyframes or scanned.open_gop or scanned.hidden:
        # An open GOP's cut would start with pictures no decoder can show; a trimmed clip's
        # with pictures its edit list hides.
        return None
    wanted = keyframes[0] + wanted  # keyframe times count from the stream's own start
    # Of two keyframes as near (to the millisecond), the earlier.
    nearest = min(keyframes, key=lambda time: (round(abs(time - wanted), 3), time))
    if abs(nearest - wanted) > tolerance:
        return None
    later = [time for time in keyframes if time > nearest]
    if _seek_margin(info) and later and later[0] - nearest <= DTS_SEEK_MARGIN + 0.002:
        return None  # a seek past the margin would land on the next keyframe
    return nearest


def _seek_margin(info: SourceInfo) -> float:
    return 0.0 if info.container == MP4_FAMILY else DTS_SEEK_MARGIN


def _copy_cut(
    source: Path,
    info: SourceInfo,
    start: float,
    seconds: float | None,
    target: Path,
    audio: dict[str, object],
    also: Sequence[str | _AsSubRip] = (),
    extra: dict[str, object] | None = None,
) -> None:
    # Absolute: -ss is the keyframe's own timestamp, not an offset from the file's start; the
    # millisecond past it lands the seek on that keyframe and no earlier one.
    reading = _Reading(start + 0.001, seconds, absolute=True)
    found = safe_input(source, **reading.input_options())
    picture = found
    margin = _seek_margin(info)
    if margin:
        # The picture from an input of its own, seeked past the margin and moved back by it:
        # the sound and subtitles keep the exact start, which drops what comes before it.
        picture = safe_input(
            source, **reading.input_options(earlier=-margin), itsoffset=f"{margin:.6f}"
        )
    streams = [picture[f"v:{info.video_stream}"]]
    options: dict[str, object] = {"vcodec": "copy", "avoid_negative_ts": "make_zero", **NO_TIMECODE}
    if info.audio_codec:
        streams.append(found["a"])
        options.update({**audio, **SOUND_FROM_THE_START})
    streams += _other_tracks(source, found, reading, also, target.parent)
    run_ffmpeg(ffmpeg.output(*streams, str(target), **{**options, **(extra or {})}))


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
    # A part may be a film's hour; limited by standing still, as the mezzanine is.
    expected = info.duration - start if seconds is None else seconds
    run_ffmpeg_watched(ffmpeg.output(*streams, str(target), **options), expected, on_progress)


@dataclass(frozen=True)
class _Reading:
    """How a cut reads its source: from ``ss`` (``absolute``: a timestamp of the file's, not
    an offset from its start), of which its output then drops the first ``trimmed`` seconds,
    for ``seconds`` after that (None: to the end)."""

    ss: float
    seconds: float | None
    absolute: bool = False
    trimmed: float = 0.0

    def input_options(self, earlier: float = 0.0, slack: float = 0.0) -> dict[str, object]:
        """ffmpeg input options reading from ``earlier`` seconds before ``ss`` (``slack``
        seconds past the end)."""
        # From the very start, no seek: a seek to 0 in a file whose picture starts between
        # keyframes landed past its first sound (a part from 0 s lost 0.19 s of it).
        ss = self.ss - earlier
        options: dict[str, object] = {"ss": f"{ss:.6f}"} if ss > 0 or self.absolute else {}
        if self.absolute:
            options["seek_timestamp"] = 1
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
