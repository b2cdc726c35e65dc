"""render_stereo: the packed frame straight from a frame and its disparity (the engines' last
step), with the Dubois anaglyph rendered in one fused pass."""

import numpy as np
import pytest
import skimage.data

from stereo_spot.domain import AnaglyphMode, Layout
from stereo_spot.stereo.layouts import anaglyph, pack_stereo
from stereo_spot.stereo.render import render_stereo
from stereo_spot.stereo.view_synthesis import fill_invalid_disparity, render_right_view
from tests.unit.test_view_synthesis import smooth_coarse_disparity, square_scene


def two_step(left, disparity, layout, mode=AnaglyphMode.DUBOIS):
    return pack_stereo(left, render_right_view(left, disparity), layout, mode)


@pytest.mark.parametrize(
    ("layout", "mode"),
    [
        (Layout.SBS, AnaglyphMode.DUBOIS),
        (Layout.HALF_TAB, AnaglyphMode.DUBOIS),
        (Layout.ANAGLYPH, AnaglyphMode.COLOR),
        (Layout.ANAGLYPH, AnaglyphMode.GRAY),
    ],
)
def test_other_outputs_are_the_right_eye_packed(layout, mode):
    image, disparity = square_scene()
    assert (
        render_stereo(image, disparity, layout, mode) == two_step(image, disparity, layout, mode)
    ).all()


def test_fused_anaglyph_is_the_anaglyph_of_the_rendered_right_eye_bit_for_bit():
    # The motorcycle pair with its true disparity: holes, occlusions and sub-pixel shifts.
    left, _, disparity = skimage.data.stereo_motorcycle()
    disparity = fill_invalid_disparity(disparity)
    fused = render_stereo(left, disparity, Layout.ANAGLYPH)
    assert (fused == two_step(left, disparity, Layout.ANAGLYPH)).all()
    # Odd sizes, a scene with a near square, and no disparity at all.
    image, disparity = square_scene(41, 77)
    assert (
        render_stereo(image, disparity, Layout.ANAGLYPH)
        == two_step(image, disparity, Layout.ANAGLYPH)
    ).all()
    flat = np.zeros(disparity.shape, np.float32)
    assert (render_stereo(image, flat, Layout.ANAGLYPH) == anaglyph(image, image)).all()
    # The same kernel with the matrices of the other glasses.
    for mode in (AnaglyphMode.GREEN_MAGENTA, AnaglyphMode.AMBER_BLUE):
        fused = render_stereo(image, disparity, Layout.ANAGLYPH, mode)
        assert (fused == two_step(image, disparity, Layout.ANAGLYPH, mode)).all(), mode


def test_fused_anaglyph_of_a_coarse_map_is_the_anaglyph_of_its_rendered_right_eye():
    # The engines' path: depth, hence disparity, at a fraction of the frame's size.
    left = skimage.data.astronaut()[::2, ::2]
    coarse = smooth_coarse_disparity(24, 40)
    fused = render_stereo(left, coarse, Layout.ANAGLYPH, upsample=True)
    right = render_right_view(left, coarse, upsample=True)
    assert (fused == pack_stereo(left, right, Layout.ANAGLYPH, AnaglyphMode.DUBOIS)).all()
    side_by_side = render_stereo(left, coarse, Layout.SBS, upsample=True)
    assert (side_by_side == pack_stereo(left, right, Layout.SBS)).all()


def test_bad_inputs_get_the_same_errors_as_render_right_view():
    image, disparity = square_scene()
    with pytest.raises(ValueError, match="does not match image shape"):
        render_stereo(image, disparity[:, :-1], Layout.ANAGLYPH)
    with pytest.raises(ValueError, match="H x W x 3"):
        render_stereo(image[..., 0], disparity, Layout.ANAGLYPH)
