import numpy as np

from stereo_spot.stereo.view_synthesis import (
    _EMPTY,
    FEET_ARRAY,
    MAX_STRETCH,
    _splat_general,
    _splat_unbroken,
    fill_invalid_disparity,
    render_right_view,
)
from tests.media import psnr

NEAR, FAR = 12.0, 2.0


def square_scene(height: int = 40, width: int = 80):
    """A red near square on a striped far background, with its disparity map."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, :, 2] = (np.arange(width) * 3 % 256).astype(np.uint8)  # blue ramp background
    image[:, ::8, 1] = 200  # green stripes every 8 columns
    disparity = np.full((height, width), FAR, np.float32)
    image[10:30, 30:50] = (255, 0, 0)
    disparity[10:30, 30:50] = NEAR
    return image, disparity


def test_near_square_shifts_left_more_than_background():
    image, disparity = square_scene()
    right = render_right_view(image, disparity)
    red = (right[20, :, 0] == 255) & (right[20, :, 1] == 0) & (right[20, :, 2] == 0)
    columns = np.flatnonzero(red)
    assert columns.min() == 30 - NEAR and columns.max() == 49 - NEAR
    # the background stripes move by FAR pixels only (rows outside the square)
    green = np.flatnonzero(right[2, :, 1] == 200)
    assert 8 - FAR in green and 16 - FAR in green


def test_disoccluded_hole_is_filled_from_the_background_side():
    image, disparity = square_scene()
    right, covered = render_right_view(image, disparity, return_covered=True)
    # right of the shifted square lies a hole (x = 38..47) that only the background can explain
    hole = ~covered[20]
    assert hole[40:46].all() and covered[20, 30 - int(NEAR)]
    # it is filled with background, never with the red square
    assert not ((right[20, 38:48, 0] > 128) & (right[20, 38:48, 2] < 50)).any()


def test_subpixel_shift_interpolates_between_pixels():
    ramp = np.tile(np.arange(0, 200, 2, dtype=np.uint8)[None, :, None], (4, 1, 3))
    right = render_right_view(ramp, np.full(ramp.shape[:2], 0.5, np.float32))
    # x_right = x_left - 0.5: the right pixel x sees the left image at x + 0.5
    assert np.abs(right[1, 10:90, 0].astype(int) - (np.arange(10, 90) * 2 + 1)).max() <= 1


def test_zero_disparity_returns_the_image():
    image, _ = square_scene()
    assert np.array_equal(render_right_view(image, np.zeros(image.shape[:2], np.float32)), image)


def test_unknown_disparity_takes_the_farther_neighbour():
    disparity = np.array([[5.0, np.inf, np.inf, 9.0, np.nan]], np.float32)
    assert fill_invalid_disparity(disparity).tolist() == [[5.0, 5.0, 5.0, 9.0, 9.0]]


def test_unknown_disparity_inside_one_surface_is_interpolated():
    disparity = np.array([[4.0, np.inf, np.inf, np.inf, 5.0]], np.float32)
    assert fill_invalid_disparity(disparity).tolist() == [[4.0, 4.25, 4.5, 4.75, 5.0]]


def test_true_disparity_renders_the_real_right_view(motorcycle):
    right, covered = render_right_view(
        motorcycle["left"], motorcycle["disparity"], return_covered=True
    )
    # Measured 23.86 / 27.69 dB (benchmarks/render_view_quality.py); the floors of the issue.
    assert psnr(right, motorcycle["right"]) >= 23.5
    assert psnr(right[covered], motorcycle["right"][covered]) >= 27.5
    assert covered.mean() > 0.87, "non-occluded means splatted, not a shrunken mask"
    assert psnr(motorcycle["left"], motorcycle["right"]) < 14.0


def _splats(disparity_row: np.ndarray):
    """(whether the walk took the row, its z-buffer and source columns, the general splat's)."""
    width = disparity_row.shape[0]
    d = np.ascontiguousarray(disparity_row, dtype=np.float32)
    empty = np.float32(_EMPTY)
    walk_z, walk_src = np.full(width, empty, np.float32), np.zeros(width, np.float32)
    took = _splat_unbroken(d, np.float32(MAX_STRETCH), walk_z, walk_src)
    general_z, general_src = np.full(width, empty, np.float32), np.zeros(width, np.float32)
    _splat_general(d, np.float32(MAX_STRETCH), FEET_ARRAY, general_z, general_src)
    return took, (walk_z, walk_src), (general_z, general_src)


def test_smooth_scanlines_take_the_walk_and_match_the_general_splat():
    # Smooth depth as the engines make it: a slow wave, stretched and squeezed, some of it
    # shifted past either edge of the frame.
    x = np.arange(400, dtype=np.float32)
    rows = [
        np.zeros(400),
        8.0 * np.sin(x / 40.0),
        25.0 - 0.6 * x,  # stretched (span 1.6), reaching past the right edge
        -20.0 + 0.3 * x + 3.0 * np.sin(x / 9.0),  # squeezed, from past the left edge
        np.full(400, 3.37),
    ]
    for row in rows:
        took, (walk_z, walk_src), (general_z, general_src) = _splats(row)
        assert took
        # The walk leaves the row's two ends to the feet; everything it wrote matches.
        written = walk_z > _EMPTY
        assert written.sum() >= 250
        np.testing.assert_allclose(walk_src[written], general_src[written], atol=1e-3)
        np.testing.assert_allclose(walk_z[written], general_z[written], atol=1e-3)


def test_torn_or_folded_scanlines_leave_the_walk():
    row = np.zeros(200, np.float32)
    row[100:] = 10.0  # a near object starts: the surface folds over the background
    assert not _splats(row)[0]
    row[100:] = -10.0  # a far one: the surface tears (a disocclusion)
    assert not _splats(row)[0]
    row = np.zeros(200, np.float32)
    row[190:] = 50.0  # folds back from past the right edge: the walk never reaches it
    assert not _splats(row)[0]


def test_smooth_and_broken_rows_render_alike_either_way():
    # One image, rows of which take the walk and rows the general splat: a smooth ramp of
    # disparity renders the same whichever path a row takes.
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (6, 120, 3), dtype=np.uint8)
    disparity = np.tile(np.linspace(0.0, 9.0, 120, dtype=np.float32), (6, 1))
    disparity[3:, 60] += 5.0  # rows 3-5 fold at one pixel: the general splat, for the whole row
    right = render_right_view(image, disparity)
    # Away from the fold, the rows agree with the smooth rows of the same source pixels.
    for y in range(3, 6):
        smooth = render_right_view(image[y : y + 1], disparity[:1])
        np.testing.assert_array_equal(right[y, :40], smooth[0, :40])
