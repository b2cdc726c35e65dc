"""The split on real files: the probe says how a picture is stored, and a picture the engine
must not see as stored (interlaced fields, a sideways phone video) is split into progressive,
upright segments with every frame."""

from pathlib import Path

import pytest

from stereo_spot.media.probe import probe_source
from stereo_spot.media.split import split_video
from stereo_spot.settings import Settings
from tests.media import ffmpeg, make_clip, probe, video_stream

SIZE = "160x96"


def _interlaced(path: Path) -> Path:
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s={SIZE}:r=50:d=2", "-vf", "tinterlace=interleave_top"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-flags", "+ildct+ilme", "-g", "12"),
        str(path),
    )
    return path


def _rotated(path: Path, plain: Path) -> Path:
    ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(path))
    return path


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "plain.mp4", seconds=2, size=SIZE, audio=False)


def test_the_probe_says_how_the_picture_is_stored(tmp_path, plain):
    settings = Settings()
    progressive = probe_source(plain, settings)
    assert (progressive.rotation, progressive.interlaced) == (0, False)
    assert probe_source(_interlaced(tmp_path / "fields.mp4"), settings).interlaced
    sideways = probe_source(_rotated(tmp_path / "phone.mp4", plain), settings)
    # Described as it is shown: upright, so width and height swap.
    assert (sideways.rotation, sideways.width, sideways.height) == (90, 96, 160)


def _split(source: Path, workdir: Path) -> list[dict]:
    info = probe_source(source, Settings())
    segments = split_video(source, info, 1.0, workdir)
    streams = [video_stream(probe(segment)) for segment in segments]
    assert sum(int(s["nb_read_packets"]) for s in streams) == info.frames
    return streams


def test_an_interlaced_source_is_split_into_progressive_segments(tmp_path):
    streams = _split(_interlaced(tmp_path / "fields.mp4"), tmp_path / "split")
    assert len(streams) == 2
    assert {s.get("field_order", "progressive") for s in streams} == {"progressive"}


def test_a_sideways_phone_video_is_split_upright(tmp_path, plain):
    streams = _split(_rotated(tmp_path / "phone.mp4", plain), tmp_path / "split")
    assert len(streams) == 2
    assert {(int(s["width"]), int(s["height"])) for s in streams} == {(96, 160)}
