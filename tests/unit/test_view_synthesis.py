import cv2
import numpy as np
import pytest
import skimage.data

from stereo_spot.stereo.view_synthesis import (
    _EMPTY,
    FEET_ARRAY,
    MAX_STRETCH,
    _fill_holes,
    _splat_general,
    _splat_pieces,
    _splat_unbroken,
    fill_invalid_disparity,
    render_right_view,
    splat_scanline,
    upsampling_grid,
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


def _detail(image: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image, as benchmarks/eye_sharpness.py measures it,
    away from the columns a shift fills at the ends."""
    grey = cv2.cvtColor(np.ascontiguousarray(image[:, 8:-8]), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F).var())


def test_half_pixel_shift_keeps_the_detail_of_a_fine_texture():
    # Noise blurred to the detail of a sharp natural picture, shifted by half a pixel: the phase
    # at which resampling blurs most. Linear interpolation kept 0.74 of its detail (the right eye
    # looked softer than the left); Keys' cubic keeps 0.99.
    noise = np.random.default_rng(0).normal(128.0, 40.0, (64, 128, 3)).astype(np.float32)
    texture = np.clip(cv2.GaussianBlur(noise, (0, 0), 1.0), 0, 255).astype(np.uint8)
    right = render_right_view(texture, np.full(texture.shape[:2], 0.5, np.float32))
    assert 0.9 <= _detail(right) / _detail(texture) <= 1.1


def test_overshoot_at_hard_edges_is_clipped_and_stays_in_its_channel():
    # Red steps 0 <-> 255 every 3 columns, green black, blue white: the cubic overshoots past
    # both ends at every step, and each channel must clip there without spilling into the
    # others (the three are resampled together in one integer).
    image = np.zeros((4, 60, 3), np.uint8)
    image[:, (np.arange(60) // 3) % 2 == 1, 0] = 255
    image[:, :, 2] = 255
    for shift in (0.25, 0.5, 0.75):
        right = render_right_view(image, np.full(image.shape[:2], shift, np.float32))
        assert (right[:, :, 1] == 0).all() and (right[:, :, 2] == 255).all()
        assert right[:, :, 0].min() == 0 and right[:, :, 0].max() == 255


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
    # Measured 23.83 / 27.68 dB (benchmarks/render_view_quality.py); the floors of the issue.
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


def test_walked_rows_fill_their_end_holes_as_the_general_pass_does():
    # Rows the walk takes are covered in one run, so only their ends are searched for holes;
    # what that fills must be what the pass over every pixel fills after the general splat.
    width = 150
    rows = [
        np.linspace(-6.0, 9.0, width),  # holes at both ends
        np.linspace(9.0, -6.0, width),
        np.full(width, 40.0),  # a hole on the right, wider than a mirror can reach
        np.full(width, -40.0),
        np.full(width, 500.0),  # nothing lands in the frame: the row stays the source
    ]
    for row in rows:
        d = row.astype(np.float32)
        srcpos, mirror = np.empty(width, np.float32), np.empty(width, np.float32)
        covered = np.empty(width, np.bool_)
        splat_scanline(d, np.float32(MAX_STRETCH), FEET_ARRAY, srcpos, mirror, covered)
        assert _splats(d)[0], "the walk took the row"
        zbuf, general_src = np.full(width, np.float32(_EMPTY)), np.zeros(width, np.float32)
        general_mirror, general_covered = np.full(width, -1.0, np.float32), covered.copy()
        _splat_general(d, np.float32(MAX_STRETCH), FEET_ARRAY, zbuf, general_src)
        _fill_holes(zbuf, general_src, general_mirror, general_covered)
        assert np.array_equal(covered, general_covered)
        assert np.array_equal(mirror >= 0, general_mirror >= 0)
        np.testing.assert_allclose(srcpos, general_src, atol=1e-3)
        np.testing.assert_allclose(mirror, general_mirror, atol=1e-3)
    assert not covered.any() and np.array_equal(srcpos, np.arange(width))


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


def upsampled(coarse: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)


def smooth_coarse_disparity(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A coarse map as the engines make one: smooth (a wave and a little noise), in front of
    and behind the screen, its slopes stretching and squeezing the right view without folding or
    tearing it."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    wave = np.sin(xs / 3.0 + rng.uniform(0, 6)) + np.cos(ys / 2.0 + rng.uniform(0, 6))
    return (3.0 * wave - 2.0 + 0.2 * rng.standard_normal((height, width))).astype(np.float32)


@pytest.mark.parametrize(
    ("coarse_shape", "frame_shape"),
    [((27, 48), (270, 400)), ((9, 17), (40, 170)), ((40, 23), (40, 170)), ((1, 1), (5, 9))],
)
def test_the_grid_upsamples_as_cv2_resize(coarse_shape, frame_shape):
    coarse = smooth_coarse_disparity(*coarse_shape)
    height, width = frame_shape
    row0, row_weight, col0, col_weight, knot_x = upsampling_grid(coarse.shape, width, height)
    rows = (
        coarse[row0]
        + (coarse[np.minimum(row0 + 1, coarse.shape[0] - 1)] - coarse[row0]) * (row_weight[:, None])
    )
    after = np.minimum(col0 + 1, coarse.shape[1] - 1)
    ours = rows[:, col0] + (rows[:, after] - rows[:, col0]) * col_weight[None, :]
    np.testing.assert_allclose(ours, upsampled(coarse, width, height), atol=1e-4)
    # Each coarse column's centre lands on its knot: upsampled rows are linear between knots.
    assert knot_x[0] == pytest.approx(0.5 * width / coarse.shape[1] - 0.5)


def test_a_coarse_map_renders_as_its_bilinear_upsampling():
    # A real picture and a smooth coarse map: the right eye splatted piece by piece from the
    # coarse rows is the right eye of the upsampled map, but for pixels next to a knot, where
    # the upsampled surface bends between two pixel centres and the pixel splat cuts the bend.
    left = skimage.data.astronaut()[::2, ::2]  # 256 x 256
    coarse = smooth_coarse_disparity(24, 40)
    right, covered = render_right_view(left, coarse, upsample=True, return_covered=True)
    fine, fine_covered = render_right_view(left, upsampled(coarse, 256, 256), return_covered=True)
    assert np.array_equal(covered, fine_covered)
    # Measured: 1.7 % of pixels differ, by 0.009 levels on average.
    assert (right != fine).any(axis=2).mean() < 0.03
    assert np.abs(right.astype(int) - fine).mean() < 0.02
    # And the picture did move: the right eye is not the left.
    assert (right != left).any(axis=2).mean() > 0.5


def test_smooth_coarse_rows_splat_by_pieces_like_the_walk_on_their_upsampling():
    coarse = smooth_coarse_disparity(1, 30)[0] * 0.5
    width = 300
    _, _, _, _, knot_x = upsampling_grid((1, 30), width, 1)
    z, src = np.full(width, np.float32(_EMPTY)), np.zeros(width, np.float32)
    assert _splat_pieces(coarse, knot_x, np.float32(MAX_STRETCH), z, src)
    took, (walk_z, walk_src), _ = _splats(upsampled(coarse[None, :], width, 1)[0])
    assert took
    written = walk_z > _EMPTY
    assert np.array_equal(written, z > _EMPTY)
    # Away from the knots the two agree to float rounding; next to one, by the bend's size.
    np.testing.assert_allclose(src[written], walk_src[written], atol=0.02)
    np.testing.assert_allclose(z[written], walk_z[written], atol=0.02)


def test_a_coarse_row_that_folds_or_tears_is_splatted_as_its_upsampled_row():
    # A near square in a coarse map: its rows fold and tear, so they are upsampled and take the
    # general splat, exactly as the upsampled map would; the other rows take the pieces.
    image, _ = square_scene(40, 80)
    coarse = np.full((10, 20), FAR, np.float32)
    coarse[3:7, 8:12] = NEAR
    _, _, _, _, knot_x = upsampling_grid(coarse.shape, 80, 40)
    z, src = np.full(80, np.float32(_EMPTY)), np.zeros(80, np.float32)
    assert not _splat_pieces(coarse[5], knot_x, np.float32(MAX_STRETCH), z, src)
    right = render_right_view(image, coarse, upsample=True)
    fine = render_right_view(image, upsampled(coarse, 80, 40))
    # Rows 12-27 upsample from the square's coarse rows alone and fold: the same splat.
    np.testing.assert_array_equal(right[12:28], fine[12:28])
    # The rows above and below blend it in gently and take the pieces; they differ next to
    # knots only (one-pixel stripes make that up to 20 levels, at a few pixels).
    assert (right != fine).any(axis=2).mean() < 0.02


def test_upsample_takes_maps_of_any_size_and_rejects_what_is_not_a_map():
    image, disparity = square_scene(40, 80)
    # The frame's own size and a larger map (resized down first) render as without upsample.
    assert np.array_equal(
        render_right_view(image, disparity, upsample=True), render_right_view(image, disparity)
    )
    larger = upsampled(disparity, 160, 80)
    assert np.array_equal(
        render_right_view(image, larger, upsample=True),
        render_right_view(image, upsampled(larger, 80, 40)),
    )
    # Coarse in one direction only.
    for coarse in (disparity[::4], disparity[:, ::4]):
        right = render_right_view(image, coarse, upsample=True)
        fine = render_right_view(image, upsampled(np.ascontiguousarray(coarse), 80, 40))
        assert (right != fine).any(axis=2).mean() < 0.05
    with pytest.raises(ValueError, match="2-D disparity map"):
        render_right_view(image, disparity[0], upsample=True)
    with pytest.raises(ValueError, match="does not match image shape"):
        render_right_view(image, disparity[::2])
