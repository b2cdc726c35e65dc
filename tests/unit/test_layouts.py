import cv2
import numpy as np
import pytest

from stereo_spot.domain import AnaglyphMode, Layout
from stereo_spot.stereo.layouts import anaglyph, pack_stereo


def eyes(width: int, height: int):
    rng = np.random.default_rng(width * 1000 + height)
    left = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    right = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return left, right


@pytest.mark.parametrize("layout", list(Layout))
@pytest.mark.parametrize("mode", list(AnaglyphMode))
@pytest.mark.parametrize("size", [(64, 36), (63, 35), (1, 1), (7, 2)])
def test_every_layout_has_the_contract_size(layout, mode, size):
    left, right = eyes(*size)
    packed = pack_stereo(left, right, layout, mode)
    width, height = layout.output_size(*size)
    assert packed.shape == (height, width, 3)
    assert packed.dtype == np.uint8


def test_side_by_side_halves_are_the_eyes():
    left, right = eyes(33, 17)
    packed = pack_stereo(left, right, Layout.SBS)
    assert np.array_equal(packed[:, :33], left) and np.array_equal(packed[:, 33:], right)
    packed = pack_stereo(left, right, Layout.TAB)
    assert np.array_equal(packed[:17], left) and np.array_equal(packed[17:], right)


def test_half_layouts_squeeze_each_eye():
    left = np.full((20, 40, 3), 10, np.uint8)
    right = np.full((20, 40, 3), 200, np.uint8)
    packed = pack_stereo(left, right, Layout.HALF_SBS)
    assert (packed[:, :20] == 10).all() and (packed[:, 20:] == 200).all()
    packed = pack_stereo(left, right, Layout.HALF_TAB)
    assert (packed[:10] == 10).all() and (packed[10:] == 200).all()


def test_dubois_anaglyph_of_identical_eyes_is_a_plausible_colour_image():
    h = np.linspace(0, 255, 64, dtype=np.uint8)
    image = np.stack([*np.meshgrid(h, h[::-1]), np.full((64, 64), 128, np.uint8)], axis=-1)
    out = anaglyph(image, image, AnaglyphMode.DUBOIS).astype(int)
    # white stays near white, black stays black, and brightness order is kept
    white = anaglyph(np.full((2, 2, 3), 255, np.uint8), np.full((2, 2, 3), 255, np.uint8))
    assert (white >= 235).all()
    assert (anaglyph(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2, 3), np.uint8)) == 0).all()
    luma_in = image.astype(int) @ [299, 587, 114]
    luma_out = out @ [299, 587, 114]
    assert np.corrcoef(luma_in.ravel(), luma_out.ravel())[0, 1] > 0.9


RED_CYAN = [mode for mode in AnaglyphMode if mode.filename_tag == "_redcyan"]


def test_anaglyph_takes_red_from_the_left_eye():
    left = np.zeros((4, 4, 3), np.uint8)
    left[..., 0] = 255
    right = np.zeros((4, 4, 3), np.uint8)
    for mode in RED_CYAN:
        out = anaglyph(left, right, mode)
        assert out[..., 0].min() > 60, mode  # red channel lit by the left eye
        assert out[..., 1:].max() < 10, mode  # nothing from the black right eye


# Which channels each eye's filter passes: the left eye's first.
GLASSES = {
    AnaglyphMode.DUBOIS: ([0], [1, 2]),  # red | cyan
    AnaglyphMode.GREEN_MAGENTA: ([1], [0, 2]),  # green | magenta
    AnaglyphMode.AMBER_BLUE: ([0, 1], [2]),  # amber | blue
}


@pytest.mark.parametrize("mode", list(GLASSES))
def test_each_eye_sees_its_own_picture_through_its_filter(mode):
    white, black = np.full((4, 4, 3), 255, np.uint8), np.zeros((4, 4, 3), np.uint8)
    own, other = GLASSES[mode]

    def light(image):  # each channel's light (about linear), 0..1
        return (image.astype(float) / 255) ** 2.2

    # Most of an eye's light in its own filter's channels, under a tenth in the other's (Dubois'
    # least-squares mix lets a little through where the filters' passbands overlap).
    left_only = light(anaglyph(white, black, mode))
    assert left_only[..., own].min() > 0.3 and left_only[..., other].max() < 0.1, left_only[0, 0]
    right_only = light(anaglyph(black, white, mode))
    assert right_only[..., other].min() > 0.3 and right_only[..., own].max() < 0.1, right_only[0, 0]
    # A white both eyes see stays white: each output channel's coefficients, both eyes' together,
    # add up to one (a mistyped coefficient would tint it).
    assert (anaglyph(white, white, mode) >= 250).all()
    assert tuple(anaglyph(black, black, mode)[0, 0]) == (0, 0, 0)


def test_colour_modes_take_each_channel_from_the_right_eye_or_its_luma():
    rng = np.random.default_rng(3)
    left, right = (rng.integers(0, 256, (9, 7, 3), dtype=np.uint8) for _ in range(2))
    luma_left = cv2.cvtColor(left, cv2.COLOR_RGB2GRAY)
    luma_right = cv2.cvtColor(right, cv2.COLOR_RGB2GRAY)
    color = anaglyph(left, right, AnaglyphMode.COLOR)
    assert (color[..., 0] == left[..., 0]).all() and (color[..., 1:] == right[..., 1:]).all()
    half = anaglyph(left, right, AnaglyphMode.HALF_COLOR)
    assert (half[..., 0] == luma_left).all() and (half[..., 1:] == right[..., 1:]).all()
    gray = anaglyph(left, right, AnaglyphMode.GRAY)
    assert (gray[..., 0] == luma_left).all()
    assert (gray[..., 1] == luma_right).all() and (gray[..., 2] == luma_right).all()
    # Views (a mirrored frame) are accepted as they are.
    mirrored = anaglyph(left[:, ::-1], right[:, ::-1], AnaglyphMode.COLOR)
    assert (mirrored[..., 0] == left[:, ::-1, 0]).all()
