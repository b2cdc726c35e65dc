"""Split the video stream of a source into keyframe-aligned segments.

Only the video is split (audio is muxed back untouched from the source at the end: re-encoding
audio per segment leaves 20-70 ms gaps at every boundary). Stream copy cuts only at keyframes,
so a source whose keyframes are too sparse for the requested length, or whose container or codec
cannot be cut by copy, is first transcoded once to a mezzanine with keyframes forced at the
boundaries, and that is split instead.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import ffmpeg

from stereo_spot.cpus import decoder_threads, encoder_threads, usable_cpus
from stereo_spot.domain import SourceInfo
from stereo_spot.errors import InputRejected
from stereo_spot.media.ffmpeg_run import MediaError, run_ffmpeg, run_ffmpeg_watched, safe_input
from stereo_spot.media.probe import (
    Keyframes,
    count_video_frames,
    first_decodable,
    scan_keyframes,
    starting_size,
    timestamps_jump,
    video_frame_times,
)

log = logging.getLogger(__name__)

# Containers and codecs that the segment muxer can cut by stream copy into MP4 segments.
MP4_FAMILY, MATROSKA_FAMILY = "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"
COPYABLE_CONTAINERS = (MP4_FAMILY, MATROSKA_FAMILY)
COPYABLE_CODECS = {"h264", "hevc", "av1", "vp9"}
# A segment may run this many times longer than asked before we pay for a mezzanine.
MAX_SEGMENT_STRETCH = 2.0


def copy_refusal(info: SourceInfo) -> str | None:
    """Why the source's container or video codec cannot be cut by stream copy, or None."""
    if info.container not in COPYABLE_CONTAINERS:
        return f"container {info.container} cannot be cut by stream copy"
    if info.video_codec not in COPYABLE_CODECS:
        return f"codec {info.video_codec} cannot be cut by stream copy"
    return None


def needs_mezzanine(info: SourceInfo, keyframes: Keyframes, segment_seconds: float) -> str | None:
    """Why the source cannot be split by stream copy, or None when it can."""
    refusal = copy_refusal(info)
    if refusal:
        return refusal
    if not keyframes.times:
        return "no keyframes found"
    if keyframes.hidden:
        return f"an edit list hides {keyframes.hidden} pictures before its start (a trimmed clip)"
    if keyframes.open_gop:
        # Counting packets would not notice: the pictures are in the segment, undecodable.
        return "its GOPs are open (pictures after a keyframe refer to those before it)"
    # Keyframe times are the file's own, which may start anywhere (at 10 s, an MP4 or MKV
    # remuxed from a TV recording): the video's end is its start plus its duration. Against
    # the duration alone, a 6 s video from 10 s with one keyframe seemed to have no gap at all.
    start = keyframes.times[0] if keyframes.start is None else keyframes.start
    boundaries = [*keyframes.times, start + info.duration]
    widest = max(b - a for a, b in itertools.pairwise(boundaries))
    if info.duration > segment_seconds and widest > MAX_SEGMENT_STRETCH * segment_seconds:
        return f"keyframes are up to {widest:.1f} s apart"
    return None


@dataclass(frozen=True)
class Split:
    segments: list[Path]  # in order
    # Pictures of the source the mezzanine's decoder could not decode (a damaged file): left
    # out of the segments, which hold that many fewer frames than the source has packets.
    undecodable: int = 0
    # Pictures the source holds and does not show (``Keyframes.hidden``), left out too.
    hidden: int = 0
    # Of the undecodable ones, those the video starts with (a TV recording begun part-way through
    # a group of pictures), and how long they last: the segments start that much later.
    undecodable_at_start: int = 0
    first_picture_delay: float = 0.0

    def frames(self, info: SourceInfo) -> int:
        """How many frames of ``info``'s video the segments hold."""
        return info.frames - self.hidden - self.undecodable

    @property
    def damaged(self) -> int:
        """The undecodable pictures past the video's start: damage (``Job.damaged_frames``)."""
        return self.undecodable - self.undecodable_at_start


def split_video(
    source: Path,
    info: SourceInfo,
    segment_seconds: float,
    workdir: Path,
    on_progress: Callable[[float], None] | None = None,
) -> Split:
    """Cut ``source``'s video stream into segments in ``workdir``.

    The frame count of the segments adds up to the source's; if a stream-copy split does not
    (odd timestamps), the mezzanine path is taken instead, and what adds up then is the
    pictures that could be decoded. ``on_progress`` hears how far the mezzanine's transcode
    has got (0..1), the one part of a split that takes long.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    source = with_continuous_timestamps(source, workdir)
    keyframes = scan_keyframes(source, info.video_stream)
    reason = needs_mezzanine(info, keyframes, segment_seconds)
    # The engine shifts pixels along the picture's rows, so it must see the picture as it is
    # shown: a phone video stored sideways (display matrix) is turned upright once here (ffmpeg
    # applies the matrix when it transcodes and writes none), and the result carries no rotation.
    if info.rotation:
        reason = f"the picture is stored rotated by {info.rotation} degrees"
    # Interlaced fields would reach the depth estimate as combs; deinterlace once (one frame out
    # per frame in, timestamps kept).
    if info.interlaced:
        reason = "the video is interlaced"
    # HDR (PQ, HLG) is tone-mapped once to SDR BT.709: the engines and the Dubois anaglyph work
    # on SDR pictures, and 8-bit output could not carry HDR without banding.
    if info.hdr:
        reason = "the video is HDR"
    # Matroska keeps times to the millisecond (a part of a 23.976 fps video, always stored so,
    # came back with frames of 41 and 42 ms, 23.989 fps on average): its segments are put back
    # on the frame rate's exact grid, as a whole MP4 or MOV video's are.
    regrid = info.container == MATROSKA_FAMILY
    if reason is None:
        counted = _copy_split(
            source, info.video_stream, segment_seconds, workdir / "copy", regrid=regrid
        )
        reason = _unusable_copy_split(counted, info)
        if reason is None:
            return Split([segment.path for segment in counted])
    log.info("transcoding to a mezzanine first: %s", reason)
    return _split_through_mezzanine(
        source, info, keyframes, segment_seconds, workdir, on_progress, regrid
    )


def _split_through_mezzanine(
    source: Path,
    info: SourceInfo,
    keyframes: Keyframes,
    segment_seconds: float,
    workdir: Path,
    on_progress: Callable[[float], None] | None,
    regrid: bool = False,
) -> Split:
    """Transcode ``source`` once with a keyframe at every boundary, and split that by copy
    (``regrid``: its millisecond times put back on their frame grid, :class:`FrameGrid`)."""
    mezzanine = workdir / "mezzanine.mp4"
    _transcode_mezzanine(source, info, segment_seconds, mezzanine, on_progress)
    counted = _copy_split(mezzanine, 0, segment_seconds, workdir / "mezzanine", regrid=regrid)
    total = sum(segment.frames for segment in counted)
    shown = info.frames - keyframes.hidden  # the transcode's decoder drops the hidden ones
    if total > shown:
        raise InputRejected(
            f"The video could not be split frame-exactly ({total} of {shown} frames)."
        )
    segments = [segment.path for segment in counted]
    if total == shown:
        return Split(segments, 0, keyframes.hidden)
    # The transcode keeps every picture at its time (one out for each in), so what it lacks is
    # what its decoder refused: a picture whose data is damaged or cut off, which ffmpeg leaves
    # out (the picture before shows for longer, as a player shows it), or the pictures before
    # the first that decodes, which put the segments' start later.
    first = first_decodable(source, info.video_stream)
    log.warning(
        "%d of %d pictures could not be decoded, %d of them first (%.3f s)",
        shown - total, shown, first.skipped, first.delay,
    )  # fmt: skip
    # (Counted by another decoder than the transcode's, so held to what the transcode lacks.)
    at_start = min(first.skipped, shown - total)
    return Split(segments, shown - total, keyframes.hidden, at_start, first.delay)


# The muxer that writes each format whose timestamps may jump (``probe.DISCONTINUOUS_FORMATS``)
# again: the same kind of file, which holds every stream the source did (a DVD's PCM, Ogg's
# Theora). MPEG program streams are written as DVDs write them.
CONTINUOUS_COPY_MUXERS = {"mpegts": "mpegts", "mpeg": "vob", "ogg": "ogg"}
TIMESTAMPS_JUMP = (
    "The video's timestamps jump (a recording whose clock was reset, or pieces joined into "
    "one file), and it could not be read across the jump: {reason}"
)


def with_continuous_timestamps(source: Path, workdir: Path) -> Path:
    """``source``, or, where its timestamps jump (``probe.timestamps_jump``), a copy of its
    pictures, sounds and subtitles in ``workdir`` that the ffmpeg command line wrote reading
    across each jump. Every step reads that copy: the split, the join's times of its segments
    and the sound muxed back all agree with what ffmpeg and players show, 24 s for two pieces of
    12 s, in sync. (ffmpeg moves every stream of the file by one step at a jump, set by the one
    that meets it first; a picture read alone and a sound read alone moved by their own steps,
    42 ms apart, measured, when pieces joined with cat end unevenly.)"""
    kind = timestamps_jump(source)
    if kind is None:
        return source
    muxer = CONTINUOUS_COPY_MUXERS[kind]
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / f"continuous.{muxer}"
    log.info("the video's timestamps jump: reading it through a copy ffmpeg made continuous")
    original = safe_input(source)
    # Every picture from the first packet (-copyinkf: a recording begun mid-GOP keeps the
    # pictures before its first keyframe, which the source's frame count holds); subtitles
    # only where the muxer takes them.
    for streams in (
        [original["v"], original["a?"], original["s?"]],
        [original["v"], original["a?"]],
    ):
        try:
            run_ffmpeg(ffmpeg.output(*streams, str(target), c="copy", copyinkf=None, f=muxer))
            return target
        except MediaError as error:
            failure = error
    raise InputRejected(TIMESTAMPS_JUMP.format(reason=failure)) from None


@dataclass(frozen=True)
class _Segment:
    path: Path
    frames: int
    size: tuple[int, int]  # of its first picture


def _unusable_copy_split(counted: list[_Segment], info: SourceInfo) -> str | None:
    """Why segments cut by stream copy cannot be converted as they are, or None."""
    if sum(segment.frames for segment in counted) != info.frames:
        return "stream-copy segments lost frames"
    # A stream may change size midway (a WebRTC or screen recording following its bandwidth, a
    # broadcast between programmes). The model server scales a picture that changes size within
    # a segment to the size the segment starts at; a segment that starts at another size would
    # come out at it, and the join needs one size. The mezzanine's encoder scales every picture
    # to the video's first size.
    first = counted[0].size
    other = next((segment.size for segment in counted if segment.size != first), None)
    if other:
        return f"the picture changes size midway ({_size(first)}, then {_size(other)})"
    return None


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _copy_split(
    source: Path, stream_number: int, segment_seconds: float, outdir: Path, regrid: bool = False
) -> list[_Segment]:
    """The segments the muxer cut from video stream ``stream_number``, with their frame
    counts and first pictures' sizes; ``regrid``: with the times of a constant frame rate kept
    to the millisecond put back on their exact grid (:class:`FrameGrid`)."""
    outdir.mkdir(parents=True, exist_ok=True)
    for stale in outdir.glob("*.mp4"):
        stale.unlink()
    grid = FrameGrid.of(video_frame_times(source, stream_number)) if regrid else None
    regridding = {"bsf:v": grid.timestamp_filter()} if grid else {}
    stream = safe_input(source).output(
        str(outdir / "%05d.mp4"),
        map=f"0:v:{stream_number}",
        c="copy",
        f="segment",
        segment_time=f"{segment_seconds:g}",
        segment_format="mp4",
        reset_timestamps=1,
        avoid_negative_ts="make_zero",
        **regridding,
    )
    run_ffmpeg(stream)
    counted = []
    for path in sorted(outdir.glob("*.mp4")):
        frames = count_video_frames(path)
        # The segment muxer may leave an empty trailing file when the last cut lands on the end.
        if frames > 0:
            counted.append(_Segment(path, frames, starting_size(path)))
    if not counted:
        raise InputRejected("The video stream could not be read.")
    return counted


# How far a time kept to the millisecond lies from the time it stands for, at most (and some
# rounding of its own).
MILLISECOND_ROUNDING = 0.0005 + 1e-6


@dataclass(frozen=True)
class FrameGrid:
    """The exact times of a constant-frame-rate video whose times were kept to the millisecond
    (Matroska's): frame k at ``origin`` + k x ``frame`` ticks of ``time_base``, each within half
    a millisecond of its time as kept. Whole-millisecond frames (25 or 50 fps) have none."""

    rate: Fraction
    time_base: Fraction
    origin: int  # ticks

    @property
    def frame(self) -> int:
        """How many ticks a frame lasts."""
        return int(self.time_base.denominator * self.rate.denominator / self.rate.numerator)

    def times(self, count: int) -> list[float]:
        """The first ``count`` frames' times, in seconds."""
        return [float((self.origin + k * self.frame) * self.time_base) for k in range(count)]

    def timestamp_filter(self) -> str:
        """ffmpeg's bitstream filters that move each packet's times (and duration) onto the
        grid: the first only changes the time base (exactly: a millisecond is a whole number of
        its ticks), the second rounds to the nearest frame from the first packet's time (which
        the ffmpeg command line has moved by the file's start; ffmpeg 5.1's setts sets the
        decode time as the presentation time unless told both)."""
        frame = self.frame

        def nearest(time: str) -> str:
            return f"STARTPTS+round(({time}-STARTPTS)/{frame})*{frame}"

        return (
            f"setts=time_base={self.time_base}:pts=PTS:dts=DTS,"
            f"setts=pts={nearest('PTS')}:dts={nearest('DTS')}"
            f":duration=round(DURATION/{frame})*{frame}"
        )

    @classmethod
    def of(cls, times: list[float]) -> FrameGrid | None:
        """The grid ``times`` (seconds, in order) were rounded from, or None: they are not every
        one a whole millisecond, or not a constant frame rate's (a variable frame rate keeps
        its times as they are), or its frames last whole milliseconds."""
        if len(times) < 2 or any(abs(t * 1000 - round(t * 1000)) > 1e-6 for t in times):
            return None
        estimate = (len(times) - 1) / (times[-1] - times[0]) if times[-1] > times[0] else 0
        if estimate <= 0:
            return None
        # The rates cameras and editors use (NTSC's, whole and half ones): a few frames would
        # fit others too.
        candidates = {
            Fraction(round(estimate * 1.001) * 1000, 1001),
            Fraction(round(estimate)),
            Fraction(round(estimate * 2), 2),
        }
        fits = []
        for rate in candidates:
            if rate <= 0:
                continue
            period = rate.denominator / rate.numerator
            offsets = [t - k * period for k, t in enumerate(times)]
            low, high = min(offsets), max(offsets)
            if high - low <= 2 * MILLISECOND_ROUNDING:
                # The first frame stays where it is when it can (a part starts at 0).
                first = times[0]
                if max(high - first, first - low) > MILLISECOND_ROUNDING:
                    first = (low + high) / 2
                fits.append((high - low, rate, first))
        if not fits:
            return None
        _, rate, origin = min(fits)
        if (1000 * rate.denominator) % rate.numerator == 0:
            return None  # its frames last whole milliseconds: kept exactly already
        time_base = Fraction(1, math.lcm(rate.numerator, 1000))
        return cls(rate, time_base, round(origin / time_base))


def exact_frame_times(path: Path, stream_number: int = 0) -> list[float]:
    """``probe.video_frame_times``, put back on their exact grid where they are a constant
    frame rate's kept to the millisecond (:class:`FrameGrid`)."""
    times = video_frame_times(path, stream_number)
    grid = FrameGrid.of(times)
    return grid.times(len(times)) if grid else times


# Containers whose frames carry no presentation timestamps of their own (AVI stores only a frame
# rate; B-frames and packed bitstreams make ffmpeg guess and leave holes). Their frames are
# retimed by index at the nominal rate, which is what an AVI means.
UNTIMED_CONTAINERS = ("avi",)


def sdr_tone_map(pix_fmt: str) -> str:
    """The ffmpeg filters that turn an HDR (PQ or HLG, as tagged) picture into SDR BT.709 in
    ``pix_fmt``: to linear light with 100 cd/m2 as SDR white, BT.709 primaries, highlights
    compressed by the Mobius curve (it leaves the SDR range nearly as it is, where Hable dims
    it: 100 cd/m2 white became Y 201 against 151), then the BT.709 transfer and matrix in
    limited range; the explicit steps keep swscale's default BT.601 matrix out of it."""
    return ",".join(
        [
            "zscale=transfer=linear:npl=100",
            "format=gbrpf32le",
            "zscale=primaries=bt709",
            "tonemap=tonemap=mobius:desat=0",
            "zscale=transfer=bt709:matrix=bt709:range=limited",
            f"format={pix_fmt}",
        ]
    )


# Near-lossless x264 for the pictures the engine decodes next (the mezzanine, an excerpt that
# could not be cut by copy): decoded once, so quality matters more than size.
INTERMEDIATE_X264 = {"vcodec": "libx264", "preset": "veryfast", "crf": 12}


def engine_ready_picture(info: SourceInfo) -> dict[str, object]:
    """ffmpeg output options that re-encode ``info``'s picture as the engine takes it, with
    :data:`INTERMEDIATE_X264`: progressive, SDR BT.709, one time per frame, at its own size
    (ffmpeg turns a rotated picture upright whenever it transcodes).

    Timestamps pass through, so variable-frame-rate sources keep every frame where it is.
    """
    options: dict[str, object] = {}
    # Interlaced fields would reach the depth estimate as combs: one frame out per frame in.
    filters = ["yadif=mode=send_frame"] if info.interlaced else []
    if info.container in UNTIMED_CONTAINERS:
        # Rounded: in floating point N/FRAME_RATE/TB falls just short of N for some frames (at
        # 25 fps, frame 29 gave 28.999..., truncated to 28: two frames on one timestamp, which
        # the model server's muxer refuses).
        filters.append("setpts=round(N/FRAME_RATE/TB)")
    # 4:2:0 needs even sizes; an odd-sized picture keeps every pixel in 4:4:4.
    pix_fmt = "yuv420p" if info.width % 2 == 0 and info.height % 2 == 0 else "yuv444p"
    if info.hdr:
        filters.append(sdr_tone_map(pix_fmt))
        options.update(color_primaries="bt709", color_trc="bt709", colorspace="bt709")
    if filters:
        options["vf"] = ",".join(filters)
    return {
        **INTERMEDIATE_X264,
        "pix_fmt": pix_fmt,
        "fps_mode": "passthrough",
        # The encoder keeps the source's time base. By default it takes 1/frame rate, and a
        # Matroska source's millisecond timestamps then round onto that grid: a video starting
        # half a frame in (21 ms, an AAC priming delay) had two frames on one timestamp, which
        # the model server's muxer refused.
        "enc_time_base": "-1",
        **options,
    }


def keyframes_every(seconds: float) -> dict[str, str]:
    """The ffmpeg output option that makes x264 start a GOP at every multiple of ``seconds``:
    where the split cuts, so a transcode made for it is split by copy."""
    return {"force_key_frames": f"expr:gte(t,n_forced*{seconds:g})"}


def mezzanine_transcode(
    source: Path, info: SourceInfo, segment_seconds: float, target: Path
) -> ffmpeg.nodes.OutputStream:
    """The ffmpeg command that transcodes ``source``'s picture to the mezzanine ``target``, with
    its decoder, filter and x264 threads counted on the CPUs this process may use.

    Left to themselves they count the node's cores, which a pod with a CPU quota still sees, and
    x264's frame threads each hold frames of their own: at 3840x2160, 1.68 GiB of RSS with 12
    threads and 2.74 GiB with 24 (a 16-core node), against 0.91 GiB with 3 (2 CPUs) and 1.15 GiB
    with 6 (4 CPUs), measured with ffmpeg 5.1. The chunk step's pod limit
    (pipelines/stereo_pipeline.py) is what makes the count small on a cluster.
    """
    cpus = usable_cpus()
    return (
        safe_input(source, threads=decoder_threads(cpus))
        .output(
            str(target),
            map=f"0:v:{info.video_stream}",
            an=None,
            threads=encoder_threads(cpus),
            **keyframes_every(segment_seconds),
            **engine_ready_picture(info),
        )
        .global_args("-filter_threads", str(cpus))
    )


def _transcode_mezzanine(
    source: Path,
    info: SourceInfo,
    segment_seconds: float,
    target: Path,
    on_progress: Callable[[float], None] | None = None,
) -> None:
    stream = mezzanine_transcode(source, info, segment_seconds, target)
    # One pass over the whole video: hours for a long film on a small machine, so limited by
    # standing still rather than by a length of time.
    run_ffmpeg_watched(stream, info.duration, on_progress)
