import numpy as np

from stereo_spot.domain import StereoParams
from stereo_spot.stereo.depth_cues import MotionParallax, estimate_depth, prior_depth, work_grey
from stereo_spot.stereo.disparity import disparity_from_depth
from stereo_spot.stereo.temporal import DepthSmoother
from tests.media import photo_pan


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def test_depth_follows_the_true_disparity_of_a_real_pair(motorcycle):
    depth = estimate_depth(motorcycle["left"])
    assert depth.shape == motorcycle["left"].shape[:2] and depth.dtype == np.float32
    assert depth.min() >= 0.0 and depth.max() <= 1.0
    valid = np.isfinite(motorcycle["disparity"])
    assert rank_correlation(depth[valid][::5], motorcycle["disparity"][valid][::5]) > 0.6


def test_the_bottom_of_the_frame_is_nearer_than_the_top():
    depth = prior_depth(64, 36)
    assert depth[-1].mean() > depth[0].mean() + 0.5


def test_depth_maps_the_same_way_whatever_the_frame_brightness():
    # absolute cues: no per-frame min/max stretching of a dull frame
    grey = np.full((72, 128, 3), 100, np.uint8)
    dark = np.full((72, 128, 3), 20, np.uint8)
    assert np.allclose(estimate_depth(grey), estimate_depth(dark), atol=1e-3)


def test_disparity_is_positive_in_front_of_the_convergence_plane():
    depth = np.array([[0.0, 0.35, 1.0]], np.float32)
    disparity = disparity_from_depth(
        depth, StereoParams(divergence=2.0, convergence=0.35), width=1000
    )
    assert np.allclose(disparity, [[-7.0, 0.0, 13.0]])


def test_edges_at_screen_fades_disparity_at_the_borders():
    depth = np.ones((50, 100), np.float32)
    disparity = disparity_from_depth(depth, StereoParams(convergence=0.35, edges_at_screen=True))
    assert disparity[:, 0].max() == 0 and disparity[0].max() == 0
    assert disparity[25, 50] > 1.5


def test_smoother_restarts_at_a_scene_cut():
    smoother = DepthSmoother(alpha=0.25)
    dark = np.zeros((36, 64, 3), np.uint8)
    light = np.full((36, 64, 3), 250, np.uint8)
    smoother.update(np.zeros((4, 4), np.float32), dark)
    damped = smoother.update(np.ones((4, 4), np.float32), dark)
    assert np.allclose(damped, 0.25)
    after_cut = smoother.update(np.ones((4, 4), np.float32), light)
    assert np.allclose(after_cut, 1.0) and smoother.cuts == 1


def test_a_pure_pan_gives_the_motion_cue_no_weight():
    # No parallax in a pan over a flat picture: the cue stays off (it took weights of 0.3-0.7)
    motion = MotionParallax()
    weights = [motion.update(work_grey(frame))[1] for frame in photo_pan()]
    assert max(weights) < 0.02, weights


def test_the_first_frame_of_a_stream_does_not_count_as_a_still_camera(motorcycle):
    from benchmarks.depth_quality import travelling_shot

    frames, _ = travelling_shot(motorcycle["left"], motorcycle["disparity"], 2, 0.08, 0.0)
    first, second = (work_grey(frame) for frame in frames)
    measured = MotionParallax()
    measured.measure(first)
    _, weight = measured.measure(second)
    assert weight > 0.3
    motion = MotionParallax()
    assert motion.update(first) == (None, 0.0)
    # the first measurement is the average, not 0.08 of it after a 0 for the first frame
    assert motion.update(second)[1] == weight
