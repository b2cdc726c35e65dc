"""The split on real files: the probe says how a picture is stored, and a picture the engine
must not see as stored (interlaced fields, a sideways phone video, HDR) is split into
progressive, upright, SDR segments with every frame."""

import itertools
import os
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from stereo_spot import cpus
from stereo_spot.media.probe import (
    FirstPicture,
    first_decodable,
    probe_source,
    video_frame_times,
)
from stereo_spot.media.split import FrameGrid, exact_frame_times, mezzanine_transcode, split_video
from stereo_spot.settings import Settings
from tests.media import (
    decoded_frames,
    ffmpeg,
    make_clip,
    make_interlaced_clip,
    make_recording_begun_mid_gop,
    make_size_changing_clip,
    make_trimmed_clip,
    make_variable_frame_rate_clip,
    probe,
    psnr,
    turned_sideways,
    video_stream,
)

SIZE = "160x96"


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "plain.mp4", seconds=2, size=SIZE, audio=False)


def test_the_probe_says_how_the_picture_is_stored(tmp_path, plain):
    settings = Settings()
    progressive = probe_source(plain, settings)
    assert (progressive.rotation, progressive.interlaced) == (0, False)
    assert probe_source(
        make_interlaced_clip(tmp_path / "fields.mp4", SIZE, seconds=2), settings
    ).interlaced
    sideways = probe_source(turned_sideways(plain, tmp_path / "phone.mp4"), settings)
    # Described as it is shown: upright, so width and height swap.
    assert (sideways.rotation, sideways.width, sideways.height) == (90, 96, 160)


def _split(source: Path, workdir: Path) -> list[dict]:
    """The video stream of each segment (with its path), all the source's frames among them."""
    info = probe_source(source, Settings())
    segments = split_video(source, info, 1.0, workdir).segments
    streams = [{**video_stream(probe(segment)), "path": segment} for segment in segments]
    assert sum(int(s["nb_read_packets"]) for s in streams) == info.frames
    return streams


def test_an_interlaced_source_is_split_into_progressive_segments(tmp_path):
    streams = _split(
        make_interlaced_clip(tmp_path / "fields.mp4", SIZE, seconds=2), tmp_path / "split"
    )
    assert len(streams) == 2
    assert {s.get("field_order", "progressive") for s in streams} == {"progressive"}


def test_a_sideways_phone_video_is_split_upright(tmp_path, plain):
    streams = _split(turned_sideways(plain, tmp_path / "phone.mp4"), tmp_path / "split")
    assert len(streams) == 2
    assert {(int(s["width"]), int(s["height"])) for s in streams} == {(96, 160)}


def _hdr(path: Path, transfer: str) -> Path:
    """Left half black, right half SDR white (100 cd/m2), encoded as HDR phones and HDR10 do:
    10-bit HEVC, BT.2020, the given transfer."""
    ffmpeg(
        *("-f", "lavfi", "-i", f"color=c=white:s={SIZE}:r=24:d=2"),
        "-vf",
        "drawbox=x=0:y=0:w=80:h=96:c=black:t=fill,"
        f"zscale=t={transfer}:p=bt2020:m=bt2020nc:tin=bt709:pin=bt709:min=bt709:npl=100,"
        "format=yuv420p10le",
        *("-c:v", "libx265", "-x265-params", "log-level=error", "-g", "12"),
        *("-color_primaries", "bt2020", "-color_trc", transfer, "-colorspace", "bt2020nc"),
        str(path),
    )
    return path


def _first_luma(path: Path) -> np.ndarray:
    """The first frame's Y plane as stored (limited range: 16 is black, 235 white)."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        plane = frame.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
        return rows[: frame.height, : frame.width]


@pytest.mark.parametrize("transfer", ["smpte2084", "arib-std-b67"])
def test_an_hdr_source_is_tone_mapped_to_sdr_once(tmp_path, transfer):
    source = _hdr(tmp_path / "hdr.mp4", transfer)
    assert probe_source(source, Settings()).hdr
    streams = _split(source, tmp_path / "split")
    assert {
        (s["pix_fmt"], s["color_space"], s["color_primaries"], s["color_transfer"]) for s in streams
    } == {("yuv420p", "bt709", "bt709", "bt709")}
    # White stays bright and black stays black. Read as if it were SDR (what the engines did
    # before), PQ codes 100 cd/m2 white as mid-grey (Y ~129).
    luma = _first_luma(streams[0]["path"])
    assert luma[:, :70].max() <= 20
    assert luma[:, 90:].min() >= 190


OPEN_GOPS = {
    "x264 open-gop": ("-c:v", "libx264", "-x264-params", "open-gop=1:keyint=24"),
    "x265 default": ("-c:v", "libx265", "-x265-params", "keyint=24:log-level=error"),
}


@pytest.mark.parametrize("encoder", list(OPEN_GOPS), ids=list(OPEN_GOPS))
def test_an_open_gop_source_is_split_into_segments_that_decode_whole(tmp_path, encoder):
    # The pictures after a keyframe that are shown before it refer to the GOP before: cut by
    # copy there, a segment holds them but no decoder shows them (a QA pass lost 5 to 12 frames
    # of 144, and the job failed only at the join). Counting packets never noticed.
    source = make_clip(
        tmp_path / "open.mp4", seconds=6, size=SIZE, audio=False, video_args=OPEN_GOPS[encoder]
    )
    info = probe_source(source, Settings())

    segments = split_video(source, info, 1.0, tmp_path / "work").segments

    assert len(segments) >= 5
    assert sum(decoded_frames(segment) for segment in segments) == info.frames == 144
    assert (tmp_path / "work" / "mezzanine.mp4").exists(), "transcoded once to closed GOPs"


def test_a_matroska_video_starting_half_a_frame_in_keeps_one_time_per_frame(tmp_path):
    # An MP4 with AAC sound remuxed to MKV: its video starts 21 ms in (the AAC priming delay),
    # half a frame at 24 fps, in millisecond timestamps. Keyframes 3 s apart make it go through
    # the mezzanine, whose encoder once rounded those times onto a 1/24 s grid: two frames on
    # one timestamp, which the model server's muxer refused ("non monotonically increasing").
    film = make_clip(tmp_path / "film.mp4", seconds=3, size=SIZE, video_args=("-c:v", "libx264"))
    remuxed = tmp_path / "film.mkv"
    ffmpeg("-i", str(film), "-c", "copy", str(remuxed))
    info = probe_source(remuxed, Settings())

    segments = split_video(remuxed, info, 1.0, tmp_path / "work").segments

    assert (tmp_path / "work" / "mezzanine.mp4").exists()
    for segment in segments:
        with av.open(str(segment)) as container:
            times = [packet.pts for packet in container.demux(video=0) if packet.size]
        assert len(set(times)) == len(times), f"{segment.name}: two frames on one time"
    assert sum(decoded_frames(segment) for segment in segments) == info.frames == 72


def _frame_steps(segment: Path) -> tuple[str, set[int]]:
    """A segment's video time base and the steps between its frames' times, in its ticks."""
    with av.open(str(segment)) as container:
        stream = container.streams.video[0]
        times = sorted(packet.pts for packet in container.demux(stream) if packet.size)
        return str(stream.time_base), {b - a for a, b in itertools.pairwise(times)}


@pytest.mark.parametrize("video_args", [
    ("-c:v", "libx264", "-g", "24"),  # split by copy (B-frames)
    ("-c:v", "prores_ks", "-profile:v", "0"),  # through the mezzanine
])  # fmt: skip
def test_a_matroska_23_976_video_is_split_on_its_exact_frame_grid(tmp_path, video_args):
    # Matroska keeps times to the millisecond (frames of 41 and 42 ms): the segments, and so
    # the result, are put back on 1001/24000 s a frame, as a whole MOV's are.
    ntsc = tmp_path / "ntsc.mkv"
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={SIZE}:r=24000/1001:d=3", *video_args, str(ntsc))
    info = probe_source(ntsc, Settings())

    segments = split_video(ntsc, info, 1.0, tmp_path / "work").segments

    assert len(segments) > 1
    for segment in segments:
        assert _frame_steps(segment) == ("1/24000", {1001}), segment.name
    assert sum(decoded_frames(segment) for segment in segments) == info.frames == 72


def test_millisecond_times_are_put_back_on_the_grid_they_were_rounded_from():
    ntsc = [round(0.5 + k * 1001 / 30000, 3) for k in range(90)]
    grid = FrameGrid.of(ntsc)
    assert grid is not None and grid.rate == Fraction(30000, 1001)
    exact = grid.times(90)
    assert {round((b - a) * 30000) for a, b in itertools.pairwise(exact)} == {1001}
    assert exact == pytest.approx(ntsc, abs=0.0005 + 1e-9)
    # Frames of whole milliseconds are exact already; a variable frame rate (a frame dropped)
    # and times that are not whole milliseconds keep their own.
    assert FrameGrid.of([k * 0.04 for k in range(50)]) is None
    assert FrameGrid.of([t for k, t in enumerate(ntsc) if k != 40]) is None
    assert FrameGrid.of([k * 1001 / 24000 for k in range(50)]) is None


def test_a_variable_frame_rate_matroska_video_keeps_its_own_times(tmp_path):
    film = make_variable_frame_rate_clip(tmp_path / "vfr.mp4")
    vfr = tmp_path / "vfr.mkv"
    ffmpeg("-i", str(film), "-c", "copy", str(vfr))
    kept = video_frame_times(vfr)
    assert exact_frame_times(vfr) == kept

    segments = split_video(vfr, probe_source(vfr, Settings()), 1.0, tmp_path / "work").segments

    at = 0
    for segment in segments:
        times = video_frame_times(segment)
        steps = [b - a for a, b in itertools.pairwise(times)]
        source_steps = [b - a for a, b in itertools.pairwise(kept[at : at + len(times)])]
        assert steps == pytest.approx(source_steps, abs=1e-4), segment.name
        at += len(times)
    assert at == len(kept)


def test_a_second_video_stream_is_counted_and_said_to_be_left_out(tmp_path, plain):
    # Only the first video stream is converted; the others must not vanish without a word.
    two = tmp_path / "two.mkv"
    ffmpeg(
        *("-i", str(plain), "-f", "lavfi", "-i", "testsrc2=s=64x48:d=1"),
        *("-map", "0:v", "-map", "1:v", "-c:v", "libx264", str(two)),
    )

    info = probe_source(two, Settings())

    assert (info.video_streams, info.width, info.height) == (2, 160, 96)
    assert info.left_out == (
        "The file has 2 video streams: the first (160x96) is converted and the other left out."
    )
    assert probe_source(plain, Settings()).left_out is None


def test_the_video_stream_marked_default_is_the_one_split(tmp_path, plain):
    # Players show the stream marked default; the first here is a small one marked not default.
    two = tmp_path / "two.mkv"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=64x48:r=24:d=1", "-i", str(plain)),
        *("-map", "0:v", "-map", "1:v", "-c:v", "libx264", "-g", "12"),
        *("-disposition:v:0", "0", "-disposition:v:1", "default", str(two)),
    )

    info = probe_source(two, Settings())
    segments = split_video(two, info, 1.0, tmp_path / "work").segments

    assert (info.width, info.height, info.frames, info.video_stream) == (160, 96, 48, 1)
    assert info.left_out == (
        "The file has 2 video streams: the one marked default (160x96) is converted and the "
        "other left out."
    )
    assert sum(decoded_frames(segment) for segment in segments) == 48
    assert {video_stream(probe(segment))["width"] for segment in segments} == {160}


def test_a_matroska_file_cut_short_is_split_as_far_as_it_goes_and_said_so(tmp_path):
    # A download stopped part-way: the header still gives the whole duration.
    whole = make_clip(tmp_path / "whole.mkv", seconds=4, size=SIZE)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])

    info = probe_source(cut, Settings())
    segments = split_video(cut, info, 1.0, tmp_path / "work").segments

    assert 24 < info.frames < 96
    assert info.duration == pytest.approx(info.frames / 24)
    assert info.stated_duration == pytest.approx(4, abs=0.05)
    assert sum(decoded_frames(segment) for segment in segments) == info.frames
    assert info.left_out == (
        f"The file ends early: it stops at {info.duration:.1f} s of the 4.0 s its header gives "
        "(was the download or copy complete?); what is there is converted."
    )
    assert probe_source(whole, Settings()).left_out is None


def test_a_picture_that_changes_size_at_a_cut_is_split_at_its_first_size(tmp_path):
    # A WebRTC recording whose picture shrinks for a second: cut by copy, the second segment
    # would start (and be converted) at the smaller size, and the join needs one size.
    source = make_size_changing_clip(tmp_path / "call.mkv", ("160x96", "80x48", "160x96"))
    for stream in _split(source, tmp_path / "split"):
        with av.open(str(stream["path"])) as container:
            assert {(f.width, f.height) for f in container.decode(video=0)} == {(160, 96)}


def test_a_trimmed_clip_is_split_from_the_picture_it_shows_first(tmp_path):
    # Trimmed without re-encoding: the file keeps the second before its start, which its edit
    # list hides. Cut by copy, the result showed that second and ran a second ahead of its sound.
    source = make_trimmed_clip(tmp_path / "trimmed.mp4", start=1.0)
    info = probe_source(source, Settings())
    split = split_video(source, info, 1.0, tmp_path / "split")
    assert split.hidden == 24 and split.frames(info) == decoded_frames(source) == 72
    assert sum(decoded_frames(segment) for segment in split.segments) == 72
    with av.open(str(source)) as container:
        shown_first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    with av.open(str(split.segments[0])) as container:
        split_first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert psnr(split_first, shown_first) > 35


def test_a_recording_begun_part_way_through_a_gop_is_split_from_its_first_whole_picture(
    tmp_path, plain
):
    recording = make_recording_begun_mid_gop(tmp_path / "recording.ts")
    info = probe_source(recording, Settings())
    split = split_video(recording, info, 1.0, tmp_path / "split")
    decodable = decoded_frames(recording)
    assert split.frames(info) == decodable == sum(decoded_frames(s) for s in split.segments)
    assert split.undecodable == split.undecodable_at_start == info.frames - decodable > 0
    with av.open(str(recording)) as container:
        stream = container.streams.video[0]
        first = next(container.decode(stream)).pts
        delay = float((first - stream.start_time) * stream.time_base)
    assert split.first_picture_delay == pytest.approx(delay) and delay > 0.5
    assert first_decodable(plain) == FirstPicture(0.0, 0), "a whole video starts at once"


def _x264_threads(path: Path) -> int:
    """The frame-thread count x264 wrote into the stream's settings SEI (its first frame)."""
    settings = re.search(rb"x264 - core .*? threads=(\d+) ", path.read_bytes())
    assert settings, "x264 writes its settings into the first frame"
    return int(settings.group(1))


@pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="one CPU's threads look like the machine's"
)
def test_the_mezzanine_transcode_takes_threads_for_the_cpus_the_pod_may_use(
    tmp_path, plain, monkeypatch
):
    """A pod's CPU limit is a cgroup quota, which ffmpeg and x264 do not read: on a 16-core node
    x264 started 24 frame threads, each holding 4K frames of its own (2.7 GiB), and the chunk
    step's pod was killed for memory."""
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "cpu.max").write_text("100000 100000\n")  # a limit of one CPU
    monkeypatch.setattr(cpus, "CGROUP_ROOT", cgroup)
    # Stored sideways: split through the mezzanine, whose GOPs the segments are copied from.
    source = turned_sideways(plain, tmp_path / "phone.mp4")
    streams = _split(source, tmp_path / "split")
    assert len(streams) == 2
    assert {(int(s["width"]), int(s["height"])) for s in streams} == {(96, 160)}
    assert _x264_threads(streams[0]["path"]) == 1

    command = mezzanine_transcode(
        source, probe_source(source, Settings()), 1.0, tmp_path / "m.mp4"
    ).compile()
    assert command[command.index("-i") - 2 : command.index("-i")] == ["-threads", "1"]
    assert command[command.index("-filter_threads") + 1] == "1"

    (cgroup / "cpu.max").write_text("max 100000\n")  # no limit: every CPU it may run on
    streams = _split(source, tmp_path / "unlimited")
    assert _x264_threads(streams[0]["path"]) == cpus.encoder_threads(len(os.sched_getaffinity(0)))
