"""Colour matrices: frames are decoded in the source's matrix, encoded in the same one, and the
output is tagged with it, so a player shows the source's colours (stereo_spot.media.colour)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from stereo_spot.media.colour import (
    BT470BG,
    BT709,
    BT2020_NCL,
    SMPTE170M,
    UNSPECIFIED,
    Colour,
    stream_colour,
)
from stereo_spot.media.frames import Encoding, SegmentWriter, StreamFormat, open_video
from tests.media import colour_tags, make_two_colour_clip, shown_rgb

GREEN = (30, 170, 60)
MAGENTA = (200, 40, 110)


def _patches(path: Path, size: str, matrix: str, tagged: bool) -> Path:
    return make_two_colour_clip(path, GREEN, MAGENTA, size, matrix, tagged)


def _centres(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    height, width = rgb.shape[:2]
    return rgb[height // 2, width // 4].astype(int), rgb[height // 2, 3 * width // 4].astype(int)


@pytest.mark.parametrize(
    ("tag", "width", "height", "matrix"),
    [
        (None, 1280, 720, BT709),
        (UNSPECIFIED, 1920, 1080, BT709),
        (None, 1024, 576, SMPTE170M),
        (None, 1280, 480, BT709),  # wider than SD
        (BT470BG, 1920, 1080, BT470BG),  # a tag always wins
        (BT2020_NCL, 640, 360, BT2020_NCL),
        (0, 1920, 1080, BT709),  # RGB-in-YUV: no luma weights, treated as untagged
    ],
)
def test_untagged_video_gets_the_matrix_players_assume(tag, width, height, matrix):
    assert stream_colour(tag, None, None, width, height).matrix == matrix


def test_primaries_and_transfer_are_carried_as_tagged():
    colour = stream_colour(BT2020_NCL, 9, 16, 3840, 2160)
    assert colour == Colour(matrix=BT2020_NCL, primaries=9, transfer=16)


@pytest.mark.parametrize(("matrix", "tagged"), [("bt709", True), ("bt709", False)])
def test_hd_frames_decode_to_the_colours_players_show(tmp_path, matrix, tagged):
    # Untagged HD video is shown as BT.709 by players; swscale alone would read it as BT.601
    # and turn this green into (41, 191, 63).
    clip = _patches(tmp_path / "hd.mp4", "1280x720", matrix, tagged)
    source, frames = open_video(clip)
    assert source.colour.matrix == BT709
    green, magenta = _centres(next(frames).rgb)
    assert np.abs(green - GREEN).max() <= 3, green
    assert np.abs(magenta - MAGENTA).max() <= 3, magenta


def test_what_is_written_is_tagged_with_the_source_colour_and_plays_back_the_same(tmp_path):
    clip = _patches(tmp_path / "src.mp4", "320x180", "bt709", tagged=True)
    source, frames = open_video(clip)
    assert source.colour == Colour(matrix=BT709, primaries=1, transfer=1)
    rgb = next(frames).rgb
    out = tmp_path / "out.mp4"
    with SegmentWriter(out, source, source.width, source.height) as writer:
        writer.write(rgb, None)
    assert colour_tags(out) == {
        "color_range": "tv",
        "color_space": "bt709",
        "color_transfer": "bt709",
        "color_primaries": "bt709",
    }
    # ffmpeg's own decoder, reading the tags: the picture it shows is the source's.
    green, magenta = _centres(shown_rgb(out))
    assert np.abs(green - GREEN).max() <= 3, green
    assert np.abs(magenta - MAGENTA).max() <= 3, magenta


@pytest.mark.parametrize("chroma", ["420", "444"])
def test_each_chroma_setting_encodes_in_the_stream_matrix(tmp_path, chroma):
    # BT.2020's weights differ most from BT.601's: a matrix mix-up shows as a colour shift.
    source = StreamFormat(
        time_base=Fraction(1, 90000),
        rate=Fraction(24),
        width=64,
        height=48,
        colour=Colour(matrix=BT2020_NCL),
    )
    picture = np.empty((48, 64, 3), np.uint8)
    picture[:, :32], picture[:, 32:] = GREEN, MAGENTA
    out = tmp_path / f"{chroma}.mp4"
    with SegmentWriter(out, source, 64, 48, Encoding(chroma=chroma)) as writer:
        writer.write(picture, None)
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0))
        assert frame.colorspace == BT2020_NCL
        green, magenta = _centres(frame.to_ndarray(format="rgb24"))
    assert np.abs(green - GREEN).max() <= 3, green
    assert np.abs(magenta - MAGENTA).max() <= 3, magenta


def test_reserved_primaries_and_transfer_codes_are_not_carried():
    assert stream_colour(BT709, 3, 0, 1280, 720) == Colour(matrix=BT709)
