"""The excerpt ``stereo-spot convert --preview`` converts: a stream copy from the keyframe nearest
the middle where the source allows one, re-encoded from the exact middle where it does not."""

from pathlib import Path

import av
import numpy as np
import pytest

from stereo_spot.media.assemble import source_tracks
from stereo_spot.media.excerpt import cut_excerpt
from stereo_spot.media.probe import count_video_frames, probe_source
from stereo_spot.settings import Settings
from tests.media import (
    audio_streams,
    colour_tags,
    combing,
    decoded_frames,
    make_clip,
    make_dv_tape,
    probe,
    psnr,
    stream_starts,
    turned_sideways,
    video_stream,
)

SECONDS = 5.0


def _x264(gop: int) -> tuple[str, ...]:
    return ("-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", str(gop), "-keyint_min", str(gop))


# A camera's timecode (kept by MP4 in the picture's stream and a tmcd track): the time of its
# first frame, which an excerpt from the middle must not claim.
TIMECODE = ("-timecode", "01:00:00:00")


def _frame_at(path: Path, time: float) -> np.ndarray:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time >= time - 1e-3:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"no frame at {time} s in {path}")


def _first_frame(path: Path) -> np.ndarray:
    return _frame_at(path, 0.0)


def _cut(source: Path, tmp_path: Path) -> Path:
    info = probe_source(source, Settings())
    return cut_excerpt(source, info, SECONDS, tmp_path / "excerpt.mp4")


def test_the_excerpt_is_copied_from_the_keyframe_nearest_the_middle(tmp_path):
    # 13 s, a keyframe every second: the middle 5 s start at 4 s, on a keyframe.
    source = make_clip(tmp_path / "clip.mp4", seconds=13, video_args=(*_x264(24), *TIMECODE))
    excerpt = _cut(source, tmp_path)
    assert (source_tracks(source).timecode, source_tracks(excerpt).timecode) == (
        "01:00:00:00",
        None,
    )
    # The source's own pictures, bit for bit: copied, not re-encoded.
    assert np.array_equal(_first_frame(excerpt), _frame_at(source, 4.0))
    assert abs(count_video_frames(excerpt) - SECONDS * 24) <= 4
    assert len(audio_streams(probe(excerpt))) == 1


def test_keyframes_far_from_the_middle_make_it_re_encoded_from_the_middle(tmp_path):
    # One keyframe, at 0: copying from there would preview the start, not the middle.
    source = make_clip(tmp_path / "clip.mp4", seconds=12, video_args=(*_x264(1000), *TIMECODE))
    excerpt = _cut(source, tmp_path)
    assert source_tracks(excerpt).timecode is None
    assert count_video_frames(excerpt) == SECONDS * 24
    similarity = psnr(_first_frame(excerpt), _frame_at(source, 3.5))
    assert similarity > 30, f"the excerpt starts at the middle (PSNR {similarity:.1f} dB)"
    assert len(audio_streams(probe(excerpt))) == 1


def test_a_phone_video_keeps_its_rotation_through_the_copy(tmp_path):
    plain = make_clip(tmp_path / "plain.mp4", seconds=13, video_args=_x264(24))
    source = turned_sideways(plain, tmp_path / "rotated.mp4")
    excerpt = _cut(source, tmp_path)
    # The split turns it upright later; the excerpt must still say how it is shown.
    assert probe_source(excerpt, Settings()).rotation == 90
    assert np.array_equal(_first_frame(excerpt), _frame_at(plain, 4.0))


@pytest.mark.parametrize("container", ["avi"])
def test_a_source_the_split_would_not_copy_is_re_encoded(tmp_path, container):
    source = make_clip(
        tmp_path / f"clip.{container}", seconds=12, video_args=("-c:v", "mpeg4", "-q:v", "2")
    )
    excerpt = _cut(source, tmp_path)
    assert count_video_frames(excerpt) == SECONDS * 24
    assert probe(excerpt)["streams"][0]["codec_name"] == "h264"


@pytest.mark.parametrize(
    ("name", "video_args", "audio_args"),
    [
        ("pcm.mov", _x264(24), ("-c:a", "pcm_s16le")),  # audio the MP4 muxer takes as AAC
        (
            "vp9.webm",
            ("-c:v", "libvpx-vp9", "-g", "24", "-deadline", "realtime"),
            ("-c:a", "libopus"),
        ),
        # Matroska is sought by decode times: the excerpt began a keyframe early, and once its
        # picture was sought right, its sound still began there, half a second before it.
        ("x264.mkv", _x264(24), ("-c:a", "aac")),
    ],
)
def test_other_copyable_sources_keep_their_pictures_and_sound(
    tmp_path, name, video_args, audio_args
):
    source = make_clip(tmp_path / name, seconds=13, video_args=video_args, audio_args=audio_args)
    excerpt = _cut(source, tmp_path)
    assert np.array_equal(_first_frame(excerpt), _frame_at(source, 4.0))
    assert abs(count_video_frames(excerpt) - SECONDS * 24) <= 4
    assert len(audio_streams(probe(excerpt))) == 1
    starts = stream_starts(excerpt)
    assert starts["audio"] - starts["video"] == pytest.approx(0.0, abs=0.03)


def test_an_open_gop_source_is_re_encoded_so_every_excerpt_frame_decodes(tmp_path):
    # Cut by copy at an open GOP's keyframe, the excerpt would start with pictures that refer
    # to the GOP before it, which no decoder shows: its conversion failed at the join.
    source = make_clip(
        tmp_path / "open.mp4",
        seconds=13,
        video_args=("-c:v", "libx265", "-x265-params", "keyint=24:log-level=error"),
    )
    excerpt = _cut(source, tmp_path)

    assert decoded_frames(excerpt) == count_video_frames(excerpt) == 5 * 24
    assert psnr(_first_frame(excerpt), _frame_at(source, 4.0)) > 30, "from the exact middle"


# A re-encoded excerpt is made as the split's mezzanine is: the split copies it as it is, so its
# pictures must already be what the engine takes.


def test_an_interlaced_tape_s_excerpt_has_whole_frames(tmp_path):
    # A DV tape cannot be cut by copy. Encoded as plain progressive x264, its woven fields went
    # through the split as one picture each, and the preview showed combs wherever things moved.
    tape = make_dv_tape(tmp_path / "tape.dv", seconds=6)
    excerpt = _cut(tape, tmp_path)

    info = probe_source(excerpt, Settings())
    assert (info.interlaced, info.frames) == (False, SECONDS * 25)
    woven, whole = combing(_frame_at(tape, 0.5)), combing(_first_frame(excerpt))
    assert woven > 2 and whole < woven / 4, (woven, whole)


def test_an_odd_sized_source_s_excerpt_keeps_every_pixel(tmp_path):
    # 4:2:0 needs even sizes: the excerpt failed ("width not divisible by 2") where the whole
    # video converts.
    source = make_clip(
        tmp_path / "odd.mkv",
        seconds=12,
        video_args=("-vf", "scale=191:107", "-c:v", "libx264", "-pix_fmt", "yuv444p", "-g", "1000"),
    )
    excerpt = _cut(source, tmp_path)

    info = probe_source(excerpt, Settings())
    assert (info.width, info.height, info.frames) == (191, 107, SECONDS * 24)


def test_an_hdr_source_s_excerpt_is_tone_mapped_before_it_loses_its_ten_bits(tmp_path):
    # x265's GOPs are open, so this excerpt is re-encoded; 8-bit PQ would band in the shadows
    # once the split tone-mapped it.
    source = make_clip(
        tmp_path / "hdr.mp4",
        seconds=12,
        video_args=(
            *("-c:v", "libx265", "-pix_fmt", "yuv420p10le"),
            *("-x265-params", "colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc"),
        ),
    )
    assert probe_source(source, Settings()).hdr, "the premise: an HDR (PQ) source"
    excerpt = _cut(source, tmp_path)

    assert not probe_source(excerpt, Settings()).hdr
    assert colour_tags(excerpt) | {"color_range": "tv"} == {
        "color_range": "tv",
        "color_space": "bt709",
        "color_transfer": "bt709",
        "color_primaries": "bt709",
    }
    assert video_stream(probe(excerpt))["pix_fmt"] == "yuv420p"
