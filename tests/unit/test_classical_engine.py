import itertools
import subprocess
import sys

import cv2
import numpy as np
import pytest

from inference_service.engines import ENGINE_NAMES, engine_from_name
from inference_service.engines.base import StereoEngine
from inference_service.engines.classical import ClassicalEngine
from stereo_spot.domain import Layout, StereoParams
from stereo_spot.errors import EngineError
from tests.media import photo_pan


def textured_frame(seed: int = 0, height: int = 72, width: int = 128) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_engine_is_a_stereo_engine_found_by_name():
    engine = engine_from_name("classical")
    assert isinstance(engine, StereoEngine) and engine.name == "classical"
    assert "classical" in ENGINE_NAMES


@pytest.mark.parametrize("name", ["depth-anything", "stereocrafter", "nope"])
def test_other_engines_fail_with_a_sentence(name):
    with pytest.raises(EngineError, match=r"\.$"):
        engine_from_name(name)


def test_the_two_eyes_differ_for_a_frame_with_depth_variation():
    frame = textured_frame()
    (packed,) = ClassicalEngine().convert([frame], Layout.SBS, StereoParams())
    left, right = packed[:, :128], packed[:, 128:]
    assert np.array_equal(left, frame)
    assert np.mean(left != right) > 0.3
    # zero divergence: both eyes are the source
    (flat,) = ClassicalEngine().convert([frame], Layout.SBS, StereoParams(divergence=0.0))
    assert np.array_equal(flat[:, 128:], frame)


@pytest.mark.parametrize("layout", list(Layout))
def test_convert_streams_one_output_per_frame(layout):
    frames = [textured_frame(i, 35, 63) for i in range(3)]
    out = list(ClassicalEngine().convert(iter(frames), layout, StereoParams()))
    width, height = layout.output_size(63, 35)
    assert len(out) == 3 and all(o.shape == (height, width, 3) for o in out)


def test_estimate_depth_is_in_range_and_frame_sized():
    depths = list(ClassicalEngine().estimate_depth([textured_frame(i) for i in range(2)]))
    assert len(depths) == 2
    for depth in depths:
        assert depth.shape == (72, 128) and depth.dtype == np.float32
        assert depth.min() >= 0.0 and depth.max() <= 1.0


def test_temporal_smoothing_calms_a_static_clip_with_noise():
    rng = np.random.default_rng(1)
    base = np.tile(np.linspace(0, 255, 128)[None, :, None], (72, 1, 3))
    clip = [
        np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8) for _ in range(8)
    ]
    smoothed = list(ClassicalEngine().estimate_depth(clip))
    raw = [next(ClassicalEngine(smoothing=1.0).estimate_depth([f])) for f in clip]

    def jitter(depths):
        return np.mean([np.abs(a - b).mean() for a, b in itertools.pairwise(depths[1:])])

    assert jitter(smoothed) < 0.6 * jitter(raw)


def test_engine_is_reusable_across_streams():
    engine = ClassicalEngine()
    clip = [textured_frame(i) for i in range(2)]
    first = list(engine.estimate_depth(clip))
    second = list(engine.estimate_depth(clip))
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((72, 128, 3), np.float32),
        np.zeros((72, 128), np.uint8),
        np.zeros((72, 128, 4), np.uint8),
        "not a frame",
    ],
)
def test_bad_frames_raise_engine_error_with_a_sentence(bad):
    with pytest.raises(EngineError, match=r"^Frame 1 .*\.$"):
        list(ClassicalEngine().convert([textured_frame(), bad], Layout.SBS, StereoParams()))


def test_frame_size_change_mid_stream_is_rejected():
    with pytest.raises(EngineError, match="same size"):
        list(ClassicalEngine().estimate_depth([textured_frame(), textured_frame(1, 36, 64)]))


def _rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def test_motion_parallax_of_a_travelling_camera_deepens_the_depth(motorcycle):
    """A sideways camera move over the real pair's scene (benchmarks/depth_quality.py)."""
    from benchmarks.depth_quality import score, travelling_shot

    frames, truths = travelling_shot(motorcycle["left"], motorcycle["disparity"], 8, 0.08, 3.0)
    static = score(list(ClassicalEngine(motion=False).estimate_depth(frames)), truths, 80)
    moving = score(list(ClassicalEngine(motion=True).estimate_depth(frames)), truths, 80)
    assert moving > static + 0.02, (static, moving)


def test_a_segment_starts_on_the_depth_of_the_one_piece_run():
    """Warm start: the first frame of a stream cut out of a longer one gets (almost) the same
    depth as in the whole stream, so segment boundaries leave no seam."""
    blocks = np.random.default_rng(3).integers(0, 256, (20, 60, 3), dtype=np.uint8)
    scene = np.kron(blocks, np.ones((6, 6, 1), np.uint8))  # 120 x 360, sharp-edged blocks
    # a slow pan: the picture (and so the edge-aligned depth) changes, no frame is a scene cut
    clip = [np.ascontiguousarray(scene[20:92, 2 * k : 2 * k + 128]) for k in range(30)]
    whole = list(ClassicalEngine(motion=False).estimate_depth(clip))
    piece = list(ClassicalEngine(motion=False).estimate_depth(clip[15:]))
    cold = list(ClassicalEngine(motion=False, warm_start=0).estimate_depth(clip[15:]))
    seam = np.abs(piece[0] - whole[15]).mean()
    assert seam < 0.8 * np.abs(cold[0] - whole[15]).mean()
    assert seam < 5e-3


def test_a_pan_converted_in_pieces_gets_the_depth_of_one_piece():
    """A pan over a photograph, cut in two: the motion cue misread the pan as parallax and
    started cold in each piece, so depth jumped at the cut (0.09 of the depth range)."""
    clip = photo_pan(40)
    whole = list(ClassicalEngine().estimate_depth(clip))
    pieces = [
        *ClassicalEngine().estimate_depth(clip[:20]),
        *ClassicalEngine().estimate_depth(clip[20:]),
    ]
    worst = max(np.abs(a - b).mean() for a, b in zip(whole, pieces, strict=True))
    assert worst < 5e-3, worst


def test_a_travelling_camera_cut_in_pieces_keeps_its_motion_cue(motorcycle):
    """Warm start of the motion cue: a piece starting mid-shot carries the cue at the weight
    one piece has there, instead of ramping it up from nothing over a second."""
    from benchmarks.depth_quality import travelling_shot

    half = (motorcycle["left"].shape[1] // 2, motorcycle["left"].shape[0] // 2)
    left = cv2.resize(motorcycle["left"], half, interpolation=cv2.INTER_AREA)
    disparity = cv2.resize(motorcycle["disparity"], half, interpolation=cv2.INTER_NEAREST) / 2
    clip, _ = travelling_shot(left, disparity, 36, 0.16, 0.0)
    whole = list(ClassicalEngine().estimate_depth(clip))
    static = list(ClassicalEngine(motion=False).estimate_depth(clip[18:]))
    piece = list(ClassicalEngine().estimate_depth(clip[18:]))
    # how far the motion cue moves the depth off the static cues, at the piece's first frame
    in_whole = np.abs(whole[18] - static[0]).mean()
    in_piece = np.abs(piece[0] - static[0]).mean()
    assert 0.7 * in_whole < in_piece < 1.3 * in_whole, (in_piece, in_whole)


def test_edges_at_screen_keeps_the_frame_border_identical_in_both_eyes():
    frame = textured_frame(2, 72, 128)
    (packed,) = ClassicalEngine().convert(
        [frame], Layout.SBS, StereoParams(divergence=5.0, edges_at_screen=True)
    )
    left, right = packed[:, :128], packed[:, 128:]
    assert np.array_equal(left[:, 0], right[:, 0]) and np.array_equal(left[:, -1], right[:, -1])
    (free,) = ClassicalEngine().convert([frame], Layout.SBS, StereoParams(divergence=5.0))
    assert not np.array_equal(free[:, 128], frame[:, 0])


@pytest.mark.parametrize("layout", [Layout.SBS, Layout.TAB])
def test_right_views_are_the_eyes_that_convert_packs(layout):
    # Full side by side and top-bottom are written from the eyes themselves (right_views):
    # they must be what convert would have packed.
    frames = [textured_frame(i, 36, 64) for i in range(4)]
    params = StereoParams(divergence=4.0)
    rights = list(ClassicalEngine().right_views(iter(frames), params))
    packed = list(ClassicalEngine().convert(iter(frames), layout, params))
    for right, frame in zip(rights, packed, strict=True):
        assert np.array_equal(right, frame[:, 64:] if layout is Layout.SBS else frame[36:])


@pytest.mark.parametrize(
    "size", [(640, 80), (80, 640), (2560, 320)], ids=["8:1", "1:8", "2560x320"]
)
def test_a_very_wide_or_tall_video_converts(size):
    # Its work image is under 32 pixels on one side, where OpenCV's optical flow crashes the
    # process; run in a child so that a crash fails this test and not the whole session.
    width, height = size
    script = f"""
import numpy as np
from inference_service.engines.classical import ClassicalEngine
from stereo_spot.domain import Layout, StereoParams
rng = np.random.default_rng(1)
frames = [np.roll(rng.integers(0, 255, ({height}, {width}, 3), dtype=np.uint8), k, axis=1)
          for k in range(4)]
out = list(ClassicalEngine().convert(frames, Layout.SBS, StereoParams()))
assert len(out) == 4 and out[0].shape == ({height}, {2 * width}, 3)
print("converted")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0 and "converted" in result.stdout, result.stderr[-2000:]
