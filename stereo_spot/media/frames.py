"""Decode a segment to RGB frames and encode frames back, keeping every timestamp.

PyAV (libav* bindings) rather than rawvideo pipes: frames keep their presentation timestamps,
so variable-frame-rate sources come out with the same timing, and the encoder settings are
identical for every segment, which lets the concat demuxer join them by stream copy. Frames are
decoded and encoded in the source's own colour matrix, and the output is tagged with it
(:mod:`stereo_spot.media.colour`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import ColorRange, Interpolation, VideoReformatter

from stereo_spot.cpus import decoder_threads, encoder_threads, has_avx512, x265_threads
from stereo_spot.domain import DEFAULT_CRF, Layout, StereoParams, VideoCodec, scaled_size
from stereo_spot.errors import InputRejected
from stereo_spot.media.colour import Colour, stream_colour
from stereo_spot.media.yuv import rgb_to_yuv420p_planes, yuv420p_to_rgb

PIX_FMT = "yuv420p"
# 4:4:4 (full-resolution chroma, High 4:4:4 Predictive): red-cyan anaglyphs put the two eyes in
# different colour channels, and 4:2:0's half-resolution chroma smears one eye into the other.
PIX_FMTS = {"420": "yuv420p", "444": "yuv444p"}
ENCODERS = {VideoCodec.H264: "libx264", VideoCodec.HEVC: "libx265"}
PROFILES = {
    VideoCodec.H264: {"420": "high", "444": "high444"},
    VideoCodec.HEVC: {"420": "main", "444": "main444-8"},
}
# x264 without its AVX-512 code, on CPUs that have it. That code, which x264 picks by itself there,
# encodes the same frames differently from one run to the next when the encoder runs on a worker
# thread, as the model server's does (measured with the av wheel's x264, core 165: 16 encodes of
# six identical frames came out in three to five different files, the pictures up to 30 levels
# apart at edges; a resumed job's result then differed from an uninterrupted one's). Limited to
# AVX2, and with no assembly at all, every encode is byte-identical, and AVX2 is as fast here.
X264_WITHOUT_AVX512 = "asm=avx2"


@dataclass(frozen=True)
class Encoding:
    """How a segment is encoded. One job's segments are all encoded alike (the join copies them
    and needs identical parameter sets), so it comes from the job's :class:`StereoParams`."""

    codec: VideoCodec = VideoCodec.H264
    crf: int = DEFAULT_CRF[VideoCodec.H264]
    preset: str = "veryfast"
    chroma: str = "420"

    @classmethod
    def of(cls, params: StereoParams) -> Encoding:
        return cls(params.codec, params.crf, params.preset, params.chroma)

    def options(self) -> dict[str, str]:
        """The encoder's options (libavcodec's names)."""
        options = {
            "preset": self.preset,
            "crf": str(self.crf),
            "profile": PROFILES[self.codec][self.chroma],
        }
        if self.codec is VideoCodec.H264 and has_avx512():
            options["x264-params"] = X264_WITHOUT_AVX512
        if self.codec is VideoCodec.HEVC:
            # x265 ignores libavcodec's thread settings (use_frame_threads): its own, sized for
            # the CPUs we may use; and no banner and per-file summary on stderr.
            options["x265-params"] = f"{x265_threads()}:log-level=error"
        return options


def use_frame_threads(codec_context: av.codec.context.CodecContext) -> None:
    """Thread an x264 encoder as the ffmpeg command line does: frame threads, as many as x264's
    own rule gives for the CPUs this process may use (:mod:`stereo_spot.cpus`; each frame thread
    holds frames of its own).

    PyAV asks every encoder for slice threads, so x264 cut each picture in two slices and kept
    ~1.45 of 2 cores busy; frame threads keep ~1.8 busy: the same CPU time, 21 % less wall time
    for a 720p encode. The SPS/PPS are the same whatever the thread count, so segments encoded
    on machines with different core counts still concat by copy."""
    codec_context.thread_type = "FRAME"
    codec_context.thread_count = encoder_threads()


@dataclass(frozen=True)
class StreamFormat:
    """What a segment's frames need to be written back with the same timing, colours and
    pixel shape."""

    time_base: Fraction
    rate: Fraction
    width: int
    height: int
    colour: Colour
    # The shape of a pixel (DVD and HDV store 4:3 or 16:9 pictures in non-square pixels); None
    # for square or unknown. Every layout keeps it: each eye then shows as the source did.
    sample_aspect_ratio: Fraction | None = None


@dataclass(frozen=True)
class TimedFrame:
    rgb: np.ndarray  # H x W x 3 uint8
    pts: int | None
    picture: av.VideoFrame  # as decoded: the YUV a side-by-side left eye is copied from
    # The picture before, standing in for one that could not be decoded (damaged).
    stand_in: bool = False


def open_video(
    path: Path, max_height: int | None = None, *, name: str | None = None
) -> tuple[StreamFormat, Iterator[TimedFrame]]:
    """Format of the first video stream and an iterator over its frames, decoded to RGB with
    the stream's colour matrix; scaled down to ``max_height`` where they are taller (the format
    says the size they come in). ``name``: what a refusal calls the segment (its object key,
    where ``path`` is a download's temporary file); the file's name by default."""
    said = name or Path(path).name
    try:
        container = av.open(str(path), mode="r")
    except av.error.FFmpegError as error:
        # FFmpeg's sentence alone: str(error) adds its errno and the (temporary) path.
        why = (error.strerror or "not a video FFmpeg can open").rstrip(".")
        raise InputRejected(f"The segment {said} cannot be read: {why}.") from None
    if not container.streams.video:
        container.close()
        raise InputRejected(f"The segment {said} has no video stream.")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    stream.codec_context.thread_count = decoder_threads()
    # guessed_rate is the nominal rate; average_rate is skewed by a segment's leading gap.
    rate = stream.guessed_rate or stream.average_rate or Fraction(25)
    codec = stream.codec_context
    starting = codec.width, codec.height
    width, height = scaled_size(*starting, max_height)
    scaled = (width, height) != starting
    source = StreamFormat(
        time_base=stream.time_base or Fraction(1, 90000),
        rate=Fraction(rate),
        width=width,
        height=height,
        colour=stream_colour(
            codec.colorspace, codec.color_primaries, codec.color_trc, codec.width, codec.height
        ),
        sample_aspect_ratio=_pixel_shape(stream),
    )

    def frames() -> Iterator[TimedFrame]:
        try:
            for frame, pts, stand_in in _pictures(container, stream):
                # A picture that changes size midway (a WebRTC or screen recording following
                # its bandwidth) is scaled to the size the segment starts at, as ffmpeg's
                # encoders scale it (the split starts every segment at the video's size).
                if scaled or (frame.width, frame.height) != starting:
                    # In its own format (the same samples' range and matrix), before anything
                    # else sees it: the engine and the left eye's copy get the smaller picture.
                    frame = frame.reformat(width, height, interpolation=Interpolation.BICUBIC)
                yield TimedFrame(decoded_rgb(frame, source.colour), pts, frame, stand_in)
        finally:
            container.close()

    return source, frames()


def _pictures(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> Iterator[tuple[av.VideoFrame, int | None, bool]]:
    """Each picture of ``stream`` in order with its time, and whether it stands in for one
    that could not be decoded.

    A damaged picture (a download cut and resumed, a recording's reception errors) makes the
    decoder refuse its packet; ffmpeg's tools carry on without it. Here the picture before it
    stands in for it, at its time: the segment keeps one picture per packet, which the join
    counts on, and shows what a player shows in its place. Pictures are matched to packets by
    time, since a decoder working on several pictures at once reports a refusal on a later
    packet than the broken one.
    """
    waiting: list[int] = []  # a heap: times of the packets whose pictures have not come out
    refused = False
    last = None
    shown: int | None = None  # the time of the picture given last
    for packet in container.demux(stream):
        # (A picture an edit list hides is decoded and not given: nothing stands in for it.)
        if packet.size and packet.pts is not None and not packet.is_discard:
            heapq.heappush(waiting, packet.pts)
        try:
            pictures = packet.decode()
        except av.error.InvalidDataError:
            refused = True
            continue
        for picture in pictures:
            pts = picture.pts
            if pts is not None:
                while refused and waiting and waiting[0] < pts:
                    shown = _after(shown, heapq.heappop(waiting))
                    yield last or picture, shown, True
                if waiting and waiting[0] == pts:
                    heapq.heappop(waiting)
                # A damaged stream can give two pictures one time (a broken MPEG-TS gave them
                # to a transcode of it), which no muxer takes: the later one comes a tick later.
                pts = shown = _after(shown, pts)
            last = picture
            yield picture, pts, False
    if refused and last is not None:
        for pts in sorted(waiting):
            shown = _after(shown, pts)
            yield last, shown, True


def _after(shown: int | None, pts: int) -> int:
    """``pts``, or a tick after ``shown`` where it is not later."""
    return pts if shown is None else max(pts, shown + 1)


# swscale rounds each pixel exactly only with both flags; without them its fast paths truncate
# (yuv.py). Here for the pictures the kernel does not take: 10-bit, 4:2:2, 4:4:4, RGB sources.
EXACT_SWSCALE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


def decoded_rgb(frame: av.VideoFrame, colour: Colour) -> np.ndarray:
    """A decoded picture as H x W x 3 uint8 RGB, in the stream's colour matrix (given
    explicitly: swscale would take BT.601 for an untagged HD stream, which players show as
    BT.709) and the picture's own range, each pixel rounded exactly."""
    if frame.format.name in ("yuv420p", "yuvj420p"):
        full_range = frame.format.name == "yuvj420p" or frame.color_range == ColorRange.JPEG
        planes = [_plane_rows(plane) for plane in frame.planes]
        return yuv420p_to_rgb(*planes, frame.width, frame.height, colour.matrix, full_range)
    return frame.to_ndarray(
        format="rgb24", src_colorspace=colour.swscale_matrix, interpolation=EXACT_SWSCALE
    )


def _pixel_shape(stream: av.video.stream.VideoStream) -> Fraction | None:
    """The stream's sample aspect ratio when its pixels are not square (the container's, else
    the bitstream's)."""
    for shape in (stream.sample_aspect_ratio, stream.codec_context.sample_aspect_ratio):
        if shape and shape > 0 and shape != 1:
            return Fraction(shape)
    return None


def _edge_padded(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """``rgb`` grown to ``height`` x ``width`` by repeating its last row and column (4:2:0
    needs even sizes); as it is when it has that size already."""
    if rgb.shape[:2] == (height, width):
        return rgb
    grow = ((0, height - rgb.shape[0]), (0, width - rgb.shape[1]), (0, 0))
    return np.pad(rgb, grow, mode="edge")


def _plane_rows(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """A frame plane's memory as a writable uint8 array, one row per line (lines may be padded
    past the picture's width for alignment)."""
    return np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)


class SegmentWriter:
    """Encodes RGB frames to H.264 or HEVC in MP4 with the timestamps the caller gives, in the
    colour matrix of ``source.colour`` and tagged with it (limited range)."""

    def __init__(
        self,
        path: Path,
        source: StreamFormat,
        width: int,
        height: int,
        encoding: Encoding = Encoding(),
    ) -> None:
        if encoding.chroma not in PIX_FMTS:
            raise ValueError(
                f"chroma must be one of {', '.join(PIX_FMTS)}, not {encoding.chroma!r}"
            )
        # 4:2:0 needs even sizes; an odd size is padded by one edge pixel (4:4:4 too, so both
        # chroma settings give the same frame size).
        self.width, self.height = width + width % 2, height + height % 2
        self._container = av.open(str(path), mode="w", format="mp4")
        self._stream = self._container.add_stream(ENCODERS[encoding.codec], rate=source.rate)
        self._stream.width, self._stream.height = self.width, self.height
        self._stream.pix_fmt = PIX_FMTS[encoding.chroma]
        self._stream.time_base = source.time_base
        # Encode in the source's own time base: a coarser codec time base (1/rate) would round
        # distinct timestamps together and the muxer would refuse the repeated ones.
        self._stream.codec_context.time_base = source.time_base
        self._stream.options = encoding.options()
        # The encoder writes these into the stream's VUI and the MP4 muxer into its colr box, so
        # every player decodes the output with the matrix it was encoded in.
        colour = source.colour
        codec = self._stream.codec_context
        codec.colorspace = colour.matrix
        codec.color_primaries = colour.primaries
        codec.color_trc = colour.transfer
        codec.color_range = ColorRange.MPEG
        if source.sample_aspect_ratio:
            # Into the bitstream (VUI) and the MP4's pasp box, which the join copies.
            codec.sample_aspect_ratio = source.sample_aspect_ratio
        self._matrix = colour.matrix
        self._swscale_matrix = colour.swscale_matrix
        # One for the stream: swscale's context (and its threads) is set up once, not per frame.
        self._reformatter = VideoReformatter()
        use_frame_threads(codec)
        self._time_base = source.time_base
        self._frame_ticks = max(1, round(1 / (source.rate * source.time_base)))
        self._next_pts = 0

    def write(self, rgb: np.ndarray, pts: int | None) -> None:
        """Encode one packed RGB frame of the writer's size (or one pixel less, padded)."""
        rgb = _edge_padded(rgb, self.height, self.width)
        if self._stream.pix_fmt == "yuv420p":
            # Converted here in parallel rather than by PyAV's one-threaded swscale (yuv.py),
            # straight into the encoder frame's planes: no intermediate array, no copy.
            frame = av.VideoFrame(self.width, self.height, "yuv420p")
            planes = (_plane_rows(plane) for plane in frame.planes)
            rgb_to_yuv420p_planes(rgb, *planes, matrix=self._matrix)
        else:
            # Wrapped, not copied (the frame holds a reference to the array), and converted to
            # 4:4:4 by swscale, on the encoder's threads, in the stream's matrix.
            wrapped = av.VideoFrame.from_numpy_buffer(np.ascontiguousarray(rgb), format="rgb24")
            frame = self._reformatter.reformat(
                wrapped,
                format="yuv444p",
                dst_colorspace=self._swscale_matrix,
                dst_color_range=ColorRange.MPEG,
                threads=self._stream.codec_context.thread_count,
            )
        self._encode(frame, pts)

    def write_eyes(
        self,
        left: TimedFrame,
        right: np.ndarray,
        pts: int | None,
        layout: Layout,
    ) -> None:
        """Encode the side-by-side (``Layout.SBS``) or top-bottom (``Layout.TAB``) frame of
        the decoded frame ``left`` and the RGB ``right`` eye, without packing them first.

        In 4:2:0, with the split on an even column (row), the left eye's decoded YUV is copied
        into the encoder frame as it is when it is 8-bit limited range: the source's own
        samples, and only half the frame goes through the colour conversion. At 3840 x 1080
        this costs 4.5 ms a frame on two threads against the 10.3 ms of packing the eyes
        (1.6 ms) and converting the packed frame (8.7 ms). Otherwise the eyes are packed and
        written as any frame."""
        layout = Layout(layout)
        if layout not in (Layout.SBS, Layout.TAB):
            raise ValueError(f"write_eyes packs sbs or tab, not {layout.value}")
        height, width = left.rgb.shape[:2]
        beside = layout is Layout.SBS
        if self._stream.pix_fmt != "yuv420p" or (width if beside else height) % 2:
            self.write(np.concatenate([left.rgb, right], axis=1 if beside else 0), pts)
            return
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        planes = [_plane_rows(plane) for plane in frame.planes]
        if not self._copy_decoded(left.picture, planes, width, height):
            self._convert_eye(left.rgb, planes, (0, 0))
        self._convert_eye(right, planes, (0, width) if beside else (height, 0))
        self._encode(frame, pts)

    def _convert_eye(self, rgb: np.ndarray, planes: list[np.ndarray], at: tuple[int, int]) -> None:
        """``rgb`` into the planes from luma row and column ``at`` on; an odd-sized eye (the
        writer pads odd frame sizes) is padded by its edge pixels first."""
        height, width = rgb.shape[:2]
        rgb = _edge_padded(rgb, height + height % 2, width + width % 2)
        rgb_to_yuv420p_planes(rgb, *planes, matrix=self._matrix, at=at)

    @staticmethod
    def _copy_decoded(
        picture: av.VideoFrame, planes: list[np.ndarray], width: int, height: int
    ) -> bool:
        """Copy a decoded 8-bit limited-range 4:2:0 picture into the top-left corner of
        ``planes``; False (nothing written) for any other picture. The source was decoded to
        RGB in the matrix this writer encodes and tags, so its YUV stands for the same colours."""
        if (
            picture.format.name != "yuv420p"
            or picture.color_range == ColorRange.JPEG
            or (picture.width, picture.height) != (width, height)
            or height % 2
            or width % 2
        ):
            return False
        for target, plane, shift in zip(planes, picture.planes, (0, 1, 1), strict=True):
            rows, columns = height >> shift, width >> shift
            np.copyto(target[:rows, :columns], _plane_rows(plane)[:rows, :columns])
        return True

    def _encode(self, frame: av.VideoFrame, pts: int | None) -> None:
        frame.pts = self._next_pts if pts is None else pts
        frame.time_base = self._time_base
        self._next_pts = frame.pts + self._frame_ticks
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> SegmentWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
